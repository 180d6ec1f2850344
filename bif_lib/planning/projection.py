"""Cohort-component population projection per Stadtteil x sex x single year of age.

One projection year t -> t+1 (all arrays shaped (district, sex, age), age = cohort age at the end
of the year, see bif_lib.planning.parameters):

    start[x]        = pop_t[x-1]            (start[0] = 0, start[max] = pop_t[max-1] + pop_t[max])
    births          = sum_x fertility[x] * women start[x]   (mother's age at the end of the year),
                      split by share_boys, entering at cohort age 0
    deaths          = (start + births) * q,   q = 1 - sx ** (district factor * mortality factor
                                                         * (1 - improvement) ** n), n = year - base year
    moves out       = (start + births) * out_rate        (leaving the city)
    internal out    = (start + births) * internal_rate   (to another district)
    internal in     = internal out routed through the destination matrix
    moves in        = (in_volume - share * newcomers) * in_profile + newcomers to new housing areas
                      (``new_housing_share``: newcomers taken out of the in-migration volume)
    alignment       = optional proportional scaling to a given city total, booked as moves
    pop_{t+1}       = start + births - deaths - moves out - internal out + internal in + moves in
                      +- alignment

Every quantity is kept per district, sex and age, so the balance
pop(t+1) = pop(t) + births - deaths + moves in - moves out holds exactly for every district,
year, sex and age (up to floating-point rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.i18n import format_number
from bif_lib.planning._common import (
    SEXES,
    check_columns,
    check_range,
    is_synthetic,
    label_frame,
    merge_inputs,
    title_de,
)
from bif_lib.planning.lifetable import yearly_hazard_reduction
from bif_lib.planning.parameters import ProjectionParameters, population_array
from bif_lib.planning.scenarios import AS_ESTIMATED, SCENARIO_LABELS_DE, Assumptions, scenario

MAX_HORIZON_YEARS = 50

# Component arrays kept per year; the "start" of a cohort is its population at the start of the year.
COMPONENTS = (
    "population_start", "births", "deaths",
    "moves_in_external", "moves_in_internal", "moves_in_housing", "moves_in_alignment",
    "moves_out_external", "moves_out_internal", "moves_out_alignment",
)
MOVES_IN = ("moves_in_external", "moves_in_internal", "moves_in_housing", "moves_in_alignment")
MOVES_OUT = ("moves_out_external", "moves_out_internal", "moves_out_alignment")

# Age-sex profile of newcomers to new housing areas, used when the planner gives none: an
# illustrative family profile (not estimated from data) - replace it by local survey results.
DEFAULT_NEWCOMER_AGE_SHARES = (  # (first age, last age, share of all newcomers), both sexes equal
    (0, 5, 0.25), (6, 17, 0.10), (25, 44, 0.55), (45, 64, 0.08), (65, 79, 0.02),
)


@dataclass(frozen=True, eq=False)
class ProjectionResult:
    """Projected population and its components; tables are built on first access.

    population_array   (year, district, sex, age) for base_year .. end_year
    component_arrays   name -> (year, district, sex, age) for base_year+1 .. end_year
    """

    scenario: str
    base_year: int
    district_ids: tuple[int, ...]
    population_array: np.ndarray
    component_arrays: dict[str, np.ndarray]
    assumptions: dict[str, Any]
    inputs: dict[str, Any]
    synthetic: bool

    @property
    def years(self) -> list[int]:
        return list(range(self.base_year, self.base_year + len(self.population_array)))

    @property
    def end_year(self) -> int:
        return self.years[-1]

    @property
    def max_age(self) -> int:
        return self.population_array.shape[-1] - 1

    @property
    def title(self) -> str:
        label = SCENARIO_LABELS_DE.get(self.scenario, self.scenario)
        return title_de(f"Bevölkerungsvorausberechnung {self.base_year}–{self.end_year}, Szenario {label}",
                        self.synthetic)

    @cached_property
    def population(self) -> pd.DataFrame:
        """scenario, year, district_id, sex, age, population (base year included)."""
        table = self._long_table(self.years, {"population": self.population_array})
        return label_frame(table, self.synthetic)

    @property
    def table(self) -> pd.DataFrame:
        return self.population

    @cached_property
    def components_by_age(self) -> pd.DataFrame:
        """Components per year, district, sex and cohort age (age at the end of the year).

        population_end = population_start + births - deaths + moves_in - moves_out per row;
        population_start of age x is the population aged x-1 at the start of the year.
        """
        table = self._long_table(self.years[1:], self._components_with_totals())
        return label_frame(table, self.synthetic)

    @cached_property
    def components(self) -> pd.DataFrame:
        """Demographic balance per year and district (summed over sex and age)."""
        arrays = {name: array.sum(axis=(2, 3)) for name, array in self._components_with_totals().items()}
        years = np.repeat(self.years[1:], len(self.district_ids))
        table = pd.DataFrame({
            "scenario": self.scenario,
            "year": years,
            "district_id": np.tile(self.district_ids, len(self.years) - 1),
            **{name: array.ravel() for name, array in arrays.items()},
        })
        return label_frame(table, self.synthetic)

    def balance_residual(self) -> float:
        """Largest |pop(t+1) - (pop(t) + births - deaths + in - out)| over districts and years."""
        table = self.components
        previous = self.population_array[:-1].sum(axis=(2, 3)).ravel()
        implied = previous + table["births"] - table["deaths"] + table["moves_in"] - table["moves_out"]
        return float(np.abs(table["population_end"].to_numpy() - implied.to_numpy()).max(initial=0.0))

    def _components_with_totals(self) -> dict[str, np.ndarray]:
        arrays = dict(self.component_arrays)
        arrays["moves_in"] = sum(arrays[name] for name in MOVES_IN)
        arrays["moves_out"] = sum(arrays[name] for name in MOVES_OUT)
        arrays["population_end"] = self.population_array[1:]
        return arrays

    def _long_table(self, years: list[int], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
        n_years, n_districts, n_ages = len(years), len(self.district_ids), self.max_age + 1
        cells = n_districts * 2 * n_ages
        return pd.DataFrame({
            "scenario": self.scenario,
            "year": np.repeat(np.asarray(years, dtype=int), cells),
            "district_id": np.tile(np.repeat(self.district_ids, 2 * n_ages), n_years),
            "sex": np.tile(np.repeat(np.asarray(SEXES, dtype=object), n_ages), n_years * n_districts),
            "age": np.tile(np.arange(n_ages), n_years * n_districts * 2),
            **{name: array.reshape(-1) for name, array in arrays.items()},
        })


# --- inputs -> arrays -------------------------------------------------------------------------

def default_newcomer_profile(max_age: int) -> pd.DataFrame:
    """sex, age, share of newcomers to new housing (see DEFAULT_NEWCOMER_AGE_SHARES)."""
    shares = np.zeros(101)
    for first, last, share in DEFAULT_NEWCOMER_AGE_SHARES:
        shares[first : last + 1] += share / (last - first + 1)
    by_age = np.append(shares[:max_age], shares[max_age:].sum()) if max_age < 100 else shares
    return pd.DataFrame({
        "sex": np.repeat(SEXES, max_age + 1),
        "age": np.tile(np.arange(max_age + 1), 2),
        "share": np.tile(by_age[: max_age + 1] / 2, 2),
    })


def _profile_array(profile: pd.DataFrame, max_age: int) -> np.ndarray:
    check_columns(profile, ["sex", "age", "share"], "Altersprofil Neubau")
    array = population_array(profile.rename(columns={"share": "population"}).assign(district_id=0),
                             (0,), max_age, what_de="Altersprofil Neubau")[0]
    if not np.isclose(array.sum(), 1.0):
        raise ValueError("Altersprofil Neubau: die Anteile müssen sich zu 1 summieren.")
    return array


def housing_arrays(
    housing: pd.DataFrame | None,
    profile: pd.DataFrame | None,
    persons_per_dwelling: float,
    district_ids: tuple[int, ...],
    base_year: int,
    n_years: int,
    max_age: int,
) -> np.ndarray | None:
    """Newcomers (projection year, district, sex, age): dwellings x occupancy x age-sex profile."""
    if housing is None or housing.empty:
        return None
    check_columns(housing, ["district_id", "year", "dwellings"], "Neubaugebiete")
    if (housing["dwellings"] < 0).any() or housing["dwellings"].isna().any():
        raise ValueError("Neubaugebiete: Wohnungszahlen müssen vorhanden und nicht negativ sein.")
    if (housing["year"] <= base_year).any():
        raise ValueError(f"Neubaugebiete: Bezugsjahre müssen nach dem Basisjahr {base_year} liegen.")
    unknown = set(housing["district_id"].astype(int)) - set(district_ids)
    if unknown:
        raise ValueError(f"Neubaugebiete: unbekannte Stadtteile {sorted(unknown)}.")
    occupancy = (
        housing["persons_per_dwelling"].fillna(persons_per_dwelling)
        if "persons_per_dwelling" in housing.columns
        else pd.Series(persons_per_dwelling, index=housing.index)
    )
    for value in occupancy:
        check_range("Personen je Neubauwohnung", value, 1.0, 4.0)
    profile_array = _profile_array(
        default_newcomer_profile(max_age) if profile is None else profile, max_age
    )
    newcomers = np.zeros((n_years, len(district_ids)))
    district_index = {district: i for i, district in enumerate(district_ids)}
    for (district, year), persons in (housing["dwellings"] * occupancy).groupby(
        [housing["district_id"].astype(int), housing["year"].astype(int)]
    ).sum().items():
        if year <= base_year + n_years:  # areas occupied after the horizon do not matter
            newcomers[year - base_year - 1, district_index[district]] += persons
    return newcomers[:, :, None, None] * profile_array[None, None]


def _alignment_targets(city_totals, years: list[int]) -> np.ndarray:
    """Target city totals per projection year (NaN = no alignment in that year)."""
    targets = np.full(len(years), np.nan)
    if city_totals is None:
        return targets
    if isinstance(city_totals, pd.DataFrame):
        check_columns(city_totals, ["year", "population"], "Eckwerte Gesamtstadt")
        city_totals = dict(zip(city_totals["year"].astype(int), city_totals["population"]))
    for year, total in dict(city_totals).items():
        if total < 0 or not np.isfinite(total):
            raise ValueError(f"Eckwert Gesamtstadt {year}: Einwohnerzahl muss positiv sein.")
        if int(year) in years:
            targets[years.index(int(year))] = float(total)
    return targets


@dataclass(frozen=True, eq=False)
class _YearlyRates:
    """Parameters combined with the scenario assumptions, ready for the yearly loop."""

    hazard: np.ndarray  # (district, sex, age): death hazard of the first projected year before improvement
    improvement: np.ndarray  # (2,) yearly hazard reduction per sex
    out: np.ndarray
    internal: np.ndarray
    destination: np.ndarray
    fertility: np.ndarray
    sex_split: np.ndarray  # (2,) shares of boys and girls among births
    in_volume: float  # persons moving into the city per year (before new housing)
    in_profile: np.ndarray
    levels: dict[str, Any]  # what the planner's levels were translated into

    def exits(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Death, out and internal probabilities of projection year base + n (n >= 1), capped jointly."""
        reduction = (1.0 - self.improvement) ** n  # (sex,)
        death = 1.0 - np.exp(-self.hazard * reduction[None, :, None])
        # Competing exits cannot exceed the cohort: scale all three down proportionally where they would.
        total_exit = death + self.out + self.internal
        capped = total_exit > 1.0
        scale = np.where(capped, 1.0 / np.maximum(total_exit, 1e-300), 1.0)
        return death * scale, self.out * scale, self.internal * scale, int(capped.sum())


