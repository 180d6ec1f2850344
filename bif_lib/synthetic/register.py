"""Seeded synthetic resident register (Melderegister extract) calibrated to the published totals.

Person-level register data is never public. This module generates *synthetic* microdata – no row
describes a real person – whose aggregates reproduce the published figures the city profile
declares (``generated.synthetic_register.totals``) exactly where they are consistent (see
``docs/synthetic-register.md`` and :func:`aggregate_check`). The output is classified
confidential and labelled synthetic everywhere (``DataFrame.attrs["bif"]["synthetic"] is True``).

Usage::

    totals = totals_from_profile(profile, store)       # the verified store datasets city.yaml names
    register = generate_register(totals, seed=20221231, years=range(2017, 2023))
    register.extract(2022)          # residents at 31.12.2022
    aggregate_check(register, totals)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bif_lib.synthetic import demography, households
from bif_lib.synthetic.events import EVENT_KINDS, reported_age
from bif_lib.synthetic.geography import Geography
from bif_lib.synthetic.population import NATIONALITY_GROUPS, People
from bif_lib.synthetic.simulation import RegisterSimulation
from bif_lib.synthetic.targets import CalibrationTargets, derive_targets
from bif_lib.synthetic.totals import AgeTable, PublishedTotals, TotalsError, district_rows

__all__ = ["PublishedTotals", "SyntheticRegister", "TotalsError", "aggregate_check", "generate_register",
           "totals_from_profile"]

GENERATOR = "bif_lib.synthetic.register"
SEX_CODES = np.array(["m", "w"], dtype=object)  # index: is_female


@dataclass
class SyntheticRegister:
    """Yearly register extracts (31.12.) and the events between them. Synthetic, confidential."""

    persons: pd.DataFrame  # extract_year, person_id, district_id, bezirk_id, birth_year, age, sex,
    #                        nationality_group, household_id, moved_in_date
    events: pd.DataFrame  # year, event, person_id, district_id, to_district_id, age, sex, mother_id, mother_age
    seed: int
    assumptions: dict

    def extract(self, year: int) -> pd.DataFrame:
        """Residents at 31.12.``year``."""
        return self.persons[self.persons["extract_year"] == year].reset_index(drop=True)


def generate_register(totals: PublishedTotals, *, seed: int = 20221231,
                      years: range = range(2017, 2023)) -> SyntheticRegister:
    """Generate the register history for consecutive ``years``; same seed → identical DataFrames."""
    years = _consecutive_years(years)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    targets = derive_targets(totals, years)
    geography = Geography.from_table(totals.subdistricts, targets.district_ids, totals.district_label)
    simulation = RegisterSimulation(targets, geography, int(seed))

    extracts = [simulation.first_extract(years[0])]
    for year in years[1:]:
        extracts.append(simulation.advance(extracts[-1], year))

    label = _label(int(seed), years)
    persons = _persons_frame(extracts, years, geography)
    persons.attrs["bif"] = {**label, "title_de": "Synthetisches Melderegister: Einwohner je Stichtag (synthetisch)"}
    events = _events_frame(simulation.events.columns())
    events.attrs["bif"] = {**label, "title_de": "Synthetisches Melderegister: Bewegungen (synthetisch)"}
    return SyntheticRegister(persons=persons, events=events, seed=int(seed),
                             assumptions=_assumptions(int(seed), years, targets, geography, totals))


def totals_from_profile(profile, store=None) -> PublishedTotals:
    """The totals ``generated.synthetic_register.totals`` of a city profile declares, read from the
    verified store (``bif_lib.api.load``); ``TotalsError`` (German) if they are missing or do not fit."""
    from bif_lib.api import load

    spec = (profile.generated.get("synthetic_register") or {}).get("totals")
    if not spec:
        raise TotalsError(f"city.yaml ({profile.key}): generated.synthetic_register.totals fehlt – ohne "
                          "veröffentlichte Summen kein synthetisches Melderegister.")
    districts = profile.districts
    return PublishedTotals.from_spec(spec, lambda dataset: load(dataset, store=store),
                                     district_label=districts.label, default_subdistricts=districts.subdistricts)


def _consecutive_years(years: range) -> range:
    listed = [int(year) for year in years]
    if not listed or listed != list(range(listed[0], listed[0] + len(listed))):
        raise ValueError("years must be a non-empty range of consecutive years")
    return range(listed[0], listed[-1] + 1)


def _label(seed: int, years: range) -> dict:
    return {
        "synthetic": True,
        "classification": "confidential",
        "description_de": "Synthetische Registerdaten – keine realen Personen; nur die veröffentlichten "
                          "Summen sind echt.",
        "generator": GENERATOR,
        "seed": seed,
        "years": [years[0], years[-1]],
    }


def _persons_frame(extracts: list[People], years: range, geography: Geography) -> pd.DataFrame:
    frames = []
    for year, people in zip(years, extracts, strict=True):
        order = np.lexsort((people.person_id, people.household_id, people.bezirk, people.district_id))
        frames.append(_people_columns(year, people.take(order), geography))
    return pd.concat(frames, ignore_index=True)


def _people_columns(year: int, people: People, geography: Geography) -> pd.DataFrame:
    return pd.DataFrame({
        "extract_year": np.full(len(people), year, dtype=np.int64),
        "person_id": people.person_id,
        "district_id": people.district_id,
        "bezirk_id": pd.array(geography.bezirk_ids[people.bezirk], dtype="str"),
        "birth_year": people.birth_year,
        "age": reported_age(year, people.birth_year),
        "sex": pd.array(SEX_CODES[people.is_female.astype(int)], dtype="str"),
        "nationality_group": pd.array(np.asarray(NATIONALITY_GROUPS, dtype=object)[people.nationality], dtype="str"),
        "household_id": people.household_id,
        "moved_in_date": people.moved_in.astype("datetime64[ns]"),
    })


def _events_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    order = np.lexsort((columns["person_id"], columns["event"], columns["year"]))
    columns = {name: values[order] for name, values in columns.items()}

    return pd.DataFrame({
        "year": columns["year"],
        "event": pd.array(np.asarray(EVENT_KINDS, dtype=object)[columns["event"]], dtype="str"),
        "person_id": columns["person_id"],
        "district_id": columns["district_id"],
        "to_district_id": _nullable(columns["to_district_id"]),
        "age": columns["age"],
        "sex": pd.array(SEX_CODES[columns["is_female"].astype(int)], dtype="str"),
        "mother_id": _nullable(columns["mother_id"]),
        "mother_age": _nullable(columns["mother_age"]),
    })


def _nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 column with <NA> where the simulation used -1 for 'not applicable'."""
    return pd.arrays.IntegerArray(values.astype(np.int64), mask=values < 0)


