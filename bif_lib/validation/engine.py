"""Contracts compiled to a validation engine for DataFrames and GeoDataFrames.

BIF uses its own vectorised layer rather than pandera. The reasons, measured in
``bench/bench_validation.py`` (results in ``bench/results.json``): one pass must
collect *every* failure with its row number in the source file and a German message,
type parsing of department text (decimal comma, thousands dot, German dates) must
report the offending raw value, and the contract's cross-row rules (aggregates,
completeness, year-over-year, geodata) have no declarative pandera equivalent.
The benchmark compares throughput on the same 8+ rules with pandera and with
hand-written pandas checks in the same run.

A validation runs four named phases over one ``_Run`` (the frame, its row numbers, the typed
columns, the report): ``_check_columns`` (missing and unknown columns, no rows),
``_type_fields`` (each field typed and its constraints checked, column by column),
``_check_keys`` (primary and foreign keys) and ``_check_rules`` (the contract's plausibility
rules, built once per contract from its rule dicts, see ``rules``).

Speed comes from doing no more work than a hand-written check would: each check is one
mask over a column and materialises rows, values and messages only when it found
something; typed columns are passed through without copies (pandas 3 copies arrays
handed to ``Series``/``DataFrame`` unless told not to); a pattern is matched once per
distinct value of a column that repeats its values (codes, categories); integer keys
are checked for duplicates by order or counting instead of hashing (``fields``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bif_lib.contracts import Contract, ContractError
from bif_lib.validation import fields as F
from bif_lib.validation.report import ROW, Failure, FailureBatch, ValidationReport, by_source_row
from bif_lib.validation.rules import References, Rule, build_rules, rule_problems


def _no_references(dataset: str):
    return None


@dataclass
class _Run:
    """One validation in progress: what the phases read and write.

    Failures go to the report through ``add(batch, slot)``; ``slot`` says where a whole-frame
    validation reports the batch (phase, field or rule, position), which lets a validation in
    chunks (``chunked``) report the same batches in the same order at its end."""

    report: ValidationReport
    frame: pd.DataFrame                 # the frame as read (text); consumed column by column if asked to
    rows: np.ndarray                    # each row's number in the source file
    consume: bool = False
    typed: dict = field(default_factory=dict)    # field name -> typed column (phase 2)
    result: pd.DataFrame | None = None           # the typed frame (phase 2 on)
    # a table reshaped from wide to long: each position's source column (phase 2 groups the field
    # failures of one source row into one, naming these columns)
    labels: np.ndarray | None = None

    def add(self, batch: FailureBatch, slot: tuple) -> None:
        self.report.add_batch(batch)


@dataclass
class Validator:
    """Validates frames against one contract. ``references`` resolves other datasets by id."""

    contract: Contract
    references: References = _no_references
    rules: list[Rule] = field(init=False)

    def __post_init__(self):
        # the loader runs the same check once bif_lib.validation is imported; a contract loaded
        # before that (e.g. a script that only imported bif_lib.contracts) is checked here
        problems = rule_problems(self.contract.raw)
        if problems:
            raise ContractError(self.contract.path or self.contract.id,
                                [(where, None, message) for where, message in problems])
        self.rules = build_rules(self.contract.rules)

    def validate(self, frame, *, source_file: str = "", report: ValidationReport | None = None,
                 consume: bool = False) -> tuple[pd.DataFrame | None, ValidationReport]:
        """Return the typed frame (in contract field order) and the report of all failures.

        ``consume=True`` hands the frame over: each text column is removed from it as soon as it is
        typed, so the source text and the typed columns are not held in full at the same time
        (the ingest's peak memory; the caller must hold no other reference to the frame).

        ``frame`` may also be the file's rows in chunks (an iterable of text frames in file order,
        e.g. ``readers.CsvChunks``): typed frame and report are then exactly the whole frame's,
        without the whole text ever being held (``chunked``); ``readers.NotStreamable`` is raised
        where they could differ."""
        contract = self.contract
        report = report or ValidationReport(contract.id, source_file, contract.version)
        if not isinstance(frame, pd.DataFrame):
            from bif_lib.validation.chunked import validate_chunks

            return validate_chunks(self, frame, report), report
        report.rows_checked = len(frame)
        rows = frame[ROW].to_numpy() if ROW in frame.columns else np.arange(1, len(frame) + 1)
        run = _Run(report, frame, rows, consume)
        if not self._check_columns(run):
            return None, report
        self._type_fields(run)
        self._check_keys(run)
        self._check_rules(run)
        return run.result.reset_index(drop=True), report

    # --- 1. columns ---------------------------------------------------------------------------

    def _check_columns(self, run: _Run) -> bool:
        """Missing and unknown columns; False when there is nothing to check (no rows)."""
        report, geometry_field = run.report, self.contract.geometry_field
        available = [c for c in run.frame.columns if c != ROW]
        if geometry_field is not None and "geometry" in available and geometry_field.name != "geometry":
            run.frame = run.frame.rename_geometry(geometry_field.name)
            available = [geometry_field.name if c == "geometry" else c for c in available]
        expected = self.contract.field_names
        missing_cols = [c for c in expected if c not in available]
        extra_cols = [c for c in available if c not in expected]
        report.checked("missing_column")
        report.checked("extra_column")
        for name in missing_cols:
            hint = f"; die Datei enthält stattdessen {', '.join(f'„{c}“' for c in extra_cols)}" if extra_cols else ""
            report.add(Failure("missing_column", f"Spalte „{name}“ fehlt{hint}", column=name))
        for name in extra_cols:
            report.add(Failure("extra_column", f"Spalte „{name}“ ist im Vertrag nicht beschrieben "
                                               f"(im Vertrag ergänzen oder unter source.drop_columns aufführen)",
                               column=name))
        report.checked("no_rows")
        if len(run.frame) == 0:
            report.add(Failure("no_rows", "Die Datei enthält keine Datenzeilen (nur die Kopfzeile)."))
            return False
        return True

    # --- 2. types and field constraints -------------------------------------------------------

    def _type_fields(self, run: _Run, unique: bool = True) -> dict:
        """Each field typed and checked against its constraints, column by column. ``unique=False``
        (a chunk of the file) leaves ``unique`` out and returns, per field that has it, which rows'
        values are present (not missing, not refused)."""
        present = {}
        reshape = self.contract.source.get("wide_to_long")
        if reshape and reshape["names_to"] in run.frame.columns and len(run.frame) \
                and pd.Series(run.rows).duplicated().any():
            run.labels = run.frame[reshape["names_to"]].astype(str).to_numpy(dtype=object)
        for index, spec in enumerate(self.contract.fields):
            if spec.name in run.frame.columns:
                if spec.type == "geometry":
                    self._check_geometry(run, spec, index)
                else:
                    present[spec.name] = self._type_field(run, spec, index, unique)
        run.result = pd.DataFrame(run.typed, index=run.frame.index, copy=False)
        return {name: mask for name, mask in present.items() if mask is not None}

    def _check_geometry(self, run: _Run, spec, index: int) -> None:
        for rule in ("required", "geometry_type", "valid_geometry"):
            run.report.checked(rule)
        column = run.frame[spec.name]
        for batch in F.geometry_batches(column.to_numpy(), spec, run.rows):
            run.add(batch, field_slot(index, batch.rule))
        run.typed[spec.name] = column

    def _type_field(self, run: _Run, spec, index: int, unique: bool = True) -> np.ndarray | None:
        report, frame = run.report, run.frame
        column = frame[spec.name]
        missing = F.missing_mask(column, self.contract.missing_values)
        # a reshaped table: failures found by position, then one per source row (``by_source_row``)
        grouped = run.labels is not None
        rows = np.arange(len(frame)) if grouped else run.rows
        reshape = self.contract.source.get("wide_to_long") or {}
        labels = run.labels if spec.name == reshape.get("values_to") else None

        def add(batch: FailureBatch, rule: str) -> None:
            run.add(by_source_row(batch, run.rows, labels) if grouped else batch, field_slot(index, rule))

        values, type_bad, type_batch = F.coerce(column, spec, self.contract.source, rows, missing)
        report.checked("type")
        if type_batch is not None:
            if spec.on_invalid == "missing":  # the contract accepts such a value as missing: a warning
                type_batch.severity = "warning"
                type_batch.message += " und wird als fehlender Wert übernommen (Vertrag: on_invalid: missing)"
            add(type_batch, "type")
        for key in spec.constraints:
            report.checked(key)
        for batch in F.constraint_batches(values, spec, rows, missing, type_bad, unique=unique):
            add(batch, batch.rule)
        present = ~missing & ~type_bad if spec.constraints.get("unique") and not unique else None
        run.typed[spec.name] = values
        if spec.missing_means == "suppressed":
            run.typed[f"{spec.name}_suppressed"] = pd.Series(missing, index=frame.index, dtype="boolean")
        if run.consume and pd.api.types.is_extension_array_dtype(column.dtype):
            # the text column is no longer needed: free it now (Arrow-backed columns are blocks of
            # their own, so this copies nothing), and give its pages back to the system
            del column, values, missing, type_bad, type_batch
            del frame[spec.name]
            _release_memory()
            if spec.type == "string":  # one contiguous array now, not while writing the whole frame
                run.typed[spec.name] = F.single_chunk(run.typed[spec.name])
                _release_memory()
        return present

    # --- 3. keys --------------------------------------------------------------------------------

    def _check_keys(self, run: _Run, done: dict | None = None) -> None:
        """Primary key and foreign keys (on the typed frame); a GeoDataFrame from here on. ``done``
        holds the foreign keys already checked chunk by chunk (index -> their batches)."""
        contract, report, result = self.contract, run.report, run.result
        pk = contract.primary_key
        if pk and all(k in result.columns for k in pk):
            report.checked("primary_key")
            batch = F.primary_key_batch(result, pk, run.rows)
            if batch is not None:
                run.add(batch, (KEYS, 0, 0))
        for index, fk in enumerate(contract.foreign_keys, 1):
            if done is not None and index in done:
                report.checked("foreign_key")
                for batch in done[index]:
                    run.add(batch, (KEYS, index, 0))
                continue
            if not all(f in result.columns for f in fk.fields):
                continue
            report.checked("foreign_key")
            reference = result if fk.resource == contract.id else self.references(fk.resource)
            batch = F.foreign_key_batch(result, fk.fields, reference, fk.reference_fields, fk.resource, run.rows)
            if batch is not None:
                run.add(batch, (KEYS, index, 0))
        geometry_field = contract.geometry_field
        if geometry_field is not None and geometry_field.name in result.columns:
            import geopandas as gpd
            run.result = gpd.GeoDataFrame(result, geometry=geometry_field.name, crs=run.frame.crs)

    def _row_wise_keys(self, frame: pd.DataFrame) -> dict:
        """The foreign keys that judge each row on its own (the reference is another dataset, in the
        store), with the reference and its keys: index -> (foreign key, reference, prepared keys)."""
        keys = {}
        for index, fk in enumerate(self.contract.foreign_keys, 1):
            if fk.resource == self.contract.id or not all(f in frame.columns for f in fk.fields):
                continue
            reference = self.references(fk.resource)
            if reference is not None:
                keys[index] = (fk, reference, F.reference_keys(frame, fk.fields, reference, fk.reference_fields))
        return keys

    # --- 4. plausibility rules ------------------------------------------------------------------

    def _check_rules(self, run: _Run, done: dict | None = None) -> None:
        """The contract's rules, on the rows whose columns could be typed. ``done`` holds the rules
        already checked chunk by chunk (rule index -> its batches or the exception it raised)."""
        for index, rule in enumerate(self.rules):
            run.report.checked(rule.type)
            if done is not None and index in done:
                outcome = done[index]
            elif not self._judged(rule, run.result):
                continue
            else:
                outcome = self._apply(rule, run.result, run.rows)
            if isinstance(outcome, Exception):  # a rule that cannot run is a failure, not a crash
                run.add(FailureBatch.of(Failure(
                    rule.type, f"Regel konnte nicht geprüft werden: {type(outcome).__name__}: {outcome}",
                    severity=rule.severity, rule_id=rule.rule_id if rule.id else None)), (RULES, index, 0))
            else:
                for position, batch in enumerate(outcome):
                    run.add(batch, (RULES, index, position))

    def _apply(self, rule: Rule, frame: pd.DataFrame, rows: np.ndarray) -> list[FailureBatch] | Exception:
        """The rule's failure batches, or the exception it raised."""
        try:
            return list(rule.check(frame, rows, self.references))
        except Exception as exc:  # noqa: BLE001 - reported as the rule's failure
            return exc

    def _judged(self, rule: Rule, frame: pd.DataFrame) -> bool:
        """A rule is not judged when the file lacks a column of the contract it reads (the report
        names the missing column already). A name the contract does not declare (e.g. in a
        filter) is left to the rule: that it cannot run is then reported."""
        declared = self.contract.field_names
        return not any(c not in frame.columns and c in declared for c in rule.columns)


# report order of a whole-frame validation: (phase, field/key/rule index, position)
FIELDS, KEYS, RULES = 1, 2, 3
_FIELD_ORDER = ("type", "required", "geometry_type", "valid_geometry", *F.CONSTRAINT_ORDER[1:])


def field_slot(index: int, rule: str) -> tuple:
    return (FIELDS, index, _FIELD_ORDER.index(rule) if rule in _FIELD_ORDER else len(_FIELD_ORDER))


def _release_memory() -> None:
    """Freed text back to the system: numpy's typed columns come from another allocator than
    Arrow's text and could not reuse it (``readers.release_memory``)."""
    from bif_lib.readers import release_memory

    release_memory()


def compile_contract(contract: Contract, references: References | None = None) -> Validator:
    return Validator(contract, references or _no_references)