def city_tfr(fertility: np.ndarray, women_start: np.ndarray) -> float:
    """Total fertility rate of the city: sum over ages of the district rates weighted by the women
    of each cohort at the start of the year (unweighted mean where a cohort has no women)."""
    women = np.asarray(women_start, dtype=float)
    total = women.sum(axis=0)
    weighted = (fertility * women).sum(axis=0)
    by_age = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), fertility.mean(axis=0))
    return float(by_age.sum())


def _yearly_rates(parameters: ProjectionParameters, assumptions: Assumptions, base: np.ndarray) -> _YearlyRates:
    hazard = -np.log(np.clip(parameters.survival, 1e-300, 1.0))  # (sex, age)
    hazard_multiplier = parameters.mortality_factor * assumptions.mortality_factor  # (district, sex)
    levels: dict[str, Any] = {}
    if assumptions.life_expectancy_gain is not None:
        improvement = np.array([yearly_hazard_reduction(parameters.survival[s], assumptions.life_expectancy_gain, 10)
                                for s in range(2)])
        levels["mortality_improvement_from_gain"] = [float(r) for r in improvement]
    else:
        improvement = np.asarray(assumptions.mortality_improvement, dtype=float)

    start_women = np.zeros_like(base[:, 1, :])
    start_women[:, 1:-1] = base[:, 1, :-2]
    start_women[:, -1] = base[:, 1, -2] + base[:, 1, -1]
    estimated_tfr = city_tfr(parameters.fertility, start_women)
    levels["tfr_estimated"] = estimated_tfr
    if assumptions.tfr is not None:
        if estimated_tfr <= 0:
            raise ValueError("„Geburtenziffer (Kinder je Frau)“: die geschätzten Geburtenraten sind 0, "
                             "ein Niveau lässt sich nicht setzen.")
        fertility_factor = assumptions.tfr / estimated_tfr
    else:
        fertility_factor = assumptions.fertility_factor
    levels["fertility_factor_applied"] = float(fertility_factor)
    levels["tfr_applied"] = estimated_tfr * fertility_factor

    share_boys = (
        parameters.share_boys if assumptions.boys_per_100_girls is None
        else assumptions.boys_per_100_girls / (100.0 + assumptions.boys_per_100_girls)
    )
    in_volume = (parameters.in_volume * assumptions.in_migration_factor if assumptions.in_migration_per_year is None
                 else float(assumptions.in_migration_per_year))
    if in_volume > 0 and not parameters.in_profile.sum() > 0:
        raise ValueError("„Zuzüge je Jahr“: die Parameter enthalten keine Verteilung der Zuzüge.")
    return _YearlyRates(
        hazard=hazard[None] * hazard_multiplier[..., None],
        improvement=improvement,
        out=parameters.out_rate * assumptions.out_migration_factor,
        internal=parameters.internal_rate * assumptions.internal_migration_factor,
        destination=parameters.destination,
        fertility=parameters.fertility * fertility_factor,
        sex_split=np.array([share_boys, 1.0 - share_boys]),
        in_volume=float(in_volume),
        in_profile=parameters.in_profile,
        levels=levels,
    )


