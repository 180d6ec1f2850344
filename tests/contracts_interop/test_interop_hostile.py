"""Hostile or broken files to import: refused quickly with a German message naming the file and
the key path, within the limits of BIF's own contract parser (docs/contracts.md)."""

from __future__ import annotations

import json
import time

import pytest
import yaml

import bif_lib.validation  # noqa: F401 - registers the rule checks the contract loader runs
from bif_lib.contracts import parse_contract
from bif_lib.contracts.interop import InteropError, import_contract
from bif_lib.contracts.model import MAX_CONTRACT_BYTES


def odcs(properties=None, **top) -> dict:
    doc = {"apiVersion": "v3.0.2", "kind": "DataContract", "id": "probe", "version": "1.0", "status": "active",
           "schema": [{"name": "probe", "properties": properties or [{"name": "a", "logicalType": "string"}]}]}
    doc.update(top)
    return doc


def write(tmp_path, content, name="datei.yaml"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def refused(path, fmt="odcs", **kwargs) -> InteropError:
    started = time.perf_counter()
    with pytest.raises(InteropError) as info:
        import_contract(path, fmt, **kwargs)
    assert time.perf_counter() - started < 5
    error = info.value
    assert str(error).startswith(f"Datei {path} kann nicht importiert werden:")
    return error


def problem(error: InteropError, where: str) -> str:
    messages = [m for w, _, m in error.problems if w == where]
    assert messages, (where, error.problems)
    return messages[0]


BILLION_LAUGHS = "\n".join(
    ["apiVersion: v3.0.2", "kind: DataContract", "id: probe", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
       for i in range(1, 9)])


@pytest.mark.parametrize("fmt", ["odcs", "tableschema"])
def test_yaml_bomb(tmp_path, fmt):
    error = refused(write(tmp_path, BILLION_LAUGHS), fmt, dataset_id="probe")
    assert "Verweise (*Alias)" in problem(error, "")


def test_too_many_aliases(tmp_path):
    text = "apiVersion: v3.0.2\nanchor: &x 1\nlist: [" + ", ".join(["*x"] * 300) + "]\n"
    assert "mehr als 200 Verweise" in problem(refused(write(tmp_path, text)), "")


def test_deep_nesting_yaml(tmp_path):
    text = "apiVersion: v3.0.2\ndeep: " + "[" * 60 + "]" * 60 + "\n"
    error = refused(write(tmp_path, text))
    assert "zu tief verschachtelt" in problem(error, "") and error.problems[0][1] is not None  # a line number


@pytest.mark.parametrize("depth", [60, 200_000])
def test_deep_nesting_json(tmp_path, depth):
    text = '{"fields": ' + "[" * depth + "]" * depth + "}"
    error = refused(write(tmp_path, text, "schema.json"), "tableschema", dataset_id="probe")
    assert "zu tief verschachtelt" in problem(error, "")


def test_huge_file(tmp_path):
    text = "apiVersion: v3.0.2\ndescription: {purpose: " + "x" * (MAX_CONTRACT_BYTES + 10) + "}\n"
    error = refused(write(tmp_path, text))
    assert "höchstens 1.000.000 Byte" in problem(error, "")


def test_many_nodes_in_json(tmp_path):
    text = '{"fields": [' + ",".join(["0"] * 150_000) + "]}"
    assert "mehr als 100.000 Einträge" in problem(refused(write(tmp_path, text, "s.json"), "tableschema",
                                                          dataset_id="probe"), "")


def test_duplicate_keys(tmp_path):
    text = yaml.safe_dump(odcs()) + "id: zweite_id\n"
    error = refused(write(tmp_path, text))
    assert "„id“ steht doppelt" in problem(error, "")
    text = '{"fields": [{"name": "a", "name": "b"}]}'
    assert "„name“ steht doppelt" in problem(refused(write(tmp_path, text, "s.json"), "tableschema",
                                                     dataset_id="probe"), "")


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfea\x00p\x00i\x00", "UTF-16"),
    (b"apiVersion: v3.0.2\nname: Gr\xfcnfl\xe4chen\n", "nicht UTF-8"),
    (b"", "erwartet ein ODCS-Dokument"),
    (b"- a\n- b\n", "erwartet ein ODCS-Dokument"),
    (b"apiVersion: [unclosed\n", "kein gültiges YAML"),
])
def test_unreadable_files(tmp_path, content, message):
    assert message in refused(write(tmp_path, content)).problems[0][2]


