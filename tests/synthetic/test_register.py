"""Synthetic resident register: exact published totals, consistent history, determinism, plausibility."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from bif_lib.city.profile import load_profile
from bif_lib.synthetic import (
    PublishedTotals,
    SyntheticRegister,
    aggregate_check,
    generate_register,
    totals_from_profile,
)

YEARS = range(2017, 2023)
SEED = 20221231


@pytest.fixture(scope="module")
def totals(totals_store) -> PublishedTotals:  # totals_store: tests/synthetic/conftest.py
    """The totals Flensburg's city.yaml declares (generated.synthetic_register.totals), from the store."""
    return totals_from_profile(load_profile("flensburg"), totals_store)


@pytest.fixture(scope="module")
def bezirke(totals) -> pd.DataFrame:
    return totals.subdistricts


@pytest.fixture(scope="module")
def timed_register(totals) -> tuple[SyntheticRegister, float]:
    started = time.perf_counter()
    register = generate_register(totals, seed=SEED, years=YEARS)
    return register, time.perf_counter() - started


@pytest.fixture(scope="module")
def register(timed_register) -> SyntheticRegister:
    return timed_register[0]


@pytest.fixture(scope="module")
def check(register, totals) -> pd.DataFrame:
    return aggregate_check(register, totals)


@pytest.fixture(scope="module")
def other_seed_register(totals) -> SyntheticRegister:
    return generate_register(totals, seed=7, years=YEARS)


def _extract_ids(register: SyntheticRegister, year: int) -> set[int]:
    return set(register.extract(year)["person_id"])


def _event_ids(register: SyntheticRegister, year: int, event: str) -> set[int]:
    events = register.events
    return set(events.loc[(events["year"] == year) & (events["event"] == event), "person_id"])


# ---------------------------------------------------------------- exact published totals

def test_bezirke_table_from_the_store(bezirke):
    assert len(bezirke) == 41
    assert bezirke["district_id"].between(1, 13).all()
    assert bezirke.groupby("district_id").size().tolist() == [3, 2, 3, 4, 3, 2, 3, 3, 4, 3, 6, 3, 2]
    assert bezirke.attrs["weight"] == "area_km2"
    assert bezirke["weight"].sum() == pytest.approx(48.99, abs=0.05)


def test_residents_per_stadtteil_exact_in_every_year(register, check, totals):
    rows = check[check["table"] == "einwohner_stadtteile"]
    assert sorted(rows["year"].unique()) == list(YEARS)
    assert len(rows) == 13 * len(YEARS)
    assert rows["must_be_exact"].all()
    assert (rows["synthetic"] == rows["published"]).all()
    # Independent of aggregate_check: count the extracts directly.
    counted = register.persons.groupby(["extract_year", "district_id"]).size().rename("synthetic")
    published = totals.residents.rename(columns={"year": "extract_year"}).set_index(["extract_year", "district_id"])
    joined = counted.to_frame().join(published["residents"].rename("published"), how="left")
    assert (joined["synthetic"] == joined["published"]).all()


def test_age_groups_per_stadtteil_exact_for_2021_and_2022(check):
    rows = check[check["table"] == "altersgruppen_stadtteile"]
    assert sorted(rows["year"].unique()) == [2021, 2022]
    assert set(rows["measure"]) == {"age_under_18", "age_18_to_under_30", "age_30_to_under_45",
                                    "age_45_to_under_65", "age_65_to_under_80", "age_80_and_above",
                                    "age_0_to_under_7", "age_60_and_above"}
    assert len(rows) == 2 * 13 * 8
    assert rows["must_be_exact"].all()
    assert (rows["difference"] == 0).all()


def test_births_per_stadtteil_exact_in_every_year(register, check, totals):
    rows = check[check["table"] == "geburten_stadtteile"]
    assert sorted(rows["year"].unique()) == list(YEARS)
    assert rows["must_be_exact"].all() and (rows["difference"] == 0).all()
    births = register.events[register.events["event"] == "birth"].groupby(["year", "district_id"]).size()
    published = totals.births[totals.births["year"].isin(YEARS)].set_index(["year", "district_id"])["births"]
    assert births.sort_index().tolist() == published.sort_index().tolist()


def test_every_target_that_must_be_exact_is_exact(check):
    exact = check[check["must_be_exact"]]
    assert len(exact) > 600
    assert (exact["synthetic"] == exact["published"]).all()


