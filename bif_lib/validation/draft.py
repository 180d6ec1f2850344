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
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bif_lib.contracts.interop.common import DEFAULT_CLASSIFICATION, DEFAULT_VERSION, PLACEHOLDERS
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
    if not geo:
        # the header as the reader sees it: each name stripped of surrounding blanks, in NFC
        frame.columns = [unicodedata.normalize("NFC", str(c).strip()) for c in frame.columns]

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
        "version": DEFAULT_VERSION,
        "title": f"{PLACEHOLDERS['title']} für {path.name}",
        **{key: _copy(PLACEHOLDERS[key]) for key in ("description", "owner", "steward", "source_system")},
        "classification": DEFAULT_CLASSIFICATION,
        **{key: _copy(PLACEHOLDERS[key]) for key in ("licence", "cadence", "spatial_unit", "temporal_coverage")},
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
    """The number format of the file, judged column by column: each column of numbers written with
    a point or comma votes for every format under which ALL its values are numbers; the format with
    most votes wins (ties in the order plain notation, then ``NUMBER_FORMATS``). A column's whole
    set of values decides, not a single cell: „4.423“ beside „1.234.567“ or „12.345“ is four
    thousand four hundred twenty-three — when the decimal point and the thousands point fit equally,
    the thousands point is taken if every point in those numbers stands before exactly three digits
    (counts as German statistics publish them); „4,5“ has a decimal comma."""
    candidates = ((".", None), *NUMBER_FORMATS)
    votes: Counter = Counter()
    dotted: list[pd.Series] = []
    for column in frame.columns:
        values = pd.Series(frame[column].to_numpy(dtype=object)).astype(str).str.strip()
        values = values[values != ""].astype("string")
        if not len(values) or not values.str.contains(r"[0-9]", regex=True).all() \
                or not values.str.contains(r"[.,]", regex=True).any():
            continue
        fits = [fmt for fmt in candidates
                if not np.isnan(parse_numbers(values, {"decimal": fmt[0], "thousands": fmt[1]})).any()]
        votes.update(fits)
        if (".", ",") in fits and (",", ".") in fits:
            dotted.append(values[values.str.contains(".", regex=False)])
    if not votes:
        return ".", None
    best = max(votes.values())
    tied = [fmt for fmt in candidates if votes[fmt] == best]
    if tied[0][0] == "." and (",", ".") in tied and dotted:
        groups = pd.concat(dotted)
        if groups.str.fullmatch(r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})+").all():
            return ",", "."
    return tied[0]


def _copy(value):
    return dict(value) if isinstance(value, dict) else value


def _identifier(text: str) -> str:
    ident = re.sub(r"[^a-z0-9_]+", "_", text.lower()
                   .replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")).strip("_")
    if not ident or not ident[0].isalpha():
        ident = f"f_{ident}"
    return ident[:62]


def _infer_field(name: str, series: pd.Series, decimal: str, thousands: str | None) -> tuple[dict, str | None]:
    # the reader's text: "nan" or "NA" are values, not missing (only empty cells are missing)
    values = pd.Series(series.to_numpy(dtype=object), index=series.index).astype(str).str.strip()
    present = values[values != ""]
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
    if len(present) and numbers.notna().all() and not leading_zero \
            and not (numbers.abs() > 2 ** 53).any():  # larger integers are ids: kept exactly as text
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
        # a list of allowed values only where values repeat; never for a constant column (the next
        # file's other value would be refused although nothing is wrong with it)
        if 1 < len(distinct) <= 12 and len(present) >= 3 * len(distinct):
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
            part = frame[list(combo)].astype(str).apply(lambda c: c.str.strip())  # as the reader compares
            if len(part) and not (part == "").any().any() and not part.duplicated().any():
                names = {c: f["name"] for c, f in zip(frame.columns, fields)}
                return [names[c] for c in combo]
    return None
