"""Column-level checks: turning source text into typed columns and checking field constraints.

Everything is vectorised over whole columns (numpy/pandas); a check computes one boolean
mask of offending rows and hands it to the report as a batch, so 1M rows cost a few
array operations per rule. Messages are German, for data stewards.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import date, datetime
from datetime import time as dt_time

import numpy as np
import pandas as pd

from bif_lib.contracts import Field
from bif_lib.validation.report import FailureBatch

TRUE_WORDS = {"true", "1", "ja", "j", "wahr", "x", "yes", "y"}
FALSE_WORDS = {"false", "0", "nein", "n", "falsch", "no"}
TYPE_LABELS = {"integer": "keine ganze Zahl", "year": "keine Jahreszahl", "number": "keine Zahl",
               "boolean": "kein Wahrheitswert (ja/nein)", "date": "kein Datum", "datetime": "kein Zeitpunkt",
               "string": "kein Text"}


def _literal(value) -> str:
    """Text from a contract (pattern, allowed values, format) placed into a {value} message template."""
    return str(value).replace("{", "{{").replace("}", "}}")


def _batch(rule, column, frame_rows, mask, values, message, rule_id=None, severity="error") -> FailureBatch:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return FailureBatch(rule, column, frame_rows[idx], _take(values, idx), message, severity, rule_id)


def _take(values, idx: np.ndarray) -> np.ndarray:
    """The offending values only: converting a whole 1M-row column to objects costs more than the check."""
    if not len(idx):
        return np.array([], dtype=object)
    if isinstance(values, pd.Series):
        return values.iloc[idx].to_numpy(dtype=object)
    return np.asarray(values, dtype=object)[idx]


def _strip(text: pd.Series) -> pd.Series:
    """``text.str.strip()`` – skipped when no cell can hold whitespace, the usual case for codes,
    numbers and dates: all bytes of the column's Arrow data are printable ASCII (0x21–0x7E) then,
    and every whitespace character (ASCII or Unicode) has a byte outside that range."""
    array = _arrow_text(text)
    if array is None or _has_blanks(array):
        return text.str.strip()
    return text


def _arrow_text(series: pd.Series):
    """The Arrow (chunked) string array behind a text column, or None: working on it directly
    avoids converting a whole column to pandas' large strings (a copy per check)."""
    import pyarrow as pa

    array = getattr(series.array, "_pa_array", None)
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    return None


def single_chunk(series: pd.Series) -> pd.Series:
    """An Arrow-backed text column as one contiguous array (the same values and dtype): the
    snapshot's read copy needs one record batch, and combining chunks there would copy every text
    column while the whole typed frame is held."""
    import pyarrow as pa

    array = getattr(series.array, "_pa_array", None)
    if not isinstance(array, pa.ChunkedArray) or array.num_chunks <= 1:
        return series
    combined = type(series.array)(pa.chunked_array([array.combine_chunks()], array.type))
    if combined.dtype != series.dtype:
        return series
    return pd.Series(combined, index=series.index, name=series.name, copy=False)


def _has_blanks(array) -> bool:
    """Could any cell of this Arrow string array hold whitespace (a byte outside 0x21–0x7E)?"""
    import pyarrow as pa

    for chunk in (array.chunks if isinstance(array, pa.ChunkedArray) else [array]):
        if len(chunk) == 0:
            continue
        _, offsets, data = chunk.buffers()
        if data is None:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        bounds = np.frombuffer(offsets, dtype=width)[[chunk.offset, chunk.offset + len(chunk)]]
        used = np.frombuffer(data, dtype=np.uint8)[bounds[0]:bounds[1]]
        if used.size and (used.min() <= 0x20 or used.max() >= 0x7F):
            return True
    return False


def missing_mask(series: pd.Series, missing_values: list[str]) -> np.ndarray:
    arrow = _arrow_text(series)
    if arrow is not None:
        import pyarrow.compute as pc

        stripped = pc.utf8_trim_whitespace(arrow) if _has_blanks(arrow) else arrow
        mask = pc.is_null(stripped)
        for token in missing_values:
            mask = pc.or_(mask, pc.fill_null(pc.equal(stripped, str(token)), False))
        return mask.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        stripped = _strip(series.astype("string"))
        mask = stripped.isna().to_numpy(dtype=bool)
        for token in missing_values:  # a few equality tests are several times faster than isin
            mask = mask | (stripped == str(token)).to_numpy(dtype=bool, na_value=False)
        return mask
    return series.isna().to_numpy(dtype=bool)


