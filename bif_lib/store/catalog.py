"""The catalog: an index of the dataset versions in the store, where their snapshots are and how
they came to be.

The snapshots are the truth: every version's metadata also lies beside its snapshot (the
*sidecar*, see ``store.snapshots``), and the catalog can be rebuilt from the sidecars
(``Store.rebuild_catalog``, ``bif catalog rebuild``). Whether the catalog agrees with the
files on disk is decided by the ``Store``, not here, so that every catalog implementation
gets the same protection.

``Catalog`` is the interface; ``SQLiteCatalog`` is the single-machine default,
``PostgresCatalog`` (``store.pg_catalog``) the one for several machines. Both store the same
columns with the same text (JSON columns as JSON text, written by ``_record``), so a catalog
moves between them row for row (``store.migrate``, ``bif catalog migrate``), and both map
their driver's errors to ``CatalogDamaged`` / ``CatalogUnavailable`` with German messages.
``open_catalog`` picks the one the configuration names (``config.catalog_connection``).
The catalog row is the commit point of an ingest: a snapshot becomes visible only
when its row is committed, in one transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
REBUILD_HINT = "bitte `bif catalog rebuild` ausführen (Betrieb/Statistikstelle, mit Schreibrechten auf den Datenspeicher)"


class DatasetNotFound(LookupError):
    def __init__(self, dataset: str, detail: str = ""):
        super().__init__(f"Datensatz „{dataset}“ ist nicht im Katalog{detail}")
        self.dataset = dataset


class CatalogError(RuntimeError):
    """The catalog cannot be used as it is; the message is German and says what to do."""


class CatalogDamaged(CatalogError):
    """The catalog is not readable as a catalog (corrupted, truncated, not a database)."""


class CatalogUnavailable(CatalogError):
    """The catalog cannot be reached or written (permissions, disk full, locked)."""


class CatalogOutOfSync(CatalogError):
    """The catalog does not list what the store holds on disk (missing, emptied, older backup)."""


class InvalidAsOf(ValueError):
    """An ``as_of`` value that names no moment (German message)."""


def shorten(value, limit: int = 80) -> str:
    """``value`` as text for a message, cut to ``limit`` characters (messages never echo unbounded input)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} Zeichen)"


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
    ingested_at: str          # ISO 8601, UTC; never earlier than the previous version's
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

    def to_json_dict(self) -> dict:
        """The entry as the catalog stores it: JSON columns through ``json`` (dates become text)."""
        return json.loads(json.dumps(self.to_dict(), ensure_ascii=False, default=str))

    @classmethod
    def from_dict(cls, data: dict) -> "VersionEntry":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


_JSON_COLUMNS = ("columns", "contract", "report", "lineage")

# The versions table, declared once for both backends: SQLite and PostgreSQL differ only in the
# integer type of the row count (``{big}``: INTEGER is 64 bits in SQLite, 32 in PostgreSQL).
_TABLE_COLUMNS = (
    ("dataset_id", "TEXT NOT NULL"), ("version", "INTEGER NOT NULL"), ("classification", "TEXT NOT NULL"),
    ("title", "TEXT NOT NULL"), ("description", "TEXT NOT NULL"), ("path", "TEXT NOT NULL UNIQUE"),
    ("sha256", "TEXT NOT NULL"), ("rows", "{big} NOT NULL"), ("columns", "TEXT NOT NULL"),
    ("contract_version", "TEXT NOT NULL"), ("contract_sha256", "TEXT NOT NULL"), ("contract", "TEXT NOT NULL"),
    ("source_file", "TEXT NOT NULL"), ("source_sha256", "TEXT NOT NULL"), ("ingested_by", "TEXT NOT NULL"),
    ("ingested_at", "TEXT NOT NULL"), ("synthetic", "INTEGER NOT NULL DEFAULT 0"), ("report", "TEXT NOT NULL"),
    ("lineage", "TEXT NOT NULL"), ("read_copy", "TEXT NOT NULL DEFAULT ''"),
    ("read_copy_xxh3", "TEXT NOT NULL DEFAULT ''"),
)


