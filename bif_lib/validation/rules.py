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

def sum_equals(frame, rows, rule, references) -> list[FailureBatch]:
    parts = frame[rule["columns"]].astype("float64")
    total = frame[rule["total"]].astype("float64")
    judged = parts.notna().all(axis=1) & total.notna()
    diff = (parts.sum(axis=1) - total).abs()
    bad = (diff > rule.get("tolerance", 0)) & judged
    if not bad.any():
        return []
    shown = [f"{format_number(s, None)} ≠ {format_number(t, None)}"
             for s, t in zip(parts.sum(axis=1)[bad], total[bad])]
    return [_batch(rule, rule["total"], rows[bad.to_numpy()], shown,
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
    both = pd.concat([part_sums.rename("parts"), totals.rename("total")], axis=1, join="inner").dropna()
    diff = (both["parts"] - both["total"]).abs()
    bad = both[diff > rule.get("tolerance", 0)]
    if bad.empty:
        return []
    labels = [", ".join(f"{k}={v}" for k, v in zip(group_by, key if isinstance(key, tuple) else (key,)))
              for key in bad.index]
    shown = [f"{label}: Summe {format_number(p, None)}, Gesamtwert {format_number(t, None)}"
             for label, p, t in zip(labels, bad["parts"], bad["total"])]
    return [_batch(rule, value, [None] * len(bad), shown,
                   f"Summe der Teile von „{value}“ weicht vom Gesamtwert ab (Toleranz "
                   f"{format_number(rule.get('tolerance', 0), None)}): {{value}}")]


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
    present = set(map(tuple, frame[columns].dropna().astype(str).itertuples(index=False)))
    missing = [combo for combo in itertools.product(*expected_values.values())
               if tuple(map(str, combo)) not in present]
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


def within_boundary(frame, rows, rule, references) -> list[FailureBatch]:
    ref = references(rule["dataset"])
    if ref is None:
        return _missing_reference(rule, rule["dataset"])
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
    column, ref_column = rule["column"], rule["dataset_column"]
    points = gpd.GeoDataFrame({"_pos": np.arange(len(frame)), "stated": frame[column].to_numpy()},
                              geometry=frame.geometry.to_numpy(), crs=frame.crs)
    areas = ref[[ref_column, ref.geometry.name]].rename(columns={ref_column: "actual"})
    if rule.get("tolerance_m"):
        areas = areas.set_geometry(areas.geometry.buffer(rule["tolerance_m"]))
    joined = gpd.sjoin(points, areas, how="left", predicate="within")
    hits = joined.groupby("_pos").apply(
        lambda g: (g["stated"].astype(str).iloc[0] in set(g["actual"].dropna().astype(str)),
                   ", ".join(sorted(g["actual"].dropna().astype(str))) or "keinem Gebiet"),
        include_groups=False)
    bad_pos = [pos for pos, (ok, _) in hits.items() if not ok and pd.notna(frame[column].iloc[pos])]
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
