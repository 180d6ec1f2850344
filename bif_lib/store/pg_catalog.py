"""The catalog in PostgreSQL, for a store on shared storage used from several machines.

The same table as the SQLite catalog (``catalog.SCHEMA``: the same columns, JSON columns as
the same JSON text), in the schema ``bif_catalog`` of a database of its own. What differs
from SQLite is kept here and small:

* placeholders ``%(name)s`` instead of ``:name``; ``rows`` is ``BIGINT`` (SQLite's INTEGER is
  64 bits already); no upserts anywhere (a version row is inserted once, never changed);
* **writers** are serialised by a PostgreSQL advisory lock (``writer_lock``), held by the
  ``Store`` together with its file lock for the whole write: a file lock on shared storage
  (NFS, CephFS) is not to be relied on between machines, the database's lock is. The
  primary key (dataset, version) refuses a second row for a version in any case;
* ``replace_all`` (``bif catalog rebuild``, ``bif catalog migrate``) renames the old table to
  ``versions_bak_<UTC time>`` (kept, never dropped: the old content stays readable) and fills
  a new one, in one transaction: readers see the old catalog or the new one, never a mix;
* readers keep one connection per process (a catalog lookup costs a round trip, not a
  connection with its authentication); a process forked from it opens its own.

Roles (``setup_sql``): ``bif_catalog_writer`` owns the schema and is the only role that
writes — root's ingests, the office's gate, rebuild and migrate; ``bif_catalog_reader`` may
only read — analysts' kernels, apps, the office's kernels. The catalog holds no confidential
values (docs/statistics-office.md), so every BIF account may read it. Errors become
``CatalogUnavailable`` (server unreachable, login refused, no permission, disk full) or
``CatalogDamaged`` (rows that are not catalog rows), in German; a missing table is an empty
catalog, which the ``Store`` compares with the sidecars like a missing SQLite file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from datetime import datetime, timezone
from typing import Iterable

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row

from bif_lib.store.catalog import (
    REBUILD_HINT,
    Catalog,
    CatalogDamaged,
    CatalogError,
    CatalogUnavailable,
    VersionEntry,
    _entries,
    _record,
    shorten,
    versions_table_sql,
)

SCHEMA_NAME = "bif_catalog"
TABLE_NAME = "versions"
BACKUP_PREFIX = "versions_bak_"
WRITER_ROLE = "bif_catalog_writer"
READER_ROLE = "bif_catalog_reader"
# one advisory lock for all writers of a database (advisory locks are per database)
WRITER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"bif-catalog-writers").digest()[:8], "big", signed=True)

_TABLE = sql.Identifier(SCHEMA_NAME, TABLE_NAME)
_CREATE = sql.SQL(versions_table_sql("{table}", big_integer="BIGINT"))

# the readers' connections: one per (conninfo, user, process) — a forked child opens its own (and
# psycopg never closes a connection in a process that did not open it, so the parent's stays alive)
_connections: dict[tuple, psycopg.Connection] = {}
_connections_lock = threading.Lock()


def setup_sql(database: str = "bif_catalog", writer: str = WRITER_ROLE, reader: str = READER_ROLE) -> str:
    """What a database administrator runs once (``psql`` as superuser) for a new catalog database:
    the two roles (passwords set afterwards with ``\\password``), the database, the schema owned
    by the writer, read access for the reader on every table the writer creates there."""
    def ident(name: str) -> str:  # plain where plain is enough (and psql's \connect takes it as it is)
        return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else sql.Identifier(name).as_string(None)

    db, w, r, schema = ident(database), ident(writer), ident(reader), ident(SCHEMA_NAME)
    return f"""-- BIF catalog in PostgreSQL (docs/store.md); as a superuser, e.g. sudo -u postgres psql -f -
