"""Reading the files departments really send, as the contract's ``source`` section says.

Every read option lives in the contract, none in code: CSV as exported from Excel and
specialist systems (delimiter, encoding with or without BOM, Windows-1252, decimal
comma and thousands dot, German dates, wide tables reshaped to long), Excel ``.xlsx``,
GeoJSON, zipped shapefiles and GeoPackage.

Readers never raise for bad content: what cannot be read becomes a failure in the
report, so a steward sees every problem of a file at once. Each row keeps its row
number in the source file in the column ``_bif_row``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .contracts import Contract
from .validation.report import ROW, Failure
GEO_FORMATS = ("geojson", "shapefile_zip", "gpkg")


@dataclass
class ReadResult:
    frame: pd.DataFrame | None
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return self.frame is not None


def read_source(contract: Contract, path: Path | str) -> ReadResult:
    path = Path(path)
    src = contract.source
    fmt = src["format"]
    if not path.is_file():
        return ReadResult(None, [Failure("file", f"Datei {path} nicht gefunden")])
    if path.stat().st_size == 0:
        return ReadResult(None, [Failure("empty_file", "Die Datei ist leer (0 Byte).")])
    if fmt == "csv":
        result = _read_csv(path, src)
        if result.readable and len(contract.field_names) > 1:
            _check_delimiter(result, src)
    elif fmt == "xlsx":
        result = _read_xlsx(path, src)
    elif fmt in GEO_FORMATS:
        result = _read_geo(path, src)
    elif fmt == "parquet":
        frame = pd.read_parquet(path)
        frame.insert(0, ROW, np.arange(1, len(frame) + 1))
        result = ReadResult(frame)
    else:  # guarded by the JSON Schema
        raise ValueError(f"unknown source format {fmt}")
    if result.readable:
        _shape(result, contract)
    return result


# --- CSV --------------------------------------------------------------------

def _read_csv(path: Path, src: dict) -> ReadResult:
    raw = path.read_bytes()
    encoding = src.get("encoding", "utf-8")
    # A BOM is what Excel writes for "CSV UTF-8"; accept the file with or without it.
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        bad = raw[exc.start:exc.end]
        guess = ""
        try:  # the usual culprit: Excel's "CSV" saved as Windows-1252 ("ANSI")
            guess = (f" (in Windows-1252 wäre das „{bad.decode('cp1252')}“ – die Datei ist vermutlich als "
                     f"Windows-1252/ANSI gespeichert)") if codecs.lookup(encoding).name != "cp1252" else ""
        except UnicodeDecodeError:
            pass
        return ReadResult(None, [Failure(
            "encoding", f"Die Datei ist nicht in {encoding} kodiert: Zeile {line} enthält das ungültige Byte "
                        f"0x{bad.hex().upper()}{guess}. Bitte als {encoding} speichern oder source.encoding im "
                        f"Vertrag anpassen.",
            row=line, value=bad.hex())])
    if not text.strip():
        return ReadResult(None, [Failure("empty_file", "Die Datei enthält keine Zeichen außer Leerraum.")])

    header_row = src.get("header_row", 1)
    sep, quotechar = src.get("delimiter", ","), src.get("quotechar", '"')
    if src.get("skip_footer_rows"):
        # Cut footer lines (source notes, footnotes) before parsing: they rarely have the
        # header's field count and would be reported as broken lines.
        text = _cut_footer(text, src["skip_footer_rows"])
    try:
        with warnings.catch_warnings():
            # index_col=False: a line with more fields than the header must not silently turn
            # the first column into the index (shifting every value one column to the left);
            # such lines are reported below from the field counts.
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), sep=sep, quotechar=quotechar,
                skiprows=header_row - 1, header=0, dtype=str, keep_default_na=False,
                skip_blank_lines=False, engine="c", index_col=False)
    except pd.errors.EmptyDataError:
        return ReadResult(None, [Failure("empty_file", "Die Datei enthält keine Kopfzeile.")])
    except pd.errors.ParserError as exc:
        return ReadResult(None, [_parse_failure(str(exc))])

    # Line numbers as a text editor shows them: header is line `header_row`.
    frame.insert(0, ROW, np.arange(header_row + 1, header_row + 1 + len(frame)))
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    data = frame.drop(columns=ROW)
    blank = (data.isna() | (data == "")).all(axis=1)
    failures = []
    # The C parser pads a short line with "" (pandas 3) or NaN (older), and drops the surplus
    # of a long line (index_col=False), so the fields of each line are counted separately.
    counts = _field_counts(text, sep, quotechar, header_row)
    n_columns = len(data.columns)
    if counts is None or len(counts) != len(frame):
        # older pandas padded short lines with NaN (count unknown: shown as the filled fields)
        counts = np.where(data.isna().any(axis=1), data.notna().sum(axis=1), n_columns)
    short, long = (counts < n_columns) & ~blank.to_numpy(), counts > n_columns
    for mask, hint in ((short, "Datei abgeschnitten, Fußnote (source.skip_footer_rows) oder Trennzeichen falsch?"),
                       (long, "Trennzeichen im Wert ohne Anführungszeichen oder am Zeilenende?")):
        rows, found = frame[ROW].to_numpy()[mask][:200], counts[mask][:200]
        failures += [Failure("field_count", f"Zeile hat {n} statt {n_columns} Felder wie die Kopfzeile – {hint}",
                             row=int(r), value=int(n)) for r, n in zip(rows, found)]
    frame = frame.loc[~blank].fillna("")
    return ReadResult(frame, failures)


_DELIMITER_NAMES = {";": "Semikolon „;“", ",": "Komma „,“", "\t": "Tabulator", "|": "senkrechter Strich „|“"}


def _check_delimiter(result: ReadResult, src: dict) -> None:
    """A header that is one single column but contains another common delimiter: wrong delimiter."""
    columns = [c for c in result.frame.columns if c != ROW]
    sep = src.get("delimiter", ",")
    if len(columns) != 1:
        return
    found = [d for d in _DELIMITER_NAMES if d != sep and d in str(columns[0])]
    if found:
        name = lambda d: _DELIMITER_NAMES.get(d, f"„{d}“")  # noqa: E731
        result.failures.append(Failure(
            "delimiter", f"Die Kopfzeile ist mit {name(found[0])} getrennt, der Vertrag erwartet {name(sep)} "
                         f"(source.delimiter). Bitte die Datei mit {name(sep)} exportieren oder den Vertrag anpassen.",
            row=src.get("header_row", 1), value=found[0]))
        result.frame = None


def _cut_footer(text: str, n: int) -> str:
    """``text`` without its last ``n`` non-blank lines (trailing blank lines go too)."""
    lines = text.splitlines(keepends=True)
    end = len(lines)
    while n and end:
        end -= 1
        if lines[end].strip():
            n -= 1
    while end and not lines[end - 1].strip():
        end -= 1
    return "".join(lines[:end])


def _field_counts(text: str, sep: str, quotechar: str, header_row: int) -> np.ndarray | None:
    """Number of fields of every record below the header (None if it cannot be told)."""
    if quotechar in text or len(sep) != 1 or ord(sep) > 127:
        # quoted fields may hold delimiters and line breaks: let the csv module tokenise
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar=quotechar)
        try:
            counts = np.fromiter((len(r) for r in reader), dtype=np.int64)
        except csv.Error:
            return None
        return counts[header_row:]
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if starts[-1] == len(data):  # text ends with a line break
        starts, ends = starts[:-1], ends[:-1]
    separators = np.flatnonzero(data == ord(sep))
    counts = np.searchsorted(separators, ends) - np.searchsorted(separators, starts) + 1
    return counts[header_row:]


def _parse_failure(message: str) -> Failure:
    # pandas: "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        # pandas counts lines in the whole file (skipped title lines included)
        expected, line, saw = map(int, match.groups())
        return Failure("parse", f"Zeile hat {saw} Felder, erwartet werden {expected} (Trennzeichen im Wert? "
                                f"fehlende Anführungszeichen?)", row=line)
    match = re.search(r"EOF inside string starting at row (\d+)", message)
    if match:
        return Failure("parse", "Anführungszeichen wird bis zum Dateiende nicht geschlossen "
                                "(Datei abgeschnitten?)", row=int(match.group(1)) + 1)  # 0-based in the file
    return Failure("parse", f"Die CSV-Datei ist nicht lesbar: {message}")


# --- Excel ------------------------------------------------------------------

def _read_xlsx(path: Path, src: dict) -> ReadResult:
    header_row = src.get("header_row", 1)
    try:
        frame = pd.read_excel(path, sheet_name=src.get("sheet", 0), header=header_row - 1, dtype=object,
                              engine="openpyxl")
    except ValueError as exc:  # unknown sheet
        return ReadResult(None, [Failure("file", f"Tabellenblatt nicht lesbar: {exc}")])
    except Exception as exc:  # zip/xml errors of a broken or renamed file
        return ReadResult(None, [Failure("file", f"Die Excel-Datei ist nicht lesbar ({type(exc).__name__}: {exc})")])
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, ROW, np.arange(header_row + 1, header_row + 1 + len(frame)))
    data = frame.drop(columns=ROW)
    blank = data.isna().all(axis=1)
    frame = frame.loc[~blank].copy()
    for col in frame.columns[1:]:
        frame[col] = frame[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
    return ReadResult(frame)


# --- Geodata ----------------------------------------------------------------

def _read_geo(path: Path, src: dict) -> ReadResult:
    import geopandas as gpd
    from pyproj import CRS

    kwargs = {"layer": src["layer"]} if src.get("layer") else {}
    try:
        frame = gpd.read_file(path, **kwargs)
    except Exception as exc:
        return ReadResult(None, [Failure("file", f"Die Geodaten-Datei ist nicht lesbar ({type(exc).__name__}: {exc})")])
    frame.insert(0, ROW, np.arange(1, len(frame) + 1))
    failures, notes = [], []
    expected = src.get("crs")
    if expected:
        if frame.crs is None:
            failures.append(Failure("crs", f"Die Datei nennt kein Koordinatenreferenzsystem; erwartet wird {expected}."))
        elif not CRS.from_user_input(expected).equals(frame.crs, ignore_axis_order=True):
            failures.append(Failure("crs", f"Koordinatenreferenzsystem ist {frame.crs.to_string()}, "
                                           f"erwartet wird {expected}.", value=frame.crs.to_string()))
    if src.get("repair_geometry") == "make_valid":
        invalid = ~frame.geometry.is_valid & frame.geometry.notna()
        if invalid.any():
            frame.loc[invalid, "geometry"] = frame.geometry[invalid].make_valid()
            repaired = frame.loc[invalid, ROW].tolist()
            notes.append(f"Geometrie repariert (shapely make_valid) für Objekt-Nr. {', '.join(map(str, repaired))}")
    if frame.crs is not None and not failures:
        frame = frame.to_crs(25832)
    return ReadResult(frame, failures, notes)


# --- shaping common to all formats ---------------------------------------------

def _shape(result: ReadResult, contract: Contract) -> None:
    """Apply the contract's column options: footer rows, dropped rows, renames, derivations, reshape."""
    src = contract.source
    frame = result.frame
    if src.get("skip_footer_rows") and src["format"] != "csv":  # CSV: cut before parsing
        frame = frame.iloc[: max(len(frame) - src["skip_footer_rows"], 0)]
    for rule in src.get("drop_rows") or []:
        column = rule["column"]
        if column in frame.columns:
            hit = frame[column].astype(str).str.contains(rule["pattern"], regex=True, na=False)
            if hit.any():
                rows = frame.loc[hit, ROW].tolist()
                listed = ", ".join(map(str, rows[:20])) + (f" und {len(rows) - 20} weitere" if len(rows) > 20 else "")
                result.notes.append(f"{len(rows)} Zeile(n) ausgelassen, weil „{column}“ dem Muster "
                                    f"„{rule['pattern']}“ entspricht (Zeile {listed})")
                # a dropped line (footnote) is not judged, not even its field count
                dropped = set(frame.loc[hit, ROW].tolist())
                result.failures = [f for f in result.failures if not (f.rule == "field_count" and f.row in dropped)]
                frame = frame.loc[~hit]
    rename = src.get("rename") or {}
    frame = frame.rename(columns=rename)
    for name, spec in (src.get("derive") or {}).items():
        origin = rename.get(spec["from"], spec["from"])  # the source name or the renamed one
        if origin in frame.columns:
            frame[name] = frame[origin].astype(str).str.extract(spec["pattern"], expand=False)
    # dropped after deriving, so that a column can be derived from and then left out
    dropped = {rename.get(c, c) for c in src.get("drop_columns") or []}
    frame = frame.drop(columns=[c for c in frame.columns if c in dropped])
    for name, value in (src.get("constants") or {}).items():
        frame[name] = value
    reshape = src.get("wide_to_long")
    if reshape and all(c in frame.columns for c in reshape["id_columns"]):
        pattern = re.compile(reshape.get("value_columns_pattern", ".*"))
        value_columns = [c for c in frame.columns
                         if c not in (ROW, *reshape["id_columns"]) and pattern.fullmatch(str(c))]
        frame = frame.melt(id_vars=[ROW, *reshape["id_columns"]], value_vars=value_columns,
                           var_name=reshape["names_to"], value_name=reshape["values_to"])
        frame = frame.sort_values([ROW, reshape["names_to"]], kind="stable")
    result.frame = frame.reset_index(drop=True)
