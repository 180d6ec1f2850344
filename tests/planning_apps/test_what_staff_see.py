"""What planners see (issue #16): numbers that add up on screen, headers with units, exports that
say what they show (file name, sheet „Hinweise“), the gallery card's short list of datasets and
the publication's message about ``owner``.

Hand-checked small cases first, then the three apps on the bootstrapped store."""

from __future__ import annotations

import base64
import html as html_lib
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from openpyxl import load_workbook

from bif_lib.apps.views import atlas, bevoelkerung, kita, schulbedarf
from bif_lib.apps.widgets.formatting import html_table
from bif_lib.apps.widgets.loading import RAISE_ENV
from bif_lib.i18n import format_local_datetime
from bif_lib.planning.daycare import THREE_TO_SCHOOL, UNDER_3, DemandRates

NAMES = {1: "Altstadt", 2: "Neustadt"}


@pytest.fixture(autouse=True)
def raise_errors(monkeypatch):
    monkeypatch.setenv(RAISE_ENV, "1")


def today() -> str:
    return datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d")


def german_int(text: str) -> int:
    return int(text.replace(".", "").replace("−", "-"))


def shown_table(html: str) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts of the HTML table as the page shows them."""
    headers = [html_lib.unescape(h) for h in re.findall(r'<th class="[a-z]+" scope="col">(.*?)</th>', html)]
    rows = [[html_lib.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", html)]
    return headers, rows


def downloads(view) -> dict[str, bytes]:
    """{file name: bytes} of a TableView's download links (built at once)."""
    view.update_downloads(now=True)
    return {name: base64.b64decode(data) for name, data in
            re.findall(r'download="([^"]+)" href="data:[^;]+(?:;charset=utf-8)?;base64,([^"]+)"', view.downloads.value)}


def the(files: dict[str, bytes], extension: str) -> tuple[str, bytes]:
    [(name, data)] = [(n, d) for n, d in files.items() if n.endswith(extension)]
    return name, data


# --- Kita: Saldo = Plätze − Bedarf as shown ----------------------------------------------------------

def test_kita_saldo_is_places_minus_demand_as_shown_hand_checked():
    """Kita k1 (Altstadt): 32 places, one Krippe (10) and one Elementar group (20) -> 32 × 10/30 =
    10,67 places under 3. Children under 3: Altstadt 40,8, Neustadt 10 -> city 50,8; demand (50 %)
    20,4 and 5 -> 25,4. Shown: districts rounded so that they add up to the rounded city total:
    Kinder 41 + 10 = 51, Plätze 11 + 0 = 11, Bedarf 20 + 5 = 25; Saldo 11 − 20 = −9, 0 − 5 = −5,
    city 11 − 25 = −14 (the unrounded gaps −9,73 and −14,73 would show as −10 and −15)."""
    population = pd.DataFrame({"year": [2022] * 4, "district_id": [1, 1, 2, 2], "sex": ["m"] * 4,
                               "age": [1, 4, 1, 4], "population": [40.8, 50.0, 10.0, 20.0]})
    kitas = pd.DataFrame({"kita_id": ["k1", "k2"], "district_id": [1, 2], "childcare_places": [32, 20],
                          "group_0_3": [1, 0], "group_3_6": [1, 1], "group_1_6": [0, 0], "group_6_14": [0, 0],
                          "nature_3_6": [0, 0]})
    result = kita.daycare(population, kitas, years=[2022], demand=DemandRates(under_3=0.5, three_to_school=1.0))
    table = kita.kita_gap_table(result, UNDER_3, 2022, NAMES)
    frame = table.frame
    assert frame["Kinder"].tolist() == [41, 10, 51]
    assert frame["Plätze"].tolist() == [11, 0, 11]
    assert frame["Bedarf"].tolist() == [20, 5, 25]
    assert frame["Saldo (Plätze − Bedarf)"].tolist() == [-9, -5, -14]
    assert frame["Versorgungsquote"].tolist() == pytest.approx([11 / 41 * 100, 0.0, 11 / 51 * 100])
    assert frame["Status"].tolist() == ["Unterdeckung"] * 3
    headers, rows = shown_table(html_table(table))
    assert headers == ["Nr.", "Stadtteil", "Kinder", "Plätze", "Versorgungsquote (%)", "Betreuungsquote (%)",
                       "Bedarf", "Saldo (Plätze − Bedarf)", "Status"]
    assert [r[2:4] + r[6:8] for r in rows] == [["41", "11", "20", "-9"], ["10", "0", "5", "-5"],
                                               ["51", "11", "25", "-14"]]
    # key figures, map and the table of the years show the same numbers
    figures = kita.kita_key_figures(result, UNDER_3, 2022)
    assert figures["Gesamtstadt 2022: Kinder"] == "51" and figures["Plätze"] == "11"
    assert figures["Saldo (Plätze − Bedarf)"] == "-14"
    values, labels = kita.kita_map_values(result, UNDER_3, 2022, NAMES, "gap")
    assert values == {1: -9, 2: -5} and "41 Kinder, 11 Plätze" in labels[1] and "Saldo -9" in labels[1]
    years = kita.kita_years_table(result, UNDER_3, 1, "Altstadt").frame
    assert years.iloc[0].tolist()[1:] == [41, 20, 11, -9]


