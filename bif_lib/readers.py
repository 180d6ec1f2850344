"""Reading the files departments really send, as the contract's ``source`` section says.

Every read option lives in the contract, none in code: CSV as exported from Excel and
specialist systems (delimiter, encoding with or without BOM, Windows-1252, decimal
comma and thousands dot, German dates, wide tables reshaped to long), Excel ``.xlsx``,
GeoJSON, zipped shapefiles and GeoPackage.

Readers never raise for bad content: what cannot be read becomes a failure in the
report, so a steward sees every problem of a file at once. Each row keeps its row
number in the source file in the column ``_bif_row``.

What the contract cannot interpret exactly is refused, never guessed: a file whose bytes
are UTF-8 although the contract declares Windows-1252 (umlauts would silently turn into
„Ã¼“), a header naming one column twice, a workbook with several sheets or a GeoPackage or
zip with several layers when the contract names none. Text in decomposed Unicode form
(„u“ + combining „¨“) is brought to NFC — the same characters, recorded as a note.

CSV files are streamed: one pass over the bytes checks the encoding, counts the fields of
every line and finds the footer; the parser then reads the data in chunks of about
``CHUNK_BYTES`` and keeps the text as Arrow strings. ``read_source`` returns the whole file's
text (2.2–3.4× the file's size); the ingest reads a CSV file in chunks of rows instead
(``CsvChunks``: each chunk exactly as ``read_source`` would return those rows), so that it never
holds the whole text (``bench/bench_ingest_memory.py``). A file whose ingest would need more
memory than is available (``available_memory``, ``BIF_MAX_MEMORY``) is refused before it is read.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bif_lib.contracts import Contract
from bif_lib.i18n import format_number
from bif_lib.validation.report import ROW, Failure
from bif_lib.validation.report import visible as _visible

GEO_FORMATS = ("geojson", "shapefile_zip", "gpkg")


@dataclass
class ReadResult:
    frame: pd.DataFrame | None
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: np.ndarray | None = None  # CSV: lines source.skip_lines left out before parsing

    @property
    def readable(self) -> bool:
        return self.frame is not None


def read_source(contract: Contract, path: Path | str) -> ReadResult:
    path = Path(path)
    src = contract.source
    fmt = src["format"]
    if not path.is_file():
        what = "ist ein Ordner, keine Datei" if path.is_dir() else "nicht gefunden"
        return ReadResult(None, [Failure("file", f"Datei {path} {what}")])
    try:
        if path.stat().st_size == 0:
            return ReadResult(None, [Failure("empty_file", "Die Datei ist leer (0 Byte).")])
        refused = _memory_failure(path, fmt)
        if refused is not None:
            return ReadResult(None, [refused])
        if fmt == "csv":
            result = _read_csv(path, src)
            if result.readable and len(contract.field_names) > 1:
                _check_delimiter(result, src)
        elif fmt == "xlsx":
            result = _read_xlsx(path, src)
        elif fmt in GEO_FORMATS:
            result = _read_geo(path, src)
        elif fmt == "parquet":
            result = _read_parquet(path)
        else:  # guarded by the JSON Schema
            raise ValueError(f"unknown source format {fmt}")
        if result.readable:
            _shape(result, contract, path)
    except MemoryError:
        return ReadResult(None, [_out_of_memory(path)])
    except PermissionError:
        return ReadResult(None, [Failure("file", f"Keine Leserechte auf {path}. Bitte die Datei für das einspielende "
                                                 f"Konto lesbar machen (lassen).")])
    return result


def _read_parquet(path: Path) -> ReadResult:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        return ReadResult(None, [Failure("file", f"Die Parquet-Datei ist nicht lesbar ({type(exc).__name__}: "
                                                 f"{_short(exc, 200)})")])
    frame.insert(0, ROW, np.arange(1, len(frame) + 1))
    return ReadResult(frame)


# --- reading in chunks ------------------------------------------------------------

class NotStreamable(Exception):
    """The file is read whole (``read_source``) instead: it is no CSV file, reading it would fail or
    be refused, or reading it in chunks could not give exactly what reading it whole gives. Raised
    before any result of the file is kept."""


STREAM_BLOCK_BYTES = 1 << 20  # CSV bytes per chunk of rows handed on when a file is read in chunks


class CsvChunks:
    """A CSV file's rows in chunks of about ``STREAM_BLOCK_BYTES``, each exactly as ``read_source``
    would return those rows (text columns, ``_bif_row``, the contract's shaping applied), so that
    the ingest never holds the whole file's text. Only the ordinary case is read like this:
    anything ``read_source`` refuses or reports while reading (encoding, structure, no data rows,
    too little memory …) raises ``NotStreamable`` instead, before or during the iteration.

    ``failures`` (field counts) and ``notes`` are complete once the iteration has ended::

        with CsvChunks(contract, path) as chunks:
            for frame in chunks:
                ...
    """

    def __init__(self, contract: Contract, path: Path | str):
        self.contract, self.path = contract, Path(path)
        self.failures: list[Failure] = []
        self.notes: list[str] = []
        self.rows = 0
        self.rows_hint = 0  # at most this many rows (lines after the header), unless reshaped to long
        self._opened = None

    def __enter__(self) -> CsvChunks:
        src, path = self.contract.source, self.path
        if src["format"] != "csv" or not path.is_file():
            raise NotStreamable(src["format"])
        try:
            if path.stat().st_size == 0 or _memory_failure(path, "csv") is not None:
                raise NotStreamable("empty or too large")
            self._opened = _open_csv(path, src)
            opened = self._opened.__enter__()
            if isinstance(opened, ReadResult):
                raise NotStreamable("encoding")
            self._fh, self._size, self._codec, codec_name = opened
            scan = _prepare_csv(self._fh, self._size, src, self._codec, codec_name)
            if isinstance(scan, ReadResult):
                raise NotStreamable("refused")
            self._scan = scan
            self.rows_hint = max(scan.lines_in_window - src.get("header_row", 1), 0)
            release_memory()  # the checking pass's arrays: not kept beside the chunks to come
        except (MemoryError, PermissionError, UnicodeDecodeError) as exc:
            self.__exit__(None, None, None)
            raise NotStreamable(type(exc).__name__) from exc
        except NotStreamable:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._opened is not None:
            opened, self._opened = self._opened, None
            opened.__exit__(None, None, None)

    def __iter__(self):
        src, scan = self.contract.source, self._scan
        pieces = _Pieces(self._fh, scan, src, self._codec, self._size)
        block_rows = pieces.rows_per_chunk * max(1, STREAM_BLOCK_BYTES // CHUNK_BYTES)
        dropped = _Shaping(self.contract, self.path)
        dropped.skipped.append(_skipped_lines(src, scan.lines_in_window))
        parts: dict[str, list[pa.Array]] = {}
        numbers: list[np.ndarray] = []
        counts = None
        changed = 0
        try:
            for arrays, rows, blank in pieces:
                if counts is None:
                    if len(self.contract.field_names) > 1 and _delimiter_failure(pieces.names, src) is not None:
                        raise NotStreamable("delimiter")
                    counts = _FieldCounts(scan, src, len(pieces.names))
                    scan.counts = None  # only the odd lines are kept
                counts.add(blank)
                numbers.append(rows)
                for n, array in arrays.items():
                    parts.setdefault(n, []).append(array)
                if sum(len(r) for r in numbers) >= block_rows:
                    frame, changed = self._block(pieces.names, parts, numbers, dropped, changed)
                    parts, numbers = {}, []
                    if len(frame):
                        yield frame
            if numbers:
                frame, changed = self._block(pieces.names, parts, numbers, dropped, changed)
                parts, numbers = {}, []
                if len(frame):
                    yield frame
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, MemoryError) as exc:
            raise NotStreamable(type(exc).__name__) from exc
        if self.rows == 0:
            raise NotStreamable("no rows")
        self.notes = ([_nfc_note(changed)] if changed else []) + dropped.notes()
        self.failures = dropped.kept(counts.failures()) + dropped.failures()

    def _block(self, names, parts, numbers, dropped, changed) -> tuple[pd.DataFrame, int]:
        frame = _text_frame(names, {n: parts.get(n, []) for n in names}, numbers)
        if self._scan.not_nfc:
            changed += _normalize_nfc(frame)
        try:
            frame = _shape_frame(frame, self.contract.source, dropped)
        except _NoDistricts as exc:
            raise NotStreamable("district names") from exc
        self.rows += len(frame)
        release_memory()  # the parser's Python strings of these rows: not kept beside the typed columns
        return frame, changed


# --- memory -----------------------------------------------------------------

# Peak memory of an ingest (reading, validation, snapshot) as a multiple of the CSV's size,
# measured by bench/bench_ingest_memory.py (see bench/README.md); an ingest that would need
# more than the memory available is refused before anything is read.
# CSV (read in chunks): 2.0–2.94× measured for 1,000,000 rows (short integer cells are the worst
# case); 4.5 leaves a margin, and covers the few files read whole instead (up to 4.5–5.1× measured
# for those: the typed frame and the text it is typed from). Small files need more than their multiple (fixed costs of some 50 MB), but little
# memory. The other formats are not measured: openpyxl holds every cell of a workbook as a Python
# object (xlsx is zipped XML), Parquet and geodata decompress; the factors are generous guesses.
INGEST_MEMORY_FACTOR = {"csv": 4.5, "xlsx": 60.0, "parquet": 15.0, "geo": 20.0}


def parse_size(text: str) -> int:
    """'3G', '500M', '2048K', '1000000' -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(text)
    number = float(match.group(1).replace(",", "."))
    return int(number * 1024 ** " KMGT".index((match.group(2) or " ").upper()))


def available_memory() -> tuple[int | None, str]:
    """(bytes this process may still use, what limits it — German), the tightest of: the
    configured limit ``BIF_MAX_MEMORY``, the machine's available memory, the control group's
    limit and the address-space limit (``ulimit -v``). (None, "") when nothing is known."""
    limits: list[tuple[int, str]] = []
    configured = os.environ.get("BIF_MAX_MEMORY")
    if configured:
        try:
            limits.append((parse_size(configured), f"die eingestellte Grenze BIF_MAX_MEMORY={configured}"))
        except ValueError:
            pass
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append((int(line.split()[1]) * 1024, "der verfügbare Arbeitsspeicher des Rechners"))
    with contextlib.suppress(OSError, ValueError, IndexError):
        group = Path("/proc/self/cgroup").read_text().splitlines()[0].split("::", 1)[1]
        base = Path("/sys/fs/cgroup") / group.lstrip("/")
        maximum = (base / "memory.max").read_text().strip()
        if maximum != "max":
            current = int((base / "memory.current").read_text())
            limits.append((int(maximum) - current, "die Speichergrenze des Dienstes (cgroup memory.max)"))
    with contextlib.suppress(OSError, ValueError):
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = _status_bytes("VmSize")
            limits.append((soft - used, "die Adressraum-Grenze des Prozesses (ulimit -v)"))
    if not limits:
        return None, ""
    return min(limits)


def _status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise ValueError(field_name)


def _memory_failure(path: Path, fmt: str) -> Failure | None:
    """Refuse a file whose ingest would need more memory than there is (estimated from its size)."""
    size = path.stat().st_size
    factor = INGEST_MEMORY_FACTOR["geo" if fmt in GEO_FORMATS else fmt]
    need = int(size * factor)
    available, what = available_memory()
    if available is None or need <= available:
        return None
    return Failure("memory", f"Die Datei {path.name} ({_mb(size)}) braucht zum Einspielen schätzungsweise {_mb(need)} "
                             f"Arbeitsspeicher (etwa das {format_number(factor, None)}-Fache ihrer Größe); "
                             f"{what} erlaubt nur noch {_mb(max(available, 0))}. Es wurde nichts gelesen und nichts "
                             f"gespeichert. Bitte die Datei aufteilen (z. B. nach Jahren), auf einem Rechner mit mehr "
                             f"Arbeitsspeicher einspielen oder die Grenze anpassen lassen.", value=size)


def _mb(size: int) -> str:
    return f"{format_number(size / 1e6, 1)} MB" if size < 1e9 else f"{format_number(size / 1e9, 2)} GB"


def _out_of_memory(path: Path) -> Failure:
    return Failure("memory", f"Der Arbeitsspeicher reichte nicht, um {path.name} ({_mb(path.stat().st_size)}) zu lesen. "
                             f"Es wurde nichts gespeichert. Bitte die Datei aufteilen oder auf einem Rechner mit mehr "
                             f"Arbeitsspeicher einspielen.")


# --- CSV --------------------------------------------------------------------

SCAN_BLOCK = 1 << 20          # bytes per block of the checking pass (its arrays are ~20× that)
CHUNK_BYTES = 1 << 19         # CSV bytes per chunk handed to the parser (~15× that in Python objects)
_WHITESPACE = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)
# single-byte codecs (and UTF-8): newline and ASCII delimiter bytes never occur inside a character
_BYTE_SAFE = re.compile(r"utf-8|ascii|latin-1|iso8859-\d+|cp125\d|cp437|cp85\d|cp858|mac-\w+|koi8-\w")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