def test_bands_exact_where_they_add_up_to_the_residents(check, totals):
    assert totals.age_bands.datasets == ["kinder_jugendliche_stadtteile", "einwohner_18_bis_unter_65_stadtteile",
                                         "einwohner_ab_65_stadtteile"]
    bands = totals.age_bands.table.groupby(["year", "district_id"])["value"].sum()
    residents = totals.residents.set_index(["year", "district_id"])["residents"]
    consistent = (bands.reindex(residents.index) == residents)
    band_rows = check[check["table"].isin(totals.age_bands.datasets)]
    assert len(band_rows) == 3 * 13 * len(YEARS)
    for row in band_rows.itertuples():
        if consistent[(row.year, row.district_id)]:
            assert row.must_be_exact and row.difference == 0, row
    # Inconsistent district-years (persons not assignable to a Stadtteil) are adjusted minimally.
    approximate = band_rows[~band_rows["must_be_exact"]]
    assert 0 < len(approximate) <= 20
    assert approximate["difference"].abs().max() <= 13


def test_city_age_groups_exact_where_they_match_the_stadtteile(check):
    rows = check[check["table"] == "altersgruppen_stadt"]
    assert len(rows) == 6 * len(YEARS)
    assert rows.loc[rows["year"] != 2021, "must_be_exact"].all()
    assert (rows.loc[rows["must_be_exact"], "difference"] == 0).all()
    # 2021: the city figures include 5 persons not assignable to a Stadtteil.
    assert rows.loc[rows["year"] == 2021, "difference"].abs().sum() == 5


def test_non_german_share_calibrated_to_published_foreign_citizenship(check):
    rows = check[check["table"] == "migrationshintergrund_stadtteile"]
    assert len(rows) == 2 * 13
    assert not rows["must_be_exact"].any()
    # Calibrated, not guaranteed: nearly always reached exactly, never far off.
    assert (rows["difference"] == 0).mean() >= 0.9
    assert (rows["difference"].abs() <= np.maximum(60, 0.2 * rows["published"])).all()


def test_aggregate_check_layout(check):
    assert list(check.columns) == ["table", "measure", "year", "district_id", "published", "synthetic",
                                   "must_be_exact", "difference"]
    assert str(check["district_id"].dtype) == "Int64"
    assert check.loc[check["table"] == "altersgruppen_stadt", "district_id"].isna().all()
    assert check.attrs["bif"]["synthetic"] is True


# ---------------------------------------------------------------- consistent history

def test_balance_identity_between_consecutive_extracts(register):
    for year in YEARS[1:]:
        previous, current = _extract_ids(register, year - 1), _extract_ids(register, year)
        births, deaths = _event_ids(register, year, "birth"), _event_ids(register, year, "death")
        moved_in, moved_out = _event_ids(register, year, "move_in"), _event_ids(register, year, "move_out")
        assert not births & previous and not moved_in & previous
        assert moved_out <= previous and deaths <= previous | births
        assert current == (previous | births | moved_in) - deaths - moved_out


def test_balance_identity_per_stadtteil(register):
    events = register.events
    for year in YEARS[1:]:
        before = register.extract(year - 1)["district_id"].value_counts()
        after = register.extract(year)["district_id"].value_counts()
        of_year = events[events["year"] == year]
        flow = {kind: of_year[of_year["event"] == kind]["district_id"].value_counts()
                for kind in ("birth", "death", "move_in", "move_out", "move_within")}
        arriving = of_year[of_year["event"] == "move_within"]["to_district_id"].astype("int64").value_counts()
        for district in range(1, 14):
            expected = (before.get(district, 0) - flow["death"].get(district, 0) - flow["move_out"].get(district, 0)
                        + flow["birth"].get(district, 0) + flow["move_in"].get(district, 0)
                        - flow["move_within"].get(district, 0) + arriving.get(district, 0))
            assert after.get(district, 0) == expected, (year, district)


def test_persons_keep_id_and_attributes_and_change_district_only_by_moving(register):
    events = register.events
    for year in YEARS[1:]:
        both = register.extract(year - 1).merge(register.extract(year), on="person_id", suffixes=("_before", ""))
        assert (both["birth_year_before"] == both["birth_year"]).all()
        assert (both["sex_before"] == both["sex"]).all()
        assert (both["nationality_group_before"] == both["nationality_group"]).all()
        changed = both[both["district_id_before"] != both["district_id"]]
        moves = events[(events["year"] == year) & (events["event"] == "move_within")].set_index("person_id")
        assert set(changed["person_id"]) == set(moves.index)
        moves = moves.loc[changed["person_id"]]
        assert (moves["district_id"].to_numpy() == changed["district_id_before"].to_numpy()).all()
        assert (moves["to_district_id"].to_numpy() == changed["district_id"].to_numpy()).all()
        assert (moves["to_district_id"] != moves["district_id"]).all()


