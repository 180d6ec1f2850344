"""Issue #15, day care: the corrected rules, each with a hand-computed case.

* age groups by the school-entry cut-off (children who turn 6 after it stay in Kita);
* the claim group "1 bis unter 3" (legal claim from age 1) beside "unter 3";
* the official Betreuungsquote (Kitas + Kindertagespflege per child of "unter 3" / "3 bis unter 6",
  1 March; population of the previous 31.12.), with and without Kindertagespflege;
* the city-wide surplus of "3 bis Schuleintritt" shrinks on the store's data.
"""

from __future__ import annotations

import pandas as pd
import pytest

from bif_lib.apps.views import kita
from bif_lib.planning.daycare import (
    CLAIM_1_TO_3,
    THREE_TO_SCHOOL,
    UNDER_3,
    DemandRates,
    daycare_coverage,
    kindertagespflege_by_year,
    share_after_cutoff,
)

NAMES = {1: "Nord", 2: "Süd"}
SHARE = 184 / 365  # 1 July .. 31 December = 31 + 31 + 30 + 31 + 30 + 31 days


@pytest.fixture
def population() -> pd.DataFrame:
    """District 1: ages 0/1/2 = 10/12/14, ages 3/4/5 = 20 each, age 6 = 100; district 2: half of it."""
    per_age = {0: 10, 1: 12, 2: 14, 3: 20, 4: 20, 5: 20, 6: 100}
    rows = [(year, district, age, count * (1.0 if district == 1 else 0.5))
            for year in (2022, 2023) for district in (1, 2) for age, count in per_age.items()]
    return pd.DataFrame(rows, columns=["year", "district_id", "age", "population"])


@pytest.fixture
def kitas() -> pd.DataFrame:
    """One Kita in district 1: 1 Krippe (10) + 2 Elementar (40) = 50 places = nominal: scale 1."""
    return pd.DataFrame({"kita_id": ["k1"], "district_id": [1], "childcare_places": [50], "group_0_3": [1],
                         "group_3_6": [2], "group_1_6": [0], "group_6_14": [0], "nature_3_6": [0]})


def _row(result, band, year=2022, district=1):
    return result.coverage.set_index(["year", "district_id", "band"]).loc[(year, district, band)]


# --- the school-entry cut-off ---------------------------------------------------------------------

def test_share_after_the_cutoff_hand_computed():
    assert share_after_cutoff("06-30") == pytest.approx(SHARE)  # 0.5041
    assert share_after_cutoff("30.06.") == pytest.approx(SHARE)  # the profile's German form
    assert share_after_cutoff("09-30") == pytest.approx(92 / 365)  # Oct + Nov + Dec
    assert share_after_cutoff("12-31") == 0.0
    assert share_after_cutoff(None) == 0.0
    for wrong in ("02-29", "13-01", "31.06.", "Juni"):
        with pytest.raises(ValueError, match="Einschulungsstichtag"):
            DemandRates(school_entry_cutoff=wrong)


def test_three_to_school_counts_the_six_year_olds_after_the_cutoff(population, kitas):
    """Children 3-5: 60; six-year-olds at 31.12.: 100, of whom 184/365 turned 6 after 30 June and
    start school next August: 60 + 100 x 0.50411 = 110.41; demand 0.95 x 110.41 = 104.89;
    places 40 -> gap 40 - 104.89 = -64.89. Without a cut-off: 60, demand 57, gap -17."""
    corrected = daycare_coverage(population, kitas, demand=DemandRates(school_entry_cutoff="06-30"))
    row = _row(corrected, THREE_TO_SCHOOL)
    assert row["children"] == pytest.approx(60 + 100 * SHARE) == pytest.approx(110.411, abs=1e-3)
    assert row["demand"] == pytest.approx(0.95 * (60 + 100 * SHARE))
    assert row["gap"] == pytest.approx(40 - 0.95 * (60 + 100 * SHARE)) == pytest.approx(-64.890, abs=1e-3)
    assert corrected.assumptions["bands"][THREE_TO_SCHOOL] == {3: 1.0, 4: 1.0, 5: 1.0, 6: pytest.approx(SHARE)}
    assert corrected.assumptions["school_entry"]["cutoff"] == "06-30"

    old = _row(daycare_coverage(population, kitas), THREE_TO_SCHOOL)
    assert old["children"] == 60 and old["gap"] == pytest.approx(40 - 57)
    # "unter 3" does not depend on the cut-off
    assert _row(corrected, UNDER_3)["children"] == _row(daycare_coverage(population, kitas), UNDER_3)["children"]


