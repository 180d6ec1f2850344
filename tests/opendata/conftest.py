"""Fixtures of the open data tests: the bootstrapped Flensburg store (read only), an isolated
BIF_HOME per test (the standards cache and the default output land there), the pinned
standards' mirror, and a copy of the Flensburg store in which the statistics office released
an aggregate for open data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from opendata_helpers import REPO


@pytest.fixture(scope="session")
def standards_mirror() -> Path:
    """The mirror of the pinned standards (CI: ../shared/standards beside the checkout)."""
    path = Path(os.environ.get("BIF_STANDARDS_MIRROR", REPO.parent / "shared" / "standards"))
    if not (path / "dcat-ap-de-3.0" / "SOURCES.md").is_file():
        pytest.fail(f"mirror of the DCAT-AP.de standards not found at {path}; set BIF_STANDARDS_MIRROR")
    return path


@pytest.fixture(autouse=True)
def opendata_home(tmp_path, monkeypatch, standards_mirror) -> Path:
    home = tmp_path / "bif-home"
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.setenv("BIF_STANDARDS_MIRROR", str(standards_mirror))
    for name in ("BIF_STORE", "BIF_OPENDATA", "BIF_CITY", "BIF_CONTRACTS", "BIF_CATALOG_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return home


@pytest.fixture
def store(flensburg_home):
    """The bootstrapped Flensburg store (never written by these tests)."""
    from bif_lib.store import Store

    return Store(flensburg_home / "store")


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "opendata"


@pytest.fixture(scope="session")
def office_store(flensburg_home, tmp_path_factory) -> Path:
    """A copy of the Flensburg store in which the statistics office released
    ``bevoelkerung_einzelalter`` again, now with ``opendata: {release: true}`` and a licence for
    open data in its contract: version 2 carries a Cell Key certificate and the opt-in."""
    from bif_lib import releases
    from bif_lib.contracts import load_contract
    from bif_lib.store import Store, admission

    home = tmp_path_factory.mktemp("office-home")
    shutil.copytree(flensburg_home / "store", home / "store", symlinks=True)
    raw = yaml.safe_load((REPO / "data_contracts" / "flensburg" / "bevoelkerung_einzelalter.yaml").read_text("utf-8"))
    raw["opendata"] = {"release": True, "licence": "dl-zero-de/2.0", "themes": ["SOCI", "REGI"],
                       "keywords": ["Bevölkerung", "Alterspyramide"]}
    contract = home / "contracts" / "bevoelkerung_einzelalter.yaml"
    contract.parent.mkdir()
    contract.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    previous = os.environ.get("BIF_HOME")
    os.environ["BIF_HOME"] = str(home)
    try:
        outcome, _ = releases.release(load_contract(contract), store=Store(home / "store"),
                                      purpose="Test: Freigabe als offene Daten")
    finally:
        admission._tainted = False
        if previous is None:
            os.environ.pop("BIF_HOME", None)
        else:
            os.environ["BIF_HOME"] = previous
    assert outcome.ok, outcome.report.to_text()
    return home / "store"
