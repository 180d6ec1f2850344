"""Every file of the malformed-input corpus is rejected with the right rule, and the store stays unchanged.

The manifest ``corpus.yaml`` lists each file, its contract and the rule(s) that must reject it.
Each case is ingested into a fresh copy of a small store that already holds the reference
datasets (Stadtteile, Stadtgrenze); the checksums of every file below the store are compared
before and after. The valid counterpart of each contract must be accepted, so that the
rejections cannot come from a contract that rejects everything.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bif_lib.contracts import load_contract
from bif_lib.ingest import ingest
from bif_lib.store import Store

HERE = Path(__file__).resolve().parent
CONTRACTS = HERE / "contracts"
FILES = HERE / "files"
MANIFEST = yaml.safe_load((HERE / "corpus.yaml").read_text(encoding="utf-8"))
CASES = MANIFEST["cases"]


def store_checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory) -> Path:
    """A store holding the reference datasets the corpus contracts need (built once)."""
    root = tmp_path_factory.mktemp("corpus") / "store"
    store = Store(root)
    for ref in MANIFEST["references"]:
        outcome = ingest(CONTRACTS / ref["contract"], FILES / ref["file"], store=store, user="corpus")
        assert outcome.status == "created", outcome.report.to_text()
    return root


@pytest.fixture
def store(reference_store, tmp_path) -> Store:
    root = tmp_path / "store"
    shutil.copytree(reference_store, root)
    return Store(root)


def _ids(entries):
    return [Path(e["file"]).stem for e in entries]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_malformed_file_is_rejected(case, store):
    before = store_checksums(store.root)
    outcome = ingest(CONTRACTS / case["contract"], FILES / case["file"], store=store, user="corpus")
    report = outcome.report
    text = report.to_text()

    assert outcome.status == "rejected", text
    assert not outcome.ok and report.errors > 0
    found = report.rules_failed() | set(report.counts())
    for rule in case["rules"]:
        assert rule in found, f"{case['file']}: erwartet {rule}, gefunden {sorted(found)}\n{text}"

    # the first expected rule's failures carry the row and column the steward needs
    first = case["rules"][0]
    failures = [f for f in report.failures(limit_per_rule=None) if first in (f.rule, f.rule_id)]
    assert failures and all(f.message for f in failures)
    if "row" in case:
        assert case["row"] in [f.row for f in failures], \
            f"Zeile {case['row']} erwartet, gemeldet: {[f.row for f in failures]}"
    if "column" in case:
        assert any(case["column"] in (f.column or "").split(", ") for f in failures), \
            f"Spalte {case['column']} erwartet, gemeldet: {[f.column for f in failures]}"
        assert re.search(rf"„[^“]*\b{re.escape(case['column'])}\b[^“]*“", text), text
    assert "abgelehnt" in text and "Prüfbericht" in text
    report.to_json()  # every failure must be serialisable for the JSON report

    assert store_checksums(store.root) == before, "abgelehnte Datei hat den Datenbestand verändert"
    assert store.catalog.latest(load_contract(CONTRACTS / case["contract"]).id) is None


@pytest.mark.parametrize("entry", MANIFEST["valid"], ids=_ids(MANIFEST["valid"]))
def test_valid_counterpart_is_accepted(entry, store):
    contract = load_contract(CONTRACTS / entry["contract"])
    versions_before = len(store.catalog.versions(contract.id))
    outcome = ingest(contract, FILES / entry["file"], store=store, user="corpus")
    if versions_before:  # the reference datasets are already in the store: identical data
        assert outcome.status == "unchanged", outcome.report.to_text()
    else:
        assert outcome.status == "created", outcome.report.to_text()
    assert outcome.report.errors == 0 and outcome.report.warnings == 0, outcome.report.to_text()
    assert outcome.entry.rows > 0


def test_manifest_covers_corpus():
    """Every malformed file is in the manifest, every contract used has a valid counterpart."""
    listed = {c["file"] for c in CASES}
    on_disk = {str(p.relative_to(FILES)) for p in (FILES / "malformed").iterdir()}
    assert listed == on_disk
    assert len(CASES) >= 30
    valid_contracts = {v["contract"] for v in MANIFEST["valid"]}
    assert {c["contract"] for c in CASES} <= valid_contracts
    assert {p.name for p in CONTRACTS.glob("*.yaml")} == valid_contracts
    for entry in CASES + MANIFEST["valid"]:
        assert (FILES / entry["file"]).is_file(), entry["file"]
        assert entry.get("de", "x") and entry.get("en", "x")
    for case in CASES:
        assert case["de"] and case["en"], case["file"]


def test_generator_reproduces_committed_text_files(tmp_path):
    """make_corpus.py and the committed files agree (text files byte for byte, containers by name)."""
    sys.path.insert(0, str(HERE))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(HERE))
    out = make_corpus.main(tmp_path / "files")
    fresh = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    committed = {str(p.relative_to(FILES)) for p in FILES.rglob("*") if p.is_file()}
    assert fresh == committed
    for name in sorted(fresh):
        if name.endswith(".csv"):
            assert (out / name).read_bytes() == (FILES / name).read_bytes(), f"{name}: make_corpus.py neu ausführen"


def _bif_command() -> list[str]:
    script = Path(sys.executable).with_name("bif")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bif_lib.cli import main; sys.exit(main())"]


def test_cli_ingest_rejects_with_report(store):
    """`bif ingest` on a malformed file: exit code 1, the German report on stdout, store unchanged."""
    before = store_checksums(store.root)
    env = dict(os.environ, BIF_STORE=str(store.root), BIF_USER="corpus")
    proc = subprocess.run(
        [*_bif_command(), "ingest", str(CONTRACTS / "einwohner_stadtteile.yaml"),
         str(FILES / "malformed/einwohner_altersgruppen_summe.csv")],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Prüfbericht für Datensatz „einwohner_stadtteile“ – abgelehnt" in proc.stdout
    assert "sum_equals:altersgruppen" in proc.stdout and "Zeile 9" in proc.stdout
    assert "nichts wurde gespeichert" in proc.stdout
    assert store_checksums(store.root) == before
