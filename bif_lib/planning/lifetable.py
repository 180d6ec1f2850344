"""Parametric life table for Schleswig-Holstein (Gompertz–Makeham), calibrated to published figures.

The official single-year life table of Schleswig-Holstein is not available offline, so the
projection uses a model life table instead:

* age 0: infant death probability ``q0`` taken directly (approximate published level);
* ages >= 1: Gompertz–Makeham hazard  mu(x) = A + B * exp(c * x)
  with the Makeham term ``A`` fixed (background mortality of children and young adults)
  and ``B``, ``c`` solved so that the table reproduces the published life expectancy at
  birth ``e0`` and, if given, the remaining life expectancy at 65 ``e65``.

The calibration targets and their sources are in :data:`CALIBRATION_TARGETS`; see
docs/planning-models.md for the discussion. The table is a model, not the official table: it
matches e0/e65 exactly but single-age death probabilities deviate from the official ones
(most at ages 1–40, where the Makeham constant is a simplification).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from bif_lib.planning._common import MAX_AGE, SEXES

# Integration grid for the person-years L(x): Gauss–Legendre nodes on each year of age.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_OPEN_AGE_INTEGRATION_END = 140  # survival beyond 140 is below 1e-30 for any calibrated table

LIFETABLE_COLUMNS = ["sex", "age", "mx", "qx", "px", "lx", "dx", "Lx", "Tx", "ex", "sx"]


@dataclass(frozen=True)
class LifeExpectancyTarget:
    """Published life expectancy figures one sex's table is calibrated to."""

    e0: float
    e65: float | None
    q0: float  # infant death probability (first year of life)
    makeham: float  # age-independent background hazard A
    source: str
    approximate: bool


# Calibration targets. e0 figures: Bundesinstitut für Bevölkerungsforschung (BiB), life expectancy
# at birth in Schleswig-Holstein for the calendar year 2019 (reported in the BiB press release of
# Sept. 2023 on life expectancy by Land since 2019: men 78.33, women 83.14 years).
# e65, q0 and A are NOT Schleswig-Holstein figures: e65 is the German value of the Destatis
# Sterbetafel 2018/2020 (men 17.9, women 21.1 years; Schleswig-Holstein is close to the federal
# average, e.g. 17.5/20.6 vs. Germany in the Statistikamt Nord table 2010/2012); q0 and A are
# rounded orders of magnitude of the German period tables around 2019. Hence "approximate".
CALIBRATION_TARGETS: dict[str, dict[str, LifeExpectancyTarget]] = {
    "sh_2019": {
        "m": LifeExpectancyTarget(
            e0=78.33, e65=17.9, q0=0.0035, makeham=0.0003,
            source="e0: BiB, Schleswig-Holstein 2019; e65: Destatis Sterbetafel 2018/2020 "
                   "(Deutschland); q0, A: Größenordnung Deutschland",
            approximate=True,
        ),
        "w": LifeExpectancyTarget(
            e0=83.14, e65=21.1, q0=0.0030, makeham=0.00012,
            source="e0: BiB, Schleswig-Holstein 2019; e65: Destatis Sterbetafel 2018/2020 "
                   "(Deutschland); q0, A: Größenordnung Deutschland",
            approximate=True,
        ),
    },
    # Statistikamt Nord, Allgemeine Sterbetafel Schleswig-Holstein 2010/2012 (Zensus-based):
    # e0 and e65 are the published SH figures; q0 and A as above.
    "sh_2010_2012": {
        "m": LifeExpectancyTarget(
            e0=77.8, e65=17.5, q0=0.0038, makeham=0.0003,
            source="e0, e65: Statistikamt Nord, Allgemeine Sterbetafel Schleswig-Holstein "
                   "2010/2012; q0, A: Größenordnung Deutschland",
            approximate=True,
        ),
        "w": LifeExpectancyTarget(
            e0=82.5, e65=20.6, q0=0.0032, makeham=0.00012,
            source="e0, e65: Statistikamt Nord, Allgemeine Sterbetafel Schleswig-Holstein "
                   "2010/2012; q0, A: Größenordnung Deutschland",
            approximate=True,
        ),
    },
}
DEFAULT_TARGETS = "sh_2019"
DEFAULT_GOMPERTZ_SLOPE = 0.105  # used when no e65 target is given (typical for low-mortality countries)
INFANT_SEPARATION_FACTOR = 0.1  # a0: average fraction of the first year lived by infants who die


@dataclass(frozen=True)
class GompertzMakeham:
    """mu(x) = makeham + level * exp(slope * x) for ages x >= 1; q0 for the first year."""

    makeham: float
    level: float
    slope: float
    q0: float

    def survival_from_one(self, t: np.ndarray) -> np.ndarray:
        """Probability of surviving from exact age 1 to exact age t (t >= 1)."""
        cumulative_hazard = self.makeham * (t - 1.0) + self.level / self.slope * (
            np.exp(self.slope * t) - np.exp(self.slope)
        )
        return np.exp(-cumulative_hazard)