CREATE ROLE {w} LOGIN;
CREATE ROLE {r} LOGIN;
CREATE DATABASE {db};
REVOKE ALL ON DATABASE {db} FROM PUBLIC;
GRANT CONNECT ON DATABASE {db} TO {w}, {r};
\\connect {db}
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA {schema} AUTHORIZATION {w};
GRANT USAGE ON SCHEMA {schema} TO {r};
ALTER DEFAULT PRIVILEGES FOR ROLE {w} IN SCHEMA {schema} GRANT SELECT ON TABLES TO {r};
-- then: \\password {w}   and   \\password {r}
"""


class PostgresCatalog(Catalog):
    """The catalog in the table ``bif_catalog.versions`` of the database ``url`` names."""

    def __init__(self, url: str, user: str = "", password: str = ""):
        self.url = url
        self.options = {"connect_timeout": 10, "application_name": "bif"}
        if user:
            self.options["user"] = user
        if password:
            self.options["password"] = password
        try:
            info = psycopg.conninfo.conninfo_to_dict(url, **{k: v for k, v in self.options.items() if k == "user"})
        except psycopg.ProgrammingError as exc:
            raise CatalogUnavailable(f"BIF_CATALOG_URL ist keine gültige PostgreSQL-Adresse ({shorten(exc, 120)}); "
                                     f"erwartet z. B. postgresql://server:5432/bif_catalog.") from None
        host = info.get("host") or info.get("hostaddr") or "localhost"
        who = f"{info['user']}@" if info.get("user") else ""
        self._location = f"postgresql://{who}{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"
        self._key = (url, user, password)

    @property
    def location(self) -> str:
        return self._location

    # --- connections ---------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, prepare_threshold=None, row_factory=dict_row,
                                   **self.options)
        except psycopg.Error as exc:
            raise self._translate(exc, "erreicht") from None

    def _reader(self) -> psycopg.Connection:
        key = (*self._key, os.getpid())
        with _connections_lock:
            con = _connections.get(key)
            if con is None or con.closed or con.broken:
                con = _connections[key] = self._connect()
            return con

    def _drop_reader(self) -> None:
        with _connections_lock:
            con = _connections.pop((*self._key, os.getpid()), None)
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()

    def _query(self, query, params=None) -> list[dict]:
        for attempt in (1, 2):
            con = self._reader()
            try:
                with con.cursor() as cur:
                    cur.execute(query, params)
                    return cur.fetchall()
            except (errors.UndefinedTable, errors.InvalidSchemaName):
                return []  # no catalog yet (or dropped): the Store compares that with the sidecars
            except psycopg.OperationalError as exc:
                self._drop_reader()  # server restarted, connection lost: once more with a new one
                if attempt == 2 or not con.broken:
                    raise self._translate(exc, "gelesen") from None
            except psycopg.Error as exc:
                raise self._translate(exc, "gelesen") from None
        raise AssertionError("unreachable")  # pragma: no cover

    # --- reading -------------------------------------------------------------------------------

    def exists(self) -> bool:
        rows = self._query("SELECT to_regclass(%s) IS NOT NULL AS present", (f"{SCHEMA_NAME}.{TABLE_NAME}",))
        return bool(rows and rows[0]["present"])

    def versions(self, dataset_id: str) -> list[VersionEntry]:
        rows = self._query(sql.SQL("SELECT * FROM {} WHERE dataset_id = %s ORDER BY version").format(_TABLE),
                           (dataset_id,))
        return _entries(rows, self.location)

    def latest_versions(self) -> list[VersionEntry]:
        rows = self._query(sql.SQL("""SELECT v.* FROM {table} v
                                      JOIN (SELECT dataset_id, MAX(version) AS version FROM {table}
                                            GROUP BY dataset_id) m USING (dataset_id, version)
                                      ORDER BY v.dataset_id""").format(table=_TABLE))
        return _entries(rows, self.location)

    def all_versions(self) -> list[VersionEntry]:
        rows = self._query(sql.SQL("SELECT * FROM {} ORDER BY dataset_id, version").format(_TABLE))
        return _entries(rows, self.location)

    def snapshot_paths(self) -> set[str]:
        rows = self._query(sql.SQL("SELECT path, read_copy FROM {}").format(_TABLE))
        return {row["path"] for row in rows} | {row["read_copy"] for row in rows if row["read_copy"]}

    def backups(self) -> list[str]:
        rows = self._query("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s "
                           "ORDER BY tablename", (SCHEMA_NAME, BACKUP_PREFIX + "%"))
        return [f"{SCHEMA_NAME}.{row['tablename']}" for row in rows]

    # --- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self):
        """The writers' advisory lock, on a connection of its own for as long as the write takes
        (a writer that dies loses its session and with it the lock)."""
        con = self._connect()
        try:
            try:
                con.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK_KEY,))
            except psycopg.Error as exc:
                raise self._translate(exc, "gesperrt") from None
            yield
        finally:
            with contextlib.suppress(Exception):
                con.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))
            con.close()

    def _ensure_table(self, con: psycopg.Connection) -> bool:
        """Create schema (if the role may) and table when missing; True if the table existed."""
        present = con.execute("SELECT to_regclass(%s) IS NOT NULL AS present",
                              (f"{SCHEMA_NAME}.{TABLE_NAME}",)).fetchone()["present"]
        if present:
            return True
        if not con.execute("SELECT to_regnamespace(%s) IS NOT NULL AS present", (SCHEMA_NAME,)).fetchone()["present"]:
            try:
                con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA_NAME)))
            except errors.InsufficientPrivilege:
                raise CatalogUnavailable(
                    f"Im Katalog {self.location} fehlt das Schema {SCHEMA_NAME}, und die Rolle "
                    f"{self.options.get('user') or '(Standard)'} darf es nicht anlegen. Bitte die Einrichtung der "
                    f"Datenbank wiederholen lassen (`bif catalog setup-sql`); nichts wurde gespeichert.") from None
        con.execute(_CREATE.format(table=_TABLE))
        return False

    def add_version(self, entry: VersionEntry) -> None:
        record = _record(entry)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            _TABLE, sql.SQL(", ").join(map(sql.Identifier, record)),
            sql.SQL(", ").join(map(sql.Placeholder, record)))
        con = self._connect()
        try:
            with con.transaction():
                self._ensure_table(con)
                con.execute(insert, record)
        except errors.UniqueViolation:
            raise CatalogError(f"Version {entry.version} von „{entry.dataset_id}“ steht schon im Katalog "
                               f"{self.location} (ein anderer Schreibvorgang zur selben Zeit?). Nichts wurde "
                               f"gespeichert; bitte den Vorgang wiederholen.") from None
        except psycopg.Error as exc:
            raise self._translate(exc, "geschrieben") from None
        finally:
            con.close()

    def replace_all(self, entries: Iterable[VersionEntry]) -> None:
        records = [_record(entry) for entry in entries]
        con = self._connect()
        try:
            with con.transaction():
                if self._ensure_table(con):
                    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                    con.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(_TABLE))
                    con.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        _TABLE, sql.Identifier(BACKUP_PREFIX + stamp.lower())))
                    con.execute(_CREATE.format(table=_TABLE))
                if records:
                    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        _TABLE, sql.SQL(", ").join(map(sql.Identifier, records[0])),
                        sql.SQL(", ").join(map(sql.Placeholder, records[0])))
                    with con.cursor() as cur:
                        cur.executemany(insert, records)
        except psycopg.Error as exc:
            raise self._translate(exc, "geschrieben") from None
        finally:
            con.close()

    # --- errors --------------------------------------------------------------------------------

    def _translate(self, exc: psycopg.Error, action: str) -> CatalogError:
        """A German ``CatalogError`` for a driver error: what happened where, and what to do."""
        where = self.location
        text = shorten(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 200)
        user = self.options.get("user") or "(Standard)"
        if isinstance(exc, errors.InsufficientPrivilege):
            if action == "gelesen":
                return CatalogUnavailable(f"Die Rolle {user} darf den Katalog {where} nicht lesen ({text}). Bitte "
                                          f"den Betrieb verständigen: Leserechte erhält die Rolle {READER_ROLE} "
                                          f"(`bif catalog setup-sql`).")
            return CatalogUnavailable(f"Die Rolle {user} darf den Katalog {where} nur lesen, nicht ändern ({text}). "
                                      f"Einspielen braucht die Rolle {WRITER_ROLE} (root oder der Protokolldienst "
                                      f"der Statistikstelle). Nichts wurde gespeichert.")
        if isinstance(exc, errors.DiskFull):
            return CatalogUnavailable(f"Der Katalog {where} kann nicht {action} werden: kein Platz mehr auf dem "
                                      f"Datenbankserver. Nichts wurde gespeichert; bitte den Betrieb verständigen.")
        if isinstance(exc, (errors.ReadOnlySqlTransaction, errors.AdminShutdown, errors.CannotConnectNow)):
            return CatalogUnavailable(f"Der Katalog {where} kann gerade nicht {action} werden ({text}); der "
                                      f"Datenbankserver ist schreibgeschützt oder fährt herunter. Bitte in einigen "
                                      f"Minuten erneut versuchen.")
        if isinstance(exc, psycopg.OperationalError):
            if "password" in text or "authentication" in text or "role" in text:
                return CatalogUnavailable(f"Die Anmeldung am Katalog {where} als {user} wurde abgelehnt ({text}). "
                                          f"Rolle und Passwort kommen aus BIF_CATALOG_USER und BIF_CATALOG_PASSWORD "
                                          f"(oder ~/.pgpass); bitte den Betrieb verständigen.")
            return CatalogUnavailable(f"Der Katalog {where} ist nicht erreichbar ({text}). Nichts wurde verändert; "
                                      f"bitte den Betrieb verständigen (läuft der Datenbankserver?).")
        if isinstance(exc, (errors.UndefinedColumn, errors.DatatypeMismatch, errors.DataException,
                            errors.InvalidTextRepresentation)):
            return CatalogDamaged(f"Der Katalog {where} ist beschädigt ({text}); die Snapshots sind davon nicht "
                                  f"betroffen. Zum Wiederherstellen aus den Snapshots {REBUILD_HINT}.")
        return CatalogDamaged(f"Der Katalog {where} kann nicht {action} werden ({text}). Falls er beschädigt ist: "
                              f"{REBUILD_HINT}.")
