"""View-models of the planning apps, hand-checked on small inputs (no store, no widgets)."""

import numpy as np
import pandas as pd
import pytest

from bif_lib.apps.views import atlas, bevoelkerung, common, kita, schulbedarf
from bif_lib.planning import ProjectionInputs
from bif_lib.planning.daycare import THREE_TO_SCHOOL, UNDER_3, DemandRates

NAMES = {1: "Altstadt", 2: "Neustadt", 3: "Nordstadt"}

LONG_CONTRACT = {
    "title": "Arbeitslose je Stadtteil",
    "schema": {"fields": [
        {"name": "year", "type": "year"},
        {"name": "district_id", "type": "integer"},
        {"name": "indicator", "type": "string", "constraints": {"enum": ["total", "share", "unused"]},
         "description": "Indikator:\n- total: Arbeitslose insgesamt (Quellspalte residents) [Personen]\n"
                        "- share: Anteil an allen [Prozent]\n- unused: nie belegt [Personen]\n"},
        {"name": "value", "type": "number", "title": "Wert"},
        {"name": "value_suppressed", "type": "boolean"},
    ]},
}
WIDE_CONTRACT = {
    "title": "Geburten je Stadtteil",
    "schema": {"fields": [
        {"name": "year", "type": "year"},
        {"name": "district_id", "type": "integer"},
        {"name": "births", "type": "integer", "title": "Geburten", "unit": "Lebendgeborene"},
        {"name": "birth_rate", "type": "number", "title": "Geburtenquote", "unit": "je 1.000 Frauen 15–45"},
    ]},
}
NO_DISTRICT_CONTRACT = {"title": "Stadt", "schema": {"fields": [{"name": "year", "type": "year"},
                                                                {"name": "value", "type": "number"}]}}


@pytest.fixture
def long_frame() -> pd.DataFrame:
    rows = [  # year, district, indicator, value, suppressed
        (2021, 1, "total", 100.0, False), (2021, 2, "total", 50.0, False), (2021, 3, "total", 30.0, False),
        (2021, None, "total", 20.0, False),
        (2022, 1, "total", 110.0, False), (2022, 2, "total", None, True), (2022, 3, "total", 40.0, False),
        (2022, None, "total", 10.0, False),
        (2021, 1, "share", 10.0, False), (2021, 2, "share", 20.0, False), (2021, 3, "share", 30.0, False),
        (2022, 1, "share", 12.5, False), (2022, 2, "share", 20.5, False), (2022, 3, "share", None, True),
    ]
    frame = pd.DataFrame(rows, columns=["year", "district_id", "indicator", "value", "value_suppressed"])
    frame["district_id"] = frame["district_id"].astype("Int64")
    return frame


@pytest.fixture
def wide_frame() -> pd.DataFrame:
    return pd.DataFrame({"year": [2011, 2011, 2011, 2017, 2017, 2017], "district_id": [1, 2, 3] * 2,
                         "births": [10, 20, 30, 12, 18, 33], "birth_rate": [30.4, 40.0, 50.1, 31.0, 38.5, 52.0]})


@pytest.fixture
def catalogue(long_frame, wide_frame):
    return atlas.indicator_catalogue({"arbeitslose": long_frame, "geburten": wide_frame, "stadt": pd.DataFrame()},
                                 {"arbeitslose": LONG_CONTRACT, "geburten": WIDE_CONTRACT,
                                  "stadt": NO_DISTRICT_CONTRACT})


def test_parse_code_labels_strips_source_remark_and_takes_unit():
    labels = atlas.parse_code_labels(LONG_CONTRACT["schema"]["fields"][2]["description"])
    assert labels["total"] == ("Arbeitslose insgesamt", "Personen")
    assert labels["share"] == ("Anteil an allen", "Prozent")
    assert atlas.parse_code_labels("- age_under_18: unter 18 Jahre") == {"age_under_18": ("unter 18 Jahre", None)}


def test_catalogue_long_and_wide(catalogue):
    keys = [i.key for i in catalogue]
    # codes without data ("unused") and datasets without district_id are left out
    assert keys == ["arbeitslose|value|total", "arbeitslose|value|share", "geburten|births", "geburten|birth_rate"]
    total, share, births, rate = catalogue
    assert (total.label, total.unit, total.additive, total.decimals, total.years) == \
        ("Arbeitslose insgesamt", "Personen", True, 0, (2021, 2022))
    assert (share.additive, share.decimals, share.city_label) == (False, 1, "Mittelwert der Stadtteile")
    assert (births.label, births.unit, births.additive, births.years) == ("Geburten", "Lebendgeborene", True,
                                                                         (2011, 2017))
    assert (rate.additive, rate.decimals) == (False, 1)
    assert atlas.topics(catalogue) == ["Arbeitslose je Stadtteil", "Geburten je Stadtteil"]
    assert [i.key for i in atlas.indicators_of_topic(catalogue, "Geburten je Stadtteil")] == \
        ["geburten|births", "geburten|birth_rate"]
    assert atlas.default_year(total, 2021) == 2021 and atlas.default_year(total, 2011) == 2022


