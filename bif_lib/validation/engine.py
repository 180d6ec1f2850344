"""Contracts compiled to a validation engine for DataFrames and GeoDataFrames.

BIF uses its own vectorised layer rather than pandera. The reasons, measured in
``bench/bench_validation.py`` (results in ``bench/results.json``): one pass must
collect *every* failure with its row number in the source file and a German message,
type parsing of department text (decimal comma, thousands dot, German dates) must
report the offending raw value, and the contract's cross-row rules (aggregates,
completeness, year-over-year, geodata) have no declarative pandera equivalent.
The benchmark compares throughput on the same 8+ rules with pandera and with
hand-written pandas checks in the same run.

Speed comes from doing no more work than a hand-written check would: each check is one
mask over a column and materialises rows, values and messages only when it found
something; typed columns are passed through without copies (pandas 3 copies arrays
handed to ``Series``/``DataFrame`` unless told not to); a pattern is matched once per
distinct value of a column that repeats its values (codes, categories); integer keys
are checked for duplicates by order or counting instead of hashing (``fields``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..contracts import Contract
from . import fields as F
from .report import ROW, Failure, ValidationReport
from .rules import RULES, References


def _no_references(dataset: str):
    return None


@dataclass
class Validator:
    """Validates frames against one contract. ``references`` resolves other datasets by id."""

    contract: Contract
    references: References = _no_references

    def validate(self, frame: pd.DataFrame, *, source_file: str = "", report: ValidationReport | None = None,
                 consume: bool = False) -> tuple[pd.DataFrame | None, ValidationReport]:
        """Return the typed frame (in contract field order) and the report of all failures.

        ``consume=True`` hands the frame over: each text column is removed from it as soon as it is
        typed, so the source text and the typed columns are not held in full at the same time
        (the ingest's peak memory; the caller must hold no other reference to the frame)."""
        contract = self.contract
        report = report or ValidationReport(contract.id, source_file, contract.version)
        report.rows_checked = len(frame)
        rows = frame[ROW].to_numpy() if ROW in frame.columns else np.arange(1, len(frame) + 1)
        geometry_field = contract.geometry_field

        # 1. columns
        available = [c for c in frame.columns if c != ROW]
        if geometry_field is not None and "geometry" in available and geometry_field.name != "geometry":
            frame = frame.rename_geometry(geometry_field.name)
            available = [geometry_field.name if c == "geometry" else c for c in available]
        expected = contract.field_names
        missing_cols = [c for c in expected if c not in available]
        extra_cols = [c for c in available if c not in expected]
        report.checked("missing_column")
        report.checked("extra_column")
        for name in missing_cols:
            hint = f"; die Datei enthält stattdessen {', '.join(f'„{c}“' for c in extra_cols)}" if extra_cols else ""
            report.add(Failure("missing_column", f"Spalte „{name}“ fehlt{hint}", column=name))
        for name in extra_cols:
            report.add(Failure("extra_column", f"Spalte „{name}“ ist im Vertrag nicht beschrieben "
                                               f"(im Vertrag ergänzen oder unter source.drop_columns aufführen)", column=name))
        report.checked("no_rows")
        if len(frame) == 0:
            report.add(Failure("no_rows", "Die Datei enthält keine Datenzeilen (nur die Kopfzeile)."))
            return None, report

        # 2. types and field constraints, column by column
        typed = {}
        missing_values = contract.missing_values
        for field in contract.fields:
            if field.name not in frame.columns:
                continue
            column = frame[field.name]
            if field.type == "geometry":
                for rule in ("required", "geometry_type", "valid_geometry"):
                    report.checked(rule)
                for batch in F.geometry_batches(column.to_numpy(), field, rows):
                    report.add_batch(batch)
                typed[field.name] = column
                continue
            missing = F.missing_mask(column, missing_values)
            values, type_bad, type_batch = F.coerce(column, field, contract.source, rows, missing)
            report.checked("type")
            if type_batch is not None:
                report.add_batch(type_batch)
            for key in field.constraints:
                report.checked(key)
            for batch in F.constraint_batches(values, field, rows, missing, type_bad):
                report.add_batch(batch)
            typed[field.name] = values
            if field.missing_means == "suppressed":
                typed[f"{field.name}_suppressed"] = pd.Series(missing, index=frame.index, dtype="boolean")
            if consume and pd.api.types.is_extension_array_dtype(column.dtype):
                # the text column is no longer needed: free it now (Arrow-backed columns are blocks of
                # their own, so this copies nothing), and give its pages back to the system
                del column, values, missing, type_bad, type_batch
                del frame[field.name]
                _release_memory()
                if field.type == "string":  # one contiguous array now, not while writing the whole frame
                    typed[field.name] = F.single_chunk(typed[field.name])
                    _release_memory()
        result = pd.DataFrame(typed, index=frame.index, copy=False)

        # 3. keys
        pk = contract.primary_key
        if pk and all(k in result.columns for k in pk):
            report.checked("primary_key")
            batch = F.primary_key_batch(result, pk, rows)
            if batch is not None:
                report.add_batch(batch)
        for fk in contract.foreign_keys:
            if not all(f in result.columns for f in fk.fields):
                continue
            report.checked("foreign_key")
            reference = result if fk.resource == contract.id else self.references(fk.resource)
            batch = F.foreign_key_batch(result, fk.fields, reference, fk.reference_fields, fk.resource, rows)
            if batch is not None:
                report.add_batch(batch)

        if geometry_field is not None and geometry_field.name in result.columns:
            import geopandas as gpd
            result = gpd.GeoDataFrame(result, geometry=geometry_field.name, crs=frame.crs)

        # 4. plausibility rules (on rows whose columns could be typed)
        for rule in contract.rules:
            report.checked(rule["type"])
            needed = _columns_of(rule)
            if any(c not in result.columns for c in needed):
                continue
            try:
                for batch in RULES[rule["type"]](result, rows, rule, self._references_for_rules):
                    report.add_batch(batch)
            except Exception as exc:  # a rule that cannot run is a failure, not a crash
                report.add(Failure(rule["type"], f"Regel konnte nicht geprüft werden: {type(exc).__name__}: {exc}",
                                   severity=rule.get("severity", "error"),
                                   rule_id=f"{rule['type']}:{rule['id']}" if rule.get("id") else None))
        return result.reset_index(drop=True), report

    def _references_for_rules(self, dataset: str):
        return self.references(dataset)


def _release_memory() -> None:
    """Freed text back to the system: numpy's typed columns come from another allocator than
    Arrow's text and could not reuse it (``readers.release_memory``)."""
    from ..readers import release_memory

    release_memory()


def _columns_of(rule: dict) -> list[str]:
    """Columns of this dataset a rule reads; a rule whose columns are missing is not run."""
    names = list(rule.get("keys") or {})  # complete_keys: {column: spec}
    for key in ("columns", "group_by", "key", "total", "value", "column", "order_by"):
        value = rule.get(key)
        names += [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
            if isinstance(value, list) else []
    return names


def compile_contract(contract: Contract, references: References | None = None) -> Validator:
    return Validator(contract, references or _no_references)
