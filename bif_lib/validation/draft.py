"""``bif contract draft FILE``: infer a first contract from a sample file for a steward to edit.

The draft guesses the read options (delimiter, encoding, decimal comma), field types,
value ranges, required fields and candidate primary keys. Metadata that cannot be
inferred is marked ``TODO`` so that the draft is visibly unfinished but already a valid
contract (``bif contract check`` accepts it and ``bif validate`` can run with it).

It lives in ``validation`` because it types a column with the ingest's own reading of numbers
(``fields.parse_numbers``): a draft calls a column a number exactly when the ingest reads it as one.
"""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bif_lib.validation.fields import parse_numbers

FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson",
           ".zip": "shapefile_zip", ".gpkg": "gpkg"}
GERMAN_DATE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def draft_contract(path: Path | str, dataset_id: str | None = None) -> str:
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Dateityp {path.suffix} wird nicht unterstützt (csv, xlsx, geojson, zip, gpkg)")
    source: dict = {"format": fmt, "path": path.name}
    geo = False  # read with geopandas: the frame has a geometry column
    if fmt == "csv":
        raw = path.read_bytes()
        encoding = _guess_encoding(raw)
        text = raw.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        delimiter = _guess_delimiter(text)
        frame = pd.read_csv(pd.io.common.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
        decimal, thousands = _guess_number_format(frame)
        source.update(encoding=encoding, delimiter=delimiter, decimal=decimal, thousands=thousands, header_row=1)
    elif fmt == "xlsx":
        frame = pd.read_excel(path, dtype=object).fillna("")
        decimal, thousands = ".", None
        source.update(sheet=0, header_row=1)
    else:
        import geopandas as gpd
        frame = gpd.read_file(path)
        geo = True
        decimal, thousands = ".", None
        if frame.crs is not None:
            source["crs"] = frame.crs.to_string()

    fields, date_format = [], None
    for column in frame.columns:
        if geo and column == frame.geometry.name:
            types = sorted(set(frame.geometry.geom_type.dropna()))
            fields.append({"name": "geometry", "type": "geometry", "title": "Geometrie",
                           "geometry_type": types, "crs": "EPSG:25832", "constraints": {"required": True}})
            continue
        field, fmt_found = _infer_field(str(column), frame[column], decimal, thousands)
        date_format = date_format or fmt_found
        fields.append(field)
    if date_format:
        source["date_format"] = date_format
    rename = {str(c): f["name"] for c, f in zip(frame.columns, fields) if str(c) != f["name"]}
    if rename:
        source["rename"] = rename
    contract = {
        "id": dataset_id or _identifier(path.stem),
        "version": "0.1",
        "title": f"TODO Titel für {path.name}",
        "description": "TODO Was enthält der Datensatz, wofür wird er gebraucht?",
        "owner": "TODO Fachbereich",
        "steward": {"name": "TODO Name", "email": "todo@example.org"},
        "source_system": "TODO Fachverfahren",
        "classification": "internal",
        "licence": {"name": "TODO Lizenz", "attribution": "TODO Namensnennung"},
        "cadence": "yearly",
        "spatial_unit": "TODO Raumbezug",
        "temporal_coverage": {},
        "source": source,
        "schema": {"fields": fields},
        "rules": [],
    }
    key = _candidate_key(frame, fields)
    if key:
        contract["schema"]["primaryKey"] = key
    header = (f"# Entwurf aus {path.name}, erzeugt von `bif contract draft`.\n"
              f"# Bitte prüfen: Typen, Wertebereiche, Pflichtfelder, Schlüssel; TODO-Angaben ergänzen.\n")
    return header + yaml.safe_dump(contract, allow_unicode=True, sort_keys=False, width=110)


def _guess_encoding(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "windows-1252"


def _guess_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        return ";" if sample.count(";") > sample.count(",") else ","


# (decimal, thousands) a draft can declare, in the order a tie is decided (no German format
# unless a cell needs one: "1,234" stays English, as before)
NUMBER_FORMATS = ((".", ","), (".", " "), (",", "."), (",", " "), (",", None))


def _guess_number_format(frame: pd.DataFrame) -> tuple[str, str | None]:
    """The format under which most cells are numbers that are none in plain notation (decimal
    point, no thousands separator); plain notation if no cell needs another."""
    values = pd.Series(frame.to_numpy().ravel()).astype(str).str.strip()
    values = values[values != ""]
    plain = ~np.isnan(parse_numbers(values, {"decimal": "."}))
    best, best_count = (".", None), 0
    for decimal, thousands in NUMBER_FORMATS:
        numbers = parse_numbers(values, {"decimal": decimal, "thousands": thousands})
        count = int((~np.isnan(numbers) & ~plain).sum())
        if count > best_count:
            best, best_count = (decimal, thousands), count
    return best


def _identifier(text: str) -> str:
    ident = re.sub(r"[^a-z0-9_]+", "_", text.lower()
                   .replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")).strip("_")
    if not ident or not ident[0].isalpha():
        ident = f"f_{ident}"
    return ident[:62]


def _infer_field(name: str, series: pd.Series, decimal: str, thousands: str | None) -> tuple[dict, str | None]:
    values = series.astype(str).str.strip()
    present = values[(values != "") & (values.str.lower() != "nan")]
    field: dict = {"name": _identifier(name), "type": "string", "title": name}
    constraints: dict = {}
    date_format = None
    if len(present) and len(present) == len(values):
        constraints["required"] = True
    # the ingest's reading: separators only between groups of three digits, so that a German
    # date such as 31.12.2022 is not taken for the number 31122022
    numbers = pd.Series(parse_numbers(present, {"decimal": decimal, "thousands": thousands}), index=present.index)
    # Codes with leading zeros (school numbers, postcodes) stay text.
    leading_zero = present.str.match(r"^0\d").any()
    if len(present) and numbers.notna().all() and not leading_zero:
        integral = bool((numbers == np.round(numbers)).all())
        field["type"] = "integer" if integral else "number"
        lo, hi = numbers.min(), numbers.max()
        if integral and 1900 <= lo and hi <= 2100 and re.search(r"jahr|year", name, re.I):
            field["type"] = "year"
        constraints["minimum"] = _plain(lo)
        constraints["maximum"] = _plain(hi)
    elif len(present) and present.str.match(GERMAN_DATE).all():
        field["type"] = "date"
        date_format = "%d.%m.%Y"
    elif len(present) and present.str.match(ISO_DATE).all():
        field["type"] = "date"
    elif len(present) and present.str.lower().isin(["ja", "nein", "true", "false", "wahr", "falsch"]).all():
        field["type"] = "boolean"
    elif len(present):
        distinct = present.unique()
        if len(distinct) <= 12 and len(present) >= 3 * len(distinct):
            constraints["enum"] = sorted(distinct.tolist())
    if constraints:
        field["constraints"] = constraints
    return field, date_format


def _plain(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def _candidate_key(frame: pd.DataFrame, fields: list[dict]) -> list[str] | None:
    columns = [c for c, f in zip(frame.columns, fields) if f["type"] not in ("geometry", "number")]
    for size in (1, 2):
        for combo in itertools.combinations(columns, size):
            part = frame[list(combo)].astype(str)
            if len(part) and not (part == "").any().any() and not part.duplicated().any():
                names = {c: f["name"] for c, f in zip(frame.columns, fields)}
                return [names[c] for c in combo]
    return None
