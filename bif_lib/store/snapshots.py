"""The verified store: immutable, versioned Parquet/GeoParquet snapshots plus a catalog.

Layout below the store root::

    catalog.sqlite
    open/<dataset>/v0001-<sha12>.parquet         one file per version, never rewritten
    internal/...                                 each classification in its own area, so
    confidential/...                             OS permissions can protect it
    <area>/.staging/                             files being written (invisible)

Writing is crash-safe: the snapshot is written to staging, fsynced and renamed into
place (atomic within one filesystem), then the catalog row is committed. Whatever
is killed when, a version is either fully visible or not at all; leftovers of a
killed writer (staging files, renamed files without catalog row) are removed by
``recover()`` under the store lock before the next write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..contracts import CLASSIFICATIONS, Contract
from ..fsutil import fsync_dir
from ..validation import ValidationReport
from .catalog import Catalog, SQLiteCatalog, VersionEntry


class SnapshotCorrupted(RuntimeError):
    pass


class AccessDenied(PermissionError):
    pass


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class WriteResult:
    entry: VersionEntry
    created: bool  # False: identical data was already the latest version


class Store:
    def __init__(self, root: Path | str, catalog: Catalog | None = None):
        self.root = Path(root)
        self.catalog = catalog or SQLiteCatalog(self.root / "catalog.sqlite")

    def area(self, classification: str) -> Path:
        if classification not in CLASSIFICATIONS:
            raise ValueError(f"unknown classification {classification}")
        return self.root / classification

    @contextlib.contextmanager
    def lock(self):
        """Serialise writers (ingests on one machine); readers need no lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.recover()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def recover(self) -> list[Path]:
        """Remove what killed writers left behind. Call only under ``lock()``."""
        removed = []
        known = self.catalog.snapshot_paths()
        for classification in CLASSIFICATIONS:
            area = self.area(classification)
            if not area.is_dir():
                continue
            for leftover in (area / ".staging").glob("*"):
                leftover.unlink()
                removed.append(leftover)
            for snapshot in area.glob("*/*.parquet"):
                if str(snapshot.relative_to(self.root)) not in known:
                    snapshot.unlink()
                    removed.append(snapshot)
        return removed

    def write(self, frame: pd.DataFrame, contract: Contract, *, source_file: str, source_sha256: str,
              ingested_by: str, report: ValidationReport, lineage: dict) -> WriteResult:
        """Write a validated frame as the dataset's next version (or recognise it is unchanged)."""
        area = self.area(contract.classification)
        staging = area / ".staging"
        with self.lock():
            staging.mkdir(parents=True, exist_ok=True)
            tmp = staging / f"{contract.id}-{uuid.uuid4().hex}.parquet"
            try:
                _write_parquet(frame, tmp)
                digest = sha256_file(tmp)
                latest = self.catalog.latest(contract.id)
                if latest and latest.sha256 == digest and latest.contract_sha256 == contract.sha256:
                    tmp.unlink()
                    return WriteResult(latest, created=False)
                version = (latest.version + 1) if latest else 1
                final = area / contract.id / f"v{version:04d}-{digest[:12]}.parquet"
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
                fsync_dir(final.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            entry = VersionEntry(
                dataset_id=contract.id, version=version, classification=contract.classification,
                title=contract.title, description=contract.description,
                path=str(final.relative_to(self.root)), sha256=digest, rows=len(frame),
                columns=[str(c) for c in frame.columns], contract_version=contract.version,
                contract_sha256=contract.sha256, contract=contract.raw, source_file=source_file,
                source_sha256=source_sha256, ingested_by=ingested_by,
                ingested_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                synthetic=contract.synthetic, report=report.to_dict(), lineage=lineage)
            try:
                self.catalog.add_version(entry)
            except BaseException:
                final.unlink(missing_ok=True)
                raise
            return WriteResult(entry, created=True)

    def read(self, entry: VersionEntry, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a snapshot after checking its sha256; fail loudly if it changed on disk."""
        path = self.root / entry.path
        try:
            actual = sha256_file(path)
        except PermissionError:
            raise AccessDenied(
                f"Kein Zugriff auf Datensatz „{entry.dataset_id}“ (Einstufung: {entry.classification}). "
                f"Vertrauliche Daten sieht nur die Statistikstelle.") from None
        except FileNotFoundError:
            raise SnapshotCorrupted(f"Snapshot von „{entry.dataset_id}“ Version {entry.version} fehlt: {path}") from None
        if actual != entry.sha256:
            raise SnapshotCorrupted(
                f"Snapshot von „{entry.dataset_id}“ Version {entry.version} ist beschädigt: Prüfsumme "
                f"{actual[:12]}… statt {entry.sha256[:12]}… ({path})")
        if _is_geo(entry):
            import geopandas as gpd
            return gpd.read_parquet(path, columns=columns)
        return pd.read_parquet(path, columns=columns)

    def verify(self) -> list[str]:
        """Check every catalogued snapshot's checksum; return problems (empty: all good)."""
        problems = []
        for entry in self._all_entries():
            path = self.root / entry.path
            if not path.exists():
                problems.append(f"{entry.dataset_id} v{entry.version}: Datei fehlt ({entry.path})")
            elif sha256_file(path) != entry.sha256:
                problems.append(f"{entry.dataset_id} v{entry.version}: Prüfsumme stimmt nicht ({entry.path})")
        return problems

    def _all_entries(self):
        for latest in self.catalog.latest_versions():
            yield from self.catalog.versions(latest.dataset_id)


def _is_geo(entry: VersionEntry) -> bool:
    return any(f.get("type") == "geometry" for f in entry.contract["schema"]["fields"])


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    # No timestamps or hostnames inside the file: identical data gives identical bytes,
    # which is how a repeated ingest is recognised as unchanged.
    frame = frame.reset_index(drop=True)
    if hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame.columns:
        frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=False)
    else:
        frame.to_parquet(path, index=False, compression="zstd")
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
