"""The bundled apps adapt to the data a city has: what each app needs (bif_lib.apps.requirements),
``bif publish --bundled`` skipping apps without their data, the notebooks' texts filled from
the profile, and the indicator catalogue of tables with several categories. Two profiles: one
like Flensburg (boundaries, schools, Kitas, released register) and one like Musterstadt (27
districts with non-consecutive codes, no boundaries, population stocks only). No store, no
widgets: catalog entries and profiles are built here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bif_lib.apps import requirements
from bif_lib.apps.publishing import bundled
from bif_lib.apps.views import atlas, common, kita
from bif_lib.city.profile import CityProfile

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "apps"
MUSTER_CODES = [11, 12, 13, 14, 21, 22, 23, 24, 25, 31, 32, 33, 41, 42, 51, 52, 53, 61, 62, 71, 72, 73, 81, 82,
                91, 92, 93]


def profile(settings: dict) -> CityProfile:
    base = {"key": "testcity", "name": "Teststadt", "crs": "EPSG:25832", "sources": []}
    return CityProfile("testcity", settings.get("name", "Teststadt"), Path("/nonexistent/testcity"), "EPSG:25832",
                       {**base, **settings})


BIG = profile({
    "organisation": "Stadt Groß", "name": "Groß",
    "districts": {"codes": {1: "Mitte", 2: "Nord", 3: "Süd"}, "boundaries": "grenzen"},
    "planning": {"released": {"population": "bevoelkerung_einzelalter", "parameters": "projektionsparameter"}},
    "apps": {"kita": {"owner": "Stadt Groß, Jugendamt / Team BIF", "inputs": {"kitas": {"dataset": "kitas_gross"}}},
             "schulbedarf": {"inputs": {"schools": {"dataset": "schulen_gross"}}}},
})
SMALL = profile({
    "organisation": "Stadt Klein (fiktiv)", "name": "Klein",
    "districts": {"label": "Ortsteil", "label_plural": "Ortsteile",
                  "codes": {c: f"Ortsteil {c}" for c in MUSTER_CODES}},
    "planning": {"population": "stocks", "stocks": {"dataset": "bestand"}, "life_table": "sterbetafel"},
})


@dataclass
class Entry:
    dataset_id: str
    classification: str = "open"
    fields: tuple[str, ...] = ()
    contract: dict = field(default_factory=dict)

    def __post_init__(self):
        self.contract = {"schema": {"fields": [{"name": f} for f in self.fields]}}


def catalog(*entries: Entry) -> dict:
    return {e.dataset_id: e for e in entries}


BIG_CATALOG = catalog(Entry("grenzen", fields=("district_id", "name", "geometry")),
                      Entry("einwohner", fields=("year", "district_id", "residents")),
                      Entry("kitas_gross", fields=("kita_id", "geometry")),
                      Entry("schulen_gross", fields=("school_id",)),
                      Entry("bevoelkerung_einzelalter", "internal", ("year", "district_id", "sex", "age")),
                      Entry("projektionsparameter", "internal", ("parameter",)),
                      Entry("kindertagespflege", "internal", ("year", "district_id", "age_group", "children")),
                      Entry("capacities", "internal", ("school_id", "streams")))
SMALL_CATALOG = catalog(Entry("bestand", fields=("year", "district_id", "sex", "age_from", "age_to", "population")),
                        Entry("sterbetafel", fields=("sex", "age", "qx")),
                        Entry("einwohner_je_ortsteil", fields=("district_id", "year", "residents")))


def test_a_city_with_everything_can_run_every_app():
    for app in requirements.APPS:
        resolution = requirements.resolve(app, profile=BIG, catalog=BIG_CATALOG)
        assert resolution.ok and resolution.disabled == {}, (app, resolution)
    assert requirements.datasets_for("kita", "kitas", profile=BIG) == ["kitas_gross"]
    assert requirements.datasets_for("schulbedarf", requirements.PROJECTION, profile=BIG) == [
        "bevoelkerung_einzelalter", "projektionsparameter"]
    assert requirements.datasets_for("bevoelkerung", requirements.INDICATORS, BIG_CATALOG, profile=BIG) == [
        "einwohner"]  # open, with year and district_id


def test_a_city_with_population_stocks_only_gets_the_population_app_without_map():
    population = requirements.resolve("bevoelkerung", profile=SMALL, catalog=SMALL_CATALOG)
    assert population.ok
    # no map without boundaries; the age pyramid shows the stocks split into single ages
    assert set(population.disabled) == {"Karte"}
    assert "Grenzen der Ortsteile" in population.disabled["Karte"][0]
    assert requirements.datasets_for("bevoelkerung", requirements.SINGLE_AGES, profile=SMALL) == [
        "bestand", "sterbetafel"]
    # the projection is estimated from the stocks and the life table: both are there
    assert requirements.datasets_for("kita", requirements.PROJECTION, profile=SMALL) == ["bestand", "sterbetafel"]
    assert requirements.resolve("kita", profile=SMALL, catalog=SMALL_CATALOG).missing == ["kitas"]
    missing = requirements.resolve("schulbedarf", profile=SMALL, catalog=SMALL_CATALOG).missing
    assert missing == ["schools", ("Grenzen der Ortsteile (Lage der Schulen, Zuordnung nach Entfernung) "
                                   "(districts.boundaries im Stadtprofil)")]
    assert requirements.resolve("bevoelkerung", profile=SMALL, catalog={}).missing == [
        "offene Datensätze mit Jahr und Ortsteil (year, district_id)"]


def test_kitas_without_boundaries_need_their_own_district_column():
    no_map = profile({"districts": {"codes": {5: "A", 7: "B"}}, "apps": {"kita": {"inputs": {"kitas": "kitas"}}},
                      "planning": BIG.settings["planning"]})
    projection = [Entry("bevoelkerung_einzelalter", "internal"), Entry("projektionsparameter", "internal")]
    with_column = catalog(Entry("kitas", fields=("kita_id", "district_id")), *projection)
    assert requirements.resolve("kita", profile=no_map, catalog=with_column).ok
    without = catalog(Entry("kitas", fields=("kita_id", "geometry")), *projection)
    assert requirements.resolve("kita", profile=no_map, catalog=without).missing == [
        "Grenzen der Stadtteile oder eine Spalte district_id im Datensatz kitas"]


def test_stocks_profile_without_dataset_names_the_profile_key():
    incomplete = profile({"districts": {"codes": {1: "A"}}, "planning": {"population": "stocks"}})
    assert requirements.resolve("kita", profile=incomplete, catalog={}).missing == [
        "kitas", "planning.stocks.dataset", "planning.life_table"]


def test_load_input_maps_the_city_columns_to_the_app_columns(monkeypatch):
    mapped = profile({"districts": {"codes": {1: "A"}},
                      "apps": {"kita": {"inputs": {"kitas": {"dataset": "kita_liste",
                                                             "columns": {"facility": "Einrichtung"}}}}}})
    frame = pd.DataFrame({"Einrichtung": ["Kita A"], "kita_id": [1]})
    frame.attrs["bif"] = {"dataset": "kita_liste"}
    loaded = []
    monkeypatch.setattr("bif_lib.api.load", lambda name, store=None: loaded.append(name) or frame.copy())
    result = requirements.load_input("kita", "kitas", profile=mapped)
    assert loaded == ["kita_liste"] and list(result.columns) == ["facility", "kita_id"]
    assert result.attrs["bif"]["dataset"] == "kita_liste"


# --- notebooks and their texts ----------------------------------------------------------------------

def test_bundled_notebooks_name_no_city():
    for path in NOTEBOOKS.glob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        for word in ("Flensburg", "Sozialatlas", "13 Stadtteile"):
            assert word not in text, (path.name, word)
        meta = json.loads(text)["metadata"]["bif"]
        assert meta["owner"] == "{owner}"


def test_texts_are_filled_from_the_profile():
    nb = json.loads((NOTEBOOKS / "bevoelkerung.ipynb").read_text(encoding="utf-8"))
    filled = bundled.fill_metadata(nb, "bevoelkerung", SMALL)["metadata"]["bif"]
    assert filled["title"] == "Bevölkerung nach Ortsteilen"
    assert "der 27 Ortsteile" in filled["description"] and "{" not in filled["description"]
    assert filled["owner"] == "Stadt Klein (fiktiv) / Team BIF"  # the default: organisation / Team BIF
    assert nb["metadata"]["bif"]["owner"] == "{owner}"  # the notebook itself is unchanged
    kita_nb = json.loads((NOTEBOOKS / "kita.ipynb").read_text(encoding="utf-8"))
    filled = bundled.fill_metadata(kita_nb, "kita", BIG)["metadata"]["bif"]
    assert filled["owner"] == "Stadt Groß, Jugendamt / Team BIF" and filled["title"] == "Kita-Versorgung nach Stadtteilen"
    custom = profile({"districts": {"codes": {1: "A"}}, "apps": {"kita": {"description": "Eigener Text für {city}."}}})
    assert bundled.fill_metadata(kita_nb, "kita", custom)["metadata"]["bif"]["description"] == "Eigener Text für Teststadt."
    assert bundled.fill_text("{unbekannt} {district}", {"district": "Bezirk"}) == "{unbekannt} Bezirk"


def test_publish_bundled_skips_apps_without_their_data(monkeypatch, tmp_path):
    from bif_lib.apps.publishing import publish

    monkeypatch.setattr("bif_lib.city.profile.current_profile", lambda: SMALL)
    monkeypatch.setattr(requirements, "_catalog", lambda store: SMALL_CATALOG)
    published = []

    @dataclass
    class Result:
        app_id: str
        version: int = 1

    monkeypatch.setattr(publish, "is_live", lambda notebook, cfg=None, registry=None: False)
    monkeypatch.setattr(publish, "publish_notebook",
                        lambda notebook, **kwargs: published.append(notebook.stem) or Result(notebook.stem))
    said, warned = [], []

    @dataclass
    class Cfg:
        store: str = str(tmp_path / "store")
        home: str = str(tmp_path)

    code = bundled.publish_bundled(Cfg(), None, "betrieb", notebooks=sorted(NOTEBOOKS.glob("*.ipynb")),
                                   say=said.append, warn=warned.append)
    assert code == 0 and published == ["bevoelkerung", "bevoelkerungsprognose"]
    text = "\n".join(said)
    assert "kita.ipynb: übersprungen – App 'kita' nicht veröffentlicht: es fehlen Daten dieser Stadt – kitas." in text
    assert "schulbedarf.ipynb: übersprungen" in text and "schools" in text
    assert "bevoelkerung.ipynb: ohne Karte" in text


# --- indicators of tables with several categories -----------------------------------------------------

STOCKS_CONTRACT = {"title": "Bevölkerung nach Ortsteil, Geschlecht und Altersgruppe", "schema": {"fields": [
    {"name": "year", "type": "year"}, {"name": "district_id", "type": "integer"},
    {"name": "age_from", "type": "integer", "title": "Alter von", "unit": "Jahre"},
    {"name": "age_to", "type": "integer", "title": "Alter bis", "unit": "Jahre"},
    {"name": "sex", "type": "string", "title": "Geschlecht", "constraints": {"enum": ["m", "w"]},
     "description": "Geschlecht (ohne Codeliste: BIF kennt m/w)"},
    {"name": "population", "type": "integer", "title": "Einwohner", "unit": "Personen"}]}}


@pytest.fixture
def stocks() -> pd.DataFrame:
    rows = []
    for year in (2022, 2023):
        for district in (11, 93):
            for sex in ("m", "w"):
                for low, high in ((0, 4), (5, 9), (10, None)):
                    rows.append((year, district, low, high, sex, 10 * district + low + (year - 2022)))
    frame = pd.DataFrame(rows, columns=["year", "district_id", "age_from", "age_to", "sex", "population"])
    frame["age_to"] = frame["age_to"].astype("Int64")
    return frame


def test_categories_are_derived_from_contract_and_data(stocks):
    dims, attributes = atlas.dataset_dimensions(stocks, STOCKS_CONTRACT["schema"]["fields"])
    assert dims == ["sex", "age_from"] and attributes == ["age_to"]
    declared = atlas.dataset_dimensions(stocks, STOCKS_CONTRACT["schema"]["fields"], ["sex", "age_from"])
    assert declared == (dims, attributes)


def test_a_table_with_two_categories_gives_total_and_each_category(stocks):
    catalogue = atlas.indicator_catalogue({"bestand": stocks}, {"bestand": STOCKS_CONTRACT})
    labels = [i.label for i in catalogue]
    assert labels == ["Einwohner insgesamt", "Einwohner: männlich", "Einwohner: weiblich",
                      "Einwohner: Alter: 0 bis 4 Jahre", "Einwohner: Alter: 5 bis 9 Jahre",
                      "Einwohner: Alter: ab 10 Jahre"]
    total, men = catalogue[0], catalogue[1]
    values = atlas.indicator_values(stocks, total)
    row = values[(values["year"] == 2022) & (values["district_id"] == 93)]
    assert row["value"].tolist() == [2 * (930 + 935 + 940)]
    men_values = atlas.indicator_values(stocks, men)
    assert men_values.loc[(men_values["year"] == 2023) & (men_values["district_id"] == 11), "value"].tolist() == [
        111 + 116 + 121]
    oldest = atlas.indicator_values(stocks, catalogue[-1])
    assert len(oldest) == 4 and oldest["value"].iloc[0] == 2 * 120
    assert atlas.default_indicator_key(catalogue, "bestand") == total.key
    names = {11: "Altstadt", 93: "Eichhöfe"}
    table = atlas.comparison_table(values, total, 2023, names)
    assert table.frame["Wert 2023"].tolist() == [2 * (111 + 116 + 121), 2 * (931 + 936 + 941),
                                                 2 * (111 + 116 + 121 + 931 + 936 + 941)]


def test_suppressed_parts_suppress_the_sum(stocks):
    stocks = stocks.assign(population_suppressed=False)
    stocks.loc[0, ["population", "population_suppressed"]] = [np.nan, True]
    total = atlas.indicator_catalogue({"bestand": stocks}, {"bestand": STOCKS_CONTRACT})[0]
    values = atlas.indicator_values(stocks, total)
    first = values[(values["year"] == stocks.loc[0, "year"]) & (values["district_id"] == stocks.loc[0, "district_id"])]
    assert first["suppressed"].all() and first["value"].isna().all()


def test_district_texts_follow_the_profile(monkeypatch):
    monkeypatch.setattr("bif_lib.city.profile.current_profile", lambda: SMALL)
    assert common.district_label() == "Ortsteil" and common.districts_dative() == "Ortsteilen"
    assert common.districts_mean_label() == "Mittelwert der Ortsteile"
    assert list(common.district_names()) == MUSTER_CODES
    assert kita.app_title() == "Kita-Versorgung nach Ortsteilen"


def test_kitas_without_boundaries_keep_their_district():
    kitas = pd.DataFrame({"kita_id": ["a", "b"], "district_id": [93, None], "lat": [54.1, 54.2], "lon": [9.1, 9.2]})
    located = kita.kitas_with_district(kitas, None)
    assert located["district_id"].tolist() == [93, 0] and located["lat"].tolist() == [54.1, 54.2]