def test_city_values_sum_counts_with_unassigned_and_refuse_when_suppressed(long_frame, catalogue):
    total, share = catalogue[0], catalogue[1]
    city = atlas.city_values(atlas.indicator_values(long_frame, total), total)
    assert city[2021] == 100 + 50 + 30 + 20          # incl. "nicht zuordenbar"
    assert np.isnan(city[2022])                       # Neustadt suppressed: no (too small) sum
    mean = atlas.city_values(atlas.indicator_values(long_frame, share), share)
    assert mean[2021] == pytest.approx(20.0)          # unweighted mean of districts
    assert mean[2022] == pytest.approx((12.5 + 20.5) / 2)


def test_district_frame_marks_suppressed(long_frame, catalogue):
    values = atlas.indicator_values(long_frame, catalogue[0])
    frame = atlas.district_frame(values, 2022, NAMES)
    assert frame["name"].tolist() == ["Altstadt", "Neustadt", "Nordstadt"]
    assert frame["suppressed"].tolist() == [False, True, False]
    assert np.isnan(frame["value"][1])
    by_district, labels = atlas.indicator_map_values(values, catalogue[0], 2022, NAMES)
    assert by_district[1] == 110 and np.isnan(by_district[2])
    assert labels == {1: "Altstadt: 110 Personen", 2: "Neustadt: unterdrückt", 3: "Nordstadt: 40 Personen"}


def test_time_series_index(wide_frame, catalogue):
    births = catalogue[2]
    series = atlas.time_series(atlas.indicator_values(wide_frame, births), births, 3)
    assert series["district"].tolist() == [30, 33]
    assert series["city"].tolist() == [60, 63]
    assert series["district_index"].tolist() == pytest.approx([100, 110])
    assert series["city_index"].tolist() == pytest.approx([100, 105])
    assert series.attrs["index_base_year"] == 2011
    table = atlas.time_series_table(series, births, "Nordstadt")
    assert list(table.frame.columns) == ["Jahr", "Nordstadt", "Gesamtstadt"] and table.formats["Jahr"] == "year"
    city_only = atlas.time_series(atlas.indicator_values(wide_frame, births), births, None)
    assert city_only["district"].isna().all() and city_only["city_index"].tolist() == pytest.approx([100, 105])


def test_comparison_table_hand_checked(wide_frame, catalogue):
    births = catalogue[2]
    table = atlas.comparison_table(atlas.indicator_values(wide_frame, births), births, 2017, NAMES, selected=2)
    frame = table.frame
    assert list(frame.columns) == ["Nr.", "Stadtteil", "Wert 2017", "Veränderung zu 2011", "Veränderung in %", "Rang"]
    assert frame["Wert 2017"].tolist() == [12, 18, 33, 63]
    assert frame["Veränderung zu 2011"].tolist() == [2, -2, 3, 3]
    assert frame["Veränderung in %"].tolist()[:3] == pytest.approx([20.0, -10.0, 10.0])
    assert frame["Veränderung in %"].iloc[3] == pytest.approx(5.0)
    assert frame["Rang"].tolist()[:3] == [3, 2, 1]
    assert frame["Stadtteil"].iloc[-1] == "Gesamtstadt"
    assert table.selected == [False, True, False, False]
    assert table.formats["Wert 2017"] == "int" and table.formats["Veränderung in %"] == "pct"
    # rates: no percent change, city = mean of districts and said so
    rate = catalogue[3]
    table = atlas.comparison_table(atlas.indicator_values(wide_frame, rate), rate, 2017, NAMES)
    assert "Veränderung in %" not in table.frame.columns
    assert table.frame["Stadtteil"].iloc[-1] == "Mittelwert der Stadtteile"
    assert table.frame["Wert 2017"].iloc[-1] == pytest.approx((31.0 + 38.5 + 52.0) / 3)
    assert any("ungewichtet" in n for n in table.notes)