def _assumptions(seed: int, years: range, targets: CalibrationTargets, geography: Geography,
                 totals: PublishedTotals) -> dict:
    return {
        "synthetic": True,
        "classification": "confidential",
        "generator": GENERATOR,
        "seed": seed,
        "extract_years": list(years),
        "reference_date": "31.12. of each extract year (Melderegister: Haupt- oder alleinige Wohnung)",
        "age": "completed years at 31.12. = extract_year - birth_year; open age class 100 (= 100+)",
        "events": {
            "coverage": f"events of {years[0] + 1}-{years[-1]} link consecutive extracts; for the first extract "
                        f"year {years[0]} only its births are recorded (their children are the age-0 residents "
                        "of the first extract), because no earlier extract is generated",
            "identity": "extract(y) = extract(y-1) aged one year - deaths - move_out + birth + move_in; "
                        "move_within changes district_id (district_id = origin, to_district_id = destination)",
            "age": "completed years at 31.12. of the event year (year - birth_year, capped at 100); same for "
                   "mother_age, so fertility rates by age follow the 'Geburtsjahrmethode'",
            "district_id": "district where the event happens: of residence for death/move_out, of the mother "
                           "for birth, of destination for move_in, of origin for move_within",
            "order_within_a_year": "deaths; births (mother's household does not move that year); household "
                                   "moves out of the city / to another district by age profile; single "
                                   "leavers where a district x age class has too many residents; arrivals "
                                   "where it has too few",
            "without_event": "young adults founding their own household inside their district get a new "
                             "household_id, sub-district and moved_in_date but no event (the district does not "
                             "change)",
            "not_modelled": "other moves within a district, naturalisations, several events of one person in "
                            "a year (except birth + infant death), twins (each birth event is one child)",
        },
        "targets": {
            str(year): {"basis": t.basis, "births": t.births_basis,
                        "age_class_lower_bounds": [int(x) for x in t.class_lower],
                        "non_german_target": int(t.foreigners.sum()), "eu_share_of_non_germans": round(t.eu_share, 4)}
            for year, t in targets.by_year.items()
        },
        "totals": {figure: dataset for figure, dataset in _declared(totals).items()},
        "exactness": {
            "exact": ["residents per district, every extract year",
                      "published births per district and year (number of birth events)",
                      "every district age group where published (totals.age_groups)",
                      "district bands where they add up to the district's residents (totals.age_bands)",
                      "city-wide age groups where they add up to the sum of the districts"],
            "approximate": [("district bands of district-years whose bands do not add up to the residents "
                            "(persons not assignable to a district): minimally adjusted"),
                            "city-wide age groups that include persons not assignable to a district",
                            ("non-German residents per district (published years; other years trend-scaled "
                            "with the city-wide figure): calibrated through the destinations of moving "
                            "non-German households and the nationality of people moving in; reached exactly "
                            "whenever enough people move in (in practice always), but not guaranteed"),
                            ("split of the district bands into the finer age classes in years without district "
                            "age groups: not published, imputed from the nearest year's district structure"),
                            "births where no births table is declared: estimated from the youngest age class",
                            "single years of age, sex, deaths, moves, households, sub-districts: model assumptions"],
            "check": "aggregate_check(register, totals) lists every published figure with must_be_exact",
        },
        "demography": demography.describe(),
        "households": households.describe(),
        "bezirke": {"weight": geography.weight_column,
                    "rule": "households are placed in a sub-district of their district with probability "
                            "proportional to the sub-district's weight (default: land area; no residents per "
                            "sub-district are published); without a declared lower level bezirk_id is empty"},
        "nationality_groups": list(NATIONALITY_GROUPS),
        "moved_in_date": "first extract: per household, 31.12. minus an exponential residence duration (mean by "
                         "the oldest member's age), never before the person's birth; later: a random date in "
                         "the year of moving in or birth",
        "ids": "pseudonymous int64 ids (seeded bijection of a counter); persons keep their id across extracts",
    }