# --- the legal claim from age 1 -------------------------------------------------------------------

def test_claim_group_counts_ages_1_and_2_with_the_places_under_3(population, kitas):
    """unter 3: 10 + 12 + 14 = 36 children; 1 bis unter 3: 12 + 14 = 26. Both have the 10 Krippe
    places. Demand: 36 x 0.5 = 18 (gap -8); 26 x 0.75 = 19.5 (gap -9.5); coverage 10/26."""
    result = daycare_coverage(population, kitas, demand=DemandRates(under_3=0.5, claim_1_to_3=0.75))
    under_3, claim = _row(result, UNDER_3), _row(result, CLAIM_1_TO_3)
    assert under_3["children"] == 36 and claim["children"] == 26
    assert under_3["places"] == claim["places"] == 10
    assert under_3["demand"] == 18 and under_3["gap"] == -8
    assert claim["demand"] == 19.5 and claim["gap"] == -9.5
    assert claim["coverage_rate"] == pytest.approx(10 / 26)
    assert claim["band_label"] == "1 bis unter 3 Jahre (Rechtsanspruch)"
    assert pd.isna(claim["care_rate"])  # the official quote has no such group
    city = result.city.set_index(["year", "band"]).loc[(2022, CLAIM_1_TO_3)]
    assert city["children"] == 26 + 13 and city["places"] == 10
    # planned places of "unter 3" count for the claim group, too; the claim group has no places of its own
    changes = pd.DataFrame({"district_id": [2], "year": [2023], "band": [UNDER_3], "places": [5]})
    planned = daycare_coverage(population, kitas, place_changes=changes)
    assert _row(planned, CLAIM_1_TO_3, 2023, 2)["places"] == 5 and _row(planned, CLAIM_1_TO_3, 2022, 2)["places"] == 0
    with pytest.raises(ValueError, match="unbekannte Altersgruppen"):
        daycare_coverage(population, kitas, place_changes=changes.assign(band=CLAIM_1_TO_3))


# --- the Betreuungsquote --------------------------------------------------------------------------

def test_betreuungsquote_without_kindertagespflege_hand_computed(population, kitas):
    """District 1, 31.12.2022 (quote for 1.3.2023). unter 3: 10 Kita places / 36 children = 27.8 %.
    3 bis unter 6: the 40 places of "3 bis Schuleintritt" (110.41 children) go to the children 3-5
    in proportion: 40 x 60 / 110.41 = 21.74 Kita children; / 60 children 3-5 = 36.2 %
    (= 40 / 110.41, the band's coverage). The supply ratio of "3 bis Schuleintritt" is the same
    40 / 110.41 here; they differ once there is Kindertagespflege."""
    result = daycare_coverage(population, kitas, demand=DemandRates(school_entry_cutoff="06-30"))
    under_3 = _row(result, UNDER_3)
    assert under_3["care_children"] == 36 and under_3["kita_children"] == 10 and under_3["ktp_children"] == 0
    assert under_3["care_rate"] == pytest.approx(10 / 36)
    assert under_3["care_reference"] == "01.03.2023"
    three = _row(result, THREE_TO_SCHOOL)
    assert three["care_group"] == "3_bis_unter_6" and three["care_children"] == 60
    assert three["kita_children"] == pytest.approx(40 * 60 / (60 + 100 * SHARE)) == pytest.approx(21.737, abs=1e-3)
    assert three["care_rate"] == pytest.approx(40 / (60 + 100 * SHARE)) == pytest.approx(0.3623, abs=1e-4)
    assert result.assumptions["kindertagespflege"]["included"] is False
    assert "keine Daten" in result.assumptions["kindertagespflege"]["note"]
    city = result.city.set_index(["year", "band"]).loc[(2022, UNDER_3)]
    assert city["care_rate"] == pytest.approx(10 / 54)  # district 2: 18 children, no places


