"""Primary-school demand: entrants, pupils by grade, classes and capacity per school and year.

    cohort_d(t, g) = f * children_d(t, 5 + g) + (1 - f) * children_d(t, 6 + g)
                     children of the school year starting in August of t who are in grade g
                     (ages in completed years at 31.12. of t; f = share of a birth year born
                     up to the school-entry cut-off, 181/365 for 30 June; f = 1: age 6 only)
    entrants_j(t)  = sum_d cohort_d(t, 1) * entry_rate_d * assignment[d, j]
    grade 1 (t+1)  = entrants(t+1) + repetition_1 * grade_1(t)
    grade g (t+1)  = progression_{g-1} * (1 - repetition_{g-1}) * grade_{g-1}(t)
                     + repetition_g * grade_g(t)                          (g = 2..4)
    classes        = ceil(pupils of a grade / class size), summed over the four grades
    capacity       = streams (Züge) x 4 grades x class size  (places),  streams x 4 (classes)
                     or the classrooms (Klassenräume) the school office gives

Calibration from the data (docs/planning-models.md, "Schulbedarf"):

* :func:`calibrate_entry_rate` - the municipal entry rate as a pooled ratio over every grade
  1-4 (and every school year the directory holds): sum of pupils in municipal schools / sum of
  the children of the matching cohorts; split into the coverage (all schools' pupils per child)
  and the municipal share (municipal pupils / all schools' pupils; private and Danish schools
  are counted as "other", not dropped).
* :func:`fit_assignment` - district -> school shares: a distance-based gravity matrix scaled by
  iterative proportional fitting so that each school's modelled base-year pupils equal its
  actual pupils.
* :func:`calibrate_progression` - grade-to-grade rates pooled over schools and years, where
  pupils by grade exist for at least two consecutive years.

Capacities are inputs. The model never invents them silently: a school without a capacity gets
the status "Kapazität unbekannt"; an estimate (:func:`estimate_capacities`, with a stated
headroom) is marked "Schätzung" in every result row that uses it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.i18n import format_number
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
ESTIMATE_LABEL = "geschätzte Kapazität"
_ROUNDING = 6  # decimals kept before ceil(), so 50.0000000001 pupils are not 3 classes of 25


@dataclass(frozen=True)
class SchoolSettings:
    """Planner settings of the school model, with their allowed ranges."""

    class_size_max: float = 25  # class-size norm (Klassenteiler), also used for capacities
    entry_age: int = 6
    progression: tuple[float, float, float] = (1.0, 1.0, 1.0)  # grade g -> g+1 (net of moves)
    repetition: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # share repeating grade g
    # share of a birth year born up to the school-entry cut-off (:func:`cutoff_share`): the entry
    # cohort is f x age entry_age + (1 - f) x age entry_age + 1 at 31.12.; 1.0 = age entry_age only
    entry_cutoff_share: float = 1.0
    # True: grade g -> g+1 also follows the change of the school's catchment cohort in the
    # population projection (children moving in and out), progression_eff = progression x
    # sum_d A[d, j] cohort_d(t, g+1) / sum_d A[d, j] cohort_d(t-1, g)
    follow_cohorts: bool = False

    def __post_init__(self) -> None:
        check_range("Klassengröße (Höchstwert)", self.class_size_max, 10, 35)
        check_range("Einschulungsalter", self.entry_age, 5, 7)
        check_range("Anteil eines Geburtsjahrgangs bis zum Einschulungsstichtag", self.entry_cutoff_share, 0.0, 1.0)
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


def base_pupils_by_grade(schools: pd.DataFrame, grade_weights: Sequence[float] | None = None) -> pd.DataFrame:
    """school_id, grade, pupils: current pupils spread over the grades a school offers.

    Only grades 1-4 are kept, e.g. a school with grades 1-10 and 300 pupils has 30 per grade.
    grade_weights (4 values, e.g. the city's children per grade cohort, :class:`EntryCalibration`):
    pupils per grade in proportion to them (grade g gets pupils / grades offered x w_g / mean(w));
    default: evenly. The directory gives pupils per school only, never per grade.
    """
    check_columns(schools, ["school_id", "pupils"], "Schulen")
    relative = np.ones(len(GRADES))
    if grade_weights is not None:
        weights = np.asarray(grade_weights, dtype=float)
        if weights.shape != (len(GRADES),) or not np.all(weights > 0):
            raise ValueError("Gewichte der Jahrgänge: 4 positive Werte (Klassen 1–4).")
        relative = weights / weights.mean()
    rows = []
    for school in schools.itertuples(index=False):
        first, last = grades_offered(getattr(school, "grades", None))
        per_grade = float(school.pupils) / (last - first + 1)
        rows += [(school.school_id, grade, per_grade * relative[k] if first <= grade <= last else 0.0)
                 for k, grade in enumerate(GRADES)]
    return pd.DataFrame(rows, columns=["school_id", "grade", "pupils"])


# --- calibration from the data ----------------------------------------------------------------

def cutoff_share(cutoff: str) -> float:
    """Share of a birth year born up to the school-entry cut-off (births spread evenly over a
    year of 365 days): '30.06.' -> 181/365 = 0.496; '31.12.' -> 1. Also 'MM-DD'."""
    text = str(cutoff).strip()
    match = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.?", text) or re.fullmatch(r"(\d{1,2})-(\d{1,2})", text)
    if not match:
        raise ValueError(f"Einschulungsstichtag „{cutoff}“ nicht lesbar (erwartet z. B. „30.06.“).")
    first, second = int(match.group(1)), int(match.group(2))
    day, month = (first, second) if "." in text else (second, first)
    days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= month <= 12 and 1 <= day <= days[month - 1]):
        raise ValueError(f"Einschulungsstichtag „{cutoff}“ ist kein Tag des Jahres.")
    return (sum(days[:month - 1]) + day) / 365


def school_cohorts(population: pd.DataFrame, years: Sequence[int], *, cutoff_share: float = 1.0,
                   entry_age: int = 6, grades: Sequence[int] = GRADES) -> pd.DataFrame:
    """year, district_id, grade, children: the children of the school year starting in August of
    ``year`` who belong in grade g, from ages in completed years at 31.12.:
    f x age (entry_age + g - 1) + (1 - f) x age (entry_age + g), f = ``cutoff_share``."""
    check_range("Anteil eines Geburtsjahrgangs bis zum Einschulungsstichtag", cutoff_share, 0.0, 1.0)
    years = [int(y) for y in years]
    ages = sorted({entry_age + g - 1 for g in grades} | ({entry_age + g for g in grades} if cutoff_share < 1 else set()))
    table = population_by_district_age(population, years)
    counts = table[table["age"].isin(ages)].pivot_table(index=["year", "district_id"], columns="age",
                                                        values="population", aggfunc="sum")
    missing_years = sorted(set(years) - set(counts.index.get_level_values("year")))
    missing_ages = [a for a in ages if a not in counts.columns]
    if missing_years or missing_ages:
        raise ValueError("Bevölkerungstabelle: für die Jahrgänge der Klassen 1–4 fehlen "
                         + (f"die Jahre {missing_years}" if missing_years else f"die Alter {missing_ages}") + ".")
    counts = counts.fillna(0.0)
    frames = []
    for grade in grades:
        younger = counts[entry_age + grade - 1]
        children = younger if cutoff_share >= 1 else cutoff_share * younger + (1 - cutoff_share) * counts[entry_age + grade]
        frames.append(children.rename("children").reset_index().assign(grade=int(grade)))
    out = pd.concat(frames, ignore_index=True)[["year", "district_id", "grade", "children"]]
    out["district_id"] = out["district_id"].astype(int)
    return out.sort_values(["year", "district_id", "grade"], ignore_index=True)


def municipal_flags(schools: pd.DataFrame, operators: Sequence[str] | None = None) -> pd.Series:
    """True for schools run by the city: ``operator`` (Schulträger) in ``operators`` (the city
    profile's list), else - without a list - every school not flagged ``private_school``."""
    if operators:
        check_columns(schools, ["operator"], "Schulen")
        wanted = {str(o).strip().casefold() for o in operators}
        return schools["operator"].astype(str).str.strip().str.casefold().isin(wanted).set_axis(schools.index)
    if "private_school" in schools.columns:
        return ~schools["private_school"].astype("boolean").fillna(False).astype(bool)
    return pd.Series(True, index=schools.index)


def pupils_in_grades(schools: pd.DataFrame, grades: Sequence[int] = GRADES) -> pd.Series:
    """Pupils of each school in ``grades`` (pupils x grades offered among them / grades offered);
    NaN where the directory gives no grade range (e.g. Förderzentren without 'Jahrgänge')."""
    out = []
    for school in schools.itertuples(index=False):
        value = getattr(school, "grades", None)
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out.append(np.nan)
            continue
        first, last = grades_offered(value)
        overlap = sum(first <= g <= last for g in grades)
        out.append(float(school.pupils) * overlap / (last - first + 1))
    return pd.Series(out, index=schools.index, dtype=float)


@dataclass(frozen=True)
class EntryCalibration:
    """The municipal entry rate estimated from the data (:func:`calibrate_entry_rate`).

    rate = municipal_pupils / children = coverage x municipal_share, pooled over the grades 1-4
    (four birth cohorts) and every school year in the data.
    """

    rate: float                     # municipal pupils per child of the cohorts (entry rate)
    coverage: float                 # pupils of all schools in the data per child
    municipal_share: float          # municipal pupils / pupils of all schools
    municipal_pupils: float         # grades 1-4, summed over the school years
    other_pupils: float             # grades 1-4 of schools not run by the city (private, Danish …)
    children: float                 # children of the matching cohorts, summed over grades and years
    years: tuple[int, ...]          # school years (start) pooled
    cutoff_share: float
    grade_weights: tuple[float, ...]  # children per grade 1-4 in the last year (base-year grade split)
    other_schools: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # schools without a grade range: not counted (named)
    schools: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    @property
    def cohorts(self) -> int:
        return len(GRADES) * len(self.years)

    def source_de(self) -> str:
        years = "/".join(str(y) for y in self.years)
        return (f"geschätzt: gepoolt über {self.cohorts} Jahrgänge (Klassen 1–4, Schuljahr(e) {years}): "
                f"{format_number(self.municipal_pupils)} Schüler städtischer Schulen ÷ "
                f"{format_number(self.children)} Kinder = {format_number(self.rate * 100, 1)} %; "
                f"davon Beschulungsquote aller Schulen {format_number(self.coverage * 100, 1)} % × "
                f"städtischer Anteil {format_number(self.municipal_share * 100, 1)} %")


def calibrate_entry_rate(schools: pd.DataFrame, population: pd.DataFrame, *, base_year: int,
                         operators: Sequence[str] | None = None, cutoff_share: float = 1.0,
                         entry_age: int = 6) -> EntryCalibration:
    """Entry rate of the municipal schools as a pooled ratio (several cohorts, several years).

    schools:    every school of the directory (municipal *and* others): school_id, name, pupils,
                grades ('1-4', '1-10' …), [operator] / [private_school], [year] (start of the
                school year; default ``base_year``). Pupils in grades 1-4 = pupils x grades
                offered among 1-4 / grades offered. Schools without a grade range are not
                counted and named in ``excluded``.
    population: year, district_id, [sex], age, population for those years (ages entry_age ..
                entry_age + 4 at 31.12.).
    rate = sum over school years t and grades g of municipal pupils_g(t)
           / sum over t, g of children cohort_g(t)          (:func:`school_cohorts`)
    Pooling four cohorts instead of grade 1 against the six-year-olds keeps one small or large
    birth year from setting the rate; it assumes the rate is the same for the four cohorts.
    """
    check_columns(schools, ["school_id", "pupils"], "Schulen")
    table = schools.copy()
    table["year"] = table["year"].astype(int) if "year" in table.columns else int(base_year)
    table["municipal"] = municipal_flags(table, operators).to_numpy()
    table["pupils_grades_1_4"] = pupils_in_grades(table).to_numpy()
    years = tuple(sorted(table["year"].unique().tolist()))
    cohorts = school_cohorts(population, years, cutoff_share=cutoff_share, entry_age=entry_age)
    children = float(cohorts["children"].sum())
    counted = table[table["pupils_grades_1_4"].notna()]
    municipal = float(counted.loc[counted["municipal"], "pupils_grades_1_4"].sum())
    other = float(counted.loc[~counted["municipal"], "pupils_grades_1_4"].sum())
    if children <= 0 or municipal <= 0:
        raise ValueError("Einschulungsquote nicht schätzbar: keine Kinder im Einschulungsalter oder keine Schüler "
                         "städtischer Schulen in den Klassen 1–4.")
    names = table["name"] if "name" in table.columns else table["school_id"]
    other_names = names[table["pupils_grades_1_4"].fillna(0).gt(0) & ~table["municipal"]]
    weights = cohorts[cohorts["year"] == years[-1]].groupby("grade")["children"].sum().reindex(list(GRADES))
    columns = [c for c in ("year", "school_id", "name", "operator", "grades", "pupils") if c in table.columns]
    return EntryCalibration(
        rate=municipal / children, coverage=(municipal + other) / children,
        municipal_share=municipal / (municipal + other), municipal_pupils=municipal, other_pupils=other,
        children=children, years=tuple(int(y) for y in years), cutoff_share=float(cutoff_share),
        grade_weights=tuple(float(w) for w in weights.fillna(0.0)),
        other_schools=tuple(str(n) for n in other_names),
        excluded=tuple(str(n) for n in names[table["pupils_grades_1_4"].isna()]),
        schools=table[columns + ["municipal", "pupils_grades_1_4"]].reset_index(drop=True),
    )


def calibrate_progression(grades_history: pd.DataFrame) -> tuple[float, float, float] | None:
    """Grade-to-grade rates pooled over schools and years, where pupils by grade exist:
    progression_g = sum_t pupils_{g+1}(t+1) / sum_t pupils_g(t), over the years t with both
    t and t+1 (columns year, grade, pupils; summed over schools). None without two consecutive
    years - then the model keeps 1.0 (moves of children come from the population projection
    only through the entrants)."""
    check_columns(grades_history, ["year", "grade", "pupils"], "Schüler je Jahrgang")
    table = grades_history.groupby(["year", "grade"])["pupils"].sum().unstack("grade")
    pairs = [t for t in table.index if t + 1 in table.index]
    if not pairs:
        return None
    rates = []
    for grade in GRADES[:-1]:
        before = sum(float(table.loc[t].get(grade, np.nan)) for t in pairs)
        after = sum(float(table.loc[t + 1].get(grade + 1, np.nan)) for t in pairs)
        if not (np.isfinite(before) and np.isfinite(after)) or before <= 0:
            return None
        rates.append(after / before)
    return tuple(rates)  # type: ignore[return-value]


def estimate_capacities(schools: pd.DataFrame, class_size: float = 25, headroom: float = 0.0,
                        grade_weights: Sequence[float] | None = None) -> pd.DataFrame:
    """Capacity estimate from current pupils with a stated headroom:
    streams = ceil(largest grade's pupils / class size x (1 + headroom)), at least 1.

    headroom 0 is the fewest streams that fit today's pupils (no room for a larger cohort);
    the city profile states the headroom the apps use. Returns school_id, streams, class_size,
    capacity_places, capacity_source = "Schätzung" - a starting point the planner replaces by
    the school office's streams (contract ``schulkapazitaeten``), never a silent default.
    """
    check_range("Klassengröße (Höchstwert)", class_size, 10, 35)
    check_range("Reserve der geschätzten Kapazität", headroom, 0.0, 1.0)
    per_grade = base_pupils_by_grade(schools, grade_weights).groupby("school_id", sort=False)["pupils"].max()
    streams = np.ceil(np.round(per_grade / class_size * (1 + headroom), _ROUNDING)).clip(lower=1)
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


def fit_assignment(seed: pd.DataFrame, demand: Mapping[int, float] | pd.Series,
                   pupils: Mapping[str, float] | pd.Series, *, tolerance: float = 1e-9,
                   max_iterations: int = 1000) -> pd.DataFrame:
    """District -> school shares fitted to today's enrolment by iterative proportional fitting.

    seed:    district_id, school_id, share (e.g. :func:`default_assignment`: a gravity model);
             only its pattern matters - IPF is unchanged by multiplying a row or a column.
    demand:  pupils of the projected schools living in each district (e.g. entry rate x the
             district's children of the grade 1-4 cohorts) - the row targets.
    pupils:  each school's actual pupils (grades 1-4) - the column targets.
    Rows and columns are scaled in turn until every school's column sum is within ``tolerance``
    (relative) of its pupils; the demand is first scaled to the schools' total (a pooled rate
    over several years leaves a small gap). Shares = fitted flows / district demand, so that
    sum_d demand_d x share_dj = pupils_j. A district without children keeps its seed row.
    ``attrs["ipf"]``: iterations and the largest remaining relative gap.
    """
    check_columns(seed, ["district_id", "school_id", "share"], "Zuordnung (Startwerte)")
    districts = sorted(int(d) for d in seed["district_id"].unique())
    school_ids = list(pd.unique(seed["school_id"]))
    matrix = (seed.pivot_table(index="district_id", columns="school_id", values="share", aggfunc="sum")
              .reindex(index=districts, columns=school_ids).fillna(0.0).to_numpy(float))
    rows = pd.Series(demand, dtype=float).reindex(districts).fillna(0.0).to_numpy()
    columns = pd.Series(pupils, dtype=float)
    missing = [j for j in school_ids if j not in columns.index]
    if missing:
        raise ValueError(f"Zuordnung anpassen: Schülerzahl fehlt für Schulen {missing}.")
    columns = columns.reindex(school_ids).to_numpy()
    if (rows < 0).any() or (columns < 0).any() or columns.sum() <= 0 or rows.sum() <= 0:
        raise ValueError("Zuordnung anpassen: Schülerzahlen und Kinder je Gebiet müssen positiv sein.")
    reachable = matrix[rows > 0].sum(axis=0)
    if np.any((columns > 0) & (reachable <= 0)):
        raise ValueError("Zuordnung anpassen: eine Schule mit Schülern erhält aus keinem Gebiet Kinder.")
    rows = rows * columns.sum() / rows.sum()
    flows = matrix * (rows > 0)[:, None]
    gap, iterations = np.inf, 0
    for iterations in range(1, max_iterations + 1):
        row_sums = flows.sum(axis=1)
        flows = flows * np.divide(rows, row_sums, out=np.zeros_like(rows), where=row_sums > 0)[:, None]
        col_sums = flows.sum(axis=0)
        flows = flows * np.divide(columns, col_sums, out=np.zeros_like(columns), where=col_sums > 0)[None, :]
        row_gap = np.abs(flows.sum(axis=1) - rows) / np.maximum(rows, 1e-12)
        gap = float(row_gap[rows > 0].max())
        if gap < tolerance:
            break
    shares = matrix / np.where(matrix.sum(axis=1, keepdims=True) > 0, matrix.sum(axis=1, keepdims=True), 1.0)
    has_demand = rows > 0
    shares[has_demand] = flows[has_demand] / rows[has_demand][:, None]
    out = pd.DataFrame({"district_id": np.repeat(districts, len(school_ids)),
                        "school_id": np.tile(school_ids, len(districts)), "share": shares.ravel()})
    out.attrs["ipf"] = {"iterations": iterations, "gap": gap, "converged": gap < tolerance}
    return out


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
    "classrooms": ("Klassenräume", 0, 60),
}


def _capacity_table(capacities: pd.DataFrame | None, schools: pd.DataFrame,
                    class_size: float) -> pd.DataFrame:
    """One row per school: CAPACITY_COLUMNS, NaN where the capacity is unknown.

    Classes (Klassenräume) are the given classrooms, else streams x 4 grades; places default to
    classes x class size; a given capacity without a source counts as the planner's input ("Eingabe").
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
    given["capacity_classes"] = given["classrooms"].fillna(given["streams"] * len(GRADES))
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
        return (np.full(len(district_ids), calibrated),
                "kalibriert im Basisjahr aus einem Jahrgang (Klasse 1 ÷ Einschulungsjahrgang, Gesamtstadt)")
    if isinstance(entry_rate, EntryCalibration):
        return np.full(len(district_ids), check_range("Einschulungsquote", entry_rate.rate, 0.0, 1.5)), \
            entry_rate.source_de()
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
    entry_rate: float | pd.DataFrame | EntryCalibration | None = None,
    settings: SchoolSettings = SchoolSettings(),
    inputs: Mapping[str, Any] | None = None,
    assignment_note: str | None = None,
) -> SchoolDemandResult:
    """Project pupils and classes of the given (primary) schools from ``base_year`` to ``horizon_year``.

    population:  year, district_id, [sex], age, population (one scenario, e.g. a projection's
                 ``population`` table) covering base_year..horizon_year.
    schools:     school_id, name, pupils (current, = base year), district_id, [grades '1-4'],
                 [lat/lon or geometry for the default assignment].
    capacities:  school_id, streams and/or capacity_places, [class_size], [capacity_source].
    assignment:  district_id, school_id, share (default: :func:`default_assignment` without
                 centroids); shares per district sum to 1.
    entry_rate:  share of the entry cohort who enter these schools: an :class:`EntryCalibration`
                 (:func:`calibrate_entry_rate`, pooled over several cohorts; its grade weights
                 also split the base-year pupils over the grades), a number or a table
                 district_id, entry_rate; without: base grade-1 pupils / entry cohort of the base
                 year (one cohort - kept for comparison, not what the app uses).
    The entry cohort of year t is f x age entry_age + (1 - f) x age entry_age + 1 at 31.12. of t,
    f = ``settings.entry_cutoff_share`` (f = 1: age entry_age only).
    """
    check_columns(schools, ["school_id", "name", "pupils"], "Schulen")
    if schools["school_id"].duplicated().any():
        raise ValueError("Schulen: Schulnummern müssen eindeutig sein.")
    if horizon_year < base_year:
        raise ValueError("Zieljahr liegt vor dem Basisjahr.")
    years = list(range(base_year, horizon_year + 1))
    school_ids = schools["school_id"].tolist()
    share = settings.entry_cutoff_share
    children = population_by_district_age(population, years)
    children = children[children["age"].isin([settings.entry_age, settings.entry_age + 1])]
    district_ids = tuple(sorted(children["district_id"].astype(int).unique()))

    def by_age(age: int) -> pd.DataFrame:
        table = (children[children["age"] == age]
                 .pivot_table(index="year", columns="district_id", values="population", aggfunc="sum")
                 .reindex(index=years, columns=list(district_ids)))
        if table.isna().to_numpy().any():
            raise ValueError(
                f"Bevölkerungstabelle deckt die Jahre {base_year}–{horizon_year} (Alter {age}) nicht vollständig ab."
            )
        return table

    at_entry_age = by_age(settings.entry_age)
    if share < 1:
        at_entry_age = share * at_entry_age + (1 - share) * by_age(settings.entry_age + 1)

    assignment_given = assignment is not None
    if assignment is None:
        assignment = default_assignment(schools, district_ids=district_ids)
    matrix = _assignment_matrix(assignment, district_ids, school_ids)  # (district, school)

    calibration = entry_rate if isinstance(entry_rate, EntryCalibration) else None
    weights = calibration.grade_weights if calibration is not None and all(
        w > 0 for w in calibration.grade_weights) else None
    base = base_pupils_by_grade(schools, weights).pivot(index="school_id", columns="grade", values="pupils")
    base = base.reindex(index=school_ids, columns=list(GRADES)).to_numpy(float)  # (school, grade)
    children_base = at_entry_age.loc[base_year].to_numpy(float)
    calibrated = base[:, 0].sum() / children_base.sum() if children_base.sum() > 0 else 0.0
    rates, rate_source = _entry_rates(entry_rate, district_ids, calibrated)

    progression = np.asarray(settings.progression)
    repetition = np.asarray(settings.repetition)
    pupils = np.empty((len(years), len(school_ids), len(GRADES)))
    pupils[0] = base
    entrants_by_district = at_entry_age.to_numpy(float) * rates[None]  # (year, district)
    cohort_ratio = _cohort_ratios(population, years, district_ids, matrix, settings) \
        if settings.follow_cohorts else np.ones((len(years), len(school_ids), len(GRADES) - 1))
    for k in range(1, len(years)):
        previous = pupils[k - 1]
        pupils[k, :, 0] = entrants_by_district[k] @ matrix + repetition[0] * previous[:, 0]
        pupils[k, :, 1:] = (progression * (1 - repetition[:-1]))[None] * cohort_ratio[k] * previous[:, :-1] \
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
        "assignment_source": assignment_note or ("vorgegeben" if assignment_given
                                                 else "Standard: Schulen im Stadtteil nach Schülerzahl"),
        "base_pupils": ("aktuelle Schülerzahl nach der Größe der Altersjahrgänge der Stadt auf die Klassen 1–4 "
                        "verteilt" if weights is not None
                        else "aktuelle Schülerzahl gleichmäßig auf die angebotenen Jahrgänge verteilt"),
        "children_at_entry_age": (f"Alter {settings.entry_age} am 31.12. des Jahres" if share >= 1 else
                                  f"{format_number(share * 100, 1)} % der {settings.entry_age}-Jährigen und "
                                  f"{format_number((1 - share) * 100, 1)} % der {settings.entry_age + 1}-Jährigen "
                                  f"am 31.12. (Einschulungsstichtag)"),
        "progression_source": ("Übergangsquoten × Veränderung des Jahrgangs im Einzugsbereich der Schule "
                               "(Zu- und Fortzüge von Kindern aus der Bevölkerungsprognose)"
                               if settings.follow_cohorts else "Übergangsquoten (Einstellung)"),
        "capacities_estimated": capacity.loc[estimated, "school_id"].tolist(),
        "capacities_unknown": capacity.loc[capacity["capacity_places"].isna(), "school_id"].tolist(),
    }
    if calibration is not None:
        recorded["entry_calibration"] = {
            "rate": calibration.rate, "coverage": calibration.coverage,
            "municipal_share": calibration.municipal_share, "municipal_pupils": calibration.municipal_pupils,
            "other_pupils": calibration.other_pupils, "children": calibration.children,
            "school_years": list(calibration.years), "other_schools": list(calibration.other_schools),
            "not_counted": list(calibration.excluded)}
    return SchoolDemandResult.labelled(schools=schools_table, grades=grades_table, entrants=entrants_table,
                                       assumptions=recorded, inputs=inputs, synthetic=synthetic)


def _cohort_ratios(population, years, district_ids, matrix, settings) -> np.ndarray:
    """(year, school, grade 1..3): change of each school's catchment cohort from grade g in t-1
    to grade g+1 in t, catchment = the assignment's shares (1 where a cohort is empty)."""
    cohorts = school_cohorts(population, years, cutoff_share=settings.entry_cutoff_share, entry_age=settings.entry_age)
    array = (cohorts.set_index(["year", "district_id", "grade"])["children"]
             .reindex(pd.MultiIndex.from_product([years, list(district_ids), list(GRADES)])).fillna(0.0)
             .to_numpy().reshape(len(years), len(district_ids), len(GRADES)))
    catchment = np.einsum("dj,tdg->tjg", matrix, array)  # (year, school, grade)
    ratio = np.ones((len(years), matrix.shape[1], len(GRADES) - 1))
    before, after = catchment[:-1, :, :-1], catchment[1:, :, 1:]
    ratio[1:] = np.divide(after, before, out=np.ones_like(after), where=before > 0)
    return ratio


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


ENTRANTS_BAND = 0.10  # first projected year's entrants within ±10 % of the base year's (plausibility check)


def entrants_check(result: SchoolDemandResult, band: float = ENTRANTS_BAND) -> dict[str, float | bool | int]:
    """The first projected year's entrants against the base year's grade-1 pupils (all schools
    of the result): {'base_year', 'year', 'observed', 'projected', 'change' (relative),
    'band', 'within'}. With a pooled entry rate and grade weights from the cohorts, the change
    is the change of the entry cohort; a jump outside the band points at the calibration."""
    grades = result.grades
    base_year = int(grades["year"].min())
    first = base_year + 1
    observed = float(grades.loc[(grades["year"] == base_year) & (grades["grade"] == 1), "pupils"].sum())
    projected = float(result.entrants.loc[result.entrants["year"] == first, "entrants"].sum())
    change = projected / observed - 1 if observed > 0 else float("nan")
    return {"base_year": base_year, "year": first, "observed": observed, "projected": projected,
            "change": change, "band": band, "within": bool(abs(change) <= band)}
