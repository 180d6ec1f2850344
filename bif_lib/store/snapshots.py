"""The verified store: immutable, versioned Parquet/GeoParquet snapshots plus a catalog.

Layout below the store root::

    catalog.sqlite                               the index (rebuildable from the sidecars), unless
                                                 the catalog is in PostgreSQL (``store.pg_catalog``)
    open/<dataset>/v0001-<sha12>.parquet         one snapshot per version, never rewritten
    open/<dataset>/v0001-<sha12>.arrow           its read copy (tabular data only)
    open/<dataset>/v0001-<sha12>.meta.json       its sidecar: everything the catalog holds of it
    internal/...                                 each classification in its own area, so
    confidential/...                             OS permissions can protect it
    confidential/<dataset>/v0001-<sha12>.report.json   full validation report (confidential only)
    <area>/.staging/                             files being written, and the pending-version records
    <area>/.quarantine/<time>/                   files the store did not recognise (moved, never deleted)

The Parquet (GeoParquet) file is the snapshot: compact, portable, identified by its
sha256. Decoding Parquet costs more than pandas 3 needs to parse the same CSV, so every
tabular snapshot also gets a *read copy*: the same table as uncompressed Arrow IPC, which
``read()`` memory-maps and hands to pandas without decoding (``bench/bench_load.py``).
Each load verifies both: the snapshot's sha256 (a few ms on the compressed file) and the
read copy's xxh3-128 — sha256 over the ten times larger uncompressed copy would cost more
than the load itself, while xxh3 reads at memory speed and detects any corruption.

**The snapshots are the truth, the catalog is an index of them.** Every version's sidecar
(``*.meta.json``, in the same area as its snapshot, so confidential metadata stays in the
confidential area) carries the complete catalog entry: dataset, version, contract and its
hash, checksums, classification, lineage, times. ``rebuild_catalog()`` (``bif catalog
rebuild``) rebuilds the catalog from them. Before every write the store compares the files
on disk with the catalog: a missing, emptied, older or damaged catalog stops the write with
a German message naming the fix, and no file is touched.

Writing is crash-safe: the files are written to staging and fsynced; a *pending* record
(``.staging/<id>.pending.json``) names every file of the new version with its checksum; then
the files are renamed into place (atomic within one filesystem), the sidecar is written, and
the catalog row is committed. ``recover()``, under the store lock before the next write,
finishes what a killed writer left: a pending version the catalog committed is kept, one it
did not is rolled back — only files whose checksum the pending record vouches for are
removed. A file the store cannot account for is never deleted: it is moved to the area's
``.quarantine/`` folder and reported.

``ingested_at`` never goes backwards within a dataset: if the clock stands before the
previous version's stamp (clock set back), the new version is stamped one microsecond
after it and the validation report gets a warning (rule ``clock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import mmap
import os
import re
import stat
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from threading import Thread

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import xxhash

from bif_lib.contracts import CLASSIFICATIONS, Contract
from bif_lib.fsutil import fsync_dir, write_private
from bif_lib.store import admission
from bif_lib.store.catalog import (
    REBUILD_HINT,
    Catalog,
    CatalogDamaged,
    CatalogError,
    CatalogOutOfSync,
    SQLiteCatalog,
    VersionEntry,
    open_catalog,
    shorten,
)
from bif_lib.validation import ValidationReport
from bif_lib.validation.report import Failure


class SnapshotCorrupted(RuntimeError):
    pass


class AccessDenied(PermissionError):
    @classmethod
    def of(cls, entry: VersionEntry) -> AccessDenied:
        return cls(f"Kein Zugriff auf Datensatz „{entry.dataset_id}“ (Einstufung: {entry.classification}). "
                   f"Vertrauliche Daten sieht nur die Statistikstelle.")


class StoreWriteError(OSError):
    """Writing to the store failed (disk full, no permission, read-only file system …).
    The message is German; ``errno`` is the operating system's. Nothing was stored."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code


SNAPSHOT_SUFFIXES = (".parquet", ".arrow")
SIDECAR_SUFFIX = ".meta.json"
REPORT_SUFFIX = ".report.json"
SIDECAR_FORMAT = "bif-snapshot-metadata"
PENDING_FORMAT = "bif-pending-version"
QUARANTINE = ".quarantine"

# every file a version consists of: v0001-<sha12>.parquet/.arrow/.meta.json/.report.json
_VERSION_FILE = re.compile(r"v(\d{4,})-([0-9a-f]{12})(\.parquet|\.arrow|\.meta\.json|\.report\.json)")
# temporaries of a killed writer: write_private's beside a sidecar/report, staging files, pending records
_ATOMIC_TEMP = re.compile(r"\.v\d{4,}-[0-9a-f]{12}\.(meta|report)\.json\.[A-Za-z0-9_]+")
_STAGING_TEMP = re.compile(r"[a-z][a-z0-9_]*-[0-9a-f]{32}\.(parquet|arrow)|\.[0-9a-f]{32}\.pending\.json\.[A-Za-z0-9_]+")
_PENDING = re.compile(r"[0-9a-f]{32}\.pending\.json")