@dataclass
class _Scan:
    """What one streaming pass over a CSV file found (no more than a few arrays in memory)."""

    end: int = 0                              # the data ends here (before footer and trailing blank lines)
    lines_in_window: int = 0                  # physical lines before ``end``
    counts: np.ndarray | None = None          # fields per physical line before ``end`` (None: quotes, see below)
    quotes: bool = False                      # the quote character occurs: fields counted by the csv module
    header: list[str] | None = None           # the header's cells
    not_nfc: bool = False                     # some text is not in Unicode normal form C
    has_text: bool = False                    # anything but whitespace
    failure: Failure | None = None


class _Window(io.RawIOBase):
    """The first ``end`` bytes of a binary file, as a stream (the footer is never read)."""

    def __init__(self, fh, end: int):
        self.fh, self.left = fh, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self.left)]
        n = self.fh.readinto(view)
        self.left -= n or 0
        return n or 0


def _read_csv(path: Path, src: dict) -> ReadResult:
    with _open_csv(path, src) as opened:
        if isinstance(opened, ReadResult):
            return opened
        return _read_csv_stream(*opened, src)


@contextlib.contextmanager
def _open_csv(path: Path, src: dict):
    """(binary stream, its size, codec, codec name) of a CSV file, or the ReadResult refusing it."""
    encoding = src.get("encoding", "utf-8")
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        yield ReadResult(None, [Failure("encoding", f"Unbekannte Zeichenkodierung „{encoding}“ in source.encoding des "
                                                    f"Vertrags (z. B. utf-8, windows-1252, iso-8859-1).",
                                        value=encoding)])
        return
    # A BOM is what Excel writes for "CSV UTF-8"; accept the file with or without it.
    codec = "utf-8-sig" if name == "utf-8" else encoding
    with open(path, "rb") as fh:
        start = fh.read(4)
    if name not in ("utf-16", "utf-32") and any(start.startswith(bom) for bom in _UTF16_BOMS):
        kind = "UTF-32" if start[:4] in _UTF16_BOMS[2:] else "UTF-16"
        yield ReadResult(None, [Failure("encoding", f"Die Datei ist {kind}-kodiert (Excel: „Unicode-Text“), der "
                                                    f"Vertrag erwartet {encoding}. Bitte als „CSV UTF-8“ speichern "
                                                    f"oder source.encoding anpassen.", row=1)])
        return
    if _BYTE_SAFE.fullmatch(name):
        with open(path, "rb") as fh:
            yield fh, path.stat().st_size, codec, name
        return
    # multi-byte codecs (UTF-16, Shift-JIS …): transcode to UTF-8 in memory first (rare, small files)
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        yield ReadResult(None, [_decode_failure(raw, exc, encoding, raw[:exc.start].count(b"\n") + 1)])
        return
    data = text.encode("utf-8")
    yield io.BytesIO(data), len(data), "utf-8", "utf-8"


