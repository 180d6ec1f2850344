"""Fixtures shared by all test folders."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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


ACCESS_STATE = Path(tempfile.gettempdir()) / "bif-test-environment-access.json"


@contextlib.contextmanager
def shared_environment_access():
    """Let OS accounts run BIF's Python environment while tests run.

    Where the venv's interpreter lives below /root (pyenv, mode 0700), the directories in
    the way get o+x (traverse only). Several test sessions may run at once on one machine
    (developers in the same tree): each holds a shared lock, and only the last one to
    finish restores the original modes (recorded once in ``ACCESS_STATE``).
    """
    from bif_lib.platform import accounts

    if os.geteuid() != 0:
        yield []
        return
    fd = os.open(ACCESS_STATE.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = json.loads(ACCESS_STATE.read_text()) if ACCESS_STATE.exists() else {}
        for path in accounts.blocked_directories(accounts.environment_paths()):
            state.setdefault(str(path), stat.S_IMODE(path.stat().st_mode))
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) | stat.S_IXOTH)
        ACCESS_STATE.write_text(json.dumps(state))
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield sorted(state)
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another session still needs the access; it restores the modes
        else:
            if ACCESS_STATE.exists():
                for path, mode in json.loads(ACCESS_STATE.read_text()).items():
                    with contextlib.suppress(FileNotFoundError):
                        os.chmod(path, mode)
                ACCESS_STATE.unlink()
        os.close(fd)


@pytest.fixture(scope="session")
def environment_access():
    with shared_environment_access() as changed:
        yield changed