@pytest.mark.parametrize("top, where, message", [
    ({"apiVersion": "2.2.2"}, "apiVersion", "ODCS v2 wird nicht unterstützt"),
    ({"apiVersion": "v9.0.0"}, "apiVersion", "nicht unterstützt"),
    ({"kind": "DataProduct"}, "kind", "erwartet DataContract"),
    ({"schema": []}, "schema", "beschreibt keine Tabelle"),
    ({"schema": "tabelle"}, "schema", "erwartet eine Liste"),
    ({"schema": [{"name": "probe", "properties": {"a": 1}}]}, "schema[0].properties", "erwartet eine Liste"),
])
def test_not_an_odcs_v3_contract(tmp_path, top, where, message):
    assert message in problem(refused(write(tmp_path, odcs(**top))), where)


def test_unknown_types_name_the_key_path_and_line(tmp_path):
    error = refused(write(tmp_path, odcs([{"name": "a", "logicalType": "string"},
                                          {"name": "b", "logicalType": "blob"}])))
    assert "unbekannter Typ 'blob'" in problem(error, "schema[0].properties[1].logicalType")
    assert [line for w, line, _ in error.problems if w == "schema[0].properties[1].logicalType"] == [12]
    error = refused(write(tmp_path, {"fields": [{"name": "a", "type": "foo"}]}, "s.yaml"), "tableschema",
                    dataset_id="probe")
    assert "unbekannter Typ 'foo'" in problem(error, "fields[0].type")


def test_wrong_value_types_name_the_key_path(tmp_path):
    error = refused(write(tmp_path, odcs([{"name": "a", "logicalType": "string", "required": "ja",
                                           "logicalTypeOptions": {"minLength": "drei"}}])))
    assert "erwartet true oder false" in problem(error, "schema[0].properties[0].required")
    assert "erwartet eine ganze Zahl" in problem(error, "schema[0].properties[0].logicalTypeOptions.minLength")


@pytest.mark.parametrize("name, message", [
    ("../../etc/passwd", "Dateipfad"),
    ("/etc/passwd", "Dateipfad"),
    ("..\\..\\boot.ini", "Dateipfad"),
    ("a\x00b", "Steuer"),
    ("spalte\nid: boese", "Steuer"),
    ("re\u202egnu", "Steuer"),  # right-to-left override
    ("x" * 300, "Zeichen lang"),
    ("", "leer"),
])
def test_hostile_field_names(tmp_path, name, message):
    error = refused(write(tmp_path, odcs([{"name": name, "logicalType": "string"}])))
    assert message in problem(error, "schema[0].properties[0].name")
    error = refused(write(tmp_path, {"fields": [{"name": name, "type": "string"}]}, "s.yaml"), "tableschema",
                    dataset_id="probe")
    assert message in problem(error, "fields[0].name")


def test_hostile_names_elsewhere(tmp_path):
    doc = odcs([{"name": "a", "logicalType": "string", "physicalName": "../geheim"}],
               servers=[{"server": "x", "type": "local", "format": "csv", "path": "../../etc/passwd"}])
    doc["schema"][0]["customProperties"] = [{"property": "foreignKeys", "value": [
        {"fields": "a", "reference": {"resource": "../stadtteile", "fields": "a"}}]}]
    error = refused(write(tmp_path, doc))
    assert "Dateipfad" in problem(error, "schema[0].properties[0].physicalName")
    assert "verlässt das Datenverzeichnis" in problem(error, "servers[0].path")
    assert "Dateipfad" in problem(error, "schema[0].customProperties[0].value[0].reference.resource")
    ts = {"fields": [{"name": "a", "type": "string"}],
          "foreignKeys": [{"fields": ["a"], "reference": {"resource": "C:\\x", "fields": ["a"]}}]}
    error = refused(write(tmp_path, ts, "s.yaml"), "tableschema", dataset_id="probe")
    assert "keine BIF-Datensatz-ID" in problem(error, "foreignKeys[0].reference.resource")


@pytest.mark.parametrize("dataset_id", ["../x", "X", "a" * 80, "id mit leer"])
def test_bad_dataset_ids(tmp_path, dataset_id):
    assert "keine gültige Datensatz-ID" in problem(refused(write(tmp_path, odcs()), dataset_id=dataset_id), "--id")


def test_odcs_id_that_is_no_dataset_id_needs_id(tmp_path):
    doc = odcs(id="53581432-6c55-4ba2-a65f-72344a91553a")
    doc["schema"][0]["name"] = "Tabelle 1"
    assert "bitte mit --id angeben" in problem(refused(write(tmp_path, doc)), "id")


def test_a_table_schema_needs_an_id(tmp_path):
    error = refused(write(tmp_path, {"fields": [{"name": "a"}]}), "tableschema")
    assert "bitte mit --id angeben" in problem(error, "--id")


