"""A suppressed table: cells as rows of a linear system, primary rules, secondary pattern, audit.

Every cell of the table (margins always included: totals are assumed known even when not shown)
and of the other released tables becomes a 0/1 row over the *finest* cells, the full grid over all
columns involved (see :mod:`bif_lib.disclosure.suppression`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bif_lib.disclosure.checks import Check, DisclosureError, require, suppression_checks
from bif_lib.disclosure.formatting import STATUS_COLUMN
from bif_lib.disclosure.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    CellSystem,
    audit,
    primary_frequency,
    primary_magnitude,
    required_widths,
    secondary_suppression,
    top_contributions,
)
from bif_lib.disclosure.tabulate import Grid, build_grid, describe_specs, named_cells
from bif_lib.i18n import format_number

SECONDARY_METHOD = "bif-lp-pattern-1"


def suppression_table(records: pd.DataFrame, by: list[str], *, value, min_frequency, protection_range, unperturbed,
                      other_tables, count_column, margins, full, categories, dominance,
                      p_percent) -> tuple[pd.DataFrame, dict, list[Check]]:
    """The table of ``records`` by ``by`` with primary and secondary suppression, its parameters
    and its passed checks (see ``protect`` and docs/disclosure.md)."""
    if min_frequency < 1:
        raise DisclosureError("Die Mindestfallzahl muss mindestens 1 sein.")
    if protection_range < 0:
        raise DisclosureError("Der Schutzbereich darf nicht negativ sein.")
    measure = value or count_column
    contributions = _contributions(records, value)
    extra = _extra_columns(records, by, other_tables, measure)
    grid = build_grid(records, by + extra, categories)
    k = len(by)
    table_grid = _grid_by(grid, k)
    all_levels = [kept for kept in grid.levels(True) if all(d < k for d in kept)]  # levels over by only
    finest_counts = np.bincount(grid.codes, minlength=grid.size)
    finest = (finest_counts.astype(np.float64) if value is None
              else np.bincount(grid.codes, weights=contributions, minlength=grid.size))

    # this table's cells, inner cells first, as rows of the system (margins always: see docs)
    rows = [_level_rows(grid, kept) for kept in all_levels]
    ours = sp.vstack(rows, format="csr")
    counts = ours @ finest_counts
    inner = np.concatenate([np.full(r.shape[0], kept == tuple(range(k))) for r, kept in zip(rows, all_levels)])
    if value is None:
        rules = {"min_frequency": primary_frequency(counts, min_frequency)}
    else:
        depth = max(2, dominance[0] if dominance else 2)
        top = np.concatenate([_level_top(grid, kept, contributions, depth) for kept in all_levels], axis=1)
        rules = primary_magnitude(counts, ours @ finest, top, min_frequency=min_frequency,
                                  dominance=dominance, p_percent=p_percent)
    primary = np.logical_or.reduce(list(rules.values()))
    exact = named_cells(table_grid, all_levels, unperturbed)
    if (primary & exact).any():
        raise DisclosureError("Eine als unverändert zu veröffentlichende Zelle muss selbst gesperrt werden.")
    shown = np.ones(len(primary), dtype=bool) if margins else inner.copy()
    if not full:
        shown &= counts > 0
    primary &= shown  # cells not shown are assumed known (e.g. totals published elsewhere)
    candidates = shown & ~exact

    # other released tables: more known cells, more cells to protect
    other_rows, other_published, other_primary, other_values = _other_table_rows(grid, other_tables, measure)
    # With columns beyond ``by`` some combinations may be impossible (age 5 in "65-79"); the attacker
    # is assumed to know that every combination without records is empty.
    known_zero = (finest_counts == 0) if extra else None
    system = CellSystem(sp.vstack([ours, *other_rows], format="csr"), finest, known_zero)
    n_ours, n_all = ours.shape[0], system.matrix.shape[0]
    values = system.cell_values
    _check_other_values(values[n_ours:], other_values, other_published)

    suppressed = np.concatenate([primary, ~other_published])
    targets = np.flatnonzero(np.concatenate([primary, other_primary]))
    floor = float(min_frequency) if value is None else 1.0
    required = required_widths(values[targets], protection_range, floor)
    costs = np.abs(values) + 1.0
    describe = _describer(table_grid, all_levels, n_ours)
    suppressed = secondary_suppression(
        system, targets=targets, required=required, suppressed=suppressed,
        candidates=np.concatenate([candidates, np.zeros(n_all - n_ours, dtype=bool)]), costs=costs,
        describe=describe)
    intervals = audit(system, targets, suppressed)
    widths = intervals[:, 1] - intervals[:, 0]

    status = np.where(primary, PRIMARY, np.where(suppressed[:n_ours], SECONDARY, PUBLISHED))
    checks = require(suppression_checks(
        rules, primary=primary, suppressed=suppressed[:n_ours], shown=shown, widths=widths, required=required,
        min_frequency=min_frequency, dominance=dominance if value else None,
        p_percent=p_percent if value else None))

    table = table_grid.frame(all_levels)
    measured = counts if value is None else ours @ finest
    table[measure] = _measure_array(measured, suppressed[:n_ours], records[value].dtype if value else None)
    table[STATUS_COLUMN] = pd.array(status, dtype="str")
    table = table[shown].reset_index(drop=True)
    parameters = {"by": by, "value_column": measure, "magnitude": value is not None,
                  "min_frequency": min_frequency, "protection_range": protection_range,
                  "protection_floor": floor, "margins": margins, "full": full,
                  "dominance": list(dominance) if value is not None and dominance else None,
                  "p_percent": p_percent if value is not None else None,
                  "unperturbed": describe_specs(unperturbed), "other_tables": len(other_tables),
                  "secondary_method": SECONDARY_METHOD, "cells": int(shown.sum()), "records": len(records),
                  "primary": int(primary.sum()), "secondary": int((status == SECONDARY)[shown].sum())}
    return table, parameters, checks


def _grid_by(grid: Grid, k: int) -> Grid:
    """The grid restricted to its first ``k`` columns (this table's ``by``)."""
    if len(grid.by) == k:
        return grid
    inner = np.unravel_index(grid.codes, grid.shape)[:k]
    shape = grid.shape[:k]
    return Grid(grid.by[:k], grid.categories[:k], np.ravel_multi_index(inner, shape).astype(np.int64))


def _contributions(records: pd.DataFrame, value: str | None) -> np.ndarray | None:
    if value is None:
        return None
    if value not in records.columns:
        raise DisclosureError(f"Spalte „{value}“ fehlt in den Einzeldaten.")
    column = records[value]
    if not pd.api.types.is_numeric_dtype(column.dtype) or column.isna().any():
        raise DisclosureError(f"Spalte „{value}“ muss vollständig Zahlen enthalten.")
    values = column.to_numpy(dtype=np.float64)
    if (values < 0).any():
        raise DisclosureError(f"Spalte „{value}“ enthält negative Werte; Dominanz- und p-%-Regel setzen "
                              "nicht negative Beiträge voraus.")
    return values


def _extra_columns(records, by, other_tables, measure) -> list[str]:
    """Columns the other tables group by that this table does not (they refine the finest grid)."""
    extra = []
    for other in other_tables:
        if measure not in other.columns:
            raise DisclosureError(f"Eine weitere Tabelle hat keine Spalte „{measure}“.")
        for name in other.columns:
            if name in (measure, STATUS_COLUMN) or name in by or name in extra:
                continue
            if name not in records.columns:
                raise DisclosureError(f"Spalte „{name}“ einer weiteren Tabelle fehlt in den Einzeldaten.")
            extra.append(name)
    return extra


def _level_rows(grid: Grid, kept: tuple[int, ...]) -> sp.csr_matrix:
    """0/1 rows mapping the finest cells to the cells of one level."""
    coords = np.indices(grid.shape).reshape(len(grid.shape), -1)
    shape = tuple(grid.shape[d] for d in kept)
    cell = np.ravel_multi_index(coords[list(kept)], shape) if kept else np.zeros(grid.size, dtype=np.int64)
    size = int(np.prod(shape, dtype=np.int64))
    return sp.csr_matrix((np.ones(grid.size), (cell, np.arange(grid.size))), shape=(size, grid.size))


def _level_top(grid: Grid, kept: tuple[int, ...], contributions: np.ndarray, depth: int) -> np.ndarray:
    coords = np.unravel_index(grid.codes, grid.shape)
    shape = tuple(grid.shape[d] for d in kept)
    cells = np.ravel_multi_index([coords[d] for d in kept], shape) if kept else np.zeros(len(grid.codes), np.int64)
    return top_contributions(contributions, np.asarray(cells, dtype=np.int64),
                                 int(np.prod(shape, dtype=np.int64)), depth)


def _other_table_rows(grid: Grid, tables: list[pd.DataFrame], measure: str):
    """Rows of the system for the other tables' cells, with what is known about each."""
    rows, published, primary, values = [], [], [], []
    coords = np.indices(grid.shape).reshape(len(grid.shape), -1)
    for table in tables:
        bits, codes = grid.level_of(table)
        entries_rows, entries_cols = [], []
        for level in np.unique(bits):
            dims = [d for d in range(len(grid.by)) if level >> d & 1]
            members = np.flatnonzero(bits == level)
            shape = tuple(grid.shape[d] for d in dims)
            table_keys = np.ravel_multi_index(codes[members][:, dims].T, shape) if dims else np.zeros(len(members), int)
            if len(np.unique(table_keys)) != len(table_keys):
                raise DisclosureError("Eine weitere Tabelle enthält dieselbe Zelle mehrfach.")
            finest_keys = np.ravel_multi_index(coords[dims], shape) if dims else np.zeros(grid.size, dtype=np.int64)
            order = np.argsort(table_keys)
            position = np.searchsorted(table_keys[order], finest_keys)
            position = np.minimum(position, len(order) - 1)
            hit = table_keys[order][position] == finest_keys
            entries_rows.append(members[order][position[hit]])
            entries_cols.append(np.flatnonzero(hit))
        matrix = sp.csr_matrix((np.ones(sum(len(r) for r in entries_rows)),
                                (np.concatenate(entries_rows), np.concatenate(entries_cols))),
                               shape=(len(table), grid.size))
        measure_values = table[measure]
        known = measure_values.notna().to_numpy()
        if STATUS_COLUMN in table.columns:
            is_primary = (table[STATUS_COLUMN].astype(str) == PRIMARY).to_numpy() & ~known
        else:
            is_primary = ~known  # without a status, every suppressed cell is protected as primary
        rows.append(matrix)
        published.append(known)
        primary.append(is_primary)
        values.append(measure_values.to_numpy(dtype=np.float64, na_value=np.nan))
    if not tables:
        return [], np.zeros(0, bool), np.zeros(0, bool), np.zeros(0)
    return rows, np.concatenate(published), np.concatenate(primary), np.concatenate(values)


def _check_other_values(true_values, published_values, published) -> None:
    mismatch = published & ~np.isclose(true_values, published_values, rtol=1e-9, atol=1e-6)
    if mismatch.any():
        raise DisclosureError(f"{format_number(int(mismatch.sum()))} Werte weiterer Tabellen passen nicht zu den "
                              "Einzeldaten; other_tables müssen aus denselben Einzeldaten stammen.")


def _describer(grid: Grid, levels, n_ours: int):
    frame = None

    def describe(cell: int) -> str:
        nonlocal frame
        if cell >= n_ours:
            return "einer weiteren Tabelle"
        if frame is None:
            frame = grid.frame(levels)
        row = frame.iloc[cell]
        return "(" + ", ".join(f"{name} = {'Insgesamt' if pd.isna(v) else v}" for name, v in row.items()) + ")"
    return describe


def _measure_array(values: np.ndarray, suppressed: np.ndarray, dtype) -> pd.arrays.BaseMaskedArray:
    integral = dtype is None or pd.api.types.is_integer_dtype(dtype)
    array = (pd.array(np.round(values).astype(np.int64), dtype="Int64") if integral
             else pd.array(values, dtype="Float64"))
    array[suppressed] = pd.NA
    return array
