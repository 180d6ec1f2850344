"""The catalog: which dataset versions exist, where their snapshots are and how they came to be.

``Catalog`` is the interface; ``SQLiteCatalog`` is the single-machine default. A
PostgreSQL catalog implements the same methods (the SQL is plain and portable).
The catalog row is the commit point of an ingest: a snapshot becomes visible only
when its row is committed, in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path


class DatasetNotFound(LookupError):
    def __init__(self, dataset: str, detail: str = ""):
        super().__init__(f"Datensatz „{dataset}“ ist nicht im Katalog{detail}")
        self.dataset = dataset


@dataclass
class VersionEntry:
    dataset_id: str
    version: int
    classification: str
    title: str
    description: str
    path: str                 # snapshot file, relative to the store root
    sha256: str
    rows: int
    columns: list[str]
    contract_version: str
    contract_sha256: str
    contract: dict
    source_file: str
    source_sha256: str
    ingested_by: str
    ingested_at: str          # ISO 8601, UTC
    synthetic: bool = False
    report: dict = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)
    read_copy: str = ""       # Arrow IPC copy of the snapshot for fast loads ("" for geodata)
    read_copy_xxh3: str = ""  # its xxh3-128 digest

    @property
    def files(self) -> list[str]:
        """The snapshot and, where there is one, its read copy (relative to the store root)."""
        return [self.path, self.read_copy] if self.read_copy else [self.path]

    @property
    def ingested(self) -> datetime:
        return datetime.fromisoformat(self.ingested_at)

    def to_dict(self) -> dict:
        return asdict(self)


_JSON_COLUMNS = ("columns", "contract", "report", "lineage")

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    dataset_id       TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    classification   TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    path             TEXT    NOT NULL UNIQUE,
    sha256           TEXT    NOT NULL,
    rows             INTEGER NOT NULL,
    columns          TEXT    NOT NULL,
    contract_version TEXT    NOT NULL,
    contract_sha256  TEXT    NOT NULL,
    contract         TEXT    NOT NULL,
    source_file      TEXT    NOT NULL,
    source_sha256    TEXT    NOT NULL,
    ingested_by      TEXT    NOT NULL,
    ingested_at      TEXT    NOT NULL,
    synthetic        INTEGER NOT NULL DEFAULT 0,
    report           TEXT    NOT NULL,
    lineage          TEXT    NOT NULL,
    read_copy        TEXT    NOT NULL DEFAULT '',
    read_copy_xxh3   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (dataset_id, version)
);
"""
# Columns added after the first release: catalogs created before get them on their next write.
_ADDED_COLUMNS = {"read_copy": "TEXT NOT NULL DEFAULT ''", "read_copy_xxh3": "TEXT NOT NULL DEFAULT ''"}


class Catalog(ABC):
    """What the store needs from a catalog."""

    @abstractmethod
    def add_version(self, entry: VersionEntry) -> None:
        """Register a version atomically; fails if (dataset_id, version) exists."""

    @abstractmethod
    def versions(self, dataset_id: str) -> list[VersionEntry]:
        """All versions of a dataset, oldest first."""

    @abstractmethod
    def latest_versions(self) -> list[VersionEntry]:
        """The newest version of every dataset."""

    @abstractmethod
    def snapshot_paths(self) -> set[str]:
        """Every snapshot file (snapshots and read copies) the catalog refers to."""

    def latest(self, dataset_id: str) -> VersionEntry | None:
        versions = self.versions(dataset_id)
        return versions[-1] if versions else None

    def get(self, dataset_id: str, version: int | None = None, as_of: datetime | str | None = None) -> VersionEntry:
        versions = self.versions(dataset_id)
        if not versions:
            raise DatasetNotFound(dataset_id)
        if version is not None:
            for entry in versions:
                if entry.version == int(version):
                    return entry
            raise DatasetNotFound(dataset_id, f" in Version {version} (vorhanden: "
                                              f"{', '.join(str(v.version) for v in versions)})")
        if as_of is not None:
            moment = _as_datetime(as_of)
            eligible = [v for v in versions if v.ingested <= moment]
            if not eligible:
                raise DatasetNotFound(dataset_id, f" zum Stand {moment.isoformat()} (erste Version vom "
                                                  f"{versions[0].ingested_at})")
            return eligible[-1]
        return versions[-1]


def _as_datetime(value) -> datetime:
    """A moment from a datetime, a date (its end: the version current that day) or ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time.max)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class SQLiteCatalog(Catalog):
    """Catalog in one SQLite file. Readers open it read-only, so they need no write permission."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def _connect(self, write: bool) -> sqlite3.Connection:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            con.execute("PRAGMA synchronous=FULL")
            con.executescript(SCHEMA)
            present = {row[1] for row in con.execute("PRAGMA table_info(versions)")}
            for name, declaration in _ADDED_COLUMNS.items():
                if name not in present:
                    con.execute(f"ALTER TABLE versions ADD COLUMN {name} {declaration}")
        else:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def _query(self, sql: str, params=(), retry: bool = True) -> list[sqlite3.Row]:
        if not self.path.exists():
            return []
        con = self._connect(write=False)
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            if "readonly" in str(exc) and retry and self._roll_back_hot_journal():
                return self._query(sql, params, retry=False)
            raise
        finally:
            con.close()

    def _roll_back_hot_journal(self) -> bool:
        """A writer killed mid-commit leaves a "hot" journal that only a writable connection can
        roll back; until then every read-only reader fails. Roll it back now if we may write."""
        journal = self.path.with_name(self.path.name + "-journal")
        if not journal.exists():
            return False
        if not os.access(self.path.parent, os.W_OK) or not os.access(self.path, os.W_OK):
            raise PermissionError(
                f"Der Katalog {self.path} ist nach einem abgebrochenen Schreibvorgang noch nicht "
                f"wiederhergestellt; bitte `bif catalog verify` mit Schreibrechten ausführen (Statistikstelle).")
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()  # rolls the journal back
        finally:
            con.close()
        return True

    def add_version(self, entry: VersionEntry) -> None:
        record = entry.to_dict()
        for key in _JSON_COLUMNS:
            record[key] = json.dumps(record[key], ensure_ascii=False, default=str)
        record["synthetic"] = int(entry.synthetic)
        columns = ", ".join(record)
        placeholders = ", ".join(f":{k}" for k in record)
        con = self._connect(write=True)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"INSERT INTO versions ({columns}) VALUES ({placeholders})", record)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def versions(self, dataset_id: str) -> list[VersionEntry]:
        rows = self._query("SELECT * FROM versions WHERE dataset_id = ? ORDER BY version", (dataset_id,))
        return [_entry(r) for r in rows]

    def latest_versions(self) -> list[VersionEntry]:
        rows = self._query("""SELECT v.* FROM versions v
                              JOIN (SELECT dataset_id, MAX(version) AS version FROM versions GROUP BY dataset_id) m
                              USING (dataset_id, version) ORDER BY v.dataset_id""")
        return [_entry(r) for r in rows]

    def snapshot_paths(self) -> set[str]:
        # SELECT *: a catalog from before the read copies has no read_copy column yet
        rows = [dict(row) for row in self._query("SELECT * FROM versions")]
        return {row["path"] for row in rows} | {row["read_copy"] for row in rows if row.get("read_copy")}


def _entry(row: sqlite3.Row) -> VersionEntry:
    data = dict(row)
    for key in _JSON_COLUMNS:
        data[key] = json.loads(data[key])
    data["synthetic"] = bool(data["synthetic"])
    return VersionEntry(**data)
