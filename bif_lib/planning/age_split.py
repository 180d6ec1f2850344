"""Single years of age from published age groups, keeping every group total exactly.

Cities publish population stocks by age group (e.g. 0–4, 5–9, …, 90–94, 95+); the projection
needs single years 0..max_age. Method (docs/planning-models.md, "From published stocks"):

1. **Closed bands: monotone interpolation of the cumulative count.** For each series (one
   district, sex and year) the cumulative count C(a) = persons younger than a is known exactly at
   the band boundaries a = 0, b1, b2, …, b_open. It is interpolated between them with the
   shape-preserving piecewise cubic Hermite interpolant PCHIP (Fritsch–Carlson monotone
   interpolation with the Fritsch–Butland weighted harmonic-mean slopes, the same as
   ``scipy.interpolate.PchipInterpolator``; written out here so that app kernels need not load
   scipy). C is non-decreasing, so the interpolant is non-decreasing, and the single-age counts
   n(a) = C(a+1) − C(a) are never negative. The interpolant passes through every knot, so the
   single ages of a band add up to the band total (exact up to floating-point rounding).
   Bands of width 1 are passed through unchanged; a population that is uniform over age gives
   exactly uniform single ages (the interpolant of a straight line is the straight line).
2. **Open band: life-table shape.** The persons in the open band (e.g. 95+) are spread over the
   ages open..max_age in proportion to the stationary population of the life table, L(x) (and
   T(max_age) = L of the open class for max_age); without a life table, in proportion to the
   model life table of :func:`bif_lib.planning.lifetable.life_table`. Ages above ``max_age``
   (bands reaching beyond it) are collected in the open class ``max_age``.

Limits: the interpolation smooths within bands - a real single-age peak inside a band (e.g. the
student ages 19–24 within 20–24) is flattened towards its neighbours; the first band's shape
follows the slope of the second; the open band follows a stationary population, not the actual
cohort sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bif_lib.planning._common import MAX_AGE, SEXES, check_columns

AGE_GROUP_COLUMNS = ("age_from", "age_to")


# --- the interpolant -------------------------------------------------------------------------------

def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots x (N,) of the series y (R, N): Fritsch–Butland, shape-preserving ends."""
    h = np.diff(x).astype(float)  # (N-1,)
    delta = np.diff(y, axis=1) / h  # (R, N-1)
    n = len(x)
    d = np.zeros_like(y, dtype=float)
    if n == 2:
        d[:, 0] = d[:, 1] = delta[:, 0]
        return d
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    left, right = delta[:, :-1], delta[:, 1:]
    same_sign = (left * right) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / left + w2 / right)
    d[:, 1:-1] = np.where(same_sign, harmonic, 0.0)
    d[:, 0] = _end_slope(h[0], h[1], delta[:, 0], delta[:, 1])
    d[:, -1] = _end_slope(h[-1], h[-2], delta[:, -1], delta[:, -2])
    return d


def _end_slope(h0: float, h1: float, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """One-sided three-point slope, set to 0 or limited to 3*m0 where it would break monotonicity."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    d = np.where(np.sign(d) != np.sign(m0), 0.0, d)
    return np.where((np.sign(m0) != np.sign(m1)) & (np.abs(d) > np.abs(3 * m0)), 3 * m0, d)


def _pchip_at(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The PCHIP interpolant of y (R, N) at knots x (N,), evaluated at points within [x0, x_-1]."""
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, points, side="right") - 1, 0, len(x) - 2)
    h = (x[k + 1] - x[k]).astype(float)
    t = (points - x[k]) / h
    h00, h10 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t
    h01, h11 = -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * y[:, k] + h10 * h * d[:, k] + h01 * y[:, k + 1] + h11 * h * d[:, k + 1]


# --- arrays --------------------------------------------------------------------------------------

