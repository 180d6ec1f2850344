"""BIF contracts ↔ Frictionless Table Schema (v1 and v2; docs/contracts.md, "Import and export").

BIF's ``schema`` section already is a Table Schema, so the fields travel as they are: name,
type (``geometry`` as ``geojson``), title, description, format and the constraints Table Schema
defines for the type. BIF's own field properties travel as custom properties with the prefix
``bif:`` (``bif:unit``, ``bif:missingMeans``, ``bif:geometryType``, ``bif:crs``, and
``bif:constraints`` for a constraint Table Schema does not define for that type). Primary key,
foreign keys and ``missingValues`` are Table Schema's own.

A Table Schema has no place for the rest of a contract: metadata (title, description, owner,
steward, licence, classification, cadence, coverage …), how to read the department's file
(``source``) and the plausibility rules. Export lists these as lost; import writes placeholders
marked TODO for them.
"""

from __future__ import annotations

import json
from pathlib import Path

from bif_lib.contracts.interop.common import (
    DEFAULT_CLASSIFICATION,
    PLACEHOLDERS,
    ExportResult,
    ImportResult,
    InteropError,
    Reader,
    camel,
    check_dataset_id,
    compiles,
    contract_keys,
    contract_skeleton,
    dataset_reference,
    field_entry,
    finish_import,
    fits,
    jsonable,
    read_document,
    snake,
)
from bif_lib.contracts.model import Contract, _shown

PROFILE_V2 = "https://datapackage.org/profiles/2.0/tableschema.json"
PROFILES = (PROFILE_V2, "https://datapackage.org/profiles/1.0/tableschema.json",
            "https://specs.frictionlessdata.io/schemas/table-schema.json")
TS_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "date": "date",
            "datetime": "datetime", "year": "year", "geometry": "geojson"}
FROM_TS = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "date": "date",
           "datetime": "datetime", "year": "year", "geojson": "geometry"}
# Table Schema types BIF has no type for: read as text (with a warning)
AS_TEXT = ("time", "yearmonth", "duration", "geopoint", "object", "array", "list", "any")
# which constraints Table Schema defines for which of its types (besides required, unique, enum)
RANGE_TYPES = ("integer", "number", "date", "datetime", "year", "time", "yearmonth", "duration")
LENGTH_TYPES = ("string", "array", "object")
# Field keys Table Schema has itself; every other key of a BIF field travels as ``bif:`` + the key
# in camelCase (unit → bif:unit, missing_means → bif:missingMeans), one of the schema section as
# ``bif:`` + the key. The contract's JSON Schema says which keys there are.
FIELD_MAPPED = ("name", "type", "title", "description", "format", "constraints")
SCHEMA_MAPPED = ("fields", "primaryKey", "foreignKeys", "missingValues")
PREFIX = "bif:"


def _supported(ts_type: str, key: str) -> bool:
    if key in ("required", "unique", "enum"):
        return True
    if key in ("minimum", "maximum"):
        return ts_type in RANGE_TYPES
    if key in ("minLength", "maxLength"):
        return ts_type in LENGTH_TYPES
    return key == "pattern" and ts_type == "string"


# --- export ----------------------------------------------------------------------------------------

