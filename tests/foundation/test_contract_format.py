"""The contract format: valid contracts load, malformed ones are refused with file, YAML path, line and reason."""

from __future__ import annotations

import pytest
import yaml

from bif_lib.contracts import ContractError, load_contract, load_contracts, parse_contract
from bif_lib.validation import referenced_datasets  # also registers the rule checks with the contract loader

# Line numbers below refer to this text (line 1 = "id: ...").
VALID = """\
id: einwohner_test
version: "1.2"
title: Einwohner je Stadtteil
description: Einwohnerinnen und Einwohner mit Hauptwohnsitz
owner: Fachbereich Statistik
steward:
  name: Erika Mustermann
  email: erika@example.org
source_system: Melderegister
classification: open
licence:
  name: dl-de/zero-2-0
  attribution: Stadt Flensburg
cadence: yearly
spatial_unit: Stadtteil
temporal_coverage: {start: 2020, end: 2022}
source:
  format: csv
  delimiter: ";"
  header_row: 1
schema:
  fields:
    - name: year
      type: year
    - name: district_id
      type: integer
      constraints: {required: true, minimum: 1, maximum: 13}
    - name: residents
      type: integer
  primaryKey: [year, district_id]
rules:
  - id: positiv
    type: change_bounds
    column: residents
    key: [district_id]
    order_by: year
    max_relative_change: 0.2
"""


def refused(text: str, tmp_path, name="vertrag.yaml") -> ContractError:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(path) in str(info.value), "the message must name the file"
    assert info.value.path == str(path)
    return info.value


def problem(error: ContractError, where: str):
    """The (path, line, message) whose YAML path is ``where``."""
    hits = [p for p in error.problems if p[0] == where]
    assert hits, f"no problem at {where!r}: {error.problems}"
    return hits[0]


def test_valid_contract_loads_with_typed_view(tmp_path):
    path = tmp_path / "einwohner.yaml"
    path.write_text(VALID, encoding="utf-8")
    contract = load_contract(path)
    assert contract.id == "einwohner_test"
    assert contract.version == "1.2"
    assert contract.field_names == ["year", "district_id", "residents"]
    assert contract.primary_key == ["year", "district_id"]
    assert contract.field("district_id").required
    assert not contract.field("residents").required
    assert contract.rules[0]["type"] == "change_bounds"
    assert contract.path == path
    assert not contract.is_geo


def test_sha256_ignores_formatting_but_not_content():
    a = parse_contract(VALID)
    reformatted = parse_contract(yaml.safe_dump(yaml.safe_load(VALID), sort_keys=True, indent=4))
    changed = parse_contract(VALID.replace("max_relative_change: 0.2", "max_relative_change: 0.3"))
    assert a.sha256 == reformatted.sha256
    assert a.sha256 != changed.sha256


def test_missing_top_level_key_is_named(tmp_path):
    text = VALID.replace("licence:\n  name: dl-de/zero-2-0\n  attribution: Stadt Flensburg\n", "")
    error = refused(text, tmp_path)
    where, line, message = problem(error, "")
    assert "Pflichtangabe fehlt" in message and "licence" in message
    assert "<Wurzel>" in str(error)


def test_missing_nested_key_points_at_parent_line(tmp_path):
    error = refused(VALID.replace("  email: erika@example.org\n", ""), tmp_path)
    where, line, message = problem(error, "steward")
    assert line == 7  # the mapping under "steward:" starts at line 7
    assert "email" in message
    assert "Zeile 7" in str(error)


def test_wrong_enum_value(tmp_path):
    error = refused(VALID.replace("classification: open", "classification: geheim"), tmp_path)
    where, line, message = problem(error, "classification")
    assert line == 10
    assert "geheim" in message and "confidential" in message and "nicht erlaubt" in message


def test_wrong_field_type_enum_deep_in_a_list(tmp_path):
    error = refused(VALID.replace("      type: integer\n      constraints", "      type: int\n      constraints"),
                    tmp_path)
    where, line, message = problem(error, "schema.fields[1].type")
    assert line == 26
    assert "'int'" in message


