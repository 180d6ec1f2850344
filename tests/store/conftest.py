"""Fixtures for the store tests: an isolated BIF_HOME, contracts and deliveries, the ``bif`` command.

Every test runs against its own store below ``tmp_path``; ``BIF_HOME``/``BIF_STORE`` point
there for code (and ``bif`` subprocesses) that resolve the default store.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from store_helpers import REPO


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.setenv("BIF_STORE", str(home / "store"))
    monkeypatch.setenv("BIF_USER", "testerin")
    monkeypatch.delenv("BIF_LOAD_TRACE", raising=False)
    monkeypatch.delenv("BIF_MAX_MEMORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the CLI's fallback log, never ~/.local
    return home


@pytest.fixture
def store(tmp_path):
    from bif_lib.store import Store

    return Store(tmp_path / "home" / "store")


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