def export_tableschema(contract: Contract) -> ExportResult:
    """The contract's schema as a Table Schema (v2, readable as v1; JSON text)."""
    losses: list[str] = []
    raw = jsonable(contract.raw, "", losses)
    schema = raw["schema"]
    fields = []
    for f in schema["fields"]:
        ts_type = TS_TYPES[f["type"]]
        out: dict = {"name": f["name"], "type": ts_type}
        for key in ("title", "description"):
            if key in f:
                out[key] = f[key]
        if "format" in f:
            out["format" if ts_type != "geojson" else "bif:format"] = f["format"]
        constraints = f.get("constraints") or {}
        supported = {k: v for k, v in constraints.items() if _supported(ts_type, k)}
        rest = {k: v for k, v in constraints.items() if k not in supported}
        if supported or "constraints" in f:
            out["constraints"] = supported
        for key, value in f.items():
            if key not in FIELD_MAPPED:
                out[PREFIX + camel(key)] = value
        if rest:
            out["bif:constraints"] = rest
        fields.append(out)
    desc: dict = {"$schema": PROFILE_V2, "fields": fields}
    pk = schema.get("primaryKey")
    if pk:
        desc["primaryKey"] = [pk] if isinstance(pk, str) else list(pk)
    if schema.get("foreignKeys"):
        fks = []
        for fk in schema["foreignKeys"]:
            ref = fk["reference"]
            reference: dict = {} if ref["resource"] == raw["id"] else {"resource": ref["resource"]}
            reference["fields"] = _as_list(ref["fields"])
            fks.append({"fields": _as_list(fk["fields"]), "reference": reference})
        desc["foreignKeys"] = fks
    if "missingValues" in schema:
        desc["missingValues"] = schema["missingValues"]
    for key, value in schema.items():
        if key not in SCHEMA_MAPPED:
            desc[PREFIX + key] = value
    order = contract_keys("contract")
    lost = sorted((key for key in raw if key not in ("id", "schema", "source", "rules")),
                  key=lambda k: order.index(k) if k in order else len(order))
    if lost:
        losses.append(f"Metadaten: {', '.join(lost)}")
    losses.append("Leseoptionen der Quelldatei (source)")
    if raw.get("rules"):
        losses.append(f"{len(raw['rules'])} Plausibilitätsregel{'n' if len(raw['rules']) != 1 else ''} (rules)")
    text = json.dumps(desc, ensure_ascii=False, indent=2) + "\n"
    return ExportResult(descriptor=desc, text=text, losses=losses)


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


# --- import ----------------------------------------------------------------------------------------

def import_tableschema(path: Path | str, dataset_id: str | None = None,
                       target: Path | str | None = None) -> ImportResult:
    """Read a Table Schema (JSON or YAML) and return a BIF contract with it as its schema."""
    data, node = read_document(path)
    return import_tableschema_data(data, node, path, dataset_id=dataset_id, target=target)


