"""The bootstrap is all or nothing: a rejected source file stops it before anything is written; what
is rejected after writing has begun is reported with exactly the versions left in the store."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from contract_metadata import METADATA

from bif_lib.data import bootstrap as bootstrap_module
from bif_lib.data.bootstrap import BootstrapError, bootstrap
from bif_lib.ingest import IngestOutcome
from bif_lib.store import Store
from bif_lib.validation.report import Failure, ValidationReport

DISTRICTS = {11: "Südviertel", 12: "Altstadt", 21: "Große Heide"}
GOOD = {
    "stadtteile.csv": "district_id;name\n11;Südviertel\n12;Altstadt\n21;Große Heide\n",
    "bestand.csv": "stadtteil;einwohner\nSuedviertel;10\nALTSTADT;20\nGrosse Heide;30\nQuelle: fiktiv\n",
}


def contract(dataset, path, fields, **extra):
    source = {"format": "csv", "delimiter": ";", "path": path, **extra.pop("source", {})}
    return {"id": dataset, "title": dataset, "description": "Test", **METADATA, "source": source,
            "schema": {"fields": fields, **extra}}


def make_city(root, files):
    profile = root / "contracts" / "teststadt"
    mirror = root / "mirror"
    profile.mkdir(parents=True)
    mirror.mkdir()
    for name, text in files.items():
        (mirror / name).write_text(text, encoding="utf-8")
    city = {"key": "teststadt", "name": "Teststadt", "crs": "EPSG:25832",
            "districts": {"codes": DISTRICTS},
            "sources": [{"path": name, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
                        for name, text in files.items()]}
    (profile / "city.yaml").write_text(yaml.safe_dump(city, allow_unicode=True), encoding="utf-8")
    contracts = [
        contract("stadtteile", "stadtteile.csv", [{"name": "district_id", "type": "integer"},
                                                   {"name": "name", "type": "string"}], primaryKey="district_id"),
        contract("bestand", "bestand.csv", [{"name": "district_id", "type": "integer"},
                                             {"name": "einwohner", "type": "integer"}],
                 source={"district_names": {"column": "stadtteil", "to": "district_id"},
                         "drop_columns": ["stadtteil"], "skip_lines": ["5"]},
                 foreignKeys=[{"fields": "district_id",
                               "reference": {"resource": "stadtteile", "fields": "district_id"}}]),
    ]
    for raw in contracts:
        (profile / f"{raw['id']}.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return mirror


@pytest.fixture
def city(tmp_path, monkeypatch):
    from bif_lib.city.profile import current_profile

    monkeypatch.setenv("BIF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BIF_CONTRACTS", str(tmp_path / "contracts"))
    monkeypatch.setenv("BIF_CITY", "teststadt")
    current_profile.cache_clear()
    yield tmp_path
    current_profile.cache_clear()


def versions(store):
    return sorted((e.dataset_id, e.version) for e in store.catalog.all_versions())


def test_names_only_city_bootstraps(city):
    mirror = make_city(city, GOOD)
    store = Store(city / "store")
    result = bootstrap("teststadt", mirror=mirror, store=store)
    assert result.ok
    assert versions(store) == [("bestand", 1), ("stadtteile", 1)]
    report = result.outcomes["bestand"].report
    assert report.warnings == 3  # three names corrected, each reported
    assert any("skip_lines" in note for note in report.notes)


def test_a_rejected_file_leaves_nothing_in_the_store(city):
    files = dict(GOOD, **{"bestand.csv": "stadtteil;einwohner\nSuedviertel;10\nWestviertel;20\nAltstadt;x\n"
                                          "Quelle: fiktiv\n"})
    mirror = make_city(city, files)
    store = Store(city / "store")
    with pytest.raises(BootstrapError) as raised:
        bootstrap("teststadt", mirror=mirror, store=store)
    message = str(raised.value)
    assert "bestand" in message and "Westviertel" in message and "nichts in den Datenspeicher" in message
    assert raised.value.left == []
    assert versions(store) == []


def test_a_rejection_after_writing_names_what_was_left(city, monkeypatch):
    mirror = make_city(city, GOOD)
    store = Store(city / "store")
    real_ingest = bootstrap_module.ingest

    def ingest(contract, path, **kwargs):
        if contract.id == "bestand":  # e.g. a generated dataset rejected after the sources were written
            report = ValidationReport(contract.id, str(path))
            report.add(Failure("store", "abgelehnt (Test)"))
            return IngestOutcome("rejected", report)
        return real_ingest(contract, path, **kwargs)

    monkeypatch.setattr(bootstrap_module, "ingest", ingest)
    with pytest.raises(BootstrapError) as raised:
        bootstrap("teststadt", mirror=mirror, store=store)
    assert raised.value.left == [("stadtteile", 1)]
    assert "stadtteile, Version 1" in str(raised.value)
    assert versions(store) == [("stadtteile", 1)]