def _read_csv_stream(fh, size: int, codec: str, codec_name: str, src: dict) -> ReadResult:
    encoding = src.get("encoding", "utf-8")
    scan = _prepare_csv(fh, size, src, codec, codec_name)
    if isinstance(scan, ReadResult):
        return scan
    notes: list[str] = []
    try:
        frame, blank = _parse_chunks(fh, scan, src, codec, size)
    except pd.errors.EmptyDataError:
        return ReadResult(None, [Failure("empty_file", "Die Datei enthält keine Kopfzeile.")])
    except pd.errors.ParserError as exc:
        return ReadResult(None, [_parse_failure(str(exc))])
    except UnicodeDecodeError as exc:  # checked above; a file that changed while being read
        return ReadResult(None, [Failure("encoding", f"Die Datei ist nicht in {encoding} kodiert ({exc.reason}).")])
    if scan.not_nfc:
        changed = _normalize_nfc(frame)
        if changed:
            notes.append(_nfc_note(changed))
    return ReadResult(frame, _field_count_failures(scan, src, blank, len(frame.columns) - 1), notes,
                      _skipped_lines(src, scan.lines_in_window))


def _prepare_csv(fh, size: int, src: dict, codec: str, codec_name: str) -> _Scan | ReadResult:
    """The checking pass and the header's checks; the stream is left at its start for the parser."""
    header_row = src.get("header_row", 1)
    sep, quotechar = src.get("delimiter", ","), src.get("quotechar", '"')
    scan = _scan_csv(fh, size, src, codec, codec_name)
    if scan.failure is not None:
        return ReadResult(None, [scan.failure])
    if not scan.has_text:
        return ReadResult(None, [Failure("empty_file", "Die Datei enthält keine Zeichen außer Leerraum.")])
    if scan.header is not None:
        names = [c.strip() for c in scan.header]
        seen: dict[str, int] = {}
        for i, column in enumerate(names, 1):
            if column and column in seen:
                return ReadResult(None, [Failure(
                    "ambiguous", f"Die Spalte „{_short(column)}“ steht zweimal in der Kopfzeile (Spalte {seen[column]} "
                                 f"und {i}) – welche gemeint ist, ist nicht eindeutig. Bitte eine umbenennen oder "
                                 f"entfernen.", row=header_row, column=column)])
            seen.setdefault(column, i)
    if scan.quotes:
        fh.seek(0)
        scan.counts = _quoted_field_counts(fh, scan.end, codec, sep, quotechar)
    fh.seek(0)
    return scan


def _nfc_note(changed: int) -> str:
    return (f"{format_number(changed)} Wert(e) in die Unicode-Normalform NFC gebracht (zerlegte Zeichen wie „u“ + "
            f"„¨“ zu „ü“ zusammengesetzt; Inhalt unverändert)")


def _field_count_failures(scan: _Scan, src: dict, blank: np.ndarray, data_columns: int) -> list[Failure]:
    """Lines with fewer or more fields than the header (at most 200 of each), from the checking pass's
    counts and the parser's blank lines (``blank``: one flag per line after the header)."""
    counts = _FieldCounts(scan, src, data_columns)
    counts.add(blank)
    return counts.failures()