def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def xxh3_file(path: Path) -> str:
    """xxh3-128 of a file, hashed straight from the page cache through a memory map."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return xxhash.xxh3_128_hexdigest(b"")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return xxhash.xxh3_128_hexdigest(view)


_DIGESTS = {"sha256": sha256_file, "xxh3": xxh3_file}


def sidecar_of(snapshot: Path | str) -> Path:
    """``…/v0001-<sha12>.meta.json`` for ``…/v0001-<sha12>.parquet``."""
    snapshot = Path(snapshot)
    return snapshot.with_name(snapshot.name[: -len(snapshot.suffix)] + SIDECAR_SUFFIX)


def sidecar_bytes(entry: VersionEntry) -> bytes:
    document = {"format": SIDECAR_FORMAT, "format_version": 1, "entry": entry.to_json_dict()}
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


@dataclass
class WriteResult:
    entry: VersionEntry
    created: bool  # False: identical data was already the latest version
    quarantined: list[str] = field(default_factory=list)  # unknown files moved aside before the write


@dataclass
class Recovery:
    """What ``recover()`` found and did (paths relative to the store root)."""

    removed: list[str] = field(default_factory=list)       # a killed writer's temporaries / rolled-back files
    quarantined: list[str] = field(default_factory=list)   # "from -> to"
    completed: list[str] = field(default_factory=list)     # pending versions the catalog had committed
    backfilled: list[str] = field(default_factory=list)    # sidecars written for versions from before sidecars


@dataclass
class RebuildResult:
    entries: list[VersionEntry]
    restored: list[str] = field(default_factory=list)      # versions the old catalog did not list
    kept: list[str] = field(default_factory=list)          # old catalog rows without files, carried over
    problems: list[str] = field(default_factory=list)      # German, each names the file
    quarantined: list[str] = field(default_factory=list)
    backup: str = ""                                       # where the old catalog went
    old_catalog: str = ""                                  # "ok" | "damaged" | "missing/empty"


@dataclass
class _Pending:
    path: Path
    entry: VersionEntry
    files: dict[str, tuple[str, str]]  # relative path -> (digest name, digest)


@dataclass
class _Disk:
    """What the store's areas hold."""

    version_files: dict[str, Path] = field(default_factory=dict)   # relative -> absolute
    sidecars: dict[str, Path] = field(default_factory=dict)        # relative snapshot path -> sidecar
    temps: list[Path] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    bad_pending: list[Path] = field(default_factory=list)
    foreign_staging: list[Path] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)                # unknown files in dataset folders (left alone)
    quarantine: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)           # areas or folders we may not list


