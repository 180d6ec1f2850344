"""Perturbation tables (ptables) for the Cell Key Method on counts.

A ptable holds, for every original count ``i``, the probabilities of the noise values ``v``
(published count ``j = i + v``). Rows ``0 … ncat`` are stored; every count ``i >= ncat`` uses the
last, symmetric row. The probabilities follow the maximum-entropy construction of Giessing (2016),
"Computational Issues in the Design of Transition Probabilities and Disclosure Risk Estimation
for Additive Noise" (PSD 2016, LNCS 9867), as implemented by Destatis in the R package
``ptable`` (sdcTools/ptable: ``pt_create_pParams``, ``pt_create_pTable``, ``pt_optim_entropy``).
This module re-implements that method with scipy; the R code is the reference, not the source.

For every row ``i`` the probabilities ``p`` over the allowed noise values ``v`` maximise the
entropy ``-Σ p log p`` subject to

* ``Σ p = 1`` and ``Σ p·v = 0`` (unbiased noise),
* ``Σ p·v² ≤ V`` (the noise variance; binding wherever the support allows it),
* ``|v| ≤ D``, ``i + v ≥ 0`` and ``i + v ∉ {1, …, js}`` (small counts are never published),
* ``p ≥ 1e-8`` for every allowed value (as in the R package), ``p(v=0) ≥ pstay`` if given,
* optionally (``mono``) probabilities rising towards ``v = 0`` from below.

Row 0 is fixed: a zero stays zero. The cumulative bounds are rounded to 8 decimals like the R
package, and ``p`` is then taken as the difference of the rounded bounds, so the lookup
intervals tile [0, 1) exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import linprog, minimize

from bif_lib.i18n import format_number

METHOD_VERSION = "bif-ptable-maxent-1"
"""Changes whenever the construction would give other numbers for the same parameters."""

DECIMALS = 8
MIN_PROBABILITY = 1e-8


@dataclass(frozen=True)
class PTableRow:
    """Noise distribution for one original count ``i`` (the last row stands for all ``i >= ncat``)."""

    i: int
    noise: np.ndarray  # allowed noise values v, ascending
    upper: np.ndarray  # cumulative upper bounds; a cell key ck selects v[k] when lower[k] <= ck < upper[k]

    @property
    def lower(self) -> np.ndarray:
        return np.concatenate(([0.0], self.upper[:-1]))

    @property
    def probabilities(self) -> np.ndarray:
        return np.diff(np.concatenate(([0.0], self.upper)))

    def mean(self) -> float:
        return float(self.probabilities @ self.noise)

    def variance(self) -> float:
        return float(self.probabilities @ self.noise.astype(float) ** 2)


@dataclass(frozen=True)
class PTable:
    """A versioned perturbation table. Build with :func:`build_ptable` or :func:`default_ptable`."""

    D: int
    V: float
    js: int
    pstay: float | None
    mono: bool
    rows: tuple[PTableRow, ...] = field(repr=False)

    @property
    def parameters(self) -> dict:
        return {"D": self.D, "V": self.V, "js": self.js, "pstay": self.pstay, "mono": self.mono,
                "method": METHOD_VERSION}

    @property
    def version(self) -> str:
        """``pt-`` + hash of the parameters and the construction method."""
        canonical = json.dumps(self.parameters, sort_keys=True, separators=(",", ":"))
        return "pt-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def ncat(self) -> int:
        """The first count that uses the symmetric row."""
        return len(self.rows) - 1

    @property
    def intervals_sha256(self) -> str:
        """Digest of the rounded lookup intervals: detects a table that drifted from its version."""
        text = ";".join(f"{r.i}:" + ",".join(f"{int(v)}@{u:.{DECIMALS}f}" for v, u in zip(r.noise, r.upper))
                        for r in self.rows)
        return hashlib.sha256(text.encode()).hexdigest()

    def row_for(self, count: int) -> PTableRow:
        return self.rows[min(int(count), self.ncat)]

    def lookup(self, counts: np.ndarray, cell_keys: np.ndarray) -> np.ndarray:
        """Noise for each cell: the interval of its row that contains its cell key (vectorised)."""
        counts = np.asarray(counts, dtype=np.int64)
        cell_keys = np.asarray(cell_keys, dtype=np.float64)
        row_index = np.minimum(counts, self.ncat)
        noise = np.zeros(len(counts), dtype=np.int64)
        for row in self.rows[1:]:  # row 0: zero stays zero
            selected = np.flatnonzero(row_index == row.i)
            if len(selected):
                position = np.searchsorted(row.upper, cell_keys[selected], side="right")
                noise[selected] = row.noise[position]
        return noise

    def frame(self):
        """Long format like the R package's ``pTable`` slot: i, j, v, p, p_int_lb, p_int_ub."""
        import pandas as pd

        parts = []
        for row in self.rows:
            parts.append(pd.DataFrame({
                "i": row.i, "j": row.i + row.noise, "v": row.noise, "p": row.probabilities.round(DECIMALS),
                "p_int_lb": row.lower, "p_int_ub": row.upper,
            }))
        return pd.concat(parts, ignore_index=True)

    def to_dict(self) -> dict:
        return {"parameters": self.parameters, "version": self.version,
                "rows": [{"i": r.i, "v": r.noise.tolist(), "p_int_ub": r.upper.tolist()} for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict) -> PTable:
        """Rebuild a stored table exactly (no optimisation), e.g. an office's own frozen ptable."""
        parameters = data["parameters"]
        if parameters.get("method") != METHOD_VERSION:
            raise ValueError(f"Überlagerungstabelle mit unbekanntem Verfahren {parameters.get('method')!r}.")
        rows = tuple(PTableRow(int(r["i"]), np.asarray(r["v"], dtype=np.int64),
                               np.asarray(r["p_int_ub"], dtype=np.float64)) for r in data["rows"])
        table = cls(int(parameters["D"]), float(parameters["V"]), int(parameters["js"]), parameters["pstay"],
                    bool(parameters["mono"]), rows)
        if data.get("version", table.version) != table.version:
            raise ValueError("Version der Überlagerungstabelle passt nicht zu ihren Parametern.")
        _validate(table)
        return table


def build_ptable(D: int, V: float, js: int = 0, pstay: float | None = None, mono: bool = True) -> PTable:
    """Maximum-entropy ptable for counts with maximum deviation ``D``, variance ``V``, blocked ``1..js``."""
    D, js = int(D), int(js)
    V = float(V)
    if D < 1:
        raise ValueError("Die maximale Abweichung D muss mindestens 1 sein.")
    if V <= 0:
        raise ValueError("Die Varianz V muss größer als 0 sein.")
    if js < 0:
        raise ValueError("js (gesperrte Kleinstwerte 1 bis js) darf nicht negativ sein.")
    if pstay is not None and not 0 < pstay < 1:
        raise ValueError("pstay muss zwischen 0 und 1 liegen (ausschließlich).")
    return _build(D, V, js, None if pstay is None else float(pstay), bool(mono))


@lru_cache(maxsize=16)
def _build(D: int, V: float, js: int, pstay: float | None, mono: bool) -> PTable:
    # Number of rows as in pt_create_pParams: without blocking the symmetric row is i = D,
    # with blocking it is i = D + js + 1 (the first row whose targets are all unblocked).
    ncat = D if js == 0 else D + js + 1
    rows = [PTableRow(0, np.array([0], dtype=np.int64), np.array([1.0]))]
    for i in range(1, ncat + 1):
        noise = _allowed_noise(i, D, js)
        probabilities = _max_entropy(i, noise, V, pstay, mono, js)
        upper = np.round(np.cumsum(probabilities), DECIMALS)
        upper[-1] = 1.0
        rows.append(PTableRow(i, noise, upper))
    table = PTable(D, V, js, pstay, mono, tuple(rows))
    _validate(table)
    return table


def _allowed_noise(i: int, D: int, js: int) -> np.ndarray:
    targets = np.arange(max(i - D, 0), i + D + 1)
    targets = targets[(targets == 0) | (targets > js)]
    return (targets - i).astype(np.int64)


def _max_entropy(i: int, noise: np.ndarray, V: float, pstay: float | None, mono: bool, js: int) -> np.ndarray:
    v = noise.astype(float)
    lower = np.full(len(v), MIN_PROBABILITY)
    stay = np.flatnonzero(v == 0)
    monotone_pairs = [(k, k + 1) for k in range(int(stay[0]))] if mono and len(stay) else []
    stay_bounds = [MIN_PROBABILITY]
    if pstay is not None and len(stay):
        # As the R package does: lower a preset pstay in steps of 0.05 until the variance V is reached.
        stay_bounds = [*np.arange(pstay, MIN_PROBABILITY, -0.05), MIN_PROBABILITY]
    solution, minimum = None, None
    for bound in stay_bounds:
        lower[stay] = bound
        minimum = _minimum_variance(v, lower, monotone_pairs)
        if minimum is None or minimum > V + 1e-12:
            continue
        solution = _solve_entropy(v, V, lower, monotone_pairs)
        if solution @ v ** 2 >= V - 5e-4:
            break
    if solution is None:
        if minimum is None:
            raise ValueError(f"Für die Originalzahl {i} gibt es keine zulässige Überlagerung.")
        needed = format_number(math.ceil(minimum * 1e4) / 1e4, 4)
        raise ValueError(f"Die Varianz V = {format_number(V, None)} ist für die Originalzahl {i} zu klein: mit "
                         f"diesen D und js ist mindestens V = {needed} nötig.{_blocking_hint(js)}")
    return solution


def _blocking_hint(js: int) -> str:
    # An original i <= js must move to 0 or above js: variance at least i·(js + 1 - i).
    if js == 0:
        return ""
    bound = max(i * (js + 1 - i) for i in range(1, js + 1))
    return f" Bei js = {js} muss V größer als {bound} sein."


def _constraint_rows(v: np.ndarray, monotone_pairs) -> np.ndarray:
    rows = []
    for below, above in monotone_pairs:
        row = np.zeros(len(v))
        row[below], row[above] = 1.0, -1.0  # p[below] - p[above] <= 0
        rows.append(row)
    return np.array(rows).reshape(len(rows), len(v))


def _minimum_variance(v, lower, monotone_pairs) -> float | None:
    """Smallest achievable Σ p·v² under the other constraints (None: no feasible p at all)."""
    monotone = _constraint_rows(v, monotone_pairs)
    result = linprog(v ** 2, A_ub=monotone if len(monotone) else None,
                     b_ub=np.zeros(len(monotone)) if len(monotone) else None,
                     A_eq=np.vstack([np.ones_like(v), v]), b_eq=[1.0, 0.0],
                     bounds=list(zip(lower, np.ones_like(v))), method="highs")
    return float(result.fun) if result.status == 0 else None


def _solve_entropy(v, V, lower, monotone_pairs) -> np.ndarray:
    n = len(v)
    monotone = _constraint_rows(v, monotone_pairs)
    constraints = [
        {"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones(n)},
        {"type": "eq", "fun": lambda p: p @ v, "jac": lambda p: v},
        {"type": "ineq", "fun": lambda p: V - p @ v ** 2, "jac": lambda p: -(v ** 2)},
    ]
    if len(monotone):
        constraints.append({"type": "ineq", "fun": lambda p: -(monotone @ p), "jac": lambda p: -monotone})
    start = np.full(n, 1.0 / n)  # like the R package, SLSQP may start outside the feasible set
    result = minimize(lambda p: float(np.sum(p * np.log(p))), start, jac=lambda p: np.log(p) + 1.0,
                      bounds=list(zip(lower, np.ones(n))), constraints=constraints, method="SLSQP",
                      options={"ftol": 1e-15, "maxiter": 5000})
    p = np.clip(result.x, lower, 1.0)
    p = p / p.sum()
    slack = 1e-7
    if abs(p @ v) > slack or p @ v ** 2 > V + slack or (len(monotone) and (monotone @ p > slack).any()):
        raise RuntimeError(f"Maximum-entropy optimisation did not converge: {result.message}")
    return p


def _validate(table: PTable) -> None:
    """The properties every ptable must have, whatever built it."""
    if not (len(table.rows[0].noise) == 1 and table.rows[0].noise[0] == 0):
        raise ValueError("Zeile 0 der Überlagerungstabelle muss die Null unverändert lassen.")
    for row in table.rows:
        targets = row.i + row.noise
        if (np.abs(row.noise) > table.D).any() or (targets < 0).any():
            raise ValueError(f"Zeile {row.i}: Abweichung größer als D oder negativer Wert.")
        if row.i > 0 and ((targets >= 1) & (targets <= table.js)).any():
            raise ValueError(f"Zeile {row.i}: führt auf einen gesperrten Kleinstwert.")
        if not (np.all(np.diff(row.upper) >= 0) and row.upper[-1] == 1.0 and row.upper[0] >= 0):
            raise ValueError(f"Zeile {row.i}: Intervallgrenzen ungültig.")


DEFAULT_PARAMETERS = {"D": 5, "V": 3.0, "js": 2, "pstay": None, "mono": True}
"""BIF's default: the parameter set Destatis' own sdcTools packages use as their reference example
(``ptable`` vignette ``create_cnt_ptable(D = 5, V = 3, js = 2)``; ``cellKey`` ``params_cnts``).
The parameters of Zensus 2022 are not published (they are part of the protection); see
docs/disclosure.md for why these fit a city's register tables and when to choose others."""


@lru_cache(maxsize=1)
def default_ptable() -> PTable:
    """The default ptable (D = 5, V = 3, js = 2), read from its frozen intervals."""
    from bif_lib.disclosure import _default_ptable as frozen

    rows = tuple(PTableRow(i, np.asarray(noise, dtype=np.int64), np.asarray(upper, dtype=np.float64))
                 for i, noise, upper in frozen.ROWS)
    parameters = frozen.PARAMETERS
    table = PTable(parameters["D"], parameters["V"], parameters["js"], parameters["pstay"], parameters["mono"],
                   rows)
    if table.version != frozen.VERSION or parameters["method"] != METHOD_VERSION:
        raise RuntimeError("The frozen default ptable does not match its parameters")
    _validate(table)
    return table
