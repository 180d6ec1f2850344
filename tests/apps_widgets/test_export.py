"""Exports: a readable .xlsx with German headers, CSV with ; and decimal comma, data-URI links;
what an export says about itself (file name, sheet „Hinweise“), Europe/Berlin times, text that
spreadsheets would run as a formula."""

import base64
import csv
import io
import re
import zipfile
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from bif_lib.apps.views.common import ViewTable
from bif_lib.apps.widgets.export import (
    ExportDataset,
    ExportInfo,
    TableDownloads,
    csv_bytes,
    data_uri,
    download_link,
    export_filename,
    xlsx_bytes,
)
from bif_lib.apps.widgets.formatting import html_table
from bif_lib.i18n import format_local_datetime

WINTER = datetime(2026, 12, 5, 3, 48, tzinfo=timezone.utc)  # CET: 04:48 in Flensburg
SUMMER = datetime(2026, 7, 1, 3, 48, tzinfo=timezone.utc)   # CEST: 05:48


@pytest.fixture
def table() -> ViewTable:
    frame = pd.DataFrame({"Nr.": pd.array([1, 2, pd.NA], dtype="Int64"),
                          "Stadtteil": ["Altstadt", "Südstadt", "Gesamtstadt"],
                          "Einwohner 2022": [3907.0, 4324.4, 99341.0],
                          "Veränderung in %": [1.0605, np.nan, 1.4957],
                          "Jahr": [2022, 2022, 2022]})
    return ViewTable(frame, {"Nr.": "int", "Stadtteil": "text", "Einwohner 2022": "int", "Veränderung in %": "pct",
                             "Jahr": "year"}, "Einwohner 2022 nach Stadtteilen", notes=["Quelle: Sozialatlas"],
                     highlight=[False, True, False], filename="einwohner_2022")


def test_xlsx_is_readable_with_german_headers_and_numbers(table):
    data = xlsx_bytes(table, sheet="Einwohner", info={"Quellenvermerk 1": "Stadt Flensburg"})
    wb = load_workbook(io.BytesIO(data))
    ws = wb["Einwohner"]
    rows = list(ws.values)
    assert rows[0] == ("Nr.", "Stadtteil", "Einwohner 2022", "Veränderung in %", "Jahr")
    assert rows[1] == (1, "Altstadt", 3907, 1.1, 2022)
    assert rows[2][2] == 4324 and rows[2][3] is None  # rounded as displayed; missing stays empty
    assert rows[3][0] is None and rows[3][1] == "Gesamtstadt"
    assert ws["C2"].number_format == "#,##0" and ws["D2"].number_format == "0.0" and ws["E2"].number_format == "0"
    assert ws.freeze_panes == "A2"
    assert ws["A3"].fill.fgColor.rgb.endswith("F8D7DA")  # highlighted row
    notes = {r[0]: r[1] for r in wb["Hinweise"].values}
    assert notes["Titel"] == "Einwohner 2022 nach Stadtteilen"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", notes["Erstellt"])
    assert notes["Hinweis"] == "Quelle: Sozialatlas" and notes["Quellenvermerk 1"] == "Stadt Flensburg"
    # pandas reads it back with the German headers
    back = pd.read_excel(io.BytesIO(data), sheet_name=0)
    assert list(back.columns) == list(table.frame.columns)


def test_csv_semicolon_decimal_comma_bom(table):
    text = csv_bytes(table).decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").split("\r\n")
    assert lines[0] == "Nr.;Stadtteil;Einwohner 2022;Veränderung in %;Jahr"
    assert lines[1] == "1;Altstadt;3907;1,1;2022"
    assert lines[2] == "2;Südstadt;4324;;2022"
    assert lines[3] == ";Gesamtstadt;99341;1,5;2022"
    back = pd.read_csv(io.BytesIO(csv_bytes(table)), sep=";", decimal=",", encoding="utf-8-sig")
    assert back["Veränderung in %"].tolist()[0] == pytest.approx(1.1)


