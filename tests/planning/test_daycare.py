import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import DemandRates, PlaceRule, daycare_coverage, places_by_band


@pytest.fixture
def kitas() -> pd.DataFrame:
    return pd.DataFrame({
        "kita_id": ["k1", "k2", "k3"],
        "district_id": [1, 1, 2],
        "childcare_places": [50, 60, 20],
        "group_0_3": [1, 0, 0],
        "group_3_6": [2, 0, 0],
        "group_1_6": [0, 2, 0],
        "group_6_14": [0, 1, 0],
        "nature_3_6": [0, 0, 0],
    })


@pytest.fixture
def population() -> pd.DataFrame:
    per_age = {1: 10.0, 2: 5.0}  # children per single age in districts 1 and 2
    older = {1: 20.0, 2: 5.0}
    rows = []
    for year in (2022, 2023):
        for district in (1, 2):
            rows += [(year, district, age, per_age[district]) for age in range(3)]
            rows += [(year, district, age, older[district]) for age in range(3, 6)]
            rows += [(year, district, 6, 1000.0)]  # school children, outside both bands
    return pd.DataFrame(rows, columns=["year", "district_id", "age", "population"])


def test_places_by_band_hand_computed(kitas):
    # k1: 1 Krippe (10) + 2 Elementar (40) = 50 = childcare_places -> scale 1
    # k2: 2 mixed (30: 10 under 3, 20 over 3) + 1 Hort (20) = 50 nominal, 60 places -> scale 1.2
    # k3: no groups -> its 20 places stay unassigned
    places = places_by_band(kitas).set_index("kita_id")
    assert places.loc["k1", ["places_under_3", "places_3_to_school"]].tolist() == [10, 40]
    assert places.loc["k2", "scale"] == pytest.approx(1.2)
    np.testing.assert_allclose(places.loc["k2", ["places_under_3", "places_3_to_school", "places_school_age"]],
                               [12, 24, 24])
    assert places.loc["k3", "places_unassigned"] == 20
    band_columns = ["places_under_3", "places_3_to_school", "places_school_age", "places_unassigned"]
    np.testing.assert_allclose(places[band_columns].sum(axis=1), places["childcare_places"])


def test_rule_parameters_are_inputs(kitas):
    unscaled = places_by_band(kitas, PlaceRule(scale_to_childcare_places=False)).set_index("kita_id")
    assert unscaled.loc["k2", "places_under_3"] == 10
    bigger_krippe = places_by_band(kitas, PlaceRule(krippe_group_size=12)).set_index("kita_id")
    assert bigger_krippe.loc["k1", "places_under_3"] == pytest.approx(12 * 50 / 52)


def test_coverage_hand_computed(population, kitas):
    result = daycare_coverage(population, kitas, demand=DemandRates(under_3=0.5, three_to_school=0.95))
    table = result.coverage.set_index(["year", "district_id", "band"])
    row = table.loc[(2022, 1, "unter_3")]
    assert row["children"] == 30 and row["places"] == pytest.approx(22)
    assert row["coverage_rate"] == pytest.approx(22 / 30)
    assert row["demand"] == pytest.approx(15) and row["gap"] == pytest.approx(7)
    assert row["status"] == "gedeckt"
    row = table.loc[(2022, 1, "3_bis_schuleintritt")]
    assert row["children"] == 60 and row["places"] == pytest.approx(64)
    assert row["gap"] == pytest.approx(64 - 57)
    row = table.loc[(2022, 2, "unter_3")]
    assert row["places"] == 0 and row["gap"] == pytest.approx(-7.5)
    assert row["status"] == "Unterdeckung"
    assert row["band_label"] == "unter 3 Jahre"

    city = result.city.set_index(["year", "band"])
    assert city.loc[(2022, "unter_3"), "children"] == 45
    assert city.loc[(2022, "unter_3"), "places"] == pytest.approx(22)
    assert result.assumptions["places_unassigned_total"] == 20


def test_planned_places_count_from_their_year(population, kitas):
    changes = pd.DataFrame({"district_id": [2], "year": [2023], "band": ["unter_3"], "places": [10]})
    table = daycare_coverage(population, kitas, place_changes=changes).coverage
    places = table[(table["district_id"] == 2) & (table["band"] == "unter_3")].set_index("year")["places"]
    assert places.loc[2022] == 0 and places.loc[2023] == 10


def test_school_entry_age_changes_the_band(population, kitas):
    table = daycare_coverage(population, kitas, demand=DemandRates(school_entry_age=7)).coverage
    row = table.set_index(["year", "district_id", "band"]).loc[(2022, 1, "3_bis_schuleintritt")]
    assert row["children"] == 60 + 1000


def test_inputs_are_validated(population, kitas):
    with pytest.raises(ValueError, match="Bedarfsquote unter 3 Jahre"):
        DemandRates(under_3=1.5)
    with pytest.raises(ValueError, match="Gruppengröße Krippe"):
        PlaceRule(krippe_group_size=0)
    with pytest.raises(ValueError, match="unbekannte Altersgruppen"):
        daycare_coverage(population, kitas, place_changes=pd.DataFrame(
            {"district_id": [1], "year": [2023], "band": ["hort"], "places": [5]}))
    with pytest.raises(ValueError, match="Stadtteilen ohne Bevölkerungszahlen"):
        daycare_coverage(population, kitas.assign(district_id=[1, 1, 9]))


def test_provenance(population, kitas):
    kitas = kitas.copy()
    result = daycare_coverage(population, kitas, inputs={"kitas": "2024-01-17"})
    assert result.inputs == {"kitas": "2024-01-17"}
    assert result.assumptions["place_rule"]["krippe_group_size"] == 10
    assert result.coverage.attrs["bif"]["synthetic"] is False


def test_real_flensburg_kitas_keep_their_total_places(mirror_dir):
    gpd = pytest.importorskip("geopandas")
    kitas = gpd.read_file(mirror_dir / "kitas" / "kitas_in_flensburg.geojson")
    districts = pd.read_csv(mirror_dir / "sozialatlas_2022" / "fl_district.csv")
    kitas["district_id"] = kitas["district"].map(dict(zip(districts["name"], districts["id"])))
    kitas["kita_id"] = kitas["slug"]
    places = places_by_band(pd.DataFrame(kitas.drop(columns="geometry")))
    bands = ["places_under_3", "places_3_to_school", "places_school_age", "places_unassigned"]
    assert places[bands].to_numpy().sum() == pytest.approx(4475)
    # the default group sizes reproduce the published places exactly for most Kitas
    assert (places["nominal_places"] == places["childcare_places"]).sum() >= 40
