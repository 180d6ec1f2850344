"""The course in a second city (issue #14): which datasets, names and labels the checks use
comes from the city profile (``training:`` and ``districts:`` in city.yaml). Musterstadt has 27
districts with non-consecutive codes, its own residents dataset and no boundaries: exercise 3.2
joins the names instead of the areas. Unit level: frames are fed to the checks, no bootstrap."""

from __future__ import annotations

import pandas as pd
import pytest

from bif_lib.city.profile import current_profile, load_profile
from bif_lib.i18n import format_number
from bif_lib.training import COURSE, course_data, pruefe
from bif_lib.training import exercises as ex


@pytest.fixture
def musterstadt(monkeypatch, tmp_path):
    """BIF_CITY=musterstadt, the checks' data from frames built here."""
    monkeypatch.setenv("BIF_CITY", "musterstadt")
    monkeypatch.setenv("BIF_TRAINING_RESULTS", str(tmp_path / "home" / ".bif" / "schulung" / "ergebnisse.json"))
    current_profile.cache_clear()
    names = dict(current_profile().districts.names)
    residents = pd.DataFrame([{"year": year, "district_id": code, "residents": 1000 + 37 * i + (year - 2022) * 5}
                              for year in (2022, 2023) for i, code in enumerate(names)])
    residents.loc[(residents["year"] == 2022) & (residents["district_id"] == 11), "residents"] = 9999  # largest 2022
    residents.attrs["bif"] = {"dataset": "einwohner_je_stadtteil", "version": 1}
    stocks = pd.DataFrame([{"year": year, "district_id": code, "sex": sex, "age_from": 0, "age_to": 4,
                            "population": 10 + i}
                           for year in (2022, 2023) for i, code in enumerate(names) for sex in "mw"])
    stocks.attrs["bif"] = {"dataset": "bevoelkerung_altersgruppen", "version": 2, "title": "Bevölkerung"}
    frames = {"einwohner_je_stadtteil": residents, "bevoelkerung_altersgruppen": stocks}

    def load(dataset):
        if dataset not in frames:
            raise AssertionError(f"the course loaded {dataset}, which Musterstadt does not have")
        return frames[dataset].copy()

    contract = {"schema": {"fields": [{"name": "year", "title": "Jahr"},
                                      {"name": "age_from", "title": "Alter von", "unit": "Jahre"},
                                      {"name": "population", "title": "Einwohnerinnen und Einwohner",
                                       "unit": "Personen"}]}}
    monkeypatch.setattr(ex, "_load", load)
    monkeypatch.setattr(ex, "_contract", lambda dataset: contract)
    yield {"names": names, "residents": residents, "stocks": stocks}
    current_profile.cache_clear()


def _latest(data):
    frame = data["residents"]
    return frame[frame["year"] == frame["year"].max()]


def _table(data):
    return pd.DataFrame({"district_id": list(data["names"]), "name": list(data["names"].values())})


def test_the_profiles_name_the_course_data():
    flensburg = course_data(load_profile("flensburg"))
    assert (flensburg.residents, flensburg.value, flensburg.boundaries) == ("einwohner_stadtteile", "residents",
                                                                           "stadtteile")
    assert flensburg.has_map and flensburg.example == "kitas" and flensburg.example_year_column is None
    muster = course_data(load_profile("musterstadt"))
    assert muster.residents == "einwohner_je_stadtteil" and not muster.has_map
    assert len(muster.names) == 27 and list(muster.names)[:5] == [11, 12, 13, 14, 21]
    assert muster.example == "bevoelkerung_altersgruppen" and muster.example_year_column == "year"
    assert list(muster.districts().columns) == ["district_id", "name"] and len(muster.districts()) == 27


def test_a_profile_without_a_training_section_is_a_german_error(tmp_path, monkeypatch, capsys):
    profile = load_profile("musterstadt")
    settings = {k: v for k, v in profile.settings.items() if k != "training"}
    bare = type(profile)(profile.key, profile.name, profile.directory, profile.crs, settings, profile.sources)
    with pytest.raises(ValueError, match="Abschnitt training: fehlt"):
        course_data(bare)
    broken = type(profile)(profile.key, profile.name, profile.directory, profile.crs,
                           {**settings, "training": {"residents": {"dataset": "x"}}}, profile.sources)
    with pytest.raises(ValueError, match="Pflichtangabe „residents.value“ fehlt"):
        course_data(broken)
    monkeypatch.setattr(ex, "course_data", lambda: course_data(bare))
    monkeypatch.setenv("BIF_TRAINING_RESULTS", str(tmp_path / "ergebnisse.json"))
    assert pruefe("3.1", "Altstadt") is False
    out = capsys.readouterr().out
    assert "Prüfung gerade nicht möglich." in out and "Schulungsleitung" in out and "Traceback" not in out
    assert not (tmp_path / "ergebnisse.json").exists()