def coerce(series: pd.Series, field: Field, source: dict, rows: np.ndarray,
           missing: np.ndarray) -> tuple[pd.Series, np.ndarray, FailureBatch | None]:
    """Typed ``series``, the mask of values that did not parse (now missing) and their 'type' failure.

    Only what the contract declares is read, and only exactly: numbers with the declared decimal
    mark and (if declared) thousands separator between groups of three digits — ``1.234`` under
    decimal comma without a declared thousands separator is refused (1,234 or 1234?), as are
    ``21.4`` under decimal comma, infinities, typographic minus signs, non-ASCII digits, Excel
    error values and booleans or dates in number cells; dates as the declared format says (the
    default ISO format needs a full date), and no time of day in a date field. Each refused value
    gets its reason in the report."""
    kind = field.type
    if kind == "string":
        # always strip: pandas' own str dtype compares equal to "string", so a dtype test would skip it
        text = _strip(series.astype("string"))
        return (text.mask(missing) if missing.any() else text), np.zeros(len(series), bool), None
    explain = None
    if kind in ("integer", "year", "number"):
        if kind != "number" and pd.api.types.is_signed_integer_dtype(series.dtype):
            # already integers (typed frames, Parquet): nothing to parse, nothing to copy
            return series.astype("Int64"), np.zeros(len(series), bool), None
        if kind != "number" and series.dtype != object and pd.api.types.is_string_dtype(series.dtype) \
                and not missing.any():
            # text of plain integers (the usual CSV column): Arrow's integer cast, or None if any cell is not one
            ints = _arrow_to_int(series)
            if ints is not None:
                result = pd.Series(pd.arrays.IntegerArray(ints, np.zeros(len(ints), bool)), index=series.index,
                                   name=series.name, copy=False)
                return result, np.zeros(len(series), bool), None
        typed = _to_number(series, source, missing)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(typed) & ~missing
            typed = np.where(np.isinf(typed), np.nan, typed)
            if kind != "number":
                fractional = ~np.isnan(typed) & (typed != np.round(typed))
                inexact = np.abs(typed) > _EXACT_INTEGER  # beyond 2**53 a float is not the integer written
                bad |= fractional | inexact
                typed = np.where(fractional | inexact, np.nan, typed)
        if kind != "number":
            na = np.isnan(typed)
            out = pd.arrays.IntegerArray(np.where(na, 0, typed).astype("int64"), na)
            result = pd.Series(out, index=series.index, name=series.name, copy=False)
        else:
            result = pd.Series(typed, index=series.index, name=series.name, copy=False)
        explain = lambda value: explain_number(value, source, integer=kind != "number")  # noqa: E731
    elif kind == "boolean":
        text = _strip(series.astype("string")).str.lower()
        truthy, falsy = text.isin(TRUE_WORDS).to_numpy(bool), text.isin(FALSE_WORDS).to_numpy(bool)
        bad = ~(truthy | falsy) & ~missing
        arr = pd.array(truthy, dtype="boolean")
        arr[~(truthy | falsy)] = pd.NA
        result = pd.Series(arr, index=series.index, name=series.name)
    elif kind in ("date", "datetime"):
        fmt = field.format if field.format and field.format != "default" else source.get("date_format")
        if pd.api.types.is_datetime64_any_dtype(series):
            result = series
            bad = np.zeros(len(series), bool)
        else:
            # Excel date cells arrive as datetime objects: taken as they are, only text is parsed
            cells = np.fromiter((isinstance(v, (date, datetime)) for v in series.to_numpy(dtype=object)), bool,
                                len(series)) if series.dtype == object else np.zeros(len(series), bool)
            text = _strip(series.astype("string")).mask(missing | cells)
            if not fmt:
                # ISO 8601 would also read "2022" or "2022-12" (as 1 January, 1 December): a guess
                complete = text.str.fullmatch(_ISO_DATE if kind == "date" else _ISO_DATETIME)
                text = text.mask(~complete.fillna(True).to_numpy(bool))
            result = _parse_datetimes(text, fmt or "ISO8601")
            if cells.any():
                result[cells] = pd.to_datetime(series[cells].astype(object))
            bad = result.isna().to_numpy(bool) & ~missing
        if kind == "date" and not bad.all():
            normalized = result.dt.normalize()
            with_time = (result.notna() & (result != normalized)).to_numpy(bool, na_value=False)
            if with_time.any():  # a time of day in a date field would be dropped silently
                bad |= with_time
                normalized = normalized.mask(with_time)
            result = normalized
        explain = lambda value: explain_date(value, kind, fmt)  # noqa: E731
    else:  # guarded by the JSON Schema
        raise ValueError(kind)
    batch = None
    if bad.any():
        batch = _explained_batch("type", field.name, rows, bad, series, f"Wert „{{value}}“ ist {TYPE_LABELS[kind]}",
                                 explain)
    return result, bad, batch


