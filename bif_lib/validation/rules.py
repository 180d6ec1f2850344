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

Each kind is a small class registered under its ``type`` (``@register_rule``, as pandera
registers its built-in checks); ``build_rule`` turns a contract's rule dict into one, once per
contract (the contract's JSON Schema has already refused unknown types and missing keys). A rule
declares the columns of its dataset it reads (``columns``; a rule is not judged when the file
lacks one of them) and its check, ``check(frame, rows, references) -> list[FailureBatch]``.
``row_wise`` rules judge each row on its own, so a file can be checked chunk by chunk.

Each rule returns failure batches; ``severity: warning`` makes a rule report without
rejecting the data. Rows whose inputs are missing (e.g. suppressed cells) are not judged.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import pandas as pd

from bif_lib.contracts import Contract
from bif_lib.contracts.model import register_semantic_check
from bif_lib.i18n import format_number
from bif_lib.validation.report import FailureBatch

References = Callable[[str], "pd.DataFrame | None"]

RULE_TYPES: dict[str, type[Rule]] = {}


def register_rule(name: str):
    """Class decorator: the rule class for a contract's rules of ``type: name``."""

    def register(cls: type[Rule]) -> type[Rule]:
        cls.type = name
        RULE_TYPES[name] = cls
        return cls

    return register


def build_rule(spec: dict) -> Rule:
    """The rule object for one rule dict of a contract."""
    return RULE_TYPES[spec["type"]].from_spec(spec)


def build_rules(specs: list[dict]) -> list[Rule]:
    return [build_rule(spec) for spec in specs]


def rule_problems(raw: dict) -> list[tuple[str, str]]:
    """(YAML path, German message) for every rule of a contract (its raw dict, valid against the
    JSON Schema) that names a column the contract lacks or needs a geometry field it has not.
    ``contracts.parse_contract`` runs this while loading (registered below): a rule whose column
    is missing would otherwise never be judged."""
    names = {f["name"] for f in raw["schema"]["fields"]}
    has_geometry = any(f["type"] == "geometry" for f in raw["schema"]["fields"])
    problems = []
    for i, spec in enumerate(raw.get("rules") or []):
        rule = build_rule(spec)
        for name in rule.columns:
            if name not in names:
                problems.append((f"rules[{i}]{_key_naming(spec, name)}", f"Regel nennt unbekanntes Feld „{name}“"))
        if rule.reads_geometry and not has_geometry:
            problems.append((f"rules[{i}].type", f"Regel „{rule.type}“ braucht ein Geometriefeld"))
    return problems


def _key_naming(spec: dict, name: str) -> str:
    """``.key`` of the rule dict's key whose value names ``name`` (as text, in a list or as a
    mapping's key, also one level down), for the message's YAML path; "" if none does."""
    def names(value, depth: int = 0) -> bool:
        if isinstance(value, str):
            return value == name
        if isinstance(value, (list, tuple)):
            return name in value
        if isinstance(value, dict):
            return name in value or (depth == 0 and any(names(v, 1) for v in value.values() if isinstance(v, dict)))
        return False

    return next((f".{key}" for key, value in spec.items() if key not in ("type", "id") and names(value)), "")


def referenced_datasets(contract: Contract) -> set[str]:
    """Datasets a contract's checks read from the store (foreign keys and rules), without itself."""
    refs = {fk.resource for fk in contract.foreign_keys}
    for rule in build_rules(contract.rules):
        refs.update(rule.datasets)
    refs.discard(contract.id)
    return refs


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One plausibility rule of a contract. Subclasses add their parameters and ``check``."""

    type: ClassVar[str] = ""
    row_wise: ClassVar[bool] = False        # each row is judged on its own (chunks can be checked apart)
    reads_geometry: ClassVar[bool] = False  # reads the frame's geometry besides ``columns``

    id: str | None = None
    severity: str = "error"

    # a parameter read from a contract key of another name (parameter -> contract key)
    spec_keys: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_spec(cls, spec: dict) -> Rule:
        """The rule for a contract's rule dict: each dataclass field from its contract key (see
        ``spec_keys``), a list for a tuple field as a tuple (one name alone as a 1-tuple); a key the
        contract leaves out takes the field's default."""
        params = {}
        for f in dataclasses.fields(cls):
            key = cls.spec_keys.get(f.name, f.name)
            if key in spec:
                value = spec[key]
                if _is_tuple(f.type):
                    value = (value,) if isinstance(value, str) else tuple(value)
                params[f.name] = value
        return cls(**params)

    @property
    def rule_id(self) -> str:
        """How the report names the rule: ``type:id``, or the type for a rule without id."""
        return f"{self.type}:{self.id}" if self.id else self.type

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of this dataset the rule reads."""
        return ()

    @property
    def datasets(self) -> tuple[str, ...]:
        """The other datasets the rule reads from the store."""
        return ()

    def check(self, frame: pd.DataFrame, rows: np.ndarray, references: References) -> list[FailureBatch]:
        raise NotImplementedError

    def batch(self, column, rows, values, message: str) -> FailureBatch:
        return FailureBatch(self.type, column, np.asarray(rows, dtype=object), list(values), message,
                            self.severity, self.rule_id)

    def missing_reference(self, dataset: str) -> list[FailureBatch]:
        return [self.batch(None, [None], [dataset],
                           f"Referenzdatensatz „{dataset}“ ist nicht im Datenbestand – Regel nicht prüfbar")]


def _is_tuple(annotation) -> bool:
    """Whether a dataclass field's annotation (text under ``from __future__ import annotations``)
    is a tuple."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return text.startswith("tuple")


