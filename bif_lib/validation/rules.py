"""Plausibility rules beyond single columns, declared in a contract's ``rules`` list.

=============================  ==============================================================
rule ``type``                  checks
=============================  ==============================================================
``sum_equals``                 parts add up to a total in every row (age groups = residents)
``aggregate_equals``           the sum of parts per group equals a total (districts = city),
                               from total rows of the same file or from another dataset
``complete_keys``              every expected combination of keys is present (every district
                               in every year)
``change_bounds``              relative change against the previous period stays in bounds
``valid_geometry``             geometries are valid (also implied for every geometry field)
``within_boundary``            geometries lie inside a reference boundary (e.g. the city)
``point_in_polygon_attribute`` a point lies in the area its attribute names (Kita in Stadtteil)
``dissolves_into``             sub-areas dissolve into their parent areas (Bezirke → Stadtteile)
=============================  ==============================================================

Each rule returns failure batches; ``severity: warning`` makes a rule report without
rejecting the data. Rows whose inputs are missing (e.g. suppressed cells) are not judged.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import pandas as pd

from ..i18n import format_number
from .report import FailureBatch

References = Callable[[str], "pd.DataFrame | None"]


def _rule_id(rule: dict) -> str:
    return f"{rule['type']}:{rule['id']}" if rule.get("id") else rule["type"]


def _batch(rule: dict, column, rows, values, message) -> FailureBatch:
    return FailureBatch(rule["type"], column, np.asarray(rows, dtype=object), list(values), message,
                        rule.get("severity", "error"), _rule_id(rule))


def _select(frame: pd.DataFrame, where: dict | None) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, condition in (where or {}).items():
        col = frame[column]
        if condition == "notnull":
            mask &= col.notna()
        elif condition == "isnull":
            mask &= col.isna()
        elif isinstance(condition, list):
            mask &= col.isin(condition)
        else:
            mask &= col == condition
    return mask.fillna(False)


def _missing_reference(rule: dict, dataset: str) -> list[FailureBatch]:
    return [_batch(rule, None, [None], [dataset],
                   f"Referenzdatensatz „{dataset}“ ist nicht im Datenbestand – Regel nicht prüfbar")]


# --- table rules ------------------------------------------------------------------

def _slack(total):
    # decimal fractions are not exact in binary floating point (0.1 + 0.2 != 0.3): a
    # difference far below any real discrepancy is no violation
    return 1e-9 * np.maximum(1.0, np.abs(total))


def _key(value):
    """Comparable key value: 1, 1.0 and numpy integers are the same key; text stays text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    return str(value)


def sum_equals(frame, rows, rule, references) -> list[FailureBatch]:
    # plain numpy: this runs on every row of large files
    total = frame[rule["total"]].to_numpy(dtype="float64", na_value=np.nan)
    sums = np.zeros(len(total))
    for column in rule["columns"]:
        sums += frame[column].to_numpy(dtype="float64", na_value=np.nan)
    judged = ~np.isnan(sums) & ~np.isnan(total)  # NaN in any part makes the sum NaN
    with np.errstate(invalid="ignore"):
        bad = (np.abs(sums - total) > rule.get("tolerance", 0) + _slack(total)) & judged
    if not bad.any():
        return []
    shown = [f"{format_number(float(s), None)} ≠ {format_number(float(t), None)}" for s, t in zip(sums[bad], total[bad])]
    return [_batch(rule, rule["total"], rows[bad], shown,
                   f"Summe von {' + '.join(rule['columns'])} ergibt nicht „{rule['total']}“: {{value}}")]


