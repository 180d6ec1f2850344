"""The validation report: every failure of one ingest, for stewards (German) and tools (JSON).

Failures are collected in one pass over all rules. Each names the dataset, the
source file, the row number as in the source file (line for CSV, row for Excel,
feature number for geodata), the column, the rule, the offending value and a
German message. The report keeps every failure's count; to stay readable and
small it lists at most ``MAX_LISTED_PER_RULE`` examples per rule.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.i18n import format_number

MAX_LISTED_PER_RULE = 200

# Column that carries each row's number in the source file through reading and reshaping.
ROW = "_bif_row"

RULE_TITLES = {
    "file": "Datei lesbar",
    "empty_file": "Datei nicht leer",
    "encoding": "Zeichenkodierung",
    "parse": "Dateiformat (CSV-Struktur)",
    "delimiter": "Trennzeichen",
    "field_count": "Anzahl der Felder je Zeile",
    "missing_column": "Pflichtspalte vorhanden",
    "extra_column": "keine unbekannten Spalten",
    "no_rows": "Datei enthält Datenzeilen",
    "type": "Datentyp",
    "required": "Pflichtwert",
    "unique": "Eindeutigkeit",
    "primary_key": "Primärschlüssel eindeutig",
    "minimum": "Mindestwert",
    "maximum": "Höchstwert",
    "minLength": "Mindestlänge",
    "maxLength": "Höchstlänge",
    "pattern": "Muster",
    "enum": "erlaubte Werte",
    "foreign_key": "Fremdschlüssel",
    "crs": "Koordinatenreferenzsystem",
    "geometry_type": "Geometrietyp",
    "valid_geometry": "gültige Geometrie",
    "sum_equals": "Summengleichung",
    "aggregate_equals": "Summe der Teile gleich Gesamtwert",
    "complete_keys": "Vollständigkeit der Schlüssel",
    "change_bounds": "Veränderung zum Vorjahr",
    "within_boundary": "innerhalb der Gebietsgrenze",
    "point_in_polygon_attribute": "Lage im angegebenen Gebiet",
    "dissolves_into": "Teilgebiete ergeben das Gebiet",
    "release": "Freigabe der Statistikstelle (Geheimhaltung)",
    "memory": "Arbeitsspeicher",
    "ambiguous": "eindeutige Quelle",
    "clock": "Zeitstempel der Versionen",
    "store": "Datenspeicher",
    "district_name": "Stadtteilname laut Stadtprofil",
}


@dataclass
class Failure:
    rule: str
    message: str
    column: str | None = None
    row: int | None = None
    value: Any = None
    severity: str = "error"
    rule_id: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["value"] = _jsonable(self.value)
        return d


@dataclass
class FailureBatch:
    """Many failures of one rule, kept as arrays until the report is rendered (fast for 1M rows)."""

    rule: str
    column: str | None
    rows: np.ndarray
    values: np.ndarray | list
    message: str  # template with {value}
    severity: str = "error"
    rule_id: str | None = None

    @classmethod
    def of(cls, failure: Failure) -> FailureBatch:
        """A batch of one failure (its message taken literally)."""
        return cls(failure.rule, failure.column, np.array([failure.row], dtype=object), [failure.value],
                   failure.message.replace("{", "{{").replace("}", "}}"), failure.severity, failure.rule_id)

    def __len__(self) -> int:
        return len(self.rows)

    def merged(self, others: list[FailureBatch]) -> FailureBatch:
        """This batch followed by ``others`` of the same rule, column and message (the failures of one
        check over consecutive chunks of rows) as one batch."""
        parts = [self, *others]
        rows = np.concatenate([np.asarray(b.rows) for b in parts])
        if isinstance(self.values, list):
            values = [v for b in parts for v in b.values]
        else:
            values = np.concatenate([np.asarray(b.values, dtype=object) for b in parts])
        return self._like(rows, values, parts)

    def _like(self, rows, values, parts: list[FailureBatch]) -> FailureBatch:
        return FailureBatch(self.rule, self.column, rows, values, self.message, self.severity, self.rule_id)

    def failures(self, limit: int | None = None) -> list[Failure]:
        n = len(self.rows) if limit is None else min(limit, len(self.rows))
        return [Failure(self.rule, visible(self.message.format(value=_display(self.values[i])), keep="\n"),
                        visible(self.column) if self.column is not None else None,
                        int(self.rows[i]) if self.rows[i] is not None and not pd.isna(self.rows[i]) else None,
                        _jsonable(self.values[i]), self.severity, self.rule_id)
                for i in range(n)]


class GroupedBatch(FailureBatch):
    """The failures of a table reshaped from wide to long (``source.wide_to_long``), one per source
    row: each keeps its reason (if the check gave one) and names the affected columns of its row
    (``suffixes``)."""

    def __init__(self, *args, suffixes: list[str], reasons: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.suffixes, self.reasons = suffixes, reasons

    def failures(self, limit: int | None = None) -> list[Failure]:
        listed = super().failures(limit)
        for failure, reason, suffix in zip(listed, self.reasons, self.suffixes):
            failure.message += visible((f": {reason}" if reason else "") + suffix)
        return listed

    def _like(self, rows, values, parts: list[FailureBatch]) -> FailureBatch:
        suffixes = [s for part in parts for s in getattr(part, "suffixes", [""] * len(part))]
        reasons = [r for part in parts for r in getattr(part, "reasons", [""] * len(part))]
        return GroupedBatch(self.rule, self.column, rows, values, self.message, self.severity, self.rule_id,
                            suffixes=suffixes, reasons=reasons)


MAX_COLUMNS_LISTED = 50  # affected columns named per source row (of a reshaped table)


def by_source_row(batch: FailureBatch, source_rows: np.ndarray, labels: np.ndarray | None) -> FailureBatch:
    """``batch``, whose rows are positions in a reshaped (long) frame, as one failure per source row
    (``source_rows``: each position's row in the file); with ``labels`` (each position's source
    column) the failure names the affected columns of its row and their values."""
    positions = np.asarray(batch.rows)
    if not len(positions) or any(p is None for p in positions.tolist()):
        return batch
    positions = positions.astype(np.int64)
    rows = np.asarray(source_rows)[positions]
    order = np.argsort(rows, kind="stable")
    unique_rows, starts = np.unique(rows[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    values = batch.values
    reasons_of = list(getattr(batch, "reasons", []))
    first_values, suffixes, reasons = [], [], []
    for start, end in zip(starts, ends):
        members = order[start:end]
        first = int(members[0])
        first_values.append(values[first])
        reasons.append(reasons_of[first] if first < len(reasons_of) else "")
        if labels is None:
            suffixes.append("")
            continue
        member_values = [_display(values[int(m)]) for m in members]
        names = [str(labels[positions[int(m)]]) for m in members]
        same = len(set(member_values)) == 1
        shown = [f"„{n}“" if same else f"„{n}“ (Wert „{v}“)"
                 for n, v in zip(names[:MAX_COLUMNS_LISTED], member_values[:MAX_COLUMNS_LISTED])]
        more = f" und {len(names) - MAX_COLUMNS_LISTED} weitere" if len(names) > MAX_COLUMNS_LISTED else ""
        word = "Spalte" if len(names) == 1 else f"{len(names)} Spalten"
        suffixes.append(f" – betrifft in dieser Zeile {word}: {', '.join(shown)}{more}")
    return GroupedBatch(batch.rule, batch.column, unique_rows.astype(object), np.array(first_values, dtype=object),
                        batch.message, batch.severity, batch.rule_id, suffixes=suffixes, reasons=reasons)


@dataclass
class ValidationReport:
    dataset: str
    source_file: str
    contract_version: str = ""
    rows_checked: int = 0
    rules_checked: list[str] = field(default_factory=list)
    batches: list[FailureBatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # recorded transformations, e.g. repaired geometries

    # --- collecting --------------------------------------------------------
    def add(self, failure: Failure) -> None:
        self.batches.append(FailureBatch.of(failure))

    def add_batch(self, batch: FailureBatch) -> None:
        if len(batch):
            self.batches.append(batch)

    def checked(self, rule: str) -> None:
        if rule not in self.rules_checked:
            self.rules_checked.append(rule)

    def extend(self, other: ValidationReport) -> None:
        """Append what ``other`` found (its checks, failures, notes; its row count replaces ours)."""
        self.rows_checked = other.rows_checked
        for rule in other.rules_checked:
            self.checked(rule)
        self.batches.extend(other.batches)
        self.notes.extend(other.notes)

    # --- reading -----------------------------------------------------------
    @property
    def errors(self) -> int:
        return sum(len(b) for b in self.batches if b.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(len(b) for b in self.batches if b.severity == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def counts(self) -> dict[str, int]:
        counts: Counter = Counter()
        for b in self.batches:
            counts[b.rule_id or b.rule] += len(b)
        return dict(counts)

    def failures(self, limit_per_rule: int | None = MAX_LISTED_PER_RULE) -> list[Failure]:
        listed: Counter = Counter()
        result = []
        for b in self.batches:
            key = b.rule_id or b.rule
            room = None if limit_per_rule is None else limit_per_rule - listed[key]
            if room is not None and room <= 0:
                continue
            chunk = b.failures(room)
            listed[key] += len(chunk)
            result.extend(chunk)
        return sorted(result, key=lambda f: (f.severity != "error", f.row if f.row is not None else -1))

    def rules_failed(self) -> set[str]:
        return {b.rule for b in self.batches if b.severity == "error"}

    # --- rendering ---------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "source_file": self.source_file,
            "contract_version": self.contract_version,
            "ok": self.ok,
            "rows_checked": self.rows_checked,
            "errors": self.errors,
            "warnings": self.warnings,
            "rules_checked": self.rules_checked,
            "counts_per_rule": self.counts(),
            "failures": [f.to_dict() for f in self.failures()],
            "notes": self.notes,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def to_text(self, max_lines: int = 50) -> str:
        """German report for data stewards."""
        status = "bestanden" if self.ok else "abgelehnt"
        lines = [f"Prüfbericht für Datensatz „{self.dataset}“ – {status}",
                 f"Quelldatei: {self.source_file}",
                 f"Geprüfte Zeilen: {format_number(self.rows_checked)}; "
                 f"Fehler: {format_number(self.errors)}; Warnungen: {format_number(self.warnings)}"]
        if self.batches:
            lines.append("Verstöße je Regel:")
            for rule, count in sorted(self.counts().items(), key=lambda kv: -kv[1]):
                base = rule.split(":")[0]
                lines.append(f"  {rule} ({RULE_TITLES.get(base, base)}): {format_number(count)}")
            lines.append("Einzelne Verstöße:")
            shown = self.failures()
            for f in shown[:max_lines]:
                where = [f"Zeile {f.row}" if f.row is not None else None,
                         f"Spalte „{visible(f.column)}“" if f.column else None]
                prefix = "WARNUNG" if f.severity == "warning" else "FEHLER"
                lines.append(f"  {prefix} [{f.rule_id or f.rule}] {', '.join(w for w in where if w) or 'Datei'}: {f.message}")
            total = self.errors + self.warnings
            if total > min(len(shown), max_lines):
                lines.append(f"  … und {format_number(total - min(len(shown), max_lines))} weitere (vollständig im JSON-Bericht).")
        for note in self.notes:
            lines.append(f"Hinweis: {note}")
        return "\n".join(lines)


def visible(text, keep: str = "") -> str:
    """``text`` with invisible characters shown by their code point: control and format characters
    (e.g. U+009D, a zero-width space U+200B) and line separators as „[U+009D]“, so a value that looks
    valid in a message shows why it is not. Characters in ``keep`` stay as they are."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(f"[U+{ord(ch):04X}]" if ch not in keep and unicodedata.category(ch) in _INVISIBLE else ch
                   for ch in text)


_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


def _display(value) -> str:
    if value is None or (not isinstance(value, (list, tuple, np.ndarray)) and pd.isna(value)):
        return "(leer)"
    if isinstance(value, float):
        return format_number(value, decimals=None)
    return visible(value)


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
