"""An attacker's linear programs, written independently of bif_lib: bounds of suppressed cells.

The attacker sees released tables (``<NA>`` in a category column = total over it, ``<NA>`` in the
value column = suppressed), knows that no cell is negative, and bounds each suppressed cell by
minimising and maximising it over all tables of finest cells consistent with what was published.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.optimize import linprog


def finest_cells(records: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(itertools.product(*[sorted(records[c].unique()) for c in columns]))


def empty_cells(records: pd.DataFrame, columns: list[str], cells: list[tuple]) -> set[tuple]:
    observed = set(records[columns].itertuples(index=False, name=None))
    return {cell for cell in cells if cell not in observed}


def membership(row: pd.Series, columns: list[str], cells: list[tuple]) -> np.ndarray:
    wanted = {c: row[c] for c in columns if c in row.index and not pd.isna(row[c])}
    return np.array([all(cell[columns.index(c)] == v for c, v in wanted.items()) for cell in cells], dtype=float)


def suppressed_intervals(tables: list[pd.DataFrame], value: str, columns: list[str], cells: list[tuple],
                         known_empty: set[tuple] = frozenset()):
    """For every suppressed row of every table: (table number, row index, low, high).

    ``known_empty``: finest cells the attacker knows to be empty (impossible combinations).
    """
    known_rows, known_values, targets = [], [], []
    for t, table in enumerate(tables):
        for i, row in table.iterrows():
            vector = membership(row, columns, cells)
            if pd.isna(row[value]):
                targets.append((t, i, vector))
            else:
                known_rows.append(vector)
                known_values.append(float(row[value]))
    a_eq, b_eq = np.array(known_rows), np.array(known_values)
    bounds = [(0, 0) if cell in known_empty else (0, None) for cell in cells]
    result = []
    for t, i, vector in targets:
        low = linprog(vector, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-vector, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert low.status == 0 and high.status in (0, 3)
        result.append((t, i, low.fun, np.inf if high.status == 3 else -high.fun))
    return result


def true_values(table: pd.DataFrame, records: pd.DataFrame, by: list[str], value: str | None) -> np.ndarray:
    out = []
    for _, row in table.iterrows():
        mask = np.ones(len(records), dtype=bool)
        for c in by:
            if not pd.isna(row[c]):
                mask &= (records[c] == row[c]).to_numpy()
        out.append(mask.sum() if value is None else records.loc[mask, value].sum())
    return np.array(out, dtype=float)