def test_largest_district_and_lists_use_the_profiles_names(musterstadt, capsys):
    data = musterstadt
    latest = _latest(data)
    largest = data["names"][int(latest.loc[latest["residents"].idxmax(), "district_id"])]
    assert pruefe("3.1", largest.upper()) is True
    assert pruefe("3.1", "Altstadt") is False  # the largest of 2022, not of the newest year
    assert "2022" in capsys.readouterr().out
    assert pruefe("3.1", "Atlantis") is False
    assert "nicht in der Liste der Stadtteile" in capsys.readouterr().out

    import ipywidgets as widgets

    names = sorted(data["names"].values())
    assert pruefe("4.1", widgets.Dropdown(options=names)) is True
    assert "alle 27 Stadtteile" in capsys.readouterr().out
    assert pruefe("4.1", widgets.Dropdown(options=names[1:])) is False

    by_name = {data["names"][int(d)]: int(r) for d, r in zip(latest["district_id"], latest["residents"])}

    def text(name):
        return f"{name}: {format_number(by_name[name])} Einwohnerinnen und Einwohner"

    assert pruefe("4.2", text) is True
    dropdown = widgets.Dropdown(options=names)
    shown = widgets.HTML(text(dropdown.value))
    dropdown.observe(lambda change: setattr(shown, "value", text(change["new"])), names="value")
    assert pruefe("4.3", widgets.VBox([dropdown, shown])) is True


def test_without_boundaries_the_join_is_a_table(musterstadt, capsys):
    data = musterstadt
    districts = _table(data)
    assert pruefe("3.2", districts.merge(_latest(data), on="district_id")) is True
    assert "Tabelle verbindet die 27 Stadtteile" in capsys.readouterr().out
    wrong = [districts.merge(data["residents"], on="district_id"),                       # all years
             districts.merge(data["residents"][data["residents"]["year"] == 2022], on="district_id"),
             _latest(data),                                                              # no names
             districts.assign(name=list(reversed(districts["name"]))).merge(_latest(data), on="district_id"),
             districts]
    for answer in wrong:
        assert pruefe("3.2", answer) is False
        out = capsys.readouterr().out
        assert "Noch nicht ganz." in out and "ließ sich nicht prüfen" not in out and "Traceback" not in out


def test_the_bar_chart_counts_27_bars(musterstadt, capsys):
    from matplotlib.figure import Figure

    latest = _latest(musterstadt)
    ax = Figure().subplots()
    ax.barh([str(d) for d in latest["district_id"]], list(latest["residents"]))
    ax.set_title("Einwohnerinnen und Einwohner")
    assert pruefe("3.3", ax) is True
    ax = Figure().subplots()
    ax.bar(["a", "b"], [1, 2])
    assert pruefe("3.3", ax) is False
    assert "ein Balken je Stadtteil (27)" in capsys.readouterr().out


def test_notebook_2_uses_the_profiles_example(musterstadt, capsys):
    stocks = musterstadt["stocks"]
    assert pruefe("2.1", stocks.copy()) is True
    assert pruefe("2.1", musterstadt["residents"].copy()) is False
    assert "Altersgruppe" in capsys.readouterr().out  # the search word of the profile
    assert pruefe("2.2", "Personen") is True
    assert pruefe("2.2", "Jahre") is False
    newest = stocks[stocks["year"] == stocks["year"].max()]
    assert pruefe("2.3", newest["population"].sum()) is True
    capsys.readouterr()
    assert pruefe("2.3", stocks["population"].sum()) is False
    assert "über alle Jahre" in capsys.readouterr().out
    assert pruefe("2.3", newest["age_to"].sum()) is False
    assert "Summe der Spalte age_to" in capsys.readouterr().out


def test_titles_and_texts_use_the_profiles_labels(musterstadt, monkeypatch):
    profile = current_profile()
    districts = profile.districts
    other = type(districts)(names=districts.names, label="Ortsteil", label_plural="Ortsteile")
    monkeypatch.setattr(type(profile), "districts", property(lambda self: other))
    titles = {e.id: e.title for e in COURSE}
    assert titles["4.1"] == "Auswahlliste der Ortsteile" and titles["4.2"] == "Text je Ortsteil"
    assert titles["3.1"] == "Ortsteil mit den meisten Einwohnern"
    assert all("{" not in t for t in titles.values())
    assert course_data().label_plural == "Ortsteile"
