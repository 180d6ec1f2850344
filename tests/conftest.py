"""Fixtures shared by all test folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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