def import_tableschema_data(data, node, file: Path | str, dataset_id: str | None = None,
                            target: Path | str | None = None) -> ImportResult:
    reader = Reader(file, data, node)
    if not isinstance(data, dict):
        raise InteropError(file, [("", None,
                                   f"erwartet ein Table Schema (Objekt mit fields), gefunden: {_shown(data)}")])
    if "resources" in data or ("schema" in data and "fields" not in data):
        raise InteropError(file, [("", None, "das ist ein Data Package oder eine Data Resource – bitte das Table "
                                             "Schema (das Objekt mit „fields“) als eigene Datei angeben")])
    if dataset_id is None:
        raise InteropError(file, [("--id", None, "ein Table Schema hat keine Datensatz-ID – bitte mit --id angeben")])
    raw = contract_skeleton(reader, check_dataset_id(reader, dataset_id, []))
    profile = reader.text(data, (), "$schema")
    if profile is not None and profile not in PROFILES:
        reader.warn(("$schema",), f"Profil {_shown(profile)} unbekannt – als Table Schema gelesen")

    renames: dict[str, str] = {}
    marks: dict[str, dict] = {"decimal": {}, "thousands": {}}
    fields = []
    items = reader.sequence(data, (), "fields")
    if items is None:
        reader.error(("fields",), "fehlt: kein Table Schema")
    for i, item in enumerate(items or []):
        f = _field(reader, ("fields", i), item, renames, marks)
        if f:
            fields.append(f)
    if items is not None and not fields:
        reader.error(("fields",), "keine Felder – ein BIF-Vertrag braucht mindestens eines")
    names = [f["name"] for f in fields]
    for name in sorted({n for n in names if names.count(n) > 1}):
        reader.error(("fields",), f"Feldname „{name}“ kommt doppelt vor (auch nach dem Umbenennen)")
    reader.fail_if_problems()
    schema: dict = {"fields": fields}
    pk = reader.texts(data, (), "primaryKey")
    if pk:
        schema["primaryKey"] = _names(reader, ("primaryKey",), pk, names, renames)
    fks = _foreign_keys(reader, data, names, renames, raw["id"])
    if fks:
        schema["foreignKeys"] = fks
    missing = _missing_values(reader, data)
    if missing is not None:
        schema["missingValues"] = missing
    _unique_keys(reader, data, fields, renames)
    for prop, value in data.items():
        key = prop[len(PREFIX):] if isinstance(prop, str) and prop.startswith(PREFIX) else None
        if key is None or key in SCHEMA_MAPPED or key not in contract_keys("schema"):
            continue
        reader.take((prop,))
        if fits("schema", key, value):
            schema[key] = value
        else:
            reader.warn((prop,), f"passt nicht zu „schema.{key}“ im BIF-Vertragsformat – nicht übernommen: "
                                 f"{_shown(value)}")
    match = reader.text(data, (), "fieldsMatch")
    if match not in (None, "exact", "equal"):
        reader.warn(("fieldsMatch",), f"fieldsMatch {_shown(match)}: BIF erwartet genau die Felder des Vertrags "
                                      f"(Spalten nennt source.drop_columns) – TODO prüfen")

    source: dict = {"format": "geojson" if any(f["type"] == "geometry" for f in fields) else "csv"}
    for key, found in marks.items():
        values = set(found.values())
        if len(values) == 1:
            source[key] = values.pop()
        elif len(values) > 1:
            reader.warn(("fields",), f"Felder nennen verschiedene Zeichen ({', '.join(map(repr, sorted(values)))}) für "
                                     f"„{key}“ – BIF kennt eines je Datei; nicht übernommen (TODO)")
    if renames:
        source["rename"] = renames
    raw["source"] = source
    raw["schema"] = schema
    reader.warn((), f"ein Table Schema beschreibt keine Datei – Format „{source['format']}“ angenommen; source (Pfad, "
                    f"Trennzeichen, Kodierung) ergänzen (TODO)")
    for key, default in PLACEHOLDERS.items():
        reader.warn((), f"Angabe „{key}“ hat im Table Schema keinen Platz – Platzhalter {_shown(default)} eingetragen "
                        f"(TODO)")
    reader.warn((), f"keine Einstufung (classification) im Table Schema – „{DEFAULT_CLASSIFICATION}“ eingetragen "
                    f"(TODO prüfen: open, internal oder confidential)")
    return finish_import(reader, raw, [], "Frictionless Table Schema", target)


