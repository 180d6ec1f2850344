"""A CSV file read and validated in chunks gives exactly what reading it whole gives.

The ingest reads CSV files chunk by chunk (``readers.CsvChunks``, ``validation.chunked``) so that
its memory stays within a small multiple of the file. Each case here is ingested twice, into two
stores: in chunks of about 1,000 rows, and whole (the chunked path switched off). The report
(JSON and German text: every failure with file, row, column and rule, in the same order), the
typed frame and the written files (Parquet snapshot and Arrow read copy, byte for byte) must be
the same. Cases: every type and shaping option of the contract, failures late in the file, keys
and unique values compared across chunks, times of different resolutions in different chunks,
integers beyond 2**53, rules that cannot run, files the chunked path hands to the whole read.
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import pandas as pd
import pytest

from bif_lib import ingest as ingest_module
from bif_lib import readers
from bif_lib.ingest import ingest, validate_file
from bif_lib.readers import NotStreamable
from bif_lib.store import Store, xxh3_file
from bif_lib.validation import chunked

ROWS = 5_000

SOURCE = {"format": "csv", "delimiter": ";", "decimal": ",", "thousands": ".", "date_format": "%d.%m.%Y",
          "header_row": 2, "skip_footer_rows": 1, "missing_values": ["", "-", "k. A."],
          "drop_rows": [{"column": "Name", "pattern": "^Summe"}], "rename": {"Name": "name", "Betrag": "betrag"},
          "drop_columns": ["Bearbeiter"], "derive": {"kreis": {"from": "Code", "pattern": "K(\\d)"}},
          "constants": {"quelle": "test"}}
FIELDS = [
    {"name": "rid", "type": "integer", "constraints": {"required": True, "unique": True}},
    {"name": "jahr", "type": "year", "constraints": {"required": True, "minimum": 2014, "maximum": 2023}},
    {"name": "name", "type": "string", "constraints": {"minLength": 2, "maxLength": 40}},
    {"name": "betrag", "type": "number", "constraints": {"minimum": 0}},
    {"name": "anteil", "type": "number", "missing_means": "suppressed"},
    {"name": "datum", "type": "date"},
    {"name": "zeit", "type": "datetime", "format": "ISO8601"},
    {"name": "flag", "type": "boolean"},
    {"name": "Code", "type": "string", "constraints": {"pattern": "K[0-9]-[a-z]+",
                                                       "enum": ["K1-ab", "K2-cd", "K3-ef", "K4-gh"]}},
    {"name": "district_id", "type": "integer"},
    {"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}, {"name": "c", "type": "integer"},
    {"name": "big", "type": "integer"}, {"name": "kreis", "type": "integer"}, {"name": "quelle", "type": "string"},
]
RULES = [
    {"type": "sum_equals", "columns": ["a", "b"], "total": "c", "id": "summe"},
    {"type": "sum_equals", "columns": ["a", "b"], "total": "c", "severity": "warning", "tolerance": 1},
    {"type": "complete_keys", "keys": {"jahr": {"from_data": True}, "kreis": {"values": [1, 2, 3, 4, 5]}},
     "severity": "warning"},
    {"type": "change_bounds", "column": "betrag", "key": ["rid"], "order_by": "jahr", "max_relative_change": 0.5,
     "severity": "warning"},
]
DISTRICTS = {"id": "stadtteile", "title": "Stadtteile", "description": "Referenz",
             "schema": {"fields": [{"name": "district_id", "type": "integer"}], "primaryKey": "district_id"},
             "source": {"format": "csv"}}


def contract(make_contract, **changes):
    raw = make_contract(FIELDS, SOURCE, rules=RULES, primary_key=["jahr", "rid"],
                        foreign_keys=[{"fields": "district_id",
                                       "reference": {"resource": "stadtteile", "fields": "district_id"}}])
    for key, value in changes.items():
        raw[key] = value
    return raw


def table(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array(["Müller", "Schröder", "Jürgensby Straße", unicodedata.normalize("NFD", "Förde"), "Öz",
                      "x;y", "Zeile\nzwei", "-"], dtype=object)
    betrag = rng.integers(0, 5_000_000, rows) / 100
    a, b = rng.integers(0, 50, rows), rng.integers(0, 50, rows)
    frame = pd.DataFrame({
        "rid": np.arange(1, rows + 1), "jahr": 2014 + np.arange(rows) % 10,
        "Name": names[rng.integers(0, len(names), rows)],
        "Betrag": [f"{v:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") for v in betrag],
        "anteil": [f"{v:.1f}".replace(".", ",") if v > 5 else "" for v in rng.random(rows) * 100],
        "datum": (pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 9000, rows), unit="D"))
        .strftime("%d.%m.%Y"),
        "zeit": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10 ** 8, rows), unit="s"))
        .strftime("%Y-%m-%dT%H:%M:%S"),
        "flag": np.array(["ja", "nein", "", "wahr"], dtype=object)[rng.integers(0, 4, rows)],
        "Code": np.array(["K1-ab", "K2-cd", "K3-ef", "K4-gh"], dtype=object)[rng.integers(0, 4, rows)],
        "district_id": rng.integers(1, 14, rows), "a": a, "b": b, "c": a + b,
        "big": rng.integers(0, 1000, rows), "Bearbeiter": "xy"}).astype(object)
    frame.loc[rng.choice(rows, rows // 70, replace=False), "big"] = ""
    frame.loc[rng.choice(rows, rows // 100, replace=False), "datum"] = "k. A."
    frame.loc[rows // 2, "Name"] = "Summe aller"
    return frame


def csv_text(frame: pd.DataFrame, blank_line_at: int | None = ROWS // 3) -> str:
    body = frame.to_csv(sep=";", index=False, header=False, lineterminator="\n").rstrip("\n").split("\n")
    if blank_line_at is not None:
        body.insert(blank_line_at, "")
    return "Titelzeile;;;\n" + ";".join(frame.columns) + "\n" + "\n".join(body) + "\nFußnote: Quelle Test\n"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of about 1,000 rows (the parser's smallest), so that every case has several."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1)
    monkeypatch.setattr(readers, "STREAM_BLOCK_BYTES", 1)


def _whole(*args, **kwargs):
    raise NotStreamable("switched off")


def both_ways(tmp_path, monkeypatch, raw: dict, text: str | bytes, contract_of, *, chunks_expected=True):
    """(chunked, whole) results of validating and ingesting one file into two fresh stores."""
    path = tmp_path / "lieferung.csv"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    results = []
    for name in ("chunked", "whole"):
        store = Store(tmp_path / name)
        districts = tmp_path / "stadtteile.csv"
        districts.write_text("district_id\n" + "".join(f"{i}\n" for i in range(1, 14)), encoding="utf-8")
        assert ingest(contract_of({**contract_of_base(raw), **DISTRICTS}), districts, store=store).status == "created"
        counted = []
        if name == "whole":
            monkeypatch.setattr(ingest_module, "_validate_in_chunks", _whole)
        else:
            add = chunked.ChunkedValidation.add
            monkeypatch.setattr(chunked.ChunkedValidation, "add",
                                lambda self, chunk: (counted.append(len(chunk)), add(self, chunk))[1])
        frame, report, _ = validate_file(contract_of(raw), path, store)
        outcome = ingest(contract_of(raw), path, store=store)
        files = {}
        if outcome.entry is not None:
            files = {"sha256": outcome.entry.sha256, "parquet": _sha256(store.root / outcome.entry.path),
                     "read_copy": xxh3_file(store.root / outcome.entry.read_copy)}
        results.append({"frame": frame, "report": report, "outcome": outcome, "files": files, "chunks": counted})
        monkeypatch.undo()
        monkeypatch.setattr(readers, "CHUNK_BYTES", 1)
        monkeypatch.setattr(readers, "STREAM_BLOCK_BYTES", 1)
    chunked_run, whole_run = results
    if chunks_expected:
        assert len(chunked_run["chunks"]) > 2, chunked_run["chunks"]  # really read in chunks
    return chunked_run, whole_run


def contract_of_base(raw: dict) -> dict:
    return {k: v for k, v in raw.items() if k not in ("schema", "source", "rules", "id", "title", "description")}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_same(chunked_run: dict, whole_run: dict) -> None:
    a, b = chunked_run["report"], whole_run["report"]
    assert a.to_dict() == b.to_dict()
    assert a.to_text(max_lines=10_000) == b.to_text(max_lines=10_000)
    assert [(f.rule, f.row, f.column, f.message) for f in a.failures(limit_per_rule=None)] == \
           [(f.rule, f.row, f.column, f.message) for f in b.failures(limit_per_rule=None)]
    if whole_run["frame"] is None:
        assert chunked_run["frame"] is None
    else:
        pd.testing.assert_frame_equal(chunked_run["frame"], whole_run["frame"], check_exact=True)
        assert list(chunked_run["frame"].dtypes) == list(whole_run["frame"].dtypes)
    assert chunked_run["outcome"].status == whole_run["outcome"].status
    assert chunked_run["files"] == whole_run["files"]  # the same snapshot and read copy, byte for byte


def test_valid_file_every_type_and_shaping_option(tmp_path, monkeypatch, make_contract, contract_of):
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), csv_text(table()), contract_of)
    assert_same(chunked_run, whole_run)
    assert chunked_run["outcome"].status == "created" and chunked_run["files"]
    report = chunked_run["report"]
    assert report.rows_checked == ROWS - 1  # the "Summe" row dropped
    assert any("Normalform NFC" in note for note in report.notes)
    assert any("ausgelassen" in note for note in report.notes)


def test_failures_late_in_the_file_are_reported_with_row_column_and_rule(tmp_path, monkeypatch, make_contract,
                                                                        contract_of):
    frame = table()
    late = ROWS - 700  # chunk 5 of 5
    frame.loc[late, "jahr"] = "20x3"
    frame.loc[late + 1, "Betrag"] = "1.23"
    frame.loc[late + 2, "datum"] = "31.02.2020"
    frame.loc[late + 3, "zeit"] = "2020-13-01T00:00:00"
    frame.loc[late + 4, "Code"] = "K9-zz"
    frame.loc[late + 5, "c"] = 999
    frame.loc[late + 6, "rid"] = 17           # unique and primary key: compared with chunk 1
    frame.loc[late + 7, "district_id"] = 14   # foreign key
    frame.loc[late + 8, "flag"] = "vielleicht"
    frame.loc[np.arange(30, ROWS, 16), "a"] = "k.A"  # type failures in every chunk (more than 200)
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), csv_text(frame), contract_of)
    assert_same(chunked_run, whole_run)
    report = chunked_run["report"]
    assert chunked_run["outcome"].status == "rejected"
    line = late + 4  # title line, header, the blank line inserted before it: file line of frame row ``late``
    found = {(f.rule, f.row, f.column) for f in report.failures(limit_per_rule=None)}
    assert ("type", line, "jahr") in found and ("enum", line + 4, "Code") in found
    assert ("unique", line + 6, "rid") in found and ("foreign_key", line + 7, "district_id") in found
    assert ("sum_equals", line + 5, "c") in found
    text = report.to_text(max_lines=10_000)
    assert f"FEHLER [type] Zeile {line}, Spalte „jahr“" in text
    assert len([f for f in report.failures(limit_per_rule=None) if f.rule == "type" and f.column == "a"]) > 200
    assert not any(path.is_file() for path in (tmp_path / "chunked").rglob("*.parquet")
                   if "lieferung" in path.name)  # nothing of the rejected file was stored


def test_rejected_file_leaves_the_store_unchanged(tmp_path, make_contract, contract_of, tree_digest):
    frame = table()
    frame.loc[ROWS - 10, "rid"] = 1
    store = Store(tmp_path / "store")
    districts = tmp_path / "stadtteile.csv"
    districts.write_text("district_id\n" + "".join(f"{i}\n" for i in range(1, 14)), encoding="utf-8")
    assert ingest(contract_of({**contract_of_base(contract(make_contract)), **DISTRICTS}), districts,
                  store=store).status == "created"
    before = tree_digest(store.root)
    path = tmp_path / "lieferung.csv"
    path.write_text(csv_text(frame), encoding="utf-8")
    outcome = ingest(contract_of(contract(make_contract)), path, store=store)
    assert outcome.status == "rejected" and "unique" in outcome.report.rules_failed()
    assert tree_digest(store.root) == before


def test_times_of_different_resolutions_in_different_chunks(tmp_path, monkeypatch, make_contract, contract_of):
    frame = table()
    frame.loc[: ROWS // 2, "datum"] = ""          # the first chunks: no date at all (pandas: seconds)
    frame.loc[:, "zeit"] = ""
    frame.loc[ROWS - 5, "zeit"] = "2021-03-04T05:06:07.123456789"  # nanoseconds in the last chunk only
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), csv_text(frame), contract_of)
    assert_same(chunked_run, whole_run)
    assert str(chunked_run["frame"]["zeit"].dtype) == "datetime64[ns]"


def test_all_times_missing(tmp_path, monkeypatch, make_contract, contract_of):
    frame = table()
    frame.loc[:, "zeit"] = ""
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), csv_text(frame), contract_of)
    assert_same(chunked_run, whole_run)


@pytest.mark.parametrize("missing_elsewhere", [True, False])
def test_integer_beyond_2_53(tmp_path, monkeypatch, make_contract, contract_of, missing_elsewhere):
    """Read exactly only when no cell of its column is missing: the chunks cannot know that, the file
    is read whole then."""
    frame = table()
    frame["big"] = frame["big"].replace("", "7")
    frame.loc[ROWS - 3, "big"] = str(2 ** 60 + 1)
    if missing_elsewhere:
        frame.loc[5, "big"] = ""
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), csv_text(frame), contract_of,
                                       chunks_expected=False)
    assert_same(chunked_run, whole_run)
    assert (chunked_run["outcome"].status == "rejected") == missing_elsewhere


def test_a_rule_that_cannot_run_in_a_later_chunk(tmp_path, monkeypatch, make_contract, contract_of):
    fields = [dict(f, type="string") if f["name"] == "b" else f for f in FIELDS]
    raw = contract(make_contract)
    raw["schema"]["fields"] = fields
    frame = table()
    frame.loc[ROWS - 100, "b"] = "viele"  # sum_equals over a text column: fails only on this chunk
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, raw, csv_text(frame), contract_of)
    assert_same(chunked_run, whole_run)
    assert "Regel konnte nicht geprüft werden" in chunked_run["report"].to_text()


def test_field_counts_and_quoted_line_breaks(tmp_path, monkeypatch, make_contract, contract_of):
    text = csv_text(table())
    lines = text.split("\n")
    short = next(i for i in range(ROWS - 200, 0, -1) if '"' not in lines[i] + lines[i - 1] and lines[i])
    lines[short] = lines[short].rsplit(";", 1)[0]  # a line with one field too few, in the last chunk
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, contract(make_contract), "\n".join(lines), contract_of)
    assert_same(chunked_run, whole_run)
    assert "field_count" in chunked_run["report"].counts()


@pytest.mark.parametrize("case", ["unclosed_quote", "wrong_delimiter", "header_only", "cp1252_bytes", "no_rows"])
def test_files_the_chunks_hand_to_the_whole_read(tmp_path, monkeypatch, make_contract, contract_of, case):
    raw = contract(make_contract)
    text = csv_text(table())
    if case == "unclosed_quote":
        text = text[: len(text) * 4 // 5] + '"offen;1;2\n' + text[len(text) * 4 // 5:]
    elif case == "wrong_delimiter":
        text = text.replace(";", ",")
    elif case == "header_only":
        text = "\n".join(text.split("\n")[:2]) + "\n"
    elif case == "no_rows":
        text = "\n".join(text.split("\n")[:2]) + "\n" + "\n" * 3000
    data = text.encode("cp1252", errors="replace") if case == "cp1252_bytes" else text.encode("utf-8")
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, raw, data, contract_of, chunks_expected=False)
    assert_same(chunked_run, whole_run)
    assert chunked_run["outcome"].status == "rejected"


def test_wide_to_long_in_chunks(tmp_path, monkeypatch, make_contract, contract_of):
    raw = make_contract([("district_id", "integer"), ("year", "year"), ("residents", "integer")],
                        {"format": "csv", "delimiter": ";",
                         "wide_to_long": {"id_columns": ["district_id"], "value_columns_pattern": "\\d{4}",
                                          "names_to": "year", "values_to": "residents"}},
                        primary_key=["district_id", "year"])
    rng = np.random.default_rng(5)
    lines = ["district_id;2020;2021;2022"] + [f"{i};{rng.integers(0, 900)};{rng.integers(0, 900)};"
                                              f"{'' if i % 97 == 0 else rng.integers(0, 900)}" for i in range(1, 4001)]
    chunked_run, whole_run = both_ways(tmp_path, monkeypatch, raw, "\n".join(lines) + "\n", contract_of)
    assert_same(chunked_run, whole_run)
    assert len(chunked_run["frame"]) == 12_000


def test_a_normal_file_is_read_in_chunks_at_the_default_size(tmp_path, monkeypatch, make_contract, contract_of):
    monkeypatch.undo()  # the real chunk sizes
    seen = []
    add = chunked.ChunkedValidation.add
    monkeypatch.setattr(chunked.ChunkedValidation, "add", lambda self, chunk: (seen.append(len(chunk)),
                                                                               add(self, chunk))[1])
    path = tmp_path / "lieferung.csv"
    path.write_text(csv_text(table(60_000), blank_line_at=None), encoding="utf-8")
    store = Store(tmp_path / "store")
    districts = tmp_path / "stadtteile.csv"
    districts.write_text("district_id\n" + "".join(f"{i}\n" for i in range(1, 14)), encoding="utf-8")
    ingest(contract_of({**contract_of_base(contract(make_contract)), **DISTRICTS}), districts, store=store)
    seen.clear()
    outcome = ingest(contract_of(contract(make_contract)), path, store=store)
    assert outcome.status == "created", outcome.report.to_text()
    assert len(seen) > 1 and sum(seen) == 60_000 - 1
