"""The verified store: immutable, versioned Parquet/GeoParquet snapshots plus a catalog.

Layout below the store root::

    catalog.sqlite
    open/<dataset>/v0001-<sha12>.parquet         one snapshot per version, never rewritten
    open/<dataset>/v0001-<sha12>.arrow           its read copy (tabular data only)
    internal/...                                 each classification in its own area, so
    confidential/...                             OS permissions can protect it
    <area>/.staging/                             files being written (invisible)

The Parquet (GeoParquet) file is the snapshot: compact, portable, identified by its
sha256. Decoding Parquet costs more than pandas 3 needs to parse the same CSV, so every
tabular snapshot also gets a *read copy*: the same table as uncompressed Arrow IPC, which
``read()`` memory-maps and hands to pandas without decoding (``bench/bench_load.py``).
Each load verifies both: the snapshot's sha256 (a few ms on the compressed file) and the
read copy's xxh3-128 — sha256 over the ten times larger uncompressed copy would cost more
than the load itself, while xxh3 reads at memory speed and detects any corruption.

Writing is crash-safe: the files are written to staging, fsynced and renamed into
place (atomic within one filesystem), then the catalog row is committed. Whatever
is killed when, a version is either fully visible or not at all; leftovers of a
killed writer (staging files, renamed files without catalog row) are removed by
``recover()`` under the store lock before the next write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import uuid
from concurrent.futures import Future
from threading import Thread
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import xxhash

from ..contracts import CLASSIFICATIONS, Contract
from ..fsutil import fsync_dir
from ..validation import ValidationReport
from .catalog import Catalog, SQLiteCatalog, VersionEntry


class SnapshotCorrupted(RuntimeError):
    pass


class AccessDenied(PermissionError):
    pass


SNAPSHOT_SUFFIXES = (".parquet", ".arrow")


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
            for snapshot in (p for suffix in SNAPSHOT_SUFFIXES for p in area.glob(f"*/*{suffix}")):
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
            tmp_copy = tmp.with_suffix(".arrow")
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
                read_copy, read_copy_xxh3 = "", ""
                if contract.geometry_field is None:
                    _write_read_copy(frame, tmp_copy)
                    read_copy_xxh3 = xxh3_file(tmp_copy)
                    os.replace(tmp_copy, final.with_suffix(".arrow"))
                    read_copy = str(final.with_suffix(".arrow").relative_to(self.root))
                os.replace(tmp, final)
                fsync_dir(final.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                tmp_copy.unlink(missing_ok=True)
                raise
            entry = VersionEntry(
                dataset_id=contract.id, version=version, classification=contract.classification,
                title=contract.title, description=contract.description,
                path=str(final.relative_to(self.root)), sha256=digest, rows=len(frame),
                columns=[str(c) for c in frame.columns], contract_version=contract.version,
                contract_sha256=contract.sha256, contract=contract.raw, source_file=source_file,
                source_sha256=source_sha256, ingested_by=ingested_by,
                ingested_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                synthetic=contract.synthetic, report=report.to_dict(), lineage=lineage,
                read_copy=read_copy, read_copy_xxh3=read_copy_xxh3)
            try:
                self.catalog.add_version(entry)
            except BaseException:
                for path in entry.files:
                    (self.root / path).unlink(missing_ok=True)
                raise
            return WriteResult(entry, created=True)

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
                raise AccessDenied(
                    f"Kein Zugriff auf Datensatz „{entry.dataset_id}“ (Einstufung: {entry.classification}). "
                    f"Vertrauliche Daten sieht nur die Statistikstelle.")
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

    def verify(self) -> list[str]:
        """Check every catalogued snapshot's checksum; return problems (empty: all good)."""
        problems = []
        for entry in self._all_entries():
            for relative, problem in self._problems(entry):
                text = {"missing": "Datei fehlt", "denied": "kein Lesezugriff"}.get(problem, "Prüfsumme stimmt nicht")
                problems.append(f"{entry.dataset_id} v{entry.version}: {text} ({relative})")
        return problems

    def _all_entries(self):
        for latest in self.catalog.latest_versions():
            yield from self.catalog.versions(latest.dataset_id)


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


def _write_read_copy(frame: pd.DataFrame, path: Path) -> None:
    # One record batch (no chunks to stitch together on load), uncompressed (nothing to decode);
    # the pandas metadata in the schema brings back the exact dtypes.
    # (text columns read through Arrow arrive in 64k-row chunks: combine them first)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False).combine_chunks()
    feather.write_feather(table, path, compression="uncompressed", chunksize=max(len(frame), 1))
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


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
