"""Fixtures for the disclosure tests (builders live in disclosure_data.py, importable by name)."""

from __future__ import annotations

import pytest

from bif_lib.disclosure import default_ptable


@pytest.fixture(scope="session")
def ptable():
    return default_ptable()