_EXACT_INTEGER = 2 ** 53
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ]00:00(?::00(?:\.0+)?)?)?"
_ISO_DATETIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}.*)?"
# what a contract's thousands separator " " also stands for: no-break, narrow no-break and thin space
_SPACES = " \u00a0\u202f\u2009"
_MINUS_LOOKALIKES = "\u2212\u2012\u2013\u2014\ufe63\uff0d"
_EXCEL_ERRORS = {"#DIV/0!", "#N/A", "#NV", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#WERT!", "#BEZUG!",
                 "#ZAHL!", "#SPILL!", "#ÜBERLAUF!", "#CALC!", "#GETTING_DATA"}
MAX_EXPLAINED = 200  # per batch: reasons are worked out for the values the report lists


class ExplainedBatch(FailureBatch):
    """A batch whose listed failures each carry their own reason (``": reason"`` after the message)."""

    def __init__(self, *args, reasons: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.reasons = reasons

    def failures(self, limit: int | None = None):
        listed = super().failures(limit)
        for failure, reason in zip(listed, self.reasons):
            if reason:
                failure.message = f"{failure.message}: {reason}"
        return listed

    def _like(self, rows, values, parts: list[FailureBatch]) -> FailureBatch:
        # each part explains its first MAX_EXPLAINED values: the first MAX_EXPLAINED of all are among them
        reasons = [reason for part in parts for reason in getattr(part, "reasons", [])][:MAX_EXPLAINED]
        return ExplainedBatch(self.rule, self.column, rows, values, self.message, self.severity, self.rule_id,
                              reasons=reasons)


def _explained_batch(rule, column, frame_rows, mask, values, message, explain) -> FailureBatch:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    offending = _take(values, idx)
    reasons = [explain(v) if explain else "" for v in offending[:MAX_EXPLAINED]]
    return ExplainedBatch(rule, column, frame_rows[idx], offending, message, reasons=reasons)


def _mark(name: str | None, article: bool = False) -> str:
    if article:
        return {".": "ein Punkt „.“", ",": "ein Komma „,“"}.get(name, f"„{name}“")
    return {".": "Punkt „.“", ",": "Komma „,“", " ": "Leerzeichen", "'": "Hochkomma „'“"}.get(name, "keines")


def explain_number(value, source: dict, integer: bool = False) -> str:
    """Why ``value`` is not a number the contract can read exactly (German, names the fix)."""
    decimal, thousands = source.get("decimal", "."), source.get("thousands")
    if isinstance(value, (bool, np.bool_)):
        return "ein Wahrheitswert (WAHR/FALSCH) ist keine Zahl"
    if isinstance(value, (datetime, date, pd.Timestamp, dt_time)):
        return "die Zelle enthält ein Datum oder eine Uhrzeit (Zellformat in Excel prüfen)"
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not np.isfinite(value):
            return "kein endlicher Zahlenwert"
        if integer and abs(value) > _EXACT_INTEGER:
            return "zu groß, um als ganze Zahl exakt gespeichert zu werden (Kennungen als Text führen)"
        return "hat Nachkommastellen" if integer else ""
    text = str(value).strip()
    if text in _EXCEL_ERRORS:
        return f"ein Excel-Fehlerwert ({text}) – bitte die Formel in der Quelldatei korrigieren"
    if any(ch.isdigit() and not "0" <= ch <= "9" for ch in text):
        other = next(ch for ch in text if ch.isdigit() and not "0" <= ch <= "9")
        return (f"enthält die Ziffer „{other}“ (U+{ord(other):04X}, {unicodedata.name(other, 'unbekannt')}) – nur "
                f"die Ziffern 0–9 sind eindeutig; bitte mit normalen Ziffern liefern")
    if any(ch in _MINUS_LOOKALIKES for ch in text):
        other = next(ch for ch in text if ch in _MINUS_LOOKALIKES)
        return f"enthält „{other}“ (U+{ord(other):04X}) statt des Minuszeichens „-“; bitte mit „-“ liefern"
    if text.lower().lstrip("+-") in ("inf", "infinity", "nan", "unendlich"):
        return "kein endlicher Zahlenwert"
    special = next((ch for ch in text if ch in _SPACES[1:]), None)
    if special and thousands != " ":
        return (f"enthält ein besonderes Leerzeichen (U+{ord(special):04X}) als Tausendertrennzeichen; der Vertrag "
                f"erklärt als Tausendertrennzeichen {_mark(thousands)} (source.thousands)")
    plain = re.fullmatch(r"[+-]?[0-9., '\u00a0\u202f\u2009]*[0-9][0-9., '\u00a0\u202f\u2009]*(?:[eE][+-]?[0-9]+)?", text)
    if plain:
        other = "," if decimal == "." else "."
        if other in text and thousands != other:
            return (f"der Vertrag erklärt als Dezimalzeichen {_mark(decimal)} und als Tausendertrennzeichen "
                    f"{_mark(thousands)} – {_mark(other, article=True)} ist dort weder das eine noch das andere, "
                    f"der Wert ist also nicht eindeutig (ist „1{other}234“ eins Komma zwei drei vier oder "
                    f"tausendzweihundertvierunddreißig?). Bitte im vereinbarten Format liefern oder "
                    f"source.decimal/source.thousands im Vertrag anpassen")
        if thousands and (thousands in text or (thousands == " " and any(ch in _SPACES for ch in text))):
            return (f"das Tausendertrennzeichen {_mark(thousands)} steht nicht zwischen Dreiergruppen von Ziffern")
        if text.count(decimal) > 1:
            return f"enthält das Dezimalzeichen {_mark(decimal)} mehrmals"
        if " " in text:
            return "enthält ein Leerzeichen"
        if integer and decimal in text:
            return "hat Nachkommastellen"
    if re.fullmatch(number_pattern(source), text):
        normal = text.replace(thousands or "\0", "").replace(decimal, ".")
        with contextlib.suppress(ValueError):
            magnitude = abs(float(normal))
            if not np.isfinite(magnitude):
                return "zu groß: kein endlicher Zahlenwert"
            if integer and magnitude > _EXACT_INTEGER:
                return "zu groß, um als ganze Zahl exakt gespeichert zu werden (Kennungen als Text führen)"
    return ""


def explain_date(value, kind: str, fmt: str | None) -> str:
    """Why ``value`` is not a date/datetime the contract can read exactly (German)."""
    if isinstance(value, (datetime, pd.Timestamp)) and kind == "date":
        return "enthält eine Uhrzeit; das Feld ist ein Datum (type: date) – die Uhrzeit ginge verloren"
    text = str(value).strip()
    if not fmt:
        if re.fullmatch(r"[0-9]{4}(?:-[0-9]{2})?", text):
            return "unvollständiges Datum (erwartet JJJJ-MM-TT, Vertrag ohne date_format)"
        if kind == "date" and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ].*", text):
            return "enthält eine Uhrzeit; das Feld ist ein Datum (type: date) – die Uhrzeit ginge verloren"
        return "erwartet JJJJ-MM-TT (ISO 8601; ein anderes Format im Vertrag unter source.date_format angeben)"
    return f"erwartet das Format {fmt} (Datumsformat im Vertrag)"


