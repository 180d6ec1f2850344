"""Anything the contract cannot interpret exactly is refused — with row, column and reason — never guessed.

Numbers whose separators contradict the declared decimal mark and thousands separator, Unicode
look-alikes (typographic minus, full-width digits, special spaces), non-finite values, Excel
error values and booleans/dates in number cells, integers too large to be exact, incomplete
ISO dates and times in date fields; sources that can be read more than one way (UTF-8 bytes
under a Windows-1252 contract, a header naming a column twice, several sheets or layers and
no choice in the contract). The old code stored ``1.234`` and ``21.4`` under decimal comma as
1.234 and 21.4, read UTF-8 as Windows-1252 mojibake and took the first sheet or layer.
"""

from __future__ import annotations

import unicodedata
import zipfile

import numpy as np
import pandas as pd
import pytest

from bif_lib import readers

NUMBERS = [("id", "integer"), ("wert", "number")]


def failures(report, rule="type"):
    return [(f.row, f.column, f.message) for f in report.failures() if f.rule == rule]


def csv_of(values, column="wert") -> str:
    return f"id;{column}\n" + "".join(f"{i};{v}\n" for i, v in enumerate(values, 1))


# --- numbers against the declared decimal mark and thousands separator ------------------------

def test_decimal_point_under_decimal_comma_is_refused_even_mixed_with_commas(check, make_contract):
    raw = make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ","})
    frame, report = check(raw, csv_of(["1,5", "1.234", "21.4", "3"]))
    assert not report.ok
    found = failures(report)
    assert [(row, column) for row, column, _ in found] == [(3, "wert"), (4, "wert")]
    assert all("nicht eindeutig" in message and "source.thousands" in message for _, _, message in found)
    assert "Wert „1.234“ ist keine Zahl" in found[0][2]


def test_decimal_point_alone_under_decimal_comma_is_refused(check, make_contract):
    """The fast path (every cell a plain number to Arrow) must not take the point either."""
    raw = make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ","})
    _, report = check(raw, csv_of(["21.4", "1.234"]))
    assert [row for row, _, _ in failures(report)] == [2, 3]


def test_declared_thousands_separator_makes_it_exact(check, make_contract):
    raw = make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ",", "thousands": "."})
    frame, report = check(raw, csv_of(["1.234", "1.234.567,5", "12,5", "1234"]))
    assert report.ok, report.to_text()
    assert frame["wert"].tolist() == [1234.0, 1234567.5, 12.5, 1234.0]
    _, report = check(raw, csv_of(["21.4", "1.23", "1.2345"]))
    assert [row for row, _, _ in failures(report)] == [2, 3, 4]
    assert all("Dreiergruppen" in message for _, _, message in failures(report))


def test_comma_under_decimal_point_is_refused_unless_declared_as_thousands(check, make_contract):
    _, report = check(make_contract(NUMBERS, {"format": "csv", "delimiter": ";"}), csv_of(["1,5", "2.5"]))
    assert [row for row, _, _ in failures(report)] == [2]
    frame, report = check(make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "thousands": ","}),
                          csv_of(["1,234.5", "2.5"]))
    assert report.ok and frame["wert"].tolist() == [1234.5, 2.5]


def test_space_separators_count_as_the_declared_space(check, make_contract):
    raw = make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ",", "thousands": " "})
    frame, report = check(raw, csv_of(["1 234,5", "1\u00a0234", "1\u202f234\u202f567", "12"]))
    assert report.ok, report.to_text()
    assert frame["wert"].tolist() == [1234.5, 1234.0, 1234567.0, 12.0]
    raw = make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ",", "thousands": "."})
    _, report = check(raw, csv_of(["1\u00a0234,5"]))
    [(_, _, message)] = failures(report)
    assert "U+00A0" in message and "Tausendertrennzeichen" in message


@pytest.mark.parametrize("value, reason", [
    ("\u22125", "U+2212"),            # typographic minus
    ("\u20135", "U+2013"),            # en dash
    ("１２３", "U+FF11"),              # full-width digits
    ("١٢٣", "U+0661"),                # Arabic-Indic digits
    ("inf", "endlich"),
    ("-Infinity", "endlich"),
    ("nan", "endlich"),
    ("1e999", "endlich"),             # overflows to infinity
    ("1_000", ""),
    ("0x1A", ""),
    ("#DIV/0!", "Excel-Fehlerwert"),
])
def test_look_alikes_and_non_finite_values_are_refused(check, make_contract, value, reason):
    _, report = check(make_contract(NUMBERS, {"format": "csv", "delimiter": ";"}), csv_of(["1", value]))
    [(row, column, message)] = failures(report)
    assert (row, column) == (3, "wert") and reason in message


def test_integers_beyond_float_precision_are_refused_not_rounded(check, make_contract):
    raw = make_contract([("id", "integer"), ("kennung", "integer")], {"format": "csv", "delimiter": ";"})
    _, report = check(raw, "id;kennung\n1;12345678901234567\n2;\n")
    [(row, _, message)] = failures(report)
    assert row == 2 and "exakt" in message
    frame, report = check(raw, "id;kennung\n1;12345678901234567\n2;5\n")  # exact integer path: kept exactly
    assert report.ok and frame["kennung"].tolist() == [12345678901234567, 5]


