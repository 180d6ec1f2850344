"""The app front end's two parts of jupyter-leaflet (app_frontend/src/leaflet-widgets.js), in a
real page (hub + gateway + Voilà + Chromium, shared view as by default):

* a map of the common classes (GeoJSON, widget controls) loads only the page's bundle, not the
  chunk with the Leaflet plugins;
* a map with one of the rarer classes (the measure control) loads that chunk and its style
  sheet, and the control works;
* a map in a projection of its own (proj4, ``crs.custom``) loads the chunk before the map is
  drawn.
"""

from __future__ import annotations

import pytest
from apps_helpers import notebook
from apps_hub import install_app, logged_in_context, running_platform

pytestmark = pytest.mark.timeout(300)

AREA = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Mitte"}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[9.42, 54.78], [9.45, 54.78], [9.45, 54.80], '
        '[9.42, 54.80], [9.42, 54.78]]]}}]}')
MAP = ("import json\nimport ipyleaflet as L\nimport ipywidgets as w\n"
       f"m = L.Map(center=(54.79, 9.435), zoom=13, layers=(L.GeoJSON(data=json.loads({AREA!r})),)CRS)\n"
       "m.add(L.WidgetControl(widget=w.HTML('Legende'), position='bottomright'))\n"
       "EXTRAm")


def map_app(crs: str = "", extra: str = "") -> str:
    return MAP.replace("CRS", crs).replace("EXTRA", extra)



APPS = {
    "karte-einfach": map_app(),
    "karte-messen": map_app(extra="m.add(L.MeasureControl(position='topleft'))\n"),
    "karte-polar": map_app(crs=", crs=L.projections.EPSG3413.NASAGIBS"),
}
MORE_CHUNK = "bif-leaflet-more-"
MORE_STYLES = "bif-leaflet-more.css"


@pytest.fixture(scope="module")
def platform(environment_access):
    def prepare(p):
        for app_id, source in APPS.items():
            install_app(p, app_id, notebook(source, title=app_id))

    yield from running_platform(apps={"pool_size": 1}, prepare=prepare)


@pytest.fixture(scope="module")
def planner(platform, browser):
    ctx = logged_in_context(platform, browser, "planer")
    yield ctx
    ctx.close()


def open_map(ctx, platform, app_id: str):
    """The app's page once its map is drawn, and the URLs it requested."""
    page = ctx.new_page()
    requested, errors = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: print("console", m.type, m.text[:500]))
    page.goto(f"{platform.gallery_url}app/{app_id}/")
    page.wait_for_selector(".leaflet-container path.leaflet-interactive", timeout=60_000)
    page.wait_for_selector(".leaflet-control .widget-html", timeout=30_000)
    assert page.evaluate("document.body.dataset.bifMode") == "shared"
    assert not errors, errors
    return page, requested


def test_common_map_classes_need_no_plugin_chunk(planner, platform):
    page, requested = open_map(planner, platform, "karte-einfach")
    try:
        assert not [u for u in requested if MORE_CHUNK in u or MORE_STYLES in u]
        assert not page.evaluate("document.querySelector('.bif-app-problem, .jupyter-widgets-error-widget')")
    finally:
        page.close()


def test_a_rarer_control_loads_the_plugin_chunk_and_its_styles(planner, platform):
    page, requested = open_map(planner, platform, "karte-messen")
    try:
        page.wait_for_selector(".leaflet-control-measure", timeout=30_000)
        assert [u for u in requested if MORE_CHUNK in u]
        # the page links the plugins' style sheet when it loads their chunk and does not wait
        # for it: the control can be drawn before its styles have arrived
        page.wait_for_function(f"""() => [...document.styleSheets].some(s => (s.href || '').includes('{MORE_STYLES}')
                                         && s.cssRules.length > 0)""", timeout=30_000)
        # the plugin's own style sheet is applied: its toggle gets the plugin's icon
        assert page.evaluate("""() => getComputedStyle(document.querySelector('.leaflet-control-measure-toggle'))
                                      .backgroundImage !== 'none'""")
    finally:
        page.close()


def test_a_map_in_its_own_projection_loads_proj4_first(planner, platform):
    page, requested = open_map(planner, platform, "karte-polar")
    try:
        assert [u for u in requested if MORE_CHUNK in u]
    finally:
        page.close()
