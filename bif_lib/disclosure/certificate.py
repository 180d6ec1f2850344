"""The certificate that travels with a protected table, and the table's canonical digest.

``content_digest`` identifies the *values* of a table, not one serialisation: the store can
recompute it on the frame it validated from a file. It does not depend on

* the order of columns or rows,
* integer widths or nullability (int64, Int32, Int64 are the same), integral floats (3.0 == 3),
* strings in any dtype (object, str, string, categorical of strings),
* how a value is missing (None, NaN, NaT, <NA> are all "missing").

Booleans stay distinct from integers and text from numbers ("1" != 1).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from bif_lib.i18n import format_local_datetime, format_number

METHOD_LABELS = {"cellkey": "Cell-Key-Methode (stochastische Überlagerung wie im Zensus 2022)",
                 "suppression": "Zellsperrung (primäre und sekundäre Sperrung)"}


def content_digest(frame: pd.DataFrame) -> str:
    """sha256 of the table's values, independent of column/row order and equivalent dtypes."""
    names = sorted(str(name) for name in frame.columns)
    if len(set(names)) != len(names):
        raise ValueError("Spaltennamen müssen eindeutig sein.")
    by_name = {str(name): frame[name] for name in frame.columns}
    encoded = [_encode_column(by_name[name]) for name in names]
    rows = sorted("|".join(cells) for cells in zip(*encoded)) if encoded else []
    digest = hashlib.sha256()
    digest.update(("columns:" + "|".join(_text(name) for name in names) + f"\nrows:{len(frame)}\n").encode())
    for row in rows:
        digest.update(row.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _text(value: str) -> str:
    return f"s{len(value)}:{value}"  # length-prefixed, so no separator inside a value can be confused


def _encode_column(column: pd.Series) -> list[str]:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        column = column.astype(object)
        dtype = column.dtype
    missing = column.isna().to_numpy()
    if pd.api.types.is_bool_dtype(dtype):
        values = ["b:1" if v else "b:0" for v in column.fillna(False).to_numpy(dtype=bool)]
    elif pd.api.types.is_integer_dtype(dtype):
        values = [f"i:{v}" for v in column.fillna(0).to_numpy(dtype=np.int64)]
    elif pd.api.types.is_float_dtype(dtype):
        values = [_encode_scalar(float(v)) for v in column.fillna(0).to_numpy(dtype=np.float64)]
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        values = ["t:" + v.isoformat() if not pd.isna(v) else "" for v in column]
    elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        values = [_text(v) if isinstance(v, str) else "" for v in column.to_numpy(dtype=object)]
    else:
        values = [_encode_scalar(v) for v in column.to_numpy(dtype=object)]
    return ["n:" if gone else value for value, gone in zip(values, missing)]


def _encode_scalar(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "n:"
    if isinstance(value, (bool, np.bool_)):
        return "b:1" if value else "b:0"
    if isinstance(value, (int, np.integer)):
        return f"i:{int(value)}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "n:"
        if value.is_integer() and abs(value) < 2 ** 63:
            return f"i:{int(value)}"
        return f"f:{value!r}"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (datetime, pd.Timestamp)):
        return "t:" + pd.Timestamp(value).isoformat()
    return _text(str(value))


@dataclass
class Certificate:
    """What was done to a table before it left the statistics office, and the table's digest."""

    dataset: str | None
    method: str
    parameters: dict
    checks: list[dict]
    released_by: str
    released_at: str  # ISO 8601, UTC
    content_sha256: str
    ptable_version: str | None = None
    ptable_parameters: dict | None = None
    ptable_sha256: str | None = None
    sources: list[dict] = field(default_factory=list)
    synthetic: bool = False

    @property
    def passed(self) -> bool:
        return all(check["passed"] for check in self.checks)

    def matches(self, frame: pd.DataFrame) -> bool:
        return content_digest(frame) == self.content_sha256

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # plain JSON types only

    @classmethod
    def from_dict(cls, data: dict) -> Certificate:
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        return cls.from_dict(json.loads(text))

    def to_text(self) -> str:
        """German summary for the statistics office to review before a release."""
        label = " (synthetisch)" if self.synthetic else ""
        lines = [f"Geheimhaltungsnachweis{label}",
                 f"Tabelle: {self.dataset or 'noch nicht festgelegt'}{label}",
                 f"Verfahren: {METHOD_LABELS.get(self.method, self.method)}"]
        by = self.parameters.get("by")
        if by:
            lines.append(f"Merkmale: {', '.join(by)}")
        lines.append(f"Zellen: {format_number(self.parameters.get('cells', 0))}")
        if self.method == "cellkey" and self.ptable_parameters:
            p = self.ptable_parameters
            pstay = "" if p.get("pstay") is None else f", pstay = {format_number(p['pstay'], None)}"
            lines.append(f"Überlagerungstabelle: {self.ptable_version} (D = {format_number(p['D'])}, "
                         f"V = {format_number(p['V'], None)}, js = {format_number(p['js'])}{pstay}) – "
                         "Parameter vertraulich, nicht veröffentlichen")
        if self.method == "suppression":
            lines.append(f"Mindestfallzahl: {format_number(self.parameters['min_frequency'])}; Schutzbereich: "
                         f"{format_number(self.parameters['protection_range'] * 100, None)} % des Zellwerts")
        lines.append("Prüfungen:")
        for check in self.checks:
            mark = "bestanden" if check["passed"] else "NICHT BESTANDEN"
            lines.append(f"  – {check['name']}: {mark} ({check['detail']})")
        released = format_local_datetime(self.released_at)
        lines.append(f"Freigegeben von: {self.released_by} am {released} Uhr")
        for source in self.sources:
            version = f", Version {source['version']}" if source.get("version") is not None else ""
            lines.append(f"Quelle: {source.get('dataset')}{version}")
        lines.append(f"Prüfsumme des Inhalts (sha256): {self.content_sha256}")
        return "\n".join(lines)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
