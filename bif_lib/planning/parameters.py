"""Parameters of the cohort-component projection, and their estimation from register history.

Age convention (used by every rate): a rate at age x applies to the cohort that is aged x
(completed years) at the END of the projection year, i.e. to the persons aged x-1 at its start
(for x = 0: the year's births; for the open class: ages max-1 and max). Fertility likewise is
indexed by the mother's age at the end of the year of birth ("Geburtsjahrmethode") and applies to
the women of that cohort at the start of the year.
Register events may state the age at 31.12. of the event year (``event_age="year_end"``, as the
synthetic register does: age = year - birth_year) - that is the cohort age directly - or the exact
age at the event (``event_age="at_event"``); such an event belongs to cohort age ``age`` if the
birthday has already passed in that year and to ``age + 1`` otherwise, so it is split 50/50
(birthdays are spread evenly over the year).

Estimation (documented in docs/planning-models.md, "Parameter estimation"):
  1. pool events and exposures over the years of the base period; for fertility and migration
     each year y is weighted 0.5 ** ((last - y) / half_life) (``year_weight_half_life``; None =
     equal weights), normalised to a mean of 1, so recent years weigh more and the weighted
     counts keep the size of the pooled counts (the credibility weights below stay comparable);
     mortality stays pooled with equal weights (deaths are few; trends come from the scenarios);
  2. per sex, a city-wide age schedule from age-smoothed events / age-smoothed exposures
     (binomial kernel, so single ages borrow strength from neighbouring ages); a sex with fewer
     than ``min_events_by_sex`` events city-wide gets the schedule of both sexes;
  3. per district and sex, a level factor (observed / expected events) shrunk towards 1 with
     ``pseudo_events`` (a credibility weight): small districts stay close to the city schedule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
from bif_lib.planning.lifetable import life_table, survival_ratios

FERTILE_AGES = (15, 49)
DEFAULT_BASE_PERIOD_YEARS = 5  # default base period: the five years up to the base year
DEFAULT_SHARE_BOYS = 105 / 205  # sex ratio at birth of 105 boys per 100 girls (long-run German level)


@dataclass(frozen=True)
class SmoothingSettings:
    """How rates are stabilised for small numbers (see module docstring)."""

    age_kernel: tuple[float, ...] = (1.0, 4.0, 6.0, 4.0, 1.0)  # binomial, +-2 years
    pseudo_events: float = 20.0  # credibility of district level factors (events)
    profile_pseudo_count: float = 200.0  # credibility of district in-mover/destination profiles
    boys_prior_births: float = 2000.0  # weight of DEFAULT_SHARE_BOYS against observed births
    min_events_by_sex: float = 50.0  # fewer city-wide events of one sex: use the schedule of both sexes
    # weight of year y for fertility and migration: 0.5 ** ((last year - y) / half-life), normalised to
    # a mean of 1 over the base period; None = all years weigh the same (plain pooling). Default 1 year:
    # each year counts half as much as the next (2018-2022: the last year 52 %, the last two 77 %)
    year_weight_half_life: float | None = 1.0


def year_weights(first: int, last: int, half_life: float | None) -> dict[int, float]:
    """{year: weight} for the base period: 0.5 ** ((last - year) / half_life), mean 1.

    Example (half-life 1 year, 2018-2022): raw 1/16, 1/8, 1/4, 1/2, 1 (sum 1.9375) -> x 5 / 1.9375
    = 0.161, 0.323, 0.645, 1.290, 2.581; the last year carries 51.6 % of the weight instead of 20 %.
    """
    years = range(first, last + 1)
    if half_life is None:
        return {year: 1.0 for year in years}
    if not half_life > 0:
        raise ValueError("Halbwertszeit der Jahresgewichte muss positiv sein.")
    raw = {year: 0.5 ** ((last - year) / half_life) for year in years}
    scale = len(raw) / sum(raw.values())
    return {year: weight * scale for year, weight in raw.items()}


@dataclass(frozen=True, eq=False)
class ProjectionParameters:
    """Rates of the cohort-component model; arrays use the order of ``district_ids`` and SEXES.

    Shapes (D districts, X = max_age + 1 ages):
      survival          (2, X)  life-table survival ratio ``sx`` by cohort age
      mortality_factor  (D, 2)  hazard multiplier of the district relative to the life table
      fertility         (D, X)  births per woman of the cohort, by the mother's age at the end
                        of the year of birth (applied to the women aged x-1 at its start)
      out_rate          (D, 2, X) probability of moving out of the city, by cohort age
      internal_rate     (D, 2, X) probability of moving to another district, by cohort age
      destination       (D, D)  where internal movers go: rows sum to 1, zero diagonal
      in_profile        (D, 2, X) distribution of the city's in-movers over district, sex and
                        cohort age; sums to 1
    """

    district_ids: tuple[int, ...]
    survival: np.ndarray
    mortality_factor: np.ndarray
    fertility: np.ndarray
    share_boys: float
    out_rate: np.ndarray
    internal_rate: np.ndarray
    destination: np.ndarray
    in_volume: float  # persons moving into the city per year
    in_profile: np.ndarray
    base_period: tuple[int, int] | None = None
    # the last observed year of the base period, city-wide, relative to its start population:
    # {"year", "birth_rate", "death_rate", "in_rate", "out_rate", "population_ratio"} (end / start) (None: unknown)
    last_year: dict[str, float] | None = None
    method: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False

    def __post_init__(self) -> None:
        n_districts, n_ages = len(self.district_ids), np.shape(self.survival)[-1]
        expected_shapes = {
            "survival": (2, n_ages),
            "mortality_factor": (n_districts, 2),
            "fertility": (n_districts, n_ages),
            "out_rate": (n_districts, 2, n_ages),
            "internal_rate": (n_districts, 2, n_ages),
            "destination": (n_districts, n_districts),
            "in_profile": (n_districts, 2, n_ages),
        }
        for name, shape in expected_shapes.items():
            array = np.asarray(getattr(self, name), dtype=float)
            if array.shape != shape:
                raise ValueError(f"Parameter {name}: Form {array.shape}, erwartet {shape}.")
            if not np.isfinite(array).all() or (array < 0).any():
                raise ValueError(f"Parameter {name}: Werte müssen endlich und nicht negativ sein.")
            object.__setattr__(self, name, array)
        if n_ages < 2:
            raise ValueError("Mindestens zwei Altersjahre erforderlich.")
        for name in ("survival", "out_rate", "internal_rate"):
            if (getattr(self, name) > 1).any():
                raise ValueError(f"Parameter {name}: Wahrscheinlichkeiten müssen zwischen 0 und 1 liegen.")
        if not 0 <= self.share_boys <= 1:
            raise ValueError("Anteil Jungen an den Geburten muss zwischen 0 und 1 liegen.")
        if self.in_volume < 0:
            raise ValueError("Zuzüge je Jahr dürfen nicht negativ sein.")
        if self.in_volume > 0 and not np.isclose(self.in_profile.sum(), 1.0):
            raise ValueError("Das Zuzugsprofil muss sich zu 1 summieren.")
        if np.diag(self.destination).any():
            raise ValueError(
                "Zielmatrix der Umzüge: Diagonale muss 0 sein (Umzug in einen anderen Stadtteil)."
            )
        row_sums = self.destination.sum(axis=1)
        if not np.all(np.isclose(row_sums, 1.0) | (row_sums == 0)):
            raise ValueError("Zielmatrix der Umzüge: jede Zeile muss sich zu 1 summieren.")
        moving_but_nowhere = (self.internal_rate.sum(axis=(1, 2)) > 0) & (row_sums == 0)
        if moving_but_nowhere.any():
            raise ValueError("Zielmatrix der Umzüge: Stadtteil mit Fortzügen, aber ohne Ziel.")

    @property
    def max_age(self) -> int:
        return self.survival.shape[-1] - 1

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Tidy tables of all parameters (for inspection, storage and the apps)."""
        ages = np.arange(self.max_age + 1)
        by_district_sex_age = pd.MultiIndex.from_product(
            [self.district_ids, SEXES, ages], names=["district_id", "sex", "age"]
        )
        rates = pd.DataFrame(
            {
                "out_rate": self.out_rate.ravel(),
                "internal_rate": self.internal_rate.ravel(),
                "in_profile": self.in_profile.ravel(),
            },
            index=by_district_sex_age,
        ).reset_index()
        fertility = pd.DataFrame(
            {"fertility": self.fertility.ravel()},
            index=pd.MultiIndex.from_product([self.district_ids, ages], names=["district_id", "age"]),
        ).reset_index()
        mortality = pd.DataFrame(
            {"mortality_factor": self.mortality_factor.ravel()},
            index=pd.MultiIndex.from_product([self.district_ids, SEXES], names=["district_id", "sex"]),
        ).reset_index()
        destination = pd.DataFrame(
            {"share": self.destination.ravel()},
            index=pd.MultiIndex.from_product(
                [self.district_ids, self.district_ids], names=["from_district_id", "to_district_id"]
            ),
        ).reset_index()
        survival = pd.DataFrame(
            {"sx": self.survival.ravel()},
            index=pd.MultiIndex.from_product([SEXES, ages], names=["sex", "age"]),
        ).reset_index()
        scalars = pd.DataFrame(
            {"parameter": ["share_boys", "in_volume"], "value": [self.share_boys, self.in_volume]}
        )
        frames = {
            "rates": rates, "fertility": fertility, "mortality_factor": mortality,
            "destination": destination, "survival": survival, "scalars": scalars,
        }
        return {name: label_frame(frame, self.synthetic) for name, frame in frames.items()}