def test_kita_table_adds_up_on_screen_in_every_row(flensburg_store):
    app = kita.KitaApp(store=flensburg_store)
    base = app.projector.base_year
    checked = 0
    for band in (UNDER_3, THREE_TO_SCHOOL):
        for year in (base, base + 8):
            app.band.value, app.year.value = band, year
            headers, rows = shown_table(app.table.html.value)
            column = {h: i for i, h in enumerate(headers)}
            assert "Versorgungsquote (%)" in column
            for row in rows:  # 13 Stadtteile and the Gesamtstadt
                places, demand = german_int(row[column["Plätze"]]), german_int(row[column["Bedarf"]])
                assert german_int(row[column["Saldo (Plätze − Bedarf)"]]) == places - demand, row
                checked += 1
            assert rows[-1][1] == "Gesamtstadt"
            for name in ("Kinder", "Plätze", "Bedarf", "Saldo (Plätze − Bedarf)"):
                districts = sum(german_int(r[column[name]]) for r in rows[:-1])
                assert districts == german_int(rows[-1][column[name]]), name
            figures = kita.kita_key_figures(app.result, band, year)  # the key figure is the table's city Saldo
            city_saldo = rows[-1][column["Saldo (Plätze − Bedarf)"]]
            assert german_int(figures["Saldo (Plätze − Bedarf)"]) == german_int(city_saldo)
    assert checked == 4 * 14


# --- exports that say what they show -----------------------------------------------------------------

def test_kita_export_of_scenario_hoch_for_a_stadtteil(flensburg_store):
    app = kita.KitaApp(store=flensburg_store)
    app.scenario.scenario.value = "high"
    app.district.value = 11  # Mürwik
    files = downloads(app.table)
    name, data = the(files, ".xlsx")
    year = app.year.value
    assert name == f"kita_versorgung_{year}_unter_3_jahre_muerwik_hoch_{today()}.xlsx"
    assert the(files, ".csv")[0] == name.replace(".xlsx", ".csv")
    wb = load_workbook(io.BytesIO(data))
    assert list(wb.active.values)[0][4] == "Versorgungsquote (%)"
    rows = list(wb["Hinweise"].values)
    labels = {r[0]: r[1] for r in rows if r[0]}
    assert labels["App"] == "Kita-Versorgung nach Stadtteilen" and labels["Auswahl"] == "Mürwik"
    assert labels["Szenario"] == "hoch"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", labels["Erstellt"])
    assert labels["Modellversion"].startswith("BIF 0.1.0: Bevölkerungsvorausberechnung")
    # every assumption, German label and value: scenario „hoch“ = fertility 1,08, mortality falling
    # as in Destatis variant L3, in-migration 1,07 (docs/planning-models.md), demand rates 50 % and 95 %
    start = [r[0] for r in rows].index("Annahmen der Berechnung")
    assumptions = {r[0]: r[1] for r in rows[start + 1:] if r[0]}
    for label, value in {"Szenario": "hoch", "Faktor Geburtenhäufigkeit": "1,08", "Faktor Sterblichkeit": "1,00",
                         "Jährlicher Rückgang der Sterblichkeit": "Männer 1,49 %, Frauen 1,37 % je Jahr",
                         "Faktor Zuzüge": "1,07", "Faktor Fortzüge": "1,00",
                         "Faktor Umzüge zwischen Stadtteilen": "1,00", "Basisjahr (Bestand 31.12.)": "2022",
                         "Vorausberechnung bis": "2037", "Bedarfsquote unter 3 Jahre": "50 %",
                         "Bedarfsquote 3 Jahre bis Schuleintritt": "95 %"}.items():
        assert assumptions[label] == value, label
    assert set(app.quality.assumptions) <= set(assumptions)  # all of them, as the panel shows them
    # the datasets: version, reference date, import date (Berlin), synthetic / protected
    header = [r[0] for r in rows].index("Datensatz")
    data_rows = {r[1]: r for r in rows[header + 1:] if r[0] and r[1]}
    assert set(data_rows) >= {"stadtteile", "kitas", "bevoelkerung_einzelalter", "projektionsparameter"}
    for dataset, stand in {"kitas": "17.01.2024", "stadtteile": "01.01.2018", "bevoelkerung_einzelalter": "31.12.2022",
                           "projektionsparameter": "2022"}.items():
        entry = flensburg_store.catalog.latest(dataset)
        assert data_rows[dataset][2:5] == (entry.version, stand, format_local_datetime(entry.ingested_at)), dataset
    assert data_rows["bevoelkerung_einzelalter"][6].startswith("synthetisch; geschützt (Cell-Key-Verfahren)")
    assert data_rows["projektionsparameter"][6].startswith("synthetisch; geschützt (Ausgabeprüfung")
    assert labels["Synthetische Daten"].startswith("synthetisch:")
    assert any(r[0] == "Geheimhaltung" and "Cell-Key-Verfahren" in r[1] for r in rows)
    # the chart's PNG: app, age group, Stadtteil, scenario, date
    app.chart.finish()  # the link follows once the planner pauses
    assert f'download="kita_entwicklung_unter_3_jahre_muerwik_hoch_{today()}.png"' in app.chart.link.value


