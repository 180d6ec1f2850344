"""Helpers of the store tests (a module of its own: ``conftest`` is ambiguous when several test
folders run in one session)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from contract_metadata import METADATA

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "id": "einwohner",
    "title": "Einwohner je Stadtteil",
    "description": "Einwohner mit Hauptwohnsitz nach Stadtteilen",
    **METADATA,
    "source": {"format": "csv", "delimiter": ";", "decimal": ","},
    "schema": {"fields": [{"name": "district_id", "type": "integer"}, {"name": "name", "type": "string"},
                          {"name": "residents", "type": "integer"}, {"name": "share", "type": "number"}],
               "primaryKey": ["district_id"]},
}


def contract_dict(**changes) -> dict:
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


def delivery(residents: int, rows: int = 3) -> str:
    lines = ["district_id;name;residents;share"]
    lines += [f"{i};Stadtteil {i};{residents + i};{i},5" for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file in the store's areas (the snapshots and their companions)."""
    out = {}
    for area in ("open", "internal", "confidential"):
        for path in sorted((root / area).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


BACKENDS = ["sqlite", "postgresql"]
# ways to lose or spoil a catalog, on either backend
FAULTS = ["missing", "empty", "older", "corrupted", "row_deleted", "column_dropped"]


class CatalogAdmin:
    """Reaches into a store's catalog behind the store's back: the SQLite file, or the PostgreSQL
    table as the database's administrator (what an operator's mistake or a broken restore does)."""

    def __init__(self, backend: str, root: Path, server=None, database: str | None = None):
        self.backend, self.root, self.server, self.database = backend, Path(root), server, database

    @property
    def path(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def table(self) -> str:
        return "versions" if self.backend == "sqlite" else "bif_catalog.versions"

    def execute(self, *statements: str) -> None:
        if self.backend == "sqlite":
            import sqlite3

            con = sqlite3.connect(self.path)
            try:
                for statement in statements:
                    con.execute(statement)
                con.commit()
            finally:
                con.close()
        else:
            with self.server.admin(self.database) as con:
                for statement in statements:
                    con.execute(statement)

    def rows(self, table: str | None = None) -> list[tuple] | None:
        """The raw rows of ``table`` (default: the catalog) in key order; None if there is none."""
        table = table or self.table
        if self.backend == "sqlite":
            import sqlite3

            if not self.path.exists():
                return None
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                return [tuple(r) for r in con.execute("SELECT * FROM versions ORDER BY dataset_id, version")]
            except sqlite3.DatabaseError:
                return None
            finally:
                con.close()
        import psycopg

        with self.server.admin(self.database) as con:
            try:
                return [tuple(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY dataset_id, version")]
            except psycopg.errors.UndefinedTable:
                return None

    def state(self):
        """What the catalog holds now, byte for byte (SQLite) or row for row (PostgreSQL)."""
        if self.backend == "sqlite":
            return self.path.read_bytes() if self.path.exists() else None
        return self.rows()

    def backup_state(self, backup):
        return Path(backup).read_bytes() if self.backend == "sqlite" else self.rows(str(backup))

    def save(self, tmp_path: Path):
        """An "older backup" of the catalog as it is now."""
        if self.backend == "sqlite":
            import shutil

            older = tmp_path / "catalog-sicherung.sqlite"
            shutil.copy2(self.path, older)
            return older
        self.execute("DROP TABLE IF EXISTS public.sicherung", f"CREATE TABLE public.sicherung AS TABLE {self.table}")
        return "public.sicherung"

    def break_(self, fault: str, older) -> None:
        if self.backend == "sqlite":
            if fault == "missing":
                self.path.unlink()
            elif fault == "empty":
                self.path.write_bytes(b"")
            elif fault == "older":
                import shutil

                shutil.copy2(older, self.path)
            elif fault == "corrupted":
                data = bytearray(self.path.read_bytes())
                data[:100] = b"\x00kaputt" * 14 + b"\x00\x00"
                self.path.write_bytes(bytes(data))
            else:
                self.execute(*self._statements(fault))
        else:
            if fault == "missing":
                self.execute(f"DROP TABLE {self.table}")
            elif fault == "empty":
                self.execute(f"TRUNCATE {self.table}")
            elif fault == "older":  # an older dump restored over the current rows
                self.execute(f"DELETE FROM {self.table}", f"INSERT INTO {self.table} SELECT * FROM {older}")
            elif fault == "corrupted":  # rows that are no catalog rows any more
                self.execute(f"UPDATE {self.table} SET contract = '{{kaputt', columns = 'kaputt'")
            else:
                self.execute(*self._statements(fault))

    def _statements(self, fault: str) -> list[str]:
        if fault == "row_deleted":
            return [f"DELETE FROM {self.table} WHERE dataset_id = 'einwohner' AND version = 2"]
        if fault == "column_dropped":
            return [f"ALTER TABLE {self.table} DROP COLUMN sha256"]
        raise ValueError(fault)