def _parse_datetimes(text: pd.Series, fmt: str) -> pd.Series:
    """Parse text to naive local times; times with an offset become Europe/Berlin wall time."""
    try:
        result = _parse_datetime_slices(text, fmt)
        if result is None:
            result = pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:
        # offsets differ (summer and winter time) or times with and without offset are mixed:
        # pandas refuses the column, so each value is parsed on its own
        def one(value):
            stamp = pd.to_datetime(value, format=fmt, errors="coerce")
            return stamp.tz_convert("Europe/Berlin").tz_localize(None) if stamp is not pd.NaT and stamp.tzinfo else stamp
        result = pd.to_datetime(text.astype(object).map(one, na_action="ignore"))
    if getattr(result.dt, "tz", None) is not None:
        result = result.dt.tz_convert("Europe/Berlin").dt.tz_localize(None)
    return result


DATETIME_SLICE = 100_000


def _parse_datetime_slices(text: pd.Series, fmt: str) -> pd.Series | None:
    """``pd.to_datetime(text, format=fmt, errors="coerce")`` slice by slice: pandas turns the text
    into one Python string per cell first (about 60 bytes each), for a 1M-row column more than the
    whole typed column. The slices' result is taken only when every slice gave naive times of the
    same resolution (then it is the whole column's result); otherwise None (parse it whole)."""
    if len(text) <= DATETIME_SLICE:
        return None
    parts = []
    for start in range(0, len(text), DATETIME_SLICE):
        part = pd.to_datetime(text.iloc[start:start + DATETIME_SLICE], format=fmt, errors="coerce")
        if not pd.api.types.is_datetime64_dtype(part.dtype) or (parts and part.dtype != parts[0].dtype):
            return None  # offsets, or a slice of another resolution (e.g. all missing)
        parts.append(part)
    return pd.concat(parts)