# --- register extracts -> arrays ---------------------------------------------------------------

def base_population_from_register(
    persons: pd.DataFrame, year: int, max_age: int = MAX_AGE
) -> pd.DataFrame:
    """Base population (district_id, sex, age, population) from the register extract of ``year``."""
    check_columns(persons, ["extract_year", "district_id", "sex", "age"], "Personen")
    extract = persons[persons["extract_year"] == year]
    if extract.empty:
        raise ValueError(f"Kein Registerauszug für das Jahr {year} vorhanden.")
    counts = (
        extract.assign(age=extract["age"].clip(upper=max_age).astype(int))
        .groupby(["district_id", "sex", "age"]).size()
    )
    full_index = pd.MultiIndex.from_product(
        [sorted(extract["district_id"].dropna().astype(int).unique()), SEXES, range(max_age + 1)],
        names=["district_id", "sex", "age"],
    )
    table = counts.reindex(full_index, fill_value=0).rename("population").astype(float).reset_index()
    return label_frame(table, is_synthetic(persons))


def population_array(
    population: pd.DataFrame, district_ids: tuple[int, ...], max_age: int,
    what_de: str = "Basisbevölkerung",
) -> np.ndarray:
    """(district, sex, age) array from a table district_id, sex, age, population."""
    check_columns(population, ["district_id", "sex", "age", "population"], what_de)
    sexes = population["sex"].to_numpy(dtype=object)
    unknown_sex = set(sexes[~np.isin(sexes, SEXES)])
    if unknown_sex:
        raise ValueError(f"{what_de}: unbekannte Geschlechtsangaben {sorted(map(str, unknown_sex))}.")
    districts = population["district_id"].to_numpy(dtype=int)
    unknown_districts = set(districts[~np.isin(districts, district_ids)].tolist())
    if unknown_districts:
        raise ValueError(f"{what_de}: unbekannte Stadtteile {sorted(unknown_districts)}.")
    values = population["population"].to_numpy(dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError(f"{what_de}: Werte müssen vorhanden und nicht negativ sein.")
    order = np.argsort(district_ids)
    d = order[np.searchsorted(np.asarray(district_ids)[order], districts)]
    s = (sexes == SEXES[1]).astype(int)
    a = np.minimum(population["age"].to_numpy(dtype=int), max_age)
    array = np.zeros((len(district_ids), 2, max_age + 1))
    np.add.at(array, (d, s, a), values)
    return array


def _stock_arrays(persons, district_ids, max_age) -> dict[int, np.ndarray]:
    check_columns(persons, ["extract_year", "district_id", "sex", "age"], "Personen")
    stocks = {}
    for year, extract in persons.groupby("extract_year"):
        counts = (
            extract.assign(age=extract["age"].clip(upper=max_age).astype(int))
            .groupby(["district_id", "sex", "age"]).size().rename("population").reset_index()
        )
        counts = counts[counts["district_id"].isin(district_ids)]
        stocks[int(year)] = population_array(counts, district_ids, max_age)
    return stocks


def _start_stock(stocks: dict[int, np.ndarray], year: int) -> tuple[np.ndarray, int]:
    """Population at the start of ``year`` = extract of 31.12. of the previous year.

    If that extract is missing, the nearest available one is used (recorded in ``method``).
    """
    wanted = year - 1
    nearest = min(stocks, key=lambda available: (abs(available - wanted), available))
    return stocks[nearest], nearest


def _cohort_exposure(start: np.ndarray, births_by_sex: np.ndarray) -> np.ndarray:
    """Persons exposed per cohort age: births for age 0, start stock shifted up one year."""
    exposure = np.empty_like(start)
    exposure[..., 0] = births_by_sex
    exposure[..., 1:-1] = start[..., :-2]
    exposure[..., -1] = start[..., -2] + start[..., -1]
    return exposure


EVENT_AGE_BASES = ("year_end", "at_event")


def _events_by_cohort_age(events, district_ids, max_age, event_age, age_column="age") -> np.ndarray:
    """Count events per (district, sex, cohort age); see the module docstring for ``event_age``."""
    counts = np.zeros((len(district_ids), 2, max_age + 1))
    if events.empty:
        return counts
    district_index = {district: i for i, district in enumerate(district_ids)}
    d = events["district_id"].astype(int).map(district_index).to_numpy()
    s = events["sex"].map({sex: i for i, sex in enumerate(SEXES)}).to_numpy()
    age = events[age_column].astype(int).clip(upper=max_age).to_numpy()
    if event_age == "year_end":
        np.add.at(counts, (d, s, age), 1.0)
    else:
        np.add.at(counts, (d, s, age), 0.5)
        np.add.at(counts, (d, s, np.minimum(age + 1, max_age)), 0.5)
    return counts


def _count_by_district_sex(events, district_ids) -> np.ndarray:
    counts = (
        events.groupby([events["district_id"].astype(int), "sex"]).size()
        .reindex(pd.MultiIndex.from_product([district_ids, SEXES]), fill_value=0)
    )
    return counts.to_numpy(dtype=float).reshape(len(district_ids), 2)


def _smooth_over_age(array: np.ndarray, kernel: tuple[float, ...]) -> np.ndarray:
    """Moving weighted sum over the last axis with zero padding (kernel normalised to 1)."""
    weights = np.asarray(kernel, dtype=float)
    weights = weights / weights.sum()
    half = len(weights) // 2
    padded = np.pad(array, [(0, 0)] * (array.ndim - 1) + [(half, half)])
    n = array.shape[-1]
    return sum(weight * padded[..., k : k + n] for k, weight in enumerate(weights))


def _ratio(numerator, denominator, default: float = 0.0) -> np.ndarray:
    """numerator / denominator, ``default`` where the denominator is 0 (no exposure, no information)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    out = np.full(np.broadcast(numerator, denominator).shape, default)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def scaled_rates(events: np.ndarray, exposure: np.ndarray, smoothing: SmoothingSettings) -> np.ndarray:
    """Rates (district, sex, age): smoothed city schedule x shrunk district level factor."""
    city_events, city_exposure = events.sum(axis=0), exposure.sum(axis=0)  # (sex, age)
    smoothed_events = _smooth_over_age(city_events, smoothing.age_kernel)
    smoothed_exposure = _smooth_over_age(city_exposure, smoothing.age_kernel)
    city_schedule = _ratio(smoothed_events, smoothed_exposure)
    # A sex with too few events city-wide gets the age schedule of both sexes together.
    both_sexes = _ratio(smoothed_events.sum(axis=0), smoothed_exposure.sum(axis=0))
    too_few = city_events.sum(axis=-1) < smoothing.min_events_by_sex
    city_schedule[too_few] = both_sexes
    expected = (exposure * city_schedule[None]).sum(axis=-1)
    observed = events.sum(axis=-1)
    factor = _ratio(observed + smoothing.pseudo_events, expected + smoothing.pseudo_events, default=1.0)
    return np.clip(city_schedule[None] * factor[..., None], 0.0, 1.0)


def _shrunk_profile(counts: np.ndarray, smoothing: SmoothingSettings) -> np.ndarray:
    """Distribution over (district, sex, age) of e.g. in-movers, sums to 1.

    District shares are observed; each district's sex-age profile is its own (age-smoothed)
    profile shrunk towards the city profile with ``profile_pseudo_count`` pseudo-movers.
    """
    total = counts.sum()
    if total == 0:
        return np.zeros_like(counts)
    smoothed = _smooth_over_age(counts, smoothing.age_kernel)
    city_profile = smoothed.sum(axis=0) / smoothed.sum()
    per_district = smoothed.sum(axis=(1, 2))
    own_profile = smoothed / np.where(per_district > 0, per_district, 1.0)[:, None, None]
    weight = per_district / (per_district + smoothing.profile_pseudo_count)
    profile = weight[:, None, None] * own_profile + (1 - weight)[:, None, None] * city_profile[None]
    district_share = counts.sum(axis=(1, 2)) / total
    return district_share[:, None, None] * profile


def _destination_matrix(flows: np.ndarray, smoothing: SmoothingSettings) -> np.ndarray:
    """Row-stochastic destination shares, shrunk towards the city-wide attractiveness."""
    flows = flows * (1 - np.eye(len(flows)))
    attractiveness = flows.sum(axis=0)
    if attractiveness.sum() == 0:
        attractiveness = np.ones(len(flows))
    prior = np.tile(attractiveness / attractiveness.sum(), (len(flows), 1)) * (1 - np.eye(len(flows)))
    prior = _ratio(prior, prior.sum(axis=1, keepdims=True))  # one district: no other destination
    smoothed = flows + smoothing.profile_pseudo_count * prior
    return _ratio(smoothed, smoothed.sum(axis=1, keepdims=True))


EVENT_KINDS = ("birth", "death", "move_in", "move_out", "move_within")


def estimate_parameters(
    persons: pd.DataFrame,
    events: pd.DataFrame,
    base_period: tuple[int, int] = (2018, 2022),
    *,
    event_age: str = "year_end",
    lifetable: pd.DataFrame | None = None,
    smoothing: SmoothingSettings = SmoothingSettings(),
    district_ids: tuple[int, ...] | None = None,
    max_age: int = MAX_AGE,
    inputs: dict[str, Any] | None = None,
) -> ProjectionParameters:
    """Estimate all projection rates from register extracts and events of ``base_period``.

    persons:   extract_year, district_id, sex, age (one row per person and yearly extract of 31.12.)
    events:    year, event ('birth','death','move_in','move_out','move_within'), district_id
               (origin for move_within), to_district_id, age, sex, mother_age (births)
    event_age: 'year_end' if ``age``/``mother_age`` are completed years at 31.12. of the event year
               (the synthetic register), 'at_event' if they are ages at the event.
    Mortality comes from ``lifetable`` (default: :func:`life_table`), with district factors
    estimated from the register deaths; everything else from the events.
    district_ids: the districts to estimate for (e.g. the profile's ``districts.codes``); default:
               every district found in the extracts, in ascending order.
    """
    check_columns(events, ["year", "event", "district_id", "age", "sex"], "Ereignisse")
    if event_age not in EVENT_AGE_BASES:
        raise ValueError(f"event_age muss einer von {EVENT_AGE_BASES} sein.")
    first, last = base_period
    if first > last:
        raise ValueError("Basiszeitraum: Anfangsjahr liegt nach dem Endjahr.")
    lifetable = life_table(max_age=max_age) if lifetable is None else lifetable
    survival = survival_ratios(lifetable, max_age)
    district_ids = district_ids_from(persons) if district_ids is None else tuple(district_ids)
    stocks = _stock_arrays(persons, district_ids, max_age)
    if not stocks:
        raise ValueError("Keine Registerauszüge vorhanden.")

    in_period = events[events["year"].between(first, last) & events["district_id"].isin(district_ids)]
    shape = (len(district_ids), 2, max_age + 1)
    totals = {name: np.zeros(shape)
              for name in ("exposure", "weighted_exposure", "deaths", "out", "internal", "in", "mothers")}
    weights = year_weights(first, last, smoothing.year_weight_half_life)
    flows = np.zeros((len(district_ids), len(district_ids)))
    births_by_sex_total = np.zeros(2)
    start_extract_used = {}
    last_year = None

    def by_cohort_age(frame, age_column="age"):
        return _events_by_cohort_age(frame, district_ids, max_age, event_age, age_column)

    for year in range(first, last + 1):
        start, start_extract_used[year] = _start_stock(stocks, year)
        year_events = in_period[in_period["year"] == year]
        of_kind = {kind: year_events[year_events["event"] == kind] for kind in EVENT_KINDS}
        births_by_sex = _count_by_district_sex(of_kind["birth"], district_ids)
        births_by_sex_total += births_by_sex.sum(axis=0)
        exposure = _cohort_exposure(start, births_by_sex)
        weight = weights[year]
        totals["exposure"] += exposure
        totals["weighted_exposure"] += weight * exposure
        totals["deaths"] += by_cohort_age(of_kind["death"])
        totals["out"] += weight * by_cohort_age(of_kind["move_out"])
        totals["in"] += weight * by_cohort_age(of_kind["move_in"])
        # Moves inside one Stadtteil do not change its population and are ignored.
        within = of_kind["move_within"]
        within = within[within["to_district_id"].isin(district_ids)
                        & (within["to_district_id"] != within["district_id"])]
        totals["internal"] += weight * by_cohort_age(within)
        flows += weight * _flow_matrix(within, district_ids)
        mothers = of_kind["birth"].dropna(subset=["mother_age"])
        totals["mothers"] += weight * by_cohort_age(mothers.assign(sex="w"), age_column="mother_age")
        if year == last:
            last_year = _last_year_rates(year, start, stocks.get(year), of_kind)

    fertile = (np.arange(max_age + 1) >= FERTILE_AGES[0]) & (np.arange(max_age + 1) <= FERTILE_AGES[1])
    fertility = scaled_rates(totals["mothers"][:, 1:], totals["weighted_exposure"][:, 1:], smoothing)[:, 0] \
        * fertile

    expected_deaths = (totals["exposure"] * (1 - survival)[None]).sum(axis=-1)
    observed_deaths = totals["deaths"].sum(axis=-1)
    alpha = smoothing.pseudo_events
    city_factor = _ratio(observed_deaths.sum(axis=0) + alpha, expected_deaths.sum(axis=0) + alpha, 1.0)
    mortality_factor = _ratio(observed_deaths + alpha * city_factor, expected_deaths + alpha, 1.0)
    mortality_factor = np.where(expected_deaths + alpha > 0, mortality_factor, city_factor[None])

    boys, girls = births_by_sex_total
    prior = smoothing.boys_prior_births
    share_boys = float(_ratio(boys + prior * DEFAULT_SHARE_BOYS, boys + girls + prior, DEFAULT_SHARE_BOYS))

    method = {
        "base_period": [first, last],
        "start_stock_extract_by_year": start_extract_used,
        "event_age": event_age,
        "age_convention": "Kohortenalter am Jahresende (vollendete Jahre am 31.12.)",
        "smoothing": asdict(smoothing),
        "year_weights": {year: round(weight, 6) for year, weight in weights.items()},
        "year_weights_apply_to": "Geburten und Wanderungen (Sterblichkeit: alle Jahre gleich)",
        "fertile_ages": list(FERTILE_AGES),
        "lifetable": lifetable.attrs.get("bif", {}).get("lifetable", "custom"),
        "events_used": {kind: int((in_period["event"] == kind).sum()) for kind in EVENT_KINDS},
        "observed_deaths": float(observed_deaths.sum()),
        "expected_deaths_lifetable": float(expected_deaths.sum()),
    }
    return ProjectionParameters(
        district_ids=tuple(district_ids),
        survival=survival,
        mortality_factor=mortality_factor,
        fertility=fertility,
        share_boys=share_boys,
        out_rate=scaled_rates(totals["out"], totals["weighted_exposure"], smoothing),
        internal_rate=scaled_rates(totals["internal"], totals["weighted_exposure"], smoothing),
        destination=_destination_matrix(flows, smoothing),
        in_volume=float(totals["in"].sum() / (last - first + 1)),  # weights have mean 1
        in_profile=_shrunk_profile(totals["in"], smoothing),
        base_period=(first, last),
        last_year=last_year,
        method=method,
        inputs=merge_inputs(inputs),
        synthetic=is_synthetic(persons, events),
    )


def _last_year_rates(year: int, start: np.ndarray, end: np.ndarray | None,
                     of_kind: dict[str, pd.DataFrame]) -> dict[str, float] | None:
    """City-wide components of ``year`` per person of its start population (see ``last_year``)."""
    population_start = float(start.sum())
    if population_start <= 0:
        return None
    counts = {name: float(len(of_kind[kind])) for name, kind in
              (("birth_rate", "birth"), ("death_rate", "death"), ("in_rate", "move_in"), ("out_rate", "move_out"))}
    rates = {name: count / population_start for name, count in counts.items()}
    if end is not None:
        ratio = float(end.sum()) / population_start
    else:  # no extract of the year itself: the balance of the events
        ratio = 1.0 + rates["birth_rate"] - rates["death_rate"] + rates["in_rate"] - rates["out_rate"]
    return {"year": float(year), **rates, "population_ratio": ratio}


def _flow_matrix(moves: pd.DataFrame, district_ids) -> np.ndarray:
    flows = np.zeros((len(district_ids), len(district_ids)))
    district_index = {district: i for i, district in enumerate(district_ids)}
    np.add.at(flows, (moves["district_id"].astype(int).map(district_index).to_numpy(),
                      moves["to_district_id"].astype(int).map(district_index).to_numpy()), 1.0)
    return flows


@dataclass(frozen=True, eq=False)
class ProjectionInputs:
    """Everything a projection needs from the register: base population and parameters."""

    base_year: int
    base_population: pd.DataFrame
    parameters: ProjectionParameters


def projection_inputs_from_register(
    persons: pd.DataFrame,
    events: pd.DataFrame,
    *,
    base_year: int | None = None,
    base_period: tuple[int, int] | None = None,
    inputs: dict[str, Any] | None = None,
    **estimation_options,
) -> ProjectionInputs:
    """Base population of ``base_year`` (default: latest extract) and parameters of ``base_period``.

    Default base period: the (up to) five years ending with ``base_year`` whose start extract
    exists - parameters never use a year after the base year unless ``base_period`` says so (a
    back-test from an earlier base year then estimates only from what was known then).
    """
    check_columns(persons, ["extract_year"], "Personen")
    base_year = int(persons["extract_year"].max()) if base_year is None else int(base_year)
    if base_period is None:
        first_extract = int(persons["extract_year"].min())
        if base_year <= first_extract:
            raise ValueError(f"Basisjahr {base_year}: Für die Schätzung sind Registerauszüge vor dem Basisjahr "
                             f"nötig (erster Auszug: {first_extract}).")
        base_period = (max(base_year - DEFAULT_BASE_PERIOD_YEARS + 1, first_extract + 1), base_year)
    parameters = estimate_parameters(persons, events, tuple(base_period), inputs=inputs, **estimation_options)
    base_population = base_population_from_register(persons, base_year, parameters.max_age)
    base_population = base_population[base_population["district_id"].isin(parameters.district_ids)]
    return ProjectionInputs(base_year, label_frame(base_population.reset_index(drop=True),
                                                   parameters.synthetic), parameters)