# ---------------------------------------------------------------------- aggregate check

CHECK_COLUMNS = ["table", "measure", "year", "district_id", "published", "synthetic", "must_be_exact"]


def _declared(totals: PublishedTotals) -> dict[str, str]:
    declared = {figure: totals.name(figure) for figure in ("residents", "births", "non_german")
                if figure == "residents" or getattr(totals, figure) is not None}
    for figure in ("age_groups", "age_bands", "city_age_groups"):
        table = getattr(totals, figure)
        if table is not None:
            declared[figure] = ", ".join(table.datasets)
    if totals.subdistricts is not None:
        declared["subdistricts"] = totals.subdistricts.attrs.get("dataset", "subdistricts")
    return declared


def aggregate_check(register: SyntheticRegister, totals: PublishedTotals) -> pd.DataFrame:
    """Every published target with its published and synthetic value and whether it must be exact.

    One row per published figure (district figures with ``district_id``, city-wide ones with
    <NA>); ``table`` is the dataset id. ``must_be_exact`` is True where the generator's target
    equals the published figure – the register then reproduces it exactly; it is False for
    figures inconsistent with the residents per district (persons not assignable to a district)
    and for the calibrated non-German counts.
    """
    persons = register.persons
    years = sorted(int(y) for y in persons["extract_year"].unique())
    targets = derive_targets(totals, range(years[0], years[-1] + 1))
    counts = _ResidentCounts(persons, targets.district_ids)

    rows = []
    residents = district_rows(totals.residents)
    for year in years:
        published = residents[residents["year"] == year].set_index("district_id")
        if not published.empty:
            rows += _district_rows(totals.name("residents"), "residents", year, published["residents"],
                                   targets.district_ids, counts.aged(year, 0, None),
                                   targets.by_year[year].interval_total(0, None))
    for ages in (totals.age_groups, totals.age_bands):
        if ages is not None:
            rows += _age_table_rows(ages, years, targets, counts)

    if totals.births is not None:
        births = district_rows(totals.births)
        for year in years:
            published = births[births["year"] == year].set_index("district_id")
            if not published.empty:
                rows += _district_rows(totals.name("births"), "births", year, published["births"],
                                       targets.district_ids, _birth_events(register.events, year, targets.district_ids),
                                       targets.by_year[year].births)

    city = totals.city_age_groups
    if city is not None:
        for dataset in city.datasets:
            table = city.table[city.table["dataset"] == dataset]
            for year in years:
                published = table[table["year"] == year].set_index("group")["value"]
                for measure, (lower, upper) in city.intervals.items():
                    if measure not in published.index or pd.isna(published[measure]):
                        continue
                    value = int(published[measure])
                    year_targets = targets.by_year[year]
                    exact = (year_targets.is_union_of_classes(lower, upper)
                             and int(year_targets.interval_total(lower, upper).sum()) == value)
                    rows.append((dataset, measure, year, pd.NA, value,
                                 int(counts.aged(year, lower, upper).sum()), exact))

    if totals.non_german is not None:
        migration = district_rows(totals.non_german)
        for year in years:
            published = migration[migration["year"] == year].set_index("district_id")
            if not published.empty:
                rows += _district_rows(totals.name("non_german"), "non_german", year,
                                       published["non_german"], targets.district_ids,
                                       counts.non_german(year), target=None)

    check = pd.DataFrame(rows, columns=CHECK_COLUMNS).astype({
        "year": "int64", "district_id": "Int64", "published": "int64", "synthetic": "int64", "must_be_exact": bool})
    check["difference"] = check["synthetic"] - check["published"]
    check.attrs["bif"] = {**persons.attrs.get("bif", {"synthetic": True}),
                          "title_de": "Abgleich synthetisches Melderegister mit veröffentlichten Summen (synthetisch)"}
    return check