def test_excel_number_cells_and_text_cells(check, make_contract, tmp_path):
    path = tmp_path / "zahlen.xlsx"
    pd.DataFrame({"id": [1, 2, 3, 4, 5, 6],
                  "wert": [3.5, "4,5", "1.234", True, pd.Timestamp("2022-01-01"), "#NV"]}).to_excel(path, index=False)
    frame, report = check(make_contract(NUMBERS, {"format": "xlsx", "decimal": ","}), path)
    rows = {row: message for row, _, message in failures(report)}
    assert sorted(rows) == [4, 5, 6, 7]  # header is row 1
    assert "nicht eindeutig" in rows[4] and "Wahrheitswert" in rows[5] and "Datum" in rows[6]
    assert "Excel-Fehlerwert" in rows[7]


# --- dates --------------------------------------------------------------------------------------

def test_iso_dates_must_be_complete_and_date_fields_have_no_time(check, make_contract):
    raw = make_contract([("id", "integer"), ("tag", "date")], {"format": "csv", "delimiter": ";"})
    frame, report = check(raw, "id;tag\n1;2022-12-31\n2;2022\n3;2022-12\n4;2022-12-31 14:30\n5;2022-12-31 00:00\n")
    found = {row: message for row, _, message in failures(report)}
    assert sorted(found) == [3, 4, 5]
    assert "unvollständig" in found[3] and "unvollständig" in found[4] and "Uhrzeit" in found[5]


# --- sources that can be read more than one way ---------------------------------------------

def test_utf8_file_under_windows_1252_contract_is_refused(check, make_contract):
    raw = make_contract([("id", "integer"), ("name", "string")], {"format": "csv", "delimiter": ";",
                                                                   "encoding": "windows-1252"})
    frame, report = check(raw, "id;name\n1;Altstadt\n2;Jürgensby\n".encode("utf-8"))
    assert frame is None
    [failure] = report.failures()
    assert failure.rule == "encoding" and failure.row == 3
    assert "UTF-8" in failure.message and "Jürgensby" in failure.message and "JÃ¼rgensby" in failure.message
    frame, report = check(raw, "id;name\n1;Jürgensby\n".encode("cp1252"))  # the real thing is accepted
    assert report.ok and frame["name"].tolist() == ["Jürgensby"]


def test_utf16_file_is_named(check, make_contract):
    raw = make_contract([("id", "integer")], {"format": "csv"})
    _, report = check(raw, "id\n1\n".encode("utf-16"))
    [failure] = report.failures()
    assert failure.rule == "encoding" and "UTF-16" in failure.message


def test_decomposed_unicode_is_brought_to_nfc(check, make_contract):
    nfd = unicodedata.normalize("NFD", "Jürgensby")
    assert nfd != "Jürgensby"
    raw = make_contract([("id", "integer"), ("name", "string", )], {"format": "csv", "delimiter": ";"})
    raw["schema"]["fields"][1]["constraints"] = {"enum": ["Jürgensby", "Altstadt"]}
    frame, report = check(raw, f"id;name\n1;{nfd}\n2;Altstadt\n")
    assert report.ok, report.to_text()
    assert frame["name"].tolist() == ["Jürgensby", "Altstadt"]
    assert any("NFC" in note for note in report.notes)


def test_a_column_named_twice_is_refused(check, make_contract, tmp_path):
    raw = make_contract([("id", "integer"), ("wert", "integer")], {"format": "csv", "delimiter": ";"})
    frame, report = check(raw, "id;wert;wert\n1;2;3\n")
    assert frame is None
    [failure] = report.failures()
    assert failure.rule == "ambiguous" and failure.row == 1 and "Spalte 2 und 3" in failure.message
    path = tmp_path / "doppelt.xlsx"
    pd.DataFrame([[1, 2, 3]], columns=["id", "wert", "wert "]).to_excel(path, index=False)
    frame, report = check(make_contract([("id", "integer"), ("wert", "integer")], {"format": "xlsx"}), path)
    assert frame is None and report.failures()[0].rule == "ambiguous"