def test_bad_type(tmp_path):
    error = refused(VALID.replace("header_row: 1", "header_row: zwei"), tmp_path)
    where, line, message = problem(error, "source.header_row")
    assert line == 20
    assert "falschen Typ" in message and "integer" in message


def test_bad_pattern_of_id(tmp_path):
    error = refused(VALID.replace("id: einwohner_test", "id: Einwohner-Test"), tmp_path)
    where, line, message = problem(error, "id")
    assert line == 1 and "Muster" in message


def test_unknown_top_level_key(tmp_path):
    error = refused(VALID + "titel: Tippfehler\n", tmp_path)
    where, line, message = problem(error, "")
    assert "unbekannter Schlüssel: titel" in message


def test_unknown_key_in_source(tmp_path):
    error = refused(VALID.replace('  delimiter: ";"', '  delimter: ";"'), tmp_path)
    where, line, message = problem(error, "source")
    assert "delimter" in message
    assert line == 18


def test_unknown_key_in_rule_is_refused(tmp_path):
    # A typo in a rule option must not silently switch the option off.
    error = refused(VALID.replace("max_relative_change: 0.2", "max_relative_change: 0.2\n    tolerence: 5"), tmp_path)
    where, line, message = problem(error, "rules[0]")
    assert "tolerence" in message
    assert line == 32  # the rule's mapping starts at line 32


def test_unknown_field_in_primary_key(tmp_path):
    error = refused(VALID.replace("primaryKey: [year, district_id]", "primaryKey: [jahr, district_id]"), tmp_path)
    where, line, message = problem(error, "schema.primaryKey")
    assert line == 30
    assert "jahr" in message and "unbekanntes Feld" in message


def test_unknown_field_in_rule(tmp_path):
    error = refused(VALID.replace("column: residents", "column: einwohner"), tmp_path)
    where, line, message = problem(error, "rules[0].column")
    assert line == 34 and "einwohner" in message
    error = refused(VALID.replace("key: [district_id]", "key: [stadtteil]"), tmp_path)
    assert "stadtteil" in problem(error, "rules[0].key")[2]


def test_unknown_field_in_foreign_key(tmp_path):
    text = VALID.replace("  primaryKey: [year, district_id]\n",
                         "  primaryKey: [year, district_id]\n  foreignKeys:\n    - fields: stadtteil\n"
                         "      reference: {resource: stadtteile, fields: district_id}\n")
    error = refused(text, tmp_path)
    where, line, message = problem(error, "schema.foreignKeys[0].fields")
    assert "stadtteil" in message and line == 32


def test_foreign_key_field_count_mismatch(tmp_path):
    text = VALID.replace("  primaryKey: [year, district_id]\n",
                         "  foreignKeys:\n    - fields: [year, district_id]\n"
                         "      reference: {resource: stadtteile, fields: district_id}\n")
    error = refused(text, tmp_path)
    assert "Anzahl" in problem(error, "schema.foreignKeys[0]")[2]


def test_duplicate_field_names(tmp_path):
    text = VALID.replace("    - name: residents\n", "    - name: district_id\n")
    error = refused(text, tmp_path)
    where, line, message = problem(error, "schema.fields[2].name")
    assert line == 28 and "doppelt" in message


def test_yaml_syntax_error_names_line(tmp_path):
    error = refused(VALID.replace('  delimiter: ";"', '  delimiter: ";" extra'), tmp_path)
    assert "kein gültiges YAML" in error.problems[0][2]
    assert error.problems[0][1] == 19
    error = refused(VALID.replace('  delimiter: ";"', '\tdelimiter: ";"'), tmp_path)
    assert error.problems[0][1] == 19


def test_yaml_bad_indentation(tmp_path):
    error = refused(VALID.replace("  email: erika@example.org", " email: erika@example.org"), tmp_path)
    assert error.problems[0][1] == 8


def test_yaml_that_is_not_a_mapping(tmp_path):
    error = refused("- nur\n- eine Liste\n", tmp_path)
    assert "YAML-Objekt" in error.problems[0][2]