def life_table_from_model(model: GompertzMakeham, max_age: int = MAX_AGE, radix: float = 100_000.0):
    """Single-year period life table (ages 0..max_age, max_age open) of one sex as column arrays."""
    ages = np.arange(max_age + 1, dtype=float)
    l1 = radix * (1.0 - model.q0)
    lx = np.empty(max_age + 1)
    lx[0] = radix
    lx[1:] = l1 * model.survival_from_one(ages[1:])

    Lx = np.empty(max_age + 1)
    Lx[0] = l1 + INFANT_SEPARATION_FACTOR * (radix - l1)
    Lx[1:max_age] = l1 * _integrate_yearly(model, ages[1:max_age])
    Lx[max_age] = l1 * _integrate_yearly(
        model, np.arange(max_age, _OPEN_AGE_INTEGRATION_END, dtype=float)
    ).sum()

    dx = np.append(lx[:-1] - lx[1:], lx[-1])  # everybody in the open class dies in it
    qx = dx / lx
    Tx = np.cumsum(Lx[::-1])[::-1]
    sx = np.empty(max_age + 1)
    sx[0] = Lx[0] / radix  # births of the year alive at year end
    sx[1:max_age] = Lx[1:max_age] / Lx[: max_age - 1]
    sx[max_age] = Tx[max_age] / Tx[max_age - 1]  # (max_age-1)+ -> max_age+
    return {
        "age": ages.astype(int), "mx": dx / Lx, "qx": qx, "px": 1.0 - qx, "lx": lx,
        "dx": dx, "Lx": Lx, "Tx": Tx, "ex": Tx / lx, "sx": sx,
    }


def _integrate_yearly(model: GompertzMakeham, starts: np.ndarray) -> np.ndarray:
    """Integral of survival-from-age-1 over [x, x+1) for each x in ``starts``."""
    t = starts[:, None] + 0.5 * (_GL_NODES[None, :] + 1.0)
    return 0.5 * (model.survival_from_one(t) * _GL_WEIGHTS[None, :]).sum(axis=1)


def _expectancies(model: GompertzMakeham) -> tuple[float, float]:
    with np.errstate(divide="ignore", invalid="ignore"):  # extreme trial values empty the table
        table = life_table_from_model(model)
    return float(table["ex"][0]), float(table["ex"][65])


def _bisect(func, low: float, high: float, iterations: int = 80) -> float:
    """Root of a monotone function on [low, high] (sign change required)."""
    f_low = func(low)
    if f_low * func(high) > 0:
        raise ValueError("Kalibrierung der Sterbetafel nicht möglich: Zielwert außerhalb des Modellbereichs.")
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        f_middle = func(middle)
        if f_middle == 0:
            return middle
        if (f_middle > 0) == (f_low > 0):
            low, f_low = middle, f_middle
        else:
            high = middle
    return 0.5 * (low + high)


def _solve_level(makeham: float, slope: float, q0: float, target: float, at: str) -> float:
    """Gompertz level B (searched on a log scale) that yields the target e0 or e65."""
    index = 0 if at == "e0" else 1

    def gap(log_level: float) -> float:
        model = GompertzMakeham(makeham, float(np.exp(log_level)), slope, q0)
        return _expectancies(model)[index] - target

    return float(np.exp(_bisect(gap, np.log(1e-9), np.log(1e-1), iterations=60)))


@lru_cache(maxsize=32)
def calibrate_gompertz_makeham(
    e0: float, e65: float | None, q0: float, makeham: float
) -> GompertzMakeham:
    """Solve level B and slope c so the model reproduces e0 (and e65 if given).

    With e65 the slope is found by an outer bisection: for each slope, B is fixed by e65; e0
    then increases with the slope (steeper ageing = lower mid-life mortality at equal e65).
    """
    if e65 is None:
        level = _solve_level(makeham, DEFAULT_GOMPERTZ_SLOPE, q0, e0, at="e0")
        return GompertzMakeham(makeham, level, DEFAULT_GOMPERTZ_SLOPE, q0)

    def e0_gap(slope: float) -> float:
        level = _solve_level(makeham, slope, q0, e65, at="e65")
        return _expectancies(GompertzMakeham(makeham, level, slope, q0))[0] - e0

    slope = _bisect(e0_gap, 0.06, 0.16, iterations=40)
    return GompertzMakeham(makeham, _solve_level(makeham, slope, q0, e65, at="e65"), slope, q0)