def _to_number(series: pd.Series, source: dict, missing: np.ndarray | None = None) -> np.ndarray:
    """Float64 values (NaN: missing or not a number the contract can read). Cells in ``missing``
    are not parsed: they are NaN."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_bool_dtype(series):
        return np.full(len(series), np.nan)  # booleans are no numbers
    if missing is not None and missing.any():
        out = np.full(len(series), np.nan)
        keep = ~missing
        out[keep] = _to_number(series[keep], source)
        return out
    if series.dtype != object:  # text (str/string dtype): no per-cell Python objects needed
        return _parse_text_numbers(series if _arrow_text(series) is not None else series.astype("string"), source)
    values = series.to_numpy(dtype=object)
    if len(values) and not all(isinstance(v, str) for v in values[:1000]):
        # Excel cells: numbers come as numbers; only text cells need parsing as the contract says.
        # Booleans, dates and times in a number column are refused (NaN), not converted.
        is_text = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
        is_number = np.fromiter((isinstance(v, (int, float, np.integer, np.floating))
                                 and not isinstance(v, (bool, np.bool_)) for v in values), bool, len(values))
        out = np.full(len(values), np.nan)
        if is_number.any():
            out[is_number] = np.array([float(v) for v in values[is_number]], dtype="float64")
        if is_text.any():
            out[is_text] = _parse_text_numbers(pd.Series(values[is_text], dtype="string"), source)
        return out
    return _parse_text_numbers(series.astype("string"), source)


def parse_numbers(series: pd.Series, source: dict) -> np.ndarray:
    """Float64 values of a text column read as a number field under the contract's ``source``
    (decimal mark, thousands separator) exactly as ``coerce`` reads them; NaN for a cell that is no
    such number (also infinities). ``bif contract draft`` types columns with it, so that a draft
    calls a column a number exactly when the ingest reads it as one."""
    typed = _to_number(series, source)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(typed), typed, np.nan)


def number_pattern(source: dict) -> str:
    """The regular expression (RE2 and Python) of a number as the contract declares it."""
    decimal, thousands = source.get("decimal", "."), source.get("thousands")
    d = re.escape(decimal)
    if thousands:
        t = f"[{_SPACES}]" if thousands == " " else re.escape(thousands)
        integer = rf"(?:[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)"
    else:
        integer = "[0-9]+"
    return rf"[+-]?(?:{integer}(?:{d}[0-9]*)?|{d}[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _parse_text_numbers(text: pd.Series, source: dict) -> np.ndarray:
    """Numbers written as the contract declares them (NaN for every other cell, including blanks)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    thousands, decimal = source.get("thousands"), source.get("decimal", ".")
    if not thousands:
        # Fast path: Arrow's cast succeeds only if every cell is a number without surrounding
        # blanks (it also reads inf/nan, which the caller refuses); under decimal comma only if
        # no cell has a point, which would be ambiguous.
        arrow = _arrow_text(text)
        if arrow is None:
            arrow = pa.array(text.array)
        if decimal == ",":
            if not pc.any(pc.match_substring(arrow, ".")).as_py():
                fast = _arrow_to_float(pd.Series(pd.arrays.ArrowExtensionArray(
                    pc.replace_substring(arrow, ",", ".")), copy=False))
                if fast is not None:
                    return fast
        else:
            fast = _arrow_to_float(text)
            if fast is not None:
                return fast
    text = _strip(text)
    valid = text.str.fullmatch(number_pattern(source)).fillna(False).to_numpy(bool)
    text = text.where(valid, "x")
    if thousands == " ":
        text = text.str.replace(f"[{_SPACES}]", "", regex=True)
    elif thousands:
        text = text.str.replace(thousands, "", regex=False)
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    return _text_to_float(text)


