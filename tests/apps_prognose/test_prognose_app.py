"""The app „Bevölkerungsprognose“ (bif_lib/apps/views/prognose.py) built in-process on the
bootstrapped Flensburg store (register path, map) and on a bootstrapped Musterstadt store
(stocks path, no map): every control changed, the views follow, exports carry every assumption
on its own sheet, the back-test shows in the app and in „Daten & Qualität“ (also of the Kita app).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def raising(monkeypatch):
    """App callbacks re-raise errors instead of only showing them."""
    monkeypatch.setenv("BIF_UI_RAISE", "1")


def city_env(home: Path, city: str):
    """BIF_HOME and BIF_CITY for this process, restored afterwards (the profile cache cleared)."""
    from bif_lib.city import city_environment

    return city_environment(city, home)


@pytest.fixture
def flensburg(flensburg_store, flensburg_home, raising):
    with city_env(flensburg_home, "flensburg"):
        yield flensburg_store


@pytest.fixture(scope="module")
def prognose_musterstadt_home(tmp_path_factory) -> Path:
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.store import Store

    home = tmp_path_factory.mktemp("prognose-musterstadt")
    with city_env(home, "musterstadt"):
        result = bootstrap("musterstadt", store=Store(home / "store"))
    assert result.ok, result.summary()
    return home


@pytest.fixture
def musterstadt(prognose_musterstadt_home, raising):
    from bif_lib.store import Store

    with city_env(prognose_musterstadt_home, "musterstadt"):
        yield Store(prognose_musterstadt_home / "store")


def excel_of(app):
    """The Excel file of the table shown, as the page's download link carries it."""
    from openpyxl import load_workbook

    app.table.update_downloads(now=True)
    match = re.search(r'href="data:application/vnd[^;]+;base64,([^"]+)"', app.table.downloads.value)
    assert match, app.table.downloads.value
    return load_workbook(io.BytesIO(base64.b64decode(match.group(1))))


def sheet_rows(book, name):
    return [[c.value for c in row] for row in book[name].iter_rows()]


def city_total(app, year: int) -> float:
    return float(app.result.population_array[year - app.result.base_year].sum())


def exercise_every_control(app) -> None:
    """Change every control once; each change must leave a table, two charts and key figures."""
    base, names = app.projector.base_year, list(app.names)
    seen = set()

    def check():
        assert app.status.last_error is None
        assert app.table.table is not None and app.chart.image.value and app.pyramid_chart.image.value
        assert "Veränderung" in app.figures.value
        seen.add(app.table.html.value)

    for kind in ("bands", "components", "scenarios", "districts"):
        app.table_kind.value = kind
        check()
    for kind in ("bands", "components", "scenarios"):
        app.chart_kind.value = kind
        check()
    app.district.value = names[1]  # the table of every district marks the chosen one
    check()
    assert app.table_kind.value == "districts" and app.table.table.selected[1]
    app.year.value = base + 5
    check()
    for scenario in ("low", "high", "medium"):
        app.scenario.scenario.value = scenario
        check()
    for slider in app.scenario.sliders.values():
        slider.value = min(slider.max, slider.value + 0.05)
        check()
    app.scenario.reset.click()  # back to the scenario's values
    for key, slider in app.housing_sliders.items():
        slider.value = 3.0 if key == "persons_per_dwelling" else 0.5
        check()
    for key, box in app.levels.checks.items():  # the planner's own levels (tfr, life expectancy, in-migration)
        box.value = True
        slider = app.levels.sliders[key]
        slider.value = slider.min + 0.6 * (slider.max - slider.min)
        check()
        assert getattr(app.assumptions(), key) == pytest.approx(slider.value)
        box.value = False
        check()
        assert key not in app.levels.values()
    app.horizon.value = 10
    assert app.year.max == base + 10 and app.result.end_year == base + 10
    check()
    app.horizon.value = 25
    check()
    app.district.value = 0
    check()
    assert len(seen) > 5


def district_total(app, district: int, year: int) -> float:
    index = list(app.result.district_ids).index(district)
    return float(app.result.population_array[year - app.result.base_year, index].sum())


def run_housing(app) -> None:
    """300 dwellings in a district from the second projected year: its moves into new housing in
    that year are 300 × persons per dwelling, and the district grows by about as many (whether the
    newcomers add to the city's in-migration or are part of it)."""
    base = app.projector.base_year
    target = list(app.names)[2]
    before = district_total(app, target, base + 5)
    app.housing.district.value = target
    app.housing.year.value = base + 2
    app.housing.dwellings.value = 300
    app.housing.add_button.click()
    assert len(app.housing.table) == 1 and app.housing.message.value == ""
    from bif_lib.apps.views.prognose import components_frame

    frame = components_frame(app.result, target).set_index("year")
    occupancy = app.assumptions().persons_per_dwelling
    assert frame.loc[base + 2, "moves_in_housing"] == pytest.approx(300 * occupancy)
    assert frame.loc[base + 1, "moves_in_housing"] == 0
    assert 0.4 * 300 * occupancy < district_total(app, target, base + 5) - before < 1.2 * 300 * occupancy
    app.housing.year.value = base + 3  # a second project, then remove the first one
    app.housing.add_button.click()
    app.housing.remove(0)
    assert list(app.housing.table["year"]) == [base + 3]
    app.housing.dwellings.max = 10**9
    app.housing.dwellings.value = 10**8
    app.housing.add_button.click()  # outside the bounds: a German message, nothing added
    assert "Wohnungen" in app.housing.message.value and len(app.housing.table) == 1


