"""Cohort-component population projection per Stadtteil x sex x single year of age.

One projection year t -> t+1 (all arrays shaped (district, sex, age), age = cohort age at the end
of the year, see bif_lib.planning.parameters):

    start[x]        = pop_t[x-1]            (start[0] = 0, start[max] = pop_t[max-1] + pop_t[max])
    births          = sum_x fertility[x] * women start[x]   (mother's age at the end of the year),
                      split by share_boys, entering at cohort age 0
    deaths          = (start + births) * q,   q = 1 - sx ** (district factor * mortality factor)
    moves out       = (start + births) * out_rate        (leaving the city)
    internal out    = (start + births) * internal_rate   (to another district)
    internal in     = internal out routed through the destination matrix
    moves in        = in_volume * in_profile  (+ newcomers to new housing areas)
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

from bif_lib.planning._common import (
    SEXES,
    check_columns,
    check_range,
    is_synthetic,
    label_frame,
    merge_inputs,
    title_de,
)
from bif_lib.planning.parameters import ProjectionParameters, population_array
from bif_lib.planning.scenarios import SCENARIO_LABELS_DE, Assumptions, scenario

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
    """Parameters combined with the scenario multipliers, ready for the yearly loop."""

    death_probability: np.ndarray
    out_probability: np.ndarray
    internal_probability: np.ndarray
    destination: np.ndarray
    fertility: np.ndarray
    sex_split: np.ndarray  # (2,) shares of boys and girls among births
    in_flow: np.ndarray
    capped_cells: int


def _yearly_rates(parameters: ProjectionParameters, assumptions: Assumptions) -> _YearlyRates:
    hazard = -np.log(np.clip(parameters.survival, 1e-300, 1.0))  # (sex, age)
    hazard_multiplier = parameters.mortality_factor * assumptions.mortality_factor  # (district, sex)
    death = 1.0 - np.exp(-hazard[None] * hazard_multiplier[..., None])
    out = parameters.out_rate * assumptions.out_migration_factor
    internal = parameters.internal_rate * assumptions.internal_migration_factor
    # Competing exits cannot exceed the cohort: scale all three down proportionally where they would.
    total_exit = death + out + internal
    scale = np.where(total_exit > 1.0, 1.0 / np.maximum(total_exit, 1e-300), 1.0)
    share_boys = (
        parameters.share_boys if assumptions.boys_per_100_girls is None
        else assumptions.boys_per_100_girls / (100.0 + assumptions.boys_per_100_girls)
    )
    return _YearlyRates(
        death_probability=death * scale,
        out_probability=out * scale,
        internal_probability=internal * scale,
        destination=parameters.destination,
        fertility=parameters.fertility * assumptions.fertility_factor,
        sex_split=np.array([share_boys, 1.0 - share_boys]),
        in_flow=parameters.in_volume * assumptions.in_migration_factor * parameters.in_profile,
        capped_cells=int((total_exit > 1.0).sum()),
    )


def _project_arrays(
    base: np.ndarray, rates: _YearlyRates, n_years: int,
    newcomers: np.ndarray | None, targets: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The yearly cohort-component loop on (district, sex, age) arrays, writing into the results."""
    population = np.empty((n_years + 1, *base.shape))
    population[0] = base
    c = {name: np.zeros((n_years, *base.shape)) for name in COMPONENTS}
    c["moves_in_external"][:] = rates.in_flow
    if newcomers is not None:
        c["moves_in_housing"][:] = newcomers
    for k in range(n_years):
        current, start, births = population[k], c["population_start"][k], c["births"][k]
        start[..., 1:-1] = current[..., :-2]
        start[..., -1] = current[..., -2] + current[..., -1]
        births_total = (rates.fertility * start[:, 1, :]).sum(axis=1)  # (district,)
        births[..., 0] = births_total[:, None] * rates.sex_split[None, :]
        at_risk = start + births

        np.multiply(at_risk, rates.death_probability, out=c["deaths"][k])
        np.multiply(at_risk, rates.out_probability, out=c["moves_out_external"][k])
        np.multiply(at_risk, rates.internal_probability, out=c["moves_out_internal"][k])
        c["moves_in_internal"][k] = np.einsum("dsx,de->esx", c["moves_out_internal"][k], rates.destination)
        end = (at_risk - c["deaths"][k] - c["moves_out_external"][k] - c["moves_out_internal"][k]
               + c["moves_in_internal"][k] + c["moves_in_external"][k] + c["moves_in_housing"][k])

        if not np.isnan(targets[k]) and end.sum() > 0:
            adjustment = end * (targets[k] / end.sum() - 1.0)
            np.maximum(adjustment, 0.0, out=c["moves_in_alignment"][k])
            np.maximum(-adjustment, 0.0, out=c["moves_out_alignment"][k])
            end = end + c["moves_in_alignment"][k] - c["moves_out_alignment"][k]
        population[k + 1] = end
    return population, c


def project_population(
    base_population: pd.DataFrame,
    parameters: ProjectionParameters,
    *,
    base_year: int,
    years: int = 30,
    assumptions: Assumptions | str = "medium",
    housing: pd.DataFrame | None = None,
    newcomer_profile: pd.DataFrame | None = None,
    city_totals: pd.DataFrame | Mapping[int, float] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> ProjectionResult:
    """Project ``base_population`` (district_id, sex, age, population at 31.12. of ``base_year``).

    housing:          optional new housing areas: district_id, year (first year occupied),
                      dwellings, [persons_per_dwelling]; newcomers are booked as moves in.
    newcomer_profile: optional sex, age, share (sums to 1) of newcomers to new housing.
    city_totals:      optional {year: population} (or DataFrame year, population); the district
                      results are scaled proportionally to it, the difference booked as moves.
    inputs:           {dataset_id: version} of the data the caller used (merged with the
                      parameters' own inputs).
    """
    n_years = int(check_range("Vorausberechnungszeitraum (Jahre)", years, 0, MAX_HORIZON_YEARS))
    assumptions = scenario(assumptions)
    projection_years = list(range(base_year + 1, base_year + n_years + 1))
    base = population_array(base_population, parameters.district_ids, parameters.max_age)
    rates = _yearly_rates(parameters, assumptions)
    newcomers = housing_arrays(housing, newcomer_profile, assumptions.persons_per_dwelling,
                               parameters.district_ids, base_year, n_years, parameters.max_age)
    targets = _alignment_targets(city_totals, projection_years)
    population, components = _project_arrays(base, rates, n_years, newcomers, targets)

    recorded = {
        "scenario": assumptions.name,
        "scenario_label_de": assumptions.label_de,
        **{key: value for key, value in assumptions.to_dict().items() if key != "name"},
        "base_year": base_year,
        "end_year": base_year + n_years,
        "share_boys_at_birth": float(rates.sex_split[0]),
        "in_migration_per_year": float(rates.in_flow.sum()),
        "exit_probabilities_capped_cells": rates.capped_cells,
        "parameters_base_period": parameters.base_period,
        "parameters_method": parameters.method,
        "housing": [] if housing is None else housing.to_dict("records"),
        "housing_newcomers_total": 0.0 if newcomers is None else float(newcomers.sum()),
        "newcomer_profile": "Standard-Familienprofil (Annahme)" if newcomer_profile is None
                            else "vorgegeben",
        "alignment_targets": {year: float(t) for year, t in zip(projection_years, targets)
                              if not np.isnan(t)},
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
