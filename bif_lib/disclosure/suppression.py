"""Cell suppression: primary rules and LP-based secondary suppression.

Every published cell (inner cell or margin, of this table or of other released tables) is a sum
of *finest* cells, the full grid over all columns involved. An attacker who knows the published
cells and that nothing is negative can bound a suppressed cell by two linear programs
(:meth:`CellSystem.interval`). A primary cell is protected when that interval is at least its
protection range wide.

Secondary cells are chosen per primary cell with the classic LP heuristic for cell suppression
(cf. Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, ch. 4.3): find the cheapest
change ``y`` of the finest cells that moves the primary cell by the required amount while every
cell that must stay published keeps its value; every other published cell the change touches is
suppressed. After that the attacker cannot tell the true table from the changed one, so the
primary cell's interval has the required width. Costs are the cells' values, so small cells go
first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

PUBLISHED, PRIMARY, SECONDARY = "", "primär", "sekundär"


# --- primary suppression ---------------------------------------------------------------------------

def primary_frequency(counts: np.ndarray, min_frequency: int) -> np.ndarray:
    """Mindestfallzahl: cells with 1 … min_frequency-1 records (zeros are not confidential)."""
    return (counts > 0) & (counts < min_frequency)


def top_contributions(values: np.ndarray, cells: np.ndarray, n_cells: int, k: int) -> np.ndarray:
    """The ``k`` largest contributions of each cell, shape (k, n_cells), 0 where there are fewer."""
    order = np.lexsort((-values, cells))
    sorted_cells = cells[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_cells, sorted_cells, side="left")
    top = np.zeros((k, n_cells))
    for r in range(k):
        chosen = rank == r
        top[r, sorted_cells[chosen]] = values[order][chosen]
    return top


def primary_magnitude(counts: np.ndarray, totals: np.ndarray, top: np.ndarray, *, min_frequency: int,
                      dominance: tuple[int, float] | None, p_percent: float | None) -> dict[str, np.ndarray]:
    """The primary rules for sums of non-negative contributions, each as a mask over cells.

    * ``min_frequency``: fewer than this many contributors (but at least one);
    * dominance (n, k): the n largest contributors make up more than k % of the cell;
    * p % rule: the second largest contributor could estimate the largest to within p %,
      i.e. ``total - x1 - x2 < p/100 · x1``.
    """
    rules = {"min_frequency": primary_frequency(counts, min_frequency)}
    if dominance is not None:
        n, k = dominance
        rules["dominance"] = (totals > 0) & (top[:n].sum(axis=0) > k / 100 * totals)
    if p_percent is not None:
        rest = totals - top[0] - top[1]
        rules["p_percent"] = (totals > 0) & (rest < p_percent / 100 * top[0])
    return rules


def required_widths(values: np.ndarray, protection_range: float, floor: float) -> np.ndarray:
    """Protection range of each cell: ``protection_range`` × its value, at least ``floor``."""
    return np.maximum(protection_range * np.abs(values), floor)


# --- the linear system -----------------------------------------------------------------------------

@dataclass
class CellSystem:
    """Published and suppressed cells as sums of finest cells: ``cell_values = matrix @ finest``."""

    matrix: sp.csr_matrix  # cells × finest cells, 0/1
    finest: np.ndarray  # true values of the finest cells (never published as such)
    known_zero: np.ndarray | None = None  # finest cells the attacker knows to be empty

    def _upper(self) -> np.ndarray:
        upper = np.full(len(self.finest), np.inf)
        if self.known_zero is not None:
            upper[self.known_zero] = 0.0
        return upper

    @property
    def cell_values(self) -> np.ndarray:
        return self.matrix @ self.finest

    def interval(self, cell: int, published: np.ndarray) -> tuple[float, float]:
        """The attacker's bounds for ``cell`` given every published cell and non-negativity."""
        rows = self.matrix[np.flatnonzero(published)]
        target = self.matrix[cell].toarray().ravel()
        bounds = np.column_stack([np.zeros(len(self.finest)), self._upper()])
        known = {"A_eq": rows, "b_eq": rows @ self.finest} if rows.shape[0] else {}
        low = linprog(target, bounds=bounds, method="highs", **known)
        high = linprog(-target, bounds=bounds, method="highs", **known)
        if low.status != 0 or high.status not in (0, 3):
            raise RuntimeError(f"Interval LP failed: {low.message} / {high.message}")
        return float(low.fun), (np.inf if high.status == 3 else float(-high.fun))

    def pattern(self, cell: int, shift: float, suppressed: np.ndarray, candidates: np.ndarray,
                costs: np.ndarray) -> np.ndarray | None:
        """The cheapest set of candidate cells to suppress so that ``cell`` can move by ``shift``.

        Variables: the change ``y`` of the finest cells (``finest + y >= 0``) and, per candidate
        cell, the positive and negative part of its change. Published non-candidates must not
        change; suppressed cells may. Returns the candidate cells that change (None: impossible).
        """
        n_finest = self.matrix.shape[1]
        candidate_rows = np.flatnonzero(candidates & ~suppressed)
        fixed_rows = np.flatnonzero(~candidates & ~suppressed)
        m = len(candidate_rows)
        a_candidates = self.matrix[candidate_rows]
        identity = sp.identity(m, format="csr")
        a_eq = sp.vstack([
            sp.hstack([a_candidates, -identity, identity]),
            sp.hstack([self.matrix[fixed_rows], sp.csr_matrix((len(fixed_rows), 2 * m))]),
            sp.hstack([self.matrix[[cell]], sp.csr_matrix((1, 2 * m))]),
        ], format="csr")
        b_eq = np.concatenate([np.zeros(m + len(fixed_rows)), [shift]])
        objective = np.concatenate([np.zeros(n_finest), costs[candidate_rows], costs[candidate_rows]])
        lower = np.concatenate([-self.finest, np.zeros(2 * m)])
        upper = np.concatenate([self._upper(), np.full(2 * m, np.inf)])
        bounds = np.column_stack([lower, upper])
        result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if result.status != 0:
            return None
        change = result.x[n_finest:n_finest + m] + result.x[n_finest + m:]
        return candidate_rows[change > 1e-6 * max(1.0, abs(shift))]