def check_export(app, *, with_backtest: bool = True) -> None:
    app.table_kind.value = "bands"
    book = excel_of(app)
    expected = ["Tabelle", "Annahmen", "Szenarien", "Neubau"] + (["Rückblick", "Rückblick Jahre"] if with_backtest
                                                                  else []) + ["Hinweise"]
    assert book.sheetnames == expected
    annahmen = {row[0]: row[1] for row in sheet_rows(book, "Annahmen")[1:]}
    assert annahmen["Szenario"] == app.assumptions().label_de
    for label in ("Faktor Geburtenhäufigkeit", "Faktor Sterblichkeit", "Faktor Zuzüge", "Faktor Fortzüge",
                  "Personen je Neubauwohnung", "Geburten je Frau (zusammengefasste Geburtenziffer)"):
        assert label in annahmen, label
    neubau = sheet_rows(book, "Neubau")
    assert len(neubau) == 1 + len(app.housing.table)
    szenarien = sheet_rows(book, "Szenarien")
    assert szenarien[0][:4] == ["Annahme", "niedrig", "mittel", "hoch"]
    hinweise = [row[0] for row in sheet_rows(book, "Hinweise")]
    assert "Annahmen der Berechnung" in hinweise
    head = [c.value for c in book["Tabelle"][1]]
    assert head[:2] == ["Jahr", "Art"] and head[-1] == "Insgesamt"
    kinds = {row[1] for row in sheet_rows(book, "Tabelle")[1:]}
    assert kinds == {"Bestand", "Schätzung"}  # estimates labelled as such
    assert "tabelle" not in app.table.downloads.filename and "bevoelkerungsprognose" in app.table.downloads.filename


def test_the_app_on_flensburg(flensburg):
    from bif_lib.apps.views.prognose import OWN_LABEL, PrognoseApp
    from bif_lib.city import current_profile

    app = PrognoseApp(store=flensburg)
    profile = current_profile()
    assert app.map is not None and list(app.names) == list(profile.districts.codes)
    base = app.projector.base_year
    assert base == 2022 and app.result.end_year == base + 20
    assert len(app.bands) == len(profile.age_bands)
    assert "synthetisch" in app.widget.children[1].value
    medium = city_total(app, base + 20)
    app.scenario.scenario.value = "high"
    assert city_total(app, base + 20) > medium
    app.scenario.scenario.value = "medium"
    app.scenario.sliders["fertility_factor"].value = 1.2
    assert OWN_LABEL in app.results and app.assumptions().label_de == "mittel (angepasst)"
    app.table_kind.value = "scenarios"
    assert OWN_LABEL in app.table.table.frame.columns
    app.scenario.reset.click()  # „Szenariowerte“: the sliders back to the scenario's values
    assert OWN_LABEL not in app.results and app.assumptions().name == "medium"
    app.map.selected = list(app.names)[3]  # a click in the map selects the district
    assert app.district.value == list(app.names)[3]
    exercise_every_control(app)
    run_housing(app)
    check_export(app)

    backtest = app.backtest()
    assert re.fullmatch(r"Prognosefehler 2017→2022: \d+,\d\d %", backtest.headline)
    assert backtest.in_sample and abs(backtest.error_pct) < 5.0  # a sanity bound; the value: bench_backtest
    app.backtest_box.selected_index = 0
    assert "Prognosefehler 2017→2022" in app.backtest_view.value
    assert "Prognosefehler 2017→2022" in app.quality.html.value


def test_the_back_test_in_the_quality_panel_of_the_kita_app(flensburg):
    from bif_lib.apps.views.kita import KitaApp

    app = KitaApp(store=flensburg)
    assert app._backtest is None and app.quality.backtest_lines == []  # not computed when the app opens
    assert "wird beim Öffnen berechnet" in app.quality.html.value
    app.quality.selected_index = 0
    assert app.quality.backtest_lines[0].startswith("Prognosefehler 2017→2022: ")
    assert "Mittlerer absoluter Fehler der Stadtteile" in app.quality.html.value


def test_the_app_on_musterstadt_without_a_map(musterstadt):
    from bif_lib.apps.views.prognose import PrognoseApp
    from bif_lib.city import current_profile

    app = PrognoseApp(store=musterstadt)
    profile = current_profile()
    assert app.map is None and list(app.names) == list(profile.districts.codes)
    assert [label for label, _ in app.table_kind.options][-1] == "Stadtteile"
    assert app.projector.base_year == 2023 and len(app.bands) == 20
    app.table_kind.value = "bands"
    assert len(app.table.table.frame.columns) == 2 + 20 + 1  # Jahr, Art, 20 groups, Insgesamt
    exercise_every_control(app)
    run_housing(app)
    check_export(app)
    # an official count of the base year (planning.official_population of a profile): the base follows it
    app.official = {"year": 2023, "population": 170_000, "source": "Testzählung"}
    app.align.value = True
    assert city_total(app, 2023) == pytest.approx(170_000)
    assert "Testzählung" in app.quality.assumptions["Basisbevölkerung"]
    app.align.value = False
    assert city_total(app, 2023) != pytest.approx(170_000)
    backtest = app.backtest()
    assert (backtest.base_year, backtest.end_year, backtest.in_sample) == (2021, 2023, False)
    assert backtest.parameters_period == (2019, 2021)
    assert np.isfinite(backtest.error_pct) and np.isfinite(backtest.mape)
    app.quality.selected_index = 0
    assert backtest.headline in app.quality.html.value and "nur aus 2019–2021 geschätzt" in app.quality.html.value
    body = app.widget.children[1].value
    assert "Flensburg" not in body


def test_the_requirements_name_the_new_app(musterstadt):
    from bif_lib.apps.requirements import resolve

    resolution = resolve("bevoelkerungsprognose", musterstadt)
    assert resolution.ok and resolution.disabled == {"Karte": [
        "Grenzen der Stadtteile (districts.boundaries im Stadtprofil)"]}
