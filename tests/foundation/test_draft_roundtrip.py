"""``bif contract draft`` on tricky files: the draft always accepts its own file; number formats are
judged from whole columns; no allowed-values list on constant columns; header blanks as the reader."""

from __future__ import annotations

import pytest
import yaml

from bif_lib.contracts import load_contract
from bif_lib.contracts.interop.common import PLACEHOLDERS
from bif_lib.ingest import validate_file
from bif_lib.store import Store
from bif_lib.validation.draft import draft_contract

TRICKY = {
    # "4.423" beside "1.234.567": thousands point
    "tausender.csv": "Stadtteil;Einwohner;Fläche\nA;4.423;12,5\nB;1.234.567;3,25\nC;812;7\n",
    # "4.423" beside "12.345" only: still thousands (every point before three digits)
    "tausender_kurz.csv": "Stadtteil;Einwohner\nA;4.423\nB;12.345\nC;998\n",
    # decimal comma
    "komma.csv": "Stadtteil;Quote\nA;4,5\nB;12,25\nC;7\n",
    # leading and trailing blanks in the header, constant column, "NA" as a value
    "kopf.csv": " Stadtteil ;Jahr ; Wert;Quelle\nA;2022;1;NA\nB;2022;2;NA\nC;2022;3;x\nD;2022;4;NA\n",
    # English file: decimal point and thousands comma
    "englisch.csv": "district,population,share\nA,\"1,234\",0.5\nB,\"12,345\",0.25\nC,17,0.125\n",
    # a control character and a ZWSP in values, ids too large for exact integers
    "sonderzeichen.csv": "id;name\n12345678901234567890;Sü\u009dd\n2;Nord\u200b\n3;West\n",
}


def draft_and_validate(path, tmp_path):
    text = draft_contract(path)
    contract_path = tmp_path / f"{path.stem}.yaml"
    contract_path.write_text(text, encoding="utf-8")
    contract = load_contract(contract_path)
    frame, report, _ = validate_file(contract, path, Store(tmp_path / "store"))
    return contract, frame, report


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_a_draft_accepts_its_own_file(tmp_path, name):
    path = tmp_path / name
    path.write_text(TRICKY[name], encoding="utf-8")
    contract, frame, report = draft_and_validate(path, tmp_path)
    assert report.ok, report.to_text()
    assert report.warnings == 0, report.to_text()
    assert len(frame) == TRICKY[name].count("\n") - 1


def test_thousands_point_from_the_whole_column(tmp_path):
    for name, expected in (("tausender.csv", [4423, 1234567, 812]), ("tausender_kurz.csv", [4423, 12345, 998])):
        path = tmp_path / name
        path.write_text(TRICKY[name], encoding="utf-8")
        contract, frame, _ = draft_and_validate(path, tmp_path)
        assert (contract.source["decimal"], contract.source["thousands"]) == (",", ".")
        assert contract.field("einwohner").type == "integer"
        assert frame["einwohner"].tolist() == expected


def test_decimal_comma(tmp_path):
    path = tmp_path / "komma.csv"
    path.write_text(TRICKY["komma.csv"], encoding="utf-8")
    contract, frame, _ = draft_and_validate(path, tmp_path)
    assert contract.source["decimal"] == ","
    assert frame["quote"].tolist() == [4.5, 12.25, 7.0]


def test_header_blanks_and_constant_columns(tmp_path):
    path = tmp_path / "kopf.csv"
    path.write_text(TRICKY["kopf.csv"], encoding="utf-8")
    contract, _, _ = draft_and_validate(path, tmp_path)
    assert contract.field_names == ["stadtteil", "jahr", "wert", "quelle"]
    assert set((contract.source.get("rename") or {})) == {"Stadtteil", "Jahr", "Wert", "Quelle"}
    assert "enum" not in contract.field("jahr").constraints
    assert contract.field("quelle").constraints.get("enum") is None or \
        len(contract.field("quelle").constraints["enum"]) > 1


def test_constant_text_column_gets_no_enum(tmp_path):
    path = tmp_path / "konstant.csv"
    path.write_text("art;wert\n" + "".join(f"Bestand;{i}\n" for i in range(20)), encoding="utf-8")
    contract, _, report = draft_and_validate(path, tmp_path)
    assert report.ok and "enum" not in contract.field("art").constraints


def test_placeholders_are_the_interop_ones(tmp_path):
    path = tmp_path / "komma.csv"
    path.write_text(TRICKY["komma.csv"], encoding="utf-8")
    raw = yaml.safe_load(draft_contract(path))
    for key in ("description", "owner", "steward", "source_system", "licence", "cadence", "spatial_unit"):
        assert raw[key] == PLACEHOLDERS[key]
    assert raw["title"].startswith(PLACEHOLDERS["title"])