def test_schulbedarf_export_names_school_and_scenario_and_rates_carry_percent(flensburg_store):
    app = schulbedarf.SchulbedarfApp(store=flensburg_store)
    app.scenario.scenario.value = "low"
    horizon = app.horizon.value
    name, data = the(downloads(app.table), ".xlsx")
    assert name == f"schulbedarf_grundschulen_{horizon}_gesamtstadt_niedrig_{today()}.xlsx"
    headers = list(load_workbook(io.BytesIO(data)).active.values)[0]
    assert f"Auslastung {horizon} (%)" in headers and f"höchste Auslastung bis {horizon} (%)" in headers
    # pupils shown add up to the key figure
    _, rows = shown_table(app.table.html.value)
    column = [h for h in shown_table(app.table.html.value)[0]].index(f"Schüler {horizon}")
    total = sum(german_int(r[column]) for r in rows)
    assert f"{total:,}".replace(",", ".") in app.figures.value
    ramsharde = app.schools.set_index("name").loc["Schule Ramsharde", "school_id"]
    app.school.value = ramsharde
    name, data = the(downloads(app.table), ".xlsx")
    assert name == f"schulbedarf_schule_ramsharde_niedrig_{today()}.xlsx"
    assert "Auslastung (%)" in list(load_workbook(io.BytesIO(data)).active.values)[0]
    assert {r[0]: r[1] for r in load_workbook(io.BytesIO(data))["Hinweise"].values if r[0]}["Auswahl"] == \
        "Schule Ramsharde"
    app.chart.finish()  # the link follows once the planner pauses
    assert f'download="schulbedarf_schule_ramsharde_bis_{horizon}_niedrig_{today()}.png"' in app.chart.link.value


def test_bevoelkerung_rate_headers_and_german_file_names(flensburg_store):
    app = bevoelkerung.BevoelkerungApp(store=flensburg_store)
    key = "sv_beschaeftigte_stadtteile|value|employment_rate"
    rate = atlas.find_indicator(app.atlas.catalogue, key)
    app.topic.value = rate.topic
    app.indicator.value = key
    app.year.value = 2022
    app.district.value = 11  # Mürwik
    headers, rows = shown_table(app.table.html.value)
    assert headers == ["Nr.", "Stadtteil", "Wert 2022 (%)", "Veränderung zu 2021 (Prozentpunkte)", "Rang"]
    for row in rows:  # the change is the difference of the values shown
        now, change = row[2], row[3]
        before = app.atlas.comparison(rate, 2021).frame.set_index("Stadtteil")["Wert 2021"]
        if now != "–" and change != "–":
            shown_before = round(float(before[row[1]]), 1)
            assert float(change.replace(",", ".")) == pytest.approx(float(now.replace(",", ".")) - shown_before)
    name, data = the(downloads(app.table), ".xlsx")
    assert name == f"bevoelkerung_beschaeftigungsquote_2022_muerwik_{today()}.xlsx"
    assert list(load_workbook(io.BytesIO(data)).active.values)[0][2:4] == ("Wert 2022 (%)",
                                                                           "Veränderung zu 2021 (Prozentpunkte)")
    app.series_chart.finish()  # the link follows once the planner pauses
    link = app.series_chart.link.value
    assert f'download="bevoelkerung_zeitreihe_beschaeftigungsquote_muerwik_{today()}.png"' in link
    assert "employment_rate" not in link.split('href=')[0]


