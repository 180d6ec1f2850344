"""Column-level checks: turning source text into typed columns and checking field constraints.

Everything is vectorised over whole columns (numpy/pandas); a check computes one boolean
mask of offending rows and hands it to the report as a batch, so 1M rows cost a few
array operations per rule. Messages are German, for data stewards.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..contracts import Field
from .report import FailureBatch

TRUE_WORDS = {"true", "1", "ja", "j", "wahr", "x", "yes", "y"}
FALSE_WORDS = {"false", "0", "nein", "n", "falsch", "no"}
TYPE_LABELS = {"integer": "eine ganze Zahl", "year": "eine Jahreszahl", "number": "eine Zahl",
               "boolean": "ein Wahrheitswert (ja/nein)", "date": "ein Datum", "datetime": "ein Zeitpunkt",
               "string": "ein Text"}


def _batch(rule, column, frame_rows, mask, values, message, rule_id=None, severity="error") -> FailureBatch:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    vals = np.asarray(values, dtype=object)[idx] if len(idx) else np.array([], dtype=object)
    return FailureBatch(rule, column, frame_rows[idx], vals, message, severity, rule_id)


def missing_mask(series: pd.Series, missing_values: list[str]) -> np.ndarray:
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        stripped = series.astype("string").str.strip()
        mask = stripped.isna() | stripped.isin(missing_values)
        return mask.to_numpy(dtype=bool)
    return series.isna().to_numpy(dtype=bool)


def coerce(series: pd.Series, field: Field, source: dict, rows: np.ndarray,
           missing: np.ndarray) -> tuple[pd.Series, np.ndarray, FailureBatch | None]:
    """Typed ``series``, the mask of values that did not parse (now missing) and their 'type' failure."""
    kind = field.type
    if kind == "string":
        text = series.astype("string").str.strip() if series.dtype != "string" else series
        return text.mask(missing), np.zeros(len(series), bool), None
    if kind in ("integer", "year", "number"):
        typed = _to_number(series, source)
        bad = np.isnan(typed) & ~missing
        if kind != "number":
            fractional = ~np.isnan(typed) & (typed != np.round(typed))
            bad |= fractional
            typed = np.where(fractional, np.nan, typed)
            out = pd.array(np.where(np.isnan(typed), 0, typed).astype("int64"), dtype="Int64")
            out[np.isnan(typed)] = pd.NA
            result = pd.Series(out, index=series.index, name=series.name)
        else:
            result = pd.Series(typed, index=series.index, name=series.name)
    elif kind == "boolean":
        text = series.astype("string").str.strip().str.lower()
        truthy, falsy = text.isin(TRUE_WORDS).to_numpy(bool), text.isin(FALSE_WORDS).to_numpy(bool)
        bad = ~(truthy | falsy) & ~missing
        arr = pd.array(truthy, dtype="boolean")
        arr[~(truthy | falsy)] = pd.NA
        result = pd.Series(arr, index=series.index, name=series.name)
    elif kind in ("date", "datetime"):
        if pd.api.types.is_datetime64_any_dtype(series):
            result = series
            bad = np.zeros(len(series), bool)
        else:
            fmt = field.format if field.format and field.format != "default" else source.get("date_format")
            text = series.astype("string").str.strip().mask(missing)
            result = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce")
            bad = result.isna().to_numpy(bool) & ~missing
        if kind == "date" and not bad.all():
            result = result.dt.normalize()
    else:  # guarded by the JSON Schema
        raise ValueError(kind)
    batch = None
    if bad.any():
        batch = _batch("type", field.name, rows, bad, series.to_numpy(dtype=object),
                       f"Wert „{{value}}“ ist nicht {TYPE_LABELS[kind]}"
                       + (f" (Format {source.get('date_format') or field.format})" if kind in ("date", "datetime") and (source.get('date_format') or field.format) else ""))
    return result, bad, batch


def _to_number(series: pd.Series, source: dict) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    values = series.to_numpy(dtype=object)
    if series.dtype == object and len(values) and not all(isinstance(v, str) for v in values[:1000]):
        # Excel cells: numbers come as numbers; only text cells need German parsing.
        is_text = np.fromiter((isinstance(v, str) for v in values), bool, len(values))
        out = np.full(len(values), np.nan)
        numeric = ~is_text
        out[numeric] = pd.to_numeric(pd.Series(values[numeric]), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if is_text.any():
            out[is_text] = _parse_text_numbers(pd.Series(values[is_text], dtype="string"), source)
        return out
    return _parse_text_numbers(series.astype("string"), source)


def _parse_text_numbers(text: pd.Series, source: dict) -> np.ndarray:
    text = text.str.strip()
    thousands, decimal = source.get("thousands"), source.get("decimal", ".")
    if thousands:
        # only strip separators that sit between digit groups of three, so that "1.5"
        # with thousands="." is not silently read as 15
        valid = text.str.fullmatch(rf"[+-]?\d{{1,3}}(\{thousands}\d{{3}})*(\{decimal}\d+)?|[+-]?\d+(\{decimal}\d+)?")
        text = text.where(valid.fillna(False), "x").str.replace(thousands, "", regex=False)
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


# --- constraints ---------------------------------------------------------------

def constraint_batches(column: pd.Series, field: Field, rows: np.ndarray, missing: np.ndarray,
                       type_bad: np.ndarray) -> list[FailureBatch]:
    c = field.constraints
    values = column.to_numpy(dtype=object)
    present = ~missing & ~type_bad
    out = []
    if c.get("required") and missing.any():
        out.append(_batch("required", field.name, rows, missing, values, "Pflichtwert fehlt"))
    if c.get("unique"):
        dup = column.duplicated(keep=False).to_numpy(bool) & present
        if dup.any():
            out.append(_batch("unique", field.name, rows, dup, values, "Wert „{value}“ kommt mehrfach vor"))
    if field.type in ("integer", "year", "number", "date", "datetime"):
        for key, op, word in (("minimum", np.less, "kleiner als das Minimum"), ("maximum", np.greater, "größer als das Maximum")):
            if key in c:
                limit = c[key]
                if field.type in ("date", "datetime"):
                    arr = column.to_numpy(dtype="datetime64[ns]")
                    bad = op(arr, np.datetime64(pd.Timestamp(limit))) & present
                else:
                    arr = column.to_numpy(dtype="float64", na_value=np.nan)
                    with np.errstate(invalid="ignore"):
                        bad = op(arr, float(limit)) & present
                if bad.any():
                    out.append(_batch(key, field.name, rows, bad, values, f"Wert {{value}} ist {word} {limit}"))
    if field.type == "string":
        text = column.astype("string")
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
            ok = text.str.fullmatch(c["pattern"]).fillna(False).to_numpy(bool)
            bad = ~ok & present
            if bad.any():
                out.append(_batch("pattern", field.name, rows, bad, values, f"Wert „{{value}}“ entspricht nicht dem Muster {c['pattern']}"))
    if "enum" in c:
        allowed = c["enum"]
        if field.type in ("integer", "year", "number"):
            arr = column.to_numpy(dtype="float64", na_value=np.nan)
            bad = ~np.isin(arr, np.array(allowed, dtype="float64")) & present
        else:
            bad = ~column.astype("string").isin([str(a) for a in allowed]).to_numpy(bool) & present
        if bad.any():
            shown = ", ".join(map(str, allowed[:15])) + (" …" if len(allowed) > 15 else "")
            out.append(_batch("enum", field.name, rows, bad, values, f"Wert „{{value}}“ ist nicht erlaubt (erlaubt: {shown})"))
    return out


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


def primary_key_batch(frame: pd.DataFrame, key: list[str], rows: np.ndarray) -> FailureBatch | None:
    dup = frame.duplicated(subset=key, keep=False).to_numpy(bool)
    if not dup.any():
        return None
    labels = frame[key].astype(str).agg(" / ".join, axis=1).to_numpy(dtype=object)
    return _batch("primary_key", ", ".join(key), rows, dup, labels,
                  f"Schlüssel ({', '.join(key)}) = {{value}} kommt mehrfach vor")


def foreign_key_batch(frame: pd.DataFrame, fields: tuple[str, ...], reference: pd.DataFrame | None,
                      ref_fields: tuple[str, ...], resource: str, rows: np.ndarray) -> FailureBatch | None:
    local = frame[list(fields)]
    present = local.notna().all(axis=1).to_numpy(bool)
    if reference is None:
        return FailureBatch("foreign_key", ", ".join(fields), np.array([None], dtype=object), [resource],
                            f"Referenzdatensatz „{resource}“ ist nicht im Datenbestand – bitte zuerst einspielen")
    if len(fields) == 1:
        known = pd.Index(reference[ref_fields[0]].dropna().astype(str).unique())
        ok = local.iloc[:, 0].astype(str).isin(known).to_numpy(bool)
        shown = local.iloc[:, 0].to_numpy(dtype=object)
    else:
        ref = reference[list(ref_fields)].dropna().astype(str).drop_duplicates()
        ref.columns = list(fields)
        merged = local.astype(str).merge(ref.assign(_hit=True), how="left", on=list(fields))
        ok = merged["_hit"].notna().to_numpy(bool)
        shown = local.astype(str).agg(" / ".join, axis=1).to_numpy(dtype=object)
    bad = ~ok & present
    if not bad.any():
        return None
    return _batch("foreign_key", ", ".join(fields), rows, bad, shown,
                  f"Wert „{{value}}“ ist im Datensatz „{resource}“ ({', '.join(ref_fields)}) nicht vorhanden")


