"""Crash safety: an ingest killed with SIGKILL at any moment leaves store and catalog consistent.

Ingests of a ~200k-row CSV run in child processes (forked from a preloaded fork server, so
that a child starts in milliseconds) and are killed at delays spread over the whole ingest,
and densely inside the write phase (after the "Schreibe Snapshot" progress message).
After every kill: every catalogued snapshot exists with its sha256, ``Store.verify()`` is
empty, the dataset loads, and it is either the previous or the complete new version.
After the next successful ingest no leftovers remain.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import bif_lib
from bif_lib.ingest import ingest
from bif_lib.store import SNAPSHOT_SUFFIXES, Store, sha256_file

N_ROWS = 200_000
CONTRACT = """\
id: personen_synthetisch
version: "1.0"
title: Personen (synthetisch)
description: synthetische Testdaten für den Absturztest
owner: Statistik
steward: {name: Test, email: test@example.org}
source_system: Testgenerator
classification: confidential
synthetic: true
licence: {name: intern, attribution: Stadt}
cadence: yearly
spatial_unit: Stadtteil
temporal_coverage: {}
source: {format: csv, delimiter: ";", decimal: ","}
schema:
  fields:
    - {name: person_id, type: integer}
    - {name: district_id, type: integer, constraints: {required: true, minimum: 1, maximum: 13}}
    - {name: age, type: integer, constraints: {minimum: 0, maximum: 100}}
    - {name: sex, type: string, constraints: {enum: [m, w]}}
    - {name: income, type: number}
  primaryKey: person_id
"""


def _ingest_child(contract: str, source: str, store_root: str, marker: str) -> None:
    """Runs in the forked child: one ingest, progress messages appended to ``marker``."""
    def progress(message: str) -> None:
        with open(marker, "a", encoding="utf-8") as fh:
            fh.write(message + "\n")

    outcome = ingest(contract, source, store=Store(store_root), progress=progress)
    progress(f"FERTIG {outcome.status}")


def _write_files(folder: Path) -> dict[str, tuple[Path, float]]:
    """Three deliveries that differ in person 1's income: {name: (path, income of person 1)}."""
    rng = np.random.default_rng(7)
    district = rng.integers(1, 14, N_ROWS)
    age = rng.integers(0, 101, N_ROWS)
    sex = np.where(rng.random(N_ROWS) < 0.5, "m", "w")
    cents = rng.integers(0, 500_000, N_ROWS)
    body = "".join(f"{i};{d};{a};{s};{c // 100},{c % 100:02d}\n"
                   for i, d, a, s, c in zip(range(2, N_ROWS + 1), district[1:], age[1:], sex[1:], cents[1:]))
    files = {}
    for name, income in (("A", "1000,00"), ("B", "2000,50"), ("C", "3000,25")):
        path = folder / f"lieferung_{name}.csv"
        path.write_text(f"person_id;district_id;age;sex;income\n1;1;40;w;{income}\n" + body, encoding="utf-8")
        files[name] = (path, float(income.replace(",", ".")))
    return files


class Harness:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.contract = tmp_path / "personen.yaml"
        self.contract.write_text(CONTRACT, encoding="utf-8")
        self.files = _write_files(tmp_path)
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(["bif_lib.ingest", "pyarrow.parquet", __name__])
        self.runs = 0

    def start(self, store_root: Path, file: str):
        self.runs += 1
        marker = self.tmp / f"fortschritt_{self.runs}.txt"
        process = self.ctx.Process(target=_ingest_child,
                                   args=(str(self.contract), str(self.files[file][0]), str(store_root), str(marker)))
        process.start()
        return process, marker

    def run_to_end(self, store_root: Path, file: str) -> tuple[float, float, str]:
        """Unkilled run: (total seconds, seconds after the write began, final status)."""
        process, marker = self.start(store_root, file)
        started = time.perf_counter()
        writing = _wait_for(marker, "Schreibe Snapshot", process)
        process.join(120)
        ended = time.perf_counter()
        assert process.exitcode == 0
        status = marker.read_text(encoding="utf-8").splitlines()[-1]
        return ended - started, ended - (writing or ended), status

    def kill_after(self, store_root: Path, file: str, delay: float, after_write_began: bool) -> bool:
        """Start an ingest and SIGKILL it ``delay`` s after start (or after the write began). True: it was killed."""
        process, marker = self.start(store_root, file)
        if after_write_began:
            _wait_for(marker, "Schreibe Snapshot", process)
        deadline = time.perf_counter() + delay
        while time.perf_counter() < deadline and process.is_alive():
            time.sleep(0.001)
        if process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
        process.join(60)
        return process.exitcode == -signal.SIGKILL