def test_ids_unique_within_each_extract(register):
    assert not register.persons.duplicated(["extract_year", "person_id"]).any()
    # Every event's person: births, arrivals are new; deaths/moves concern known persons.
    assert not register.events.duplicated(["year", "event", "person_id"]).any()


def test_mothers_are_women_of_the_same_stadtteil_and_household(register):
    births = register.events[register.events["event"] == "birth"]
    assert births["mother_id"].notna().all() and births["mother_age"].between(15, 49).all()
    assert register.events.loc[register.events["event"] != "birth", ["mother_id", "mother_age"]].isna().all().all()
    for year in YEARS:
        extract = register.extract(year).set_index("person_id")
        of_year = births[births["year"] == year]
        mothers = extract.loc[of_year["mother_id"].astype("int64")]
        assert (mothers["sex"] == "w").all()
        assert (mothers["district_id"].to_numpy() == of_year["district_id"].to_numpy()).all()
        assert (year - mothers["birth_year"].to_numpy() == of_year["mother_age"].to_numpy()).all()
        surviving = of_year[of_year["person_id"].isin(extract.index)]
        assert len(surviving) >= 0.99 * len(of_year)
        children = extract.loc[surviving["person_id"]]
        their_mothers = extract.loc[surviving["mother_id"].astype("int64")]
        assert (children["household_id"].to_numpy() == their_mothers["household_id"].to_numpy()).all()
        assert (children["birth_year"] == year).all()


def test_first_extract_newborns_are_the_first_years_births(register):
    first = register.extract(YEARS[0])
    births = register.events[(register.events["event"] == "birth") & (register.events["year"] == YEARS[0])]
    assert set(first.loc[first["age"] == 0, "person_id"]) == set(births["person_id"])
    assert set(register.events.loc[register.events["year"] == YEARS[0], "event"]) == {"birth"}


# ---------------------------------------------------------------- determinism

def test_same_seed_gives_identical_output(register, totals):
    again = generate_register(totals, seed=SEED, years=YEARS)
    pd.testing.assert_frame_equal(again.persons, register.persons, check_exact=True)
    pd.testing.assert_frame_equal(again.events, register.events, check_exact=True)
    assert again.assumptions == register.assumptions
    assert again.seed == register.seed == SEED


def test_other_seed_gives_other_persons_with_the_same_exact_totals(register, other_seed_register, totals):
    assert not _extract_ids(register, 2022) & _extract_ids(other_seed_register, 2022)
    ages = register.extract(2022).sort_values(["district_id", "age"])["age"].to_numpy()
    other_ages = other_seed_register.extract(2022).sort_values(["district_id", "age"])["age"].to_numpy()
    assert not np.array_equal(ages, other_ages)
    other_check = aggregate_check(other_seed_register, totals)
    exact = other_check[other_check["must_be_exact"]]
    assert (exact["synthetic"] == exact["published"]).all()


def test_years_must_be_a_consecutive_range(totals):
    with pytest.raises(ValueError):
        generate_register(totals, years=range(2017, 2023, 2))
    with pytest.raises(ValueError):
        generate_register(totals, seed=-1)


def test_rows_without_stadtteil_are_excluded_from_district_targets(totals):
    not_assignable = pd.DataFrame({"year": [2021, 2022], "district_id": pd.array([pd.NA, pd.NA], dtype="Int64"),
                                   "residents": [5, 0]})
    residents = pd.concat([totals.residents.astype({"district_id": "Int64"}), not_assignable], ignore_index=True)
    with_extra_row = PublishedTotals(**{**totals.__dict__, "residents": residents})
    register = generate_register(with_extra_row, seed=1, years=range(2021, 2023))
    assert register.extract(2022)["district_id"].nunique() == 13
    assert len(register.extract(2022)) == totals.residents.query("year == 2022")["residents"].sum()


# ---------------------------------------------------------------- plausibility and layout

def test_bezirk_belongs_to_the_persons_stadtteil(register, bezirke):
    parent = bezirke.set_index("subdistrict_id")["district_id"]
    persons = register.persons
    assert (persons["bezirk_id"].map(parent) == persons["district_id"]).all()
    assert persons.loc[persons["extract_year"] == 2022, "bezirk_id"].nunique() == 41


def test_household_members_share_stadtteil_and_bezirk(register):
    extract = register.extract(2022)
    per_household = extract.groupby("household_id")[["district_id", "bezirk_id"]].nunique()
    assert (per_household == 1).all().all()
    sizes = extract.groupby("household_id").size()
    assert 1.5 <= sizes.mean() <= 2.2
    assert 0.4 <= (sizes == 1).mean() <= 0.65


