"""Exports: a readable .xlsx with German headers, CSV with ; and decimal comma, data-URI links."""

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from bif_lib.apps.views.common import ViewTable
from bif_lib.apps.widgets.export import TableDownloads, csv_bytes, data_uri, download_link, xlsx_bytes


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