def _wait_for(marker: Path, text: str, process) -> float | None:
    while process.is_alive():
        if marker.exists() and text in marker.read_text(encoding="utf-8"):
            return time.perf_counter()
        time.sleep(0.0005)
    return None


def _identify(frame, files) -> str:
    assert len(frame) == N_ROWS and frame["person_id"].is_unique and frame.notna().all().all()
    income = float(frame.loc[frame["person_id"] == 1, "income"].iloc[0])
    return next(name for name, (_, value) in files.items() if value == income)


def check_consistent(root: Path, files) -> tuple[int, str | None, int]:
    """Assert the store is consistent; return (latest version, which file it holds, leftover files)."""
    store = Store(root)
    assert store.verify() == []
    versions = store.catalog.versions("personen_synthetisch")
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    for entry in versions:
        assert sha256_file(root / entry.path) == entry.sha256
    listed = bif_lib.list_datasets(store=store)
    if not versions:
        assert listed.empty
        which = None
    else:
        assert listed["version"].tolist() == [len(versions)]
        which = _identify(bif_lib.load("personen_synthetisch", purpose="Absturztest", store=store), files)
    catalogued = store.catalog.snapshot_paths()
    area = root / "confidential"
    on_disk = {str(p.relative_to(root)) for suffix in SNAPSHOT_SUFFIXES for p in area.rglob(f"*{suffix}")}
    assert catalogued <= on_disk
    return len(versions), which, len(on_disk - catalogued)


@pytest.mark.timeout(180)
def test_ingest_killed_at_any_moment_leaves_store_consistent(tmp_path):
    h = Harness(tmp_path)
    files = h.files

    # calibrate on a scratch store (the first run also warms the fork server and the file cache)
    runs = [h.run_to_end(tmp_path / "kalibrierung", name) for name in ("A", "B")]
    assert [status for _, _, status in runs] == ["FERTIG created"] * 2
    total = max(min(t for t, _, _ in runs), 0.2)
    write = max(min(w for _, w, _ in runs), 0.02)

    root = tmp_path / "store"
    kills, leftovers_seen, commits_seen, attempts = 0, 0, 0, 0
    # Fractions of the ingest (and of its write phase) at which to kill. A run that finishes
    # before its kill shrinks the estimate, so that a faster machine still gets enough kills.
    schedule = ([("A", f, "total") for f in np.linspace(0.02, 0.85, 6)] +       # first ingest, no store yet
                [(None, f, "total") for f in np.linspace(0.05, 0.9, 14)] +      # spread over the ingest
                [(None, f, "write") for f in np.linspace(0.0, 0.9, 14)])        # inside the write phase
    extra = [(None, f, phase) for f in np.linspace(0.05, 0.8, 8) for phase in ("total", "write")]
    estimate = {"total": total, "write": write}
    n_before, which_before, _ = check_consistent(root, files) if root.exists() else (0, None, 0)
    for file, fraction, phase in schedule + extra:
        if attempts >= len(schedule) and kills >= 25:
            break
        attempts += 1
        if file is None and n_before == 0:
            # previous versions must exist for the later kills
            h.run_to_end(root, "A")
            n_before, which_before, _ = check_consistent(root, files)
        target = file or ("B" if which_before != "B" else "C")
        delay = fraction * estimate[phase]
        killed = h.kill_after(root, target, delay, phase == "write")
        kills += killed
        if not killed:
            estimate[phase] *= 0.8
        n_after, which_after, leftovers = check_consistent(root, files)
        leftovers_seen += leftovers > 0 or any((root / "confidential" / ".staging").glob("*"))
        # no partial version: either the old state or the complete new version
        if n_after == n_before:
            assert which_after == which_before
        else:
            assert n_after == n_before + 1 and which_after == target, (attempts, delay)
            commits_seen += 1
        n_before, which_before = n_after, which_after

    print(f"\n{kills} von {attempts} Ingests abgebrochen; Reste gesehen: {leftovers_seen}; "
          f"Versionen trotz Abbruch vollständig: {commits_seen}; Gesamtdauer {total:.2f} s, Schreiben {write:.3f} s")
    assert kills >= 25, f"only {kills} ingests were killed before they finished"
    assert leftovers_seen >= 1, "no kill landed inside the write phase"

    # the next ingest cleans up whatever killed writers left behind
    target = "B" if which_before != "B" else "C"
    _, _, status = h.run_to_end(root, target)
    assert status == "FERTIG created"
    n_final, which_final, leftovers = check_consistent(root, files)
    assert (n_final, which_final, leftovers) == (n_before + 1, target, 0)
    assert not any((root / "confidential" / ".staging").glob("*"))


