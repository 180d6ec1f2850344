"""Fixtures for the foundation tests: contracts → validation → store → catalog → API → CLI.

Every test runs against its own store below ``tmp_path`` (``BIF_HOME``/``BIF_STORE`` are
pointed there for code that resolves the default store), never the checkout's ``var/``.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import pytest
import yaml
from contract_metadata import METADATA

from bif_lib.contracts import parse_contract
from bif_lib.store import Store

REPO = Path(__file__).resolve().parents[2]


def _mirror_path() -> Path:
    return Path(os.environ.get("BIF_MIRROR") or REPO.parent / "shared" / "data" / "flensburg")


BASE = {"id": "testdaten", "title": "Testdaten", "description": "Kleiner Datensatz für Tests", **METADATA}


def make_contract(fields: list[dict], source: dict | None = None, rules: list[dict] | None = None,
                  primary_key=None, foreign_keys=None, **meta) -> dict:
    """A complete, valid contract dict; ``fields`` may be given as (name, type) tuples."""
    raw = copy.deepcopy(BASE)
    raw.update(meta)
    raw["source"] = dict(source or {"format": "csv"})
    raw["schema"] = {"fields": [f if isinstance(f, dict) else {"name": f[0], "type": f[1]} for f in fields]}
    if primary_key is not None:
        raw["schema"]["primaryKey"] = primary_key
    if foreign_keys is not None:
        raw["schema"]["foreignKeys"] = foreign_keys
    if rules is not None:
        raw["rules"] = rules
    return raw


def write_contract(directory: Path, raw: dict, name: str | None = None) -> Path:
    path = Path(directory) / (name or f"{raw.get('id', 'vertrag')}.yaml")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def contract_of(raw: dict):
    return parse_contract(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def tree_digest(root: Path) -> dict[str, str] | None:
    """sha256 of every file below ``root`` (None if it does not exist)."""
    root = Path(root)
    if not root.exists():
        return None
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point every default path at tmp_path; no test may touch the checkout's var/."""
    monkeypatch.setenv("BIF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BIF_STORE", str(tmp_path / "home" / "store"))
    monkeypatch.setenv("BIF_USER", "testerin")
    monkeypatch.delenv("BIF_LOAD_TRACE", raising=False)
    for name in ("BIF_CATALOG_URL", "BIF_CATALOG_USER", "BIF_CATALOG_PASSWORD"):  # the SQLite catalog
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def store(tmp_path) -> Store:
    """The store the CLI and ``bif_lib.load`` use by default in this test (BIF_STORE)."""
    return Store(tmp_path / "home" / "store")


@pytest.fixture
def mirror() -> Path:
    path = _mirror_path()
    if not (path / "sozialatlas_2022").is_dir():
        pytest.skip(f"Flensburg mirror not found at {path} (set BIF_MIRROR)")
    return path


# Helpers as fixtures, so that test modules need not import conftest.
@pytest.fixture(name="make_contract")
def _make_contract_fixture():
    return make_contract


@pytest.fixture(name="write_contract")
def _write_contract_fixture():
    return write_contract


@pytest.fixture(name="contract_of")
def _contract_of_fixture():
    return contract_of


@pytest.fixture(name="write_text")
def _write_text_fixture():
    return write_text


@pytest.fixture(name="tree_digest")
def _tree_digest_fixture():
    return tree_digest


@pytest.fixture
def check(tmp_path, store):
    """check(raw_contract, content, name=..., encoding=...) -> (typed frame, report) via validate_file.

    ``content`` is text (written in ``encoding``), bytes, or a Path of an existing file.
    References (foreign keys, rules) resolve against the test's ``store``.
    """
    from bif_lib.ingest import validate_file

    counter = iter(range(10_000))

    def run(raw: dict, content, name: str | None = None, encoding: str = "utf-8"):
        contract = contract_of(raw)
        if isinstance(content, Path):
            path = content
        else:
            path = tmp_path / (name or f"daten{next(counter)}.csv")
            path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        frame, report, _ = validate_file(contract, path, store)
        return frame, report

    return run


@pytest.fixture
def put(tmp_path, store):
    """put(raw_contract, csv_text) ingests a reference dataset into the test's store."""
    from bif_lib.ingest import ingest

    def run(raw: dict, content, name: str | None = None):
        if isinstance(content, Path):
            path = content
        else:
            path = tmp_path / (name or f"{raw['id']}.csv")
            path.write_text(content, encoding="utf-8")
        outcome = ingest(contract_of(raw), path, store=store)
        assert outcome.status == "created", outcome.report.to_text()
        return outcome

    return run
