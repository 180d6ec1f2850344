"""Frequency and magnitude tables over a full grid of categories, with margins.

Records are grouped by integer codes (one per ``by`` column, categories sorted) so every count is
an ``np.bincount`` over one flat code, and a table's margins are sums over axes of the inner grid.
In a table with margins, a ``by`` column holding ``<NA>`` means "all categories" (Insgesamt).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from bif_lib.disclosure.checks import DisclosureError


@dataclass(frozen=True)
class Grid:
    """The categories of each ``by`` column and each record's inner cell."""

    by: tuple[str, ...]
    categories: tuple[pd.Index, ...]
    codes: np.ndarray  # per record: flat index of its inner cell (C order over ``by``)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.categories)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def levels(self, margins: bool) -> list[tuple[int, ...]]:
        """The dimensions kept by each level: the inner cells first, the grand total last."""
        k = len(self.by)
        if not margins:
            return [tuple(range(k))]
        return [kept for size in range(k, -1, -1) for kept in combinations(range(k), size)]

    def aggregate(self, inner: np.ndarray, kept: tuple[int, ...], dtype=None) -> np.ndarray:
        """Sum the inner grid over the dimensions not in ``kept``; flat, C order over ``kept``."""
        dropped = tuple(d for d in range(len(self.by)) if d not in kept)
        grid = inner.reshape(self.shape)
        summed = grid.sum(axis=dropped, dtype=dtype) if dropped else grid
        return np.asarray(summed).reshape(-1)

    def frame(self, levels: list[tuple[int, ...]]) -> pd.DataFrame:
        """The ``by`` columns for all cells of ``levels`` (aggregated dimensions ``<NA>``)."""
        columns = {}
        for d, name in enumerate(self.by):
            parts = []
            for kept in levels:
                level_shape = tuple(self.shape[e] for e in kept)
                cells = int(np.prod(level_shape, dtype=np.int64))
                if d in kept:
                    parts.append(np.indices(level_shape).reshape(len(kept), -1)[kept.index(d)].astype(np.int64))
                else:
                    parts.append(np.full(cells, -1, dtype=np.int64))
            codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            columns[name] = _column_from_codes(self.categories[d], codes)
        return pd.DataFrame(columns)

    def level_of(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """For the rows of a table over (a subset of) these columns: which columns each row gives
        (bit d set: column d is not ``<NA>``) and each column's category code (-1 where not given).
        Categories these records do not have raise.
        """
        level_bits = np.zeros(len(frame), dtype=np.int64)
        codes = []
        for d, name in enumerate(self.by):
            if name in frame.columns:
                column = frame[name]
                given = column.notna().to_numpy()
                code = np.full(len(frame), -1, dtype=np.int64)
                if given.any():
                    found = self.categories[d].get_indexer(pd.Index(column[given].to_numpy()))
                    if (found < 0).any():
                        unknown = column[given].to_numpy()[found < 0][0]
                        raise DisclosureError(f"Unbekannte Kategorie {unknown!r} in Spalte „{name}“.")
                    code[given] = found
                level_bits |= given.astype(np.int64) << d
            else:
                code = np.full(len(frame), -1, dtype=np.int64)
            codes.append(code)
        return level_bits, np.stack(codes, axis=1) if codes else np.zeros((len(frame), 0), dtype=np.int64)


def build_grid(records: pd.DataFrame, by: list[str], categories: dict | None = None) -> Grid:
    """Factorise the ``by`` columns (sorted categories; given ``categories`` also when unobserved)."""
    if not by:
        raise DisclosureError("Mindestens ein Merkmal (by) ist nötig.")
    missing = [name for name in by if name not in records.columns]
    if missing:
        raise DisclosureError(f"Spalten fehlen in den Einzeldaten: {', '.join(missing)}.")
    if len(set(by)) != len(by):
        raise DisclosureError("Ein Merkmal ist in by doppelt angegeben.")
    categories = categories or {}
    all_codes, all_categories = [], []
    for name in by:
        column = records[name]
        if column.isna().any():
            raise DisclosureError(f"Spalte „{name}“ enthält fehlende Werte; sie lassen sich keiner Zelle "
                                  "zuordnen.")
        if name in categories:
            index = pd.Index(list(categories[name]))
            if not index.is_unique:
                raise DisclosureError(f"Die Kategorien für „{name}“ sind nicht eindeutig.")
            codes = index.get_indexer(column.to_numpy())
            if (codes < 0).any():
                unknown = column.to_numpy()[codes < 0][0]
                raise DisclosureError(f"Wert {unknown!r} in „{name}“ steht nicht in den angegebenen Kategorien.")
        else:
            codes, uniques = pd.factorize(column, sort=True)
            index = pd.Index(uniques)
        all_codes.append(np.asarray(codes, dtype=np.int64))
        all_categories.append(index)
    shape = tuple(len(c) for c in all_categories)
    flat = np.ravel_multi_index(all_codes, shape) if len(records) else np.zeros(0, dtype=np.int64)
    return Grid(tuple(by), tuple(all_categories), np.asarray(flat, dtype=np.int64))


def named_cells(grid: Grid, levels: list[tuple[int, ...]], specs) -> np.ndarray:
    """Mask of the cells of ``levels`` that ``specs`` name: a column name or list of names for a
    whole margin (``[]`` = grand total), a dict ``{column: value}`` for one cell."""
    sizes = [int(np.prod([grid.shape[d] for d in kept], dtype=np.int64)) for kept in levels]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    mask = np.zeros(int(offsets[-1]), dtype=bool)
    for spec in specs or []:
        columns = [spec] if isinstance(spec, str) else list(spec)
        unknown = [c for c in columns if c not in grid.by]
        if unknown:
            raise DisclosureError("unperturbed nennt Spalten, die nicht in by stehen: "
                                  f"{', '.join(map(str, unknown))}.")
        kept = tuple(sorted(grid.by.index(c) for c in columns))
        if kept not in levels:
            raise DisclosureError("unperturbed nennt eine Randsumme, die die Tabelle nicht enthält "
                                  "(margins=True setzen).")
        level = levels.index(kept)
        if isinstance(spec, dict):
            codes = []
            for d in kept:
                position = grid.categories[d].get_indexer([spec[grid.by[d]]])[0]
                if position < 0:
                    raise DisclosureError(f"unperturbed: Wert {spec[grid.by[d]]!r} kommt in „{grid.by[d]}“ "
                                          "nicht vor.")
                codes.append(position)
            shape = tuple(grid.shape[d] for d in kept)
            cell = int(np.ravel_multi_index(codes, shape)) if kept else 0
            mask[offsets[level] + cell] = True
        else:
            mask[offsets[level]:offsets[level + 1]] = True
    return mask


def describe_specs(specs) -> list:
    """``specs`` as plain JSON (for the certificate)."""
    return [dict(spec) if isinstance(spec, dict) else ([spec] if isinstance(spec, str) else list(spec))
            for spec in specs or []]


def _column_from_codes(categories: pd.Index, codes: np.ndarray):
    """Category values by code; -1 gives <NA>. Integers become nullable Int64, text pandas strings."""
    if isinstance(categories.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(codes, dtype=categories.dtype)
    target = _nullable(categories.dtype)
    missing = codes < 0
    if len(categories) == 0:
        return pd.Series([None] * len(codes), dtype=target).array
    taken = pd.Series(categories.take(np.where(missing, 0, codes))).astype(target)
    return taken.mask(missing).array


def _nullable(dtype):
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "Int64"
    if pd.api.types.is_float_dtype(dtype):
        return "Float64"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return dtype
    return "str"