HOT_JOURNAL_WRITER = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=5")
con.execute("BEGIN IMMEDIATE")
con.execute("CREATE TABLE ballast (x TEXT)")
for _ in range(5000):
    con.execute("INSERT INTO ballast VALUES (?)", ("x" * 500,))
os.kill(os.getpid(), signal.SIGKILL)  # killed mid-transaction: the journal stays behind, "hot"
"""


def test_catalog_readable_after_writer_killed_mid_commit(tmp_path, make_contract, write_contract):
    """A writer killed inside its SQLite transaction leaves a hot journal; readers must still work."""
    root = tmp_path / "store"
    store = Store(root)
    path = tmp_path / "d.csv"
    path.write_text("n\n1\n2\n", encoding="utf-8")
    raw = make_contract([("n", "integer")], {"format": "csv"}, id="zahlen")
    assert ingest(write_contract(tmp_path, raw), path, store=store).status == "created"
    catalog = root / "catalog.sqlite"
    subprocess.run([sys.executable, "-c", HOT_JOURNAL_WRITER, str(catalog)], check=False, timeout=60)
    assert (root / "catalog.sqlite-journal").exists()

    assert bif_lib.load("zahlen", store=Store(root))["n"].tolist() == [1, 2]
    assert Store(root).verify() == []
    assert not (root / "catalog.sqlite-journal").exists()
    con = sqlite3.connect(catalog)
    assert "ballast" not in [r[0] for r in con.execute("SELECT name FROM sqlite_master")]  # rolled back
    con.close()
    path.write_text("n\n1\n2\n3\n", encoding="utf-8")
    assert ingest(write_contract(tmp_path, raw), path, store=Store(root)).entry.version == 2


def test_hot_journal_without_write_permission_is_explained(tmp_path, make_contract, write_contract, monkeypatch):
    from bif_lib.store import catalog as catalog_module

    root = tmp_path / "store"
    path = tmp_path / "d.csv"
    path.write_text("n\n1\n", encoding="utf-8")
    raw = make_contract([("n", "integer")], {"format": "csv"}, id="zahlen")
    ingest(write_contract(tmp_path, raw), path, store=Store(root))
    subprocess.run([sys.executable, "-c", HOT_JOURNAL_WRITER, str(root / "catalog.sqlite")], check=False, timeout=60)
    monkeypatch.setattr(catalog_module.os, "access", lambda *args: False)  # an analyst: read-only
    with pytest.raises(PermissionError, match="bif catalog verify"):
        bif_lib.load("zahlen", store=Store(root))
    monkeypatch.undo()
    assert bif_lib.load("zahlen", store=Store(root))["n"].tolist() == [1]
