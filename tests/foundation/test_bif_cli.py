"""The ``bif`` command for stewards: contract check/draft, ingest/validate exit codes, catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bif_lib.cli import main
from bif_lib.store import Store

FIELDS = [("year", "year"), ("district_id", "integer"), ("residents", "integer")]
GOOD = "year;district_id;residents\n2022;1;3907\n2022;2;5052\n"
CHANGED = "year;district_id;residents\n2022;1;3907\n2022;2;5053\n"
BAD = "year;district_id;residents\n2022;1;3907\n2022;zwei;5052\n"


@pytest.fixture
def files(tmp_path, make_contract, write_contract):
    raw = make_contract(FIELDS, {"format": "csv", "delimiter": ";"}, id="einwohner", primary_key=["year", "district_id"])
    paths = {"contract": write_contract(tmp_path, raw)}
    for name, text in (("good", GOOD), ("changed", CHANGED), ("bad", BAD)):
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def bif(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_contract_check(capsys, files, tmp_path):
    code, out, _ = bif(capsys, "contract", "check", files["contract"])
    assert code == 0 and out.startswith(f"OK  {files['contract']}: einwohner 1.0 (3 Felder, 0 Regeln)")
    broken = tmp_path / "kaputt.yaml"
    broken.write_text(files["contract"].read_text(encoding="utf-8").replace("classification: open",
                                                                          "classification: geheim"), encoding="utf-8")
    code, out, err = bif(capsys, "contract", "check", files["contract"], broken)
    assert code == 1
    assert "OK" in out and str(broken) in err and "classification (Zeile" in err and "geheim" in err


def test_contract_draft_to_stdout_and_file(capsys, files, tmp_path):
    code, out, _ = bif(capsys, "contract", "draft", files["good"], "--id", "entwurf")
    assert code == 0 and "id: entwurf" in out and "TODO" in out
    target = tmp_path / "entwurf.yaml"
    code, out, _ = bif(capsys, "contract", "draft", files["good"], "-o", target)
    assert code == 0 and target.exists() and "TODO" in out
    code, _, err = bif(capsys, "contract", "draft", files["good"], "-o", target)
    assert code == 1 and "nichts überschrieben" in err


def test_ingest_exit_codes_and_messages(capsys, files, store, tree_digest):
    code, out, _ = bif(capsys, "ingest", files["contract"], files["good"])
    assert code == 0 and "Version 1 gespeichert" in out
    assert store.catalog.latest("einwohner").version == 1
    code, out, _ = bif(capsys, "ingest", files["contract"], files["good"])
    assert code == 0 and "unverändert" in out

    before = tree_digest(store.root)
    code, out, err = bif(capsys, "ingest", files["contract"], files["bad"])
    assert code == 1
    assert "abgelehnt" in out and "Zeile 3" in out and "„zwei“" in out
    assert tree_digest(store.root) == before

    code, out, _ = bif(capsys, "ingest", files["contract"], files["changed"])
    assert code == 0 and "Version 2 gespeichert" in out


def test_ingest_json(capsys, files):
    code, out, err = bif(capsys, "ingest", files["contract"], files["bad"], "--json")
    assert code == 1
    report = json.loads(out)  # stdout is only the JSON report
    assert report["ok"] is False and report["counts_per_rule"] == {"type": 1}
    assert report["failures"][0]["row"] == 3 and report["failures"][0]["column"] == "district_id"
    assert "abgelehnt" in err


def test_ingest_with_malformed_contract_is_exit_2(capsys, files, tmp_path, store):
    broken = tmp_path / "kaputt.yaml"
    broken.write_text("id: [\n", encoding="utf-8")
    code, _, err = bif(capsys, "ingest", broken, files["good"])
    assert code == 2 and "kein gültiges YAML" in err
    assert not store.root.exists()


def test_validate_writes_nothing(capsys, files, store):
    code, out, _ = bif(capsys, "validate", files["contract"], files["good"])
    assert code == 0 and "bestanden" in out
    code, out, _ = bif(capsys, "validate", files["contract"], files["bad"], "--json")
    assert code == 1 and json.loads(out)["errors"] == 1
    assert not store.root.exists()


def test_catalog_commands(capsys, files, store):
    bif(capsys, "ingest", files["contract"], files["good"])
    bif(capsys, "ingest", files["contract"], files["changed"])

    code, out, _ = bif(capsys, "catalog", "list")
    assert code == 0 and "Datensatz" in out and "einwohner" in out and "offen" in out
    code, out, _ = bif(capsys, "catalog", "list", "--json")
    assert [(d["dataset"], d["version"]) for d in json.loads(out)] == [("einwohner", 2)]
    code, out, _ = bif(capsys, "catalog", "list", "--classification", "confidential")
    assert code == 0 and "(keine Datensätze)" in out
    code, out, _ = bif(capsys, "catalog", "search", "testdaten", "--json")
    assert [d["dataset"] for d in json.loads(out)] == ["einwohner"]

    code, out, _ = bif(capsys, "catalog", "show", "einwohner")
    assert code == 0 and "Version 2 von 2" in out
    code, out, _ = bif(capsys, "catalog", "show", "einwohner", "--version", "1", "--json")
    assert json.loads(out)["version"] == 1
    code, _, err = bif(capsys, "catalog", "show", "gibtsnicht")
    assert code == 1 and "nicht im Katalog" in err

    code, out, _ = bif(capsys, "catalog", "history", "einwohner")
    assert code == 0 and "good.csv" in out and "changed.csv" in out
    code, out, _ = bif(capsys, "catalog", "history", "einwohner", "--json")
    assert [v["version"] for v in json.loads(out)] == [1, 2]
    code, _, err = bif(capsys, "catalog", "history", "gibtsnicht")
    assert code == 1

    code, out, _ = bif(capsys, "catalog", "verify")
    assert code == 0 and "unversehrt" in out
    entry = store.catalog.get("einwohner", version=1)
    path = store.root / entry.path
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, _ = bif(capsys, "catalog", "verify")
    assert code == 1 and "einwohner v1" in out and "1 Problem(e)" in out


def test_bif_console_script(files, tmp_path):
    """Once through the installed ``bif`` entry point, as a steward runs it."""
    exe = shutil.which("bif", path=str(Path(sys.executable).parent)) or shutil.which("bif")
    if exe is None:
        pytest.skip("console script bif not installed")
    env = dict(os.environ, BIF_STORE=str(tmp_path / "cli_store"), BIF_HOME=str(tmp_path / "cli_home"))
    done = subprocess.run([exe, "ingest", str(files["contract"]), str(files["good"])], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "„einwohner“ Version 1 gespeichert: 2 Zeilen" in done.stdout
    assert "Schreibe Snapshot" in done.stderr  # progress goes to stderr
    entry = Store(tmp_path / "cli_store").catalog.latest("einwohner")
    assert entry.version == 1 and entry.source_file == "good.csv"
