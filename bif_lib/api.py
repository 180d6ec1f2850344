"""The analysts' API: find, describe and load verified datasets with one call.

>>> import bif_lib as bif
>>> bif.list_datasets()
>>> df = bif.load("einwohner_stadtteile")            # latest version
>>> df = bif.load("einwohner_stadtteile", version=1)
>>> df.attrs["bif"]["version"], df.attrs["bif"]["licence"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from bif_lib.i18n import CLASSIFICATION_LABELS, format_local_datetime, format_number
from bif_lib.ingest import default_store
from bif_lib.store import DatasetNotFound, Store, VersionEntry


def load(dataset: str, version: int | None = None, as_of: datetime | str | None = None,
         *, purpose: str | None = None, store: Store | None = None) -> pd.DataFrame:
    """Return a verified dataset as DataFrame (GeoDataFrame for geodata).

    ``version`` picks a version number, ``as_of`` the version that was current at a
    moment: a date (``date``, ``"2026-12-05"``, ``"05.12.2026"``) means the end of that day,
    a datetime or text without time zone that wall-clock time, both in Europe/Berlin; with a
    time zone that instant. The result carries its metadata in ``attrs["bif"]``; a snapshot
    whose checksum does not match is refused with ``SnapshotCorrupted``.

    Confidential data (only the statistics office can read it) needs a ``purpose``; each
    such read is recorded in the audit trail before any byte is read (``bif_lib.audit``),
    and the process may afterwards write outside the office only releases
    (``bif_lib.store.admission``).
    """
    store = store or default_store()
    entry = store.catalog.get(dataset, version=version, as_of=as_of)
    if entry.classification == "confidential":
        _audit_confidential_read(store, entry, purpose)
    frame = store.read(entry)
    frame.attrs["bif"] = metadata(entry)
    _trace(entry)
    return frame


def _audit_confidential_read(store: Store, entry: VersionEntry, purpose: str | None) -> None:
    from bif_lib import audit
    from bif_lib.store import AccessDenied, admission

    if not os.access(store.root / entry.path, os.R_OK):
        raise AccessDenied.of(entry)  # nothing is read, so nothing to record
    if not (purpose and purpose.strip()):
        raise ValueError(
            f"„{entry.dataset_id}“ ist vertraulich: bitte den Zweck angeben, z. B. "
            f"bif.load({entry.dataset_id!r}, purpose=\"Bevölkerungsfortschreibung 2026\"). "
            "Jeder Zugriff wird mit Zweck protokolliert.")
    admission.mark_tainted()
    audit.record("read", dataset=entry.dataset_id, version=entry.version, purpose=purpose.strip())


def metadata(entry: VersionEntry) -> dict:
    licence = entry.contract.get("licence", {})
    return {
        "dataset": entry.dataset_id, "version": entry.version, "title": entry.title,
        "sha256": entry.sha256, "classification": entry.classification, "synthetic": entry.synthetic,
        "source": entry.contract.get("source_system"), "source_file": entry.source_file,
        "source_sha256": entry.source_sha256, "owner": entry.contract.get("owner"),
        "licence": licence.get("name"), "attribution": licence.get("attribution"),
        "ingested_at": entry.ingested_at, "contract_version": entry.contract_version,
    }


def _trace(entry: VersionEntry) -> None:
    """Record the load for publication checks (``bif publish`` sets BIF_LOAD_TRACE)."""
    path = os.environ.get("BIF_LOAD_TRACE")
    if not path:
        return
    record = {"dataset": entry.dataset_id, "version": entry.version, "classification": entry.classification,
              "synthetic": entry.synthetic, "created_at": entry.ingested_at}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def list_datasets(classification: str | None = None, *, store: Store | None = None) -> pd.DataFrame:
    """One row per dataset with its latest version."""
    store = store or default_store()
    rows = [_summary(e) for e in store.catalog.latest_versions()
            if classification is None or e.classification == classification]
    columns = ["dataset", "title", "classification", "version", "rows", "ingested_at", "owner", "synthetic"]
    return pd.DataFrame(rows, columns=columns)


def search(text: str, *, store: Store | None = None) -> pd.DataFrame:
    """Datasets whose id, title, description, owner or field titles contain ``text`` (case-insensitive)."""
    store = store or default_store()
    needle = text.casefold()
    hits = []
    for entry in store.catalog.latest_versions():
        fields = entry.contract["schema"]["fields"]
        haystack = " ".join([entry.dataset_id, entry.title, entry.description, entry.contract.get("owner", ""),
                             *[f.get("title", "") + " " + f["name"] for f in fields]]).casefold()
        if needle in haystack:
            hits.append(_summary(entry))
    return pd.DataFrame(hits, columns=["dataset", "title", "classification", "version", "rows", "ingested_at",
                                       "owner", "synthetic"])


def history(dataset: str, *, store: Store | None = None) -> pd.DataFrame:
    store = store or default_store()
    versions = store.catalog.versions(dataset)
    if not versions:
        raise DatasetNotFound(dataset)
    return pd.DataFrame([{"version": v.version, "ingested_at": v.ingested_at, "ingested_by": v.ingested_by,
                          "rows": v.rows, "sha256": v.sha256, "contract_version": v.contract_version,
                          "source_file": v.source_file, "source_sha256": v.source_sha256,
                          "warnings": v.report.get("warnings", 0)} for v in versions])


def _summary(entry: VersionEntry) -> dict:
    return {"dataset": entry.dataset_id, "title": entry.title, "classification": entry.classification,
            "version": entry.version, "rows": entry.rows, "ingested_at": entry.ingested_at,
            "owner": entry.contract.get("owner"), "synthetic": entry.synthetic}


@dataclass
class DatasetDescription:
    """Contract, versions, validation report and lineage of one dataset."""

    entry: VersionEntry
    versions: list[VersionEntry]

    @property
    def contract(self) -> dict:
        return self.entry.contract

    @property
    def report(self) -> dict:
        return self.entry.report

    @property
    def lineage(self) -> dict:
        return self.entry.lineage

    def fields(self) -> pd.DataFrame:
        return pd.DataFrame([{"Feld": f["name"], "Typ": f["type"], "Titel": f.get("title", ""),
                              "Einheit": f.get("unit", ""), "Beschreibung": f.get("description", "")}
                             for f in self.contract["schema"]["fields"]])

    def to_text(self) -> str:
        e, c = self.entry, self.contract
        label = " (SYNTHETISCHE DATEN)" if e.synthetic else ""
        lines = [f"{e.title}{label}", f"  Datensatz: {e.dataset_id}   Version {e.version} von {len(self.versions)}",
                 f"  {e.description}",
                 f"  Einstufung: {CLASSIFICATION_LABELS[e.classification]}   Eigentümer: {c.get('owner')}",
                 f"  Datenpflege: {c['steward']['name']} <{c['steward']['email']}>   Quelle: {c.get('source_system')}",
                 f"  Lizenz: {c['licence']['name']}", f"  Namensnennung: {c['licence']['attribution']}",
                 f"  Stand: {format_local_datetime(e.ingested_at)} durch {e.ingested_by}; "
                 f"{format_number(e.rows)} Zeilen; sha256 {e.sha256}",
                 f"  Quelldatei: {e.source_file} (sha256 {e.source_sha256[:12]}…); Vertrag {e.contract_version}",
                 f"  Prüfung: {len(e.report.get('rules_checked', []))} Regeln, {e.report.get('warnings', 0)} Warnung(en)"]
        for failure in e.report.get("failures", []):
            if failure.get("severity") == "warning":
                row = f"Zeile {failure['row']}: " if failure.get("row") is not None else ""
                lines.append(f"  Warnung [{failure.get('rule_id') or failure['rule']}] {row}{failure['message']}")
        for note in e.lineage.get("transformations", []):
            lines.append(f"  Umformung: {note}")
        if e.lineage.get("references"):
            refs = ", ".join(f"{k} v{v}" for k, v in e.lineage["references"].items())
            lines.append(f"  Geprüft gegen: {refs}")
        lines.append("  Felder:")
        for f in c["schema"]["fields"]:
            unit = f" [{f['unit']}]" if f.get("unit") else ""
            lines.append(f"    {f['name']:<28} {f['type']:<9} {f.get('title', '')}{unit}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html
        return f"<pre>{html.escape(self.to_text())}</pre>"

    def __str__(self) -> str:
        return self.to_text()


def describe(dataset: str, version: int | None = None, *, store: Store | None = None) -> DatasetDescription:
    store = store or default_store()
    entry = store.catalog.get(dataset, version=version)
    if entry.classification == "confidential":
        entry = _with_full_report(store, entry)
    return DatasetDescription(entry, store.catalog.versions(dataset))


def _with_full_report(store: Store, entry: VersionEntry) -> VersionEntry:
    """The office sees the full validation report, which lies beside the snapshot; for everyone
    else the catalog's redacted one (counts and rule names) stays."""
    from dataclasses import replace

    try:
        full = json.loads((store.root / entry.path).with_suffix(".report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return entry
    return replace(entry, report=full)


