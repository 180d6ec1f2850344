"""Offline district map: class breaks, colours, legend, reprojection, click-to-select."""

import pandas as pd
import pytest

from bif_lib.apps.widgets import maps


def test_class_breaks_and_colors():
    breaks = maps.class_breaks([0, 10, 5, float("nan"), None])
    assert breaks == pytest.approx([0, 2, 4, 6, 8, 10])
    assert maps.color_for(0, breaks) == maps.SEQUENTIAL[0]
    assert maps.color_for(2, breaks) == maps.SEQUENTIAL[0]     # upper bound belongs to the lower class
    assert maps.color_for(2.1, breaks) == maps.SEQUENTIAL[1]
    assert maps.color_for(10, breaks) == maps.SEQUENTIAL[-1]
    assert maps.color_for(float("nan"), breaks) == maps.MISSING_COLOR
    assert maps.color_for(pd.NA, breaks) == maps.MISSING_COLOR
    assert maps.class_breaks([3, 3]) == [3, 3]
    assert maps.color_for(3, [3, 3]) == maps.SEQUENTIAL[2]
    assert maps.class_breaks([]) == []
    div = maps.diverging_breaks([-30, 10])
    assert div[0] == -30 and div[-1] == 30
    assert maps.color_for(-30, div, maps.DIVERGING) == maps.DIVERGING[0]


def test_legend_german_numbers():
    out = maps.legend_html("Einwohner", [1000, 2500.5, 4000], decimals=0, suffix=" %")
    assert "1.000 – 2.500 %" in out and "2.500 – 4.000 %" in out and "keine Angabe" in out
    assert "keine Angabe" not in maps.legend_html("x", [1, 2, 3], missing_label=None)
    assert "Kita" in maps.legend_html("x", [1, 2, 3], points={"#ffd92f": "Kita"})


def test_fit_zoom_monotone():
    small = maps.fit_zoom(54.74, 9.36, 54.83, 9.51, 700, 400)
    assert 10 <= small <= 13 and small * 4 == int(small * 4)
    assert maps.fit_zoom(54.74, 9.36, 54.83, 9.51, 1400, 800) > small


@pytest.fixture
def districts():
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import box

    return gpd.GeoDataFrame({"district_id": [1, 2], "name": ["West", "Ost"]},
                            geometry=[box(527000, 6071000, 528000, 6072000), box(528000, 6071000, 529000, 6072000)],
                            crs=25832)


def test_district_features_are_wgs84(districts):
    data = maps.district_features(districts)
    assert [f["id"] for f in data["features"]] == [1, 2]
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert 9.3 < lon < 9.6 and 54.7 < lat < 54.9  # Flensburg, not metres


def test_district_map_click_hover_values_points(districts):
    m = maps.DistrictMap(districts, height="300px")
    m.set_values({1: 10.0, 2: float("nan")}, title="Test", labels={1: "West: 10"})
    assert m.style_of(2)["fillColor"] == maps.MISSING_COLOR and m.style_of(1)["fillColor"] != maps.MISSING_COLOR
    assert "Test" in m.legend.value
    m._clicked(properties={"district_id": 2, "name": "Ost"})
    assert m.selected == 2
    assert m.style_of(2)["color"] == maps.SELECTED_COLOR and m.style_of(2)["weight"] == 4
    assert m.style_of(1)["weight"] == 1
    assert "Ost" in m.info.value
    m._clicked(properties={"district_id": 2})
    assert m.selected is None  # second click deselects
    m._hovered(properties={"district_id": 1, "name": "West"})
    assert "West: 10" in m.info.value and "anklicken" in m.info.value
    m.selected = 2
    assert "Ausgewählt:</b> Ost" in m.info.value and "West: 10" in m.info.value  # hover keeps the selection
    m.selected = None
    m.set_points(pd.DataFrame({"id": ["s1", "s2"], "lat": [54.78, 54.79], "lon": [9.43, 9.44],
                               "label": ["A", "B"], "over": [True, None]}))
    colors = [f["properties"]["style"]["fillColor"] for f in m.points_layer.data["features"]]
    assert colors == [maps.POINT_COLORS[True], maps.POINT_COLORS[None]]
    m._point_clicked(properties={"id": "s2"})
    assert m.selected_point == "s2"
    m.set_plain()
    assert {m.style_of(d)["fillColor"] for d in (1, 2)} == {"#e6edf5"}
    assert not any(isinstance(layer, __import__("ipyleaflet").TileLayer) for layer in m.map.layers)  # offline
