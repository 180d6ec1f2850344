"""Ingest: a department's file becomes a verified, versioned dataset — or is refused.

Reading and validation touch nothing in the store; only data that passes its
contract is written (see ``store.snapshots`` for why a crash at any moment leaves the
store consistent). A rejected file leaves the store byte-for-byte unchanged.

A CSV file is read and validated in chunks of rows (``readers.CsvChunks``,
``validation.chunked``): its text is never held whole, each typed column is filled chunk by
chunk into one buffer for the whole file. Report and snapshot are exactly those of reading the
whole file; where chunks could not give exactly that (a file the reader refuses or reports on,
an unusual column), the file is read whole instead (``readers.NotStreamable``). Peak memory:
``bench/bench_ingest_memory.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bif_lib import config
from bif_lib.contracts import Contract, load_contract
from bif_lib.i18n import format_number
from bif_lib.readers import CsvChunks, NotStreamable, read_source
from bif_lib.store import DatasetNotFound, Store, VersionEntry, admission, sha256_file
from bif_lib.store.admission import AdmissionRefused
from bif_lib.validation import ValidationReport, compile_contract
from bif_lib.validation.report import Failure

Progress = Callable[[str], None]


@dataclass
class IngestOutcome:
    status: str                 # "created" | "unchanged" | "rejected"
    report: ValidationReport
    entry: VersionEntry | None = None
    remote_summary: str | None = None  # the gate's summary when the office wrote through it

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    def summary(self) -> str:
        if self.remote_summary:
            return self.remote_summary
        if self.status == "rejected":
            return (f"„{self.report.dataset}“ abgelehnt: {format_number(self.report.errors)} Fehler – nichts wurde "
                    f"gespeichert.")
        e = self.entry
        if self.status == "unchanged":
            return (f"„{e.dataset_id}“ unverändert: die Daten entsprechen Version {e.version} "
                    f"(sha256 {e.sha256[:12]}…) – nichts zu tun.")
        return (f"„{e.dataset_id}“ Version {e.version} gespeichert: {format_number(e.rows)} Zeilen, "
                f"sha256 {e.sha256[:12]}…"
                + (f", {format_number(self.report.warnings)} Warnung(en)" if self.report.warnings else ""))


def default_store() -> Store:
    return Store(config.store_dir())


def store_references(store: Store, used: dict[str, int] | None = None):
    """Resolve referenced datasets to their latest snapshot, remembering which versions were used."""
    cache: dict = {}

    def resolve(dataset: str):
        if dataset not in cache:
            entry = store.catalog.latest(dataset)
            cache[dataset] = store.read(entry) if entry else None
            if entry and used is not None:
                used[dataset] = entry.version
        return cache[dataset]

    return resolve


def validate_file(contract: Contract, source: Path, store: Store | None = None,
                  progress: Progress | None = None):
    """Read and validate without writing anything. Returns (typed frame or None, report, references used)."""
    return _validate(contract, Path(source), store or default_store(), progress)


def _validate(contract: Contract, source: Path, store: Store, progress: Progress | None):
    """(typed frame or None, report, references used): a CSV file in chunks, other files (and CSV
    files that cannot be read in chunks exactly) whole."""
    say = progress or (lambda message: None)
    say(f"Lese {source.name} ({contract.source['format']}) …")
    try:
        return _validate_in_chunks(contract, source, store, say)
    except NotStreamable:
        pass  # (read whole outside the handler: its traceback would keep the chunks' buffers alive)
    return _validate_whole(contract, source, store, say)


def _validate_in_chunks(contract: Contract, source: Path, store: Store, say: Progress):
    used: dict[str, int] = {}
    validator = compile_contract(contract, store_references(store, used))
    found = ValidationReport(contract.id, str(source), contract.version)
    with CsvChunks(contract, source) as chunks:
        say(f"Prüfe {source.name} abschnittsweise gegen Vertrag {contract.id} {contract.version} …")
        typed, found = validator.validate(chunks, source_file=str(source), report=found)
    report = ValidationReport(contract.id, str(source), contract.version)
    report.notes.extend(chunks.notes)
    for failure in chunks.failures:
        report.add(failure)
    report.extend(found)
    say(f"{format_number(report.rows_checked)} Zeilen geprüft.")
    return typed, report, used


def _validate_whole(contract: Contract, source: Path, store: Store, say: Progress):
    read = read_source(contract, source)
    report = ValidationReport(contract.id, str(source), contract.version)
    report.notes.extend(read.notes)
    for failure in read.failures:
        report.add(failure)
    if not read.readable:
        return None, report, {}
    used: dict[str, int] = {}
    say(f"Prüfe {format_number(len(read.frame))} Zeilen gegen Vertrag {contract.id} {contract.version} …")
    text, read.frame = read.frame, None  # handed over: validation frees each text column once it is typed
    return (*compile_contract(contract, store_references(store, used)).validate(
        text, source_file=str(source), report=report, consume=True), used)


def ingest(contract: Contract | Path | str, source: Path | str, *, store: Store | None = None,
           user: str | None = None, progress: Progress | None = None, certificate=None) -> IngestOutcome:
    """Validate ``source`` against ``contract`` and store it as the next version.

    ``certificate`` is the statistics office's release certificate (``bif_lib.disclosure``; a
    ``Certificate``, its dict or a path to its JSON file) for data derived from confidential
    data; the store refuses such data without one (``store.admission``).
    """
    contract = contract if isinstance(contract, Contract) else load_contract(contract)
    store = store or default_store()
    if through_gate(store):
        return _ingest_through_gate(contract, Path(source), certificate)
    if isinstance(certificate, (str, Path)):
        certificate = json.loads(Path(certificate).read_text(encoding="utf-8"))
    source = Path(source)
    say = progress or (lambda message: None)
    source_sha = sha256_file(source) if source.is_file() else ""
    frame, report, used = _validate(contract, source, store, progress)
    if frame is None or not report.ok:
        return IngestOutcome("rejected", report)
    say("Schreibe Snapshot …")
    lineage = {
        "source_file": str(source.resolve()),
        "source_sha256": source_sha,
        "contract": {"id": contract.id, "version": contract.version, "sha256": contract.sha256,
                     "path": str(contract.path) if contract.path else None},
        "references": used,
        "transformations": report.notes,
    }
    record_id = contract.raw.get("record_id")
    # the column the record keys need, kept beside the frame that the store takes over (pandas shares it)
    ids = frame[[record_id]] if record_id and record_id in frame.columns else frame
    try:
        result = store.write(frame, contract, source_file=source.name, source_sha256=source_sha,
                             ingested_by=user or config.current_user(), report=report, lineage=lineage,
                             certificate=certificate, consume=True)
    except AdmissionRefused as refused:
        report.add(Failure("release", str(refused)))
        return IngestOutcome("rejected", report)
    if record_id:
        from bif_lib.store.record_keys import ensure_record_keys

        ensure_record_keys(store, contract, ids)  # the Cell Key Method's keys, fixed on entry
    return IngestOutcome("created" if result.created else "unchanged", report, result.entry)


def through_gate(store: Store) -> bool:
    """Members of the statistics office write through the audit service (``bif_lib.gate``): the
    store is root's, and every write from the office is recorded with who made it."""
    if os.geteuid() == 0 or os.access(store.root, os.W_OK):
        return False
    return admission.office_member(store.area("confidential"))


def _ingest_through_gate(contract: Contract, source: Path, certificate) -> IngestOutcome:
    from bif_lib.gate import submit

    if contract.path is None:
        raise ValueError("Über die Statistikstelle wird nur ein Vertrag aus einer Datei eingespielt.")
    if certificate is not None and not isinstance(certificate, (str, Path)):
        raise ValueError("Das Zertifikat wird als Datei eingereicht (bif release schreibt sie).")
    reply = submit(contract.path, source, certificate)
    report = ValidationReport(contract.id, str(source), contract.version)
    if reply["status"] == "rejected":
        report.add(Failure("release", reply.get("report") or reply.get("summary", "abgelehnt")))
    return IngestOutcome(reply["status"], report, remote_summary=reply.get("summary"))


__all__ = ["DatasetNotFound", "IngestOutcome", "default_store", "ingest", "validate_file"]