def test_data_uri_download_link():
    link = download_link(b"abc", "x y.csv", "CSV", "text/csv;charset=utf-8", title="Speichern")
    assert 'download="x y.csv"' in link and 'title="Speichern"' in link and ">CSV</a>" in link
    encoded = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', link).group(1)
    assert base64.b64decode(encoded) == b"abc"
    assert data_uri(b"\x89PNG", "image/png").startswith("data:image/png;base64,")


def test_table_downloads_widget(table):
    widget = TableDownloads()
    widget.update(table, info={"Lizenz 1": "CC0"})
    assert 'download="einwohner_2022.xlsx"' in widget.value and 'download="einwohner_2022.csv"' in widget.value
    xlsx = re.search(r'href="data:application/vnd[^;]+;base64,([^"]+)"', widget.value).group(1)
    wb = load_workbook(io.BytesIO(base64.b64decode(xlsx)))
    assert wb.active["B2"].value == "Altstadt"


def xlsx_of(widget: TableDownloads) -> bytes:
    return base64.b64decode(re.search(r'href="data:application/vnd[^;]+;base64,([^"]+)"', widget.value).group(1))


def csv_of(widget: TableDownloads) -> str:
    return base64.b64decode(re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"',
                                      widget.value).group(1)).decode("utf-8-sig")


# --- times: Europe/Berlin ----------------------------------------------------------------------

def test_times_are_europe_berlin_in_winter_and_summer(table):
    assert format_local_datetime(WINTER) == "05.12.2026 04:48"
    assert format_local_datetime(SUMMER) == "01.07.2026 05:48"
    assert format_local_datetime("2026-12-05T03:48:00Z") == "05.12.2026 04:48"
    for instant, shown in ((WINTER, "05.12.2026 04:48"), (SUMMER, "01.07.2026 05:48")):
        wb = load_workbook(io.BytesIO(xlsx_bytes(table, info=ExportInfo(created=instant))))
        assert {r[0]: r[1] for r in wb["Hinweise"].values}["Erstellt"] == shown
    # the file name's date is the day in Flensburg: 23:30 UTC on New Year's Eve is already 2027
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)
    assert export_filename("kita", when=new_year) == "kita_2027-01-01"
    assert export_filename("kita", when=datetime(2026, 7, 1, 21, 59, tzinfo=timezone.utc)) == "kita_2026-07-01"
    assert export_filename("kita", when=datetime(2026, 7, 1, 22, 0, tzinfo=timezone.utc)) == "kita_2026-07-02"


# --- formula injection ---------------------------------------------------------------------------

INJECTED = ["=1+1", "+49 461 85-0", "-1", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "Altstadt"]


@pytest.fixture
def hostile() -> ViewTable:
    frame = pd.DataFrame({"Bemerkung": INJECTED, "Saldo": [-5, 3, -1, 0, 1, 2, -534],
                          "Quote": [-1.25, 2.5, -0.5, 0.0, 1.0, 2.0, 3.0]})
    return ViewTable(frame, {"Bemerkung": "text", "Saldo": "int", "Quote": "dec2"}, "=Titel",
                     notes=["-Hinweis"], filename="t")


def test_formula_like_text_is_text_in_xlsx_and_numbers_stay_numbers(hostile):
    data = xlsx_bytes(hostile, info={"@Quelle": "=HYPERLINK(\"http://x\")"})
    ws = load_workbook(io.BytesIO(data)).active
    cells = [ws.cell(row=i, column=1) for i in range(2, 2 + len(INJECTED))]
    for cell, text in zip(cells, INJECTED):
        assert cell.data_type == "s", (text, cell.data_type)
        assert cell.value.replace("\n", "\r") == text  # XML reads a CR back as LF
        assert cell.quotePrefix == (text != "Altstadt")  # Excel keeps it text when the cell is edited
    numbers = [ws.cell(row=i, column=2) for i in range(2, 2 + len(INJECTED))]
    assert [c.value for c in numbers] == [-5, 3, -1, 0, 1, 2, -534] and {c.data_type for c in numbers} == {"n"}
    assert ws.cell(row=2, column=3).value == -1.25 and ws.cell(row=2, column=3).data_type == "n"
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # no formula anywhere in the workbook
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in z.namelist() if n.endswith(".xml"))
    notes = load_workbook(io.BytesIO(data))["Hinweise"]
    texts = {c.value: c.data_type for row in notes.iter_rows() for c in row if c.value is not None}
    assert texts["=Titel"] == "s" and texts["-Hinweis"] == "s" and texts["=HYPERLINK(\"http://x\")"] == "s"


