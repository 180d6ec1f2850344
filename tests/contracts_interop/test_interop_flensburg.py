"""Every real Flensburg contract goes BIF → ODCS → BIF and BIF → Table Schema → BIF.

ODCS carries everything (BIF's own parts as customProperties): the contract comes back as it
was, up to the documented normalisations (interop_samples.normalised). A Table Schema carries
the ``schema`` section only: exactly the documented losses are asserted (docs/contracts.md,
"Import and export"). Exports are checked against the official ODCS v3.0.2 JSON Schema and the
ODCS package's model, and with frictionless; imports with BIF's own contract loader.
"""

from __future__ import annotations

import json

import frictionless
import pytest
import yaml
from interop_samples import FLENSBURG, normalised, odcs_schema_errors, tableschema_normalised

import bif_lib.validation  # noqa: F401 - registers the rule checks the contract loader runs
from bif_lib.contracts import load_contract
from bif_lib.contracts.interop import export_contract, import_contract

# What a contract imported from a Table Schema says where the Table Schema had nothing
# (docs/contracts.md, "Import and export"): the documented losses.
TABLESCHEMA_PLACEHOLDERS = {
    "version": "0.1",
    "title": "TODO Titel",
    "description": "TODO Was enthält der Datensatz, wofür wird er gebraucht?",
    "owner": "TODO Fachbereich",
    "steward": {"name": "TODO Name", "email": "todo@example.org"},
    "source_system": "TODO Fachverfahren",
    "classification": "internal",
    "licence": {"name": "TODO Lizenz", "attribution": "TODO Namensnennung"},
    "cadence": "irregular",
    "spatial_unit": "TODO Raumbezug",
    "temporal_coverage": {},
}
# keys of a contract a Table Schema cannot carry at all (they are not in the import)
TABLESCHEMA_DROPPED = {"synthetic", "data_minimisation", "record_id", "derived_from", "release", "notes", "rules"}


@pytest.fixture(scope="module")
def flensburg_contracts():
    return {path.name: load_contract(path) for path in FLENSBURG}


def test_all_flensburg_contracts_are_covered():
    assert len(FLENSBURG) >= 30
    kinds = {load_contract(p).source["format"] for p in FLENSBURG}
    assert {"csv", "geojson", "parquet"} <= kinds  # tabular, geodata and register extracts


@pytest.mark.parametrize("path", FLENSBURG, ids=lambda p: p.stem)
def test_odcs_round_trip_keeps_everything(path, tmp_path, flensburg_contracts):
    contract = flensburg_contracts[path.name]
    exported = export_contract(contract, "odcs")
    assert exported.losses == []
    document = yaml.safe_load(exported.text)
    assert document == exported.descriptor
    assert odcs_schema_errors(document) == []
    from open_data_contract_standard.model import OpenDataContractStandard
    assert OpenDataContractStandard.from_string(exported.text).id == contract.id

    odcs_file = tmp_path / f"{contract.id}.odcs.yaml"
    odcs_file.write_text(exported.text, encoding="utf-8")
    imported = import_contract(odcs_file, "odcs")
    assert imported.warnings == []
    assert normalised(imported.raw) == normalised(contract.raw)
    written = tmp_path / f"{contract.id}.yaml"
    written.write_text(imported.text, encoding="utf-8")
    assert normalised(load_contract(written).raw) == normalised(contract.raw)


@pytest.mark.parametrize("path", FLENSBURG, ids=lambda p: p.stem)
def test_tableschema_round_trip_keeps_the_schema_and_loses_what_is_documented(path, tmp_path, flensburg_contracts):
    contract = flensburg_contracts[path.name]
    exported = export_contract(contract, "tableschema")
    descriptor = json.loads(exported.text)
    assert descriptor == exported.descriptor
    report = frictionless.validate(descriptor, type="schema")
    assert report.valid, report.flatten(["type", "note"])
    assert len(frictionless.Schema.from_descriptor(descriptor).fields) == len(contract.fields)
    assert "Leseoptionen der Quelldatei (source)" in exported.losses
    assert any(loss.startswith("Metadaten: version, title, description, owner") for loss in exported.losses)
    assert any("Plausibilitätsregel" in loss for loss in exported.losses) == bool(contract.rules)

    schema_file = tmp_path / f"{contract.id}.schema.json"
    schema_file.write_text(exported.text, encoding="utf-8")
    imported = import_contract(schema_file, "tableschema", dataset_id=contract.id)
    raw = normalised(imported.raw)
    # kept: the schema (keys as lists, as Table Schema v2 writes them) and the id (--id)
    assert tableschema_normalised(raw["schema"]) == tableschema_normalised(normalised(contract.raw)["schema"])
    assert raw["id"] == contract.id
    # lost: metadata (placeholders marked TODO), reading options, rules — exactly these
    assert {k: v for k, v in raw.items() if k not in ("id", "schema", "source")} == TABLESCHEMA_PLACEHOLDERS
    assert raw["source"] == {"format": "geojson" if contract.is_geo else "csv"}
    assert not TABLESCHEMA_DROPPED & set(raw)
    assert set(contract.raw) - set(raw) <= TABLESCHEMA_DROPPED
    lost_keys = {k for k in contract.raw if k not in ("id", "schema") and raw.get(k) != contract.raw[k]}
    assert all(f"„{key}“" in imported.text for key in lost_keys & set(TABLESCHEMA_PLACEHOLDERS) - {"version",
                                                                                                    "classification"})
    written = tmp_path / f"{contract.id}.yaml"
    written.write_text(imported.text, encoding="utf-8")
    assert load_contract(written).field_names == contract.field_names
