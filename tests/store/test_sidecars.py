"""The snapshots are the truth: every version's metadata lies beside it, and what a killed writer
leaves behind is finished or rolled back by checksum — a file the store cannot account for is
moved to quarantine, never deleted. On SQLite and on PostgreSQL (``BACKENDS``)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from store_helpers import BACKENDS, REPO, contract_dict, delivery, file_digests

import bif_lib
from bif_lib.store import Store
from bif_lib.store.snapshots import sidecar_of


@pytest.fixture(params=BACKENDS)
def catalog_backend(request):
    return request.param


SECRET = contract_dict(id="register_test", title="Register (synthetisch)", classification="confidential",
                       synthetic=True, description="synthetische Testdaten (vertraulich)")


def test_every_version_has_its_sidecar_in_its_own_area(put, store):
    put(contract_dict(), delivery(100))
    put(SECRET, delivery(5))
    put(contract_dict(), delivery(200))
    entries = store.catalog.all_versions()
    assert len(entries) == 3
    for entry in entries:
        snapshot = store.root / entry.path
        sidecar = sidecar_of(snapshot)
        assert sidecar.parent == snapshot.parent and sidecar.parts[-3] == entry.classification
        document = json.loads(sidecar.read_text(encoding="utf-8"))
        assert document["format"] == "bif-snapshot-metadata"
        assert document["entry"] == entry.to_dict()  # everything the catalog holds: the catalog can be rebuilt
        assert stat.S_IMODE(sidecar.stat().st_mode) == stat.S_IMODE(snapshot.stat().st_mode)
    secret = next(e for e in entries if e.classification == "confidential")
    # the catalog (and so the sidecar) has the redacted report; the full one stays in the confidential area
    assert secret.report.get("redacted")
    full = store.root / secret.path.replace(".parquet", ".report.json")
    assert full.is_file() and "redacted" not in json.loads(full.read_text(encoding="utf-8"))
    assert not any(p.suffix == ".json" for p in (store.root / "open").rglob("*register_test*"))


# A writer killed between placing its files and committing the catalog row.
KILLED_WRITER = """
import os, signal, sys
from bif_lib.ingest import ingest
from bif_lib.store import Store

after_commit = sys.argv[4] == "after"
store = Store(sys.argv[3])
original = type(store.catalog).add_version

def add_version(self, entry):
    if after_commit:
        original(self, entry)
    os.kill(os.getpid(), signal.SIGKILL)