class Store:
    def __init__(self, root: Path | str, catalog: Catalog | None = None):
        self.root = Path(root)
        self.catalog = catalog or open_catalog(self.root)
        self.catalog.missing_hint = self._missing_hint
        self.last_recovery = Recovery()

    def area(self, classification: str) -> Path:
        if classification not in CLASSIFICATIONS:
            raise ValueError(f"unknown classification {classification}")
        return self.root / classification

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    # --- locking and recovery ---------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self):
        """Serialise writers (ingests, rebuilds): the store's file lock for the processes of one
        machine, then the catalog's own lock for several machines (PostgreSQL: an advisory lock);
        readers need no lock."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise _write_error(exc, self.root, "gesperrt") from exc
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                with self.catalog.writer_lock():
                    yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def lock(self):
        """The writer's lock: exclusive, and the store checked and recovered before anything is written."""
        with self._exclusive():
            try:
                self.last_recovery = self.recover()
            except OSError as exc:
                raise _write_error(exc, self.root, "vorbereitet") from exc
            yield

    def recover(self) -> Recovery:
        """Finish what killed writers left and make sure the catalog matches the disk. Call only under
        the lock. Raises ``CatalogOutOfSync`` / ``CatalogDamaged`` (German, with the fix) and then
        touches nothing."""
        done = Recovery()
        catalogued, disk = self._checked()
        by_key = {(e.dataset_id, e.version): e for e in catalogued}
        paths = {e.path for e in catalogued}
        for pending in disk.pending:
            committed = by_key.get((pending.entry.dataset_id, pending.entry.version))
            if committed is not None and committed.sha256 == pending.entry.sha256:
                pending.path.unlink(missing_ok=True)
                done.completed.append(pending.entry.path)
                continue
            latest = max((e.version for e in catalogued if e.dataset_id == pending.entry.dataset_id), default=0)
            if committed is not None or pending.entry.version != latest + 1:
                raise CatalogOutOfSync(
                    f"Ein abgebrochener Schreibvorgang ({self._rel(pending.path)}) passt nicht zum Katalog "
                    f"{self.catalog.location}: Version {pending.entry.version} von „{pending.entry.dataset_id}“ "
                    f"folgt nicht auf Version {latest}. Nichts wurde verändert; {REBUILD_HINT}.")
            self._roll_back(pending, done)
        for temp in disk.temps:
            temp.unlink(missing_ok=True)
            done.removed.append(self._rel(temp))
        accounted = self._accounted(paths, disk)
        strays = [p for rel, p in disk.version_files.items() if rel not in accounted and p.exists()]
        for path in strays + disk.foreign_staging + disk.bad_pending:
            done.quarantined.append(self._quarantine(path))
        done.backfilled = self._backfill(catalogued, disk)
        return done

    def check_catalog(self) -> None:
        """Raise ``CatalogOutOfSync`` / ``CatalogDamaged`` if the catalog does not match the files on
        disk — read-only and without hashing, so a command can refuse before it reads a large file.
        ``write()`` checks again under the lock."""
        self._checked()

    def _checked(self) -> tuple[list[VersionEntry], _Disk]:
        """(catalog entries, disk state), or the German refusal when they disagree."""
        catalogued = self.catalog.all_versions()  # CatalogDamaged / CatalogUnavailable propagate
        disk = self._scan()
        missing = sorted(set(disk.sidecars) - {e.path for e in catalogued} - {p.entry.path for p in disk.pending})
        if missing or (not catalogued and set(disk.version_files) - self._pending_files(disk)):
            raise CatalogOutOfSync(self._out_of_sync_message(missing, catalogued, disk))
        return catalogued, disk

    def _pending_files(self, disk: _Disk) -> set[str]:
        return {rel for p in disk.pending for rel in p.files}

    def _accounted(self, catalogued_paths: set[str], disk: _Disk) -> set[str]:
        """Version files that belong to a catalogued version, to a sidecar or to a pending write."""
        stems = {p[: -len(Path(p).suffix)] for p in catalogued_paths}
        stems |= {p[: -len(".parquet")] for p in disk.sidecars}
        accounted = {rel for rel in disk.version_files if _stem(rel) in stems}
        return accounted | self._pending_files(disk)

    def _roll_back(self, pending: _Pending, done: Recovery) -> None:
        """Remove an uncommitted version's files — each only if its checksum is the one the pending
        record wrote down (anything else is quarantined), then the record."""
        for relative, (kind, expected) in pending.files.items():
            path = self.root / relative
            if not path.exists():
                continue
            try:
                actual = _DIGESTS[kind](path)
            except OSError:
                actual = ""
            if actual == expected:
                path.unlink()
                done.removed.append(relative)
            else:
                done.quarantined.append(self._quarantine(path))
        pending.path.unlink(missing_ok=True)
        done.removed.append(self._rel(pending.path))

    def _quarantine(self, path: Path) -> str:
        """Move ``path`` into its area's quarantine folder (never delete); return "from -> to"."""
        relative = path.relative_to(self.root)
        area = self.root / relative.parts[0]
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = area / QUARANTINE / stamp / Path(*relative.parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}")
        os.replace(path, target)
        return f"{relative} -> {self._rel(target)}"

    def _backfill(self, catalogued: list[VersionEntry], disk: _Disk) -> list[str]:
        """Sidecars for versions written before there were sidecars (from their catalog rows)."""
        written = []
        for entry in catalogued:
            snapshot = self.root / entry.path
            if entry.path in disk.sidecars or not snapshot.exists() or not os.access(snapshot.parent, os.W_OK):
                continue
            target = sidecar_of(snapshot)
            write_private(target, sidecar_bytes(entry), mode=stat.S_IMODE(snapshot.stat().st_mode))
            written.append(self._rel(target))
        return written

    def _out_of_sync_message(self, missing: list[str], catalogued: list[VersionEntry], disk: _Disk) -> str:
        where = self.catalog.location
        if not catalogued:
            try:
                state = "ist leer" if self.catalog.exists() else "fehlt"
            except CatalogError:
                state = "ist leer oder fehlt"
            count = len(disk.sidecars) or len(disk.version_files)
            head = f"Der Katalog {where} {state}, im Datenspeicher liegen aber {count} Version(en)"
        else:
            head = (f"Der Katalog {where} kennt {len(missing)} Version(en) nicht, die im Datenspeicher liegen "
                    f"(veraltet, z. B. aus einer älteren Sicherung zurückgespielt?)")
        shown = ", ".join(missing[:5]) + (f" und {len(missing) - 5} weitere" if len(missing) > 5 else "")
        listed = f": {shown}" if shown else ""
        moving = ""
        if not catalogued and not isinstance(self.catalog, SQLiteCatalog) \
                and (self.root / "catalog.sqlite").exists() and not (self.root / "catalog.sqlite.moved").exists():
            moving = (" Ein bisher genutzter SQLite-Katalog lässt sich stattdessen mit `bif catalog migrate --to "
                      "postgresql` übernehmen.")
        return (f"{head}{listed}. Es wurde nichts gespeichert und keine Datei verändert. Der Katalog lässt sich "
                f"aus den Metadaten neben den Snapshots wiederherstellen: {REBUILD_HINT}.{moving}")

    def _missing_hint(self, dataset_id: str) -> str:
        found = []
        for classification in CLASSIFICATIONS:
            folder = self.area(classification) / dataset_id
            with contextlib.suppress(OSError):
                found += [p for p in folder.iterdir() if p.name.endswith(SIDECAR_SUFFIX)]
        if not found:
            return ""
        return (f" – im Datenspeicher liegen aber {len(found)} Version(en) davon; der Katalog "
                f"{self.catalog.location} ist veraltet, leer oder fehlt: {REBUILD_HINT}")

    # --- what is on disk -------------------------------------------------------------------------

    def _scan(self) -> _Disk:
        disk = _Disk()
        for classification in CLASSIFICATIONS:
            area = self.area(classification)
            try:
                children = list(area.iterdir())
            except FileNotFoundError:
                continue
            except OSError:
                disk.unreadable.append(area)
                continue
            for child in children:
                if child.name == ".staging":
                    self._scan_staging(child, disk)
                elif child.name == QUARANTINE:
                    disk.quarantine += [p for p in child.rglob("*") if p.is_file()]
                elif child.is_dir() and not child.is_symlink():
                    self._scan_dataset(child, disk)
                else:
                    disk.other.append(child)
        return disk

    def _scan_staging(self, staging: Path, disk: _Disk) -> None:
        try:
            children = list(staging.iterdir())
        except OSError:
            disk.unreadable.append(staging)
            return
        for path in children:
            if _PENDING.fullmatch(path.name):
                pending = self._read_pending(path)
                (disk.pending.append(pending) if pending else disk.bad_pending.append(path))
            elif _STAGING_TEMP.fullmatch(path.name):
                disk.temps.append(path)
            else:
                disk.foreign_staging.append(path)

    def _scan_dataset(self, folder: Path, disk: _Disk) -> None:
        try:
            children = list(folder.iterdir())
        except OSError:
            disk.unreadable.append(folder)
            return
        for path in children:
            if _VERSION_FILE.fullmatch(path.name):
                relative = self._rel(path)
                disk.version_files[relative] = path
                if path.name.endswith(SIDECAR_SUFFIX):
                    disk.sidecars[_stem(relative) + ".parquet"] = path
            elif _ATOMIC_TEMP.fullmatch(path.name):
                disk.temps.append(path)
            else:
                disk.other.append(path)

    def _read_pending(self, path: Path) -> _Pending | None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format") != PENDING_FORMAT:
                return None
            files = {rel: (kind, digest) for rel, (kind, digest) in document["files"].items()}
            if any(kind not in _DIGESTS or ".." in Path(rel).parts for rel, (kind, _) in files.items()):
                return None
            return _Pending(path, VersionEntry.from_dict(document["entry"]), files)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # --- writing -----------------------------------------------------------------------------------

    def sealed_area(self) -> Path:
        """The confidential area, made unreachable for other accounts before anything is put in it.

        Created 0700 (``apply_store_permissions`` later opens it to the statistics office's
        group, never to others); an existing area loses any permission for others first, so
        no confidential byte is ever written where another account could reach it.
        """
        area = self.area("confidential")
        area.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            area.mkdir(mode=0o700)
        mode = area.stat().st_mode
        if mode & 0o007:
            os.chmod(area, stat.S_IMODE(mode) & ~0o007)
        return area

    def write(self, frame: pd.DataFrame, contract: Contract, *, source_file: str, source_sha256: str,
              ingested_by: str, report: ValidationReport, lineage: dict,
              certificate=None, consume: bool = False) -> WriteResult:
        """Write a validated frame as the dataset's next version (or recognise it is unchanged).

        ``consume=True`` hands the frame over (the ingest's peak memory): its columns are deleted
        from it once the read copy is written, and the Parquet snapshot is written from the read copy
        on disk, not from memory (``_write_parquet_from_copy``). The files are the same.

        Refused with ``AdmissionRefused`` when the write would carry confidential data out of
        the statistics office without a matching release certificate (``admission``); with
        ``CatalogOutOfSync`` / ``CatalogDamaged`` when the catalog does not match the disk;
        with ``StoreWriteError`` (German) when the disk is full, read-only or not writable.
        In every refusal nothing is stored.
        """
        try:
            area = self.sealed_area() if contract.classification == "confidential" else self.area(contract.classification)
        except OSError as exc:
            raise _write_error(exc, self.root, "angelegt") from exc
        staging = area / ".staging"
        with self.lock():
            recovery = self.last_recovery
            for moved in recovery.quarantined:
                report.add(Failure("store", f"Unbekannte Datei im Datenspeicher in die Quarantäne verschoben (nicht "
                                            f"gelöscht): {moved}. Bitte prüfen, woher sie stammt.",
                                   severity="warning"))
            release = admission.admit(self, frame, contract, lineage, certificate)
            if release is not None:
                lineage = {**lineage, "release": release}
            tmp = staging / f"{contract.id}-{uuid.uuid4().hex}.parquet"
            tmp_copy = tmp.with_suffix(".arrow")
            pending_path = staging / f"{uuid.uuid4().hex}.pending.json"
            placed: list[Path] = []
            try:
                staging.mkdir(parents=True, exist_ok=True)
                # one Arrow table for both files (converting the frame twice held two copies at once)
                table = _arrow_table(frame)
                rows, columns = len(frame), [str(c) for c in frame.columns]
                from_copy = consume and table is not None and contract.geometry_field is None and not frame.attrs
                if from_copy:
                    _write_read_copy(frame, tmp_copy, table, sync=False)
                    table = None
                    for column in list(frame.columns):  # handed over: the data lives on in the read copy only
                        del frame[column]
                    _release_memory()
                    _write_parquet_from_copy(tmp_copy, tmp)
                else:
                    _write_parquet(frame, tmp, table)
                digest = sha256_file(tmp)
                latest = self.catalog.latest(contract.id)
                if latest and latest.sha256 == digest and latest.contract_sha256 == contract.sha256:
                    tmp.unlink()
                    tmp_copy.unlink(missing_ok=True)
                    return WriteResult(latest, created=False, quarantined=recovery.quarantined)
                version = (latest.version + 1) if latest else 1
                final = area / contract.id / f"v{version:04d}-{digest[:12]}.parquet"
                final.parent.mkdir(parents=True, exist_ok=True)
                ingested_at = _next_stamp(latest, report)
                details = report.to_dict()
                full_report = None
                if contract.classification == "confidential":
                    # rows, values and messages of a confidential dataset stay in its area;
                    # the catalog, which every account reads, gets counts and rule names only
                    full_report = json.dumps(details, ensure_ascii=False, default=str).encode()
                    details, lineage = redact_report(details), redact_lineage(lineage)
                read_copy, read_copy_xxh3 = "", ""
                if from_copy:
                    _fsync(tmp_copy)
                    read_copy_xxh3 = _xxh3_streamed(tmp_copy)
                    read_copy = self._rel(final.with_suffix(".arrow"))
                elif contract.geometry_field is None:
                    _write_read_copy(frame, tmp_copy, table)
                    read_copy_xxh3 = _xxh3_streamed(tmp_copy)
                    read_copy = self._rel(final.with_suffix(".arrow"))
                table = None
                pa.default_memory_pool().release_unused()
                entry = VersionEntry(
                    dataset_id=contract.id, version=version, classification=contract.classification,
                    title=contract.title, description=contract.description,
                    path=self._rel(final), sha256=digest, rows=rows,
                    columns=columns, contract_version=contract.version,
                    contract_sha256=contract.sha256, contract=contract.raw, source_file=source_file,
                    source_sha256=source_sha256, ingested_by=ingested_by, ingested_at=ingested_at,
                    synthetic=contract.synthetic, report=details, lineage=lineage,
                    read_copy=read_copy, read_copy_xxh3=read_copy_xxh3)
                metadata = sidecar_bytes(entry)
                sidecar = sidecar_of(final)
                report_file = final.with_name(final.name[: -len(".parquet")] + REPORT_SUFFIX)
                files = {entry.path: ("sha256", digest), self._rel(sidecar): ("sha256", _sha256(metadata))}
                if read_copy:
                    files[read_copy] = ("xxh3", read_copy_xxh3)
                if full_report is not None:
                    files[self._rel(report_file)] = ("sha256", _sha256(full_report))
                # the pending record first: from here on, recover() can tell these files apart
                write_private(pending_path, json.dumps({"format": PENDING_FORMAT, "entry": entry.to_json_dict(),
                                                       "files": files}, ensure_ascii=False).encode())
                fsync_dir(staging)
                if full_report is not None:
                    placed.append(report_file)
                    write_private(report_file, full_report, mode=0o640)  # the office's group reads it
                if read_copy:
                    placed.append(self.root / read_copy)
                    os.replace(tmp_copy, self.root / read_copy)
                placed.append(final)
                os.replace(tmp, final)
                placed.append(sidecar)
                write_private(sidecar, metadata, mode=stat.S_IMODE(final.stat().st_mode))
                fsync_dir(final.parent)
            except BaseException as exc:
                tmp.unlink(missing_ok=True)
                tmp_copy.unlink(missing_ok=True)
                for path in placed:  # written by this call a moment ago: ours to remove
                    path.unlink(missing_ok=True)
                pending_path.unlink(missing_ok=True)
                if isinstance(exc, OSError) and not isinstance(exc, (StoreWriteError, CatalogError)):
                    raise _write_error(exc, self.root, "geschrieben") from exc
                raise
            try:
                self.catalog.add_version(entry)
            except BaseException:
                if self._committed(entry) is False:
                    for path in placed:
                        path.unlink(missing_ok=True)
                    pending_path.unlink(missing_ok=True)
                raise  # committed or unknown: the pending record lets recover() decide
            pending_path.unlink(missing_ok=True)
            return WriteResult(entry, created=True, quarantined=recovery.quarantined)

    def _committed(self, entry: VersionEntry) -> bool | None:
        """Did the catalog commit ``entry``? None if the catalog cannot tell."""
        try:
            return any(e.version == entry.version and e.sha256 == entry.sha256
                       for e in self.catalog.versions(entry.dataset_id))
        except Exception:  # noqa: BLE001 - unknown: keep the files, recover() decides later
            return None

    # --- rebuilding the catalog ----------------------------------------------------------------

    def rebuild_catalog(self) -> RebuildResult:
        """Rebuild the catalog from the sidecars beside the snapshots (``bif catalog rebuild``).

        Under the writers' lock. Pending versions whose files are all complete are kept (their
        commit cannot be told without a catalog; keeping data is the safe side), incomplete ones
        are rolled back. Version files without a sidecar that the old catalog (if readable) does
        not describe are quarantined. Rows of the old catalog whose files are gone are carried
        over and reported. The old catalog is kept (SQLite: ``catalog.sqlite.bak-…``; PostgreSQL:
        the table ``bif_catalog.versions_bak_…``).
        """
        with self._exclusive():
            result = RebuildResult(entries=[])
            try:
                old = self.catalog.all_versions()
                result.old_catalog = "ok" if old else "missing/empty"
            except CatalogDamaged:
                old, result.old_catalog = [], "damaged"
            disk = self._scan()
            if disk.unreadable:
                raise CatalogError(
                    f"Der Katalog kann nicht wiederhergestellt werden: kein Lesezugriff auf "
                    f"{', '.join(str(p) for p in disk.unreadable)}. Bitte als Konto mit Zugriff auf alle Bereiche "
                    f"(root) ausführen. Nichts wurde verändert.")
            done = Recovery()
            for pending in disk.pending:
                if self._complete(pending):
                    pending.path.unlink(missing_ok=True)
                else:
                    self._roll_back(pending, done)
            for temp in disk.temps:
                temp.unlink(missing_ok=True)
            self._backfill(old, self._scan())
            disk = self._scan()
            entries: dict[tuple[str, int], VersionEntry] = {}
            old_paths = {e.path: e for e in old}
            for snapshot, sidecar in sorted(disk.sidecars.items()):
                entry, problem = self._read_sidecar(snapshot, sidecar)
                if problem and snapshot in old_paths:
                    # the old catalog still knows this version: its row repairs the sidecar
                    entry = old_paths[snapshot]
                    write_private(sidecar, sidecar_bytes(entry))
                    result.problems.append(f"{problem} Aus dem bisherigen Katalog neu geschrieben.")
                elif problem:
                    # unreadable and unknown: the version's files go to quarantine together (not deleted)
                    stem = _stem(snapshot)
                    for relative, path in sorted(disk.version_files.items()):
                        if _stem(relative) == stem and path.exists():
                            result.quarantined.append(self._quarantine(path))
                    result.problems.append(f"{problem} Ihre Dateien liegen jetzt in der Quarantäne.")
                    continue
                key = (entry.dataset_id, entry.version)
                if key in entries:
                    result.problems.append(f"{entry.dataset_id} Version {entry.version} ist doppelt vorhanden "
                                           f"({entries[key].path} und {entry.path}); beide bleiben liegen, bitte "
                                           f"klären lassen – in den Katalog kommt {entries[key].path}.")
                    continue
                entries[key] = entry
                result.problems += [f"{entry.dataset_id} v{entry.version}: {text}"
                                    for text in self._problem_texts(entry)]
            old_keys = {(e.dataset_id, e.version): e for e in old}
            for key, entry in old_keys.items():
                if key in entries:
                    continue
                # a row of the old catalog without a sidecar: carried over, never dropped
                entries[key] = entry
                result.kept.append(f"{entry.dataset_id} v{entry.version}")
                if not (self.root / entry.path).exists():
                    result.problems.append(f"{entry.dataset_id} v{entry.version}: Snapshot fehlt ({entry.path}); "
                                           f"der Katalogeintrag bleibt erhalten, die Daten sind verloren – "
                                           f"aus der Sicherung zurückspielen.")
            accounted = self._accounted({e.path for e in entries.values()}, disk)
            for relative, path in sorted(disk.version_files.items()):
                if relative not in accounted and path.exists():
                    result.quarantined.append(self._quarantine(path))
            for path in disk.foreign_staging + disk.bad_pending:
                result.quarantined.append(self._quarantine(path))
            result.quarantined += done.quarantined
            result.entries = [entries[k] for k in sorted(entries)]
            result.restored = [f"{e.dataset_id} v{e.version}" for k, e in sorted(entries.items()) if k not in old_keys]
            self.catalog.replace_all(result.entries)
            if result.old_catalog != "missing/empty" and (backups := self.catalog.backups()):
                result.backup = str(backups[-1])
            return result

    def _complete(self, pending: _Pending) -> bool:
        for relative, (kind, expected) in pending.files.items():
            try:
                if _DIGESTS[kind](self.root / relative) != expected:
                    return False
            except OSError:
                return False
        return True

    def _read_sidecar(self, snapshot: str, sidecar: Path) -> tuple[VersionEntry | None, str]:
        try:
            document = json.loads(sidecar.read_text(encoding="utf-8"))
            if document.get("format") != SIDECAR_FORMAT:
                raise ValueError("kein BIF-Metadatenformat")
            entry = VersionEntry.from_dict(document["entry"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return None, f"Metadaten {self._rel(sidecar)} sind nicht lesbar ({shorten(exc, 120)})."
        parts = Path(snapshot).parts
        if entry.path != snapshot or parts[0] != entry.classification or parts[1] != entry.dataset_id:
            return None, (f"Metadaten {self._rel(sidecar)} beschreiben „{shorten(entry.path, 120)}“, liegen aber bei "
                          f"{snapshot} (verschoben oder kopiert?).")
        return entry, ""

    # --- reading and checking -------------------------------------------------------------------

    def read(self, entry: VersionEntry, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a snapshot after checking its checksums; fail loudly if it changed on disk."""
        checked = _in_background(self._check, entry)  # hashing releases the GIL: runs beside the read
        try:
            if entry.read_copy:
                frame = _read_copy(self.root / entry.read_copy, columns)
            else:
                checked.result()  # Parquet: check first, then decode
                frame = _read_parquet(self.root / entry.path, columns, geo=_is_geo(entry))
        except (OSError, ValueError, pa.ArrowException):
            checked.result()  # a damaged or unreadable file: report that, not the decoder's error
            raise
        checked.result()
        return frame

    def _check(self, entry: VersionEntry) -> None:
        for relative, problem in self._problems(entry):
            if problem == "denied":
                raise AccessDenied.of(entry)
            if problem == "missing":
                raise SnapshotCorrupted(
                    f"Snapshot von „{entry.dataset_id}“ Version {entry.version} fehlt: {self.root / relative}")
            raise SnapshotCorrupted(f"Snapshot von „{entry.dataset_id}“ Version {entry.version} ist beschädigt: "
                                    f"{problem} ({self.root / relative})")

    def _problems(self, entry: VersionEntry):
        """(file, problem) for each file of the version that is unreadable, missing or changed."""
        checks = [(entry.path, sha256_file, entry.sha256)]
        if entry.read_copy:
            checks.append((entry.read_copy, xxh3_file, entry.read_copy_xxh3))
        for relative, digest_of, expected in checks:
            try:
                actual = digest_of(self.root / relative)
            except PermissionError:
                yield relative, "denied"
            except FileNotFoundError:
                yield relative, "missing"
            else:
                if actual != expected:
                    yield relative, f"Prüfsumme {actual[:12]}… statt {expected[:12]}…"

    def _problem_texts(self, entry: VersionEntry) -> list[str]:
        words = {"missing": "Datei fehlt", "denied": "kein Lesezugriff"}
        return [f"{words.get(problem, 'Prüfsumme stimmt nicht')} ({relative})"
                for relative, problem in self._problems(entry)]

    def inspect(self) -> tuple[list[str], list[str]]:
        """(problems, notes), German, without writing anything: the catalog against the disk, every
        catalogued snapshot's checksums, files no version accounts for, quarantined files."""
        problems, notes = [], []
        try:
            catalogued = self.catalog.all_versions()
        except CatalogError as exc:
            return [str(exc)], notes
        disk = self._scan()
        paths = {e.path for e in catalogued}
        pending = {p.entry.path for p in disk.pending}
        missing = sorted(set(disk.sidecars) - paths - pending)
        if missing or (not catalogued and set(disk.version_files) - self._pending_files(disk)):
            problems.append(self._out_of_sync_message(missing, catalogued, disk).replace(
                " Es wurde nichts gespeichert und keine Datei verändert.", ""))
        for entry in catalogued:
            problems += [f"{entry.dataset_id} v{entry.version}: {text}" for text in self._problem_texts(entry)]
            sidecar = disk.sidecars.get(entry.path)
            if sidecar is None:
                if (self.root / entry.path).exists():
                    notes.append(f"{entry.dataset_id} v{entry.version}: noch ohne Metadaten-Datei (ältere BIF-Version); "
                                 f"sie wird beim nächsten Einspielen ergänzt.")
                continue
            stored, problem = self._read_sidecar(entry.path, sidecar)
            if problem:
                problems.append(f"{problem} `bif catalog rebuild` schreibt sie aus dem Katalogeintrag neu.")
            elif stored.to_json_dict() != entry.to_json_dict():
                problems.append(f"{entry.dataset_id} v{entry.version}: der Katalogeintrag weicht von den Metadaten "
                                f"{self._rel(sidecar)} ab – {REBUILD_HINT}.")
        accounted = self._accounted(paths, disk)
        for relative in sorted(set(disk.version_files) - accounted):
            if catalogued:
                problems.append(f"{relative}: gehört zu keiner Version (weder Katalog noch Metadaten); wird beim "
                                f"nächsten Einspielen in die Quarantäne verschoben, nicht gelöscht.")
        for path in disk.foreign_staging + disk.bad_pending:
            problems.append(f"{self._rel(path)}: unbekannte Datei im Staging-Ordner; wird beim nächsten Einspielen "
                            f"in die Quarantäne verschoben, nicht gelöscht.")
        if disk.pending:
            notes.append(f"{len(disk.pending)} Schreibvorgang/-vorgänge nicht abgeschlossen (läuft oder wurde "
                         f"abgebrochen); wird beim nächsten Einspielen abgeschlossen oder zurückgenommen.")
        for path in disk.quarantine:
            notes.append(f"in Quarantäne: {self._rel(path)} (bitte prüfen und dann entfernen oder zurücklegen)")
        for path in disk.unreadable:
            notes.append(f"kein Lesezugriff auf {path}: dort nicht geprüft")
        return problems, notes

    def verify(self) -> list[str]:
        """Check the catalog against the disk and every catalogued snapshot's checksums; return the
        problems (German; empty: all good). Writes nothing."""
        return self.inspect()[0]

    def _all_entries(self):
        return self.catalog.all_versions()


def _stem(relative: str) -> str:
    """``open/x/v0001-abc`` for any file of that version."""
    match = _VERSION_FILE.fullmatch(Path(relative).name)
    return str(Path(relative).with_name(f"v{match.group(1)}-{match.group(2)}")) if match else relative


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _next_stamp(latest: VersionEntry | None, report: ValidationReport) -> str:
    """Now, but never before the previous version: a clock set back gets a warning and previous + 1 µs."""
    now = datetime.now(timezone.utc)
    if latest is not None:
        previous = latest.ingested
        previous = previous if previous.tzinfo else previous.replace(tzinfo=timezone.utc)
        if now <= previous:
            stamped = previous.astimezone(timezone.utc) + timedelta(microseconds=1)
            report.add(Failure(
                "clock", f"Die Uhr des Servers ({now.isoformat(timespec='seconds')}) steht vor dem Zeitstempel der "
                         f"vorigen Version {latest.version} ({latest.ingested_at}); die neue Version erhält "
                         f"{stamped.isoformat(timespec='microseconds')}, damit die Reihenfolge stimmt. Bitte die "
                         f"Systemzeit (NTP) prüfen lassen.", severity="warning"))
            return stamped.isoformat(timespec="microseconds")
    return now.isoformat(timespec="microseconds")


_WRITE_ERRORS = {
    errno.ENOSPC: "kein Platz mehr auf dem Datenträger. Bitte Speicherplatz freigeben und erneut einspielen",
    errno.EDQUOT: "das Speicherkontingent (Quota) ist erschöpft. Bitte Platz schaffen oder das Kontingent erhöhen",
    errno.EACCES: "keine Schreibrechte. Einspielen braucht ein Konto mit Schreibrechten auf den Datenspeicher "
                  "(Datenpflege/Statistikstelle)",
    errno.EPERM: "keine Berechtigung. Einspielen braucht ein Konto mit Schreibrechten auf den Datenspeicher",
    errno.EROFS: "das Dateisystem ist schreibgeschützt eingehängt. Bitte den Betrieb verständigen",
    errno.EIO: "Ein-/Ausgabefehler des Datenträgers. Bitte den Datenträger prüfen lassen",
}


def _write_error(exc: OSError, root: Path, action: str) -> StoreWriteError:
    code = exc.errno
    if code is None and "No space left" in str(exc):
        code = errno.ENOSPC
    reason = _WRITE_ERRORS.get(code, f"{exc.strerror or shorten(exc, 200)}")
    where = exc.filename or root
    return StoreWriteError(f"Der Datenspeicher {root} kann nicht {action} werden ({where}): {reason}. "
                           f"Es wurde nichts gespeichert; der Datenspeicher ist unverändert.", code)


def redact_report(report: dict) -> dict:
    """A validation report without rows, values or messages: what the catalog may hold of a
    confidential dataset (the full report lies beside the snapshot, ``*.report.json``)."""
    kept = ("dataset", "source_file", "contract_version", "ok", "rows_checked", "errors", "warnings",
            "rules_checked", "counts_per_rule")
    return {**{k: report[k] for k in kept if k in report}, "failures": [], "notes": [],
            "redacted": "Einzelheiten vertraulich: nur im Bereich der Statistikstelle"}


def redact_lineage(lineage: dict) -> dict:
    """Lineage of a confidential dataset for the catalog: sources and contract, no transformation
    notes (they may quote values)."""
    notes = lineage.get("transformations") or []
    return {**lineage, "transformations": [f"{len(notes)} Umformung(en), Einzelheiten vertraulich"] if notes else []}


def _is_geo(entry: VersionEntry) -> bool:
    return any(f.get("type") == "geometry" for f in entry.contract["schema"]["fields"])


def _in_background(function, *args) -> Future:
    # A thread per call rather than a shared pool: stays correct in forked processes.
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            future.set_exception(exc)

    Thread(target=run, name="bif-verify", daemon=True).start()
    return future


def _read_parquet(path: Path, columns: list[str] | None, geo: bool) -> pd.DataFrame:
    if geo:
        import geopandas as gpd
        return gpd.read_parquet(path, columns=columns)
    return pd.read_parquet(path, columns=columns)


def _read_copy(path: Path, columns: list[str] | None) -> pd.DataFrame:
    # Memory-mapped: Arrow reads no bytes up front, pandas converts straight from the page cache.
    table = feather.read_table(path, columns=columns, memory_map=True)
    return _to_pandas(table)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas()`` in a third of the time: column by column to the dtypes the pandas
    metadata names, each column copied once (pyarrow and pandas copy integer columns up to
    three times on the way, and the block manager once more), no copies for the frame."""
    dtypes = table.schema.empty_table().to_pandas().dtypes  # the exact dtypes, from the metadata
    if list(dtypes.index) != table.column_names or len(set(table.column_names)) != table.num_columns:
        return table.to_pandas()  # index columns or repeated names: leave it to pyarrow
    data = {}
    for name, column in zip(table.column_names, table.columns):
        dtype = dtypes[name]
        if _is_masked_number(dtype) and column.num_chunks == 1 \
                and column.type == pa.from_numpy_dtype(dtype.numpy_dtype):
            data[name] = _masked_array(dtype, column.chunk(0))
        elif hasattr(dtype, "__from_arrow__"):
            data[name] = dtype.__from_arrow__(column)
        else:
            values = column.to_numpy().astype(dtype, copy=False)
            data[name] = values if values.flags.writeable else values.copy()  # not a view of the file
    return pd.DataFrame(data, copy=False)


def _is_masked_number(dtype) -> bool:
    """Int64, Float64 … (pandas' nullable numbers), told apart through the public array classes."""
    construct = getattr(dtype, "construct_array_type", None)
    return construct is not None and construct() in (pd.arrays.IntegerArray, pd.arrays.FloatingArray)


def _masked_array(dtype, array: pa.Array):
    """Int64/Float64 array from Arrow buffers: the values copied once out of the memory map."""
    values = np.frombuffer(array.buffers()[1], dtype=dtype.numpy_dtype, count=len(array) + array.offset)
    values = values[array.offset:].copy()
    if array.null_count:
        missing = ~np.asarray(array.is_valid())
    else:
        missing = np.zeros(len(array), dtype=bool)
    return dtype.construct_array_type()(values, missing, copy=False)


def _arrow_table(frame: pd.DataFrame) -> pa.Table | None:
    """The frame as Arrow, exactly as ``DataFrame.to_parquet(index=False)`` converts it (None for
    geodata, which GeoPandas writes itself)."""
    if hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame.columns:
        return None
    import warnings

    with warnings.catch_warnings():  # as pandas does: pyarrow's warning about timezone-aware .values
        warnings.filterwarnings("ignore", r"(Series|DatetimeIndex)\.values returning an ndarray that drops "
                                          "timezone information")
        return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _xxh3_streamed(path: Path) -> str:
    """``xxh3_file`` in 1 MB reads: hashing through a memory map counts the whole file as the
    ingest's resident memory (the file's pages are mapped into the process)."""
    digest = xxhash.xxh3_128()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _write_read_copy(frame: pd.DataFrame, path: Path, table: pa.Table | None = None, sync: bool = True) -> None:
    # One record batch (no chunks to stitch together on load), uncompressed (nothing to decode);
    # the pandas metadata in the schema brings back the exact dtypes.
    # (text columns read through Arrow arrive in 64k-row chunks: combine them first)
    if table is None:
        table = _arrow_table(frame)
    table = table.combine_chunks()
    feather.write_feather(table, path, compression="uncompressed", chunksize=max(len(frame), 1))
    if sync:
        _fsync(path)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _write_parquet_from_copy(copy: Path, path: Path) -> None:
    """The Parquet snapshot written from the read copy just written (the same table, so the same
    bytes as from the frame), memory-mapped: the frame's memory is free by then, and the pages the
    writer has read are dropped from the process every few milliseconds (``MADV_DONTNEED``: the
    mapping is the file's, so they stay in the page cache and are mapped again if touched again, at
    no risk to the data). The ingest's peak memory is then the typed frame or the Parquet writer's
    own buffers, not both (``bench_ingest_memory``)."""
    import threading

    with open(copy, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        done = threading.Event()

        def drop_pages():
            while not done.wait(0.005):
                mapped.madvise(mmap.MADV_DONTNEED)  # (Linux, macOS; elsewhere the pages simply stay)

        dropper = Thread(target=drop_pages, name="bif-pages", daemon=True)
        buffer = pa.py_buffer(mapped)
        try:
            table = pa.ipc.open_file(pa.BufferReader(buffer)).read_all()
            if hasattr(mmap, "MADV_DONTNEED"):
                dropper.start()
            _write_parquet(None, path, table)
        finally:
            done.set()
            if dropper.is_alive():
                dropper.join()
            table = buffer = None  # every view of the mapping released before it is closed


def _release_memory() -> None:
    from bif_lib.readers import release_memory

    release_memory()


def _write_parquet(frame: pd.DataFrame | None, path: Path, table: pa.Table | None = None) -> None:
    # No timestamps or hostnames inside the file: identical data gives identical bytes,
    # which is how a repeated ingest is recognised as unchanged.
    if frame is None:  # a table converted from a frame without attrs (``_write_parquet_from_copy``)
        pq.write_table(table, str(path), compression="zstd")
        _fsync(path)
        return
    frame = frame.reset_index(drop=True)
    if hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame.columns:
        frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=False)
    elif table is None or frame.attrs:
        frame.to_parquet(path, index=False, compression="zstd")
    else:  # what to_parquet does, from the table already converted
        pq.write_table(table, str(path), compression="zstd")
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
