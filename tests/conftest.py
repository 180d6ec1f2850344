"""Fixtures shared by all test folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from account_access import shared_environment_access

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(autouse=True)
def untainted_process():
    """One pytest process runs every test: a test that read confidential data must not make the
    seal refuse the next test's writes (``bif_lib.store.admission`` taints the process)."""
    yield
    from bif_lib.store import admission

    admission._tainted = False


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The local mirror of Flensburg's public data (CI: ../shared/data/flensburg)."""
    path = Path(os.environ.get("BIF_MIRROR", REPO.parent / "shared" / "data" / "flensburg"))
    if not (path / "SOURCES.md").is_file():
        pytest.fail(f"Flensburg mirror not found at {path}; set BIF_MIRROR")
    return path


@pytest.fixture
def bif_home(tmp_path, monkeypatch) -> Path:
    """An isolated BIF_HOME for one test."""
    home = tmp_path / "bif-home"
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.delenv("BIF_STORE", raising=False)
    return home


@pytest.fixture(scope="session")
def flensburg_home(tmp_path_factory, mirror_dir) -> Path:
    """A BIF_HOME with the full Flensburg bootstrap done once per test session (read-only for tests)."""
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.store import Store

    home = tmp_path_factory.mktemp("flensburg-home")
    previous = os.environ.get("BIF_HOME")
    os.environ["BIF_HOME"] = str(home)
    try:
        result = bootstrap("flensburg", mirror=mirror_dir, store=Store(home / "store"))
    finally:
        if previous is None:
            os.environ.pop("BIF_HOME", None)
        else:
            os.environ["BIF_HOME"] = previous
    assert result.ok, result.summary()
    return home


@pytest.fixture
def flensburg_store(flensburg_home, monkeypatch):
    """The bootstrapped store, with BIF_HOME pointing at it for code that uses the default store."""
    from bif_lib.store import Store

    monkeypatch.setenv("BIF_HOME", str(flensburg_home))
    monkeypatch.delenv("BIF_STORE", raising=False)
    return Store(flensburg_home / "store")


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session: Playwright's sync API allows one
    running instance per process, so every test folder shares this one (never downloaded)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup --test installs the Debian package chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (Debian package ``postgresql``; tests/pg_server.py)."""
    from pg_server import PostgresServer, binaries

    if binaries() is None:
        pytest.fail("PostgreSQL is missing (/usr/lib/postgresql/*/bin): scripts/setup --test installs the Debian "
                    "package postgresql")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def environment_access():
    with shared_environment_access() as changed:
        yield changed