def _unique(names) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


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


@register_rule("sum_equals")
@dataclass(frozen=True, kw_only=True)
class SumEquals(Rule):
    """Parts add up to a total in every row (contract keys ``columns``, ``total``, ``tolerance``)."""

    row_wise: ClassVar[bool] = True
    spec_keys: ClassVar[dict[str, str]] = {"parts": "columns"}

    parts: tuple[str, ...]
    total: str
    tolerance: float = 0


    @property
    def columns(self) -> tuple[str, ...]:
        return _unique([*self.parts, self.total])

    def check(self, frame, rows, references) -> list[FailureBatch]:
        # plain numpy: this runs on every row of large files
        total = frame[self.total].to_numpy(dtype="float64", na_value=np.nan)
        sums = np.zeros(len(total))
        for column in self.parts:
            sums += frame[column].to_numpy(dtype="float64", na_value=np.nan)
        judged = ~np.isnan(sums) & ~np.isnan(total)  # NaN in any part makes the sum NaN
        with np.errstate(invalid="ignore"):
            bad = (np.abs(sums - total) > self.tolerance + _slack(total)) & judged
        if not bad.any():
            return []
        shown = [f"{format_number(float(s), None)} ≠ {format_number(float(t), None)}"
                 for s, t in zip(sums[bad], total[bad])]
        return [self.batch(self.total, rows[bad], shown,
                           f"Summe von {' + '.join(self.parts)} ergibt nicht „{self.total}“: {{value}}")]


@register_rule("aggregate_equals")
@dataclass(frozen=True, kw_only=True)
class AggregateEquals(Rule):
    """The sum of the parts per group equals a total: ``total: {rows: filter}`` from total rows of
    the same file, or ``total: {dataset, value?, where?}`` from another dataset."""

    value: str
    group_by: tuple[str, ...]
    total: dict
    parts: dict | None = None
    tolerance: float = 0
    require_total: bool = False


    @property
    def columns(self) -> tuple[str, ...]:
        filters = [*(self.parts or {}), *(self.total.get("rows") or {})]
        return _unique([*self.group_by, self.value, *filters])

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.total["dataset"],) if "dataset" in self.total else ()

    def check(self, frame, rows, references) -> list[FailureBatch]:
        group_by, value = list(self.group_by), self.value
        parts = frame[_select(frame, self.parts)]
        part_sums = parts.groupby(group_by, dropna=False)[value].sum(min_count=1)
        if "rows" in self.total:
            totals_frame = frame[_select(frame, self.total["rows"])]
            total_value = value
        else:
            totals_frame = references(self.total["dataset"])
            if totals_frame is None:
                return self.missing_reference(self.total["dataset"])
            totals_frame = totals_frame[_select(totals_frame, self.total.get("where"))]
            total_value = self.total.get("value", value)
        totals = totals_frame.groupby(group_by, dropna=False)[total_value].sum(min_count=1)
        both = pd.concat([part_sums.rename("parts"), totals.rename("total")], axis=1, join="outer")

        def label(key) -> str:
            return ", ".join(f"{k}={v}" for k, v in zip(group_by, key if isinstance(key, tuple) else (key,)))

        batches = []
        if self.require_total:
            # Groups keyed on a missing value ("nicht zuordenbar") have no counterpart by nature.
            fully_keyed = both.index.to_frame().notna().all(axis=1).to_numpy()
            no_total = both[both["parts"].notna().to_numpy() & both["total"].isna().to_numpy() & fully_keyed]
            if not no_total.empty:
                batches.append(self.batch(value, [None] * len(no_total), [label(k) for k in no_total.index],
                                          "kein Gesamtwert für die Gruppe vorhanden, Summe der Teile nicht prüfbar: "
                                          "{value}"))
        both = both.dropna()
        diff = (both["parts"] - both["total"]).abs()
        bad = both[diff > self.tolerance + _slack(both["total"].to_numpy(dtype="float64"))]
        if not bad.empty:
            shown = [f"{label(key)}: Summe {format_number(p, None)}, Gesamtwert {format_number(t, None)}"
                     for key, p, t in zip(bad.index, bad["parts"], bad["total"])]
            batches.append(self.batch(value, [None] * len(bad), shown,
                                      f"Summe der Teile von „{value}“ weicht vom Gesamtwert ab (Toleranz "
                                      f"{format_number(self.tolerance, None)}): {{value}}"))
        return batches