def _skipped_lines(src: dict, lines: int) -> np.ndarray:
    """The data lines (after the header, up to line ``lines``) that ``source.skip_lines`` leaves out."""
    ranges = parse_line_ranges(src.get("skip_lines"))
    if not ranges:
        return np.array([], dtype=np.int64)
    header_row = src.get("header_row", 1)
    parts = [np.arange(max(a, header_row + 1), min(b, lines) + 1) for a, b in ranges]
    return np.unique(np.concatenate(parts)).astype(np.int64)


def _line_numbers(start: int, n: int, header_row: int, skipped: np.ndarray) -> np.ndarray:
    """Line numbers in the file of the data lines ``start`` … ``start + n - 1`` (0-based, counted
    without the lines ``skipped``, which are sorted)."""
    numbers = np.arange(header_row + 1 + start, header_row + 1 + start + n, dtype=np.int64)
    for line in skipped:  # ascending: each skipped line shifts the lines from it on by one
        numbers[numbers >= line] += 1
    return numbers


class _FieldCounts:
    """The field-count check, fed the parser's blank-line flags piece by piece: only the lines whose
    field count differs from the header's are remembered (the checking pass's counts are let go)."""

    def __init__(self, scan: _Scan, src: dict, data_columns: int):
        self.header_row, self.data_columns = src.get("header_row", 1), data_columns
        counts = scan.counts[self.header_row:] if scan.counts is not None else None
        self.numbers = None  # the line number of each count, when source.skip_lines left lines out
        skipped = _skipped_lines(src, scan.lines_in_window)
        if counts is not None and len(skipped):
            numbers = np.arange(self.header_row + 1, self.header_row + 1 + len(counts))
            keep = ~np.isin(numbers, skipped)
            counts, self.numbers = counts[keep], numbers[keep]
        self.lines = len(counts) if counts is not None else None
        self.odd = np.flatnonzero(counts != data_columns) if counts is not None else None
        self.odd_counts = counts[self.odd] if counts is not None else None
        self.odd_blank = np.zeros(len(self.odd), dtype=bool) if counts is not None else None
        self.seen = 0

    def add(self, blank: np.ndarray) -> None:
        if self.odd is not None and len(self.odd):
            lo, hi = np.searchsorted(self.odd, [self.seen, self.seen + len(blank)])
            self.odd_blank[lo:hi] = blank[self.odd[lo:hi] - self.seen]
        self.seen += len(blank)

    def failures(self) -> list[Failure]:
        if self.odd is None or self.lines != self.seen:
            return []
        failures = []
        data_columns = self.data_columns
        short = (self.odd_counts < data_columns) & ~self.odd_blank
        long = self.odd_counts > data_columns
        rows = self.odd + self.header_row + 1 if self.numbers is None else self.numbers[self.odd]
        for mask, hint in ((short, "Datei abgeschnitten, Fußnote (source.skip_footer_rows) oder Trennzeichen falsch?"),
                           (long, "Trennzeichen im Wert ohne Anführungszeichen oder am Zeilenende?")):
            found_rows, found = rows[mask][:200], self.odd_counts[mask][:200]
            failures += [Failure("field_count", f"Zeile hat {n} statt {data_columns} Felder wie die Kopfzeile – {hint}",
                                 row=int(r), value=int(n)) for r, n in zip(found_rows, found)]
        return failures


def _scan_csv(fh, size: int, src: dict, codec: str, codec_name: str) -> _Scan:
    """One pass over the bytes: the encoding is checked, lines and fields are counted, the footer is
    located, the header is read — without holding more than one block in memory."""
    from collections import deque

    scan = _Scan()
    encoding = src.get("encoding", "utf-8")
    header_row = src.get("header_row", 1)
    footer = int(src.get("skip_footer_rows") or 0)
    sep, quotechar = src.get("delimiter", ","), src.get("quotechar", '"')
    sep_byte = sep.encode("ascii")[0] if len(sep) == 1 and ord(sep) < 128 else None
    quote_byte = quotechar.encode(codec_name)
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    check_utf8 = codec_name != "utf-8"
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict") if check_utf8 else None
    utf8_valid, first_non_ascii = True, None    # (line, sample) of the first non-ASCII byte
    tail_text = ""
    nonblank = deque(maxlen=footer + 1)     # (line index, end offset incl. newline) of the last non-blank lines
    counts_parts: list[np.ndarray] = []
    carry = b""
    carry_offset = 0                        # file offset of carry[0]
    line_index = 0                          # index of the first line in carry
    header_bytes = None
    read = 0
    while True:
        block = fh.read(SCAN_BLOCK)
        read += len(block)
        last = not block or read >= size
        try:
            text = decoder.decode(block, final=last)
        except UnicodeDecodeError as exc:
            line = line_index + 1 + exc.object[:exc.start].count(b"\n")
            scan.failure = _decode_failure(exc.object, exc, encoding, line)
            return scan
        if not scan.not_nfc and text and not text.isascii():
            if not unicodedata.is_normalized("NFC", tail_text + text):
                scan.not_nfc = True
        tail_text = text[-8:]
        if check_utf8 and block:
            if utf8_valid:
                try:
                    utf8.decode(block, final=last)
                except UnicodeDecodeError:
                    utf8_valid = False
            if first_non_ascii is None and not block.isascii():
                position = int(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) >= 0x80)[0])
                line = line_index + 1 + carry.count(b"\n") + block[:position].count(b"\n")
                first_non_ascii = (line, block[max(0, position - 12): position + 12])
        if not scan.quotes and quote_byte in block:
            scan.quotes = True
        data = carry + block
        array = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(array == 10)
        ends = newlines if not last or (len(data) and data.endswith(b"\n")) else np.append(newlines, len(data))
        starts = np.concatenate(([0], newlines + 1))[: len(ends)]
        if len(ends):
            text_bytes = np.concatenate(([0], np.cumsum(~np.isin(array, _WHITESPACE), dtype=np.int32)))
            has_text = text_bytes[ends] - text_bytes[starts] > 0
            scan.has_text = scan.has_text or bool(has_text.any())
            if sep_byte is not None:
                separators = np.flatnonzero(array == sep_byte)
                counts_parts.append((np.searchsorted(separators, ends) - np.searchsorted(separators, starts) + 1)
                                    .astype(np.int32))
            for i in np.flatnonzero(has_text)[-(footer + 1):]:
                nonblank.append((line_index + int(i), carry_offset + int(ends[i]) + 1))
            if header_bytes is None and line_index + len(ends) >= header_row:
                i = header_row - 1 - line_index
                header_bytes = data[starts[i]:ends[i]]
        consumed = int(newlines[-1]) + 1 if len(newlines) else 0
        if last:
            line_index += len(ends)
            break
        carry = data[consumed:]
        carry_offset += consumed
        line_index += len(newlines)
    if check_utf8 and utf8_valid and first_non_ascii is not None:
        line, sample = first_non_ascii
        shown = sample.decode("utf-8", errors="ignore").strip()
        wrong = sample.decode(codec, errors="replace").strip()
        scan.failure = Failure("encoding", f"Die Datei ist offenbar UTF-8-kodiert (z. B. „{_short(shown, 30)}“ in Zeile "
                                           f"{line}), der Vertrag erklärt {encoding}: gelesen würde „{_short(wrong, 30)}“. "
                                           f"Bitte source.encoding: utf-8 im Vertrag angeben oder die Datei als "
                                           f"{encoding} speichern.", row=line)
        return scan
    if footer:
        # cut the footer lines and the blank lines before them
        scan.end = nonblank[0][1] if len(nonblank) > footer else 0
        scan.lines_in_window = nonblank[0][0] + 1 if len(nonblank) > footer else 0
        scan.end = min(scan.end, size)
    else:
        scan.end, scan.lines_in_window = size, line_index
    if counts_parts and not scan.quotes:
        scan.counts = np.concatenate(counts_parts)[: scan.lines_in_window]
    if header_bytes is not None:
        with contextlib.suppress(UnicodeDecodeError, csv.Error, StopIteration):
            scan.header = next(csv.reader([header_bytes.decode(codec).rstrip("\r")], delimiter=sep,
                                          quotechar=quotechar))
    return scan