def check_age_groups(lower: Sequence[int], upper: Sequence[int | None], what_de: str = "Altersgruppen") -> None:
    """Bands must start at 0, follow each other without gap or overlap; only the last may be open (None)."""
    lower = [int(a) for a in lower]
    if not lower:
        raise ValueError(f"{what_de}: keine Altersgruppen.")
    if lower[0] != 0:
        raise ValueError(f"{what_de}: die erste Altersgruppe muss bei 0 beginnen (beginnt bei {lower[0]}).")
    for i, (a, b) in enumerate(zip(lower, upper)):
        last = i == len(lower) - 1
        if b is None:
            if not last:
                raise ValueError(f"{what_de}: nur die letzte Altersgruppe darf offen sein (offen: ab {a}).")
            continue
        if int(b) < a:
            raise ValueError(f"{what_de}: Altersgruppe {a}–{b}: Obergrenze liegt unter der Untergrenze.")
        if not last and int(b) + 1 != lower[i + 1]:
            raise ValueError(f"{what_de}: Lücke oder Überschneidung zwischen {a}–{b} und der Gruppe ab "
                             f"{lower[i + 1]}.")


def split_counts(lower: Sequence[int], upper: Sequence[int | None], counts: np.ndarray, *,
                 max_age: int = MAX_AGE, tail_weights: np.ndarray | None = None) -> np.ndarray:
    """Split counts (R, B) of the bands [lower, upper] (upper None = open) into single ages (R, max_age+1).

    tail_weights: (max_age+1,) or (R, max_age+1) weights for the ages of the open band (e.g. the
    life table's L(x), with the open class's L at max_age); default: equal weights.
    Every band total is kept (see the module docstring); results are never negative.
    """
    check_age_groups(lower, upper)
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    if counts.shape[1] != len(lower):
        raise ValueError(f"Altersgruppen: {counts.shape[1]} Werte für {len(lower)} Gruppen.")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("Altersgruppen: Werte müssen vorhanden und nicht negativ sein.")
    n_rows = counts.shape[0]
    open_band = upper[-1] is None
    closed_end = int(lower[-1]) if open_band else int(upper[-1]) + 1  # first age not covered by closed bands
    knots = np.array([int(a) for a in lower] + ([] if open_band else [closed_end]))
    closed = counts[:, :-1] if open_band else counts
    cumulative = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(closed, axis=1)], axis=1)

    top = max(closed_end, max_age)
    single = np.zeros((n_rows, top + 1))
    if closed_end > 0:
        if len(knots) == 2:
            single[:, :closed_end] = closed[:, :1] / closed_end
        else:
            values = _pchip_at(knots, cumulative, np.arange(closed_end + 1, dtype=float))
            values[:, knots] = cumulative  # the knots exactly, no rounding in the band sums
            single[:, :closed_end] = np.maximum(np.diff(values, axis=1), 0.0)
            single[:, :closed_end] *= _band_correction(knots, closed, single[:, :closed_end])
    if open_band:
        tail = np.ones(max_age + 1) if tail_weights is None else np.asarray(tail_weights, dtype=float)
        tail = np.broadcast_to(tail, (n_rows, max_age + 1))
        if closed_end >= max_age:
            single[:, closed_end] += counts[:, -1]
        else:
            weights = tail[:, closed_end:]
            sums = weights.sum(axis=1, keepdims=True)
            shares = np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0),
                              1.0 / weights.shape[1])
            single[:, closed_end:max_age + 1] += counts[:, -1:] * shares
    if top > max_age:
        single[:, max_age] += single[:, max_age + 1:].sum(axis=1)
        single = single[:, : max_age + 1]
    return single


def _band_correction(knots: np.ndarray, closed: np.ndarray, single: np.ndarray) -> np.ndarray:
    """Factor per single age that restores each band total after clipping rounding-level negatives."""
    factor = np.ones_like(single)
    for i in range(len(knots) - 1):
        a, b = knots[i], knots[i + 1]
        got = single[:, a:b].sum(axis=1)
        factor[:, a:b] = np.where(got > 0, closed[:, i] / np.where(got > 0, got, 1.0), 1.0)[:, None]
    return factor


def tail_weights_from_life_table(lifetable: pd.DataFrame | None, max_age: int = MAX_AGE) -> np.ndarray:
    """(2, max_age+1) weights L(x) by sex (order of SEXES) for spreading an open age band."""
    if lifetable is None:
        from bif_lib.planning.lifetable import life_table

        lifetable = life_table(max_age=max_age)
    column = "Lx" if "Lx" in lifetable.columns else "lx"
    check_columns(lifetable, ["sex", "age", column], "Sterbetafel")
    pivot = lifetable.pivot_table(index="sex", columns="age", values=column, aggfunc="sum").reindex(
        index=list(SEXES), columns=range(max_age + 1))
    if pivot.isna().to_numpy().any():
        raise ValueError(f"Sterbetafel unvollständig: Alter 0 bis {max_age} je Geschlecht erforderlich.")
    return pivot.to_numpy(dtype=float)  # without L(x): survivors l(x), a close approximation