def life_table(
    targets: str | dict[str, LifeExpectancyTarget] = DEFAULT_TARGETS, max_age: int = MAX_AGE
) -> pd.DataFrame:
    """Tidy model life table for both sexes.

    Columns (one row per sex and age 0..max_age, max_age = open class):
      sex  'm'/'w';  age  completed years;
      mx   central death rate;  qx  probability of dying between exact ages x and x+1
           (1 in the open class);  px = 1 - qx;
      lx   survivors at exact age x (radix 100 000);  dx  deaths between x and x+1;
      Lx   person-years lived between x and x+1 (open class: until death);
      Tx   person-years lived above x;  ex  remaining life expectancy at exact age x;
      sx   projection survival ratio: probability that a person aged x-1 (completed years) at the
           start of a calendar year is alive and aged x at its end (L_x / L_{x-1}); for x = 0 the
           share of the year's births alive at year end (L_0 / l_0); for the open class
           T_max / T_(max-1).
    ``attrs["bif"]["lifetable"]`` holds the model parameters and calibration targets.
    """
    targets_by_sex = CALIBRATION_TARGETS[targets] if isinstance(targets, str) else targets
    frames, metadata = [], {}
    for sex in SEXES:
        target = targets_by_sex[sex]
        model = calibrate_gompertz_makeham(target.e0, target.e65, target.q0, target.makeham)
        columns = life_table_from_model(model, max_age=max_age)
        frames.append(pd.DataFrame({"sex": sex, **columns}))
        metadata[sex] = {"model": asdict(model), "target": asdict(target)}
    table = pd.concat(frames, ignore_index=True)[LIFETABLE_COLUMNS]
    table.attrs["bif"] = {
        "synthetic": False,
        "lifetable": {
            "method": "Gompertz-Makeham (ab Alter 1), q0 vorgegeben",
            "targets": targets if isinstance(targets, str) else "custom",
            "by_sex": metadata,
        },
    }
    return table


def survival_ratios(table: pd.DataFrame, max_age: int = MAX_AGE) -> np.ndarray:
    """The ``sx`` column as an array shaped (sex, age) in the order of :data:`SEXES`."""
    pivot = table.pivot(index="sex", columns="age", values="sx").reindex(list(SEXES))
    if pivot.shape[1] != max_age + 1 or pivot.isna().to_numpy().any():
        raise ValueError(f"Sterbetafel unvollständig: Alter 0 bis {max_age} je Geschlecht erforderlich.")
    return pivot.to_numpy(dtype=float)


# --- mortality improvement ----------------------------------------------------------------------

def life_expectancy_from_survival(sx: np.ndarray, hazard_multiplier: float = 1.0) -> float:
    """Life expectancy at birth implied by projection survival ratios ``sx`` (one sex, ages 0..max).

    The projection applies mortality as ``sx ** multiplier`` (the death hazard -ln sx times the
    multiplier); this is the e0 of exactly that table: L(0) = sx(0), L(x) = L(x-1) * sx(x) for
    0 < x < max, T(max) = L(max-1) * sx(max) / (1 - sx(max)) (open class), e0 = sum L + T(max)
    with radix 1. With multiplier 1 it reproduces the life table's e0 (to rounding).
    """
    ratios = np.clip(np.asarray(sx, dtype=float), 1e-300, 1.0) ** float(hazard_multiplier)
    person_years = np.cumprod(ratios[:-1])
    open_ratio = min(float(ratios[-1]), 1.0 - 1e-12)
    return float(person_years.sum() + person_years[-1] * open_ratio / (1.0 - open_ratio))


def hazard_multiplier_for_gain(sx: np.ndarray, gain: float) -> float:
    """Multiplier k of all death hazards that raises e0 of ``sx`` by ``gain`` years (k < 1 for a gain)."""
    target = life_expectancy_from_survival(sx) + float(gain)
    if gain == 0:
        return 1.0
    # e0 falls monotonically with k; bisect on log k
    return float(np.exp(_bisect(lambda log_k: life_expectancy_from_survival(sx, np.exp(log_k)) - target,
                                np.log(1e-3), np.log(1e3), iterations=100)))


def yearly_hazard_reduction(sx: np.ndarray, gain: float, years: float) -> float:
    """Yearly reduction r of the death hazards such that ``years`` years of (1 - r) raise e0 by ``gain``.

    r = 1 - k ** (1 / years) with k = :func:`hazard_multiplier_for_gain`. Example (docs): the
    default table for men (e0 78.33) and the Destatis variant L2 (+6.1 years from 2021 to 2070,
    49 years) give k = 0.566 and r = 1.154 % a year.
    """
    if years <= 0:
        raise ValueError("Zeitraum für die Sterblichkeitsabnahme muss positiv sein.")
    return 1.0 - hazard_multiplier_for_gain(sx, gain) ** (1.0 / float(years))