type(store.catalog).add_version = add_version
ingest(sys.argv[1], sys.argv[2], store=store)
"""


def _killed_ingest(tmp_path, store: Store, text: str, when: str = "before") -> None:
    import yaml

    contract = tmp_path / "einwohner-killed.yaml"
    contract.write_text(yaml.safe_dump(contract_dict(), allow_unicode=True), encoding="utf-8")
    source = tmp_path / "killed.csv"
    source.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(contract), str(source), str(store.root), when],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def _pending(store: Store):
    return list((store.root / "open" / ".staging").glob("*.pending.json"))


def _version_files(store: Store, version: int) -> list:
    return sorted(p for p in (store.root / "open" / "einwohner").glob(f"v{version:04d}-*"))


def test_killed_before_commit_is_rolled_back_by_the_next_write(put, store, tmp_path):
    put(contract_dict(), delivery(100))
    _killed_ingest(tmp_path, store, delivery(200))
    assert len(_pending(store)) == 1 and len(_version_files(store, 2)) == 3  # snapshot, read copy, sidecar
    assert store.verify() == []  # an unfinished write is no problem for readers
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 1
    outcome = put(contract_dict(), delivery(300))
    assert outcome.status == "created" and outcome.entry.version == 2
    assert not _pending(store) and not any(store.root.rglob(".quarantine"))
    assert [p.name for p in _version_files(store, 2)] == sorted(
        p.name for p in (store.root / "open" / "einwohner").glob(f"v0002-{outcome.entry.sha256[:12]}*"))
    assert bif_lib.load("einwohner", store=store)["residents"].tolist() == [301, 302, 303]


def test_killed_after_commit_keeps_the_version(put, store, tmp_path):
    put(contract_dict(), delivery(100))
    _killed_ingest(tmp_path, store, delivery(200), when="after")
    assert len(_pending(store)) == 1
    assert [v.version for v in store.catalog.versions("einwohner")] == [1, 2]
    assert put(contract_dict(), delivery(200)).status == "unchanged"
    assert not _pending(store)
    assert bif_lib.load("einwohner", store=store)["residents"].tolist() == [201, 202, 203]


def test_killed_writer_and_lost_catalog_rebuild_keeps_the_complete_version(put, store, tmp_path, catalog_admin):
    put(contract_dict(), delivery(100))
    _killed_ingest(tmp_path, store, delivery(200))
    catalog_admin.break_("missing", None)
    result = store.rebuild_catalog()
    assert [f"{e.dataset_id} v{e.version}" for e in result.entries] == ["einwohner v1", "einwohner v2"]
    assert not result.problems and not _pending(store)
    assert bif_lib.load("einwohner", store=store)["residents"].tolist() == [201, 202, 203]
    assert store.verify() == []


def test_a_changed_file_of_a_killed_writer_is_quarantined_not_deleted(put, store, tmp_path):
    put(contract_dict(), delivery(100))
    _killed_ingest(tmp_path, store, delivery(200))
    snapshot = next(p for p in _version_files(store, 2) if p.suffix == ".parquet")
    with open(snapshot, "ab") as fh:
        fh.write(b"nachtraeglich veraendert")
    changed = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    outcome = put(contract_dict(), delivery(300))
    assert outcome.status == "created"
    quarantined = [p for p in (store.root / "open" / ".quarantine").rglob("*") if p.is_file()]
    assert [p.name for p in quarantined] == [snapshot.name]
    assert hashlib.sha256(quarantined[0].read_bytes()).hexdigest() == changed
    assert any("Quarantäne" in f.message for f in outcome.report.failures() if f.rule == "store")
    assert store.verify() == []


def test_rebuild_is_idempotent_and_changes_no_snapshot(put, store):
    put(contract_dict(), delivery(100))
    put(SECRET, delivery(5))
    rows = [e.to_dict() for e in store.catalog.all_versions()]
    files = file_digests(store.root)
    for _ in range(2):
        result = store.rebuild_catalog()
        assert not result.problems and not result.restored
        assert [e.to_dict() for e in store.catalog.all_versions()] == rows
        assert file_digests(store.root) == files


def test_store_from_before_sidecars_gets_them_on_the_next_write(put, store):
    first = put(contract_dict(), delivery(100)).entry
    sidecar_of(store.root / first.path).unlink()
    assert store.verify() == []                      # an old store is not broken
    assert put(contract_dict(), delivery(200)).status == "created"
    assert json.loads(sidecar_of(store.root / first.path).read_text())["entry"] == first.to_dict()


@pytest.mark.parametrize("leftover", ["v0002-0123456789ab.parquet", "v0002-0123456789ab.meta.json", "notiz.parquet"])
def test_write_never_deletes_a_file_it_cannot_account_for(put, store, leftover):
    put(contract_dict(), delivery(100))
    stray = store.root / "open" / "einwohner" / leftover
    stray.write_bytes(b"unbekannt")
    if leftover.endswith(".meta.json"):
        # a sidecar without catalog row: the catalog looks older than the disk -> refused, untouched
        with pytest.raises(Exception, match="bif catalog rebuild"):
            put(contract_dict(), delivery(200))
        assert stray.read_bytes() == b"unbekannt"
        return
    outcome = put(contract_dict(), delivery(200))
    assert outcome.status == "created"
    moved = [p for p in (store.root / "open" / ".quarantine").rglob(leftover)] if leftover.startswith("v") else []
    if leftover.startswith("v"):
        assert len(moved) == 1 and moved[0].read_bytes() == b"unbekannt" and not stray.exists()
    else:
        assert stray.read_bytes() == b"unbekannt"  # not a version file: left alone


def test_a_damaged_sidecar_is_repaired_from_the_catalog_or_quarantined_with_its_files(put, store, catalog_admin):
    entry = put(contract_dict(), delivery(100)).entry
    put(contract_dict(), delivery(200))
    sidecar = sidecar_of(store.root / entry.path)
    sidecar.write_text("{kaputt", encoding="utf-8")
    assert any("nicht lesbar" in p and "bif catalog rebuild" in p for p in store.verify())
    result = store.rebuild_catalog()                   # the catalog still knows v1: sidecar rewritten
    assert any("neu geschrieben" in p for p in result.problems) and not result.quarantined
    assert json.loads(sidecar.read_text(encoding="utf-8"))["entry"] == entry.to_dict()
    assert store.verify() == []

    sidecar.write_text("{kaputt", encoding="utf-8")
    catalog_admin.break_("missing", None)               # and now nobody knows v1 any more
    result = store.rebuild_catalog()
    assert [e.version for e in result.entries] == [2]
    moved = sorted(p.name for p in (store.root / "open" / ".quarantine").rglob("v0001-*"))
    assert len(moved) == 3 and not list((store.root / "open" / "einwohner").glob("v0001-*"))
    assert put(contract_dict(), delivery(300)).entry.version == 3
