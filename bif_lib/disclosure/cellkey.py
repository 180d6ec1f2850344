"""The Cell Key Method (German variant, as in Zensus 2022) for counts.

Each cell's key is the fractional part of the sum of its records' keys; the cell's noise is the
entry of its ptable row whose cumulative interval contains the cell key. Margins are cells like
any other (their own key and noise), so a published table is not additive, and a cell made of
the same records gets the same key, count and noise in every table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bif_lib.disclosure.checks import Check, DisclosureError, cellkey_checks, require
from bif_lib.disclosure.keys import cell_key_sums, cell_keys_from_sums, keys_to_fixed, validate_keys
from bif_lib.disclosure.ptable import PTable
from bif_lib.disclosure.tabulate import Grid, build_grid, describe_specs, named_cells
from bif_lib.i18n import format_number


@dataclass(frozen=True)
class Perturbation:
    """Per output cell (levels in order): original count, cell key, noise, published count."""

    counts: np.ndarray
    cell_keys: np.ndarray
    noise: np.ndarray

    @property
    def published(self) -> np.ndarray:
        return self.counts + self.noise


def perturb(grid: Grid, fixed_keys: np.ndarray, ptable: PTable, levels: list[tuple[int, ...]],
            unperturbed: np.ndarray | None = None) -> Perturbation:
    """Counts, cell keys and noise for every cell of ``levels``; ``unperturbed`` cells keep noise 0."""
    inner_counts, inner_sums = cell_key_sums(grid.codes, fixed_keys, grid.size)
    counts = np.concatenate([grid.aggregate(inner_counts, kept) for kept in levels])
    # uint64 sums wrap modulo 2⁶⁴, which keeps them exact modulo 2⁵²
    sums = np.concatenate([grid.aggregate(inner_sums, kept, dtype=np.uint64) for kept in levels])
    cell_keys = cell_keys_from_sums(sums)
    noise = ptable.lookup(counts, cell_keys)
    if unperturbed is not None:
        noise[unperturbed] = 0
    return Perturbation(counts.astype(np.int64), cell_keys, noise)


def cellkey_table(records: pd.DataFrame, by: list[str], *, record_keys, ptable: PTable, unperturbed,
                  count_column: str, margins: bool, full: bool,
                  categories) -> tuple[pd.DataFrame, dict, list[Check]]:
    """The protected count table of ``records`` by ``by``, its parameters and its passed checks."""
    keys = _record_keys(records, record_keys)
    grid = build_grid(records, by, categories)
    levels = grid.levels(margins)
    exact = named_cells(grid, levels, unperturbed)
    result = perturb(grid, keys_to_fixed(keys), ptable, levels, exact)
    small_exact = exact & (result.counts >= 1) & (result.counts <= ptable.js)
    if small_exact.any():
        raise DisclosureError(f"{format_number(int(small_exact.sum()))} als unverändert erklärte Zelle(n) hätten "
                              f"einen Wert von 1 bis {ptable.js}; solche Werte dürfen nicht erscheinen.")
    checks = require(cellkey_checks(result.counts, result.published, D=ptable.D, js=ptable.js, unperturbed=exact))
    table = grid.frame(levels)
    table[count_column] = pd.array(result.published, dtype="Int64")
    if not full:
        table = table[result.counts > 0].reset_index(drop=True)
    parameters = {"by": by, "count_column": count_column, "margins": margins, "full": full,
                  "unperturbed": describe_specs(unperturbed), "cells": len(table), "records": len(records)}
    return table, parameters, checks


def _record_keys(records: pd.DataFrame, record_keys) -> np.ndarray:
    if record_keys is None:
        raise DisclosureError("Die Cell-Key-Methode braucht dauerhafte Record-Keys (record_keys=Spaltenname oder "
                              "Werte je Datensatz, z. B. aus RecordKeys(pfad).keys_for(ids)).")
    if isinstance(record_keys, str):
        if record_keys not in records.columns:
            raise DisclosureError(f"Spalte „{record_keys}“ mit den Record-Keys fehlt.")
        keys = records[record_keys].to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(record_keys, pd.Series):
        if not record_keys.index.equals(records.index):
            if not record_keys.index.is_unique:
                raise DisclosureError("Die Record-Keys passen nicht zum Index der Einzeldaten.")
            record_keys = record_keys.reindex(records.index)
        keys = record_keys.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        keys = np.asarray(record_keys, dtype=np.float64)
    if len(keys) != len(records):
        raise DisclosureError("Es gibt nicht für jeden Datensatz genau einen Record-Key.")
    try:
        return validate_keys(keys)
    except ValueError as error:
        raise DisclosureError(str(error)) from None
