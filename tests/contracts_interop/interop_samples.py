"""Shared pieces of the import/export tests: the Flensburg contracts, the pinned ODCS JSON
Schema, the documented normalisations and losses, and small sample contracts."""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from pathlib import Path

from contract_metadata import METADATA

REPO = Path(__file__).resolve().parents[2]
FLENSBURG = sorted(p for p in (REPO / "data_contracts" / "flensburg").glob("*.yaml") if p.name != "city.yaml")

# The official ODCS v3.0.2 JSON Schema (bitol-io/open-data-contract-standard,
# schema/odcs-json-schema-v3.0.2.json at tag v3.0.2, sha256 fc9d774e…c07c79) as the PyPI package
# open-data-contract-standard 3.0.4/3.0.5 bundles it (same content, without the final newline).
ODCS_SCHEMA_SHA256 = "8d2de931527197e8206a581483fb06d5b6267db4cb24d24b86dbb65ae47051a5"


@cache
def odcs_json_schema() -> dict:
    import open_data_contract_standard

    path = Path(open_data_contract_standard.__file__).with_name("schema.json")
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == ODCS_SCHEMA_SHA256, (
        f"{path} is not the pinned ODCS v3.0.2 JSON Schema (pin open-data-contract-standard>=3.0.4,<3.1)")
    return json.loads(data)


def odcs_schema_errors(document: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft201909Validator(odcs_json_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(document)]


def as_list(value):
    return [value] if isinstance(value, str) else list(value)


def normalised(raw: dict) -> dict:
    """The documented normalisations of an import (same meaning, other spelling): a primary key
    of one field written as text comes back as a list, no ``rules`` equals ``rules: []`` and no
    ``constraints`` equals ``constraints: {}``."""
    raw = json.loads(json.dumps(raw))
    schema = raw["schema"]
    if "primaryKey" in schema:
        schema["primaryKey"] = as_list(schema["primaryKey"])
    if not raw.get("rules"):
        raw.pop("rules", None)
    for f in schema["fields"]:
        if f.get("constraints") == {}:
            del f["constraints"]
    return raw


def tableschema_normalised(schema: dict) -> dict:
    """Table Schema v2 writes keys as lists: foreign key fields too."""
    schema = json.loads(json.dumps(schema))
    if "primaryKey" in schema:
        schema["primaryKey"] = as_list(schema["primaryKey"])
    for fk in schema.get("foreignKeys") or []:
        fk["fields"] = as_list(fk["fields"])
        fk["reference"]["fields"] = as_list(fk["reference"]["fields"])
    return schema


def full_contract() -> dict:
    """A contract with every optional key the format knows, for the mapping tests."""
    return copy.deepcopy({
        "id": "einwohner_test", "title": "Einwohner (Test)", "description": "Einwohner je Stadtteil und Jahr.\n\n"
        "Zweiter Absatz mit „Anführungszeichen“: und # Raute.",
        **METADATA,
        "version": "2.1.3",
        "steward": {"name": "Erika Mustermann", "email": "erika@example.org", "phone": "0461 85-0"},
        "classification": "internal", "synthetic": True,
        "licence": {"name": "dl-de/by-2.0", "url": "https://www.govdata.de/dl-de/by-2-0",
                    "attribution": "Stadt Testhausen", "note": "Hinweis zur Lizenz"},
        "cadence": "quarterly",
        "temporal_coverage": {"start": 2020, "end": "2022", "reference_date": "31.12."},
        "data_minimisation": "Keine Personendaten.", "record_id": "person_id",
        "derived_from": ["melderegister_personen"],
        "notes": "Erste Zeile\nzweite Zeile",
        "source": {"format": "csv", "path": "test/einwohner.csv", "encoding": "windows-1252", "delimiter": ";",
                   "decimal": ",", "thousands": ".", "missing_values": ["", "-"],
                   "rename": {"Stadtteil-Nr": "district_id"},
                   "drop_rows": [{"column": "Stadtteil", "pattern": "^Summe"}],
                   "wide_to_long": {"id_columns": ["year", "district_id"], "names_to": "indicator",
                                    "values_to": "value"}},
        "schema": {
            "fields": [
                {"name": "year", "type": "year", "title": "Jahr", "constraints": {"required": True, "minimum": 2000}},
                {"name": "district_id", "type": "integer", "title": "Stadtteil",
                 "constraints": {"required": True, "minimum": 1, "maximum": 13, "enum": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                                                          11, 12, 13]}},
                {"name": "person_id", "type": "string", "constraints": {"required": True, "unique": False}},
                {"name": "code", "type": "string", "format": "default",
                 "constraints": {"pattern": "STBZ\\d{3}", "minLength": 7, "maxLength": 7}},
                {"name": "indicator", "type": "string", "description": "Indikator",
                 "constraints": {"enum": ["residents", "share"]}},
                {"name": "value", "type": "number", "unit": "Personen", "missing_means": "suppressed",
                 "constraints": {"minimum": 0, "maximum": 1e6, "pattern": "^\\d+$"}},
                {"name": "stichtag", "type": "date", "format": "%d.%m.%Y",
                 "constraints": {"minimum": "2000-01-01", "maximum": "2100-12-31"}},
                {"name": "zeitpunkt", "type": "datetime", "constraints": {}},
                {"name": "aktiv", "type": "boolean", "constraints": {"required": False, "enum": [True]}},
            ],
            "primaryKey": "person_id",
            "foreignKeys": [{"fields": "district_id", "reference": {"resource": "stadtteile", "fields": "district_id"}},
                            {"fields": ["year", "district_id"],
                             "reference": {"resource": "einwohner_test", "fields": ["year", "district_id"]}}],
            "missingValues": ["", "-", "."],
        },
        "rules": [
            {"id": "summe", "type": "sum_equals", "columns": ["year", "district_id"], "total": "value", "tolerance": 0,
             "severity": "warning"},
            {"type": "change_bounds", "column": "value", "key": ["district_id", "indicator"], "order_by": "year",
             "max_relative_change": 0.15},
            {"type": "complete_keys", "keys": {"district_id": {"dataset": "stadtteile"}, "year": {"from_data": True}},
             "description": "Alle Stadtteile in jedem Jahr."},
        ],
    })