def test_comparison_table_first_year_has_no_change(wide_frame, catalogue):
    table = atlas.comparison_table(atlas.indicator_values(wide_frame, catalogue[2]), catalogue[2], 2011, NAMES)
    assert list(table.frame.columns) == ["Nr.", "Stadtteil", "Wert 2011", "Rang"]


@pytest.fixture
def single_ages() -> pd.DataFrame:
    rows = []
    for district, (m0, w0, m70, w70) in {1: (10, 20, 0, 10), 2: (30, 30, 20, 40)}.items():
        for age in range(101):
            m = {0: m0, 70: m70}.get(age, 0)
            w = {0: w0, 70: w70}.get(age, 0)
            rows += [(2022, district, "m", age, m), (2022, district, "w", age, w)]
    frame = pd.DataFrame(rows, columns=["year", "district_id", "sex", "age", "population"])
    frame.attrs["bif"] = {"synthetic": True}
    return frame


def test_age_pyramid_and_summary(single_ages):
    city = bevoelkerung.age_pyramid(single_ages, 2022)
    assert city.loc[0, ["m", "w"]].tolist() == [40, 50] and city.loc[70, ["m", "w"]].tolist() == [20, 50]
    district = bevoelkerung.age_pyramid(single_ages, 2022, 1)
    assert district.loc[0, ["m", "w"]].tolist() == [10, 20]
    # city outline scaled to the district's 40 residents: city total 160 -> factor 1/4
    assert district.loc[0, ["city_m", "city_w"]].tolist() == pytest.approx([10, 12.5])
    assert district.attrs["bif"]["synthetic"] is True
    summary = bevoelkerung.pyramid_summary(district)
    assert summary["Einwohner"] == 40
    assert summary["Durchschnittsalter"] == pytest.approx((30 * 0.5 + 10 * 70.5) / 40)
    assert summary["unter 18 (%)"] == pytest.approx(75.0) and summary["ab 65 (%)"] == pytest.approx(25.0)
    assert bevoelkerung.pyramid_key_figures(district) == {"Einwohner": "40", "Durchschnittsalter": "18,0", "unter 18": "75,0 %",
                                               "ab 65": "25,0 %"}
    table = bevoelkerung.pyramid_table(district, "Altstadt", 2022)
    assert "synthetische Daten" in table.title and table.synthetic
    with pytest.raises(ValueError, match="2030"):
        bevoelkerung.age_pyramid(single_ages, 2030)


def test_assumptions_for_names_changes_and_checks_bounds():
    assert common.assumptions_for("medium", fertility_factor=1.0).name == "medium"
    changed = common.assumptions_for("medium", fertility_factor=1.1)
    assert changed.name == "mittel (angepasst)" and changed.fertility_factor == pytest.approx(1.1)
    assert common.assumptions_for("high", **common.scenario_values("high")).name == "high"
    with pytest.raises(ValueError, match="Faktor Geburtenhäufigkeit"):
        common.assumptions_for("medium", fertility_factor=2.0)
    bounds = common.assumption_bounds()
    assert bounds["fertility_factor"] == ("Faktor Geburtenhäufigkeit", 0.5, 1.5)
    text = common.assumptions_text(changed, base_year=2022, end_year=2032)
    assert text["Szenario"] == "mittel (angepasst)" and text["Faktor Geburtenhäufigkeit"] == "1,10"


def test_projector_caches(city_base_population, city_parameters):
    projector = common.Projector(ProjectionInputs(2022, city_base_population, city_parameters), cache_size=2)
    first = projector.project(common.assumptions_for("medium"), 2025)
    assert projector.project(common.assumptions_for("medium"), 2025) is first
    other = projector.project(common.assumptions_for("high"), 2025)
    assert other is not first
    table = common.population_table(first)
    assert sorted(table["year"].unique()) == [2022, 2023, 2024, 2025] and "scenario" not in table
    few = common.population_table(first, ages=[6, 0])
    assert sorted(few["age"].unique()) == [0, 6] and len(few) == 4 * 13 * 2 * 2
    expected = table[table["age"].isin([0, 6])].set_index(["year", "district_id", "sex", "age"])["population"]
    pd.testing.assert_series_equal(few.set_index(["year", "district_id", "sex", "age"])["population"],
                                   expected.sort_index(), check_names=False)


# --- schools -------------------------------------------------------------------------------------

@pytest.fixture
def schools() -> pd.DataFrame:
    return pd.DataFrame({"school_id": ["A", "B"], "name": ["Schule A", "Schule B"], "district_id": [1, 2],
                         "pupils": [100.0, 200.0], "grades": ["1-4", "1-4"], "lat": [54.78, 54.80],
                         "lon": [9.43, 9.46]})