def test_change_of_a_rate_is_in_percentage_points_from_the_values_shown():
    """Arbeitslosenquote (Prozent): A 5,0 → 5,5; B 7,0 → 6,7; city = mean 6,0 → 6,1 (shown).
    Changes: +0,5, −0,3 and +0,1 Prozentpunkte."""
    indicator = atlas.Indicator(key="x|rate", dataset="x", topic="Arbeit", label="Arbeitslosenquote",
                                unit="Prozent", value_column="rate", additive=False, decimals=1, years=(2021, 2022))
    values = pd.DataFrame({"year": [2021, 2021, 2022, 2022], "district_id": pd.array([1, 2, 1, 2], dtype="Int64"),
                           "value": [5.0, 7.0, 5.5, 6.7], "suppressed": [False] * 4})
    table = atlas.comparison_table(values, indicator, 2022, NAMES)
    assert table.headers() == ["Nr.", "Stadtteil", "Wert 2022 (%)", "Veränderung zu 2021 (Prozentpunkte)", "Rang"]
    assert table.frame["Veränderung zu 2021"].tolist() == pytest.approx([0.5, -0.3, 0.1])
    counts = atlas.Indicator(key="x|n", dataset="x", topic="Arbeit", label="Arbeitslose", unit="Personen",
                             value_column="n", additive=True, years=(2021, 2022))
    assert atlas.comparison_table(values, counts, 2022, NAMES).headers()[3:5] == ["Veränderung zu 2021",
                                                                                 "Veränderung in %"]
    assert atlas.header_unit("Prozent der Arbeitslosen im Stadtteil") == "% der Arbeitslosen im Stadtteil"
    assert atlas.change_unit("Prozent der Arbeitslosen im Stadtteil") == "Prozentpunkte"
    assert atlas.change_unit("je 1.000 Frauen 15–45") == "je 1.000 Frauen 15–45"


# --- the gallery card and the publication's metadata ---------------------------------------------------

def test_gallery_card_names_three_datasets_and_counts_the_others():
    from bif_lib.apps.registry import AppVersion
    from bif_lib.apps.serving.gallery import Pages, item_for

    datasets = [{"dataset": f"atlas_{i:02d}", "title": f"Kennzahl {i:02d}", "version": 1, "classification": "open",
                 "created_at": "2026-12-05T03:48:00+00:00"} for i in range(20)]
    datasets.append({"dataset": "bevoelkerung_einzelalter", "title": "Einzelalter (SYNTHETISCH)", "version": 2,
                     "classification": "internal", "synthetic": True, "created_at": "2026-12-05T03:49:00+00:00"})
    meta = {"title": "Bevölkerung nach Stadtteilen", "description": "synthetisch", "audience": ["planners"],
            "owner": "analyst", "published_at": "2026-12-05T09:00:00+00:00", "datasets": datasets}
    item = item_for(AppVersion("bevoelkerung", 1, Path("/nonexistent"), meta), "/services/bif-apps/")
    assert [d.title for d in item.main_datasets] == ["Einzelalter (SYNTHETISCH)", "Kennzahl 00", "Kennzahl 01"]
    assert len(item.more_datasets) == 18
    assert item.main_datasets[0].meta == "eingelesen 05.12.2026, synthetisch"  # the import date, said as such
    page = Pages("/services/bif-apps/", "/hub/", "BIF").gallery({"name": "planer"}, [item], lab_link=False)
    card = page[page.index('data-app-id="bevoelkerung"'):]
    shown = card[:card.index("<details")]
    assert shown.count('<span class="ds-title">') == 3
    assert "<summary>+ 18 weitere</summary>" in card
    assert "Stand 05.12.2026" not in page


def test_owner_is_optional_and_the_message_says_so():
    from bif_lib.apps.publishing.checks import check_metadata

    result = check_metadata({"metadata": {"bif": {"title": "T", "description": "D", "audience": ["planners"]}}})
    assert result.problems == [] and result.metadata.owner is None
    [message] = check_metadata({"metadata": {}}).problems
    required = message.split("Freiwillig")[0]
    assert "title, description, audience" in required and "owner" not in required
    assert "ohne owner gilt das veröffentlichende Konto" in message