def _quoted_field_counts(fh, end: int, codec: str, sep: str, quotechar: str) -> np.ndarray | None:
    """Fields per record when quoted fields may hold delimiters and line breaks (csv module, streaming)."""
    stream = io.TextIOWrapper(io.BufferedReader(_Window(fh, end)), encoding=codec, newline="")
    reader = csv.reader(stream, delimiter=sep, quotechar=quotechar)
    try:
        return np.fromiter((len(r) for r in reader), dtype=np.int64)
    except csv.Error:
        return None
    finally:
        stream.detach()


class _Pieces:
    """The data window parsed chunk by chunk: each piece is (column arrays as Arrow strings with 32-bit
    offsets, row numbers, blank-line flags of the piece's lines); blank lines are dropped from the
    arrays. ``names`` are the header's column names (also when there are no data lines)."""

    def __init__(self, fh, scan: _Scan, src: dict, codec: str, size: int):
        self.fh, self.scan, self.src, self.codec, self.size = fh, scan, src, codec, size
        per_line = max(size / max(scan.lines_in_window, 1), 1.0)
        self.rows_per_chunk = int(min(max(CHUNK_BYTES / per_line, 1_000), 200_000))
        self.names: list[str] = []

    def __iter__(self):
        src = self.src
        header_row = src.get("header_row", 1)
        sep, quotechar = src.get("delimiter", ","), src.get("quotechar", '"')
        stream = io.BufferedReader(_Window(self.fh, self.scan.end), buffer_size=1 << 20)
        first = 0  # data lines parsed so far
        skipped = _skipped_lines(src, self.scan.lines_in_window)  # source.skip_lines: never parsed
        skiprows = (set(range(header_row - 1)) | {line - 1 for line in skipped}) if len(skipped) else header_row - 1
        started = False
        with warnings.catch_warnings():
            # index_col=False: a line with more fields than the header must not silently turn
            # the first column into the index (shifting every value one column to the left);
            # such lines are reported from the field counts.
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            reader = pd.read_csv(stream, encoding=self.codec, sep=sep, quotechar=quotechar, skiprows=skiprows,
                                 header=0, dtype=str, keep_default_na=False, skip_blank_lines=False, engine="c",
                                 index_col=False, chunksize=self.rows_per_chunk)
            with reader:
                for chunk in reader:
                    if not started:
                        self.names = [c.strip() if isinstance(c, str) else c for c in chunk.columns]
                        started = True
                    chunk.columns = self.names
                    blank = (chunk.isna() | (chunk == "")).all(axis=1).to_numpy(bool)
                    rows = _line_numbers(first, len(chunk), header_row, skipped)
                    first += len(chunk)
                    if blank.any():
                        chunk, rows = chunk.loc[~blank], rows[~blank]
                    arrays = {n: _arrow_text(chunk[n]) for n in self.names}
                    del chunk
                    yield arrays, rows, blank
                if not started:  # header only
                    self.names = [(c.strip() if isinstance(c, str) else c) for c in reader._engine.names]


def _text_frame(names: list[str], parts: dict[str, list[pa.Array]], numbers: list[np.ndarray]) -> pd.DataFrame:
    """Text columns (Arrow strings, one chunk per piece) and ``_bif_row``, as the readers return them."""
    data = {ROW: np.concatenate(numbers) if numbers else np.array([], dtype=np.int64)}
    for n in names:
        data[n] = pd.arrays.ArrowExtensionArray(pa.chunked_array(parts[n], pa.string()))
    return pd.DataFrame(data, copy=False)