def test_betreuungsquote_with_kindertagespflege_hand_computed(population, kitas):
    """Kindertagespflege on 1.3.2023: district 1 unter 3: 8, 3 bis unter 6: 2; district 2 unter 3: 4.
    District 1 unter 3: (10 + 8) / 36 = 50.0 %; 3 bis unter 6: (21.74 + 2) / 60 = 39.6 %;
    city unter 3: (10 + 8 + 4) / 54 = 40.7 %. Supply ratio and gap stay Kita-only."""
    ktp = pd.DataFrame({"year": [2023, 2023, 2023], "district_id": [1, 1, 2],
                        "age_group": ["unter_3", "3_bis_unter_6", "unter_3"], "children": [8, 2, 4]})
    result = daycare_coverage(population, kitas, demand=DemandRates(school_entry_cutoff="06-30"),
                              kindertagespflege=ktp)
    under_3 = _row(result, UNDER_3)
    assert under_3["ktp_children"] == 8 and under_3["care_rate"] == pytest.approx(18 / 36)
    assert under_3["coverage_rate"] == pytest.approx(10 / 36) and under_3["gap"] == pytest.approx(10 - 18)
    three = _row(result, THREE_TO_SCHOOL)
    assert three["care_rate"] == pytest.approx((40 * 60 / (60 + 100 * SHARE) + 2) / 60)
    assert three["care_rate"] == pytest.approx(0.3956, abs=1e-4)
    city = result.city.set_index(["year", "band"]).loc[(2022, UNDER_3)]
    assert city["care_rate"] == pytest.approx(22 / 54)
    assert result.has_kindertagespflege and result.assumptions["kindertagespflege"]["years_used"] == {
        2022: 2023, 2023: 2023}


def test_kindertagespflege_year_for_each_table_year():
    """Table year Y -> 1 March Y+1: that year of the input, else its latest earlier year, else its first."""
    ktp = pd.DataFrame({"year": [2021, 2024], "district_id": [1, 1], "age_group": ["unter_3", "unter_3"],
                        "children": [5, 7]})
    table, used = kindertagespflege_by_year(ktp, (1, 2), [2019, 2020, 2022, 2023, 2030])
    assert used == {2019: 2021, 2020: 2021, 2022: 2021, 2023: 2024, 2030: 2024}
    counts = table.set_index(["year", "district_id", "care_group"])["ktp_children"]
    assert counts[(2022, 1, "unter_3")] == 5 and counts[(2023, 1, "unter_3")] == 7
    assert counts[(2023, 2, "unter_3")] == 0 and counts[(2023, 1, "3_bis_unter_6")] == 0
    with pytest.raises(ValueError, match="unbekannte Altersgruppen"):
        kindertagespflege_by_year(ktp.assign(age_group="hort"), (1, 2), [2022])
    with pytest.raises(ValueError, match="ohne Bevölkerungszahlen"):
        kindertagespflege_by_year(ktp.assign(district_id=9), (1, 2), [2022])
    with pytest.raises(ValueError, match="keine Zeilen"):
        kindertagespflege_by_year(ktp.iloc[:0], (1, 2), [2022])


# --- the app's views ------------------------------------------------------------------------------