def aggregate_equals(frame, rows, rule, references) -> list[FailureBatch]:
    group_by, value = rule["group_by"], rule["value"]
    parts = frame[_select(frame, rule.get("parts"))]
    part_sums = parts.groupby(group_by, dropna=False)[value].sum(min_count=1)
    total_spec = rule["total"]
    if "rows" in total_spec:
        totals_frame = frame[_select(frame, total_spec["rows"])]
        total_value = value
    else:
        totals_frame = references(total_spec["dataset"])
        if totals_frame is None:
            return _missing_reference(rule, total_spec["dataset"])
        totals_frame = totals_frame[_select(totals_frame, total_spec.get("where"))]
        total_value = total_spec.get("value", value)
    totals = totals_frame.groupby(group_by, dropna=False)[total_value].sum(min_count=1)
    both = pd.concat([part_sums.rename("parts"), totals.rename("total")], axis=1, join="outer")
    def label(key) -> str:
        return ", ".join(f"{k}={v}" for k, v in zip(group_by, key if isinstance(key, tuple) else (key,)))

    batches = []
    if rule.get("require_total"):
        # Groups keyed on a missing value ("nicht zuordenbar") have no counterpart by nature.
        fully_keyed = both.index.to_frame().notna().all(axis=1).to_numpy()
        no_total = both[both["parts"].notna().to_numpy() & both["total"].isna().to_numpy() & fully_keyed]
        if not no_total.empty:
            batches.append(_batch(rule, value, [None] * len(no_total), [label(k) for k in no_total.index],
                                  "kein Gesamtwert für die Gruppe vorhanden, Summe der Teile nicht prüfbar: {value}"))
    both = both.dropna()
    diff = (both["parts"] - both["total"]).abs()
    bad = both[diff > rule.get("tolerance", 0) + _slack(both["total"].to_numpy(dtype="float64"))]
    if not bad.empty:
        shown = [f"{label(key)}: Summe {format_number(p, None)}, Gesamtwert {format_number(t, None)}"
                 for key, p, t in zip(bad.index, bad["parts"], bad["total"])]
        batches.append(_batch(rule, value, [None] * len(bad), shown,
                              f"Summe der Teile von „{value}“ weicht vom Gesamtwert ab (Toleranz "
                              f"{format_number(rule.get('tolerance', 0), None)}): {{value}}"))
    return batches


def complete_keys(frame, rows, rule, references) -> list[FailureBatch]:
    expected_values = {}
    for column, spec in rule["keys"].items():
        if "values" in spec:
            values = spec["values"]
        elif "dataset" in spec:
            ref = references(spec["dataset"])
            if ref is None:
                return _missing_reference(rule, spec["dataset"])
            values = ref[spec.get("column", column)].dropna().unique().tolist()
        else:  # from_data
            values = frame[column].dropna().unique().tolist()
        expected_values[column] = sorted(values, key=str)
    columns = list(expected_values)
    present = {tuple(map(_key, row)) for row in frame[columns].dropna().drop_duplicates().itertuples(index=False)}
    missing = [combo for combo in itertools.product(*expected_values.values())
               if tuple(map(_key, combo)) not in present]
    if not missing:
        return []
    shown = [", ".join(f"{c}={v}" for c, v in zip(columns, combo)) for combo in missing]
    return [_batch(rule, ", ".join(columns), [None] * len(missing), shown, "Schlüssel fehlt: {value}")]


def change_bounds(frame, rows, rule, references) -> list[FailureBatch]:
    key, order, column = rule["key"], rule["order_by"], rule["column"]
    data = pd.DataFrame({"_row": rows, "_pos": np.arange(len(frame))})
    data = pd.concat([data, frame[[*key, order, column]].reset_index(drop=True)], axis=1)
    data = data.dropna(subset=[order, column]).sort_values([*key, order], kind="stable")
    grouped = data.groupby(key, dropna=False)
    previous = grouped[column].shift(1).astype("float64")
    prev_order = grouped[order].shift(1)
    current = data[column].astype("float64")
    judged = previous.notna() & (previous.abs() >= rule.get("min_base", 1))
    if rule.get("consecutive_only", True):
        judged &= (data[order] - prev_order) == 1
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (current - previous) / previous.abs()
    bad = judged & (change.abs() > rule["max_relative_change"])
    if not bad.any():
        return []
    shown = [f"{format_number(p, None)} → {format_number(c, None)} ({'+' if ch > 0 else ''}{format_number(ch * 100, 1)} %)"
             for p, c, ch in zip(previous[bad], current[bad], change[bad])]
    return [_batch(rule, column, data.loc[bad, "_row"].to_numpy(), shown,
                   f"Veränderung von „{column}“ gegenüber der Vorperiode über "
                   f"{format_number(rule['max_relative_change'] * 100, 0)} %: {{value}}")]


# --- geodata rules ------------------------------------------------------------------

def valid_geometry(frame, rows, rule, references) -> list[FailureBatch]:
    # Checked for every geometry field by the engine; the rule exists so a contract can say so.
    return []


def _crs_mismatch(rule: dict, frame, ref) -> list[FailureBatch]:
    """Coordinates in different reference systems cannot be compared: one failure that says
    so, rather than every feature reported as lying outside."""
    if (frame.crs is None and ref.crs is None) or (frame.crs is not None and frame.crs.equals(ref.crs)):
        return []
    stated = frame.crs.to_string() if frame.crs is not None else "keines"
    return [_batch(rule, frame.geometry.name, [None], [stated],
                   f"Regel nicht prüfbar: Koordinatenreferenzsystem der Datei ({stated}) passt nicht zu "
                   f"„{rule['dataset']}“ ({ref.crs.to_string() if ref.crs is not None else 'keines'})")]