def test_several_sheets_and_no_sheet_in_the_contract_is_refused(check, make_contract, tmp_path):
    path = tmp_path / "mappe.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"id": [1]}).to_excel(writer, sheet_name="Alt", index=False)
        pd.DataFrame({"id": [2]}).to_excel(writer, sheet_name="Neu", index=False)
    frame, report = check(make_contract([("id", "integer")], {"format": "xlsx"}), path)
    assert frame is None
    [failure] = report.failures()
    assert failure.rule == "ambiguous" and "„Alt“, „Neu“" in failure.message and "source.sheet" in failure.message
    frame, report = check(make_contract([("id", "integer")], {"format": "xlsx", "sheet": "Neu"}), path)
    assert report.ok and frame["id"].tolist() == [2]


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
def test_several_layers_and_no_layer_in_the_contract_is_refused(check, make_contract, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    squares = gpd.GeoDataFrame({"district_id": [1, 2]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
                               crs="EPSG:25832")
    fields = [("district_id", "integer"), ("geometry", "geometry")]
    gpkg = tmp_path / "gebiete.gpkg"
    squares.to_file(gpkg, layer="stadtteile", driver="GPKG")
    squares.iloc[:1].to_file(gpkg, layer="alt", driver="GPKG")
    frame, report = check(make_contract(fields, {"format": "gpkg"}), gpkg)
    assert frame is None and report.failures()[0].rule == "ambiguous" and "source.layer" in report.failures()[0].message
    folder = tmp_path / "shp"
    folder.mkdir()
    squares.to_file(folder / "a.shp")
    squares.to_file(folder / "b.shp")
    archive = tmp_path / "zwei.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    frame, report = check(make_contract(fields, {"format": "shapefile_zip"}), archive)
    assert frame is None and "„a.shp“, „b.shp“" in report.failures()[0].message


def test_unknown_encoding_in_the_contract_is_a_contract_error(contract_of, make_contract):
    from bif_lib.contracts import ContractError

    with pytest.raises(ContractError, match="unbekannte Zeichenkodierung"):
        contract_of(make_contract([("id", "integer")], {"format": "csv", "encoding": "klingonisch"}))
    with pytest.raises(ContractError, match="beide „,“"):
        contract_of(make_contract([("id", "integer")], {"format": "csv", "decimal": ",", "thousands": ","}))


# --- streaming: the same result across block and chunk boundaries ---------------------------

def test_small_blocks_and_chunks_give_the_same_rows_and_failures(check, make_contract, monkeypatch):
    """Multi-byte characters, quoted line breaks, blank lines, a footer and faults spread over many
    blocks of the checking pass and many parser chunks: rows, values and row numbers as in one piece."""
    raw = make_contract([("id", "integer"), ("name", "string"), ("wert", "number")],
                        {"format": "csv", "delimiter": ";", "decimal": ",", "skip_footer_rows": 1})
    lines = ["id;name;wert"]
    for i in range(1, 400):
        name = f'"Straße {i};\nHof"' if i % 97 == 0 else f"Müllerstraße {i}"
        value = "1.5" if i == 250 else f"{i},5"
        lines.append(f"{i};{name};{value}" if i != 300 else f"{i};{name}")
        if i % 50 == 0:
            lines.append("")
    lines.append("Quelle: Test")
    text = "\ufeff" + "\r\n".join(lines) + "\r\n\r\n"
    expected_frame, expected = check(raw, text)
    monkeypatch.setattr(readers, "SCAN_BLOCK", 61)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 97)
    frame, report = check(raw, text)
    assert [(f.rule, f.row, f.column) for f in report.failures()] == \
           [(f.rule, f.row, f.column) for f in expected.failures()]
    # row numbers count records (a quoted line break stays in its record), blank lines included
    assert {(f.rule, f.row) for f in report.failures()} == {("type", 2 + 249 + 4), ("field_count", 2 + 299 + 5)}
    assert len(expected_frame) == len(frame) == 399  # the two faulty rows stay, their bad cells missing
    for column in ("id", "name"):
        assert frame[column].tolist() == expected_frame[column].tolist()
    assert frame.loc[frame["id"] == 97, "name"].item() == "Straße 97;\nHof"


def test_encoding_error_line_is_found_across_blocks(check, make_contract, monkeypatch):
    monkeypatch.setattr(readers, "SCAN_BLOCK", 7)
    raw = make_contract([("id", "integer"), ("name", "string")], {"format": "csv", "delimiter": ";"})
    data = "id;name\n" + "".join(f"{i};Zeile {i}\n" for i in range(1, 30))
    data = data.encode("utf-8") + "30;Westliche Höhe\n".encode("cp1252")
    _, report = check(raw, data)
    [failure] = report.failures()
    assert failure.rule == "encoding" and failure.row == 31 and "0xF6" in failure.message


# --- memory ---------------------------------------------------------------------------------

def test_a_file_too_large_for_the_memory_is_refused_before_reading(check, make_contract, monkeypatch, tmp_path):
    path = tmp_path / "gross.csv"
    path.write_text("id;wert\n" + "".join(f"{i};{i},5\n" for i in range(100_000)), encoding="utf-8")
    monkeypatch.setenv("BIF_MAX_MEMORY", "5M")
    frame, report = check(make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ","}), path)
    assert frame is None
    [failure] = report.failures()
    assert failure.rule == "memory" and "gross.csv" in failure.message and "BIF_MAX_MEMORY=5M" in failure.message
    monkeypatch.setenv("BIF_MAX_MEMORY", "1G")
    frame, report = check(make_contract(NUMBERS, {"format": "csv", "delimiter": ";", "decimal": ","}), path)
    assert report.ok and len(frame) == 100_000 and np.isclose(frame["wert"].iloc[-1], 99_999.5)


def test_parse_size():
    assert readers.parse_size("3G") == 3 * 2**30 and readers.parse_size("500M") == 500 * 2**20
    assert readers.parse_size("1,5 GiB") == int(1.5 * 2**30) and readers.parse_size("1000") == 1000
    with pytest.raises(ValueError):
        readers.parse_size("viel")
