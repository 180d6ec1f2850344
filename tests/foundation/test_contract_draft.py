"""``bif contract draft``: a draft is a valid contract with which the sample file validates."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from bif_lib.cli import main
from bif_lib.contracts import load_contract
from bif_lib.ingest import validate_file
from bif_lib.validation.draft import draft_contract

GERMAN_CSV = """Stadtteil;Jahr;Einwohner;Anteil Ältere;Stichtag;Grünfläche
Altstadt;2022;3.907;12,5;31.12.2022;ja
Neustadt;2022;5.052;9,75;31.12.2022;nein
Nordstadt;2022;12.532;18,25;31.12.2022;ja
Jürgensby;2022;9.123;15,5;31.12.2022;nein
Westliche Höhe;2022;8.111;21,0;31.12.2022;ja
Weiche;2022;7.050;17,0;31.12.2022;nein
"""


def draft_and_validate(path, tmp_path, store, **kwargs):
    text = draft_contract(path, **kwargs)
    contract_path = tmp_path / "entwurf.yaml"
    contract_path.write_text(text, encoding="utf-8")
    contract = load_contract(contract_path)  # the draft is a valid contract
    frame, report, _ = validate_file(contract, path, store)
    return contract, frame, report


def test_draft_german_csv_cp1252(tmp_path, store):
    path = tmp_path / "Einwohner 2022.csv"
    path.write_bytes(GERMAN_CSV.encode("cp1252"))
    contract, frame, report = draft_and_validate(path, tmp_path, store)
    assert report.ok, report.to_text()
    src = contract.source
    assert (src["encoding"], src["delimiter"], src["decimal"], src["thousands"]) == ("windows-1252", ";", ",", ".")
    assert src["date_format"] == "%d.%m.%Y"
    assert contract.id == "einwohner_2022"
    types = {f.name: f.type for f in contract.fields}
    assert types == {"stadtteil": "string", "jahr": "year", "einwohner": "integer", "anteil_aeltere": "number",
                     "stichtag": "date", "gruenflaeche": "boolean"}
    assert src["rename"]["Anteil Ältere"] == "anteil_aeltere"
    assert contract.primary_key == ["stadtteil"]
    assert frame["einwohner"].tolist() == [3907, 5052, 12532, 9123, 8111, 7050]
    assert frame["anteil_aeltere"].tolist()[:2] == [12.5, 9.75]
    assert frame["stadtteil"].tolist()[3] == "Jürgensby"
    assert frame["stichtag"].iloc[0] == pd.Timestamp("2022-12-31")
    assert contract.field("einwohner").constraints == {"required": True, "minimum": 3907, "maximum": 12532}


def test_draft_utf8_bom_comma_csv(tmp_path, store):
    path = tmp_path / "kitas.csv"
    text = "kita_nr,name,plaetze,district_id\n" + "".join(f"{i:03d},Kita {i},{20 + i},{i % 3 + 1}\n" for i in range(12))
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    contract, frame, report = draft_and_validate(path, tmp_path, store)
    assert report.ok, report.to_text()
    assert contract.source["encoding"] == "utf-8" and contract.source["delimiter"] == ","
    types = {f.name: f.type for f in contract.fields}
    assert types["kita_nr"] == "string"  # leading zeros: a code, not a number
    assert types["plaetze"] == "integer"
    assert contract.field("district_id").constraints == {"required": True, "minimum": 1, "maximum": 3}
    assert frame["kita_nr"].tolist()[:2] == ["000", "001"]


def test_draft_geojson(tmp_path, store):
    import geopandas as gpd
    from shapely.geometry import Point

    path = tmp_path / "kitas.geojson"
    gpd.GeoDataFrame({"name": ["A", "B", "C"], "places": [20, 40, 60], "lunch_offer": [True, False, True]},
                     geometry=[Point(9.42, 54.78), Point(9.43, 54.79), Point(9.44, 54.80)],
                     crs="OGC:CRS84").to_file(path, driver="GeoJSON")
    contract, frame, report = draft_and_validate(path, tmp_path, store)
    assert report.ok, report.to_text()
    assert contract.is_geo and contract.geometry_field.geometry_type == ("Point",)
    assert contract.source["crs"] in ("OGC:CRS84", "EPSG:4326")
    assert frame.crs.to_epsg() == 25832 and len(frame) == 3
    assert frame["lunch_offer"].tolist() == [True, False, True]


def test_draft_real_flensburg_geojson(tmp_path, store, mirror):
    for name in ("kitas/kitas_in_flensburg.geojson", "geo/flensburg_stadtteile.geojson"):
        contract, frame, report = draft_and_validate(mirror / name, tmp_path, store)
        assert report.ok, report.to_text()
        assert frame.crs.to_epsg() == 25832 and len(frame) > 10


def test_draft_real_flensburg_csv(tmp_path, store, mirror):
    contract, frame, report = draft_and_validate(mirror / "schools" / "schulen_flensburg.csv", tmp_path, store)
    assert report.ok, report.to_text()
    assert contract.field("nummer").type == "string"  # school numbers have leading zeros


def test_draft_xlsx(tmp_path, store):
    path = tmp_path / "plaetze.xlsx"
    pd.DataFrame({"Kita": ["A", "B", "C"], "Plätze": [20, 40, 60], "Quote": [0.5, 0.25, 1.0]}).to_excel(path, index=False)
    contract, frame, report = draft_and_validate(path, tmp_path, store)
    assert report.ok, report.to_text()
    assert {f.name: f.type for f in contract.fields} == {"kita": "string", "plaetze": "integer", "quote": "number"}


def test_draft_unknown_suffix(tmp_path):
    path = tmp_path / "daten.dbf"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="nicht unterstützt"):
        draft_contract(path)


def test_draft_via_cli_is_checked_by_cli(tmp_path, capsys):
    path = tmp_path / "daten.csv"
    path.write_bytes(GERMAN_CSV.encode("cp1252"))
    target = tmp_path / "daten.yaml"
    assert main(["contract", "draft", str(path), "-o", str(target)]) == 0
    assert main(["contract", "check", str(target)]) == 0
    assert main(["validate", str(target), str(path)]) == 0
    out = capsys.readouterr().out
    assert "bestanden" in out
    assert yaml.safe_load(target.read_text(encoding="utf-8"))["source"]["encoding"] == "windows-1252"


def test_draft_types_numbers_as_the_ingest_reads_them(tmp_path, store):
    """NBSP as thousands separator and a leading decimal comma: the draft's number rule is the ingest's."""
    from bif_lib.validation.fields import parse_numbers

    path = tmp_path / "flaechen.csv"
    path.write_text("gebiet;flaeche;anteil\nA;1\u00a0234,5;,5\nB;12\u00a0345,25;0,75\nC;987,5;,125\n", encoding="utf-8")
    contract, frame, report = draft_and_validate(path, tmp_path, store)
    assert report.ok, report.to_text()
    assert (contract.source["decimal"], contract.source["thousands"]) == (",", " ")
    assert {f.name: f.type for f in contract.fields}["flaeche"] == "number"
    assert {f.name: f.type for f in contract.fields}["anteil"] == "number"
    assert frame["flaeche"].tolist() == [1234.5, 12345.25, 987.5]
    assert frame["anteil"].tolist() == [0.5, 0.75, 0.125]
    raw = pd.Series(["1\u00a0234,5", ",5"])
    assert parse_numbers(raw, contract.source).tolist() == [1234.5, 0.5]
    assert contract.field("anteil").constraints["minimum"] == 0.125
