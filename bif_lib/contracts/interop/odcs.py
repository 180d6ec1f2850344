"""BIF contracts ↔ Open Data Contract Standard (ODCS) v3.0.x, the Bitol project's format
(docs/contracts.md, "Import and export", has the mapping table).

Export writes ODCS v3.0.2: the dataset is one schema object, each field a property; what ODCS
has a place for goes there (types, required/unique/primary key, ranges, lengths, patterns,
allowed values as a ``validValues`` library rule, classification, team and support, granularity,
the department's file as a ``local`` server), BIF's plausibility rules become ``custom`` quality
rules of engine ``bif`` (the rule as YAML, with a German description), and everything else BIF
knows travels in ``customProperties``. BIF → ODCS → BIF therefore loses nothing.

Import reads ODCS v3.0.x and v3.1.x. It maps what it can, writes placeholders marked TODO for
what a BIF contract needs and the file does not say, and lists everything it could not map.
"""

from __future__ import annotations

import re
from pathlib import Path

from bif_lib.contracts.interop.common import (
    BIF_TYPES,
    DEFAULT_CLASSIFICATION,
    GEO_FORMATS,
    PLACEHOLDERS,
    SOURCE_FORMATS,
    ExportResult,
    ImportResult,
    InteropError,
    Reader,
    camel,
    check_dataset_id,
    check_version,
    compiles,
    contract_keys,
    contract_skeleton,
    dataset_reference,
    dump_yaml,
    field_entry,
    finish_import,
    fits,
    jsonable,
    parse_document,
    pattern_search_to_whole,
    pattern_whole_to_search,
    read_document,
    snake,
    unsafe_name,
)
from bif_lib.contracts.model import Contract, _shown

API_VERSION = "v3.0.2"
ENGINE = "bif"
SERVER_NAME = "source"

# BIF field type -> (ODCS logicalType, physicalType). physicalType carries BIF's own type.
LOGICAL_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
                 "date": "date", "datetime": "date", "year": "integer", "geometry": "object"}
ODCS_LOGICAL_TYPES = ("string", "date", "timestamp", "time", "number", "integer", "object", "array", "boolean")
CLASSIFICATION_TO_ODCS = {"open": "public", "internal": "internal", "confidential": "confidential"}
CLASSIFICATION_FROM_ODCS = {
    "public": "open", "open": "open", "offen": "open", "öffentlich": "open", "oeffentlich": "open",
    "internal": "internal", "intern": "internal", "restricted": "internal", "internal use": "internal",
    "confidential": "confidential", "vertraulich": "confidential", "secret": "confidential", "geheim": "confidential",
    "sensitive": "confidential", "highly confidential": "confidential", "strictly confidential": "confidential",
}
RANK = {"open": 0, "internal": 1, "confidential": 2}
# cadence <-> ODCS slaProperties ``frequency`` (value, unit)
FREQUENCIES = {"daily": (1, "d"), "weekly": (7, "d"), "monthly": (1, "month"), "quarterly": (3, "month"),
               "yearly": (1, "y")}
_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "w": 7, "week": 7, "weeks": 7, "month": 30, "months": 30, "mo": 30,
              "y": 365, "yr": 365, "year": 365, "years": 365}
DIMENSIONS = {"sum_equals": "consistency", "aggregate_equals": "consistency", "complete_keys": "completeness",
              "change_bounds": "accuracy", "valid_geometry": "conformity", "within_boundary": "accuracy",
              "point_in_polygon_attribute": "consistency", "dissolves_into": "consistency"}
OWNER_ROLES = ("owner", "data owner", "dataowner", "data_owner", "eigentümer", "fachbereich", "datenhalter")
STEWARD_ROLES = ("steward", "data steward", "datasteward", "data_steward", "datenverantwortliche", "ansprechperson")
# ODCS server format -> BIF source.format
FORMAT_ALIASES = {"csv": "csv", "xlsx": "xlsx", "excel": "xlsx", "geojson": "geojson", "parquet": "parquet",
                  "gpkg": "gpkg", "geopackage": "gpkg", "shapefile_zip": "shapefile_zip", "shapefile": "shapefile_zip",
                  "shp": "shapefile_zip"}
# The keys ODCS has a place of its own for; every other key of a contract, a field or the schema
# section travels as a customProperty named like the key in camelCase (source_system → sourceSystem).
TOP_MAPPED = ("id", "version", "title", "description", "notes", "owner", "steward", "classification", "licence",
              "spatial_unit", "source", "schema", "rules")