def test_gap_table_shows_both_ratios_and_says_what_they_are(population, kitas):
    kitas = kitas.assign(facility="Kita 1", institution="Stadt", lat=54.0, lon=9.0)
    demand = DemandRates(school_entry_cutoff="30.06.")
    without = kita.daycare(population, kitas, years=[2022], demand=demand)
    table = kita.kita_gap_table(without, UNDER_3, 2022, NAMES)
    assert list(table.frame.columns)[4:6] == ["Versorgungsquote", "Betreuungsquote"]
    assert table.frame["Betreuungsquote"].tolist() == pytest.approx([1000 / 36, 0.0, 1000 / 54])
    notes = " ".join(table.notes)
    assert "Kindertagespflege: keine Daten" in notes and "Stichtag 1.3.2023" in notes and "31.12.2022" in notes
    assert "Betreuungsquote (%)" in table.headers()
    three = " ".join(kita.kita_gap_table(without, THREE_TO_SCHOOL, 2022, NAMES).notes)
    assert "50,4 % der 6-Jährigen" in three and "30.06." in three
    claim = kita.kita_gap_table(without, CLAIM_1_TO_3, 2022, NAMES)
    assert claim.frame["Betreuungsquote"].isna().all() and claim.frame["Kinder"].tolist() == [26, 13, 39]
    figures = kita.kita_key_figures(without, UNDER_3, 2022)
    assert figures["Betreuungsquote 1.3.2023 (geschätzt, ohne Kindertagespflege)"] == "18,5 %"
    assert not any("Betreuungsquote" in key for key in kita.kita_key_figures(without, CLAIM_1_TO_3, 2022))

    ktp = pd.DataFrame({"year": [2023], "district_id": [1], "age_group": ["unter_3"], "children": [8]})
    with_ktp = kita.daycare(population, kitas, years=[2022], demand=demand, kindertagespflege=ktp)
    table = kita.kita_gap_table(with_ktp, UNDER_3, 2022, NAMES)
    assert table.frame["Betreuungsquote"].tolist() == pytest.approx([1800 / 36, 0.0, 1800 / 54])
    assert "in der Betreuungsquote enthalten" in " ".join(table.notes)
    assert kita.kita_key_figures(with_ktp, UNDER_3, 2022)["Betreuungsquote 1.3.2023 (geschätzt)"] == "33,3 %"
    texts = kita.daycare_assumptions_text(demand, kindertagespflege=False)
    assert texts["Kindertagespflege"] == "keine Daten (nicht enthalten)" and "50,4 %" in texts["Altersgruppen"]
    assert texts["Bedarfsquote 1 bis unter 3 Jahre (Rechtsanspruch)"] == "75 %"


# --- the store: the city-wide surplus shrinks -----------------------------------------------------

def test_city_surplus_of_three_to_school_shrinks_with_the_cutoff(flensburg_store):
    """Issue #15: 2032, scenario „mittel“, Bedarfsquote 95 %: the surplus of „3 bis Schuleintritt“
    shrinks markedly once the six-year-olds born after 30 June count (issue: +416 -> about +11)."""
    app = kita.KitaApp(store=flensburg_store)
    assert app.cutoff == "30.06." and app.kindertagespflege is None
    year = 2032
    with_cutoff = kita.shown_coverage(app.result)
    population = kita.population_table(app.projector.project(app.scenario.assumptions(), app.last_year),
                                       ages=range(7))
    old = kita.daycare(population, app.kitas, years=range(app.projector.base_year, app.last_year + 1),
                       demand=DemandRates(school_entry_cutoff=None))
    without_cutoff = kita.shown_coverage(old)

    def city_gap(shown):
        rows = shown[(shown["band"] == THREE_TO_SCHOOL) & (shown["year"] == year) & (shown["district_id"] == 0)]
        return float(rows["gap"].iloc[0])

    before, after = city_gap(without_cutoff), city_gap(with_cutoff)
    six = population[(population["year"] == year) & (population["age"] == 6)]["population"].sum()
    # the difference is the added demand: 0.95 x 184/365 x six-year-olds (up to rounding)
    assert before - after == pytest.approx(0.95 * SHARE * six, abs=2)
    assert after < before - 300
    print(f"\nKita 3 bis Schuleintritt, Gesamtstadt {year}: Saldo ohne Stichtag {before:+.0f}, "
          f"mit Stichtag 30.06. {after:+.0f} (6-Jährige {six:.0f})")
    # the app says that Kindertagespflege is missing
    assert "Kindertagespflege: keine Daten" in app.table.html.value
    assert "Betreuungsquote (%)" in app.table.html.value
