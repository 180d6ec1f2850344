"""District names → codes through the city profile (``source.district_names``): the matching and the reader."""

from __future__ import annotations

import pytest
import yaml
from contract_metadata import METADATA

from bif_lib.city import district_names
from bif_lib.city.district_names import AmbiguousNames, DistrictLookup, match_names, normalise, profile_lookup
from bif_lib.contracts import ContractError, parse_contract
from bif_lib.ingest import validate_file
from bif_lib.readers import read_source
from bif_lib.store import Store

# a profile unlike Flensburg's: non-consecutive codes, umlauts, multi-word names
NAMES = {11: "Südviertel", 12: "Altstadt", 21: "Große Heide", 93: "Über dem Bach", 35: "Nord-Ost"}


def test_spellings_of_one_name_match():
    matches = match_names(["Südviertel", "Suedviertel", " SÜDVIERTEL ", "su\u0308dviertel", "Grosse  Heide",
                           "ueber dem bach", "Nord - Ost", "NORD-OST"], NAMES)
    assert {v: m.code for v, m in matches.items()} == {
        "Südviertel": 11, "Suedviertel": 11, " SÜDVIERTEL ": 11, "su\u0308dviertel": 11, "Grosse  Heide": 21,
        "ueber dem bach": 93, "Nord - Ost": 35, "NORD-OST": 35}
    assert not matches["Südviertel"].corrected
    assert all(m.corrected for v, m in matches.items() if v != "Südviertel")
    assert matches["Suedviertel"].name == "Südviertel"


def test_unknown_name_does_not_match():
    match = match_names(["Westviertel"], NAMES)["Westviertel"]
    assert match.code is None and match.name is None and not match.corrected


def test_normalise():
    assert normalise("  Groß\u00a0 Heide ") == normalise("GROSS HEIDE") == "gross heide"


def test_two_districts_equal_after_normalising_are_refused():
    with pytest.raises(AmbiguousNames, match="Suedviertel"):
        DistrictLookup({1: "Südviertel", 2: "Suedviertel"})


def contract(**source):
    raw = {"id": "bestand", "title": "Bestand", "description": "Test", **METADATA,
           "source": {"format": "csv", "delimiter": ";", **source},
           "schema": {"fields": [{"name": "district_id", "type": "integer", "constraints": {"required": True}},
                                 {"name": "einwohner", "type": "integer"}]}}
    return parse_contract(yaml.safe_dump(raw, allow_unicode=True))


@pytest.fixture
def profile_names(monkeypatch):
    monkeypatch.setattr(district_names, "profile_lookup", lambda contract: DistrictLookup(NAMES))


SPEC = {"district_names": {"column": "stadtteil", "to": "district_id"}, "drop_columns": ["stadtteil"]}


def test_reader_maps_names_and_reports_each_correction(tmp_path, profile_names):
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\nSüdviertel;10\nSuedviertel;11\n ALTSTADT ;12\nueber dem Bach;13\n",
                    encoding="utf-8")
    read = read_source(contract(**SPEC), path)
    assert read.frame["district_id"].tolist() == ["11", "11", "12", "93"]
    warnings = [f for f in read.failures if f.rule == "district_name"]
    assert [(f.row, f.value, f.severity) for f in warnings] == [
        (3, "Suedviertel", "warning"), (4, " ALTSTADT ", "warning"), (5, "ueber dem Bach", "warning")]
    assert "bestand.csv" in warnings[0].message and "„Südviertel“" in warnings[0].message
    assert warnings[0].column == "stadtteil"
    assert any("3 Stadtteilname(n)" in note for note in read.notes)


def test_unknown_name_is_an_error_naming_all_allowed_names(tmp_path, profile_names):
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\nSüdviertel;10\nWestviertel;11\n", encoding="utf-8")
    frame, report, _ = validate_file(contract(**SPEC), path, Store(tmp_path / "store"))
    assert not report.ok
    errors = [f for f in report.failures() if f.rule == "district_name"]
    assert len(errors) == 1
    error = errors[0]
    assert (error.row, error.column, error.value, error.severity) == (3, "stadtteil", "Westviertel", "error")
    assert "bestand.csv" in error.message
    for name in NAMES.values():
        assert f"„{name}“" in error.message


def test_in_place_mapping_and_missing_names(tmp_path, profile_names):
    raw_contract = contract(district_names={"column": "district_id"}, missing_values=["", "-"])
    path = tmp_path / "bestand.csv"
    path.write_text("district_id;einwohner\nSüdviertel;10\n-;11\nAltstadt;12\n", encoding="utf-8")
    read = read_source(raw_contract, path)
    assert read.frame["district_id"].tolist() == ["11", "", "12"]
    assert not read.failures


def test_without_a_profile_the_file_is_refused_not_guessed(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_CONTRACTS", str(tmp_path / "keine-profile"))
    monkeypatch.setenv("BIF_CITY", "nirgendwo")
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\nSüdviertel;10\n", encoding="utf-8")
    read = read_source(contract(**SPEC), path)
    assert read.frame is None and "Stadtprofil" in read.failures[0].message


def test_profile_lookup_uses_the_current_profile(monkeypatch):
    from bif_lib.city.profile import current_profile

    monkeypatch.setenv("BIF_CITY", "flensburg")
    current_profile.cache_clear()
    try:
        lookup = profile_lookup(contract(**SPEC))
        assert lookup.names == dict(current_profile().districts.names)
    finally:
        current_profile.cache_clear()


def test_contract_option_is_checked():
    with pytest.raises(ContractError, match="district_names"):
        contract(district_names={"to": "district_id"})
    with pytest.raises(ContractError, match="id_columns"):
        contract(district_names={"column": "stadtteil", "to": "district_id"},
                 wide_to_long={"id_columns": ["stadtteil"], "names_to": "jahr", "values_to": "einwohner"})