FIELD_MAPPED = ("name", "type", "title", "description", "format", "constraints")
SCHEMA_MAPPED = ("fields", "primaryKey")
LICENCE_CUSTOM = [("name", "license"), ("attribution", "licenseAttribution"), ("note", "licenseNote")]
CONSTRAINT_KEYS = ("required", "unique", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum")


# --- export ----------------------------------------------------------------------------------------

def export_odcs(contract: Contract) -> ExportResult:
    """The contract as an ODCS v3.0.2 document (YAML text)."""
    losses: list[str] = []
    raw = jsonable(contract.raw, "", losses)
    doc: dict = {"apiVersion": API_VERSION, "kind": "DataContract", "id": raw["id"], "name": raw["title"],
                 "version": raw["version"], "status": "active"}
    description: dict = {"purpose": raw["description"]}
    if "notes" in raw:
        description["limitations"] = raw["notes"]
    licence = raw["licence"]
    if "url" in licence:
        description["authoritativeDefinitions"] = [{"type": "license", "url": licence["url"]}]
    doc["description"] = description
    doc["schema"] = [_schema_object(raw)]
    doc["servers"] = [_server(raw["source"])]
    steward = raw["steward"]
    doc["team"] = [{"name": raw["owner"], "role": "owner"},
                   {"username": steward["email"], "name": steward["name"], "role": "steward"}]
    support = [{"channel": "E-Mail", "url": f"mailto:{steward['email']}", "tool": "email", "scope": "issues",
                "description": "Ansprechperson für den Datensatz (Data Steward)"}]
    if "phone" in steward:
        support.append({"channel": "Telefon", "url": f"tel:{steward['phone']}", "tool": "other", "scope": "issues",
                        "description": "Telefon der Ansprechperson"})
    doc["support"] = support
    if raw["cadence"] in FREQUENCIES:
        value, unit = FREQUENCIES[raw["cadence"]]
        doc["slaProperties"] = [{"property": "frequency", "value": value, "unit": unit}]
    custom = [{"property": camel(key), "value": value} for key, value in raw.items() if key not in TOP_MAPPED]
    custom += [{"property": prop, "value": licence[key]} for key, prop in LICENCE_CUSTOM if key in licence]
    doc["customProperties"] = custom
    return ExportResult(descriptor=doc, text=dump_yaml(doc), losses=losses)


def _schema_object(raw: dict) -> dict:
    schema = raw["schema"]
    pk = schema.get("primaryKey") or []
    pk = [pk] if isinstance(pk, str) else list(pk)
    classification = CLASSIFICATION_TO_ODCS[raw["classification"]]
    obj: dict = {"name": raw["id"], "physicalType": "table", "logicalType": "object",
                 "dataGranularityDescription": raw["spatial_unit"],
                 "properties": [_property(f, pk.index(f["name"]) + 1 if f["name"] in pk else None, classification)
                                for f in schema["fields"]]}
    quality = [_quality(rule) for rule in raw.get("rules") or []]
    if quality:
        obj["quality"] = quality
    custom = [{"property": key, "value": value} for key, value in schema.items() if key not in SCHEMA_MAPPED]
    if custom:
        obj["customProperties"] = custom
    return obj


def _property(f: dict, pk_position: int | None, classification: str) -> dict:
    logical = LOGICAL_TYPES[f["type"]]
    prop: dict = {"name": f["name"]}
    if "title" in f:
        prop["businessName"] = f["title"]
    if "description" in f:
        prop["description"] = f["description"]
    prop["logicalType"] = logical
    prop["physicalType"] = f["type"]
    rest = dict(f.get("constraints") or {})
    for key in ("required", "unique"):
        if key in rest:
            prop[key] = rest.pop(key)
    if pk_position:
        prop["primaryKey"] = True
        prop["primaryKeyPosition"] = pk_position
    prop["classification"] = classification
    options: dict = {}
    for key in ("minimum", "maximum"):
        if key in rest and _fits_range(logical, rest[key]):
            options[key] = rest.pop(key)
    if logical == "string":
        for key in ("minLength", "maxLength"):
            if key in rest:
                options[key] = rest.pop(key)
        if "pattern" in rest:
            options["pattern"] = pattern_whole_to_search(rest.pop("pattern"))
        if "format" in f:
            options["format"] = f["format"]
    if options:
        prop["logicalTypeOptions"] = options
    if "enum" in rest:
        prop["quality"] = [{"type": "library", "rule": "validValues", "validValues": rest.pop("enum"),
                            "dimension": "conformity", "description": "Nur diese Werte sind erlaubt."}]
    custom = [{"property": camel(key), "value": value} for key, value in f.items() if key not in FIELD_MAPPED]
    if "format" in f and logical != "string":
        custom.append({"property": "format", "value": f["format"]})
    if rest:  # constraints ODCS has no place for on this type (e.g. a pattern on a number)
        custom.append({"property": "bifConstraints", "value": rest})
    if custom:
        prop["customProperties"] = custom
    return prop


def _fits_range(logical: str, value) -> bool:
    if logical in ("integer", "number"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return logical == "date" and isinstance(value, str)


def _server(source: dict) -> dict:
    server: dict = {"server": SERVER_NAME, "type": "local" if "path" in source else "custom",
                    "description": "Datei, die die Fachabteilung liefert (Pfad im Datenverzeichnis der Stadt)",
                    "format": source["format"]}
    if "path" in source:
        server["path"] = source["path"]
    options = {key: value for key, value in source.items() if key not in ("format", "path")}
    if options:
        server["customProperties"] = [{"property": "readOptions", "value": options}]
    return server


def _quality(rule: dict) -> dict:
    quality: dict = {"type": "custom", "engine": ENGINE, "implementation": dump_yaml(rule)}
    if "id" in rule:
        quality["name"] = rule["id"]
    quality["description"] = rule.get("description") or describe_rule(rule)
    if rule.get("type") in DIMENSIONS:
        quality["dimension"] = DIMENSIONS[rule["type"]]
    quality["severity"] = rule.get("severity", "error")
    return quality


def describe_rule(rule: dict) -> str:
    """A German sentence for a plausibility rule without its own description."""
    kind = rule.get("type")
    cols = ", ".join(map(str, rule.get("columns") or []))
    texts = {
        "sum_equals": f"In jeder Zeile ergeben {cols} zusammen {rule.get('total')}.",
        "aggregate_equals": f"Die Summe von {rule.get('value')} je {', '.join(map(str, rule.get('group_by') or []))} "
                            f"stimmt mit der Gesamtsumme überein.",
        "complete_keys": f"Jede Kombination von {', '.join(map(str, rule.get('keys') or {}))} ist vorhanden.",
        "change_bounds": f"{rule.get('column')} ändert sich je {', '.join(map(str, rule.get('key') or []))} gegenüber "
                         f"dem vorigen {rule.get('order_by')} höchstens um den Anteil "
                         f"{rule.get('max_relative_change')}.",
        "valid_geometry": "Alle Geometrien sind gültig.",
        "within_boundary": f"Alle Geometrien liegen im Gebiet des Datensatzes {rule.get('dataset')}.",
        "point_in_polygon_attribute": f"Jeder Punkt liegt in dem Gebiet aus {rule.get('dataset')}, das "
                                      f"{rule.get('column')} nennt.",
        "dissolves_into": f"Die Teilgebiete ergeben zusammengefasst nach {rule.get('key')} die Gebiete aus "
                          f"{rule.get('dataset')}.",
    }
    return texts.get(kind, f"BIF-Plausibilitätsregel {kind}.")


# --- import ----------------------------------------------------------------------------------------

def import_odcs(path: Path | str, dataset_id: str | None = None, object_name: str | None = None,
                target: Path | str | None = None) -> ImportResult:
    """Read an ODCS v3 file and return the BIF contract it describes (see module docstring)."""
    data, node = read_document(path)
    return import_odcs_data(data, node, path, dataset_id=dataset_id, object_name=object_name, target=target)


def import_odcs_data(data, node, file: Path | str, dataset_id: str | None = None, object_name: str | None = None,
                     target: Path | str | None = None) -> ImportResult:
    reader = Reader(file, data, node)
    if not isinstance(data, dict):
        raise InteropError(file, [("", None, "erwartet ein ODCS-Dokument (Schlüssel: Wert), gefunden: "
                                             f"{_shown(data)}")])
    api = reader.text(data, (), "apiVersion")
    kind = reader.text(data, (), "kind")
    reader.fail_if_problems()
    if api is None:
        reader.error(("apiVersion",), "fehlt: kein ODCS-Dokument (erwartet apiVersion v3.0.x oder v3.1.x)")
    elif re.match(r"^v?2\.", api):
        reader.error(("apiVersion",), f"{_shown(api)}: ODCS v2 wird nicht unterstützt – bitte zuerst auf v3 umstellen")
    elif not re.match(r"^v?3\.[01](\.|$)", api):
        reader.error(("apiVersion",), f"{_shown(api)} wird nicht unterstützt (erwartet v3.0.x oder v3.1.x)")
    if kind is not None and kind != "DataContract":
        reader.error(("kind",), f"{_shown(kind)}: erwartet DataContract")
    reader.fail_if_problems()

    obj_path, obj = _choose_object(reader, data, object_name)
    odcs_id = reader.value(data, (), "id", (str, int), "Text")
    raw = contract_skeleton(reader, check_dataset_id(
        reader, dataset_id, [(("id",), odcs_id), ((*obj_path, "name"), obj.get("name"))]))
    reader.take((*obj_path, "name"))
    version = check_version(reader, ("version",), reader.value(data, (), "version", (str, int, float), "Text"))
    if version:
        raw["version"] = version
    status = reader.text(data, (), "status")
    if status and status.lower() != "active":
        reader.warn(("status",), f"Status {_shown(status)} hat in BIF keine Entsprechung – ein BIF-Vertrag gilt, "
                                 f"sobald er im Stadtprofil liegt")
    given: set[str] = set()  # BIF keys the file says something about
    custom = _custom_properties(reader, data, ())

    # --- metadata
    name = reader.text(data, (), "name")
    business = reader.text(obj, obj_path, "businessName")
    title = name or business
    if business and name and business != name:
        reader.warn((*obj_path, "businessName"), f"zweiter Titel {_shown(business)} – Titel ist {_shown(name)}")
    if title:
        raw["title"] = title
        given.add("title")
    if isinstance(data.get("description"), str):  # some tools write the purpose alone
        description = {"purpose": data["description"]}
        reader.take(("description",))
    else:
        description = reader.mapping(data, (), "description")
    parts = []
    purpose = reader.text(description, ("description",), "purpose")
    if purpose:
        parts.append(purpose)
    obj_description = reader.text(obj, obj_path, "description")
    if obj_description and obj_description != purpose:
        parts.append(obj_description)
    usage = reader.text(description, ("description",), "usage")
    if usage:
        parts.append(f"Verwendung: {usage}")
    if parts:
        raw["description"] = "\n\n".join(parts)
        given.add("description")
    limitations = reader.text(description, ("description",), "limitations")
    if limitations is not None:
        raw["notes"] = limitations
    licence = dict(PLACEHOLDERS["licence"])
    for i, definition in enumerate(reader.sequence(description, ("description",), "authoritativeDefinitions") or []):
        here = ("description", "authoritativeDefinitions", i)
        if isinstance(definition, dict) and str(definition.get("type", "")).lower() in ("license", "licence"):
            reader.visit(here)
            url = reader.text(definition, here, "url")
            reader.take((*here, "type"))
            if url:
                licence["url"] = url
    for key, prop in LICENCE_CUSTOM:
        if prop in custom:
            value = _custom_text(reader, custom[prop])
            if value is not None:
                licence[key] = value
    raw["licence"] = licence
    for key in ("name", "attribution"):
        if licence[key] == PLACEHOLDERS["licence"][key]:
            reader.warn((), f"Lizenzangabe „licence.{key}“ fehlt in der Quelle – Platzhalter eingetragen (TODO)")
    given.add("licence")
    given.update(_team(reader, data, raw))
    optional: dict[str, tuple] = {}  # keys from BIF's own custom properties: left out if BIF refuses them
    for prop, (here, value) in custom.items():
        key = snake(prop)
        if prop in dict(LICENCE_CUSTOM).values() or key in TOP_MAPPED or key not in contract_keys("contract"):
            continue  # licence above; anything else is reported as not mapped
        if key == "derived_from" and isinstance(value, list) \
                and None in [dataset_reference(reader, (*here, "value", i), v) for i, v in enumerate(value)]:
            continue
        reader.take(here)
        if fits("contract", key, value):
            raw[key] = value
            given.add(key)
            optional[key] = here
        else:
            reader.warn((*here, "value"), f"passt nicht zu „{key}“ im BIF-Vertragsformat – nicht übernommen: "
                                          f"{_shown(value)}")
    if _frequency(reader, data, raw, "cadence" in given):
        given.add("cadence")
    granularity = reader.text(obj, obj_path, "dataGranularityDescription")
    if granularity:
        raw["spatial_unit"] = granularity
        given.add("spatial_unit")
    physical = reader.text(obj, obj_path, "physicalType")
    if physical and physical.lower() not in ("table", "file", "view"):
        reader.warn((*obj_path, "physicalType"), f"{_shown(physical)} – BIF liest Dateien (Tabellen)")
    logical = reader.text(obj, obj_path, "logicalType")
    if logical and logical != "object":
        reader.error((*obj_path, "logicalType"), f"{_shown(logical)}: ein Schema-Objekt muss logicalType object haben")

    # --- fields
    renames: dict[str, str] = {}
    fields, pk, votes = [], [], []
    for i, prop in enumerate(reader.sequence(obj, obj_path, "properties") or []):
        result = _field(reader, (*obj_path, "properties", i), prop, renames, votes)
        if result:
            fields.append(result[0])
            if result[1] is not None:
                pk.append(result[1])
    if not fields:
        reader.error((*obj_path, "properties"), "keine Felder (properties) – ein BIF-Vertrag braucht mindestens eines")
    names = [f["name"] for f in fields]
    for name in sorted({n for n in names if names.count(n) > 1}):
        reader.error((*obj_path, "properties"), f"Feldname „{name}“ kommt doppelt vor (auch nach dem Umbenennen)")
    schema: dict = {"fields": fields}
    if pk:
        schema["primaryKey"] = [name for _, _, name in sorted(pk)]
    obj_custom = _custom_properties(reader, obj, obj_path)
    if "foreignKeys" in obj_custom:
        fks = _foreign_keys(reader, obj_custom["foreignKeys"], names, renames)
        if fks is not None:
            schema["foreignKeys"] = fks
    for prop, (here, value) in obj_custom.items():
        if prop in SCHEMA_MAPPED or prop == "foreignKeys" or prop not in contract_keys("schema"):
            continue
        reader.take(here)
        if fits("schema", prop, value):
            schema[prop] = value
        else:
            reader.warn((*here, "value"), f"passt nicht zu „schema.{prop}“ im BIF-Vertragsformat – nicht übernommen: "
                                          f"{_shown(value)}")
    raw["classification"] = _classification(reader, votes)

    # --- source and rules
    raw["source"] = _source(reader, data, fields, renames)
    rules = _rules(reader, obj, obj_path)
    for key, default in PLACEHOLDERS.items():
        if key not in given and key != "licence":
            reader.warn((), f"Angabe „{key}“ fehlt in der Quelle – Platzhalter {_shown(default)} eingetragen (TODO)")
    if not votes:
        reader.warn((), f"keine Einstufung (classification) angegeben – „{DEFAULT_CLASSIFICATION}“ eingetragen "
                        f"(TODO prüfen: open, internal oder confidential)")
    raw["schema"] = schema
    ordered = _ordered(raw)
    return finish_import(reader, ordered, rules, f"ODCS {api}", target, optional)


def _ordered(raw: dict) -> dict:
    """``raw`` with its keys in the order of the contract format (every key kept)."""
    order = contract_keys("contract")
    return {key: raw[key] for key in sorted(raw, key=lambda k: order.index(k) if k in order else len(order))}


def _choose_object(reader: Reader, data: dict, object_name: str | None) -> tuple[tuple, dict]:
    objects = reader.sequence(data, (), "schema")
    reader.fail_if_problems()
    if not objects:
        reader.error(("schema",), "fehlt oder ist leer: das ODCS-Dokument beschreibt keine Tabelle")
        reader.fail_if_problems()
    names = [o.get("name") if isinstance(o, dict) else None for o in objects]
    if object_name is not None:
        if object_name not in names:
            reader.error(("schema",), f"keine Tabelle namens {_shown(object_name)}; vorhanden: "
                                      f"{', '.join(map(str, names))[:300]}")
        index = names.index(object_name) if object_name in names else 0
    elif len(objects) > 1:
        reader.error(("schema",), f"{len(objects)} Tabellen ({', '.join(map(str, names))[:300]}) – ein BIF-Vertrag "
                                  f"beschreibt eine; bitte mit --object NAME wählen")
        index = 0
    else:
        index = 0
    reader.fail_if_problems()
    obj = objects[index]
    if not isinstance(obj, dict):
        reader.error(("schema", index), f"erwartet ein Objekt, gefunden: {_shown(obj)}")
        reader.fail_if_problems()
    reader.visit(("schema", index))
    for i, other in enumerate(objects):
        if i != index:
            reader.take(("schema", i))
            reader.warn(("schema", i), f"weitere Tabelle {_shown(names[i])} nicht übernommen (eigener Import mit "
                                       f"--object)")
    return ("schema", index), obj


def _custom_properties(reader: Reader, obj, path) -> dict[str, tuple[tuple, object]]:
    """{property: (path of the entry, value)} of a ``customProperties`` list; the caller takes
    the entries it maps."""
    result: dict[str, tuple[tuple, object]] = {}
    for i, item in enumerate(reader.sequence(obj, path, "customProperties") or []):
        here = (*path, "customProperties", i)
        if isinstance(item, dict) and isinstance(item.get("property"), str) and item["property"] not in result:
            result[item["property"]] = (here, item.get("value"))
    return result


def _custom_text(reader: Reader, entry) -> str | None:
    here, value = entry
    if isinstance(value, str):
        reader.take(here)
        return value
    return None


def _team(reader: Reader, data: dict, raw: dict) -> set[str]:
    """Owner and steward from ``team`` (and the steward's mail and phone from ``support``); the
    BIF keys set."""
    team = data.get("team")
    if isinstance(team, dict):  # ODCS v3.1: {name, members: [...]}
        reader.visit(("team",))
        members, base = reader.sequence(team, ("team",), "members") or [], ("team", "members")
    else:
        members, base = reader.sequence(data, (), "team") or [], ("team",)
    owners, steward = [], {}
    for i, member in enumerate(members):
        here = (*base, i)
        if not isinstance(member, dict) or not isinstance(member.get("role"), str):
            continue
        role = member["role"].strip().lower()
        if role in OWNER_ROLES:
            reader.visit(here)
            reader.take((*here, "role"))
            who = reader.text(member, here, "name") or reader.text(member, here, "username")
            if who:
                owners.append(who)
        elif role in STEWARD_ROLES and not steward:
            reader.visit(here)
            reader.take((*here, "role"))
            name = reader.text(member, here, "name")
            username = reader.text(member, here, "username")
            if name:
                steward["name"] = name
            if username and re.fullmatch(r"[^@\s]+@[^@\s]+", username):
                steward["email"] = username
            elif username:
                steward.setdefault("name", username)
    given = set()
    if owners:
        raw["owner"] = "; ".join(owners)
        given.add("owner")
    for i, item in enumerate(reader.sequence(data, (), "support") or []):
        here = ("support", i)
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or str(item.get("scope") or "issues").lower() not in ("issues", "interactive"):
            continue  # announcement channels are not the steward's
        if url.lower().startswith("mailto:") and steward.get("email", url[7:]) == url[7:]:
            steward["email"] = url[7:]
        elif url.lower().startswith("tel:") and "phone" not in steward:
            steward["phone"] = url[4:]
        else:
            continue
        reader.take(here)
    if steward:
        raw["steward"] = {"name": steward.get("name", PLACEHOLDERS["steward"]["name"]),
                          "email": steward.get("email", PLACEHOLDERS["steward"]["email"]),
                          **({"phone": steward["phone"]} if "phone" in steward else {})}
        given.add("steward")
        if "name" not in steward or "email" not in steward:
            reader.warn(("team",), "Ansprechperson (steward) unvollständig – Platzhalter eingetragen (TODO)")
    return given


def _frequency(reader: Reader, data: dict, raw: dict, known: bool) -> bool:
    """The cadence from an SLA ``frequency`` (True if found). If the cadence is ``known`` already
    (customProperties), a frequency that says the same is taken, one that does not is reported."""
    for i, item in enumerate(reader.sequence(data, (), "slaProperties") or []):
        if not isinstance(item, dict) or item.get("property") != "frequency":
            continue
        value, unit = item.get("value"), str(item.get("unit", "")).strip().lower()
        if not isinstance(value, (int, float)) or isinstance(value, bool) or unit not in _UNIT_DAYS:
            continue
        days = value * _UNIT_DAYS[unit]
        cadence = {1: "daily", 7: "weekly", 30: "monthly", 90: "quarterly", 365: "yearly", 360: "yearly"}.get(days)
        if cadence and known:
            if cadence == raw["cadence"]:
                reader.take(("slaProperties", i))
            return False
        if cadence:
            raw["cadence"] = cadence
            reader.take(("slaProperties", i))
            return True
    return False


def _classification(reader: Reader, votes: list[tuple[tuple, str]]) -> str:
    result = None
    for here, value in votes:
        mapped = CLASSIFICATION_FROM_ODCS.get(value.strip().lower())
        if mapped is None:
            reader.warn(here, f"Einstufung {_shown(value)} unbekannt – als „confidential“ behandelt (TODO prüfen)")
            mapped = "confidential"
        if result is None or RANK[mapped] > RANK[result]:
            result = mapped
    return result or DEFAULT_CLASSIFICATION


_JDK_TO_STRPTIME = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def _jdk_format(pattern: str) -> str | None:
    """A JDK DateTimeFormatter pattern (ODCS) as a strptime format, for the common letters only."""
    rest, result = pattern, pattern
    for jdk, c_format in _JDK_TO_STRPTIME:
        result = result.replace(jdk, c_format)
        rest = rest.replace(jdk, "")
    rest = rest.replace("'T'", "").replace("T", "")
    if re.search(r"[A-Za-z']", rest) or "%" in pattern:
        return None
    return result.replace("'T'", "T")


def _field_type(reader: Reader, path, prop: dict) -> str | None:
    logical = reader.text(prop, path, "logicalType")
    physical = prop.get("physicalType") if isinstance(prop.get("physicalType"), str) else None
    options = prop.get("logicalTypeOptions") if isinstance(prop.get("logicalTypeOptions"), dict) else {}
    fmt = options.get("format") if isinstance(options.get("format"), str) else ""
    if logical is not None and logical not in ODCS_LOGICAL_TYPES:
        reader.error((*path, "logicalType"),
                     f"unbekannter Typ {_shown(logical)} (ODCS: {', '.join(ODCS_LOGICAL_TYPES)})")
        return None
    if physical in BIF_TYPES and (logical is None or LOGICAL_TYPES[physical] == logical):
        reader.take((*path, "physicalType"))
        return physical
    low = (physical or "").lower()
    guessed = _physical_guess(low) if physical else None
    if logical is None:
        if guessed:
            reader.take((*path, "physicalType"))
            reader.warn((*path, "physicalType"),
                        f"kein logicalType – Typ „{guessed}“ aus {_shown(physical)} abgeleitet (TODO prüfen)")
            return guessed
        reader.warn(path, "kein Typ angegeben – als Text („string“) übernommen (TODO prüfen)")
        return "string"
    result = _logical_type(reader, path, logical, low, fmt)
    if guessed == result and "(" not in low:
        reader.take((*path, "physicalType"))  # says nothing more than the type (a length would)
    return result


_PHYSICAL = [(r"geom|geog|wkb|wkt", "geometry"), (r"timestamp|datetime", "datetime"), (r"date", "date"),
             (r"bool", "boolean"), (r"^(tiny|small|big|medium)?int|integer|long|serial", "integer"),
             (r"double|float|real|decimal|numeric|number", "number"), (r"char|text|string|clob|uuid", "string")]


def _physical_guess(low: str) -> str | None:
    """The BIF type a database's physical type name stands for (None if unknown)."""
    return next((bif for pattern, bif in _PHYSICAL if re.search(pattern, low)), None)


def _logical_type(reader: Reader, path, logical: str, low: str, fmt: str) -> str:
    if logical == "date":
        return "datetime" if re.search(r"time|timestamp", low) or "H" in fmt else "date"
    if logical == "timestamp":
        return "datetime"
    if logical == "object" and re.search(r"geom|geog|geojson|wkb|wkt", low):
        return "geometry"
    if logical in ("time", "object", "array"):
        reader.warn((*path, "logicalType"), f"Typ „{logical}“ gibt es in BIF nicht – als Text („string“) übernommen, "
                                            f"Inhalt wird nicht geprüft (TODO prüfen)")
        return "string"
    return logical


def _field(reader: Reader, path: tuple, prop, renames: dict, votes: list):
    """(BIF field, primary key entry or None) for one ODCS property, or None after an error."""
    names = field_entry(reader, path, prop)
    if names is None:
        return None
    original, name = names
    physical_name = reader.text(prop, path, "physicalName")
    column = original
    if physical_name and physical_name != original:
        why = unsafe_name(physical_name)
        if why:
            reader.error((*path, "physicalName"), why)
        else:
            column = physical_name
    if column != name:
        renames[column] = name
        reader.warn((*path, "name"), f"Spalte {_shown(column)} heißt in BIF „{name}“ (source.rename)")
    bif_type = _field_type(reader, path, prop)
    if bif_type is None:
        return None
    f: dict = {"name": name, "type": bif_type}
    title = reader.text(prop, path, "businessName")
    if title is not None:
        f["title"] = title
    description = reader.text(prop, path, "description")
    if description is not None:
        f["description"] = description
    c: dict = {}
    for key in ("required", "unique"):
        value = reader.flag(prop, path, key)
        if value is not None:
            c[key] = value
    _options(reader, path, prop, bif_type, f, c)
    for i, check in enumerate(reader.sequence(prop, path, "quality") or []):
        here = (*path, "quality", i)
        if isinstance(check, dict) and check.get("rule") == "validValues" \
                and check.get("type", "library") == "library" \
                and isinstance(check.get("validValues"), list) and check["validValues"] and "enum" not in c:
            c["enum"] = check["validValues"]
            reader.take(here)
    custom = _custom_properties(reader, prop, path)
    for prop_name, (here, value) in custom.items():
        key = snake(prop_name)
        if key in FIELD_MAPPED or key not in contract_keys("field"):
            continue  # format and bifConstraints below; anything else is reported as not mapped
        reader.take(here)
        if fits("field", key, value):
            f[key] = value
        else:
            reader.warn((*here, "value"), f"passt nicht zu „{key}“ eines BIF-Felds – nicht übernommen: {_shown(value)}")
    if "format" in custom and isinstance(custom["format"][1], str) and "format" not in f:
        f["format"] = custom["format"][1]
        reader.take(custom["format"][0])
    if "bifConstraints" in custom and isinstance(custom["bifConstraints"][1], dict):
        here, value = custom["bifConstraints"]
        reader.visit(here)
        reader.visit((*here, "value"))
        for key, item in value.items():
            if key in CONSTRAINT_KEYS and key not in c:
                c[key] = item
                reader.take((*here, "value", key))
        reader.take((*here, "property"))
    if c:
        f["constraints"] = c
    classification = reader.text(prop, path, "classification")
    if classification:
        votes.append(((*path, "classification"), classification))
    pk = None
    if reader.flag(prop, path, "primaryKey"):
        position = reader.value(prop, path, "primaryKeyPosition", int, "eine ganze Zahl")
        pk = (position if position is not None and position > 0 else 10**9, path[-1], name)
    else:
        reader.take((*path, "primaryKeyPosition"))
    return f, pk


def _options(reader: Reader, path, prop: dict, bif_type: str, f: dict, c: dict) -> None:
    here = (*path, "logicalTypeOptions")
    options = reader.mapping(prop, path, "logicalTypeOptions")
    if not options:
        return
    for key in ("minimum", "maximum"):
        value = reader.value(options, here, key, (int, float, str), "Zahl oder Text")
        if value is not None:
            c[key] = value
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = options.get(key)
        if value is None or value is False:
            reader.take((*here, key))
            continue
        limit = c.get(bound) if value is True else value
        if bif_type in ("integer", "year") and isinstance(limit, int) and not isinstance(limit, bool):
            c[bound] = limit + 1 if bound == "minimum" else limit - 1
            reader.take((*here, key))
        else:
            reader.warn((*here, key), f"ausschließende Grenze ({key}) kann BIF für Typ „{bif_type}“ nicht genau "
                                      f"abbilden – nicht übernommen (TODO prüfen)")
            reader.take((*here, key))
    for key in ("minLength", "maxLength"):
        value = reader.value(options, here, key, int, "eine ganze Zahl")
        if value is not None and value >= 0:
            c[key] = value
    pattern = reader.text(options, here, "pattern")
    if pattern is not None:
        if not compiles(pattern):
            reader.warn((*here, "pattern"), f"Muster {_shown(pattern)} ist kein gültiger regulärer Ausdruck für BIF "
                                            f"(Python) – nicht übernommen (TODO)")
        else:
            whole, rewritten = pattern_search_to_whole(pattern)
            c["pattern"] = whole
            if rewritten:
                reader.warn((*here, "pattern"), f"Muster gilt in ODCS für einen Teil des Werts, in BIF für den ganzen "
                                                f"Wert – übernommen als {_shown(whole)}")
    fmt = reader.text(options, here, "format")
    if fmt is not None:
        if bif_type == "string":
            f["format"] = fmt
            if fmt != "default":
                reader.warn((*here, "format"),
                            f"Format {_shown(fmt)} wird von BIF bei Text nicht geprüft (nur vermerkt)")
        elif bif_type in ("date", "datetime") and _jdk_format(fmt):
            f["format"] = _jdk_format(fmt)
        else:
            reader.warn((*here, "format"), f"Format {_shown(fmt)} kann BIF nicht übernehmen (TODO prüfen)")


def _foreign_keys(reader: Reader, entry, names: list[str], renames: dict):
    here, value = entry
    if not isinstance(value, list):
        return None
    result = []
    for i, fk in enumerate(value):
        at = (*here, "value", i)
        if not (isinstance(fk, dict) and isinstance(fk.get("reference"), dict)):
            reader.error(at, f"erwartet {{fields, reference: {{resource, fields}}}}, gefunden: {_shown(fk)}")
            return None
        local = fk.get("fields")
        listed = [local] if isinstance(local, str) else local
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            reader.error((*at, "fields"), f"erwartet Feldnamen, gefunden: {_shown(local)}")
            return None
        mapped = [renames.get(n, n) for n in listed]
        for n in mapped:
            if n not in names:
                reader.error((*at, "fields"), f"Fremdschlüssel nennt unbekanntes Feld „{n}“")
        resource = dataset_reference(reader, (*at, "reference", "resource"), fk["reference"].get("resource"))
        ref_fields = fk["reference"].get("fields")
        ref_listed = [ref_fields] if isinstance(ref_fields, str) else ref_fields
        if not isinstance(ref_listed, list) or not all(isinstance(n, str) and not unsafe_name(n) for n in ref_listed):
            reader.error((*at, "reference", "fields"), f"erwartet Feldnamen, gefunden: {_shown(ref_fields)}")
            return None
        if resource is None:
            return None
        extra = set(fk) - {"fields", "reference"} or set(fk["reference"]) - {"resource", "fields"}
        if extra:
            reader.error(at, f"unbekannte Angaben im Fremdschlüssel: {', '.join(sorted(map(str, extra)))[:200]}")
            return None
        new_local = mapped[0] if isinstance(local, str) else mapped
        result.append({"fields": new_local, "reference": {"resource": resource, "fields": ref_fields}})
    reader.take(here)
    return result


def safe_source_path(reader: Reader, path, value: str) -> str | None:
    """A source path inside the city's data folder: relative, no ``..``, no control characters."""
    parts = re.split(r"[/\\]", value)
    if ".." in parts or value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        why = f"Pfad {_shown(value)} verlässt das Datenverzeichnis der Stadt"
    else:
        why = unsafe_name(value)
    if why is None and re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        reader.warn(path, f"Adresse {_shown(value)} ist kein Pfad im Datenverzeichnis – nicht übernommen "
                          f"(TODO: source.path und city.yaml)")
        return None
    if why:
        reader.error(path, why)
        return None
    return value


def _source(reader: Reader, data: dict, fields: list[dict], renames: dict) -> dict:
    servers = reader.sequence(data, (), "servers") or []
    chosen = None
    for i, server in enumerate(servers):
        custom = server.get("customProperties") if isinstance(server, dict) else None
        if isinstance(custom, list) and any(isinstance(c, dict) and c.get("property") == "readOptions" for c in custom):
            chosen = i
            break
    if chosen is None:
        chosen = next((i for i, s in enumerate(servers)
                       if isinstance(s, dict) and s.get("type") in ("local", "custom")), None)
    source: dict = {}
    if chosen is not None:
        here, server = ("servers", chosen), servers[chosen]
        reader.visit(here)
        for key in ("server", "type", "description"):
            reader.take((*here, key))
        fmt = reader.text(server, here, "format")
        if fmt is not None:
            if fmt.lower() in FORMAT_ALIASES:
                source["format"] = FORMAT_ALIASES[fmt.lower()]
            else:
                reader.warn((*here, "format"), f"Dateiformat {_shown(fmt)} liest BIF nicht (möglich: "
                                               f"{', '.join(SOURCE_FORMATS)}) – TODO")
        path = reader.text(server, here, "path")
        if path is not None:
            checked = safe_source_path(reader, (*here, "path"), path)
            if checked:
                source["path"] = checked
        options = _custom_properties(reader, server, here)
        if "readOptions" in options and isinstance(options["readOptions"][1], dict):
            at, value = options["readOptions"]
            reader.visit(at)
            reader.take((*at, "property"))
            reader.visit((*at, "value"))
            for key, item in value.items():
                if key not in contract_keys("source") or key in ("format", "path"):
                    continue  # reported as not mapped
                reader.take((*at, "value", key))
                if fits("source", key, item):
                    source[key] = item
                else:
                    reader.warn((*at, "value", key), f"passt nicht zu „source.{key}“ im BIF-Vertragsformat – nicht "
                                                     f"übernommen: {_shown(item)}")
    if "format" not in source:
        source["format"] = "csv"
        reader.warn(("servers",), "keine lesbare Quelldatei angegeben – Format „csv“ angenommen; source (Pfad, "
                                  "Trennzeichen, Kodierung) ergänzen (TODO)")
    if any(f["type"] == "geometry" for f in fields) and source["format"] not in GEO_FORMATS:
        reader.warn(("servers",),
                    f"Geometriefeld, aber Format „{source['format']}“ – „geojson“ eingetragen (TODO prüfen)")
        source["format"] = "geojson"
    if renames:
        rename = dict(source.get("rename") or {})
        rename.update(renames)
        source["rename"] = rename
    ordered = {"format": source.pop("format")}
    if "path" in source:
        ordered["path"] = source.pop("path")
    ordered.update(source)
    return ordered


def _rules(reader: Reader, obj: dict, obj_path: tuple) -> list[tuple[tuple, dict]]:
    rules = []
    for i, check in enumerate(reader.sequence(obj, obj_path, "quality") or []):
        here = (*obj_path, "quality", i)
        if not (isinstance(check, dict) and check.get("type") == "custom" and check.get("engine") == ENGINE):
            if isinstance(check, dict):
                what = check.get("description") or check.get("rule") or check.get("query") or check.get("name")
                reader.take(here)
                reader.warn(here, f"Qualitätsregel ({check.get('type', 'library')}) hat in BIF keine Entsprechung – "
                                  f"als Plausibilitätsregel nachbilden (TODO): {_shown(what if what else check, 200)}")
            continue
        implementation = check.get("implementation")
        if isinstance(implementation, str):
            try:
                rule, _ = parse_document(implementation, reader.file, yaml_only=True)
            except InteropError as exc:
                reader.error((*here, "implementation"), "; ".join(m for _, _, m in exc.problems))
                continue
        else:
            rule = implementation
        if not isinstance(rule, dict):
            reader.error((*here, "implementation"),
                         f"erwartet eine BIF-Regel (Schlüssel: Wert), gefunden: {_shown(rule)}")
            continue
        reader.take(here)
        rules.append((here, rule))
    return rules
