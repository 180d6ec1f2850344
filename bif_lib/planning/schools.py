"""Primary-school demand: entrants, pupils by grade, classes and capacity per school and year.

    entrants_j(t)  = sum_d children_d(t, entry age) * entry_rate_d * assignment[d, j]
    grade 1 (t+1)  = entrants(t+1) + repetition_1 * grade_1(t)
    grade g (t+1)  = progression_{g-1} * (1 - repetition_{g-1}) * grade_{g-1}(t)
                     + repetition_g * grade_g(t)                          (g = 2..4)
    classes        = ceil(pupils of a grade / class size), summed over the four grades
    capacity       = streams (Züge) x 4 grades x class size  (places),  streams x 4 (classes)

Children "at entry age" in year t are those aged 6 (completed years) at 31.12. of t; they stand
for the entrants of the school year starting in August of t (school entry in Schleswig-Holstein
is for children who are 6 by 30 June, so this is a half-year approximation).

Capacities are inputs. The model never invents them: a school without a capacity gets the
status "Kapazität unbekannt"; an estimate from current pupils (:func:`estimate_capacities`) is
offered and marked "Schätzung" in every result row that uses it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.planning._common import (
    PlanningResult,
    check_columns,
    check_range,
    district_ids_from,
    is_synthetic,
    population_by_district_age,
)

GRADES = (1, 2, 3, 4)
STATUS_OVER = "über Kapazität"
STATUS_OK = "ausreichend"
STATUS_UNKNOWN = "Kapazität unbekannt"
SOURCE_INPUT = "Eingabe"
SOURCE_ESTIMATE = "Schätzung"
DEFAULT_DISTANCE_DECAY_KM = 1.5
_ROUNDING = 6  # decimals kept before ceil(), so 50.0000000001 pupils are not 3 classes of 25


@dataclass(frozen=True)
class SchoolSettings:
    """Planner settings of the school model, with their allowed ranges."""

    class_size_max: float = 25  # class-size norm (Klassenteiler), also used for capacities
    entry_age: int = 6
    progression: tuple[float, float, float] = (1.0, 1.0, 1.0)  # grade g -> g+1 (net of moves)
    repetition: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # share repeating grade g

    def __post_init__(self) -> None:
        check_range("Klassengröße (Höchstwert)", self.class_size_max, 10, 35)
        check_range("Einschulungsalter", self.entry_age, 5, 7)
        if len(self.progression) != 3 or len(self.repetition) != 4:
            raise ValueError("Übergangsquoten: 3 Werte (Klasse 1→2, 2→3, 3→4); Wiederholerquoten: 4 Werte.")
        for grade, value in enumerate(self.progression, start=1):
            check_range(f"Übergangsquote Klasse {grade}→{grade + 1}", value, 0.5, 1.5)
        for grade, value in enumerate(self.repetition, start=1):
            check_range(f"Wiederholerquote Klasse {grade}", value, 0.0, 0.2)


# --- base pupils, capacities, assignment ------------------------------------------------------

def grades_offered(grades: Any) -> tuple[int, int]:
    """'1-4' -> (1, 4); '1-10' -> (1, 10); missing -> (1, 4)."""
    if grades is None or (isinstance(grades, float) and math.isnan(grades)) or grades is pd.NA:
        return GRADES[0], GRADES[-1]
    match = re.fullmatch(r"\s*(\d+)\s*[-–]\s*(\d+)\s*", str(grades))
    if not match:
        raise ValueError(f"Jahrgangsangabe „{grades}“ nicht lesbar (erwartet z. B. „1-4“).")
    return int(match.group(1)), int(match.group(2))


def base_pupils_by_grade(schools: pd.DataFrame) -> pd.DataFrame:
    """school_id, grade, pupils: current pupils spread evenly over the grades a school offers.

    Only grades 1-4 are kept, e.g. a school with grades 1-10 and 300 pupils has 30 per grade.
    """
    check_columns(schools, ["school_id", "pupils"], "Schulen")
    rows = []
    for school in schools.itertuples(index=False):
        first, last = grades_offered(getattr(school, "grades", None))
        per_grade = float(school.pupils) / (last - first + 1)
        rows += [(school.school_id, grade, per_grade if first <= grade <= last else 0.0) for grade in GRADES]
    return pd.DataFrame(rows, columns=["school_id", "grade", "pupils"])


def estimate_capacities(schools: pd.DataFrame, class_size: float = 25) -> pd.DataFrame:
    """Capacity estimate from current pupils: streams = ceil(pupils per grade / class size).

    Returns school_id, streams, class_size, capacity_places, capacity_source = "Schätzung".
    Meant as a starting point the planner edits, never as a silent default.
    """
    check_range("Klassengröße (Höchstwert)", class_size, 10, 35)
    per_grade = base_pupils_by_grade(schools).groupby("school_id", sort=False)["pupils"].max()
    streams = np.ceil(np.round(per_grade / class_size, _ROUNDING)).clip(lower=1)
    return pd.DataFrame({
        "school_id": per_grade.index,
        "streams": streams.to_numpy(),
        "class_size": float(class_size),
        "capacity_places": (streams * len(GRADES) * class_size).to_numpy(),
        "capacity_source": SOURCE_ESTIMATE,
    })


def _haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def _coordinates(frame: pd.DataFrame, what_de: str) -> tuple[np.ndarray, np.ndarray]:
    """lat/lon columns, or WGS84 point geometries."""
    if {"lat", "lon"} <= set(frame.columns):
        return frame["lat"].to_numpy(float), frame["lon"].to_numpy(float)
    if "geometry" in frame.columns:
        points = frame["geometry"]
        return np.array([p.y for p in points]), np.array([p.x for p in points])
    raise ValueError(f"{what_de}: Koordinaten fehlen (Spalten lat/lon oder geometry).")


def default_assignment(
    schools: pd.DataFrame,
    district_centroids: pd.DataFrame | None = None,
    distance_decay_km: float = DEFAULT_DISTANCE_DECAY_KM,
    district_ids: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """Default district -> school shares (district_id, school_id, share), an editable input.

    Without published catchment areas, the default is a gravity model: the share of a
    district's entrants going to school j is proportional to j's primary pupils (grades 1-4)
    times exp(-distance(district centroid, school) / distance_decay_km).
    Without centroids: the schools in the district by pupils; districts without a school
    are spread over all schools by pupils.
    district_ids: the districts to assign (e.g. the profile's ``districts.codes``); default: the
    districts of ``district_centroids``, else those of the schools (pass them explicitly so that
    districts without a school are included).
    """
    check_range("Distanzabfall (km)", distance_decay_km, 0.1, 20)
    if district_ids is None:
        district_ids = district_ids_from(district_centroids if district_centroids is not None else schools)
    district_ids = tuple(district_ids)
    weights = base_pupils_by_grade(schools).groupby("school_id", sort=False)["pupils"].sum()
    weights = weights.reindex(schools["school_id"]).to_numpy(float)
    school_ids = schools["school_id"].to_numpy()
    if district_centroids is not None:
        check_columns(district_centroids, ["district_id"], "Stadtteil-Mittelpunkte")
        centroids = district_centroids.set_index("district_id").reindex(list(district_ids)).reset_index()
        d_lat, d_lon = _coordinates(centroids, "Stadtteil-Mittelpunkte")
        s_lat, s_lon = _coordinates(schools, "Schulen")
        distance = _haversine_km(d_lat[:, None], d_lon[:, None], s_lat[None], s_lon[None])
        matrix = weights[None] * np.exp(-distance / distance_decay_km)
    else:
        check_columns(schools, ["district_id"], "Schulen")
        same_district = schools["district_id"].to_numpy()[None] == np.asarray(district_ids)[:, None]
        matrix = np.where(same_district, weights[None], 0.0)
        without_school = matrix.sum(axis=1) == 0
        matrix[without_school] = weights[None]
    matrix = matrix / matrix.sum(axis=1, keepdims=True)
    return pd.DataFrame({
        "district_id": np.repeat(district_ids, len(school_ids)),
        "school_id": np.tile(school_ids, len(district_ids)),
        "share": matrix.ravel(),
    })


def _assignment_matrix(assignment: pd.DataFrame, district_ids, school_ids) -> np.ndarray:
    check_columns(assignment, ["district_id", "school_id", "share"], "Zuordnung Stadtteil → Schule")
    unknown = set(assignment["school_id"]) - set(school_ids)
    if unknown:
        raise ValueError(f"Zuordnung Stadtteil → Schule: unbekannte Schulen {sorted(unknown)}.")
    if (assignment["share"] < 0).any():
        raise ValueError("Zuordnung Stadtteil → Schule: Anteile dürfen nicht negativ sein.")
    matrix = (
        assignment.pivot_table(index="district_id", columns="school_id", values="share", aggfunc="sum")
        .reindex(index=list(district_ids), columns=list(school_ids)).fillna(0.0).to_numpy()
    )
    sums = matrix.sum(axis=1)
    bad = [district for district, total in zip(district_ids, sums) if not np.isclose(total, 1.0)]
    if bad:
        raise ValueError(
            "Zuordnung Stadtteil → Schule: die Anteile je Stadtteil müssen sich zu 1 summieren "
            f"(abweichend: Stadtteile {bad})."
        )
    return matrix


CAPACITY_COLUMNS = ["school_id", "streams", "class_size", "capacity_classes", "capacity_places",
                    "capacity_source"]
_CAPACITY_BOUNDS = {  # column: (German label, low, high)
    "streams": ("Züge", 0, 10),
    "capacity_places": ("Schulplätze", 0, 2000),
    "class_size": ("Klassengröße", 10, 35),
}


def _capacity_table(capacities: pd.DataFrame | None, schools: pd.DataFrame,
                    class_size: float) -> pd.DataFrame:
    """One row per school: CAPACITY_COLUMNS, NaN where the capacity is unknown.

    Places default to streams x 4 grades x class size; a given capacity without a source counts as
    the planner's input ("Eingabe").
    """
    given = pd.DataFrame(columns=["school_id"]) if capacities is None else capacities.copy()
    check_columns(given, ["school_id"], "Kapazitäten")
    unknown = set(given["school_id"]) - set(schools["school_id"])
    if unknown:
        raise ValueError(f"Kapazitäten: unbekannte Schulen {sorted(unknown)}.")
    for column, (label, low, high) in _CAPACITY_BOUNDS.items():
        values = pd.to_numeric(given[column], errors="raise") if column in given else np.nan
        given[column] = pd.Series(values, index=given.index, dtype=float)
        for school_id, value in zip(given["school_id"], given[column]):
            if not np.isnan(value):
                check_range(f"{label} der Schule {school_id}", value, low, high)
    given["class_size"] = given["class_size"].fillna(class_size)
    given["capacity_classes"] = given["streams"] * len(GRADES)
    given["capacity_places"] = given["capacity_places"].fillna(given["capacity_classes"] * given["class_size"])
    source = given["capacity_source"] if "capacity_source" in given else pd.Series(None, index=given.index)
    source = source.astype(object).where(source.notna(), SOURCE_INPUT)
    given["capacity_source"] = source.where(given["capacity_places"].notna())
    table = schools[["school_id"]].merge(given[CAPACITY_COLUMNS], on="school_id", how="left")
    table["class_size"] = table["class_size"].fillna(class_size)
    return table


# --- projection -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class SchoolDemandResult(PlanningResult):
    """Tables:
    schools  year, school_id, name, pupils, classes, streams, capacity_classes, capacity_places,
             capacity_source ('Eingabe' | 'Schätzung' | NaN), utilisation, over_capacity
             (True/False, <NA> if unknown), status ('über Kapazität' | 'ausreichend' |
             'Kapazität unbekannt')
    grades   year, school_id, grade, pupils, classes
    entrants year, district_id, children_at_entry_age, entry_rate, entrants
    """

    schools: pd.DataFrame
    grades: pd.DataFrame
    entrants: pd.DataFrame

    TITLE = "Grundschulbedarf"

    @property
    def over_capacity(self) -> pd.DataFrame:
        """Rows of schools over capacity (known capacities only)."""
        return self.schools[self.schools["over_capacity"].fillna(False).astype(bool)]


def _entry_rates(entry_rate, district_ids, calibrated: float) -> tuple[np.ndarray, str]:
    if entry_rate is None:
        return np.full(len(district_ids), calibrated), "kalibriert im Basisjahr (Gesamtstadt)"
    if isinstance(entry_rate, pd.DataFrame):
        check_columns(entry_rate, ["district_id", "entry_rate"], "Einschulungsquoten")
        rates = entry_rate.set_index("district_id")["entry_rate"].reindex(list(district_ids))
        if rates.isna().any():
            missing = [d for d, r in rates.items() if pd.isna(r)]
            raise ValueError(f"Einschulungsquoten fehlen für Stadtteile {missing}.")
        for district, rate in rates.items():
            check_range(f"Einschulungsquote Stadtteil {district}", rate, 0.0, 1.5)
        return rates.to_numpy(float), "vorgegeben je Stadtteil"
    return np.full(len(district_ids), check_range("Einschulungsquote", entry_rate, 0.0, 1.5)), "vorgegeben"


def _classes(pupils: np.ndarray, class_size: np.ndarray) -> np.ndarray:
    return np.ceil(np.round(pupils / class_size, _ROUNDING))


def project_school_demand(
    population: pd.DataFrame,
    schools: pd.DataFrame,
    *,
    base_year: int,
    horizon_year: int,
    capacities: pd.DataFrame | None = None,
    assignment: pd.DataFrame | None = None,
    entry_rate: float | pd.DataFrame | None = None,
    settings: SchoolSettings = SchoolSettings(),
    inputs: Mapping[str, Any] | None = None,
) -> SchoolDemandResult:
    """Project pupils and classes of the given (primary) schools from ``base_year`` to ``horizon_year``.

    population:  year, district_id, [sex], age, population (one scenario, e.g. a projection's
                 ``population`` table) covering base_year..horizon_year.
    schools:     school_id, name, pupils (current, = base year), district_id, [grades '1-4'],
                 [lat/lon or geometry for the default assignment].
    capacities:  school_id, streams and/or capacity_places, [class_size], [capacity_source].
    assignment:  district_id, school_id, share (default: :func:`default_assignment` without
                 centroids); shares per district sum to 1.
    entry_rate:  share of the children at entry age who enter these schools: a number or a
                 table district_id, entry_rate; default calibrated in the base year:
                 base grade-1 pupils / children at entry age (whole city).
    """
    check_columns(schools, ["school_id", "name", "pupils"], "Schulen")
    if schools["school_id"].duplicated().any():
        raise ValueError("Schulen: Schulnummern müssen eindeutig sein.")
    if horizon_year < base_year:
        raise ValueError("Zieljahr liegt vor dem Basisjahr.")
    years = list(range(base_year, horizon_year + 1))
    school_ids = schools["school_id"].tolist()
    children = population_by_district_age(population, years)
    children = children[children["age"] == settings.entry_age]
    district_ids = tuple(sorted(children["district_id"].astype(int).unique()))
    at_entry_age = (
        children.pivot_table(index="year", columns="district_id", values="population", aggfunc="sum")
        .reindex(index=years, columns=list(district_ids))
    )
    if at_entry_age.isna().to_numpy().any():
        raise ValueError(
            f"Bevölkerungstabelle deckt die Jahre {base_year}–{horizon_year} nicht vollständig ab."
        )

    assignment_given = assignment is not None
    if assignment is None:
        assignment = default_assignment(schools, district_ids=district_ids)
    matrix = _assignment_matrix(assignment, district_ids, school_ids)  # (district, school)

    base = base_pupils_by_grade(schools).pivot(index="school_id", columns="grade", values="pupils")
    base = base.reindex(index=school_ids, columns=list(GRADES)).to_numpy(float)  # (school, grade)
    children_base = at_entry_age.loc[base_year].to_numpy(float)
    calibrated = base[:, 0].sum() / children_base.sum() if children_base.sum() > 0 else 0.0
    rates, rate_source = _entry_rates(entry_rate, district_ids, calibrated)

    progression = np.asarray(settings.progression)
    repetition = np.asarray(settings.repetition)
    pupils = np.empty((len(years), len(school_ids), len(GRADES)))
    pupils[0] = base
    entrants_by_district = at_entry_age.to_numpy(float) * rates[None]  # (year, district)
    for k in range(1, len(years)):
        previous = pupils[k - 1]
        pupils[k, :, 0] = entrants_by_district[k] @ matrix + repetition[0] * previous[:, 0]
        pupils[k, :, 1:] = (progression * (1 - repetition[:-1]))[None] * previous[:, :-1] \
            + repetition[1:][None] * previous[:, 1:]

    capacity = _capacity_table(capacities, schools, settings.class_size_max)
    class_size = capacity["class_size"].to_numpy(float)
    classes = _classes(pupils, class_size[None, :, None])

    grades_table = pd.DataFrame({
        "year": np.repeat(years, len(school_ids) * len(GRADES)),
        "school_id": np.tile(np.repeat(school_ids, len(GRADES)), len(years)),
        "grade": np.tile(GRADES, len(years) * len(school_ids)),
        "pupils": pupils.ravel(),
        "classes": classes.ravel().astype(int),
    })
    schools_table = _school_status(years, schools, capacity, pupils.sum(axis=2), classes.sum(axis=2))
    entrants_table = pd.DataFrame({
        "year": np.repeat(years[1:], len(district_ids)),
        "district_id": np.tile(district_ids, len(years) - 1),
        "children_at_entry_age": at_entry_age.to_numpy(float)[1:].ravel(),
        "entry_rate": np.tile(rates, len(years) - 1),
        "entrants": entrants_by_district[1:].ravel(),
    })
    synthetic = is_synthetic(population, schools)
    estimated = capacity["capacity_source"].eq(SOURCE_ESTIMATE)
    recorded = {
        **asdict(settings),
        "base_year": base_year,
        "horizon_year": horizon_year,
        "entry_rate": {int(d): float(r) for d, r in zip(district_ids, rates)},
        "entry_rate_source": rate_source,
        "assignment_source": "vorgegeben" if assignment_given
                             else "Standard: Schulen im Stadtteil nach Schülerzahl",
        "base_pupils": "aktuelle Schülerzahl gleichmäßig auf die angebotenen Jahrgänge verteilt",
        "children_at_entry_age": f"Alter {settings.entry_age} am 31.12. des Jahres",
        "capacities_estimated": capacity.loc[estimated, "school_id"].tolist(),
        "capacities_unknown": capacity.loc[capacity["capacity_places"].isna(), "school_id"].tolist(),
    }
    return SchoolDemandResult.labelled(schools=schools_table, grades=grades_table, entrants=entrants_table,
                                       assumptions=recorded, inputs=inputs, synthetic=synthetic)


def _school_status(years, schools, capacity, pupils, classes) -> pd.DataFrame:
    n_years, n_schools = pupils.shape
    table = pd.DataFrame({
        "year": np.repeat(years, n_schools),
        "school_id": np.tile(schools["school_id"].to_numpy(), n_years),
        "name": np.tile(schools["name"].to_numpy(), n_years),
        "pupils": pupils.ravel(),
        "classes": classes.ravel().astype(int),
    })
    table = table.merge(
        capacity[["school_id", "streams", "capacity_classes", "capacity_places", "capacity_source"]],
        on="school_id", how="left",
    )
    known = table["capacity_places"].notna()
    over_places = table["pupils"].round(_ROUNDING) > table["capacity_places"]
    over_classes = table["capacity_classes"].notna() & (table["classes"] > table["capacity_classes"])
    table["utilisation"] = table["pupils"] / table["capacity_places"].where(table["capacity_places"] > 0)
    table["over_capacity"] = pd.array((over_places | over_classes), dtype="boolean")
    table.loc[~known, "over_capacity"] = pd.NA
    table["status"] = np.where(~known, STATUS_UNKNOWN,
                               np.where(table["over_capacity"].fillna(False), STATUS_OVER, STATUS_OK))
    return table
