"""The catalog on SQLite and on PostgreSQL: concurrent ingests from several processes, the
readers' and writers' roles, German failures of the database server, and ``bif catalog
migrate`` from SQLite to PostgreSQL and back without loss."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import psycopg
import pytest
import yaml
from store_helpers import BACKENDS, REPO, contract_dict, delivery, file_digests

import bif_lib
from bif_lib.store import CatalogError, CatalogUnavailable, SQLiteCatalog, Store
from bif_lib.store.migrate import catalog_digest, migrate
from bif_lib.store.pg_catalog import PostgresCatalog, setup_sql

REGISTER = contract_dict(id="register_test", title="Register (synthetisch)", classification="confidential",
                         synthetic=True, description="synthetische Testdaten (vertraulich)")

CHILD = """
import fcntl, os, sys, time
if sys.argv[5] == "ohne-dateisperre":  # another machine: the store's file lock does not reach it
    fcntl.flock = lambda *args: None
from bif_lib.ingest import ingest
from bif_lib.store import Store
store = Store(sys.argv[3])
while not os.path.exists(sys.argv[4]):
    time.sleep(0.002)
outcome = ingest(sys.argv[1], sys.argv[2], store=store)
print(outcome.status, outcome.entry.version)
"""


def _concurrent_ingests(tmp_path, store: Store, n: int, mode: str = "") -> list[str]:
    contract = tmp_path / "einwohner-parallel.yaml"
    contract.write_text(yaml.safe_dump(contract_dict(), allow_unicode=True), encoding="utf-8")
    go = tmp_path / "los"
    children = []
    for i in range(n):
        source = tmp_path / f"parallel-{i}.csv"
        source.write_text(delivery(1000 * (i + 1)), encoding="utf-8")
        children.append(subprocess.Popen(
            [sys.executable, "-c", CHILD, str(contract), str(source), str(store.root), str(go), mode or "-"],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    go.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def _assert_distinct_versions(store: Store, outputs: list[str], n: int) -> None:
    assert sorted(outputs, key=lambda o: int(o.split()[1])) == [f"created {v}" for v in range(1, n + 1)]
    versions = store.catalog.versions("einwohner")
    assert [v.version for v in versions] == list(range(1, n + 1))
    first_residents = sorted(bif_lib.load("einwohner", version=v.version, store=store)["residents"].iloc[0]
                             for v in versions)
    assert first_residents == [1000 * (i + 1) + 1 for i in range(n)]  # every delivery once: no lost update
    assert store.verify() == []


@pytest.mark.parametrize("catalog_backend", BACKENDS)
def test_concurrent_ingests_from_several_processes_get_distinct_versions(catalog_backend, store, tmp_path):
    _assert_distinct_versions(store, _concurrent_ingests(tmp_path, store, 7), 7)


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_writers_on_several_machines_are_serialised_by_the_database(catalog_backend, store, tmp_path):
    """Without the file lock (shared storage between machines) the advisory lock alone keeps order."""
    _assert_distinct_versions(store, _concurrent_ingests(tmp_path, store, 5, "ohne-dateisperre"), 5)


# --- roles and failures of the server ------------------------------------------------------------

@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_the_reader_role_reads_and_cannot_write(catalog_backend, store, put, postgres_server, catalog_database,
                                                monkeypatch, tmp_path):
    put(contract_dict(), delivery(100))
    put(REGISTER, delivery(5))
    before = file_digests(store.root)
    for name, value in postgres_server.env(catalog_database, "bif_catalog_reader").items():
        monkeypatch.setenv(name, value)
    reader = Store(store.root)
    assert reader.catalog.options["user"] == "bif_catalog_reader"
    assert bif_lib.load("einwohner", store=reader)["residents"].tolist() == [101, 102, 103]
    assert reader.verify() == []
    with pytest.raises(CatalogUnavailable, match="nur lesen") as refused:
        _ingest(tmp_path, reader, delivery(200))
    assert "bif_catalog_writer" in str(refused.value)
    assert file_digests(store.root) == before and [v.version for v in reader.catalog.versions("einwohner")] == [1]
    with psycopg.connect(postgres_server.url(catalog_database), user="bif_catalog_reader",
                         password=postgres_server.passwords["bif_catalog_reader"], autocommit=True) as con:
        for statement in ("DELETE FROM bif_catalog.versions", "DROP TABLE bif_catalog.versions",
                          "UPDATE bif_catalog.versions SET sha256 = 'x'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(statement)


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_server_down_and_wrong_password_are_german(catalog_backend, store, put, postgres_server, catalog_database,
                                                   monkeypatch, bif):
    put(contract_dict(), delivery(100))
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "falsch")
    with pytest.raises(CatalogUnavailable, match="Anmeldung am Katalog .* abgelehnt"):
        bif_lib.load("einwohner", store=Store(store.root))
    monkeypatch.setenv("BIF_CATALOG_URL", "postgresql://127.0.0.1:9/bif_catalog")
    with pytest.raises(CatalogUnavailable, match="nicht erreichbar"):
        bif_lib.load("einwohner", store=Store(store.root))
    before = file_digests(store.root)
    for argv in (("catalog", "list"), ("catalog", "verify")):
        done = bif(*argv)
        assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
        assert "nicht erreichbar" in done.stdout + done.stderr
    assert file_digests(store.root) == before


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_readers_reuse_their_connection_and_survive_a_server_restart(catalog_backend, store, put, postgres_server,
                                                                     catalog_database):
    from bif_lib.store import pg_catalog

    put(contract_dict(), delivery(100))
    bif_lib.load("einwohner", store=store)
    key = (*store.catalog._key, os.getpid())
    mine = pg_catalog._connections[key]
    bif_lib.load("einwohner", store=Store(store.root))
    assert pg_catalog._connections[key] is mine
    with postgres_server.admin(catalog_database) as con:  # every session of the catalog ends
        con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'bif' AND pid <> pg_backend_pid()")
    assert bif_lib.load("einwohner", store=Store(store.root))["residents"].tolist() == [101, 102, 103]


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_a_scratch_store_never_uses_the_platforms_catalog(catalog_backend, store, tmp_path):
    assert isinstance(store.catalog, PostgresCatalog)
    scratch = Store(tmp_path / "anderer-speicher")
    assert isinstance(scratch.catalog, SQLiteCatalog) and scratch.catalog.path.parent == scratch.root


def test_setup_sql_makes_a_working_catalog_database(postgres_server, tmp_path, monkeypatch):
    """What `bif catalog setup-sql` prints, run as the administrator, is all a new catalog needs."""
    script = setup_sql("bif_eingerichtet", writer="bif_setup_writer", reader="bif_setup_reader")
    database = "postgres"
    for statement in script.split(";\n"):
        lines = [line for line in statement.splitlines() if line.strip() and not line.startswith("--")]
        if not lines:
            continue
        if lines[0].startswith("\\connect"):
            database = lines[0].split()[1]
            lines = lines[1:]
        if lines:
            with postgres_server.admin(database) as con:
                con.execute("\n".join(lines))
    with postgres_server.admin("postgres") as con:
        con.execute("ALTER ROLE bif_setup_writer PASSWORD 'schreiben'")
        con.execute("ALTER ROLE bif_setup_reader PASSWORD 'lesen'")
    monkeypatch.setenv("BIF_CATALOG_URL", postgres_server.url("bif_eingerichtet"))
    monkeypatch.setenv("BIF_CATALOG_USER", "bif_setup_writer")
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "schreiben")
    store = Store(tmp_path / "home" / "store")
    assert isinstance(store.catalog, PostgresCatalog)
    assert _ingest(tmp_path, store, delivery(100)).status == "created"
    monkeypatch.setenv("BIF_CATALOG_USER", "bif_setup_reader")
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "lesen")
    assert bif_lib.load("einwohner", store=Store(store.root))["residents"].tolist() == [101, 102, 103]
    # a rebuild makes a new table: the reader may read it too
    monkeypatch.setenv("BIF_CATALOG_USER", "bif_setup_writer")
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "schreiben")
    Store(store.root).rebuild_catalog()
    monkeypatch.setenv("BIF_CATALOG_USER", "bif_setup_reader")
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "lesen")
    assert [v.version for v in Store(store.root).catalog.versions("einwohner")] == [1]


# --- bif catalog migrate ---------------------------------------------------------------------------

def _raw_sqlite(path) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute("SELECT * FROM versions ORDER BY dataset_id, version")]
    finally:
        con.close()


@pytest.fixture
def empty_postgres(postgres_server, catalog_database):
    postgres_server.reset(catalog_database)
    return postgres_server, catalog_database


def test_migrate_sqlite_to_postgresql_and_back_without_loss(put, store, tmp_path, empty_postgres, bif, monkeypatch):
    server, database = empty_postgres
    put(contract_dict(), delivery(100))
    put(REGISTER, delivery(5))
    put(contract_dict(), delivery(200))
    original_rows = _raw_sqlite(store.catalog.path)
    original_file = store.catalog.path.read_bytes()
    entries = store.catalog.all_versions()
    files = file_digests(store.root)
    writer = {"BIF_CATALOG_USER": "bif_catalog_writer", "BIF_CATALOG_PASSWORD": server.passwords["bif_catalog_writer"]}

    done = bif("catalog", "migrate", "--to", "postgresql", "--url", server.url(database), env=writer)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 Version(en) von 2" in done.stdout and "Zeile für Zeile geprüft" in done.stdout
    assert "unverändert" in done.stdout and "catalog.backend: postgresql" in done.stdout
    assert store.catalog.path.read_bytes() == original_file              # the source is untouched ...
    assert (tmp_path / "home" / "store" / "catalog.sqlite.moved").is_file()  # ... and marked as moved
    with pytest.raises(CatalogUnavailable, match="nicht mehr verwendet.*bif catalog migrate"):
        bif_lib.load("einwohner", store=Store(store.root))               # nobody reads the copy left behind
    refused = bif("ingest", *_files(tmp_path, delivery(300)))
    assert refused.returncode == 1 and "BIF_CATALOG_URL" in refused.stderr and "Traceback" not in refused.stderr

    for name, value in server.env(database).items():                   # the platform now names PostgreSQL
        monkeypatch.setenv(name, value)
    moved = Store(store.root)
    assert isinstance(moved.catalog, PostgresCatalog)
    assert [e.to_dict() for e in moved.catalog.all_versions()] == [e.to_dict() for e in entries]
    assert catalog_digest(moved.catalog.all_versions()) == catalog_digest(entries)
    assert moved.verify() == [] and file_digests(store.root) == files
    again = bif("catalog", "migrate", "--to", "postgresql", "--url", server.url(database), env=writer)
    assert again.returncode == 1 and "derselbe Katalog" in again.stderr

    # round trip into a new file: identical to the original, row for row and byte for byte of every value
    back = tmp_path / "zurueck" / "catalog.sqlite"
    done = bif("catalog", "migrate", "--to", "sqlite", "--path", back)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _raw_sqlite(back) == original_rows
    assert not back.with_name("catalog.sqlite.moved").exists()
    assert len(server_rows := _pg_rows(server, database)) == 3           # the PostgreSQL source is untouched

    # work goes on in PostgreSQL, then the catalog moves back into the store's own file
    assert _ingest(tmp_path, moved, delivery(300)).entry.version == 3
    refused = bif("catalog", "migrate", "--to", "sqlite")
    assert refused.returncode == 1 and "--force" in refused.stderr and "enthält schon 3" in refused.stderr
    assert store.catalog.path.read_bytes() == original_file
    done = bif("catalog", "migrate", "--to", "sqlite", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sicherung" in done.stdout and "catalog.backend: sqlite" in done.stdout
    assert len(_pg_rows(server, database)) == len(server_rows) + 1
    for name in ("BIF_CATALOG_URL", "BIF_CATALOG_USER", "BIF_CATALOG_PASSWORD"):
        monkeypatch.delenv(name)
    home = Store(store.root)
    assert isinstance(home.catalog, SQLiteCatalog) and not home.catalog.moved_marker.exists()
    assert [v.version for v in home.catalog.versions("einwohner")] == [1, 2, 3]
    assert bif_lib.load("einwohner", store=home)["residents"].tolist() == [301, 302, 303]
    assert home.verify() == []
    assert [p.read_bytes() for p in home.catalog.backups()] == [original_file]  # the old file, kept


def test_migrate_refuses_a_catalog_that_does_not_match_the_store(put, store, empty_postgres):
    server, database = empty_postgres
    put(contract_dict(), delivery(100))
    put(contract_dict(), delivery(200))
    store.catalog.path.unlink()
    target = PostgresCatalog(server.url(database), "bif_catalog_writer", server.passwords["bif_catalog_writer"])
    with pytest.raises(CatalogError, match="bif catalog rebuild"):
        migrate(store, target)
    assert target.all_versions() == [] and not store.catalog.moved_marker.exists()


def test_migrate_keep_source_copies_only(put, store, tmp_path):
    put(contract_dict(), delivery(100))
    result = migrate(store, SQLiteCatalog(tmp_path / "kopie.sqlite"), keep_source=True)
    assert result.versions == 1 and not result.marked and not store.catalog.moved_marker.exists()
    assert _raw_sqlite(tmp_path / "kopie.sqlite") == _raw_sqlite(store.catalog.path)


def _pg_rows(server, database) -> list[tuple]:
    with server.admin(database) as con:
        return con.execute("SELECT * FROM bif_catalog.versions ORDER BY dataset_id, version").fetchall()


def _files(tmp_path, text: str):
    contract = tmp_path / "einwohner-cli.yaml"
    contract.write_text(yaml.safe_dump(contract_dict(), allow_unicode=True), encoding="utf-8")
    source = tmp_path / "einwohner-cli.csv"
    source.write_text(text, encoding="utf-8")
    return contract, source


def _ingest(tmp_path, store: Store, text: str):
    from bif_lib.ingest import ingest

    return ingest(*_files(tmp_path, text), store=store)


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_a_forked_child_reads_on_its_own_connection_and_leaves_the_parents_alone(catalog_backend, store, put):
    from bif_lib.store import pg_catalog

    put(contract_dict(), delivery(100))
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 1
    key = (*store.catalog._key, os.getpid())
    parent = pg_catalog._connections[key]
    backend_pid = parent.info.backend_pid
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            if bif_lib.load("einwohner", store=Store(store.root)).attrs["bif"]["version"] == 1:
                code = 2
                import gc

                mine = [c for k, c in pg_catalog._connections.items() if k[:-1] == key[:-1] and k[-1] == os.getpid()]
                if mine and mine[0] is not parent:
                    pg_catalog._connections.clear()  # the parent's too: finalised as at the child's exit
                    del mine, parent
                    gc.collect()
                    code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    again = pg_catalog._connections[key]
    assert again is parent and not parent.broken and parent.info.backend_pid == backend_pid
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 1
    assert parent.execute("SELECT 1").fetchone()  # the parent's session is still alive