def _parse_chunks(fh, scan: _Scan, src: dict, codec: str, size: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse the data window chunk by chunk; keep the text as Arrow strings (32-bit offsets), drop
    blank lines per chunk. Returns the frame (with ``_bif_row``) and the blank-line mask of all rows."""
    pieces = _Pieces(fh, scan, src, codec, size)
    parts: dict[str, list[pa.Array]] = {}
    numbers: list[np.ndarray] = []
    blanks: list[np.ndarray] = []
    for arrays, rows, blank in pieces:
        for n, array in arrays.items():
            parts.setdefault(n, []).append(array)
        numbers.append(rows)
        blanks.append(blank)
    parts = {n: parts.get(n, []) for n in pieces.names}
    blank = np.concatenate(blanks) if blanks else np.array([], dtype=bool)
    frame = _text_frame(pieces.names, parts, numbers)
    pa.default_memory_pool().release_unused()  # the chunks' buffers: back to the system, not kept for later
    return frame, blank


def release_memory() -> None:
    """Give freed memory back to the system: Arrow's pool (``release_unused``) and the C library's
    heap (``malloc_trim``; glibc keeps freed blocks of pandas' and numpy's temporaries otherwise,
    and the next large array — from another allocator — cannot use them). For the ingest, which
    frees the text column by column; not after reading: trimming the heap there made the repeated
    validation of ``bench_validation`` (raw text) 40 % slower, as later temporaries fault fresh pages."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim  # glibc; other C libraries have none
    except (OSError, AttributeError):
        return None


def _arrow_text(series: pd.Series) -> pa.Array:
    """A chunk's text column as an Arrow string array (32-bit offsets: half the overhead of pandas'
    large strings); cells a short line left empty become ""."""
    arrow = getattr(series.array, "_pa_array", None)
    if arrow is None:
        array = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    elif isinstance(arrow, pa.ChunkedArray):
        array = arrow.combine_chunks() if arrow.num_chunks else pa.array([], arrow.type)
    else:
        array = arrow
    if array.null_count:
        array = pc.fill_null(array, "")
    return pc.cast(array, pa.string())


def _normalize_nfc(frame: pd.DataFrame) -> int:
    """Bring every text column to Unicode NFC in place; return how many cells changed."""
    changed = 0
    for column in frame.columns:
        if column == ROW:
            continue
        values = frame[column].array
        arrow = getattr(values, "_pa_array", None)
        if arrow is None:
            continue
        normal = pc.utf8_normalize(arrow, "NFC")
        differs = int(pc.sum(pc.not_equal(arrow, normal)).as_py() or 0)
        if differs:
            frame[column] = pd.arrays.ArrowExtensionArray(normal)
            changed += differs
    frame.columns = [unicodedata.normalize("NFC", c) if isinstance(c, str) else c for c in frame.columns]
    return changed


def _decode_failure(raw: bytes, exc: UnicodeDecodeError, encoding: str, line: int) -> Failure:
    bad = raw[exc.start:exc.end]
    guess = ""
    try:  # the usual culprit: Excel's "CSV" saved as Windows-1252 ("ANSI")
        guess = (f" (in Windows-1252 wäre das „{bad.decode('cp1252')}“ – die Datei ist vermutlich als "
                 f"Windows-1252/ANSI gespeichert)") if codecs.lookup(encoding).name != "cp1252" else ""
    except UnicodeDecodeError:
        pass
    return Failure("encoding", f"Die Datei ist nicht in {encoding} kodiert: Zeile {line} enthält das ungültige Byte "
                               f"0x{bad.hex().upper()}{guess}. Bitte als {encoding} speichern oder source.encoding im "
                               f"Vertrag anpassen.", row=line, value=bad.hex())


def _short(text: str, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


_DELIMITER_NAMES = {";": "Semikolon „;“", ",": "Komma „,“", "\t": "Tabulator", "|": "senkrechter Strich „|“"}


def _check_delimiter(result: ReadResult, src: dict) -> None:
    """A header that is one single column but contains another common delimiter: wrong delimiter."""
    failure = _delimiter_failure([c for c in result.frame.columns if c != ROW], src)
    if failure is not None:
        result.failures.append(failure)
        result.frame = None


def _delimiter_failure(columns: list, src: dict) -> Failure | None:
    sep = src.get("delimiter", ",")
    if len(columns) != 1:
        return None
    found = [d for d in _DELIMITER_NAMES if d != sep and d in str(columns[0])]
    if not found:
        return None
    name = lambda d: _DELIMITER_NAMES.get(d, f"„{d}“")  # noqa: E731
    return Failure("delimiter", f"Die Kopfzeile ist mit {name(found[0])} getrennt, der Vertrag erwartet {name(sep)} "
                                f"(source.delimiter). Bitte die Datei mit {name(sep)} exportieren oder den Vertrag "
                                f"anpassen.", row=src.get("header_row", 1), value=found[0])


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

_EXCEL_ERRORS = ("#DIV/0!", "#N/A", "#NV", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#WERT!", "#BEZUG!",
                 "#ZAHL!", "#NAME?", "#NULL!", "#GETTING_DATA", "#SPILL!", "#ÜBERLAUF!", "#CALC!", "#BERECHNEN!")


def _read_xlsx(path: Path, src: dict) -> ReadResult:
    header_row = src.get("header_row", 1)
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # zip/xml errors of a broken or renamed file
        return ReadResult(None, [Failure("file", f"Die Excel-Datei ist nicht lesbar ({type(exc).__name__}: "
                                                 f"{_short(exc, 200)})")])
    with book:
        sheets = list(book.sheet_names)
        sheet = src.get("sheet")
        if sheet is None and len(sheets) > 1:
            return ReadResult(None, [Failure(
                "ambiguous", f"Die Arbeitsmappe hat {len(sheets)} Tabellenblätter ({_listing(sheets)}), der Vertrag "
                             f"nennt keines. Welches gemeint ist, ist nicht eindeutig: bitte source.sheet im Vertrag "
                             f"angeben.")])
        if isinstance(sheet, str) and sheet not in sheets:
            return ReadResult(None, [Failure("file", f"Tabellenblatt „{_short(sheet)}“ fehlt in der Arbeitsmappe; "
                                                     f"vorhanden: {_listing(sheets)}.")])
        if isinstance(sheet, int) and not 0 <= sheet < len(sheets):
            return ReadResult(None, [Failure("file", f"Tabellenblatt Nr. {sheet} fehlt (die Arbeitsmappe hat "
                                                     f"{len(sheets)}: {_listing(sheets)}).")])
        chosen = sheet if sheet is not None else 0
        try:
            header = pd.read_excel(book, sheet_name=chosen, header=None, skiprows=header_row - 1, nrows=1, dtype=object)
            frame = pd.read_excel(book, sheet_name=chosen, header=header_row - 1, dtype=object)
        except ValueError as exc:
            return ReadResult(None, [Failure("file", f"Tabellenblatt nicht lesbar: {_short(exc, 200)}")])
        except Exception as exc:  # noqa: BLE001 - a broken workbook
            return ReadResult(None, [Failure("file", f"Die Excel-Datei ist nicht lesbar ({type(exc).__name__}: "
                                                     f"{_short(exc, 200)})")])
    names = [str(c).strip() for c in header.iloc[0].tolist()] if len(header) else []
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if name and name != "nan" and name in seen:
            return ReadResult(None, [Failure(
                "ambiguous", f"Die Spalte „{_short(name)}“ steht zweimal in der Kopfzeile (Spalte {seen[name]} und {i}) "
                             f"– welche gemeint ist, ist nicht eindeutig. Bitte eine umbenennen oder entfernen.",
                row=header_row, column=name)])
        seen.setdefault(name, i)
    frame.columns = [unicodedata.normalize("NFC", str(c).strip()) for c in frame.columns]
    frame.insert(0, ROW, np.arange(header_row + 1, header_row + 1 + len(frame)))
    data = frame.drop(columns=ROW)
    blank = data.isna().all(axis=1)
    frame = frame.loc[~blank].copy()
    changed = 0
    for col in frame.columns[1:]:
        values = frame[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
        normal = values.map(lambda v: unicodedata.normalize("NFC", v) if isinstance(v, str) else v)
        changed += int((normal != values).sum())
        frame[col] = normal
    notes = []
    if changed:
        notes.append(f"{format_number(changed)} Wert(e) in die Unicode-Normalform NFC gebracht (zerlegte Zeichen "
                     f"wie „u“ + „¨“ zu „ü“ zusammengesetzt; Inhalt unverändert)")
    return ReadResult(frame, [], notes)


def _listing(names, limit: int = 10) -> str:
    shown = ", ".join(f"„{_short(n, 40)}“" for n in names[:limit])
    return shown + (f" und {len(names) - limit} weitere" if len(names) > limit else "")


# --- Geodata ----------------------------------------------------------------

def _read_geo(path: Path, src: dict) -> ReadResult:
    import geopandas as gpd
    from pyproj import CRS

    kwargs = {"layer": src["layer"]} if src.get("layer") else {}
    if not src.get("layer") and src["format"] in ("gpkg", "shapefile_zip"):
        layers = _layers(path, src["format"])
        if len(layers) > 1:
            what = "Layer" if src["format"] == "gpkg" else "Shapefiles"
            return ReadResult(None, [Failure(
                "ambiguous", f"Die Datei enthält {len(layers)} {what} ({_listing(layers)}), der Vertrag nennt keinen. "
                             f"Welcher gemeint ist, ist nicht eindeutig: bitte source.layer im Vertrag angeben.")])
    try:
        frame = gpd.read_file(path, **kwargs)
    except Exception as exc:
        return ReadResult(None, [Failure("file", f"Die Geodaten-Datei ist nicht lesbar ({type(exc).__name__}: "
                                                 f"{_short(exc, 200)})")])
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


def _layers(path: Path, fmt: str) -> list[str]:
    """Layer names of a GeoPackage, or the shapefiles inside a zip ([] if it cannot be told)."""
    if fmt == "shapefile_zip":
        import zipfile
        with contextlib.suppress(OSError, zipfile.BadZipFile):
            with zipfile.ZipFile(path) as archive:
                return sorted(n for n in archive.namelist()
                              if n.lower().endswith(".shp") and not Path(n).name.startswith(("._", ".")))
        return []
    with contextlib.suppress(Exception):
        import pyogrio
        return [str(row[0]) for row in pyogrio.list_layers(path)]
    return []


# --- shaping common to all formats ---------------------------------------------

def _shape(result: ReadResult, contract: Contract, path: Path | None = None) -> None:
    """Apply the contract's column options: footer rows, dropped rows, renames, derivations, reshape."""
    shaping = _Shaping(contract, path)
    if result.skipped is not None and len(result.skipped):
        shaping.skipped.append(result.skipped)
    try:
        result.frame = _shape_frame(result.frame, contract.source, shaping)
    except _NoDistricts as exc:
        result.frame = None
        result.failures.append(exc.failure)
        return
    result.notes.extend(shaping.notes())
    result.failures = shaping.kept(result.failures) + shaping.failures()


class _NoDistricts(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


def parse_line_ranges(ranges) -> list[tuple[int, int]]:
    """``source.skip_lines`` (["1-3", "250-260", 7]) as (first, last) pairs; ValueError if malformed."""
    pairs = []
    for item in ranges or []:
        match = re.fullmatch(r"\s*(\d+)\s*(?:[-–]\s*(\d+)\s*)?", str(item))
        if not match:
            raise ValueError(item)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if first < 1 or last < first:
            raise ValueError(item)
        pairs.append((first, last))
    return pairs


def _ranges_text(rows: list[int]) -> str:
    """1, 2, 3, 7, 9, 10 -> "1–3, 7, 9–10" (runs of consecutive numbers)."""
    parts, start, prev = [], None, None
    for row in rows:
        if start is None:
            start = prev = row
        elif row == prev + 1:
            prev = row
        else:
            parts.append(f"{start}–{prev}" if prev != start else str(start))
            start = prev = row
    if start is not None:
        parts.append(f"{start}–{prev}" if prev != start else str(start))
    return ", ".join(parts)


class _Shaping:
    """What shaping left out or changed, over all chunks of one file: rows left out by
    ``source.skip_lines`` and ``source.drop_rows`` (for the notes and the field counts) and district
    names turned into codes (``source.district_names``: corrections and unknown names)."""

    def __init__(self, contract: Contract, path: Path | None = None):
        src = contract.source
        self.contract, self.file = contract, (path.name if path is not None else src.get("path", ""))
        self.rules = list(src.get("drop_rows") or [])
        self.rows: list[list[np.ndarray]] = [[] for _ in self.rules]
        self.line_ranges = parse_line_ranges(src.get("skip_lines"))
        self.skipped: list[np.ndarray] = []
        self.names_spec = src.get("district_names")
        self._lookup = None
        self.missing = {str(v).strip() for v in contract.missing_values}
        # district names: (row, column, original, matched name, code) of each correction; unknown names
        self.corrected: list[tuple[int, str, str, str, int]] = []
        self.unknown: list[tuple[int, str, str]] = []

    # --- district names ---------------------------------------------------------------------------
    def lookup(self):
        if self._lookup is None:
            from bif_lib.city.district_names import profile_lookup

            try:
                self._lookup = profile_lookup(self.contract)
            except (ValueError, OSError) as exc:  # ContractError of the profile, AmbiguousNames
                raise _NoDistricts(Failure("district_name", f"Stadtteilnamen können nicht zugeordnet werden: "
                                                            f"{_short(exc, 2000)}")) from None
        return self._lookup

    def map_names(self, frame: pd.DataFrame, origin: str, target: str) -> pd.DataFrame:
        lookup = self.lookup()
        text = frame[origin].astype("string").fillna("")
        stripped = text.str.strip()
        present = ~stripped.isin(list(self.missing)).to_numpy(bool)
        distinct = pd.unique(text[present].to_numpy(dtype=object))
        matches = lookup.match([str(v) for v in distinct])
        codes = {v: str(m.code) for v, m in matches.items() if m.code is not None}
        values = text.to_numpy(dtype=object)
        rows = frame[ROW].to_numpy()
        out = np.array([codes.get(v, "") if p else "" for v, p in zip(values, present)], dtype=object)
        for i in np.flatnonzero(present):
            match = matches[values[i]]
            if match.code is None:
                self.unknown.append((int(rows[i]), origin, values[i]))
            elif match.corrected:
                self.corrected.append((int(rows[i]), origin, values[i], match.name, match.code))
        frame = frame.copy() if target in frame.columns else frame
        frame[target] = pd.array(out, dtype="string[pyarrow]")
        return frame

    def failures(self) -> list[Failure]:
        """The district names' failures: one error per unknown name, one warning per correction."""
        if not self.names_spec or (not self.unknown and not self.corrected):
            return []
        lookup = self._lookup
        label = getattr(lookup, "label", "Stadtteil")
        allowed = list(getattr(lookup, "allowed", []))
        listed = ", ".join(f"„{name}“" for name in allowed)
        out = []
        for row, column, value in self.unknown:
            out.append(Failure("district_name", f"{self.file}: „{_visible(value)}“ ist "
                                                f"kein {label} des Stadtprofils. Erlaubt sind die {len(allowed)} Namen "
                                                f"{listed} (Groß-/Kleinschreibung, Leerraum und ae/oe/ue/ss statt "
                                                f"ä/ö/ü/ß werden ausgeglichen).", column=column, row=row, value=value))
        for row, column, value, name, code in self.corrected:
            out.append(Failure("district_name", f"{self.file}: „{_visible(value)}“ als "
                                                f"„{name}“ gelesen ({label} {code})", column=column, row=row,
                               value=value, severity="warning"))
        return out

    def _name_notes(self) -> list[str]:
        if not self.corrected:
            return []
        pairs: dict[tuple[str, str], int] = {}
        for _, _, value, name, _ in self.corrected:
            pairs[(value, name)] = pairs.get((value, name), 0) + 1
        shown = "; ".join(f"„{_visible(v)}“ → „{n}“ ({format_number(c)}×)" for (v, n), c in pairs.items())
        return [f"{format_number(len(self.corrected))} Stadtteilname(n) in {self.file} an die Schreibweise des "
                f"Stadtprofils angeglichen: {shown}"]

    # --- left-out rows ----------------------------------------------------------------------------
    def notes(self) -> list[str]:
        notes = []
        if self.line_ranges:
            rows = sorted(np.concatenate(self.skipped).tolist()) if self.skipped else []
            ranges = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in self.line_ranges)
            notes.append(f"{format_number(len(rows))} Zeile(n) laut source.skip_lines ({ranges}) ausgelassen"
                         + (f" (Zeile {_ranges_text(rows)})" if rows else ""))
        for rule, parts in zip(self.rules, self.rows):
            rows = np.concatenate(parts).tolist() if parts else []
            if rows:
                listed = ", ".join(map(str, rows[:20])) + (f" und {len(rows) - 20} weitere" if len(rows) > 20 else "")
                notes.append(f"{len(rows)} Zeile(n) ausgelassen, weil „{rule['column']}“ dem Muster "
                             f"„{rule['pattern']}“ entspricht (Zeile {listed})")
        return notes + self._name_notes()

    def skips(self, row: int | None) -> bool:
        return row is not None and any(a <= row <= b for a, b in self.line_ranges)

    def kept(self, failures: list[Failure]) -> list[Failure]:
        """``failures`` without the field counts of dropped lines (a dropped footnote is not judged)."""
        parts = [part for rule_parts in self.rows for part in rule_parts]
        dropped = set(np.concatenate(parts).tolist()) if parts else set()
        if not dropped and not self.line_ranges:
            return failures
        return [f for f in failures
                if not (f.rule == "field_count" and (f.row in dropped or self.skips(f.row)))]


def _shape_frame(frame: pd.DataFrame, src: dict, shaping: _Shaping) -> pd.DataFrame:
    """The column options applied to ``frame`` (the whole file or a chunk of its rows: each row is
    shaped on its own, a reshaped row stays in place)."""
    if src.get("skip_footer_rows") and src["format"] != "csv":  # CSV: cut before parsing
        frame = frame.iloc[: max(len(frame) - src["skip_footer_rows"], 0)]
    if shaping.line_ranges and ROW in frame.columns:
        rows = frame[ROW].to_numpy()
        hit = np.zeros(len(frame), bool)
        for first, last in shaping.line_ranges:
            hit |= (rows >= first) & (rows <= last)
        if hit.any():
            shaping.skipped.append(rows[hit])
            frame = frame.loc[~hit]
    for i, rule in enumerate(shaping.rules):
        column = rule["column"]
        if column in frame.columns:
            hit = frame[column].astype(str).str.contains(rule["pattern"], regex=True, na=False)
            if hit.any():
                shaping.rows[i].append(frame.loc[hit, ROW].to_numpy())
                frame = frame.loc[~hit]
    rename = src.get("rename") or {}
    frame = frame.rename(columns=rename)
    for name, spec in (src.get("derive") or {}).items():
        origin = rename.get(spec["from"], spec["from"])  # the source name or the renamed one
        if origin in frame.columns:
            frame[name] = frame[origin].astype(str).str.extract(spec["pattern"], expand=False)
    names = src.get("district_names")
    if names:
        origin = rename.get(names["column"], names["column"])
        if origin in frame.columns:
            frame = shaping.map_names(frame, origin, names.get("to", origin))
    # dropped after deriving, so that a column can be derived from and then left out
    drop = {rename.get(c, c) for c in src.get("drop_columns") or []}
    frame = frame.drop(columns=[c for c in frame.columns if c in drop])
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
    return frame.reset_index(drop=True)
