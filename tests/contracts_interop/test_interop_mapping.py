"""The mapping BIF ↔ ODCS ↔ Table Schema in detail (docs/contracts.md, "Import and export"):
every optional key of a contract, contracts written by other tools, patterns, classification."""

from __future__ import annotations

import datetime as dt
import json
import re

import frictionless
import pytest
import yaml
from interop_samples import (
           FOREIGN_ODCS,
           FOREIGN_TABLESCHEMA,
           full_contract,
           normalised,
           odcs_schema_errors,
           tableschema_normalised,
)

import bif_lib.validation  # noqa: F401 - registers the rule checks the contract loader runs
from bif_lib.contracts import Contract, load_contract, parse_contract
from bif_lib.contracts.interop import export_contract, import_contract
from bif_lib.contracts.interop.common import pattern_search_to_whole, pattern_whole_to_search


def contract_of(raw: dict) -> Contract:
    return parse_contract(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


def odcs_round_trip(contract: Contract, tmp_path):
    exported = export_contract(contract, "odcs")
    path = tmp_path / "vertrag.odcs.yaml"
    path.write_text(exported.text, encoding="utf-8")
    return exported, import_contract(path, "odcs")


def warning_about(result, where: str, text: str) -> bool:
    return any(w == where and text in m for w, m in result.warnings)


# --- ODCS export -------------------------------------------------------------------------------------

def test_odcs_export_puts_each_part_where_odcs_has_a_place_for_it(tmp_path):
    contract = contract_of(full_contract())
    doc = export_contract(contract, "odcs").descriptor
    assert odcs_schema_errors(doc) == []
    assert (doc["apiVersion"], doc["kind"], doc["id"], doc["name"], doc["version"], doc["status"]) == \
        ("v3.0.2", "DataContract", "einwohner_test", "Einwohner (Test)", "2.1.3", "active")
    assert doc["description"]["purpose"].startswith("Einwohner je Stadtteil")
    assert doc["description"]["limitations"] == "Erste Zeile\nzweite Zeile"
    assert doc["description"]["authoritativeDefinitions"] == [{"type": "license",
                                                               "url": "https://www.govdata.de/dl-de/by-2-0"}]
    assert doc["team"] == [{"name": "Fachbereich Test", "role": "owner"},
                           {"username": "erika@example.org", "name": "Erika Mustermann", "role": "steward"}]
    assert [s["url"] for s in doc["support"]] == ["mailto:erika@example.org", "tel:0461 85-0"]
    assert doc["slaProperties"] == [{"property": "frequency", "value": 3, "unit": "month"}]
    custom = {c["property"]: c["value"] for c in doc["customProperties"]}
    assert custom == {"sourceSystem": "Testsystem", "cadence": "quarterly",
                      "temporalCoverage": {"start": 2020, "end": "2022", "reference_date": "31.12."},
                      "dataMinimisation": "Keine Personendaten.", "synthetic": True, "recordId": "person_id",
                      "derivedFrom": ["melderegister_personen"], "license": "dl-de/by-2.0",
                      "licenseAttribution": "Stadt Testhausen", "licenseNote": "Hinweis zur Lizenz"}
    [server] = doc["servers"]
    assert (server["type"], server["path"], server["format"]) == ("local", "test/einwohner.csv", "csv")
    assert server["customProperties"][0]["property"] == "readOptions"
    assert server["customProperties"][0]["value"]["delimiter"] == ";"

    [table] = doc["schema"]
    assert (table["name"], table["logicalType"], table["physicalType"]) == ("einwohner_test", "object", "table")
    assert table["dataGranularityDescription"] == "Stadtteil"
    props = {p["name"]: p for p in table["properties"]}
    assert {p["classification"] for p in props.values()} == {"internal"}
    assert (props["year"]["logicalType"], props["year"]["physicalType"]) == ("integer", "year")
    assert (props["zeitpunkt"]["logicalType"], props["zeitpunkt"]["physicalType"]) == ("date", "datetime")
    assert props["district_id"]["logicalTypeOptions"] == {"minimum": 1, "maximum": 13}
    assert props["district_id"]["quality"][0]["rule"] == "validValues"
    assert props["district_id"]["quality"][0]["validValues"] == list(range(1, 14))
    assert (props["person_id"]["primaryKey"], props["person_id"]["primaryKeyPosition"]) == (True, 1)
    assert props["person_id"]["required"] is True and props["person_id"]["unique"] is False
    assert props["code"]["logicalTypeOptions"] == {"minLength": 7, "maxLength": 7, "pattern": "^(?:STBZ\\d{3})$",
                                                   "format": "default"}
    assert props["stichtag"]["logicalTypeOptions"] == {"minimum": "2000-01-01", "maximum": "2100-12-31"}
    value_custom = {c["property"]: c["value"] for c in props["value"]["customProperties"]}
    # a pattern on a number has no place in ODCS' number options: BIF keeps it for itself
    assert value_custom == {"unit": "Personen", "missingMeans": "suppressed", "bifConstraints": {"pattern": "^\\d+$"}}
    assert props["value"]["logicalTypeOptions"] == {"minimum": 0, "maximum": 1e6}
    table_custom = {c["property"]: c["value"] for c in table["customProperties"]}
    assert table_custom["missingValues"] == ["", "-", "."]
    assert table_custom["foreignKeys"][0] == {"fields": "district_id",
                                              "reference": {"resource": "stadtteile", "fields": "district_id"}}
    rules = table["quality"]
    assert [(q["type"], q["engine"]) for q in rules] == [("custom", "bif")] * 3
    assert (rules[0]["name"], rules[0]["severity"], rules[0]["dimension"]) == ("summe", "warning", "consistency")
    assert rules[0]["description"] == "In jeder Zeile ergeben year, district_id zusammen value."
    assert rules[2]["description"] == "Alle Stadtteile in jedem Jahr."
    assert yaml.safe_load(rules[1]["implementation"]) == contract.rules[1]


def test_odcs_round_trip_of_every_optional_key(tmp_path):
    contract = contract_of(full_contract())
    _, imported = odcs_round_trip(contract, tmp_path)
    assert imported.warnings == []
    assert normalised(imported.raw) == normalised(contract.raw)


def test_yaml_dates_are_exported_as_text_and_reported(tmp_path):
    raw = full_contract()
    raw["source"]["constants"] = {"stichtag": dt.date(2022, 12, 31)}
    contract = contract_of(raw)
    assert contract.source["constants"]["stichtag"] == dt.date(2022, 12, 31)
    exported = export_contract(contract, "odcs")
    assert exported.losses == ["source.constants.stichtag: Datum 2022-12-31 als Text übertragen"]
    assert odcs_schema_errors(exported.descriptor) == []
    assert "'2022-12-31'" in exported.text


# --- Table Schema export -----------------------------------------------------------------------------

def test_tableschema_export_of_every_field_property(tmp_path):
    contract = contract_of(full_contract())
    exported = export_contract(contract, "tableschema")
    desc = exported.descriptor
    assert frictionless.validate(desc, type="schema").valid
    assert desc["$schema"] == "https://datapackage.org/profiles/2.0/tableschema.json"
    fields = {f["name"]: f for f in desc["fields"]}
    assert fields["value"] == {"name": "value", "type": "number", "constraints": {"minimum": 0, "maximum": 1e6},
                               "bif:unit": "Personen", "bif:missingMeans": "suppressed",
                               "bif:constraints": {"pattern": "^\\d+$"}}
    assert fields["code"]["constraints"]["pattern"] == "STBZ\\d{3}"  # whole value, as in BIF
    assert fields["stichtag"]["format"] == "%d.%m.%Y"
    assert desc["primaryKey"] == ["person_id"]
    # a foreign key to the dataset itself: Table Schema v2 leaves out the resource
    assert desc["foreignKeys"] == [{"fields": ["district_id"],
                                    "reference": {"resource": "stadtteile", "fields": ["district_id"]}},
                                   {"fields": ["year", "district_id"],
                                    "reference": {"fields": ["year", "district_id"]}}]
    assert desc["missingValues"] == ["", "-", "."]
    assert exported.losses == [
        "Metadaten: version, title, description, owner, steward, source_system, classification, synthetic, licence, "
        "cadence, spatial_unit, temporal_coverage, data_minimisation, record_id, derived_from, notes",
        "Leseoptionen der Quelldatei (source)", "3 Plausibilitätsregeln (rules)"]
    path = tmp_path / "schema.json"
    path.write_text(exported.text, encoding="utf-8")
    imported = import_contract(path, "tableschema", dataset_id="einwohner_test")
    assert tableschema_normalised(normalised(imported.raw)["schema"]) == \
        tableschema_normalised(normalised(contract.raw)["schema"])


def test_geodata_export():
    contract = load_contract(next(p for p in __import__("interop_samples").FLENSBURG if p.stem == "stadtteile"))
    ts = export_contract(contract, "tableschema").descriptor
    geometry = next(f for f in ts["fields"] if f["name"] == "geometry")
    assert geometry == {"name": "geometry", "type": "geojson", "title": "Fläche",
                        "description": geometry["description"], "constraints": {"required": True},
                        "bif:geometryType": ["Polygon", "MultiPolygon"],
                        "bif:crs": "EPSG:25832"}
    odcs = export_contract(contract, "odcs").descriptor
    prop = next(p for p in odcs["schema"][0]["properties"] if p["name"] == "geometry")
    assert (prop["logicalType"], prop["physicalType"]) == ("object", "geometry")


# --- imports from other tools -----------------------------------------------------------------------

def test_import_of_an_odcs_contract_written_elsewhere(tmp_path):
    path = tmp_path / "kita.odcs.yaml"
    path.write_text(FOREIGN_ODCS, encoding="utf-8")
    result = import_contract(path, "odcs", dataset_id="kita_plaetze")
    raw = result.raw
    written = tmp_path / "kita_plaetze.yaml"
    written.write_text(result.text, encoding="utf-8")
    assert load_contract(written).raw == raw  # BIF's own loader accepts it
    assert (raw["id"], raw["version"], raw["title"], raw["owner"]) == ("kita_plaetze", "1.1.0", "Kita-Plätze",
                                                                        "Fachbereich Jugend")
    assert raw["description"] == "Genehmigte Plätze je Kita.\n\nVerwendung: Kita-Bedarfsplanung"
    assert raw["notes"] == "Stand jeweils 1. März."
    assert raw["steward"] == {"name": "Kita-Team", "email": "kita@stadt.example"}
    assert raw["licence"]["url"] == "https://www.govdata.de/dl-de/zero-2-0"
    assert raw["licence"]["name"].startswith("TODO")
    assert raw["cadence"] == "yearly"  # from slaProperties frequency 1 y
    assert raw["spatial_unit"] == "Kita"
    assert raw["classification"] == "internal"  # the strictest of public and restricted
    assert raw["source"] == {"format": "csv", "rename": {"Kita-Nr.": "kita_nr"}}
    fields = {f["name"]: f for f in raw["schema"]["fields"]}
    assert fields["kita_nr"]["constraints"] == {"required": True, "unique": True,
                                                "pattern": "(?s:.*?)(?:KITA[0-9]{4})(?s:.*)"}
    assert fields["plaetze"] == {"name": "plaetze", "type": "integer", "title": "Plätze", "unit": "Plätze",
                                 "constraints": {"minimum": 0, "maximum": 499}}  # exclusiveMaximum 500
    assert fields["traeger"]["constraints"] == {"enum": ["kommunal", "frei"]}
    assert fields["geoeffnet_seit"] == {"name": "geoeffnet_seit", "type": "date", "format": "%d.%m.%Y"}
    assert fields["letzte_pruefung"]["type"] == "datetime"
    assert fields["oeffnungszeiten"]["type"] == "string"
    assert raw["schema"]["primaryKey"] == ["kita_nr"]
    assert raw["rules"] == [{"type": "complete_keys", "keys": {"kita_nr": {"from_data": True}}}]
    # nothing is dropped silently: each is a warning and a TODO comment in the contract
    expected = {
        "status": "Status 'draft'",
        "domain": "'jugend'",
        "team[2]": "Data Scientist",
        "support[1]": "announcements",
        "servers[0]": "postgres",
        "schema[0].physicalName": "kita_plaetze_tbl",
        "schema[0].properties[0].name": "heißt in BIF „kita_nr“",
        "schema[0].properties[0].physicalType": "varchar(10)",
        "schema[0].properties[0].logicalTypeOptions.pattern": "ganzen Wert",
        "schema[0].properties[1].examples": "[12, 40]",
        "schema[0].properties[2].quality[1]": "nullCount",
        "schema[0].properties[5].logicalType": "„array“",
        "schema[0].properties[5].items": "nicht übernommen",
        "schema[0].quality[0]": "Tabelle ist nicht leer",
        "schema[0].quality[2]": "unbekanntes Feld „nicht_da“",
    }
    for where, text in expected.items():
        assert warning_about(result, where, text), (where, result.warnings)
        assert f"# TODO (Import) {where}: " in result.text
    for key in ("source_system", "temporal_coverage"):
        assert any(f"„{key}“ fehlt" in m for _, m in result.warnings)
    assert len(result.warnings) == len(expected) + 5  # + licence name/attribution, source, 2 placeholders


def test_import_of_a_table_schema_written_elsewhere(tmp_path):
    path = tmp_path / "anteile.json"
    path.write_text(json.dumps(FOREIGN_TABLESCHEMA, ensure_ascii=False, indent="\t"), encoding="utf-8")
    result = import_contract(path, "tableschema", dataset_id="stadtteil_anteile")
    raw = result.raw
    written = tmp_path / "stadtteil_anteile.yaml"
    written.write_text(result.text, encoding="utf-8")
    assert load_contract(written).raw == raw
    assert raw["source"] == {"format": "csv", "decimal": ",", "thousands": ".",
                             "rename": {"Stadtteil Nr": "stadtteil_nr"}}
    fields = {f["name"]: f for f in raw["schema"]["fields"]}
    assert fields["stadtteil_nr"] == {"name": "stadtteil_nr", "type": "integer", "title": "Stadtteil", "unit": "Nummer",
                                      "constraints": {"required": True, "maximum": 13, "minimum": 1}}
    assert fields["art"]["constraints"] == {"enum": ["a", "b"], "unique": True}
    assert (fields["uhrzeit"]["type"], fields["irgendwas"]["type"]) == ("string", "string")
    assert raw["schema"]["primaryKey"] == ["stadtteil_nr"]
    assert raw["schema"]["foreignKeys"] == [
        {"fields": ["stadtteil_nr"], "reference": {"resource": "stadtteile", "fields": ["district_id"]}},
        {"fields": ["art"], "reference": {"resource": "stadtteil_anteile", "fields": ["art"]}}]
    assert raw["schema"]["missingValues"] == ["", "-"]
    for where, text in {"fields[0].example": "3", "fields[1].constraints.exclusiveMinimum": "nicht genau",
                        "fields[2].categories": "label", "fields[3].type": "„time“", "fields[5]": "any",
                        "missingValues[1]": "unterdrückt", "uniqueKeys[1]": "'anteil'",
                        "rdfType": "schema.org"}.items():
        assert warning_about(result, where, text), (where, result.warnings)


def test_a_flow_style_yaml_table_schema_is_read_as_yaml(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("{fields: [{name: a, type: integer}], primaryKey: a}\n", encoding="utf-8")
    result = import_contract(path, "tableschema", dataset_id="kurz")
    assert result.raw["schema"] == {"fields": [{"name": "a", "type": "integer"}], "primaryKey": ["a"]}


def test_odcs_with_several_tables_needs_object(tmp_path):
    doc = yaml.safe_load(FOREIGN_ODCS)
    doc["schema"].append({"name": "zweite", "properties": [{"name": "x", "logicalType": "string"}]})
    path = tmp_path / "zwei.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(Exception) as info:
        import_contract(path, "odcs", dataset_id="kita_plaetze")
    assert "2 Tabellen (kita_plaetze, zweite)" in str(info.value) and "--object" in str(info.value)
    result = import_contract(path, "odcs", dataset_id="zweite", object_name="zweite")
    assert [f["name"] for f in result.raw["schema"]["fields"]] == ["x"]
    assert warning_about(result, "schema[0]", "weitere Tabelle 'kita_plaetze'")


@pytest.mark.parametrize("given, expected", [
    (["public"], "open"), (["public", "internal"], "internal"), (["Restricted", "public"], "internal"),
    (["confidential", "public"], "confidential"), (["Vertraulich"], "confidential"),
    (["3"], "confidential"),  # unknown: the strictest, with a warning
    ([], "internal"),  # none: as `bif contract draft`, with a warning
])
def test_classification_of_an_imported_odcs_contract(tmp_path, given, expected):
    props = [{"name": f"f{i}", "logicalType": "string", "classification": c} for i, c in enumerate(given)] or \
        [{"name": "f0", "logicalType": "string"}]
    doc = {"apiVersion": "v3.0.2", "kind": "DataContract", "id": "einstufung", "version": "1.0", "status": "active",
           "schema": [{"name": "einstufung", "properties": props}]}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = import_contract(path, "odcs")
    assert result.raw["classification"] == expected
    assert any("Einstufung" in m or "classification" in m for _, m in result.warnings) == (given in (["3"], []))


@pytest.mark.parametrize("bif, odcs", [
    ("^STGT\\d{2}$", "^STGT\\d{2}$"),
    ("STBZ\\d{3}", "^(?:STBZ\\d{3})$"),
    ("^a|b$", "^(?:^a|b$)$"),  # a top-level alternative is not anchored as a whole
    ("^a\\$", "^(?:^a\\$)$"),
])
def test_patterns_mean_the_whole_value_in_both_directions(bif, odcs):
    assert pattern_whole_to_search(bif) == odcs
    assert pattern_search_to_whole(odcs) == (bif, False)
    for value in ("STGT01", "STBZ011", "xSTBZ011", "a", "b", "ab", "a$", "xa$"):
        assert bool(re.fullmatch(bif, value)) == bool(re.search(odcs, value))


def test_a_foreign_search_pattern_becomes_a_whole_value_pattern():
    whole, rewritten = pattern_search_to_whole("KITA[0-9]{4}")
    assert rewritten
    for value in ("KITA0001", "xKITA0001y", "KITA01", "kita0001", "x\nKITA0001"):
        assert bool(re.fullmatch(whole, value)) == bool(re.search("KITA[0-9]{4}", value))


# --- keys the contract format gains later travel without a change of the mapping ----------------------

LATER_KEYS = {"opendata": {"release": False, "keywords": ["Einwohner", "Stadtteil"]},
              "refresh": {"every": "P7D", "at": "05:00"}}


@pytest.mark.parametrize("key", sorted(LATER_KEYS))
def test_a_contract_key_without_its_own_place_travels_in_custom_properties(tmp_path, key):
    from bif_lib.contracts.interop.common import camel, contract_keys
    if key not in contract_keys("contract"):
        pytest.skip(f"the contract format has no key {key!r} (yet)")
    raw = full_contract()
    del raw["derived_from"]  # a derived dataset has no public source to refresh
    raw[key] = LATER_KEYS[key]
    contract = contract_of(raw)
    exported, imported = odcs_round_trip(contract, tmp_path)
    assert {"property": camel(key), "value": LATER_KEYS[key]} in exported.descriptor["customProperties"]
    assert odcs_schema_errors(exported.descriptor) == []
    assert imported.warnings == [] and normalised(imported.raw) == normalised(contract.raw)
    assert key in export_contract(contract, "tableschema").losses[0]


def test_bif_custom_properties_bif_refuses_are_left_out_with_a_warning(tmp_path):
    doc = yaml.safe_load(export_contract(contract_of(full_contract()), "odcs").text)
    custom = {c["property"]: c for c in doc["customProperties"]}
    custom["cadence"]["value"] = "stündlich"  # not a BIF cadence
    custom["temporalCoverage"]["value"] = {"start": 2020, "bis": 2022}  # unknown key
    doc["schema"][0]["properties"][5]["customProperties"][1]["value"] = "weg"  # missingMeans
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = import_contract(path, "odcs")
    assert result.raw["cadence"] == "quarterly"  # from slaProperties frequency (3 months) instead
    assert result.raw["temporal_coverage"] == {}
    assert "missing_means" not in result.raw["schema"]["fields"][5]
    cadence_at = f"customProperties[{list(custom).index('cadence')}].value"
    assert warning_about(result, cadence_at, "passt nicht zu „cadence“")
    assert any("„temporal_coverage“" in m and "'bis'" in m for _, m in result.warnings)
    assert warning_about(result, "schema[0].properties[5].customProperties[1].value", "„missing_means“")


def test_a_value_bif_refuses_only_when_loading_is_left_out_with_a_warning(tmp_path):
    from bif_lib.contracts.interop.common import contract_keys
    if "refresh" not in contract_keys("contract"):
        pytest.skip("the contract format has no key 'refresh' (yet)")
    doc = yaml.safe_load(export_contract(contract_of(full_contract()), "odcs").text)
    doc["customProperties"].append({"property": "refresh", "value": {"cron": "99 99 * * *"}})
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = import_contract(path, "odcs")
    assert "refresh" not in result.raw
    assert any("Angabe „refresh“ von BIF nicht angenommen" in m for _, m in result.warnings)
