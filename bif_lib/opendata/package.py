"""One dataset as a Frictionless Data Package (v2): CSV and Parquet (geodata also GeoJSON) with
``datapackage.json``, validated with ``frictionless``.

Layout of a dataset's folder (``datasets/<id>/`` in the site)::

    datapackage.json    Data Package v2: metadata, licence, one resource per file with
                        sha256 hash and size; Table Schema v2 from the contract
    <id>.csv            UTF-8 without BOM, comma, header row, CRLF line ends (RFC 4180)
    <id>.parquet        the same table as Parquet (geodata: GeoParquet)
    <id>.geojson        geodata only: RFC 7946 FeatureCollection

Geodata: BIF stores geometries in EPSG:25832; the open data copies are reprojected to
WGS 84 (EPSG:4326, longitude/latitude order as RFC 7946 requires) because that is what
portals, web maps and GeoJSON expect. The GeoJSON and the CSV's WKT column carry 7 decimals
(about 1 cm); the GeoParquet keeps full precision.

Table Schema: a field per column, in the snapshot's order. Contract fields keep their type,
title, description and constraints; the unit goes into the description ("Einheit: Personen").
A ``<field>_suppressed`` column (``missing_means: suppressed``) is described as such. Foreign
keys are left out: they point to other datasets, which need not be in the same package.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bif_lib.fsutil import write_private
from bif_lib.opendata import vocabularies as vocab

DATAPACKAGE_SCHEMA = "https://datapackage.org/profiles/2.0/datapackage.json"
TABLESCHEMA_SCHEMA = "https://datapackage.org/profiles/2.0/tableschema.json"
DESCRIPTOR = "datapackage.json"
PUBLIC_CRS = "EPSG:4326"
COORDINATE_DECIMALS = 7
FILE_MODE = 0o644  # published files: readable by the web server


class PackageInvalid(ValueError):
    """The data package does not pass frictionless validation (German message with the problems)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:10] + ([f"… und {len(problems) - 10} weitere"] if len(problems) > 10 else [])
        super().__init__("Das Data Package ist ungültig (frictionless):\n  " + "\n  ".join(shown))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Table Schema -----------------------------------------------------------------------------

def table_schema(frame: pd.DataFrame, contract: dict, *, geometry_as: str) -> dict:
    """Table Schema v2 of ``frame`` from the contract's fields; ``geometry_as``: "wkt" (CSV) or
    "wkb" (GeoParquet)."""
    fields = {f["name"]: f for f in contract["schema"]["fields"]}
    described = []
    for column in frame.columns:
        spec = fields.get(column)
        if spec is None:
            described.append(_extra_field(column, frame[column], fields))
            continue
        field = {"name": column, "type": spec["type"]}
        if spec.get("title"):
            field["title"] = spec["title"]
        description = spec.get("description", "").strip()
        if spec.get("unit"):
            description = f"{description} (Einheit: {spec['unit']})".strip()
        if spec["type"] == "geometry":
            field.update(_geometry_field(spec, geometry_as))
            note = field.pop("_note")
            description = f"{note} Im Datenvertrag: {description}" if description else note
        if description:
            field["description"] = description
        constraints = {k: v for k, v in (spec.get("constraints") or {}).items() if v is not None}
        if spec["type"] == "geometry":
            constraints = {k: v for k, v in constraints.items() if k == "required"}
        if constraints:
            field["constraints"] = constraints
        described.append(field)
    schema = {"$schema": TABLESCHEMA_SCHEMA, "fields": described}
    primary = contract["schema"].get("primaryKey")
    if primary:
        schema["primaryKey"] = [primary] if isinstance(primary, str) else list(primary)
    return schema


def _geometry_field(spec: dict, geometry_as: str) -> dict:
    kinds = "/".join(spec.get("geometry_type") or []) or "Geometrie"
    if geometry_as == "wkt":
        # plain string: frictionless' "wkt" format needs an extra parser (tatsu); shapely writes the WKT
        return {"type": "string",
                "_note": f"{kinds} als WKT in WGS 84 (EPSG:4326, Länge Breite); BIF speichert EPSG:25832."}
    return {"type": "any",
            "_note": f"{kinds} als WKB (GeoParquet) in WGS 84 (EPSG:4326); BIF speichert EPSG:25832."}


def _extra_field(column: str, values: pd.Series, fields: dict) -> dict:
    base = column.removesuffix("_suppressed")
    if column.endswith("_suppressed") and base in fields:
        title = fields[base].get("title") or base
        return {"name": column, "type": "boolean", "title": f"{title}: unterdrückt",
                "description": f"wahr: der Wert von {base} wurde in der Quelle zum Schutz vor Rückschlüssen auf "
                               f"Personen unterdrückt (leer gelassen)."}
    return {"name": column, "type": _type_of(values)}


