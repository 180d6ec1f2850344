"""Reports people can act on: one message per source row and rule of a reshaped table, invisible
characters shown escaped, allowed values listed in full."""

from __future__ import annotations

import yaml
from contract_metadata import METADATA

from bif_lib.contracts import parse_contract
from bif_lib.ingest import validate_file
from bif_lib.readers import read_source
from bif_lib.store import Store
from bif_lib.validation import compile_contract
from bif_lib.validation.report import visible


def contract(fields, **source):
    raw = {"id": "bestand", "title": "Bestand", "description": "Test", **METADATA,
           "source": {"format": "csv", "delimiter": ";", **source}, "schema": {"fields": fields}}
    return parse_contract(yaml.safe_dump(raw, allow_unicode=True))


WIDE = contract([{"name": "stadtteil", "type": "integer"}, {"name": "jahr", "type": "year"},
                 {"name": "einwohner", "type": "integer", "constraints": {"minimum": 0}}],
                wide_to_long={"id_columns": ["stadtteil"], "names_to": "jahr", "values_to": "einwohner"})


def wide_file(tmp_path, bad_lines=38, years=range(1995, 2025)):
    lines = ["stadtteil;" + ";".join(map(str, years))]
    for i in range(1, 101):
        cells = ["k.A." if i <= bad_lines else str(i) for _ in years]
        lines.append(f"{i};" + ";".join(cells))
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reshaped_table_one_message_per_source_row_and_rule(tmp_path):
    path = wide_file(tmp_path)
    _, report, _ = validate_file(WIDE, path, Store(tmp_path / "store"))
    assert report.counts() == {"type": 38}  # not 38 × 30 = 1,140
    first = report.failures()[0]
    assert first.row == 2 and first.column == "einwohner"
    assert "30 Spalten" in first.message and "„1995“" in first.message and "„2024“" in first.message


def test_reshaped_table_read_whole_gives_the_same_report(tmp_path):
    path = wide_file(tmp_path, bad_lines=3, years=range(2020, 2023))
    read = read_source(WIDE, path)
    _, whole = compile_contract(WIDE).validate(read.frame, source_file=str(path))
    _, chunked, _ = validate_file(WIDE, path, Store(tmp_path / "store"))
    assert [f.to_dict() for f in whole.failures()] == [f.to_dict() for f in chunked.failures()]
    assert len(whole.failures()) == 3


def test_reshaped_table_lists_differing_values_per_column(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("stadtteil;2020;2021;2022\n1;5;x;-3\n2;1;-1;2\n", encoding="utf-8")
    _, report, _ = validate_file(WIDE, path, Store(tmp_path / "store"))
    messages = {(f.rule, f.row): f.message for f in report.failures()}
    assert set(messages) == {("type", 2), ("minimum", 2), ("minimum", 3)}
    assert "Spalte: „2021“" in messages[("type", 2)]
    assert "Spalte: „2022“" in messages[("minimum", 2)]


def test_control_characters_are_shown_escaped(tmp_path):
    spec = contract([{"name": "name", "type": "string", "constraints": {"enum": ["Südviertel", "Altstadt"]}},
                     {"name": "wert", "type": "integer"}])
    path = tmp_path / "werte.csv"
    path.write_bytes("name;wert\nSüd\u009dviertel;1\nAltstadt;2\u200b\n".encode("utf-8"))
    _, report, _ = validate_file(spec, path, Store(tmp_path / "store"))
    messages = [f.message for f in report.failures()]
    assert any("Süd[U+009D]viertel" in m for m in messages), messages
    assert any("2[U+200B]" in m for m in messages), messages
    assert all("\u009d" not in m and "\u200b" not in m for m in messages)
    assert "[U+009D]" in report.to_text()


def test_visible():
    assert visible("a\tb") == "a[U+0009]b"
    assert visible("Größe 1\u202f234") == "Größe 1\u202f234"  # printable characters stay as they are


def test_allowed_values_are_never_cut_off(tmp_path):
    allowed = [f"Bezirk {i}" for i in range(1, 28)]
    spec = contract([{"name": "name", "type": "string", "constraints": {"enum": allowed}}])
    path = tmp_path / "werte.csv"
    path.write_text("name\nBezirk 99\n", encoding="utf-8")
    _, report, _ = validate_file(spec, path, Store(tmp_path / "store"))
    message = report.failures()[0].message
    assert "27 Werte" in message and "Bezirk 27" in message and "…" not in message