def _age_table_rows(ages: AgeTable, years: list[int], targets: CalibrationTargets,
                    counts: _ResidentCounts) -> list[tuple]:
    rows = []
    for dataset in ages.datasets:
        table = ages.table[ages.table["dataset"] == dataset]
        for year in years:
            in_year = table[table["year"] == year]
            for measure, (lower, upper) in ages.intervals.items():
                published = in_year[in_year["group"] == measure].set_index("district_id")["value"]
                if published.empty:
                    continue
                year_targets = targets.by_year[year]
                target = (year_targets.interval_total(lower, upper)
                          if year_targets.is_union_of_classes(lower, upper) else None)
                rows += _district_rows(dataset, measure, year, published, targets.district_ids,
                                       counts.aged(year, lower, upper), target)
    return rows


def _district_rows(table: str, measure: str, year: int, published: pd.Series, district_ids: np.ndarray,
                   synthetic: np.ndarray, target: np.ndarray | None) -> list[tuple]:
    rows = []
    for index, district_id in enumerate(district_ids):
        value = published.get(district_id, pd.NA)
        if pd.isna(value):
            continue  # suppressed or not published
        exact = target is not None and int(target[index]) == int(value)
        rows.append((table, measure, year, int(district_id), int(value), int(synthetic[index]), exact))
    return rows


def _birth_events(events: pd.DataFrame, year: int, district_ids: np.ndarray) -> np.ndarray:
    births = events[(events["event"] == "birth") & (events["year"] == year)]
    return births["district_id"].value_counts().reindex(district_ids, fill_value=0).to_numpy()


class _ResidentCounts:
    """Synthetic residents per extract year, district and single year of age (0…100)."""

    def __init__(self, persons: pd.DataFrame, district_ids: np.ndarray):
        self._persons = persons
        self._district_ids = district_ids
        district = np.searchsorted(district_ids, persons["district_id"].to_numpy())
        ages = demography.OLDEST_AGE + 1
        self._by_age = {}
        for year, rows in persons.groupby("extract_year").indices.items():
            cells = np.bincount(district[rows] * ages + persons["age"].to_numpy()[rows],
                                minlength=len(district_ids) * ages)
            self._by_age[int(year)] = cells.reshape(len(district_ids), ages)

    def aged(self, year: int, lower: int, upper: int | None) -> np.ndarray:
        return self._by_age[year][:, lower:upper].sum(axis=1)

    def non_german(self, year: int) -> np.ndarray:
        residents = self._persons[(self._persons["extract_year"] == year)
                                  & (self._persons["nationality_group"] != "deutsch")]
        return residents["district_id"].value_counts().reindex(self._district_ids, fill_value=0).to_numpy()