# --- tables --------------------------------------------------------------------------------------

def split_age_groups(groups: pd.DataFrame, *, value: str = "population", max_age: int = MAX_AGE,
                     lifetable: pd.DataFrame | None = None, what_de: str = "Altersgruppen") -> pd.DataFrame:
    """Single ages from a long table of age groups.

    groups: key columns (any, e.g. year, district_id, sex), ``age_from``, ``age_to`` (inclusive;
            missing for the open band) and ``value``. Each key combination must hold one complete
            set of bands starting at 0 (:func:`check_age_groups`); layouts may differ between keys.
    Returns the key columns, ``age`` (0..max_age) and ``value``; totals per key and band are kept.
    The open band follows the life table's L(x) of the row's sex (key column ``sex``; otherwise the
    mean of both sexes); default the model life table.
    """
    check_columns(groups, [*AGE_GROUP_COLUMNS, value], what_de)
    keys = [c for c in groups.columns if c not in (*AGE_GROUP_COLUMNS, value)]
    frame = groups.sort_values([*keys, "age_from"], kind="stable").reset_index(drop=True)
    values = frame[value].to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"{what_de}: Spalte {value}: Werte müssen vorhanden und nicht negativ sein.")
    tails = tail_weights_from_life_table(lifetable, max_age)
    group_ids = frame.groupby(keys, sort=False).ngroup().to_numpy() if keys else np.zeros(len(frame), int)
    n_groups = int(group_ids.max()) + 1 if len(frame) else 0
    key_table = frame.drop_duplicates(subset=keys)[keys].reset_index(drop=True) if keys else pd.DataFrame(index=[0])
    result = np.zeros((n_groups, max_age + 1))

    age_from = frame["age_from"].to_numpy(dtype=float)
    age_to = frame["age_to"].to_numpy(dtype=float)
    for layout, members in _layouts(group_ids, age_from, age_to).items():
        lower = [int(a) for a in layout[0]]
        upper = [None if b < 0 else int(b) for b in layout[1]]
        where = f"{what_de} ({_describe(key_table.iloc[members[0]], keys)})" if keys else what_de
        check_age_groups(lower, upper, where)
        counts = values[np.isin(group_ids, members)].reshape(len(members), len(lower))
        if "sex" in keys:
            sex_index = (key_table["sex"].to_numpy()[members] == SEXES[1]).astype(int)
            tail = tails[sex_index]
        else:
            tail = tails.mean(axis=0)
        result[members] = split_counts(lower, upper, counts, max_age=max_age, tail_weights=tail)

    ages = np.arange(max_age + 1)
    table = key_table.loc[np.repeat(np.arange(n_groups), max_age + 1)].reset_index(drop=True)
    table["age"] = np.tile(ages, n_groups)
    table[value] = result.ravel()
    table.attrs = dict(groups.attrs)
    return table


def _layouts(group_ids: np.ndarray, age_from: np.ndarray, age_to: np.ndarray) -> dict[tuple, np.ndarray]:
    """Band layout (lower bounds, upper bounds with -1 = open) -> the groups that have it
    (rows sorted by group and age_from)."""
    if np.isnan(age_from).any():
        raise ValueError("Altersgruppen: Spalte age_from: Werte müssen vorhanden sein.")
    upper_all = np.nan_to_num(age_to, nan=-1.0)
    sizes = np.bincount(group_ids)
    if len(sizes) and (sizes == sizes[0]).all():  # the usual case: one layout for everything
        lower = age_from.reshape(len(sizes), -1)
        upper = upper_all.reshape(len(sizes), -1)
        if (lower == lower[0]).all() and (upper == upper[0]).all():
            return {(tuple(lower[0]), tuple(upper[0])): np.arange(len(sizes))}
    layouts: dict[tuple, list[int]] = {}
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for g in range(len(sizes)):
        rows = slice(starts[g], starts[g + 1])
        layouts.setdefault((tuple(age_from[rows]), tuple(upper_all[rows])), []).append(g)
    return {key: np.asarray(members) for key, members in layouts.items()}


def _describe(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{key} {row[key]}" for key in keys)
