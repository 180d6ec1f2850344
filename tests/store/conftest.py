"""Fixtures for the store tests: an isolated BIF_HOME, contracts and deliveries, the ``bif`` command.

Every test runs against its own store below ``tmp_path``; ``BIF_HOME``/``BIF_STORE`` point
there for code (and ``bif`` subprocesses) that resolve the default store.

The store's catalog is SQLite unless a module overrides ``catalog_backend`` (``BACKENDS``
runs it on both): with ``postgresql`` the catalog is in the session's PostgreSQL server
(``postgres_server``), in a database of the module's own, emptied before every test, and
``BIF_CATALOG_*`` name it for the code and the ``bif`` subprocesses. ``catalog_admin`` reaches
into either catalog behind the store's back (faults, raw rows).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pytest
import yaml
from store_helpers import REPO, CatalogAdmin


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.setenv("BIF_STORE", str(home / "store"))
    monkeypatch.setenv("BIF_USER", "testerin")
    monkeypatch.delenv("BIF_LOAD_TRACE", raising=False)
    monkeypatch.delenv("BIF_MAX_MEMORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the CLI's fallback log, never ~/.local
    for name in ("BIF_CATALOG_URL", "BIF_CATALOG_USER", "BIF_CATALOG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def catalog_backend():
    """The store's catalog: "sqlite" here; a module sets ``params=BACKENDS`` to run on both."""
    return "sqlite"


@pytest.fixture(scope="module")
def catalog_database(request, postgres_server):
    """The module's own database on the session's PostgreSQL server."""
    name = "bif_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[-40:] + "_" + uuid.uuid4().hex[:6]
    postgres_server.database(name.lower())
    return name.lower()


@pytest.fixture
def catalog_admin(request, tmp_path, catalog_backend, monkeypatch):
    if catalog_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database = request.getfixturevalue("catalog_database")
        server.reset(database)
        for name, value in server.env(database).items():
            monkeypatch.setenv(name, value)
        return CatalogAdmin(catalog_backend, tmp_path / "home" / "store", server, database)
    return CatalogAdmin(catalog_backend, tmp_path / "home" / "store")


@pytest.fixture
def store(tmp_path, catalog_admin):
    from bif_lib.store import Store

    store = Store(tmp_path / "home" / "store")
    assert type(store.catalog).__name__ == {"sqlite": "SQLiteCatalog", "postgresql": "PostgresCatalog"}[
        catalog_admin.backend]
    return store


@pytest.fixture
def put(tmp_path, store):
    """put(raw_contract, text) -> IngestOutcome: writes contract and delivery, ingests into the test store."""
    from bif_lib.ingest import ingest

    counter = iter(range(10_000))

    def run(raw: dict, text: str):
        n = next(counter)
        contract = tmp_path / f"{raw['id']}-{n}.yaml"
        contract.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
        path = tmp_path / f"lieferung-{n}.csv"
        path.write_text(text, encoding="utf-8")
        return ingest(contract, path, store=store)

    return run


@pytest.fixture
def bif(tmp_path):
    """bif(*argv, env=None, **kwargs) -> CompletedProcess of the real command (a subprocess)."""

    def run(*argv, env: dict | None = None, timeout: float = 120, **kwargs):
        environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.run([sys.executable, "-m", "bif_lib.cli", *map(str, argv)], capture_output=True,
                              text=True, env=environment, timeout=timeout, cwd=tmp_path, **kwargs)

    return run
