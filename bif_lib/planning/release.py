"""What the statistics office releases from the register for the planning apps: the table
formats and their conversions (pure; reading and certifying are in :mod:`bif_lib.loaders`).

The register microdata are confidential: only the statistics office reads them. The
planning apps (and their planners) get two internal aggregates instead:

``bevoelkerung_einzelalter``
    residents per year × Stadtteil × sex × single year of age, protected with the Cell Key
    Method by ``bif release`` from its contract's ``release:`` block (``bif_lib.releases``).
``projektionsparameter``
    the estimated projection parameters as one long table (:func:`release_parameters`). They
    are smoothed rates pooled over the base period and, for the age pattern, over the whole
    city (docs/planning-models.md), released after an output check
    (:func:`parameter_output_checks`; the certificate: ``bif_lib.loaders.release_parameters_checked``,
    run where the microdata are).

:func:`projection_inputs_from_release` rebuilds the projection's inputs from the two datasets
(``bif_lib.loaders.load_projection_inputs`` loads them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bif_lib.planning._common import SEXES, label_frame
from bif_lib.planning.parameters import ProjectionInputs, ProjectionParameters

LONG_COLUMNS = ["component", "district_id", "to_district_id", "sex", "age", "value"]
# the last observed year of the base period, city-wide, per person of its start population (rates,
# not counts): ProjectionParameters.last_year key -> released component
LAST_YEAR_COMPONENTS = {"year": "last_year", "birth_rate": "last_year_birth_rate",
                        "death_rate": "last_year_death_rate", "in_rate": "last_year_in_rate",
                        "out_rate": "last_year_out_rate", "population_ratio": "last_year_population_ratio"}


# The components the year weights change (docs/planning-models.md, "Weighting the years"); a
# release may carry them a second time, estimated with equal weights, prefixed ``pooled_``: for the
# back-test over the base period (an in-sample check reproduces its period only with equal weights).
WEIGHTED_COMPONENTS = ("out_rate", "internal_rate", "in_profile", "fertility", "destination", "in_volume")
POOLED_PREFIX = "pooled_"
VARIANTS = ("weighted", "pooled")


def release_parameters(parameters: ProjectionParameters, *, pooled: ProjectionParameters | None = None) -> pd.DataFrame:
    """All parameters in one long table (component, district_id, to_district_id, sex, age, value).

    ``pooled``: the same parameters estimated with equal year weights; its weighted components
    (:data:`WEIGHTED_COMPONENTS`) are added as ``pooled_<component>`` (read back with
    ``parameters_from_release(table, variant="pooled")``).
    """
    table = _long_table(parameters)
    if pooled is None:
        return table
    extra = _long_table(pooled)
    extra = extra[extra["component"].isin(WEIGHTED_COMPONENTS)].assign(
        component=lambda frame: POOLED_PREFIX + frame["component"])
    return pd.concat([table, extra], ignore_index=True)


def _long_table(parameters: ProjectionParameters) -> pd.DataFrame:
    frames = parameters.to_frames()
    parts = []
    rates = frames["rates"]
    for component in ("out_rate", "internal_rate", "in_profile"):
        parts.append(rates[["district_id", "sex", "age"]].assign(component=component, value=rates[component]))
    parts.append(frames["fertility"].rename(columns={"fertility": "value"}).assign(component="fertility"))
    parts.append(frames["mortality_factor"].rename(columns={"mortality_factor": "value"})
                 .assign(component="mortality_factor"))
    parts.append(frames["destination"].rename(columns={"from_district_id": "district_id", "share": "value"})
                 .assign(component="destination"))
    parts.append(frames["survival"].rename(columns={"sx": "value"}).assign(component="survival"))
    scalars = frames["scalars"].rename(columns={"parameter": "component"})
    if parameters.base_period:
        scalars = pd.concat([scalars, pd.DataFrame({"component": ["base_period_start", "base_period_end"],
                                                    "value": list(parameters.base_period)})])
    if parameters.last_year:
        scalars = pd.concat([scalars, pd.DataFrame({
            "component": [LAST_YEAR_COMPONENTS[key] for key in LAST_YEAR_COMPONENTS if key in parameters.last_year],
            "value": [float(parameters.last_year[key]) for key in LAST_YEAR_COMPONENTS if key in parameters.last_year]})])
    half_life = (parameters.method.get("smoothing") or {}).get("year_weight_half_life")
    if half_life is not None:
        scalars = pd.concat([scalars, pd.DataFrame({"component": ["year_weight_half_life"], "value": [half_life]})])
    parts.append(scalars)
    table = pd.concat(parts, ignore_index=True).reindex(columns=LONG_COLUMNS)
    return table.astype({"component": "str", "district_id": "Int64", "to_district_id": "Int64", "sex": "str",
                         "age": "Int64", "value": "float64"}).replace({"sex": {"nan": None, "None": None}})


def parameters_from_release(table: pd.DataFrame, *, synthetic: bool = False,
                            inputs: dict | None = None, variant: str = "weighted") -> ProjectionParameters:
    """Inverse of :func:`release_parameters`. ``variant="pooled"``: the components estimated with
    equal year weights (for back-tests over the base period) instead of the weighted ones."""
    if variant not in VARIANTS:
        raise ValueError(f"Parametervariante „{variant}“ unbekannt; möglich: {', '.join(VARIANTS)}.")
    if variant == "pooled":
        if not table["component"].str.startswith(POOLED_PREFIX).any():
            raise ValueError("Die freigegebenen Projektionsparameter enthalten keine gleich gewichtete Variante "
                             "(pooled_*); sie wird mit der Freigabe erzeugt (release_parameters_checked).")
        own = table[~table["component"].isin(WEIGHTED_COMPONENTS)]
        pooled = table[table["component"].str.startswith(POOLED_PREFIX)]
        table = pd.concat([own[~own["component"].str.startswith(POOLED_PREFIX)],
                           pooled.assign(component=pooled["component"].str.removeprefix(POOLED_PREFIX))],
                          ignore_index=True)
        table = table[table["component"] != "year_weight_half_life"]
    else:
        table = table[~table["component"].str.startswith(POOLED_PREFIX)]

    def part(component: str) -> pd.DataFrame:
        return table[table["component"] == component]

    district_ids = tuple(sorted(part("fertility")["district_id"].astype(int).unique()))
    ages = np.arange(int(part("survival")["age"].max()) + 1)
    d_index = {d: i for i, d in enumerate(district_ids)}
    s_index = {s: i for i, s in enumerate(SEXES)}

    def by_district_sex_age(component: str) -> np.ndarray:
        rows = part(component)
        array = np.zeros((len(district_ids), 2, len(ages)))
        array[rows["district_id"].astype(int).map(d_index), rows["sex"].map(s_index), rows["age"].astype(int)] = \
            rows["value"].to_numpy()
        return array

    fertility = np.zeros((len(district_ids), len(ages)))
    rows = part("fertility")
    fertility[rows["district_id"].astype(int).map(d_index), rows["age"].astype(int)] = rows["value"].to_numpy()
    mortality = np.zeros((len(district_ids), 2))
    rows = part("mortality_factor")
    mortality[rows["district_id"].astype(int).map(d_index), rows["sex"].map(s_index)] = rows["value"].to_numpy()
    destination = np.zeros((len(district_ids), len(district_ids)))
    rows = part("destination")
    destination[rows["district_id"].astype(int).map(d_index), rows["to_district_id"].astype(int).map(d_index)] = \
        rows["value"].to_numpy()
    survival = np.zeros((2, len(ages)))
    rows = part("survival")
    survival[rows["sex"].map(s_index), rows["age"].astype(int)] = rows["value"].to_numpy()
    scalars = table[table["district_id"].isna() & table["sex"].isna()
                    & table["age"].isna()].set_index("component")["value"]
    base_period = None
    if "base_period_start" in scalars:
        base_period = (int(scalars["base_period_start"]), int(scalars["base_period_end"]))
    last_year = {key: float(scalars[component]) for key, component in LAST_YEAR_COMPONENTS.items()
                 if component in scalars} or None  # releases before 2026-12 lack them
    if last_year is not None and "year" not in last_year:
        last_year = None
    method = {"source": (table.attrs.get("bif") or {}).get("dataset", "released parameters"), "variant": variant}
    if "year_weight_half_life" in scalars:
        method["smoothing"] = {"year_weight_half_life": float(scalars["year_weight_half_life"])}
    return ProjectionParameters(
        district_ids=district_ids, survival=survival, mortality_factor=mortality, fertility=fertility,
        share_boys=float(scalars["share_boys"]), out_rate=by_district_sex_age("out_rate"),
        internal_rate=by_district_sex_age("internal_rate"), destination=destination,
        in_volume=float(scalars["in_volume"]), in_profile=by_district_sex_age("in_profile"),
        base_period=base_period, last_year=last_year, method=method, inputs=inputs or {}, synthetic=synthetic)


MIN_PERSONS_PER_GROUP = 100  # output-check rule of thumb: every rate rests on at least this many persons
RELEASED_COMPONENTS = frozenset({"out_rate", "internal_rate", "in_profile", "fertility", "mortality_factor",
                                 "destination", "survival", "share_boys", "in_volume", "base_period_start",
                                 "base_period_end", "year_weight_half_life", *LAST_YEAR_COMPONENTS.values(),
                                 *(POOLED_PREFIX + component for component in WEIGHTED_COMPONENTS)})


def parameter_output_checks(persons: pd.DataFrame, table: pd.DataFrame, base_period: tuple[int, int], *,
                            min_persons: int = MIN_PERSONS_PER_GROUP) -> list[dict]:
    """The output checks of a parameter table (:func:`release_parameters`) before its release.

    The parameters are rates and shares, smoothed and pooled (docs/planning-models.md); they are
    released after the checks research data centres apply to model output: no counts of persons
    among them, and every Stadtteil × sex group they are estimated from holds at least
    ``min_persons`` persons in each year of the base period (``persons``: the register extracts).
    Returns the checks as the certificate lists them (name, passed, German detail).
    """
    first, last = base_period
    in_period = persons[persons["extract_year"].between(first, last)]
    group_sizes = in_period.groupby(["extract_year", "district_id", "sex"]).size()
    smallest = int(group_sizes.min()) if len(group_sizes) else 0
    unknown = sorted(set(table["component"]) - RELEASED_COMPONENTS)
    return [
        {"name": "Nur Raten, Anteile und Modellgrößen", "passed": not unknown,
         "detail": "keine Fallzahlen von Personen" if not unknown else "unbekannte Größen: " + ", ".join(unknown)},
        {"name": f"Mindestbesetzung {min_persons} Personen", "passed": smallest >= min_persons,
         "detail": f"kleinste Gruppe (Jahr × Stadtteil × Geschlecht) im Basiszeitraum: {smallest} Personen"},
    ]


def projection_inputs_from_release(population: pd.DataFrame, table: pd.DataFrame, *,
                                   base_year: int | None = None, variant: str = "weighted") -> ProjectionInputs:
    """The projection's inputs from the two released datasets as loaded (``attrs["bif"]`` gives
    their versions and synthetic label): base population of ``base_year`` (default: the latest
    year) and the parameters (:func:`parameters_from_release`)."""
    synthetic = bool(population.attrs["bif"]["synthetic"] or table.attrs["bif"]["synthetic"])
    inputs = {meta["dataset"]: meta["version"] for meta in (population.attrs["bif"], table.attrs["bif"])}
    parameters = parameters_from_release(table, synthetic=synthetic, inputs=inputs, variant=variant)
    base_year = int(population["year"].max()) if base_year is None else base_year
    base = population[(population["year"] == base_year) & population["district_id"].isin(parameters.district_ids)]
    base = base[["district_id", "sex", "age", "population"]].astype({"population": "float64"}).reset_index(drop=True)
    return ProjectionInputs(base_year, label_frame(base, synthetic), parameters)