def secondary_suppression(system: CellSystem, *, targets: np.ndarray, required: np.ndarray,
                          suppressed: np.ndarray, candidates: np.ndarray, costs: np.ndarray,
                          describe) -> np.ndarray:
    """Add suppressions until every target cell can move down and up by its share of ``required``.

    ``targets`` are the primary cells (of this and other tables), ``required`` their widths;
    ``candidates`` marks the cells that may be suppressed. Returns the new ``suppressed`` mask.
    """
    from bif_lib.disclosure.checks import DisclosureError

    suppressed = suppressed.copy()
    values = system.cell_values
    for cell, width in sorted(zip(targets, required), key=lambda item: -values[item[0]]):
        down = min(width / 2, values[cell])
        up = width - down
        # a little more than needed, so that LP tolerances cannot leave the audit just short
        for shift in (up * (1 + 1e-6), -min(down * (1 + 1e-6), values[cell])):
            if shift == 0:
                continue
            added = system.pattern(cell, shift, suppressed, candidates, costs)
            if added is None:
                raise DisclosureError(
                    f"Die Zelle {describe(cell)} lässt sich nicht schützen: sie ist aus veröffentlichten "
                    "Werten (auch anderer Tabellen) bestimmbar, die nicht gesperrt werden dürfen.")
            suppressed[added] = True
    return suppressed


def audit(system: CellSystem, targets: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """The attacker's interval (low, high) for each target cell, shape (len(targets), 2)."""
    published = ~suppressed
    return np.array([system.interval(cell, published) for cell in targets]).reshape(len(targets), 2)