def versions_table_sql(table: str, big_integer: str = "INTEGER") -> str:
    """``CREATE TABLE <table> (…)`` of the versions table (``table`` as the dialect writes it)."""
    lines = [f"    {name:<16} {kind.format(big=big_integer)}" for name, kind in _TABLE_COLUMNS]
    return f"CREATE TABLE {table} (\n" + ",\n".join([*lines, "    PRIMARY KEY (dataset_id, version)"]) + "\n)"


SCHEMA = versions_table_sql("IF NOT EXISTS versions") + ";\n"
# Columns added after the first release: catalogs created before get them on their next write.
_ADDED_COLUMNS = {name: kind for name, kind in _TABLE_COLUMNS if name in ("read_copy", "read_copy_xxh3")}


class Catalog(ABC):
    """What the store needs from a catalog."""

    #: set by the ``Store``: explains a dataset the catalog does not know (e.g. "lies on disk, rebuild")
    missing_hint: Callable[[str], str] | None = None

    @property
    def location(self) -> str:
        """Where the catalog is, for messages (no secrets)."""
        return type(self).__name__

    def exists(self) -> bool:
        """Is there a catalog at all (a file, a table), be it empty? For messages: "fehlt" or "ist leer"."""
        return True

    def writer_lock(self):
        """A context manager that serialises the writers of this catalog beyond the store's file
        lock (``Store._exclusive`` holds both). A database server shared by several machines
        needs it: a file lock on shared storage is not to be relied on."""
        return contextlib.nullcontext()

    def backups(self) -> list:
        """The copies ``replace_all`` kept of the content it replaced, oldest first."""
        return []

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

    @abstractmethod
    def replace_all(self, entries: Iterable[VersionEntry]) -> None:
        """Replace the whole content by ``entries`` in one step (used by ``Store.rebuild_catalog``).

        Must work on a damaged catalog too, and must not destroy the old content irrecoverably
        (SQLite keeps the old file as a backup; a database server does it in one transaction)."""

    def all_versions(self) -> list[VersionEntry]:
        """Every version of every dataset, by dataset and version."""
        return [entry for latest in self.latest_versions() for entry in self.versions(latest.dataset_id)]

    def latest(self, dataset_id: str) -> VersionEntry | None:
        versions = self.versions(dataset_id)
        return versions[-1] if versions else None

    def get(self, dataset_id: str, version: int | None = None, as_of: datetime | date | str | None = None) -> VersionEntry:
        """One version of a dataset: the newest, version number ``version``, or the one current ``as_of``.

        ``as_of`` has one meaning for every form (see ``moment_of``): the version current at that
        moment, i.e. the newest version ingested at or before it. A date (``date`` object,
        ``"2026-12-05"`` or ``"05.12.2026"``) means the *end* of that day in Europe/Berlin — the
        version that was current that day; a datetime without time zone is Europe/Berlin wall
        time; a datetime with time zone (or ``Z``) is that instant.
        """
        moment = moment_of(as_of) if as_of is not None else None  # a bad as_of fails before any lookup
        versions = self.versions(dataset_id)
        if not versions:
            hint = self.missing_hint(dataset_id) if self.missing_hint else ""
            raise DatasetNotFound(dataset_id, hint)
        if version is not None:
            try:
                number = int(version)
            except (TypeError, ValueError):
                raise DatasetNotFound(dataset_id, f": „{shorten(version, 40)}“ ist keine Versionsnummer") from None
            for entry in versions:
                if entry.version == number:
                    return entry
            raise DatasetNotFound(dataset_id, f" in Version {number} (vorhanden: "
                                              f"{', '.join(str(v.version) for v in versions)})")
        if moment is not None:
            eligible = [v for v in versions if v.ingested <= moment]
            if not eligible:
                first = min(versions, key=lambda v: v.ingested)
                raise DatasetNotFound(dataset_id, f" zum Stand {_german_moment(moment)} (erste Version vom "
                                                  f"{_german_moment(first.ingested)})")
            return max(eligible, key=lambda v: (v.ingested, v.version))
        return versions[-1]


# --- as_of ----------------------------------------------------------------------------------