@pytest.fixture
def six_year_olds() -> pd.DataFrame:
    counts = {2022: (25, 50), 2023: (40, 50), 2024: (40, 60)}
    rows = [(y, d, "m", 6, c) for y, pair in counts.items() for d, c in zip((1, 2), pair)]
    return pd.DataFrame(rows, columns=["year", "district_id", "sex", "age", "population"])


def test_capacities_default_and_edits(schools):
    caps = schulbedarf.default_capacities(schools)
    assert caps["streams"].tolist() == [1.0, 2.0]  # ceil(25/25), ceil(50/25)
    assert caps["capacity_source"].tolist() == ["Schätzung", "Schätzung"]
    edited = schulbedarf.edited_capacities(caps, {"A": {"streams": 2}, "B": {"streams": 2}})
    assert edited["capacity_source"].tolist() == ["Eingabe", "Schätzung"]  # B unchanged stays an estimate
    with pytest.raises(ValueError):
        schulbedarf.edited_capacities(caps, {"X": {"streams": 1}})


def test_school_views_hand_checked(schools, six_year_olds):
    caps = schulbedarf.edited_capacities(schulbedarf.default_capacities(schools), {"A": {"streams": 1}, "B": {"streams": 3}})
    assignment = pd.DataFrame({"district_id": [1, 2], "school_id": ["A", "B"], "share": [1.0, 1.0]})
    result = schulbedarf.school_demand(six_year_olds, schools, caps, base_year=2022, horizon_year=2024,
                             assignment=assignment)
    # entry rate calibrated: grade-1 pupils 25 + 50 over 75 children = 1; A: grade 1 in 2023 = 40,
    # grades move up: 2023 = 40 + 25 + 25 + 25 = 115 pupils > 100 places (1 stream x 4 x 25)
    table = schulbedarf.school_overview(result, schools, NAMES, 2023, selected="A")
    row = table.frame.iloc[0]
    assert row["Schule"] == "Schule A" and row["Stadtteil"] == "Altstadt"
    assert row["Schüler 2022"] == 100 and row["Schüler 2023"] == pytest.approx(115)
    assert row["Plätze"] == 100 and row["Auslastung 2023"] == pytest.approx(115.0)
    assert row["erstmals über Kapazität"] == 2023 and row["Kapazität"] == "Schätzung"  # 1 stream = estimate
    assert table.frame["Kapazität"].iloc[1] == "Eingabe" and table.frame["Plätze"].iloc[1] == 300
    assert table.highlight == [True, False] and table.selected == [True, False]
    years = schulbedarf.school_years(result, ["A"], "Schule A").frame
    assert years["Jahr"].tolist() == [2022, 2023, 2024]
    assert years["Schüler"].tolist() == pytest.approx([100, 115, 130])
    assert years["über Kapazität"].tolist() == ["nein", "ja", "ja"]
    both = schulbedarf.school_chart_data(result, ["A", "B"])
    assert both["capacity_places"].tolist() == [400, 400, 400] and both["pupils"].iloc[0] == 300
    points = schulbedarf.school_points(result, schools, 2024, selected="A")
    assert points["over"].tolist() == [True, False] and points["radius"].tolist() == [11, 8]
    assert "über Kapazität ab 2023" in points["label"][0]
    figures = schulbedarf.school_key_figures(result, 2024)
    assert figures["Schulen über Kapazität bis 2024"] == "1 von 2"
    assert schulbedarf.selection_label(schools, NAMES, 2, None) == "Grundschulen in Neustadt"
    empty = schulbedarf.school_overview(result, schools, NAMES, 2024, [])
    assert empty.frame.empty and "keine städtische Grundschule" in empty.notes[0]
    assert schulbedarf.school_chart_data(result, []).empty


def test_locate_points_and_primary_schools():
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import box

    districts = gpd.GeoDataFrame({"district_id": [1, 2], "name": ["West", "Ost"]},
                                 geometry=[box(500000, 6000000, 501000, 6001000),
                                           box(501000, 6000000, 502000, 6001000)], crs=25832)
    wgs = gpd.GeoSeries(gpd.points_from_xy([500500, 501500, 600000], [6000500] * 3), crs=25832).to_crs(4326)
    assert common.locate_points(wgs.y, wgs.x, districts).tolist() == [1, 2, 0]
    raw = pd.DataFrame({"school_id": ["1", "2", "3"], "name": ["G1", "Privat", "Gym"],
                        "primary_school": pd.array([True, True, pd.NA], dtype="boolean"),
                        "private_school": pd.array([pd.NA, True, pd.NA], dtype="boolean"),
                        "grades": ["1-4", "1-10", "5-13"], "pupils": [100, 50, 900],
                        "lat": wgs.y.tolist(), "lon": wgs.x.tolist()})
    chosen = schulbedarf.primary_schools(raw, districts)
    assert chosen["school_id"].tolist() == ["1"] and chosen["district_id"].tolist() == [1]
    assert schulbedarf.primary_schools(raw, districts, municipal_only=False)["school_id"].tolist() == ["1", "2"]
    centroids = common.district_centroids(districts)
    assert centroids["lon"][0] < centroids["lon"][1]


