"""Seeded synthetic resident register (Melderegister extract) calibrated to the published totals.

Person-level register data is never public. This module generates *synthetic* microdata – no row
describes a real person – whose aggregates reproduce the published Sozialatlas figures exactly
where they are consistent (see ``docs/synthetic-register.md`` and :func:`aggregate_check`).
The output is classified confidential and labelled synthetic everywhere
(``DataFrame.attrs["bif"]["synthetic"] is True``).

Usage::

    totals = PublishedTotals.from_sozialatlas_dir(mirror / "sozialatlas_2022", load_bezirke(geojson))
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
from bif_lib.synthetic.totals import (
    AGE_INTERVALS,
    BAND_INTERVALS,
    SIX_AGE_GROUPS,
    PublishedTotals,
    district_rows,
    load_bezirke,
)

__all__ = ["PublishedTotals", "SyntheticRegister", "aggregate_check", "generate_register", "load_bezirke"]

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
    geography = Geography.from_table(totals.bezirke, targets.district_ids)
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
                             assumptions=_assumptions(int(seed), years, targets, geography))


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
                          "Summen des Sozialatlas sind echt.",
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


def _assumptions(seed: int, years: range, targets: CalibrationTargets, geography: Geography) -> dict:
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
            "district_id": "Stadtteil where the event happens: of residence for death/move_out, of the mother "
                           "for birth, of destination for move_in, of origin for move_within",
            "order_within_a_year": "deaths; births (mother's household does not move that year); household "
                                   "moves out of the city / to another Stadtteil by age profile; single "
                                   "leavers where a Stadtteil x age class has too many residents; arrivals "
                                   "where it has too few",
            "without_event": "young adults founding their own household inside their Stadtteil get a new "
                             "household_id, Bezirk and moved_in_date but no event (the Stadtteil does not change)",
            "not_modelled": "other moves within a Stadtteil, naturalisations, several events of one person in "
                            "a year (except birth + infant death), twins (each birth event is one child)",
        },
        "targets": {
            str(year): {"basis": t.basis, "age_class_lower_bounds": [int(x) for x in t.class_lower],
                        "non_german_target": int(t.foreigners.sum()), "eu_share_of_non_germans": round(t.eu_share, 4)}
            for year, t in targets.by_year.items()
        },
        "exactness": {
            "exact": ["residents per Stadtteil, every extract year",
                      "births per Stadtteil and year (number of birth events)",
                      "all eight Stadtteil age group columns where published (2021, 2022)",
                      "Stadtteil bands <18/18-64/65+ where they add up to the Stadtteil's residents (2017-2020)",
                      "city-wide six age groups where they add up to the sum of the Stadtteile"],
            "approximate": ["Stadtteil bands of district-years whose bands do not add up to the residents "
                            "(persons not assignable to a Stadtteil): minimally adjusted",
                            "city-wide age groups that include persons not assignable to a Stadtteil (2021: 5)",
                            "non-German residents per Stadtteil (T9 foreign_citizenship 2021/2022; other years "
                            "trend-scaled with T10): calibrated through the destinations of moving non-German "
                            "households and the nationality of people moving in; reached exactly whenever enough "
                            "people move in (in practice always), but not guaranteed",
                            "split of 18-64 / 65+ into the city-wide age groups per Stadtteil before 2021: "
                            "not published, imputed from the 2021 Stadtteil structure",
                            "single years of age, sex, deaths, moves, households, Bezirke: model assumptions"],
            "check": "aggregate_check(register, totals) lists every published figure with must_be_exact",
        },
        "demography": demography.describe(),
        "households": households.describe(),
        "bezirke": {"weight": geography.weight_column,
                    "rule": "households are placed in a Bezirk of their Stadtteil with probability "
                            "proportional to the Bezirk's weight (default: land area; no residents per "
                            "Bezirk are published)"},
        "nationality_groups": list(NATIONALITY_GROUPS),
        "moved_in_date": "first extract: per household, 31.12. minus an exponential residence duration (mean by "
                         "the oldest member's age), never before the person's birth; later: a random date in "
                         "the year of moving in or birth",
        "ids": "pseudonymous int64 ids (seeded bijection of a counter); persons keep their id across extracts",
    }


# ---------------------------------------------------------------------- aggregate check

CHECK_COLUMNS = ["table", "measure", "year", "district_id", "published", "synthetic", "must_be_exact"]
_BAND_TABLES = (("fl_children_age_under_18_by_district", "band_under_18"),
                ("fl_residents_age_18_to_under_65_by_district", "band_18_to_under_65"),
                ("fl_residents_age_65_and_above_by_district", "band_65_and_above"))


def aggregate_check(register: SyntheticRegister, totals: PublishedTotals) -> pd.DataFrame:
    """Every published target with its published and synthetic value and whether it must be exact.

    One row per published figure (Stadtteil figures with ``district_id``, city-wide ones with
    <NA>). ``must_be_exact`` is True where the generator's target equals the published figure –
    the register then reproduces it exactly; it is False for figures inconsistent with the
    residents per Stadtteil (persons not assignable to a Stadtteil) and for the calibrated
    non-German counts.
    """
    persons = register.persons
    years = sorted(int(y) for y in persons["extract_year"].unique())
    targets = derive_targets(totals, range(years[0], years[-1] + 1))
    counts = _ResidentCounts(persons, targets.district_ids)

    rows = []
    age_tables = [("fl_residents_by_district", district_rows(totals.residents), {"residents": (0, None)}),
                  ("fl_age_groups_by_district", district_rows(totals.age_groups), AGE_INTERVALS)]
    age_tables += [(name, district_rows(getattr(totals, field)), {"residents": BAND_INTERVALS[field]})
                   for name, field in _BAND_TABLES]
    for name, table, measures in age_tables:
        for year in years:
            published = table[table["year"] == year].set_index("district_id")
            for measure, (lower, upper) in measures.items():
                if measure in published.columns and not published.empty:
                    rows += _district_rows(name, measure, year, published[measure], targets.district_ids,
                                           counts.aged(year, lower, upper),
                                           targets.by_year[year].interval_total(lower, upper))

    births = district_rows(totals.births)
    for year in years:
        published = births[births["year"] == year].set_index("district_id")
        if not published.empty:
            rows += _district_rows("fl_births_by_district", "births", year, published["births"],
                                   targets.district_ids, _birth_events(register.events, year, targets.district_ids),
                                   targets.by_year[year].births)

    for year in years:
        published = totals.city_age_groups[totals.city_age_groups["year"] == year]
        for measure in SIX_AGE_GROUPS:
            if published.empty or pd.isna(published[measure].iloc[0]):
                continue
            lower, upper = AGE_INTERVALS[measure]
            value = int(published[measure].iloc[0])
            target = int(targets.by_year[year].interval_total(lower, upper).sum())
            rows.append(("fl_age_groups_of_residents", measure, year, pd.NA, value,
                         int(counts.aged(year, lower, upper).sum()), target == value))

    migration = district_rows(totals.migration_background)
    for year in years:
        published = migration[migration["year"] == year].set_index("district_id")
        if not published.empty:
            rows += _district_rows("fl_migration_background_by_district", "foreign_citizenship", year,
                                   published["foreign_citizenship"], targets.district_ids,
                                   counts.non_german(year), target=None)

    check = pd.DataFrame(rows, columns=CHECK_COLUMNS).astype({
        "year": "int64", "district_id": "Int64", "published": "int64", "synthetic": "int64", "must_be_exact": bool})
    check["difference"] = check["synthetic"] - check["published"]
    check.attrs["bif"] = {**persons.attrs.get("bif", {"synthetic": True}),
                          "title_de": "Abgleich synthetisches Melderegister mit veröffentlichten Summen (synthetisch)"}
    return check


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
    """Synthetic residents per extract year, Stadtteil and single year of age (0…100)."""

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