def _arrow_to_float(text: pd.Series) -> np.ndarray | None:
    """Float64 via Arrow's cast, or None if any cell is not a number to Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = _arrow_text(text)
        if array is None:
            array = pa.array(text.astype("string").array)
        return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None


def _arrow_to_int(text: pd.Series) -> np.ndarray | None:
    """Int64 via Arrow's cast (digits, optional minus sign), or None if any cell is not such an integer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = _arrow_text(text)
        if array is None:
            array = pa.array(text.astype("string").array)
        if array.null_count:
            return None
        return pc.cast(array, pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None


_PLAIN_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _text_to_float(text: pd.Series) -> np.ndarray:
    """``pd.to_numeric(text, errors="coerce")`` as float64, with a fast path through Arrow's cast.

    Checked against pandas on plain decimals, exponents, inf/nan spellings, signs, blanks
    and junk: what Arrow accepts, pandas parses to the same value (Arrow refuses surrounding
    blanks, which pandas accepts); pandas' own parser goes through Python objects and is
    ~10x slower. When the cast raises, the plain decimal numbers still take the fast path
    and only the remaining cells go to pandas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = text.astype("string")
    fast = _arrow_to_float(text)
    if fast is not None:
        return fast
    out = np.full(len(text), np.nan)
    plain = text.str.fullmatch(_PLAIN_NUMBER).fillna(False).to_numpy(bool)
    if plain.any():
        out[plain] = pc.cast(pa.array(text[plain].array), pa.float64()).to_numpy(zero_copy_only=False)
    rest = ~plain & (text.notna() & (text != "")).to_numpy(bool)
    if rest.any():
        out[rest] = pd.to_numeric(text[rest], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return out


# --- constraints ---------------------------------------------------------------

# the order in which ``constraint_batches`` reports a field's constraints (after its ``type`` failures)
CONSTRAINT_ORDER = ("required", "unique", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum")


def constraint_batches(column: pd.Series, field: Field, rows: np.ndarray, missing: np.ndarray,
                       type_bad: np.ndarray, unique: bool = True) -> list[FailureBatch]:
    """Failures of the field's constraints, in ``CONSTRAINT_ORDER``. ``unique=False`` leaves out
    ``unique``, the one constraint that compares rows (for checking a file chunk by chunk)."""
    c = field.constraints
    values = column  # offending values are taken from it only when a check fails
    present = ~missing & ~type_bad
    numbers = None
    out = []
    if c.get("required") and missing.any():
        out.append(_batch("required", field.name, rows, missing, values, "Pflichtwert fehlt"))
    if c.get("unique") and unique:
        batch = unique_batch(column, field, rows, present)
        if batch is not None:
            out.append(batch)
    if field.type in ("integer", "year", "number", "date", "datetime"):
        for key, op, word in (("minimum", np.less, "kleiner als das Minimum"), ("maximum", np.greater, "größer als das Maximum")):
            if key in c:
                limit = c[key]
                if field.type in ("date", "datetime"):
                    arr = column.to_numpy(dtype="datetime64[ns]")
                    bad = op(arr, np.datetime64(pd.Timestamp(limit))) & present
                else:
                    if numbers is None:
                        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
                    with np.errstate(invalid="ignore"):
                        bad = op(numbers, float(limit)) & present
                if bad.any():
                    out.append(_batch(key, field.name, rows, bad, values, f"Wert {{value}} ist {word} {_literal(limit)}"))
    if field.type == "string":
        text = column.astype("string")
        if "minLength" in c or "maxLength" in c:
            lengths = text.str.len().to_numpy(dtype="float64", na_value=np.nan)
        if "minLength" in c:
            bad = (lengths < c["minLength"]) & present
            if bad.any():
                out.append(_batch("minLength", field.name, rows, bad, values, f"Text „{{value}}“ ist kürzer als {c['minLength']} Zeichen"))
        if "maxLength" in c:
            bad = (lengths > c["maxLength"]) & present
            if bad.any():
                out.append(_batch("maxLength", field.name, rows, bad, values, f"Text „{{value}}“ ist länger als {c['maxLength']} Zeichen"))
        if "pattern" in c:
            ok = _per_distinct(text, lambda t: t.str.fullmatch(c["pattern"]).fillna(False).to_numpy(bool))
            bad = ~ok & present
            if bad.any():
                out.append(_batch("pattern", field.name, rows, bad, values, f"Wert „{{value}}“ entspricht nicht dem Muster {_literal(c['pattern'])}"))
    if "enum" in c:
        allowed = c["enum"]
        if field.type in ("integer", "year", "number"):
            arr = column.to_numpy(dtype="float64", na_value=np.nan)
            bad = ~np.isin(arr, np.array(allowed, dtype="float64")) & present
        else:
            bad = ~column.astype("string").isin([str(a) for a in allowed]).to_numpy(bool) & present
        if bad.any():
            out.append(_batch("enum", field.name, rows, bad, values,
                              f"Wert „{{value}}“ ist nicht erlaubt ({allowed_text(allowed)})"))
    return out


def allowed_text(allowed) -> str:
    """The allowed values of an ``enum`` for a message template, always all of them (a steward must
    see the value meant), with their count when there are many."""
    listed = ", ".join(map(str, allowed))
    return _literal(f"erlaubt: {listed}" if len(allowed) <= 15 else f"erlaubt sind diese {len(allowed)} Werte: {listed}")


def unique_batch(column: pd.Series, field: Field, rows: np.ndarray, present: np.ndarray) -> FailureBatch | None:
    """Values of a ``unique`` field that occur more than once (among the present ones)."""
    dup = _duplicated(column) & present
    if not dup.any():
        return None
    return _batch("unique", field.name, rows, dup, column, "Wert „{value}“ kommt mehrfach vor")


def _per_distinct(text: pd.Series, check) -> np.ndarray:
    """``check(text)`` (a bool array per cell), evaluated once per distinct value when the column
    repeats its values, as codes and categories do: a regex over 30 district codes instead of
    1M cells. Missing cells get False; callers only judge present values."""
    sample = text.iloc[:10_000]
    if sample.nunique() > len(sample) // 2:  # mostly distinct (ids, names): factorising would not pay
        return check(text)
    codes, distinct = pd.factorize(text)  # code -1: missing
    return np.append(check(pd.Series(distinct, copy=False)), False)[codes]


def geometry_batches(geoms, field: Field, rows: np.ndarray) -> list[FailureBatch]:
    import shapely

    arr = np.asarray(geoms)
    out = []
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    if field.required and missing.any():
        out.append(_batch("required", field.name, rows, missing, np.full(len(arr), None), "Geometrie fehlt"))
    present = ~missing
    if field.geometry_type:
        types = shapely.get_type_id(arr)
        names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                          "MultiPolygon", "GeometryCollection"], dtype=object)
        type_names = np.where(types >= 0, names[np.clip(types, 0, 7)], None)
        bad = ~np.isin(type_names, list(field.geometry_type)) & present
        if bad.any():
            out.append(_batch("geometry_type", field.name, rows, bad, type_names,
                              f"Geometrietyp {{value}} ist nicht erlaubt (erlaubt: {', '.join(field.geometry_type)})"))
    invalid = ~shapely.is_valid(arr) & present
    if invalid.any():
        reasons = np.array(shapely.is_valid_reason(arr), dtype=object)
        out.append(_batch("valid_geometry", field.name, rows, invalid, reasons, "Geometrie ist ungültig: {value}"))
    return out


def _labels(frame: pd.DataFrame) -> np.ndarray:
    """Key values of each row as "a / b" (vectorised; missing parts shown as "(leer)")."""
    parts = [frame[c].astype(str).fillna("(leer)") for c in frame.columns]
    label = parts[0]
    for part in parts[1:]:
        label = label + " / " + part
    return label.to_numpy(dtype=object)


def _duplicated(column: pd.Series) -> np.ndarray:
    """``column.duplicated(keep=False)`` as a bool array. Integer ids without gaps in their range
    (the usual record number) are counted with ``np.bincount`` and ascending ones need no
    counting at all, both several times faster than hashing 1M values."""
    if pd.api.types.is_signed_integer_dtype(column.dtype) and not column.hasnans and len(column) > 1:
        values = column.to_numpy(dtype="int64", copy=False)  # read only
        if (values[1:] > values[:-1]).all():
            return np.zeros(len(values), bool)
        low, high = int(values.min()), int(values.max())
        if high - low < 4 * len(values):
            offsets = values - low
            return np.bincount(offsets)[offsets] > 1
    return column.duplicated(keep=False).to_numpy(bool)


def _combined_integer_key(frame: pd.DataFrame, key: list[str]) -> np.ndarray | None:
    """Integer key columns without gaps as one int64 per row, equal exactly when all parts are
    equal (mixed radix over each column's range), or None (text, missing values, too wide):
    ``frame.duplicated(subset=key)`` hashes every column and their combination, several
    arrays of the frame's length at once, where one int64 column suffices."""
    code, span = None, 1
    for name in key:
        column = frame[name]
        if not _is_int(column) or column.hasnans:
            return None
        values = column.to_numpy(dtype="int64", copy=False)  # read only
        low, high = int(values.min()), int(values.max())
        width = high - low + 1
        if span * width >= 2 ** 62:
            return None
        values = values - low  # a new array: the frame's own is never changed
        if code is None:
            code = values
        else:
            code *= width
            code += values
        span *= width
    return code


def primary_key_batch(frame: pd.DataFrame, key: list[str], rows: np.ndarray) -> FailureBatch | None:
    if len(key) == 1:
        dup = _duplicated(frame[key[0]])
    else:
        combined = _combined_integer_key(frame, key) if len(frame) > 1 else None
        dup = _duplicated(pd.Series(combined, copy=False)) if combined is not None \
            else frame.duplicated(subset=key, keep=False).to_numpy(bool)
    if not dup.any():
        return None
    idx = np.flatnonzero(dup)  # labels only for the offending rows (a row-wise join of 1M rows takes seconds)
    labels = _labels(frame[key].iloc[idx])
    return FailureBatch("primary_key", ", ".join(key), rows[idx], labels,
                        f"Schlüssel ({', '.join(key)}) = {{value}} kommt mehrfach vor")


def foreign_key_batch(frame: pd.DataFrame, fields: tuple[str, ...], reference: pd.DataFrame | None,
                      ref_fields: tuple[str, ...], resource: str, rows: np.ndarray,
                      known=None) -> FailureBatch | None:
    """Rows whose key is missing from the reference. Each row is judged on its own, so a file can be
    checked chunk by chunk with ``known``, the reference's keys as ``reference_keys`` prepares them."""
    local = frame[list(fields)]
    present = local.notna().all(axis=1).to_numpy(bool)
    if reference is None:
        return FailureBatch("foreign_key", ", ".join(fields), np.array([None], dtype=object), [resource],
                            f"Referenzdatensatz „{resource}“ ist nicht im Datenbestand – bitte zuerst einspielen")
    if known is None:
        known = reference_keys(frame, fields, reference, ref_fields)
    if len(fields) == 1:
        column = local.iloc[:, 0]
        # integers on both sides: equal as text exactly when equal as numbers (no 1M str() calls)
        ok = (column if known[0] == "int" else column.astype(str)).isin(known[1]).to_numpy(bool)
        shown = column
    else:
        merged = local.astype(str).merge(known[1], how="left", on=list(fields))
        ok = merged["_hit"].notna().to_numpy(bool)
        shown = None
    bad = ~ok & present
    if not bad.any():
        return None
    if shown is None:  # labels of the offending rows only
        idx = np.flatnonzero(bad)
        shown = np.full(len(local), None, dtype=object)
        shown[idx] = _labels(local.iloc[idx])
    return _batch("foreign_key", ", ".join(fields), rows, bad, shown,
                  f"Wert „{{value}}“ ist im Datensatz „{resource}“ ({', '.join(ref_fields)}) nicht vorhanden")


def reference_keys(frame: pd.DataFrame, fields: tuple[str, ...], reference: pd.DataFrame,
                   ref_fields: tuple[str, ...]) -> tuple:
    """The reference's keys as ``foreign_key_batch`` compares ``frame``'s with them (depends on the
    dtypes of ``frame``'s key columns only)."""
    if len(fields) == 1:
        column, ref_column = frame[fields[0]], reference[ref_fields[0]]
        if _is_int(column) and _is_int(ref_column):
            return "int", ref_column.dropna().unique()
        return "str", pd.Index(ref_column.dropna().astype(str).unique())
    ref = reference[list(ref_fields)].dropna().astype(str).drop_duplicates()
    ref.columns = list(fields)
    return "rows", ref.assign(_hit=True)


def _is_int(series: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


