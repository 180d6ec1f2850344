"""The app modules of bif_lib/apps/views without a browser: each app is built on the bootstrapped
store as its notebook builds it, a planner's change goes through its callbacks, and the page is
the one the browser tests see (element ids, CSS classes, German texts). The notebooks are one
call each. Errors in callbacks are raised (``BIF_UI_RAISE``), not shown."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bif_lib.apps.views import bevoelkerung, kita, schulbedarf
from bif_lib.apps.widgets.loading import RAISE_ENV

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "apps"
APPS = ("bevoelkerung", "kita", "schulbedarf")


@pytest.fixture(autouse=True)
def raise_errors(monkeypatch):
    monkeypatch.setenv(RAISE_ENV, "1")


def classes_in(widget) -> set[str]:
    """The CSS classes of a widget and everything inside it."""
    found = set(getattr(widget, "_dom_classes", ()))
    for child in getattr(widget, "children", ()):
        found |= classes_in(child)
    return found


def model_modules(widget) -> set[str]:
    """The widget libraries of a widget and everything inside it (what the page's front end needs)."""
    found = {widget._model_module}
    for child in getattr(widget, "children", ()):
        found |= model_modules(child)
    return found


def check_page(app) -> None:
    """One page with the BIF style, the synthetic badge and the district map (ipyleaflet: the
    publication check detects the jupyter-leaflet extension from it)."""
    assert "bif-app" in app.widget._dom_classes and "bif-controls" in classes_in(app.widget)
    assert "jupyter-leaflet" in model_modules(app.widget)
    assert "bif-badge-synthetic" in app.widget.children[1].value  # the header
    assert model_modules(app.widget) <= {"@jupyter-widgets/base", "@jupyter-widgets/controls",
                                         "@jupyter-widgets/output", "jupyter-leaflet"}  # BIF's app front end


def test_app_notebooks_call_their_module():
    for name in APPS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert len(code) == 1 and code[0].rstrip().endswith(f"from bif_lib.apps.views import {name}\n\n{name}.show()")
        assert not [c for c in nb.cells if c.cell_type == "markdown"], "a markdown cell would show in the page"


def test_bevoelkerung(flensburg_store):
    app = bevoelkerung.BevoelkerungApp(store=flensburg_store)
    assert 'id="bif-vergleich"' in app.table.html.value and "99.341" in app.table.html.value
    check_page(app)
    assert {"bif-topic", "bif-indicator", "bif-year", "bif-district-select", "bif-mode", "bif-chart"} <= classes_in(
        app.widget)
    series, pyramid = app.series_chart.png, app.pyramid_chart.png
    app.district.value = 5
    assert app.district_map.selected == 5
    assert app.series_chart.png != series and app.pyramid_chart.png != pyramid
    assert "bif-selected" in app.table.html.value
    app.district_map.selected = 7  # a click in the map
    assert app.district.value == 7
    app.year.value = 2021
    assert "Wert 2021" in app.table.html.value
    assert app.status.last_error is None


def test_kita(flensburg_store):
    app = kita.KitaApp(store=flensburg_store)
    assert 'id="bif-kitatabelle"' in app.table.html.value and "unter 3 Jahre" in app.table.html.value
    check_page(app)
    assert {"bif-band", "bif-year", "bif-district-select", "bif-measure", "bif-chart"} <= classes_in(app.widget)
    version, chart = app.version, app.chart.png
    app.district.value = 3
    assert app.kita_map.selected == 3 and app.version == version  # no new projection for a selection
    assert app.chart.png != chart and "bif-selected" in app.table.html.value
    app.band.value = kita.THREE_TO_SCHOOL
    assert "3 Jahre bis Schuleintritt" in app.table.html.value
    app.rate_under_3.value = 0.6  # a new demand rate: computed again
    assert app.version == version + 1
    assert app.status.last_error is None


def test_schulbedarf(flensburg_store):
    app = schulbedarf.SchulbedarfApp(store=flensburg_store)
    assert 'id="bif-schultabelle"' in app.table.html.value and "Schule Ramsharde" in app.table.html.value
    check_page(app)
    assert {"bif-horizon", "bif-district-select", "bif-school-select", "bif-scenario", "bif-chart"} <= classes_in(
        app.widget)
    ramsharde = app.schools.set_index("name").loc["Schule Ramsharde", "school_id"]
    app.school.value = ramsharde
    assert "Schule Ramsharde: Schüler und Kapazität je Jahr" in app.table.html.value
    version = app.version
    app.scenario.scenario.value = "high"
    assert app.version == version + 1
    app.school_map.selected_point = ramsharde  # a click on the school in the map
    assert app.district.value == app.schools.set_index("school_id").loc[ramsharde, "district_id"]
    assert app.school.value == ramsharde
    assert app.status.last_error is None


def test_show_displays_the_page_once(flensburg_store, monkeypatch):
    shown = []
    monkeypatch.setattr(kita, "display", shown.append)
    assert kita.show(store=flensburg_store) is None  # nothing for the notebook to print
    assert len(shown) == 1 and "bif-app" in shown[0]._dom_classes