def _field(reader: Reader, path: tuple, item, renames: dict, marks: dict) -> dict | None:
    names = field_entry(reader, path, item)
    if names is None:
        return None
    original, name = names
    if name != original:
        renames[original] = name
        reader.warn((*path, "name"), f"Spalte {_shown(original)} heißt in BIF „{name}“ (source.rename)")
    ts_type = reader.text(item, path, "type")
    if ts_type is None:
        reader.warn(path, "kein Typ (Table Schema: any) – als Text („string“) übernommen (TODO prüfen)")
        bif_type = "string"
    elif ts_type in FROM_TS:
        bif_type = FROM_TS[ts_type]
    elif ts_type in AS_TEXT:
        bif_type = "string"
        reader.warn((*path, "type"), f"Typ „{ts_type}“ gibt es in BIF nicht – als Text („string“) übernommen, Inhalt "
                                     f"wird nicht geprüft (TODO prüfen)")
    else:
        reader.error((*path, "type"), f"unbekannter Typ {_shown(ts_type)} (Table Schema: "
                                      f"{', '.join([*FROM_TS, *AS_TEXT])})")
        return None
    f: dict = {"name": name, "type": bif_type}
    for key in ("title", "description"):
        value = reader.text(item, path, key)
        if value is not None:
            f[key] = value
    _format(reader, path, item, ts_type, bif_type, f)
    for key in ("decimalChar", "groupChar"):
        value = reader.text(item, path, key)
        if value is None:
            continue
        target, allowed = ("decimal", (".", ",")) if key == "decimalChar" else ("thousands", (".", ",", " ", "'"))
        if value in allowed and bif_type in ("integer", "number"):
            marks[target][name] = value
        else:
            reader.warn((*path, key), f"{key} {_shown(value)} kann BIF nicht lesen – nicht übernommen (TODO)")
    bare = reader.flag(item, path, "bareNumber")
    if bare is False:
        reader.warn((*path, "bareNumber"), "Zahlen mit Text davor/danach (bareNumber: false) liest BIF nicht – Werte "
                                           "werden abgelehnt (TODO: Quelle bereinigen)")
    constraints = _constraints(reader, path, item, bif_type)
    categories = reader.sequence(item, path, "categories")
    if categories:
        values = [c.get("value") if isinstance(c, dict) else c for c in categories]
        if "enum" not in constraints and values and all(isinstance(v, (str, int, float)) for v in values):
            constraints["enum"] = values
            reader.take((*path, "categories"))
            if any(isinstance(c, dict) and "label" in c for c in categories):
                reader.warn((*path, "categories"), "Kategorien als erlaubte Werte (enum) übernommen; ihre "
                                                   "Beschriftungen (label) nicht (TODO: in description)")
    for prop, value in item.items():
        key = snake(prop[len(PREFIX):]) if isinstance(prop, str) and prop.startswith(PREFIX) else None
        if key is None or key in FIELD_MAPPED or key not in contract_keys("field"):
            continue  # bif:format and bif:constraints below; anything else is reported as not mapped
        reader.take((*path, prop))
        if fits("field", key, value):
            f[key] = value
        else:
            reader.warn((*path, prop), f"passt nicht zu „{key}“ eines BIF-Felds – nicht übernommen: {_shown(value)}")
    if isinstance(item.get("bif:format"), str) and "format" not in f:
        f["format"] = item["bif:format"]
        reader.take((*path, "bif:format"))
    extra = reader.mapping(item, path, "bif:constraints")
    for key, value in (extra or {}).items():
        if key in ("required", "unique", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum") \
                and key not in constraints:
            constraints[key] = value
            reader.take((*path, "bif:constraints", key))
    if constraints or isinstance(item.get("constraints"), dict):
        f["constraints"] = constraints
    return f


def _format(reader: Reader, path, item: dict, ts_type: str | None, bif_type: str, f: dict) -> None:
    fmt = reader.text(item, path, "format")
    if fmt is None:
        return
    fmt = fmt.removeprefix("fmt:")
    if fmt == "default" and ts_type in FROM_TS:
        f["format"] = fmt
    elif bif_type in ("date", "datetime"):
        if fmt == "any":
            reader.warn((*path, "format"), "Datumsformat „any“ (beliebig) – BIF rät nicht; nicht übernommen, "
                                           "ISO-Datum erwartet (TODO: source.date_format)")
        else:
            f["format"] = fmt
    elif bif_type == "string" and ts_type == "string":
        f["format"] = fmt
        reader.warn((*path, "format"), f"Format {_shown(fmt)} wird von BIF bei Text nicht geprüft (nur vermerkt)")
    else:
        reader.warn((*path, "format"), f"Format {_shown(fmt)} für Typ „{ts_type}“ kann BIF nicht übernehmen (TODO)")


def _constraints(reader: Reader, path, item: dict, bif_type: str) -> dict:
    here = (*path, "constraints")
    given = reader.mapping(item, path, "constraints")
    if not given:
        return {}
    c: dict = {}
    for key in ("required", "unique"):
        value = reader.flag(given, here, key)
        if value is not None:
            c[key] = value
    for key in ("minimum", "maximum"):
        value = reader.value(given, here, key, (int, float, str), "Zahl oder Text")
        if value is not None:
            c[key] = value
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = reader.value(given, here, key, (int, float, str), "Zahl oder Text")
        if value is None:
            continue
        if bif_type in ("integer", "year") and isinstance(value, int) and bound not in c:
            c[bound] = value + 1 if bound == "minimum" else value - 1
        else:
            reader.warn((*here, key), f"ausschließende Grenze ({key}) kann BIF für Typ „{bif_type}“ nicht genau "
                                      f"abbilden – nicht übernommen (TODO prüfen)")
    for key in ("minLength", "maxLength"):
        value = reader.value(given, here, key, int, "eine ganze Zahl")
        if value is not None and value >= 0:
            c[key] = value
    pattern = reader.text(given, here, "pattern")
    if pattern is not None:
        if compiles(pattern):
            c["pattern"] = pattern
        else:
            reader.warn((*here, "pattern"), f"Muster {_shown(pattern)} ist kein gültiger regulärer Ausdruck für BIF "
                                            f"(Python) – nicht übernommen (TODO)")
    enum = reader.value(given, here, "enum", list, "eine Liste")
    if enum:
        c["enum"] = enum
    elif enum == []:
        reader.warn((*here, "enum"), "leere Liste erlaubter Werte – kein Wert wäre gültig; nicht übernommen (TODO)")
    return c


def _names(reader: Reader, path, listed: list[str], names: list[str], renames: dict) -> list[str]:
    result = []
    for name in listed:
        mapped = renames.get(name, name)
        if mapped not in names:
            reader.error(path, f"nennt unbekanntes Feld {_shown(name)}")
        result.append(mapped)
    return result


def _foreign_keys(reader: Reader, data: dict, names: list[str], renames: dict, own_id: str) -> list[dict]:
    result = []
    for i, fk in enumerate(reader.sequence(data, (), "foreignKeys") or []):
        here = ("foreignKeys", i)
        if not isinstance(fk, dict):
            reader.error(here, f"erwartet {{fields, reference}}, gefunden: {_shown(fk)}")
            continue
        reader.visit(here)
        local = reader.texts(fk, here, "fields")
        reference = reader.mapping(fk, here, "reference")
        if not local or reference is None:
            reader.error(here, "Fremdschlüssel braucht fields und reference")
            continue
        at = (*here, "reference")
        resource = reference.get("resource")
        reader.take((*at, "resource"))
        if resource in (None, ""):
            resource = own_id
        else:
            resource = dataset_reference(reader, (*at, "resource"), resource)
        ref_fields = reader.texts(reference, at, "fields")
        if not ref_fields or resource is None:
            continue
        if len(ref_fields) != len(local):
            reader.error(here, "Anzahl der Felder und der Referenzfelder unterscheidet sich")
            continue
        result.append({"fields": _names(reader, (*here, "fields"), local, names, renames),
                       "reference": {"resource": resource, "fields": ref_fields if resource != own_id
                                     else [renames.get(n, n) for n in ref_fields]}})
    reader.fail_if_problems()
    return result


def _missing_values(reader: Reader, data: dict) -> list[str] | None:
    items = reader.sequence(data, (), "missingValues")
    if items is None:
        return None
    values = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            values.append(item)
        elif isinstance(item, dict) and isinstance(item.get("value"), str):
            values.append(item["value"])
            if "label" in item:
                reader.warn(("missingValues", i), f"Beschriftung {_shown(item['label'])} des fehlenden Werts "
                                                  f"{_shown(item['value'])} hat in BIF keinen Platz (TODO: in "
                                                  f"description)")
        else:
            reader.error(("missingValues", i), f"erwartet Text, gefunden: {_shown(item)}")
            continue
        reader.take(("missingValues", i))
    return values


def _unique_keys(reader: Reader, data: dict, fields: list[dict], renames: dict) -> None:
    for i, key in enumerate(reader.sequence(data, (), "uniqueKeys") or []):
        if isinstance(key, list) and len(key) == 1 and isinstance(key[0], str):
            name = renames.get(key[0], key[0])
            for f in fields:
                if f["name"] == name:
                    f.setdefault("constraints", {})["unique"] = True
                    reader.take(("uniqueKeys", i))
        # keys of several fields stay unmapped: reported as such