def test_alias_bomb_inside_a_rule_implementation(tmp_path):
    doc = odcs()
    doc["schema"][0]["quality"] = [{"type": "custom", "engine": "bif", "implementation": BILLION_LAUGHS}]
    error = refused(write(tmp_path, doc))
    assert "Verweise (*Alias)" in problem(error, "schema[0].quality[0].implementation")
    doc["schema"][0]["quality"] = [{"type": "custom", "engine": "bif", "implementation": "- eine\n- Liste\n"}]
    assert "erwartet eine BIF-Regel" in problem(refused(write(tmp_path, doc)), "schema[0].quality[0].implementation")


def test_nothing_from_the_file_can_break_out_of_a_todo_comment(tmp_path):
    evil = "x\nclassification: open\nrules: [{type: valid_geometry}]\n# "
    doc = odcs(domain=evil, **{"tenant\nid: boese": evil})
    doc["schema"][0]["properties"][0]["examples"] = [evil, "\r\u2028\u0085id: boese"]
    path = write(tmp_path, doc, "evil\nid: boese.yaml")
    result = import_contract(path, "odcs")
    assert len(result.warnings) >= 3
    data = yaml.safe_load(result.text)
    assert data == result.raw and data["id"] == "probe"
    assert data["classification"] == "internal" and "rules" not in data
    comments = [line for line in result.text.splitlines() if line.startswith("#")]
    body = result.text.split("\n", len(comments))[-1]
    assert not body.lstrip().startswith("#") and yaml.safe_load(body) == result.raw
    assert parse_contract(result.text).id == "probe"


def test_many_unmapped_keys_are_listed_and_capped(tmp_path):
    props = [{"name": f"f{i}", "logicalType": "integer", "examples": [i], "tags": ["x"]} for i in range(400)]
    started = time.perf_counter()
    result = import_contract(write(tmp_path, odcs(props)), "odcs")
    assert time.perf_counter() - started < 20
    assert len(result.warnings) >= 800
    todo = [line for line in result.text.splitlines() if line.startswith("# TODO (Import)")]
    assert len(todo) == 301 and "weitere Hinweise" in todo[-1]


def test_json_table_schema_with_nan_is_refused(tmp_path):
    text = json.dumps({"fields": [{"name": "a", "type": "number", "constraints": {"maximum": float("nan")}}]})
    assert "NaN" in problem(refused(write(tmp_path, text, "s.json"), "tableschema", dataset_id="probe"), "")


def test_mutated_exports_are_imported_or_refused_never_crash():
    """Exports of real contracts with values replaced by others of any type, keys removed or
    added: each import gives a valid contract or an InteropError — no other exception."""
    import copy
    import random

    from interop_samples import FLENSBURG

    from bif_lib.contracts import load_contract
    from bif_lib.contracts.interop import export_contract
    from bif_lib.contracts.interop.odcs import import_odcs_data
    from bif_lib.contracts.interop.tableschema import import_tableschema_data

    rnd = random.Random(19)
    contracts = [load_contract(p) for p in FLENSBURG if p.stem in ("kitas", "einwohner_stadtteile", "stadtteile")]
    documents = [(fmt, export_contract(c, fmt).descriptor, c.id) for c in contracts for fmt in ("odcs", "tableschema")]
    values = [None, 1, -1, 2.5, True, "", "x", "../x", "a\nb", "\x1b[31m", [], {}, [1, "a"], {"a": 1},
              {"property": "unit", "value": 3}, "string", "date", "geometry", "object"]

    def paths(value, path=()):
        yield path
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            yield from paths(child, (*path, key))

    outcomes = {"importiert": 0, "abgelehnt": 0}
    for _ in range(200):
        fmt, document, dataset_id = rnd.choice(documents)
        document = copy.deepcopy(document)
        for _ in range(rnd.randint(1, 4)):
            path = rnd.choice(list(paths(document))[1:])
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if rnd.random() < 0.75 or not isinstance(parent, dict):
                parent[path[-1]] = copy.deepcopy(rnd.choice(values))
            else:
                del parent[path[-1]]
        try:
            if fmt == "odcs":
                result = import_odcs_data(document, None, "x.odcs.yaml")
            else:
                result = import_tableschema_data(document, None, "x.json", dataset_id=dataset_id)
        except InteropError as exc:
            assert exc.problems and "\x1b" not in str(exc)
            outcomes["abgelehnt"] += 1
        else:
            assert parse_contract(result.text).id == result.raw["id"]
            assert "\x1b" not in result.text.split("\nid: ")[0]  # the TODO comments
            outcomes["importiert"] += 1
    assert min(outcomes.values()) > 20, outcomes