def within_boundary(frame, rows, rule, references) -> list[FailureBatch]:
    ref = references(rule["dataset"])
    if ref is None:
        return _missing_reference(rule, rule["dataset"])
    if mismatch := _crs_mismatch(rule, frame, ref):
        return mismatch
    boundary = ref.geometry.union_all().buffer(rule.get("tolerance_m", 0))
    geoms = frame.geometry
    outside = (~geoms.within(boundary) & geoms.notna()).to_numpy(bool)
    if not outside.any():
        return []
    return [_batch(rule, frame.geometry.name, rows[outside], ["außerhalb"] * int(outside.sum()),
                   f"Geometrie liegt außerhalb der Gebietsgrenze aus „{rule['dataset']}“")]


def point_in_polygon_attribute(frame, rows, rule, references) -> list[FailureBatch]:
    import geopandas as gpd

    ref = references(rule["dataset"])
    if ref is None:
        return _missing_reference(rule, rule["dataset"])
    if mismatch := _crs_mismatch(rule, frame, ref):
        return mismatch
    column, ref_column = rule["column"], rule["dataset_column"]
    points = gpd.GeoDataFrame({"_pos": np.arange(len(frame)), "stated": frame[column].to_numpy()},
                              geometry=frame.geometry.to_numpy(), crs=frame.crs)
    areas = ref[[ref_column, ref.geometry.name]].rename(columns={ref_column: "actual"})
    if rule.get("tolerance_m"):
        areas = areas.set_geometry(areas.geometry.buffer(rule["tolerance_m"]))
    joined = gpd.sjoin(points, areas, how="left", predicate="within")
    hits = joined.groupby("_pos").apply(
        lambda g: (_key(g["stated"].iloc[0]) in set(map(_key, g["actual"].dropna())),
                   ", ".join(sorted(g["actual"].dropna().astype(str))) or "keinem Gebiet"),
        include_groups=False)
    # a point without geometry or without stated area is not judged (``required`` reports it)
    located = frame.geometry.notna().to_numpy() & ~frame.geometry.is_empty.to_numpy()
    bad_pos = [pos for pos, (ok, _) in hits.items() if not ok and pd.notna(frame[column].iloc[pos]) and located[pos]]
    if not bad_pos:
        return []
    shown = [f"angegeben „{frame[column].iloc[p]}“, liegt in {hits[p][1]}" for p in bad_pos]
    return [_batch(rule, column, rows[bad_pos], shown,
                   f"Punkt liegt nicht im angegebenen Gebiet aus „{rule['dataset']}“: {{value}}")]


def dissolves_into(frame, rows, rule, references) -> list[FailureBatch]:
    ref = references(rule["dataset"])
    if ref is None:
        return _missing_reference(rule, rule["dataset"])
    key, ref_key = rule["key"], rule["dataset_key"]
    dissolved = frame[[key, frame.geometry.name]].dissolve(by=key)
    parents = ref.set_index(ref_key)
    limit = rule.get("max_mismatch_share", 0.001)
    shown = []
    for parent_id in sorted(set(parents.index.astype(str)) | set(dissolved.index.astype(str))):
        part = dissolved.geometry[dissolved.index.astype(str) == parent_id]
        whole = parents.geometry[parents.index.astype(str) == parent_id]
        if part.empty or whole.empty:
            shown.append(f"{key}={parent_id}: {'keine Teilgebiete' if part.empty else 'kein übergeordnetes Gebiet'}")
            continue
        mismatch = part.iloc[0].symmetric_difference(whole.iloc[0]).area / whole.iloc[0].area
        if mismatch > limit:
            shown.append(f"{key}={parent_id}: Abweichung {format_number(mismatch * 100, 2)} % der Fläche")
    if not shown:
        return []
    return [_batch(rule, key, [None] * len(shown), shown,
                   f"Teilgebiete ergeben nicht die Gebiete aus „{rule['dataset']}“: {{value}}")]


RULES = {
    "sum_equals": sum_equals,
    "aggregate_equals": aggregate_equals,
    "complete_keys": complete_keys,
    "change_bounds": change_bounds,
    "valid_geometry": valid_geometry,
    "within_boundary": within_boundary,
    "point_in_polygon_attribute": point_in_polygon_attribute,
    "dissolves_into": dissolves_into,
}