FOREIGN_ODCS = """\
apiVersion: v3.0.2
kind: DataContract
id: 53581432-6c55-4ba2-a65f-72344a91553a
name: Kita-Plätze
version: 1.1.0
status: draft
domain: jugend
description:
  purpose: Genehmigte Plätze je Kita.
  usage: Kita-Bedarfsplanung
  limitations: Stand jeweils 1. März.
  authoritativeDefinitions:
    - type: license
      url: https://www.govdata.de/dl-de/zero-2-0
team:
  - name: Fachbereich Jugend
    role: owner
  - username: kita@stadt.example
    name: Kita-Team
    role: Data Steward
  - username: someone
    role: Data Scientist
support:
  - channel: kita-mail
    url: mailto:kita@stadt.example
    scope: issues
  - channel: news
    url: mailto:news@stadt.example
    scope: announcements
servers:
  - server: prod
    type: postgres
    host: db.example
    port: 5432
    database: kita
    schema: public
slaProperties:
  - property: frequency
    value: 1
    unit: y
schema:
  - name: kita_plaetze
    physicalName: kita_plaetze_tbl
    physicalType: table
    businessName: Kita-Plätze
    dataGranularityDescription: Kita
    properties:
      - name: Kita-Nr.
        logicalType: string
        physicalType: varchar(10)
        required: true
        unique: true
        primaryKey: true
        primaryKeyPosition: 1
        classification: public
        logicalTypeOptions:
          pattern: "KITA[0-9]{4}"
      - name: plaetze
        businessName: Plätze
        logicalType: integer
        physicalType: int
        classification: restricted
        examples: [12, 40]
        logicalTypeOptions:
          minimum: 0
          exclusiveMaximum: true
          maximum: 500
        customProperties:
          - property: unit
            value: Plätze
      - name: traeger
        logicalType: string
        quality:
          - rule: validValues
            validValues: [kommunal, frei]
          - rule: nullCount
            mustBe: 0
      - name: geoeffnet_seit
        logicalType: date
        logicalTypeOptions:
          format: dd.MM.yyyy
      - name: letzte_pruefung
        logicalType: timestamp
      - name: oeffnungszeiten
        logicalType: array
        items:
          logicalType: string
    quality:
      - type: sql
        query: SELECT COUNT(*) FROM ${object}
        mustBeGreaterThan: 0
        description: Tabelle ist nicht leer
      - type: custom
        engine: bif
        implementation: |
          type: complete_keys
          keys: {kita_nr: {from_data: true}}
      - type: custom
        engine: bif
        implementation: "{type: sum_equals, columns: [plaetze, nicht_da], total: plaetze}"
"""

FOREIGN_TABLESCHEMA = {
    "fields": [
        {"name": "Stadtteil Nr", "type": "integer", "title": "Stadtteil",
         "constraints": {"required": True, "exclusiveMinimum": 0, "maximum": 13}, "bif:unit": "Nummer",
         "example": 3},
        {"name": "anteil", "type": "number", "decimalChar": ",", "groupChar": ".",
         "constraints": {"exclusiveMinimum": 0}},
        {"name": "art", "type": "string", "categories": [{"value": "a", "label": "Art A"}, {"value": "b"}]},
        {"name": "uhrzeit", "type": "time"},
        {"name": "stichtag", "type": "date", "format": "%d.%m.%Y"},
        {"name": "irgendwas"},
    ],
    "primaryKey": "Stadtteil Nr",
    "foreignKeys": [{"fields": "Stadtteil Nr", "reference": {"resource": "stadtteile", "fields": "district_id"}},
                    {"fields": ["art"], "reference": {"resource": "", "fields": ["art"]}}],
    "missingValues": ["", {"value": "-", "label": "unterdrückt"}],
    "uniqueKeys": [["art"], ["art", "anteil"]],
    "rdfType": "http://schema.org/Place",
}