@register_rule("complete_keys")
@dataclass(frozen=True, kw_only=True)
class CompleteKeys(Rule):
    """Every expected combination of key values is present. ``keys: {column: spec}``, where spec
    is ``{values: [...]}``, ``{dataset, column?}`` or ``{from_data: true}``."""

    keys: dict


    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.keys)

    @property
    def datasets(self) -> tuple[str, ...]:
        return _unique(spec["dataset"] for spec in self.keys.values() if "dataset" in spec)

    def check(self, frame, rows, references) -> list[FailureBatch]:
        expected_values = {}
        for column, spec in self.keys.items():
            if "values" in spec:
                values = spec["values"]
            elif "dataset" in spec:
                ref = references(spec["dataset"])
                if ref is None:
                    return self.missing_reference(spec["dataset"])
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
        return [self.batch(", ".join(columns), [None] * len(missing), shown, "Schlüssel fehlt: {value}")]


@register_rule("change_bounds")
@dataclass(frozen=True, kw_only=True)
class ChangeBounds(Rule):
    """The relative change of ``column`` against the previous period (``order_by``) of the same
    ``key`` stays within ``max_relative_change``."""

    column: str
    key: tuple[str, ...]
    order_by: str
    max_relative_change: float
    min_base: float = 1
    consecutive_only: bool = True


    @property
    def columns(self) -> tuple[str, ...]:
        return _unique([*self.key, self.column, self.order_by])

    def check(self, frame, rows, references) -> list[FailureBatch]:
        key, order, column = list(self.key), self.order_by, self.column
        data = pd.DataFrame({"_row": rows, "_pos": np.arange(len(frame))})
        data = pd.concat([data, frame[[*key, order, column]].reset_index(drop=True)], axis=1)
        data = data.dropna(subset=[order, column]).sort_values([*key, order], kind="stable")
        grouped = data.groupby(key, dropna=False)
        previous = grouped[column].shift(1).astype("float64")
        prev_order = grouped[order].shift(1)
        current = data[column].astype("float64")
        judged = previous.notna() & (previous.abs() >= self.min_base)
        if self.consecutive_only:
            judged &= (data[order] - prev_order) == 1
        with np.errstate(divide="ignore", invalid="ignore"):
            change = (current - previous) / previous.abs()
        bad = judged & (change.abs() > self.max_relative_change)
        if not bad.any():
            return []
        shown = [f"{format_number(p, None)} → {format_number(c, None)} ({'+' if ch > 0 else ''}"
                 f"{format_number(ch * 100, 1)} %)" for p, c, ch in zip(previous[bad], current[bad], change[bad])]
        return [self.batch(column, data.loc[bad, "_row"].to_numpy(), shown,
                           f"Veränderung von „{column}“ gegenüber der Vorperiode über "
                           f"{format_number(self.max_relative_change * 100, 0)} %: {{value}}")]


# --- geodata rules ------------------------------------------------------------------

@register_rule("valid_geometry")
@dataclass(frozen=True, kw_only=True)
class ValidGeometry(Rule):
    """Checked for every geometry field by the engine; the rule exists so a contract can say so."""

    reads_geometry: ClassVar[bool] = True


    def check(self, frame, rows, references) -> list[FailureBatch]:
        return []


@dataclass(frozen=True, kw_only=True)
class _ReferenceAreaRule(Rule):
    """A geodata rule against the areas of another dataset (``dataset``)."""

    reads_geometry: ClassVar[bool] = True

    dataset: str

    @property
    def datasets(self) -> tuple[str, ...]:
        return (self.dataset,)

    def crs_mismatch(self, frame, ref) -> list[FailureBatch]:
        """Coordinates in different reference systems cannot be compared: one failure that says
        so, rather than every feature reported as lying outside."""
        if (frame.crs is None and ref.crs is None) or (frame.crs is not None and frame.crs.equals(ref.crs)):
            return []
        stated = frame.crs.to_string() if frame.crs is not None else "keines"
        return [self.batch(frame.geometry.name, [None], [stated],
                           f"Regel nicht prüfbar: Koordinatenreferenzsystem der Datei ({stated}) passt nicht zu "
                           f"„{self.dataset}“ ({ref.crs.to_string() if ref.crs is not None else 'keines'})")]

    def check(self, frame, rows, references) -> list[FailureBatch]:
        """The reference areas must exist and share the file's coordinate system; then ``compare``."""
        ref = references(self.dataset)
        if ref is None:
            return self.missing_reference(self.dataset)
        return self.crs_mismatch(frame, ref) or self.compare(frame, rows, ref)

    def compare(self, frame, rows, ref) -> list[FailureBatch]:
        raise NotImplementedError