def test_missing_rule_option_of_rule_type(tmp_path):
    error = refused(VALID.replace("    max_relative_change: 0.2\n", ""), tmp_path)
    where, line, message = problem(error, "rules[0]")
    assert "max_relative_change" in message


def test_unknown_rule_type(tmp_path):
    error = refused(VALID.replace("type: change_bounds", "type: sum_ok"), tmp_path)
    assert "sum_ok" in problem(error, "rules[0].type")[2]


def test_several_problems_are_all_listed(tmp_path):
    text = VALID.replace("classification: open", "classification: geheim").replace("cadence: yearly", "cadence: ab und zu")
    error = refused(text, tmp_path)
    assert {p[0] for p in error.problems} >= {"classification", "cadence"}


def test_minimum_above_maximum(tmp_path):
    error = refused(VALID.replace("minimum: 1, maximum: 13", "minimum: 14, maximum: 13"), tmp_path)
    assert "Minimum" in problem(error, "schema.fields[1].constraints")[2]


def test_geometry_field_needs_geo_format(tmp_path):
    text = VALID.replace("    - name: residents\n      type: integer\n",
                         "    - name: residents\n      type: integer\n    - name: geometry\n      type: geometry\n")
    error = refused(text, tmp_path)
    assert "Geodatenformat" in problem(error, "source.format")[2]


def test_geo_rule_needs_geometry_field(tmp_path):
    text = VALID + "  - type: within_boundary\n    dataset: stadtgrenze\n"
    error = refused(text, tmp_path)
    assert "Geometriefeld" in problem(error, "rules[1].type")[2]


def test_dissolves_into_with_string_key_is_accepted():
    # dissolves_into names its key as a string, change_bounds as a list: both are valid.
    text = """\
id: bezirke
version: "1.0"
title: Bezirke
description: Statistische Bezirke
owner: Statistik
steward: {name: A, email: a@example.org}
source_system: GIS
classification: open
licence: {name: CC0, attribution: Stadt}
cadence: once
spatial_unit: Bezirk
temporal_coverage: {}
source: {format: geojson, crs: "OGC:CRS84"}
schema:
  fields:
    - {name: bezirk_id, type: string}
    - {name: district_id, type: integer}
    - {name: geometry, type: geometry, geometry_type: [Polygon, MultiPolygon]}
rules:
  - {type: dissolves_into, dataset: stadtteile, key: district_id, dataset_key: district_id}
"""
    contract = parse_contract(text)
    assert contract.is_geo and referenced_datasets(contract) == {"stadtteile"}
    with pytest.raises(ContractError) as info:
        parse_contract(text.replace("key: district_id, dataset_key", "key: stadtteil, dataset_key"))
    assert "stadtteil" in problem(info.value, "rules[0].key")[2]


def test_file_not_found_and_not_utf8(tmp_path):
    with pytest.raises(ContractError, match="nicht gefunden"):
        load_contract(tmp_path / "fehlt.yaml")
    path = tmp_path / "latin.yaml"
    path.write_bytes(VALID.replace("Erika", "Jürgen").encode("latin-1"))
    with pytest.raises(ContractError, match="UTF-8"):
        load_contract(path)


def test_load_contracts_refuses_duplicate_ids_and_skips_city_yaml(tmp_path):
    (tmp_path / "city.yaml").write_text("name: Flensburg\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    assert list(load_contracts(tmp_path)) == ["einwohner_test"]
    (tmp_path / "b.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ContractError, match="schon"):
        load_contracts(tmp_path)


def test_referenced_datasets():
    text = VALID + ("  - type: aggregate_equals\n    value: residents\n    group_by: [year]\n"
                    "    total: {dataset: einwohner_gesamt, value: residents}\n"
                    "  - type: complete_keys\n    keys: {district_id: {dataset: stadtteile}, year: {values: [2020]}}\n")
    assert referenced_datasets(parse_contract(text)) == {"einwohner_gesamt", "stadtteile"}