def _external_in_flows(rates: _YearlyRates, newcomers: np.ndarray | None, share: float,
                       n_years: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-movers from outside per year (year, district, sex, age) without the housing newcomers.

    ``share`` of the newcomers to new housing are part of the in-migration volume: they are taken
    out of it (proportionally over its profile), the rest comes on top. If the newcomers exceed the
    volume, it drops to 0 and the excess comes on top as well. Returns (flows, taken, excess) with
    taken / excess per year.
    """
    newcomers_per_year = np.zeros(n_years) if newcomers is None else newcomers.sum(axis=(1, 2, 3))
    wanted = share * newcomers_per_year
    taken = np.minimum(wanted, rates.in_volume)
    remaining = rates.in_volume - taken  # (year,)
    flows = remaining[:, None, None, None] * rates.in_profile[None]
    return flows, taken, wanted - taken


def _project_arrays(
    base: np.ndarray, rates: _YearlyRates, n_years: int, in_flows: np.ndarray,
    newcomers: np.ndarray | None, targets: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """The yearly cohort-component loop on (district, sex, age) arrays, writing into the results."""
    population = np.empty((n_years + 1, *base.shape))
    population[0] = base
    c = {name: np.zeros((n_years, *base.shape)) for name in COMPONENTS}
    c["moves_in_external"][:] = in_flows
    if newcomers is not None:
        c["moves_in_housing"][:] = newcomers
    capped_cells = 0
    constant = None if rates.improvement.any() else rates.exits(0)
    for k in range(n_years):
        death_p, out_p, internal_p, capped = constant or rates.exits(k + 1)
        capped_cells = max(capped_cells, capped)
        current, start, births = population[k], c["population_start"][k], c["births"][k]
        start[..., 1:-1] = current[..., :-2]
        start[..., -1] = current[..., -2] + current[..., -1]
        births_total = (rates.fertility * start[:, 1, :]).sum(axis=1)  # (district,)
        births[..., 0] = births_total[:, None] * rates.sex_split[None, :]
        at_risk = start + births

        np.multiply(at_risk, death_p, out=c["deaths"][k])
        np.multiply(at_risk, out_p, out=c["moves_out_external"][k])
        np.multiply(at_risk, internal_p, out=c["moves_out_internal"][k])
        c["moves_in_internal"][k] = np.einsum("dsx,de->esx", c["moves_out_internal"][k], rates.destination)
        end = (at_risk - c["deaths"][k] - c["moves_out_external"][k] - c["moves_out_internal"][k]
               + c["moves_in_internal"][k] + c["moves_in_external"][k] + c["moves_in_housing"][k])

        if not np.isnan(targets[k]) and end.sum() > 0:
            adjustment = end * (targets[k] / end.sum() - 1.0)
            np.maximum(adjustment, 0.0, out=c["moves_in_alignment"][k])
            np.maximum(-adjustment, 0.0, out=c["moves_out_alignment"][k])
            end = end + c["moves_in_alignment"][k] - c["moves_out_alignment"][k]
        population[k + 1] = end
    return population, c, capped_cells


# --- base alignment to an official count ---------------------------------------------------------

def align_base(base: np.ndarray, district_ids: tuple[int, ...], target: Any, base_year: int) -> tuple[np.ndarray, dict]:
    """Scale the base population proportionally to an official count (e.g. Zensus-based).

    ``target``: a number (city total); {district_id: population} or a DataFrame district_id,
    population (per district; districts not named stay as they are); or the city profile's form
    {"population": number or {district_id: population}, "year": ..., "source": ...} - its year
    must be the base year. Within a district (or the city) every sex x age cell gets the same
    factor. Returns the aligned array and the record of the difference.
    """
    source, year = None, None
    if isinstance(target, Mapping) and "population" in target:
        source, year = target.get("source"), target.get("year")
        target = target["population"]
    if year is not None and int(year) != int(base_year):
        raise ValueError(f"Amtliche Einwohnerzahl: sie gilt für {int(year)}, das Basisjahr ist {int(base_year)}.")
    before_by_district = base.sum(axis=(1, 2))
    aligned = base.copy()
    if isinstance(target, pd.DataFrame):
        check_columns(target, ["district_id", "population"], "Amtliche Einwohnerzahl")
        target = dict(zip(target["district_id"].astype(int), target["population"].astype(float)))
    if isinstance(target, Mapping):
        unknown = sorted({int(d) for d in target} - set(district_ids))
        if unknown:
            raise ValueError(f"Amtliche Einwohnerzahl: unbekannte Stadtteile {unknown}.")
        level = "Stadtteile"
        for district, value in target.items():
            i = district_ids.index(int(district))
            value = _official_count(value)
            if before_by_district[i] <= 0 and value > 0:
                raise ValueError(f"Amtliche Einwohnerzahl: Stadtteil {int(district)} hat im Basisjahr keine "
                                 "Einwohner, die angepasst werden könnten.")
            aligned[i] *= value / before_by_district[i] if before_by_district[i] > 0 else 0.0
    else:
        level = "Gesamtstadt"
        value = _official_count(target)
        if base.sum() <= 0:
            raise ValueError("Amtliche Einwohnerzahl: die Basisbevölkerung ist leer.")
        aligned *= value / base.sum()
    after_by_district = aligned.sum(axis=(1, 2))
    before, after = float(before_by_district.sum()), float(after_by_district.sum())
    record = {
        "level": level, "source": source, "year": base_year,
        "population_before": before, "population_after": after,
        "difference": after - before, "relative_difference": (after - before) / before if before else float("nan"),
        "by_district": {int(d): {"before": float(b), "after": float(a), "difference": float(a - b)}
                        for d, b, a in zip(district_ids, before_by_district, after_by_district)},
    }
    record["text_de"] = (
        f"Basisbevölkerung {base_year} an die amtliche Einwohnerzahl angepasst ({level}): "
        f"{format_number(after)} statt {format_number(before)} "
        f"({'+' if after >= before else '−'}{format_number(abs(after - before))}; "
        f"{'+' if after >= before else '−'}{format_number(abs(record['relative_difference']) * 100, 1)} %)"
        + (f"; Quelle: {source}" if source else ""))
    return aligned, record


def _official_count(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Amtliche Einwohnerzahl muss eine Zahl sein (angegeben: {value!r}).") from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"Amtliche Einwohnerzahl muss eine positive Zahl sein (angegeben: {value!r}).")
    return number


def _check_horizon(years: Any) -> int:
    label = "Vorausberechnungszeitraum (Jahre)"
    number = check_range(label, years, 0, MAX_HORIZON_YEARS)
    if isinstance(years, bool) or number != int(number):
        raise ValueError(f"„{label}“ muss eine ganze Zahl von Jahren sein (angegeben: {format_number(number, None)}); "
                         "Bruchteile von Jahren werden nicht vorausberechnet.")
    return int(number)


def project_population(
    base_population: pd.DataFrame,
    parameters: ProjectionParameters,
    *,
    base_year: int,
    years: int = 30,
    assumptions: Assumptions | str = AS_ESTIMATED,
    housing: pd.DataFrame | None = None,
    newcomer_profile: pd.DataFrame | None = None,
    city_totals: pd.DataFrame | Mapping[int, float] | None = None,
    align_base_to: Any = None,
    inputs: Mapping[str, Any] | None = None,
) -> ProjectionResult:
    """Project ``base_population`` (district_id, sex, age, population at 31.12. of ``base_year``).

    years:            whole years (0-50); a fraction (2.7) is refused in German, not truncated.
    assumptions:      a scenario name ('low', 'medium', 'high', German labels) or
                      :class:`Assumptions` (factors, trends and the planner's own levels); default
                      AS_ESTIMATED: the rates as estimated, no trend (what "medium" was before the
                      scenarios got the mortality trend).
    housing:          optional new housing areas: district_id, year (first year occupied),
                      dwellings, [persons_per_dwelling]; newcomers are booked as moves in; the
                      share ``assumptions.new_housing_share`` of them is taken out of the
                      in-migration volume (not added on top).
    newcomer_profile: optional sex, age, share (sums to 1) of newcomers to new housing.
    city_totals:      optional {year: population} (or DataFrame year, population); the district
                      results are scaled proportionally to it, the difference booked as moves.
    align_base_to:    optional official count of the base year (e.g. Zensus-based): a number (city),
                      {district_id: population} / DataFrame (per district), or the profile's
                      {"population", "year", "source"}; the base is scaled to it before the
                      projection, the difference is in ``assumptions["base_alignment"]``.
    inputs:           {dataset_id: version} of the data the caller used (merged with the
                      parameters' own inputs).
    """
    n_years = _check_horizon(years)
    assumptions = scenario(assumptions)
    projection_years = list(range(base_year + 1, base_year + n_years + 1))
    base = population_array(base_population, parameters.district_ids, parameters.max_age)
    observed = last_observed(parameters, base, base_year)
    base_alignment = None
    if align_base_to is not None:
        base, base_alignment = align_base(base, parameters.district_ids, align_base_to, base_year)
    rates = _yearly_rates(parameters, assumptions, base)
    newcomers = housing_arrays(housing, newcomer_profile, assumptions.persons_per_dwelling,
                               parameters.district_ids, base_year, n_years, parameters.max_age)
    in_flows, taken, excess = _external_in_flows(rates, newcomers, assumptions.new_housing_share, n_years)
    targets = _alignment_targets(city_totals, projection_years)
    population, components, capped_cells = _project_arrays(base, rates, n_years, in_flows, newcomers, targets)

    recorded = {
        "scenario": assumptions.name,
        "scenario_label_de": assumptions.label_de,
        **{key: value for key, value in assumptions.to_dict().items() if key != "name"},
        **rates.levels,
        "base_year": base_year,
        "end_year": base_year + n_years,
        "share_boys_at_birth": float(rates.sex_split[0]),
        "in_migration_per_year": float(rates.in_volume),
        "mortality_improvement_applied": [float(r) for r in rates.improvement],
        "mortality_source": MORTALITY_SOURCE_DE if assumptions.life_expectancy_gain is None
                            and rates.improvement.any() else None,
        "exit_probabilities_capped_cells": capped_cells,
        "parameters_base_period": parameters.base_period,
        "parameters_method": parameters.method,
        "housing": [] if housing is None else housing.to_dict("records"),
        "housing_newcomers_total": 0.0 if newcomers is None else float(newcomers.sum()),
        "housing_taken_from_in_migration": float(taken.sum()),
        "housing_beyond_in_migration_volume": float(excess.sum()),
        "newcomer_profile": "Standard-Familienprofil (Annahme)" if newcomer_profile is None
                            else "vorgegeben",
        "alignment_targets": {year: float(t) for year, t in zip(projection_years, targets)
                              if not np.isnan(t)},
        "base_alignment": base_alignment,
        "last_observed": observed,
        "age_convention": "Alter in vollendeten Jahren am 31.12.; Komponenten nach Alter am Jahresende",
    }
    return ProjectionResult(
        scenario=assumptions.name,
        base_year=base_year,
        district_ids=parameters.district_ids,
        population_array=population,
        component_arrays=components,
        assumptions=recorded,
        inputs=merge_inputs(parameters.inputs, inputs),
        synthetic=parameters.synthetic or is_synthetic(base_population),
    )


MORTALITY_SOURCE_DE = ("Rückgang der Sterblichkeit nach den Varianten L1/L2/L3 der 15. koordinierten "
                       "Bevölkerungsvorausberechnung (Destatis 2022)")


# --- the first projected year against the last observed one ------------------------------------

FIRST_YEAR_BANDS = {"births": 0.10, "deaths": 0.10, "moves_in": 0.10, "moves_out": 0.10, "population": 0.02}
FIRST_YEAR_LABELS_DE = {"births": "Geburten", "deaths": "Sterbefälle", "moves_in": "Zuzüge",
                        "moves_out": "Fortzüge", "population": "Einwohner (31.12.)"}


def last_observed(parameters: ProjectionParameters, base: np.ndarray, base_year: int) -> dict[str, float] | None:
    """Counts of the last observed year (city) from ``parameters.last_year`` and the base population.

    The released rates refer to the start population of that year; it is the base population
    (= population at its end) divided by ``population_ratio`` (end / start). None if the parameters do not describe
    the base year (e.g. a base year before the end of the base period).
    """
    rates = parameters.last_year
    if not rates or not rates.get("population_ratio") or int(rates["year"]) != int(base_year):
        return None
    end = float(base.sum())
    start = end / rates["population_ratio"]
    nan = float("nan")  # not observed (e.g. deaths and gross moves when planning from published stocks)
    return {"year": int(base_year), "population_start": start,
            "births": rates.get("birth_rate", nan) * start, "deaths": rates.get("death_rate", nan) * start,
            "moves_in": rates.get("in_rate", nan) * start, "moves_out": rates.get("out_rate", nan) * start,
            "population": end}


def first_year_check(result: ProjectionResult, bands: Mapping[str, float] | float | None = None) -> pd.DataFrame:
    """The first projected year against the last observed one, city-wide, for "Daten & Qualität".

    Rows: births, deaths, moves_in (from outside the city, new housing included), moves_out (out
    of the city), population (31.12.). Columns: component, label_de, observed_year, observed,
    projected_year, projected, change (relative), band, outside_band (|change| > band; False if
    nothing was observed), note_de. ``bands``: one relative band for all components or a
    mapping per component (default :data:`FIRST_YEAR_BANDS`: 10 % for the components, 2 % for the
    population). Without an observation of the base year (parameters released before the check
    existed, or from published stocks) ``observed`` is NaN.
    """
    band_by = dict(FIRST_YEAR_BANDS)
    if isinstance(bands, Mapping):
        band_by.update({key: float(value) for key, value in bands.items()})
    elif bands is not None:
        band_by = {key: float(bands) for key in band_by}
    observed = result.assumptions.get("last_observed") or {}
    if len(result.population_array) > 1:
        arrays = result.component_arrays
        first = {
            "births": float(arrays["births"][0].sum()),
            "deaths": float(arrays["deaths"][0].sum()),
            "moves_in": float(arrays["moves_in_external"][0].sum() + arrays["moves_in_housing"][0].sum()),
            "moves_out": float(arrays["moves_out_external"][0].sum()),
            "population": float(result.population_array[1].sum()),
        }
    else:
        first = dict.fromkeys(FIRST_YEAR_LABELS_DE, float("nan"))
    rows = []
    for key, label in FIRST_YEAR_LABELS_DE.items():
        seen = float(observed.get(key, float("nan")))
        change = first[key] / seen - 1.0 if seen and np.isfinite(seen) else float("nan")
        outside = bool(np.isfinite(change) and abs(change) > band_by[key])
        if not np.isfinite(seen):
            note = "kein beobachteter Wert des Basisjahres"
        elif outside:
            note = (f"Sprung von {'+' if change > 0 else ''}{format_number(change * 100, 1)} % – mehr als ±{format_number(band_by[key] * 100, 0)} %; "
                    "Annahmen prüfen")
        else:
            note = f"innerhalb ±{format_number(band_by[key] * 100, 0)} %"
        rows.append({"component": key, "label_de": label, "observed_year": result.base_year, "observed": seen,
                     "projected_year": result.base_year + 1, "projected": first[key], "change": change,
                     "band": band_by[key], "outside_band": outside, "note_de": note})
    return label_frame(pd.DataFrame(rows), result.synthetic)


def project_scenarios(
    base_population: pd.DataFrame,
    parameters: ProjectionParameters,
    *,
    scenarios: Iterable[Assumptions | str] = ("low", "medium", "high"),
    **options: Any,
) -> dict[str, ProjectionResult]:
    """One projection per scenario, keyed by scenario name (options as in project_population)."""
    results = {}
    for item in scenarios:
        result = project_population(base_population, parameters, assumptions=item, **options)
        results[result.scenario] = result
    return results


def combine(results: Iterable[ProjectionResult] | Mapping[str, ProjectionResult],
            table: str = "population") -> pd.DataFrame:
    """Stack one table ('population', 'components', 'components_by_age') of several scenarios."""
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    combined = pd.concat([getattr(result, table) for result in items], ignore_index=True)
    return label_frame(combined, any(result.synthetic for result in items))