# --- day care ------------------------------------------------------------------------------------

def test_kita_views_hand_checked():
    population = pd.DataFrame({"year": [2022] * 4, "district_id": [1, 1, 2, 2], "sex": ["m"] * 4,
                               "age": [1, 4, 1, 4], "population": [40.0, 50.0, 10.0, 20.0]})
    kitas = pd.DataFrame({"kita_id": ["k1", "k2"], "district_id": [1, 2], "childcare_places": [30, 20],
                          "group_0_3": [1, 0], "group_3_6": [1, 1], "group_1_6": [0, 0], "group_6_14": [0, 0],
                          "nature_3_6": [0, 0], "facility": ["Kita 1", "Kita 2"], "institution": ["Stadt", "AWO"],
                          "lat": [54.78, 54.79], "lon": [9.43, 9.44]})
    result = kita.daycare(population, kitas, years=[2022], demand=DemandRates(under_3=0.5, three_to_school=1.0))
    table = kita.kita_gap_table(result, UNDER_3, 2022, NAMES, selected=1)
    frame = table.frame
    # k1: 10 Krippe + 20 Elementar = 30 nominal = 30 places -> 10 under 3; k2 only 3-6
    assert frame["Kinder"].tolist() == [40, 10, 50]
    assert frame["Plätze"].tolist() == [10, 0, 10]
    assert frame["Versorgungsquote"].tolist() == pytest.approx([25.0, 0.0, 20.0])
    assert frame["Bedarf"].tolist() == [20, 5, 25]
    assert frame["Saldo (Plätze − Bedarf)"].tolist() == [-10, -5, -15]
    assert frame["Stadtteil"].tolist() == ["Altstadt", "Neustadt", "Gesamtstadt"]
    assert table.highlight == [True, True, True] and table.selected == [True, False, False]
    three = kita.kita_gap_table(result, THREE_TO_SCHOOL, 2022, NAMES).frame
    assert three["Saldo (Plätze − Bedarf)"].tolist() == [-30, 0, -30]
    values, labels = kita.kita_map_values(result, UNDER_3, 2022, NAMES, "gap")
    assert values == {1: -10, 2: -5} and "Versorgung 25,0 %" in labels[1]
    years = kita.kita_years_table(result, UNDER_3, 1, "Altstadt").frame
    assert years.iloc[0].tolist()[1:] == [40, 20, 10, -10]
    chart = kita.kita_chart_data(result, UNDER_3, None)
    assert chart[["children", "demand", "places"]].iloc[0].tolist() == [50, 25, 10]
    figures = kita.kita_key_figures(result, UNDER_3, 2022)
    assert figures["Versorgungsquote"] == "20,0 %" and figures["Saldo (Plätze − Bedarf)"] == "-15"
    points = kita.kita_points(kitas, result, UNDER_3)
    assert points["label"][0].startswith("Kita 1 (Stadt): 10 Plätze unter 3 Jahre")
    assert kita.daycare_assumptions_text(DemandRates())["Bedarfsquote unter 3 Jahre"] == "50 %"


def test_view_table_checks_flags():
    with pytest.raises(ValueError):
        common.ViewTable(pd.DataFrame({"a": [1, 2]}), {}, "T", highlight=[True])


def test_scenario_summary(city_base_population, city_parameters):
    from bif_lib.planning import project_scenarios

    results = project_scenarios(city_base_population, city_parameters, base_year=2022, years=2)
    table = common.scenario_summary(results)
    assert list(table.frame.columns) == ["Jahr", "niedrig", "mittel", "hoch"]
    assert table.frame["Jahr"].tolist() == [2022, 2023, 2024]
    assert table.frame.iloc[0, 1:].tolist() == pytest.approx([city_base_population["population"].sum()] * 3)
    assert table.frame["hoch"].iloc[-1] > table.frame["niedrig"].iloc[-1]