_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_GERMAN_DATETIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})[ ,T]+(\d{1,2}):(\d{2})(?::(\d{2}))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def end_of_day(day: date) -> datetime:
    """The last microsecond of ``day`` in Europe/Berlin, as an aware datetime."""
    next_midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=BERLIN)
    return (next_midnight.astimezone(timezone.utc) - timedelta(microseconds=1))


def moment_of(value) -> datetime:
    """The instant an ``as_of`` value names, as an aware UTC datetime.

    ============================================  =========================================
    value                                         moment
    ============================================  =========================================
    ``date(2026, 12, 5)``, ``"2026-12-05"``,      end of that day in Europe/Berlin
    ``"05.12.2026"``                              (23:59:59.999999 local time)
    ``datetime`` / ``pd.Timestamp`` without tz,   that wall-clock time in Europe/Berlin
    ``"2026-12-05T14:30"``, ``"05.12.2026 14:30"``
    with tz, ``"2026-12-05T14:30:00+01:00"``,     that instant
    ``"…Z"``
    ============================================  =========================================

    Anything else raises ``InvalidAsOf`` with a German message.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return end_of_day(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if match := _GERMAN_DATE.fullmatch(text):
                day, month, year = map(int, match.groups())
                return end_of_day(date(year, month, day))
            if match := _GERMAN_DATETIME.fullmatch(text):
                day, month, year, hour, minute, second = (int(g or 0) for g in match.groups())
                moment = datetime(year, month, day, hour, minute, second)
            elif _ISO_DATE.fullmatch(text):
                return end_of_day(date.fromisoformat(text))
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
                moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
            else:
                raise ValueError(text)
        except ValueError:
            raise InvalidAsOf(
                f"Stichtag as_of=„{shorten(value, 40)}“ ist kein gültiges Datum und kein Zeitpunkt. Erwartet wird "
                f"TT.MM.JJJJ (z. B. 05.12.2026), JJJJ-MM-TT, TT.MM.JJJJ HH:MM oder JJJJ-MM-TTTHH:MM[:SS][+01:00]; "
                f"ein Datum meint das Ende dieses Tages (Europe/Berlin).") from None
    else:
        raise InvalidAsOf(f"Stichtag as_of muss ein Datum, ein Zeitpunkt oder Text sein, nicht "
                          f"{type(value).__name__} („{shorten(value, 40)}“).")
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        moment = moment.replace(tzinfo=BERLIN)
    return moment.astimezone(timezone.utc)


def _german_moment(moment: datetime) -> str:
    local = moment.astimezone(BERLIN)
    return local.strftime("%d.%m.%Y %H:%M:%S") + " (Europe/Berlin)"


# --- SQLite -----------------------------------------------------------------------------------

MOVED_SUFFIX = ".moved"


class SQLiteCatalog(Catalog):
    """Catalog in one SQLite file. Readers open it read-only, so they need no write permission.

    A catalog moved elsewhere by ``bif catalog migrate`` stays as it was, with a marker beside
    it (``catalog.sqlite.moved``, see ``store.migrate``): then every read and write is refused
    with where the catalog is now, so that nobody answers from, or writes into, the copy left
    behind. ``ignore_moved=True`` is for the migration itself.
    """

    def __init__(self, path: Path | str, ignore_moved: bool = False):
        self.path = Path(path)
        self.ignore_moved = ignore_moved

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def moved_marker(self) -> Path:
        return self.path.with_name(self.path.name + MOVED_SUFFIX)

    def exists(self) -> bool:
        return self.path.exists()

    def _check_moved(self) -> None:
        if self.ignore_moved or not self.moved_marker.exists():
            return
        try:
            note = json.loads(self.moved_marker.read_text(encoding="utf-8"))
            where, when = str(note.get("moved_to") or "?"), str(note.get("moved_at") or "?")
        except (OSError, ValueError, AttributeError):
            where, when = "?", "?"
        raise CatalogUnavailable(
            f"Der Katalog {self.path} wird nicht mehr verwendet: er wurde am {when[:19].replace('T', ' ')} (UTC) "
            f"nach {where} übertragen (`bif catalog migrate`). Bitte die Einstellungen catalog.backend und "
            f"catalog.url (bzw. BIF_CATALOG_URL) entsprechend setzen; die Plattform übergibt sie dann an alle "
            f"Dienste und Server.")

    def _connect(self, write: bool) -> sqlite3.Connection:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                con.execute("PRAGMA synchronous=FULL")
                con.executescript(SCHEMA)
                present = {row[1] for row in con.execute("PRAGMA table_info(versions)")}
                for name, declaration in _ADDED_COLUMNS.items():
                    if name not in present:
                        con.execute(f"ALTER TABLE versions ADD COLUMN {name} {declaration}")
            except BaseException:
                con.close()
                raise
        else:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def _query(self, sql: str, params=(), retry: bool = True) -> list[sqlite3.Row]:
        self._check_moved()
        if not self.path.exists():
            return []
        try:
            con = self._connect(write=False)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "gelesen") from exc
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            if "readonly" in str(exc) and retry and self._roll_back_hot_journal():
                return self._query(sql, params, retry=False)
            raise _translate(exc, self.path, "gelesen") from exc
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path, "gelesen") from exc
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
        self._check_moved()
        record = _record(entry)
        columns = ", ".join(record)
        placeholders = ", ".join(f":{k}" for k in record)
        try:
            con = self._connect(write=True)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path, "geschrieben") from exc
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"INSERT INTO versions ({columns}) VALUES ({placeholders})", record)
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                if con.in_transaction:
                    con.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                raise _translate(exc, self.path, "geschrieben") from exc
            raise
        finally:
            con.close()

    def versions(self, dataset_id: str) -> list[VersionEntry]:
        rows = self._query("SELECT * FROM versions WHERE dataset_id = ? ORDER BY version", (dataset_id,))
        return _entries(rows, self.location)

    def latest_versions(self) -> list[VersionEntry]:
        rows = self._query("""SELECT v.* FROM versions v
                              JOIN (SELECT dataset_id, MAX(version) AS version FROM versions GROUP BY dataset_id) m
                              USING (dataset_id, version) ORDER BY v.dataset_id""")
        return _entries(rows, self.location)

    def all_versions(self) -> list[VersionEntry]:
        return _entries(self._query("SELECT * FROM versions ORDER BY dataset_id, version"), self.location)

    def snapshot_paths(self) -> set[str]:
        # SELECT *: a catalog from before the read copies has no read_copy column yet
        rows = [dict(row) for row in self._query("SELECT * FROM versions")]
        return {row["path"] for row in rows} | {row["read_copy"] for row in rows if row.get("read_copy")}

    def replace_all(self, entries: Iterable[VersionEntry]) -> None:
        """Write a new catalog file beside the old one, keep the old one as
        ``catalog.sqlite.bak-<UTC time>`` (never deleted) and rename the new one into place."""
        from bif_lib.fsutil import fsync_dir

        self._check_moved()
        new = self.path.with_name(f".{self.path.name}.rebuild-{uuid.uuid4().hex}")
        try:
            con = sqlite3.connect(new, isolation_level=None)
            try:
                con.execute("PRAGMA synchronous=FULL")
                con.executescript(SCHEMA)
                con.execute("BEGIN IMMEDIATE")
                for entry in entries:
                    record = _record(entry)
                    con.execute(f"INSERT INTO versions ({', '.join(record)}) "
                                f"VALUES ({', '.join(f':{k}' for k in record)})", record)
                con.execute("COMMIT")
            finally:
                con.close()
            with open(new, "rb+") as fh:
                os.fsync(fh.fileno())
            mode = 0o644
            if self.path.exists():
                mode = self.path.stat().st_mode & 0o777
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                backup = self.path.with_name(f"{self.path.name}.bak-{stamp}")
                os.replace(self.path, backup)
                journal = self.path.with_name(self.path.name + "-journal")
                if journal.exists():
                    os.replace(journal, backup.with_name(backup.name + "-journal"))
            os.chmod(new, mode)
            os.replace(new, self.path)
            fsync_dir(self.path.parent)
        except sqlite3.Error as exc:
            new.unlink(missing_ok=True)
            raise _translate(exc, new, "geschrieben") from exc
        except BaseException:
            new.unlink(missing_ok=True)
            raise

    def backups(self) -> list[Path]:
        """Catalog files replaced by ``replace_all``, oldest first."""
        return sorted(p for p in self.path.parent.glob(f"{self.path.name}.bak-*") if not p.name.endswith("-journal"))


def _record(entry: VersionEntry) -> dict:
    record = entry.to_dict()
    for key in _JSON_COLUMNS:
        record[key] = json.dumps(record[key], ensure_ascii=False, default=str)
    record["synthetic"] = int(entry.synthetic)
    return record


def _entry(row) -> VersionEntry:
    data = dict(row)
    for key in _JSON_COLUMNS:
        data[key] = json.loads(data[key])
    data["synthetic"] = bool(data["synthetic"])
    return VersionEntry(**data)


def _entries(rows, location: str) -> list[VersionEntry]:
    """Catalog rows as entries; a row that is not one (a column missing, JSON that does not parse)
    makes the catalog damaged — it is never passed on half-read."""
    try:
        return [_entry(row) for row in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise CatalogDamaged(f"Der Katalog {location} ist beschädigt: ein Eintrag ist nicht lesbar "
                             f"({shorten(exc, 120)}); die Snapshots sind davon nicht betroffen. Zum Wiederherstellen "
                             f"aus den Snapshots {REBUILD_HINT}.") from None


def open_catalog(root: Path | str) -> Catalog:
    """The catalog of the store at ``root``: PostgreSQL if ``BIF_CATALOG_URL`` is set and ``root`` is
    the configured store ``BIF_STORE`` (the URL names that store's catalog, no other), otherwise
    the SQLite file ``<root>/catalog.sqlite``. A scratch store (tests, benchmarks, a bootstrap
    into a folder of its own) therefore never writes into the platform's catalog."""
    from bif_lib import config

    connection = config.catalog_connection()
    if connection is not None and os.path.realpath(root) == os.path.realpath(config.store_dir()):
        from bif_lib.store.pg_catalog import PostgresCatalog

        return PostgresCatalog(connection["url"], user=connection["user"], password=connection["password"])
    return SQLiteCatalog(Path(root) / "catalog.sqlite")


def _translate(exc: sqlite3.Error, path: Path, action: str) -> CatalogError:
    """A German ``CatalogError`` for an SQLite error (what happened to which file, what to do)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in text or "malformed" in text:
        return CatalogDamaged(f"Der Katalog {path} ist beschädigt ({text}); die Snapshots sind davon nicht "
                              f"betroffen. Zum Wiederherstellen aus den Snapshots {REBUILD_HINT}.")
    if name == "SQLITE_FULL" or "disk is full" in text:
        return CatalogUnavailable(f"Der Katalog {path} kann nicht geschrieben werden: kein Platz mehr auf dem "
                                  f"Datenträger. Nichts wurde gespeichert; bitte Speicherplatz freigeben und den "
                                  f"Vorgang wiederholen.")
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return CatalogUnavailable(f"Der Katalog {path} ist schreibgeschützt (keine Schreibrechte oder "
                                  f"schreibgeschütztes Dateisystem). Einspielen braucht ein Konto mit Schreibrechten "
                                  f"auf den Datenspeicher.")
    if name.startswith("SQLITE_BUSY") or "locked" in text:
        return CatalogUnavailable(f"Der Katalog {path} ist gerade durch einen anderen Vorgang gesperrt; bitte in "
                                  f"einigen Minuten erneut versuchen.")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return CatalogUnavailable(f"Der Katalog {path} lässt sich nicht öffnen (fehlende Zugriffsrechte auf die "
                                  f"Datei oder ihren Ordner?). Bitte die Rechte prüfen lassen.")
    if name.startswith("SQLITE_IOERR") or "I/O error" in text:
        return CatalogUnavailable(f"Der Katalog {path} kann nicht {action} werden: Ein-/Ausgabefehler des "
                                  f"Datenträgers ({text}). Bitte den Datenträger prüfen lassen.")
    return CatalogDamaged(f"Der Katalog {path} kann nicht {action} werden ({text}). Falls er beschädigt ist: "
                          f"{REBUILD_HINT}.")