def _type_of(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    return "string"


# --- writing ----------------------------------------------------------------------------------

def _public_frame(frame: pd.DataFrame, contract: dict) -> pd.DataFrame:
    """The table as it is published: geodata in WGS 84; date fields as dates."""
    types = {f["name"]: f["type"] for f in contract["schema"]["fields"]}
    frame = frame.copy()
    geometry = next((c for c, t in types.items() if t == "geometry" and c in frame.columns), None)
    if geometry is not None:
        frame = frame.to_crs(PUBLIC_CRS)
    for column, kind in types.items():
        if column in frame.columns and kind == "date" and pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = [None if pd.isna(v) else v.date() for v in frame[column]]
    frame.attrs = {}
    return frame


def _cell(value, kind: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if kind == "date":
            return value.date().isoformat()
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if value.tzinfo is not None else "")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(frame: pd.DataFrame, path: Path, contract: dict) -> None:
    import shapely

    types = {f["name"]: f["type"] for f in contract["schema"]["fields"]}
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", quotechar='"', lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(list(frame.columns))
    columns = []
    for column in frame.columns:
        kind = types.get(column, "")
        if kind == "geometry":
            wkt = shapely.to_wkt(np.asarray(frame[column].values), rounding_precision=COORDINATE_DECIMALS, trim=True)
            columns.append(["" if w is None else w for w in wkt])
        else:
            columns.append([_cell(v, kind) for v in frame[column].tolist()])
    for row in zip(*columns):
        writer.writerow(row)
    write_private(path, buffer.getvalue().encode("utf-8"), mode=FILE_MODE)


def write_parquet(frame: pd.DataFrame, path: Path, geo: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    if geo:
        frame.to_parquet(tmp, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False), tmp)
    tmp.chmod(FILE_MODE)
    tmp.replace(path)


def write_geojson(frame: pd.DataFrame, path: Path) -> None:
    import pyogrio

    tmp = path.with_name(f".{path.name}.tmp.geojson")
    pyogrio.write_dataframe(frame, tmp, driver="GeoJSON", layer_options={
        "RFC7946": "YES", "COORDINATE_PRECISION": str(COORDINATE_DECIMALS), "WRITE_NAME": "NO"})
    tmp.chmod(FILE_MODE)
    tmp.replace(path)


def write_package(directory: Path, frame: pd.DataFrame, contract: dict, meta: dict) -> list[dict]:
    """Write the dataset's files and ``datapackage.json`` into ``directory`` (which must be new
    and empty); return the files as ``{kind, name, bytes, sha256}``, the descriptor last.

    ``meta``: dataset, id, title, description, version, created, keywords, licence
    (``vocabularies.Licence``), attribution, publisher, owner, source. Nothing in the package
    depends on the site's base URL, so moving the site leaves the packages valid.
    """
    directory.mkdir(mode=0o755)
    dataset = meta["dataset"]
    public = _public_frame(frame, contract)
    geo = any(f["type"] == "geometry" for f in contract["schema"]["fields"])
    files = []
    csv_path = directory / f"{dataset}.csv"
    write_csv(public, csv_path, contract)
    files.append(("csv", csv_path))
    parquet_path = directory / f"{dataset}.parquet"
    write_parquet(public, parquet_path, geo)
    files.append(("parquet", parquet_path))
    if geo:
        geojson_path = directory / f"{dataset}.geojson"
        write_geojson(public, geojson_path)
        files.append(("geojson", geojson_path))

    described = [{"kind": kind, "name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
                 for kind, path in files]
    resources = []
    for item in described:
        kind = vocab.FILE_TYPES[item["kind"]]
        resource = {"name": f"{dataset}-{item['kind']}", "path": item["name"], "format": item["kind"],
                    "mediatype": kind.media_type, "hash": f"sha256:{item['sha256']}", "bytes": item["bytes"]}
        if item["kind"] == "csv":
            resource.update({"type": "table", "encoding": "utf-8",
                             "dialect": {"header": True, "delimiter": ",", "quoteChar": '"', "lineTerminator": "\r\n"},
                             "schema": table_schema(public, contract, geometry_as="wkt")})
        elif item["kind"] == "parquet":
            resource.update({"type": "table", "schema": table_schema(public, contract, geometry_as="wkb")})
        else:
            resource.update({"encoding": "utf-8"})
        resources.append(resource)
    licence = meta["licence"]
    descriptor = {
        "$schema": DATAPACKAGE_SCHEMA,
        "name": dataset,
        "id": meta["id"],
        "title": meta["title"],
        "description": meta["description"],
        "version": str(meta["version"]),
        "created": meta["created"],
        "keywords": list(meta["keywords"]),
        "licenses": [{"name": licence.spdx, "path": licence.url, "title": licence.label}],
        "contributors": [{"title": meta["publisher"], "roles": ["publisher"]},
                         {"title": meta["owner"], "roles": ["creator"]}],
        "sources": [{"title": meta["source"]}] if meta.get("source") else [],
        "resources": resources,
    }
    if meta.get("attribution"):
        descriptor["licenses"][0]["attribution"] = meta["attribution"]  # not in the standard: kept for users
    path = directory / DESCRIPTOR
    write_private(path, json.dumps(descriptor, ensure_ascii=False, indent=2).encode("utf-8") + b"\n", mode=FILE_MODE)
    described.append({"kind": "datapackage", "name": DESCRIPTOR, "bytes": path.stat().st_size,
                      "sha256": sha256_file(path)})
    return described


# --- validation -------------------------------------------------------------------------------

_ERRORS = {
    "hash-count": "Prüfsumme stimmt nicht",
    "byte-count": "Dateigröße stimmt nicht",
    "type-error": "Wert passt nicht zum Feldtyp",
    "constraint-error": "Wert verletzt eine Bedingung des Feldes",
    "primary-key": "Primärschlüssel nicht eindeutig oder leer",
    "unique-error": "Wert ist nicht eindeutig",
    "missing-cell": "Zelle fehlt",
    "extra-cell": "zusätzliche Zelle",
    "blank-row": "leere Zeile",
    "blank-label": "leere Spaltenüberschrift",
    "duplicate-label": "doppelte Spaltenüberschrift",
    "incorrect-label": "Spaltenüberschrift passt nicht zum Schema",
    "missing-label": "Spaltenüberschrift fehlt",
    "extra-label": "zusätzliche Spalte",
    "scheme-error": "Datei nicht lesbar",
    "format-error": "Dateiformat nicht lesbar",
    "encoding-error": "Zeichenkodierung nicht lesbar",
    "source-error": "Datei nicht lesbar",
}


def validate_package(directory: Path, expected_rows: int | None = None) -> list[str]:
    """Problems of the data package in ``directory`` (German, empty: valid).

    ``frictionless.validate`` checks the descriptor against the Data Package v2 profile, every
    table against its schema (types, constraints, primary key) and every file against its
    sha256 and size. Frictionless reads Parquet through pyarrow by path, so it cannot count its
    bytes, and its pandas step turns missing numbers into NaN that then fail constraints: a
    Parquet resource is therefore checked as a file (hash and size) inside the package, and its
    table — read with pyarrow, missing values as missing — against the same schema on its own.
    ``expected_rows``: every table must have exactly this many rows.
    """
    from frictionless import Package

    path = directory / DESCRIPTOR
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{DESCRIPTOR} nicht lesbar: {exc}"]
    if not isinstance(descriptor, dict) or descriptor.get("$schema") != DATAPACKAGE_SCHEMA:
        return [f"{DESCRIPTOR} ist kein Data Package v2 ($schema {DATAPACKAGE_SCHEMA} fehlt)"]
    checked = copy.deepcopy(descriptor)
    resources, parquet_tables = [], []
    for resource in checked.get("resources") or []:
        if isinstance(resource, dict) and resource.get("format") == "parquet":
            as_file = {k: resource[k] for k in ("name", "path", "hash", "bytes") if k in resource}
            resources.append({**as_file, "type": "file"})
            parquet_tables.append(resource)
        else:
            resources.append(resource)
    checked["resources"] = resources
    try:
        package = Package(checked, basepath=str(directory))
        reports = [(None, package.validate())]
    except Exception as exc:  # noqa: BLE001 - frictionless raises its own exception for bad descriptors
        return [f"{DESCRIPTOR} ungültig: {_short(exc)}"]
    for resource in parquet_tables:
        reports.append((resource.get("name"), _validate_parquet_table(directory, resource)))
    problems = []
    for name_override, report in reports:
        if isinstance(report, str):
            problems.append(f"Ressource {name_override}: {report}")
            continue
        for error in report.errors:
            problems.append(f"{DESCRIPTOR}: {_german(error)}")
        for task in report.tasks:
            name = name_override or task.name
            for error in task.errors:
                row = getattr(error, "row_number", None)
                field = getattr(error, "field_name", None)
                where = ", ".join(x for x in (f"Zeile {row}" if row else "", f"Feld {field}" if field else "") if x)
                problems.append(f"Ressource {name}{f' ({where})' if where else ''}: {_german(error)}")
            rows = (task.stats or {}).get("rows")
            if expected_rows is not None and task.type == "table" and rows is not None and rows != expected_rows:
                problems.append(f"Ressource {name}: {rows} Zeilen statt {expected_rows}")
    return problems


def _validate_parquet_table(directory: Path, resource: dict):
    """The frictionless report of a Parquet table read with pyarrow (or a German problem text)."""
    import pyarrow.parquet as pq
    from frictionless import Resource, Schema

    relative = str(resource.get("path", ""))
    path = (directory / relative).resolve()
    if Path(relative).is_absolute() or ".." in Path(relative).parts or directory.resolve() not in path.parents:
        return f"Pfad „{_short(relative)}“ liegt nicht im Data Package"
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a finding
        return f"Parquet-Datei nicht lesbar ({_short(exc)})"
    rows = [table.column_names] + [list(row.values()) for row in table.to_pylist()]
    schema = Schema.from_descriptor(resource.get("schema") or {"fields": []})
    return Resource(data=rows, name=resource.get("name"), schema=schema).validate()


def _german(error) -> str:
    text = _ERRORS.get(error.type, error.title)
    note = getattr(error, "note", "")
    return f"{text} ({error.type}: {_short(note)})" if note else f"{text} ({error.type})"


def _short(value, limit: int = 160) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
