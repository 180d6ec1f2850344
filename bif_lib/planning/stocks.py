"""Projection inputs from what a city publishes: population stocks by age group, a life table and
births (or a fertility assumption) - no register, no migration statistics.

Input (docs/planning-models.md, "From published stocks"):

* ``stocks``: year, district_id, sex ('m'/'w'), age_from, age_to (inclusive; missing for the open
  band), population - stocks at the same reference date (31.12.) of at least two consecutive years;
* ``lifetable``: sex, age 0..max_age, sx (and Lx for the open age band), as :func:`life_table`;
* ``births`` (optional): year, district_id, births (live births in the calendar year); without it,
  or for years it lacks, births follow the fertility schedule;
* ``fertility``: {tfr, mean_age[, sd]}: the assumption used when no births table exists (with a
  births table only its age shape is used; the level is estimated).

Method:

1. Single ages: every stock is split into single ages 0..max_age (:mod:`bif_lib.planning.age_split`).
2. Births: from the births table, else ``sum_x fertility[x] * women aged x-1 at the start of the
   year`` with the fertility schedule of :func:`fertility_schedule`; split by sex with 105 boys per
   100 girls.
3. Net migration by the residual (cohort-change) method, for each observed interval t -> t+1,
   district, sex and cohort age x (the age at the end of the year, as in the projection):
       net(x) = P(x, t+1) - s(x) * P(x-1, t)      (x = 0: P(0, t+1) - s(0) * births;
                                                  open class: P(max-1, t) + P(max, t) survive)
   with the life table's survival ratio s(x); averaged over the intervals.
4. Mapping onto the projection parameters (:class:`ProjectionParameters`): where the averaged net
   is positive it is booked as in-migrants (``in_volume`` = their sum, ``in_profile`` = their
   distribution over district, sex and age); where it is negative as an out-migration rate
   ``-net / persons at risk`` (persons at risk = start population of the cohort + births). Moves
   between districts are not observed: they are part of the districts' net migration, so
   ``internal_rate`` and ``destination`` are zero. Mortality factors are 1 (no deaths by district).
   Fertility: the schedule at the assumed TFR, or - with a births table - scaled per district so
   that it reproduces the district's observed births over the intervals.

With one interval, a projection from the first stock reproduces the second exactly (back-check in
tests/planning/test_stocks.py); with several it reproduces their average change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.planning._common import (
    MAX_AGE,
    SEXES,
    check_columns,
    district_ids_from,
    is_synthetic,
    label_frame,
    merge_inputs,
)
from bif_lib.planning.age_split import check_age_groups, split_counts, tail_weights_from_life_table
from bif_lib.planning.lifetable import survival_ratios
from bif_lib.planning.parameters import (
    DEFAULT_SHARE_BOYS,
    FERTILE_AGES,
    ProjectionInputs,
    ProjectionParameters,
    _cohort_exposure,
    year_weights,
)

STOCK_COLUMNS = ["year", "district_id", "sex", "age_from", "age_to", "population"]
BIRTH_COLUMNS = ["year", "district_id", "births"]
DEFAULT_FERTILITY_SD = 5.5  # standard deviation of the mother's age at birth (Germany: about 5.3-5.7 years)
DEFAULT_MEAN_AGE = 31.5  # mean age of mothers at birth, used for the shape when only births are given


# --- fertility schedule -------------------------------------------------------------------------

def fertility_schedule(tfr: float, mean_age: float, *, sd: float = DEFAULT_FERTILITY_SD,
                       max_age: int = MAX_AGE) -> np.ndarray:
    """Age-specific fertility (max_age+1,) summing to ``tfr``: a gamma-shaped schedule (Hoem et al. 1981).

    The mother's exact age at birth is 15 + Gamma with mean ``mean_age`` - 15 and standard deviation
    ``sd``. The rate at cohort age x (the mother's age at the end of the year of birth, as in the
    projection) is the probability mass of exact ages [x - 0.5, x + 0.5) - a birth happens on
    average half a year before the year's end -, restricted to the fertile ages 15-49 and scaled
    so that the rates add up to ``tfr`` exactly.
    """
    tfr, mean_age, sd = float(tfr), float(mean_age), float(sd)
    if not 0 < tfr <= 5:
        raise ValueError(f"Fertilitätsannahme: zusammengefasste Geburtenziffer (tfr) muss zwischen 0 und 5 "
                         f"liegen (angegeben: {tfr}).")
    if not FERTILE_AGES[0] + 5 <= mean_age <= FERTILE_AGES[1] - 5:
        raise ValueError(f"Fertilitätsannahme: Durchschnittsalter (mean_age) muss zwischen {FERTILE_AGES[0] + 5} "
                         f"und {FERTILE_AGES[1] - 5} liegen (angegeben: {mean_age}).")
    if not 2 <= sd <= 10:
        raise ValueError(f"Fertilitätsannahme: Streuung (sd) muss zwischen 2 und 10 Jahren liegen (angegeben: {sd}).")
    shift = mean_age - FERTILE_AGES[0]
    shape, scale = (shift / sd) ** 2, sd**2 / shift
    steps = 20  # midpoint rule, 20 points per year of age
    t = (np.arange((FERTILE_AGES[1] - FERTILE_AGES[0] + 1) * steps) + 0.5) / steps - 0.5  # exact age - 15
    t = np.maximum(t, 1e-9)
    log_density = (shape - 1) * np.log(t) - t / scale - math.lgamma(shape) - shape * math.log(scale)
    mass = np.exp(log_density).reshape(-1, steps).sum(axis=1)
    rates = np.zeros(max(max_age, FERTILE_AGES[1]) + 1)
    rates[FERTILE_AGES[0]:FERTILE_AGES[1] + 1] = tfr * mass / mass.sum()
    return rates[: max_age + 1]  # a (test) model ending before 49 drops the older mothers


def _fertility_assumption(fertility: Mapping[str, Any] | None, *, required: bool) -> dict[str, float]:
    if fertility is None:
        if required:
            raise ValueError("Ohne Geburtentabelle ist eine Fertilitätsannahme nötig "
                             "(planning.fertility: {tfr: …, mean_age: …} im Stadtprofil).")
        return {"tfr": 1.0, "mean_age": DEFAULT_MEAN_AGE, "sd": DEFAULT_FERTILITY_SD}
    unknown = set(fertility) - {"tfr", "mean_age", "sd"}
    if unknown:
        raise ValueError(f"Fertilitätsannahme: unbekannte Angaben {sorted(unknown)} (möglich: tfr, mean_age, sd).")
    if required and "tfr" not in fertility:
        raise ValueError("Fertilitätsannahme: tfr (zusammengefasste Geburtenziffer) fehlt.")
    return {"tfr": float(fertility.get("tfr", 1.0)), "mean_age": float(fertility.get("mean_age", DEFAULT_MEAN_AGE)),
            "sd": float(fertility.get("sd", DEFAULT_FERTILITY_SD))}


# --- stocks -> single-age arrays ----------------------------------------------------------------

def _check_stocks(stocks: pd.DataFrame) -> pd.DataFrame:
    check_columns(stocks, STOCK_COLUMNS, "Bevölkerungsbestände")
    frame = stocks[STOCK_COLUMNS]
    sexes = frame["sex"].to_numpy(dtype=object)
    unknown = set(map(str, sexes[~np.isin(sexes, SEXES)]))
    if unknown:
        raise ValueError(f"Bevölkerungsbestände: Spalte sex: unbekannte Werte {sorted(unknown)} (erlaubt: m, w).")
    for column in ("year", "district_id", "age_from", "population"):
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise ValueError(f"Bevölkerungsbestände: Spalte {column}: Wert fehlt (Zeile {row + 1}).")
    population = frame["population"].to_numpy(dtype=float)
    if (population < 0).any() or not np.isfinite(population).all():
        row = int(np.flatnonzero(~(population >= 0) | ~np.isfinite(population))[0])
        raise ValueError(f"Bevölkerungsbestände: Spalte population: Werte müssen nicht negativ sein (Zeile {row + 1}).")
    duplicated = frame.duplicated(["year", "district_id", "sex", "age_from"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise ValueError(f"Bevölkerungsbestände: Altersgruppe ab {row['age_from']} doppelt "
                         f"(Jahr {row['year']}, Stadtteil {row['district_id']}, Geschlecht {row['sex']}).")
    return frame.astype({"year": int, "district_id": int, "age_from": int, "age_to": "float64", "population": float})


def stock_arrays(stocks: pd.DataFrame, *, district_ids: tuple[int, ...] | None = None, max_age: int = MAX_AGE,
                 lifetable: pd.DataFrame | None = None) -> tuple[tuple[int, ...], dict[int, np.ndarray]]:
    """(district_ids, {year: (district, sex, age) array}) of single-age stocks split from age groups.

    district_ids: the districts and their order (e.g. the profile's codes); default: those in the data.
    Every year must hold every (district, sex) of the data; districts of ``district_ids`` that
    are absent from all years keep zero population; districts not in ``district_ids`` are an error.
    """
    frame = _check_stocks(stocks)
    found = district_ids_from(frame)
    if district_ids is None:
        district_ids = found
    district_ids = tuple(int(d) for d in district_ids)
    unknown = sorted(set(found) - set(district_ids))
    if unknown:
        raise ValueError(f"Bevölkerungsbestände: Spalte district_id: unbekannte Stadtteile {unknown} "
                         f"(bekannt: {list(district_ids)}).")
    years = sorted(frame["year"].unique().tolist())
    groups = frame[["district_id", "sex"]].drop_duplicates()
    per_year = frame.groupby("year")[["district_id", "sex"]].apply(lambda g: len(g.drop_duplicates()))
    for year, count in per_year.items():
        if count != len(groups):
            present = frame[frame["year"] == year][["district_id", "sex"]].drop_duplicates()
            missing = groups.merge(present, how="left", indicator=True).query("_merge == 'left_only'")
            listed = ", ".join(f"{d}/{s}" for d, s in missing[["district_id", "sex"]].itertuples(index=False))
            raise ValueError(f"Bevölkerungsbestände {year}: es fehlen Stadtteil/Geschlecht {listed}.")

    tails = tail_weights_from_life_table(lifetable, max_age)
    frame = frame.sort_values(["year", "district_id", "sex", "age_from"], kind="stable")
    key = frame[["year", "district_id", "sex"]]
    group_id = key.groupby(["year", "district_id", "sex"], sort=False).ngroup().to_numpy()
    keys = key.drop_duplicates().to_numpy()
    sizes = np.bincount(group_id)
    arrays = {year: np.zeros((len(district_ids), 2, max_age + 1)) for year in years}
    d_index = {d: i for i, d in enumerate(district_ids)}
    age_from = frame["age_from"].to_numpy()
    age_to = frame["age_to"].to_numpy()
    values = frame["population"].to_numpy()
    starts = np.concatenate([[0], np.cumsum(sizes)])
    by_layout: dict[tuple, list[int]] = {}
    for g in range(len(sizes)):
        rows = slice(starts[g], starts[g + 1])
        by_layout.setdefault((tuple(age_from[rows]), tuple(np.nan_to_num(age_to[rows], nan=-1))), []).append(g)
    for (lower, upper_raw), members in by_layout.items():
        upper = [None if b < 0 else int(b) for b in upper_raw]
        year, district, sex = keys[members[0]]
        check_age_groups(lower, upper, f"Bevölkerungsbestände (Jahr {year}, Stadtteil {district}, Geschlecht {sex})")
        members = np.asarray(members)
        counts = np.stack([values[starts[g]:starts[g + 1]] for g in members])
        sex_index = (keys[members, 2] == SEXES[1]).astype(int)
        single = split_counts(list(lower), upper, counts, max_age=max_age, tail_weights=tails[sex_index])
        for row, g in enumerate(members):
            year, district, sex = keys[g]
            arrays[int(year)][d_index[int(district)], int(sex == SEXES[1])] = single[row]
    return district_ids, arrays


def single_age_stocks(stocks: pd.DataFrame, *, district_ids: tuple[int, ...] | None = None,
                      max_age: int = MAX_AGE, lifetable: pd.DataFrame | None = None) -> pd.DataFrame:
    """year, district_id, sex, age, population: the stocks split into single ages (see :func:`stock_arrays`)."""
    district_ids, arrays = stock_arrays(stocks, district_ids=district_ids, max_age=max_age, lifetable=lifetable)
    years = sorted(arrays)
    cells = len(district_ids) * 2 * (max_age + 1)
    table = pd.DataFrame({
        "year": np.repeat(years, cells),
        "district_id": np.tile(np.repeat(district_ids, 2 * (max_age + 1)), len(years)),
        "sex": np.tile(np.repeat(np.asarray(SEXES, dtype=object), max_age + 1), len(years) * len(district_ids)),
        "age": np.tile(np.arange(max_age + 1), len(years) * len(district_ids) * 2),
        "population": np.concatenate([arrays[year].ravel() for year in years]) if years else [],
    })
    return label_frame(table, is_synthetic(stocks))


# --- births ---------------------------------------------------------------------------------------

def _observed_births(births: pd.DataFrame | None, district_ids: tuple[int, ...],
                     years: list[int]) -> dict[int, np.ndarray]:
    """{year: births per district} for the interval years the births table covers."""
    if births is None:
        return {}
    check_columns(births, BIRTH_COLUMNS, "Geburten")
    frame = births[BIRTH_COLUMNS]
    if frame[["year", "district_id", "births"]].isna().any().any():
        raise ValueError("Geburten: Jahr, Stadtteil und Geburtenzahl müssen vorhanden sein.")
    if (frame["births"] < 0).any():
        raise ValueError("Geburten: Spalte births: Werte dürfen nicht negativ sein.")
    unknown = sorted(set(frame["district_id"].astype(int)) - set(district_ids))
    if unknown:
        raise ValueError(f"Geburten: Spalte district_id: unbekannte Stadtteile {unknown}.")
    observed = {}
    for year in years:
        in_year = frame[frame["year"].astype(int) == year]
        if in_year.empty:
            continue
        per_district = in_year.groupby(in_year["district_id"].astype(int))["births"].sum()
        missing = sorted(set(district_ids) - set(per_district.index))
        if missing:
            raise ValueError(f"Geburten {year}: es fehlen die Stadtteile {missing}.")
        observed[year] = per_district.reindex(list(district_ids)).to_numpy(dtype=float)
    return observed


# --- residual migration ---------------------------------------------------------------------------

def _start(population: np.ndarray) -> np.ndarray:
    """Start population by cohort age (age at the end of the coming year); cohort 0 empty."""
    start = np.zeros_like(population)
    start[..., 1:-1] = population[..., :-2]
    start[..., -1] = population[..., -2] + population[..., -1]
    return start


def _last_year_from_stocks(arrays: dict[int, np.ndarray], observed: dict, year: int) -> dict[str, float] | None:
    """What the stocks tell about their last interval (see ProjectionParameters.last_year): the
    growth and, with a births table, the births; deaths and gross moves are not observed."""
    start = float(arrays[year - 1].sum())
    if start <= 0:
        return None
    rates = {"year": float(year), "population_ratio": float(arrays[year].sum()) / start}
    if year in observed:
        rates["birth_rate"] = float(observed[year].sum()) / start
    return rates


def estimate_from_stocks(
    stocks: pd.DataFrame,
    lifetable: pd.DataFrame,
    *,
    births: pd.DataFrame | None = None,
    fertility: Mapping[str, Any] | None = None,
    district_ids: tuple[int, ...] | None = None,
    max_age: int = MAX_AGE,
    share_boys: float = DEFAULT_SHARE_BOYS,
    year_weight_half_life: float | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> tuple[ProjectionParameters, dict[int, np.ndarray], pd.DataFrame]:
    """Projection parameters from stocks by the residual method (see the module docstring).

    ``year_weight_half_life``: weight the intervals like the register estimation
    (:func:`~bif_lib.planning.parameters.year_weights`, recent years weigh more); default None =
    plain average of the intervals.

    Returns (parameters, {year: single-age stock array (district, sex, age)}, the net migration of
    each interval: year (its end), district_id, sex, age (cohort age at the year's end), net_migration).
    """
    district_ids, arrays = stock_arrays(stocks, district_ids=district_ids, max_age=max_age, lifetable=lifetable)
    years = sorted(arrays)
    intervals = [year for year in years if year - 1 in arrays]  # interval year-1 -> year
    if not intervals:
        raise ValueError("Bevölkerungsbestände: mindestens zwei aufeinanderfolgende Jahre nötig "
                         f"(vorhanden: {', '.join(map(str, years)) or 'keine'}).")
    survival = survival_ratios(lifetable, max_age)
    observed = _observed_births(births, district_ids, intervals)
    assumption = _fertility_assumption(fertility, required=not observed)
    schedule = fertility_schedule(1.0, assumption["mean_age"], sd=assumption["sd"], max_age=max_age)
    n_districts = len(district_ids)

    starts = {year: _start(arrays[year - 1]) for year in intervals}
    expected_unit = {year: (schedule[None] * starts[year][:, 1]).sum(axis=1) for year in intervals}  # TFR 1
    if observed:
        observed_sum = sum(observed.values())
        expected_sum = sum(expected_unit[year] for year in observed)
        city_level = observed_sum.sum() / expected_sum.sum() if expected_sum.sum() > 0 else 0.0
        level = np.where(expected_sum > 0, observed_sum / np.where(expected_sum > 0, expected_sum, 1.0), city_level)
        fertility_source = "Geburtentabelle (Niveau je Stadtteil), Altersmuster Gamma-Verteilung"
    else:
        level = np.full(n_districts, assumption["tfr"])
        fertility_source = "Annahme des Stadtprofils (zusammengefasste Geburtenziffer)"
    fertility_rates = level[:, None] * schedule[None]

    sex_split = np.array([share_boys, 1.0 - share_boys])
    weights = year_weights(intervals[0], intervals[-1], year_weight_half_life)
    net_sum = np.zeros((n_districts, 2, max_age + 1))
    exposure_sum = np.zeros_like(net_sum)
    net_rows, births_used = [], {}
    for year in intervals:
        births_total = observed[year] if year in observed else level * expected_unit[year]
        births_used[year] = "Geburtentabelle" if year in observed else "Fertilitätsannahme"
        exposure = _cohort_exposure(arrays[year - 1], births_total[:, None] * sex_split[None])
        net = arrays[year] - survival[None] * exposure
        net_sum += weights[year] * net
        exposure_sum += weights[year] * exposure
        net_rows.append(net)
    total_weight = sum(weights[year] for year in intervals)
    net_mean, exposure_mean = net_sum / total_weight, exposure_sum / total_weight

    in_counts = np.maximum(net_mean, 0.0)
    out_rate = np.divide(np.maximum(-net_mean, 0.0), exposure_mean, out=np.zeros_like(net_mean),
                         where=exposure_mean > 0)
    in_volume = float(in_counts.sum())
    in_profile = in_counts / in_volume if in_volume > 0 else np.zeros_like(in_counts)

    net_table = pd.DataFrame({
        "year": np.repeat(intervals, n_districts * 2 * (max_age + 1)),
        "district_id": np.tile(np.repeat(district_ids, 2 * (max_age + 1)), len(intervals)),
        "sex": np.tile(np.repeat(np.asarray(SEXES, dtype=object), max_age + 1), len(intervals) * n_districts),
        "age": np.tile(np.arange(max_age + 1), len(intervals) * n_districts * 2),
        "net_migration": np.concatenate([net.ravel() for net in net_rows]),
    })
    synthetic = is_synthetic(stocks, births, lifetable)
    empty = [d for i, d in enumerate(district_ids) if not any(arrays[year][i].any() for year in years)]
    method = {
        "source": "Bevölkerungsbestände nach Altersgruppen (Residuenmethode)",
        "age_split": "PCHIP der kumulierten Bestände an den Gruppengrenzen; offene Gruppe nach L(x) der Sterbetafel",
        "stock_years": years,
        "intervals": [[year - 1, year] for year in intervals],
        "births_by_year": births_used,
        "fertility": {**assumption, "source": fertility_source,
                      "tfr_by_district": {int(d): float(v) for d, v in zip(district_ids, level)}},
        "share_boys": share_boys,
        "migration": "Wanderungssaldo je Stadtteil, Geschlecht, Alter (Mittel der Intervalle): positiv als "
                     "Zuzüge (in_volume, in_profile), negativ als Fortzugsrate; Umzüge zwischen Stadtteilen "
                     "im Saldo enthalten",
        "net_migration_per_year": float(net_mean.sum()),
        "year_weights": {int(year): round(weights[year], 6) for year in intervals},
        "lifetable": lifetable.attrs.get("bif", {}).get("lifetable", "custom"),
        "districts_without_stocks": empty,
        "age_convention": "Kohortenalter am Jahresende (vollendete Jahre am 31.12.)",
    }
    parameters = ProjectionParameters(
        district_ids=district_ids,
        survival=survival,
        mortality_factor=np.ones((n_districts, 2)),
        fertility=fertility_rates,
        share_boys=float(share_boys),
        out_rate=np.clip(out_rate, 0.0, 1.0),
        internal_rate=np.zeros_like(out_rate),
        destination=np.zeros((n_districts, n_districts)),
        in_volume=in_volume,
        in_profile=in_profile,
        base_period=(intervals[0], intervals[-1]),
        last_year=_last_year_from_stocks(arrays, observed, intervals[-1]),
        method=method,
        inputs=merge_inputs(inputs),
        synthetic=synthetic,
    )
    return parameters, arrays, label_frame(net_table, synthetic)


def net_migration_from_stocks(stocks: pd.DataFrame, lifetable: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """year, district_id, sex, age, net_migration: the residual net migration of each observed
    interval (year = the interval's end year; age = cohort age at its end). Options as in
    :func:`estimate_from_stocks`."""
    return estimate_from_stocks(stocks, lifetable, **options)[2]


def projection_inputs_from_stocks(
    stocks: pd.DataFrame,
    lifetable: pd.DataFrame,
    *,
    births: pd.DataFrame | None = None,
    fertility: Mapping[str, Any] | None = None,
    base_year: int | None = None,
    district_ids: tuple[int, ...] | None = None,
    max_age: int = MAX_AGE,
    inputs: Mapping[str, Any] | None = None,
) -> ProjectionInputs:
    """Base population (the single-age stock of ``base_year``, default the latest year) and the
    parameters of :func:`estimate_from_stocks` - what :func:`project_population` takes."""
    parameters, arrays, _ = estimate_from_stocks(stocks, lifetable, births=births, fertility=fertility,
                                                 district_ids=district_ids, max_age=max_age, inputs=inputs)
    base_year = max(arrays) if base_year is None else int(base_year)
    if base_year not in arrays:
        raise ValueError(f"Basisjahr {base_year}: kein Bestand vorhanden (vorhanden: "
                         f"{', '.join(map(str, sorted(arrays)))}).")
    base = arrays[base_year]
    n_districts, n_ages = len(parameters.district_ids), max_age + 1
    table = pd.DataFrame({
        "district_id": np.repeat(parameters.district_ids, 2 * n_ages),
        "sex": np.tile(np.repeat(np.asarray(SEXES, dtype=object), n_ages), n_districts),
        "age": np.tile(np.arange(n_ages), n_districts * 2),
        "population": base.ravel(),
    })
    return ProjectionInputs(base_year, label_frame(table, parameters.synthetic), parameters)