@register_rule("within_boundary")
@dataclass(frozen=True, kw_only=True)
class WithinBoundary(_ReferenceAreaRule):
    """Geometries lie inside the boundary of ``dataset`` (widened by ``tolerance_m``)."""

    tolerance_m: float = 0

    def compare(self, frame, rows, ref) -> list[FailureBatch]:
        boundary = ref.geometry.union_all().buffer(self.tolerance_m)
        geoms = frame.geometry
        outside = (~geoms.within(boundary) & geoms.notna()).to_numpy(bool)
        if not outside.any():
            return []
        return [self.batch(frame.geometry.name, rows[outside], ["außerhalb"] * int(outside.sum()),
                           f"Geometrie liegt außerhalb der Gebietsgrenze aus „{self.dataset}“")]


@register_rule("point_in_polygon_attribute")
@dataclass(frozen=True, kw_only=True)
class PointInPolygonAttribute(_ReferenceAreaRule):
    """A point lies in the area of ``dataset`` whose ``dataset_column`` its ``column`` names."""

    column: str
    dataset_column: str
    tolerance_m: float | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def compare(self, frame, rows, ref) -> list[FailureBatch]:
        import geopandas as gpd

        column, ref_column = self.column, self.dataset_column
        points = gpd.GeoDataFrame({"_pos": np.arange(len(frame)), "stated": frame[column].to_numpy()},
                                  geometry=frame.geometry.to_numpy(), crs=frame.crs)
        areas = ref[[ref_column, ref.geometry.name]].rename(columns={ref_column: "actual"})
        if self.tolerance_m:
            areas = areas.set_geometry(areas.geometry.buffer(self.tolerance_m))
        joined = gpd.sjoin(points, areas, how="left", predicate="within")
        hits = joined.groupby("_pos").apply(
            lambda g: (_key(g["stated"].iloc[0]) in set(map(_key, g["actual"].dropna())),
                       ", ".join(sorted(g["actual"].dropna().astype(str))) or "keinem Gebiet"),
            include_groups=False)
        # a point without geometry or without stated area is not judged (``required`` reports it)
        located = frame.geometry.notna().to_numpy() & ~frame.geometry.is_empty.to_numpy()
        bad_pos = [pos for pos, (ok, _) in hits.items()
                   if not ok and pd.notna(frame[column].iloc[pos]) and located[pos]]
        if not bad_pos:
            return []
        shown = [f"angegeben „{frame[column].iloc[p]}“, liegt in {hits[p][1]}" for p in bad_pos]
        return [self.batch(column, rows[bad_pos], shown,
                           f"Punkt liegt nicht im angegebenen Gebiet aus „{self.dataset}“: {{value}}")]


@register_rule("dissolves_into")
@dataclass(frozen=True, kw_only=True)
class DissolvesInto(_ReferenceAreaRule):
    """The areas dissolved by ``key`` match the areas of ``dataset`` (by ``dataset_key``) up to
    ``max_mismatch_share`` of their area."""

    key: str
    dataset_key: str
    max_mismatch_share: float = 0.001

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key,)

    def compare(self, frame, rows, ref) -> list[FailureBatch]:
        key, ref_key = self.key, self.dataset_key
        dissolved = frame[[key, frame.geometry.name]].dissolve(by=key)
        parents = ref.set_index(ref_key)
        shown = []
        for parent_id in sorted(set(parents.index.astype(str)) | set(dissolved.index.astype(str))):
            part = dissolved.geometry[dissolved.index.astype(str) == parent_id]
            whole = parents.geometry[parents.index.astype(str) == parent_id]
            if part.empty or whole.empty:
                shown.append(f"{key}={parent_id}: {'keine Teilgebiete' if part.empty else 'kein übergeordnetes Gebiet'}")
                continue
            mismatch = part.iloc[0].symmetric_difference(whole.iloc[0]).area / whole.iloc[0].area
            if mismatch > self.max_mismatch_share:
                shown.append(f"{key}={parent_id}: Abweichung {format_number(mismatch * 100, 2)} % der Fläche")
        if not shown:
            return []
        return [self.batch(key, [None] * len(shown), shown,
                           f"Teilgebiete ergeben nicht die Gebiete aus „{self.dataset}“: {{value}}")]


register_semantic_check(rule_problems)
