"""German tables: numbers, percent, years, missing values, highlighted and selected rows."""

import numpy as np
import pandas as pd

from bif_lib.apps.views.common import ViewTable
from bif_lib.apps.widgets.formatting import format_frame, format_value, html_table, key_figures_html


def test_format_value_german():
    assert format_value(99341, "int") == "99.341"
    assert format_value(99341.4, "int") == "99.341"
    assert format_value(-1234.5, "dec1") == "-1.234,5"
    assert format_value(3.14159, "dec2") == "3,14"
    assert format_value(12.5, "pct") == "12,5 %"
    assert format_value(2022, "year") == "2022"          # no thousands separator in years
    assert format_value(np.nan, "int") == "–"
    assert format_value(pd.NA, "pct") == "–"
    assert format_value(None) == "–"
    assert format_value(True) == "ja"
    assert format_value("Altstadt") == "Altstadt"


def test_format_frame():
    frame = pd.DataFrame({"Jahr": [2021, 2022], "Wert": [1500.0, np.nan], "Anteil": [12.25, 7.0]})
    out = format_frame(frame, {"Jahr": "year", "Wert": "int", "Anteil": "pct"})
    assert out.to_dict("list") == {"Jahr": ["2021", "2022"], "Wert": ["1.500", "–"], "Anteil": ["12,2 %", "7,0 %"]}


def test_html_table_rows_classes_and_escaping():
    table = ViewTable(pd.DataFrame({"Stadtteil": ["A<b>", "Gesamtstadt"], "Wert": [1234.0, 5678.0]}),
                      {"Stadtteil": "text", "Wert": "int"}, "Titel & mehr", notes=["Hinweis 1", ""],
                      highlight=[True, False], selected=[False, True])
    out = html_table(table, max_height="200px", table_id="t1")
    assert 'id="t1"' in out and "max-height:200px" in out
    assert "Titel &amp; mehr" in out and "A&lt;b&gt;" in out
    assert "1.234" in out and "5.678" in out
    assert out.count("<tr") == 3
    assert '<tr class="bif-warn">' in out and '<tr class="bif-selected">' in out
    assert '<th class="num" scope="col">Wert</th>' in out
    assert "<li>Hinweis 1</li>" in out and "<li></li>" not in out


def test_key_figures_html():
    out = key_figures_html({"Einwohner": "99.341", "ab 65": "19,6 %"})
    assert "Einwohner" in out and "99.341" in out and "19,6 %" in out