def test_formula_like_text_is_escaped_in_csv_and_numbers_stay_numbers(hostile):
    rows = list(csv.reader(io.StringIO(csv_bytes(hostile).decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["Bemerkung", "Saldo", "Quote"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+49 461 85-0", "'-1", "'@SUM(A1:A2)", "'\t=1+1", "'\r=1+1",
                                        "Altstadt"]
    assert [r[1] for r in rows[1:]] == ["-5", "3", "-1", "0", "1", "2", "-534"]  # negative numbers unchanged
    assert rows[1][2] == "-1,25" and rows[3][2] == "-0,5"


# --- units in headers ------------------------------------------------------------------------------

def test_rate_headers_carry_their_unit_in_page_xlsx_and_csv():
    frame = pd.DataFrame({"Stadtteil": ["Altstadt"], "Versorgungsquote": [26.8], "Wert 2022": [5.5],
                          "Veränderung zu 2021": [0.5], "Veränderung in %": [1.2], "Kinder": [41]})
    table = ViewTable(frame, {"Stadtteil": "text", "Versorgungsquote": "pct", "Wert 2022": "dec1",
                              "Veränderung zu 2021": "dec1", "Veränderung in %": "pct", "Kinder": "int"}, "T",
                      units={"Wert 2022": "%", "Veränderung zu 2021": "Prozentpunkte"})
    expected = ["Stadtteil", "Versorgungsquote (%)", "Wert 2022 (%)", "Veränderung zu 2021 (Prozentpunkte)",
                "Veränderung in %", "Kinder"]
    assert table.headers() == expected
    assert list(load_workbook(io.BytesIO(xlsx_bytes(table))).active.values)[0] == tuple(expected)
    assert csv_bytes(table).decode("utf-8-sig").split("\r\n")[0] == ";".join(expected)
    assert '<th class="num" scope="col">Veränderung zu 2021 (Prozentpunkte)</th>' in html_table(table)


# --- what an export says about itself ----------------------------------------------------------------

def export_info(**changes) -> ExportInfo:
    values = dict(
        app="Kita-Versorgung nach Stadtteilen", app_id="kita", selection="Mürwik", scenario="hoch",
        assumptions={"Szenario": "hoch", "Faktor Geburtenhäufigkeit": "1,08", "Faktor Zuzüge": "1,07",
                     "Bedarfsquote unter 3 Jahre": "50 %"},
        datasets=[ExportDataset("Einwohner je Stadtteil", "einwohner_stadtteile", 2, "31.12.2022",
                                "Stichtag: 31.12. des Jahres; Zeitraum 2011–2022", "05.12.2026 10:39", "offen"),
                  ExportDataset("Einwohner nach Einzelalter (SYNTHETISCH)", "bevoelkerung_einzelalter", 1,
                                "31.12.2022", "", "05.12.2026 10:40", "intern", synthetic=True,
                                protection="geschützt (Cell-Key-Verfahren) – freigegeben 05.12.2026 10:40, "
                                           "von sina")],
        model="BIF 0.1.0: Bevölkerungsvorausberechnung", notes=["Kindertagespflege ist nicht enthalten."],
        sources={"Quellenvermerk 1": "Stadt Flensburg"}, created=WINTER)
    values.update(changes)
    return ExportInfo(**values)


def test_export_file_name_names_app_selection_scenario_and_date(table):
    info = export_info()
    assert info.filename("kita_versorgung_2030_unter_3_jahre") == \
        "kita_versorgung_2030_unter_3_jahre_muerwik_hoch_2026-12-05"
    assert export_info(scenario="hoch (angepasst)", selection="Gesamtstadt").filename("kita_versorgung_2030") == \
        "kita_versorgung_2030_gesamtstadt_hoch_angepasst_2026-12-05"
    # a part already in the name is not repeated; apps without scenario leave it out
    assert export_filename("schulbedarf", "schulbedarf_schule_ramsharde", "Schule Ramsharde", "mittel",
                           when=SUMMER) == "schulbedarf_schule_ramsharde_mittel_2026-07-01"
    assert export_filename("bevoelkerung", "einwohner_2022", "Südstadt", "", when=SUMMER) == \
        "bevoelkerung_einwohner_2022_suedstadt_2026-07-01"
    widget = TableDownloads()
    widget.update(table, info=info)
    assert 'download="kita_einwohner_2022_muerwik_hoch_2026-12-05.xlsx"' in widget.value
    assert 'download="kita_einwohner_2022_muerwik_hoch_2026-12-05.csv"' in widget.value


def test_export_sheet_lists_assumptions_data_versions_model_and_notes(table):
    widget = TableDownloads()
    widget.update(table, info=export_info())
    rows = [tuple(v for v in r) for r in load_workbook(io.BytesIO(xlsx_of(widget)))["Hinweise"].values]
    labels = {r[0]: r[1] for r in rows if r[0]}
    assert labels["App"] == "Kita-Versorgung nach Stadtteilen" and labels["Auswahl"] == "Mürwik"
    assert labels["Szenario"] == "hoch" and labels["Erstellt"] == "05.12.2026 04:48"
    assert labels["Modellversion"] == "BIF 0.1.0: Bevölkerungsvorausberechnung"
    # every assumption with its German label and value, after the heading
    heading = [r[0] for r in rows].index("Annahmen der Berechnung")
    assert [r[:2] for r in rows[heading + 1:heading + 5]] == [
        ("Szenario", "hoch"), ("Faktor Geburtenhäufigkeit", "1,08"), ("Faktor Zuzüge", "1,07"),
        ("Bedarfsquote unter 3 Jahre", "50 %")]
    # the datasets with version, reference date („Stand der Daten“) and import date
    header = [r[0] for r in rows].index("Datensatz")
    assert rows[header][:7] == ("Datensatz", "Kennung", "Version", "Stand der Daten", "Eingelesen", "Einstufung",
                                "Hinweis")
    assert rows[header + 1][:6] == ("Einwohner je Stadtteil", "einwohner_stadtteile", 2, "31.12.2022",
                                    "05.12.2026 10:39", "offen")
    synthetic = rows[header + 2]
    assert synthetic[:4] == ("Einwohner nach Einzelalter (SYNTHETISCH)", "bevoelkerung_einzelalter", 1, "31.12.2022")
    assert synthetic[6] == "synthetisch; geschützt (Cell-Key-Verfahren) – freigegeben 05.12.2026 10:40, von sina"
    # the notes on synthetic and protected data, sources, the panel's notes
    assert labels["Synthetische Daten"].startswith("synthetisch: ")
    assert "Einwohner nach Einzelalter (SYNTHETISCH)" in labels["Synthetische Daten"]
    assert labels["Geheimhaltung"].startswith("geschützt: Einwohner nach Einzelalter (SYNTHETISCH) – geschützt "
                                              "(Cell-Key-Verfahren)")
    assert labels["Quellenvermerk 1"] == "Stadt Flensburg"
    assert labels["Hinweis zu den Daten"] == "Kindertagespflege ist nicht enthalten."
    assert csv_of(widget).startswith("Nr.;Stadtteil;")  # the CSV is the table alone