def test_sex_ratio_plausible(register):
    births = register.events[register.events["event"] == "birth"]
    boys_per_girl = (births["sex"] == "m").sum() / (births["sex"] == "w").sum()
    assert 0.97 <= boys_per_girl <= 1.14
    for year in YEARS:
        extract = register.extract(year)
        assert set(extract["sex"]) == {"m", "w"}
        working_age = extract[extract["age"].between(18, 59)]
        assert 0.9 <= (working_age["sex"] == "m").sum() / (working_age["sex"] == "w").sum() <= 1.15
        very_old = extract[extract["age"] >= 85]
        assert (very_old["sex"] == "m").sum() / (very_old["sex"] == "w").sum() < 0.75


def test_ages_consistent_with_birth_year(register):
    persons = register.persons
    assert (persons["age"] == np.minimum(persons["extract_year"] - persons["birth_year"], 100)).all()
    assert persons["age"].between(0, 100).all()
    events = register.events
    birth_years = persons.drop_duplicates("person_id").set_index("person_id")["birth_year"]
    known = events[events["person_id"].isin(birth_years.index)]
    expected = np.minimum(known["year"] - known["person_id"].map(birth_years), 100)
    assert (known["age"] == expected).all()
    assert (events.loc[events["event"] == "birth", "age"] == 0).all()


def test_moved_in_date_within_life_and_before_the_reference_date(register):
    persons = register.persons
    reference_date = pd.to_datetime(persons["extract_year"].astype(str) + "-12-31")
    birth_year_start = pd.to_datetime(persons["birth_year"].astype(str) + "-01-01")
    assert (persons["moved_in_date"] <= reference_date).all()
    assert (persons["moved_in_date"] >= birth_year_start).all()
    assert (persons["moved_in_date"] == persons["moved_in_date"].dt.normalize()).all()


def test_mortality_and_migration_plausible(register):
    events = register.events
    for year in YEARS[1:]:
        of_year = events[events["year"] == year]
        deaths = of_year[of_year["event"] == "death"]
        assert 800 <= len(deaths) <= 1600
        assert (deaths["age"] >= 65).mean() > 0.8
        for kind in ("move_in", "move_out", "move_within"):
            moves = of_year[of_year["event"] == kind]
            assert 2000 <= len(moves) <= 15000
            assert 20 <= moves["age"].median() <= 35
    extract = register.extract(2021)
    moves = events[(events["year"] == 2022) & events["event"].isin(["move_in", "move_out"])]
    rate = (moves.groupby(pd.cut(moves["age"], [0, 18, 30, 50, 65, 101], right=False), observed=False).size()
            / extract.groupby(pd.cut(extract["age"], [0, 18, 30, 50, 65, 101], right=False), observed=False).size())
    assert rate.idxmax() == pd.Interval(18, 30, closed="left")


def test_output_columns_and_dtypes(register):
    persons, events = register.persons, register.events
    assert list(persons.columns) == ["extract_year", "person_id", "district_id", "bezirk_id", "birth_year", "age",
                                     "sex", "nationality_group", "household_id", "moved_in_date"]
    assert persons["district_id"].dtype == "int64" and persons["person_id"].dtype == "int64"
    assert persons["moved_in_date"].dtype == "datetime64[ns]"
    assert set(persons["nationality_group"]) == {"deutsch", "eu", "nicht_eu"}
    assert list(events.columns) == ["year", "event", "person_id", "district_id", "to_district_id", "age", "sex",
                                    "mother_id", "mother_age"]
    assert events["district_id"].dtype == "int64"
    assert {str(events[c].dtype) for c in ("to_district_id", "mother_id", "mother_age")} == {"Int64"}
    assert set(events["event"]) == {"birth", "death", "move_in", "move_out", "move_within"}
    within = events["event"] == "move_within"
    assert events.loc[within, "to_district_id"].notna().all()
    assert events.loc[~within, "to_district_id"].isna().all()


def test_synthetic_label_everywhere(register):
    for frame in (register.persons, register.events):
        label = frame.attrs["bif"]
        assert label["synthetic"] is True
        assert label["classification"] == "confidential"
        assert "synthetisch" in label["title_de"].lower()
    assert register.assumptions["synthetic"] is True
    json.dumps(register.assumptions)  # JSON-serialisable
    assert register.extract(2022).attrs["bif"]["synthetic"] is True


def test_whole_history_is_fast(timed_register):
    _, seconds = timed_register
    assert seconds < 30
