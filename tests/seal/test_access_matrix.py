"""The seal as an access matrix: every role's real OS account × every way into the data.

Ways covered here: every file under BIF_HOME read directly, ``bif_lib.load``, the shared
catalog's content, ``bif ingest`` (the office's gate), the audit trail. The hub API and
group changes (tests/platform/test_operator_role.py), code at publish time
(tests/apps/test_publish_sandbox.py) and code in app kernels (tests/apps/test_apps_robustness.py)
are covered next to the parts they test; docs/statistics-office.md lists them all.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from seal_roles import ROLES_WITH_INTERNAL


def classify(home: Path, path: Path) -> str:
    """Which kind of data a file under BIF_HOME holds, i.e. who may read it."""
    parts = path.relative_to(home).parts
    if parts[:2] == ("store", "confidential") or (parts[0] == "sources" and "generated" in parts):
        return "confidential"
    if parts[:2] == ("store", "internal"):
        return "internal"
    if parts[0] == "audit":
        return "private" if path.name == ".lock" else "audit"
    if parts[0] == "inputs" and path.name in ("intern.csv", "register.csv") or parts[0] == "audit-service.log":
        return "private"  # the test's own input files and logs: root only
    return "shared"  # the open area, the catalog, contracts


def readable_files(sealed, role: str) -> set[str]:
    """The files under BIF_HOME that ``role``'s account can open for reading (tried, not computed)."""
    code = f"""
import json, os
readable = []
for root, dirs, files in os.walk({str(sealed.home)!r}):
    for name in files:
        path = os.path.join(root, name)
        try:
            with open(path, "rb") as fh:
                fh.read(1)
            readable.append(path)
        except OSError:
            pass
print(json.dumps(readable))
"""
    result = sealed.run_as(role, code)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def all_files(sealed) -> list[Path]:
    return [p for p in sealed.home.rglob("*") if p.is_file() and not p.is_socket()]


@pytest.mark.parametrize("role", ["analyst", "trainer", "participant", "operator", "apps", "sandbox", "nobody",
                                  "office"])
def test_direct_file_reads_follow_the_matrix(sealed, role):
    readable = readable_files(sealed, role)
    wrong = []
    for path in all_files(sealed):
        kind = classify(sealed.home, path)
        expected = {"confidential": role == "office", "internal": role in ROLES_WITH_INTERNAL,
                    "audit": role == "office", "shared": True, "private": False}[kind]
        if (str(path) in readable) != expected:
            wrong.append(f"{path.relative_to(sealed.home)} ({kind}): {'readable' if not expected else 'denied'}")
    assert not wrong, f"{role}: " + "; ".join(wrong)
    # the matrix is not vacuous: each kind of file exists
    kinds = {classify(sealed.home, p) for p in all_files(sealed)}
    assert {"confidential", "internal", "shared", "audit"} <= kinds


@pytest.mark.parametrize("role", ["analyst", "trainer", "participant", "operator", "apps", "sandbox", "nobody",
                                  "office"])
def test_bif_lib_load_follows_the_matrix(sealed, role):
    code = """
import json, bif_lib as bif
out = {}
for name in ("offen", "intern", "register"):
    try:
        out[name] = len(bif.load(name, purpose="Zugriffsmatrix-Test"))
    except Exception as exc:
        out[name] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out, ensure_ascii=False))
"""
    result = sealed.run_as(role, code)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["offen"] == 2
    if role in ROLES_WITH_INTERNAL:
        assert out["intern"] == 2
    else:
        assert "Kein Zugriff" in str(out["intern"])
    if role == "office":
        assert out["register"] == 3
    else:
        assert "Kein Zugriff" in str(out["register"]), out["register"]
        assert "Traceback" not in str(out["register"])


def test_the_shared_catalog_holds_no_confidential_values(sealed):
    raw = (sealed.store / "catalog.sqlite").read_bytes()
    for value in (b"P-4712", b"4711", b"3171", "4.711".encode(), "3.171".encode()):
        assert value not in raw
    con = sqlite3.connect(sealed.store / "catalog.sqlite")
    report, lineage = con.execute("SELECT report, lineage FROM versions WHERE dataset_id='register'").fetchone()
    report = json.loads(report)
    assert report["warnings"] == 1 and report["failures"] == [] and report["counts_per_rule"]
    # the details stay in the confidential area, beside the snapshot
    details = next((sealed.store / "confidential" / "register").glob("*.report.json"))
    assert "4.711".encode() in details.read_bytes()


def test_confidential_reads_are_audited_with_the_kernels_identity(sealed):
    from bif_lib import audit

    before = len(audit.entries(sealed.home / "audit"))
    result = sealed.run_as("office", "import bif_lib as bif; bif.load('register', purpose='Prüfung Matrix')")
    assert result.returncode == 0, result.stderr
    entries = audit.entries(sealed.home / "audit")
    assert len(entries) == before + 1
    entry = entries[-1]
    assert (entry["event"], entry["dataset"], entry["version"]) == ("read", "register", 1)
    assert entry["account"] == sealed.accounts["office"] and entry["purpose"] == "Prüfung Matrix"
    assert audit.verify(sealed.home / "audit") == []


def test_an_account_cannot_log_in_someone_elses_name_or_forge_a_release(sealed):
    from bif_lib import audit

    code = """
import json, socket
from bif_lib import audit
s = socket.socket(socket.AF_UNIX); s.connect(str(audit.socket_path()))
s.sendall(json.dumps({"event": "read", "dataset": "register", "user": "chefin", "account": "root",
                      "uid": 0}).encode() + b"\\n")
print(s.makefile().readline())
s2 = socket.socket(socket.AF_UNIX); s2.connect(str(audit.socket_path()))
s2.sendall(json.dumps({"event": "release", "dataset": "register"}).encode() + b"\\n")
print(s2.makefile().readline())
"""
    result = sealed.run_as("analyst", code)
    assert result.returncode == 0, result.stderr
    first, second = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert first["entry"]["account"] == sealed.accounts["analyst"]  # from SO_PEERCRED, not the request
    assert second["ok"] is False
    assert audit.verify(sealed.home / "audit") == []


def test_no_one_but_root_can_change_the_trail(sealed):
    for role in ("office", "analyst", "nobody"):
        code = f"""
import glob
n = 0
for path in glob.glob({str(sealed.home / 'audit')!r} + '/*'):
    try:
        open(path, 'a').write('x')
        n += 1
    except OSError:
        pass
print(n)
"""
        result = sealed.run_as(role, code)
        assert result.stdout.strip() == "0", role


def test_reads_are_refused_when_the_audit_service_is_down(sealed, tmp_path):
    code = f"""
import os
os.environ["BIF_AUDIT_DIR"] = {str(tmp_path / 'kein-dienst')!r}
import bif_lib as bif
try:
    bif.load('register', purpose='Test')
    print('GELESEN')
except PermissionError as exc:
    print('ABGELEHNT', exc)
"""
    os.chmod(tmp_path, 0o755)
    result = sealed.run_as("office", code)
    assert "ABGELEHNT" in result.stdout and "Zugriffsprotokoll" in result.stdout, result.stdout + result.stderr


def test_confidential_read_needs_a_purpose(sealed):
    result = sealed.run_as("office", "import bif_lib as bif\ntry:\n bif.load('register')\nexcept ValueError as e:"
                                     "\n print('ZWECK', e)")
    assert "ZWECK" in result.stdout and "purpose=" in result.stdout


@pytest.mark.parametrize("edit", ["change", "delete", "reorder", "truncate"])
def test_audit_verify_detects_tampering(sealed, tmp_path, edit):
    from bif_lib import audit

    for purpose in ("eins", "zwei", "drei"):
        audit.append("read", who=audit.identity(0), dataset="register", version=1, purpose=purpose,
                     directory=tmp_path)
    assert audit.verify(tmp_path) == []
    path = next(tmp_path.glob("audit-*.jsonl"))
    lines = path.read_text().splitlines()
    if edit == "change":
        lines[1] = lines[1].replace('"zwei"', '"harmlos"')
    elif edit == "delete":
        del lines[1]
    elif edit == "reorder":
        lines[0], lines[1] = lines[1], lines[0]
    else:
        lines = lines[:-1]
    path.write_text("\n".join(lines) + "\n")
    assert audit.verify(tmp_path), edit


def test_audit_keeps_entries_for_the_retention_period(tmp_path):
    from datetime import datetime, timezone

    from bif_lib import audit

    audit.append("read", who=audit.identity(0), dataset="x", directory=tmp_path)
    year = datetime.now(timezone.utc).year
    with pytest.raises(ValueError, match="mindestens 5 Jahre"):
        audit.prune(year + 1, directory=tmp_path)
    # an old year is dropped and the chain stays checkable from the anchor
    old = tmp_path / f"audit-{year - 7}.jsonl"
    path = next(tmp_path.glob(f"audit-{year}.jsonl"))
    path.rename(old)
    audit.append("read", who=audit.identity(0), dataset="y", directory=tmp_path)
    assert audit.verify(tmp_path) == []
    assert audit.prune(year - 6, directory=tmp_path) == [old]
    assert audit.verify(tmp_path) == []
    assert [e["dataset"] for e in audit.entries(tmp_path)] == ["y"]


def test_classification_is_never_lowered_by_a_new_contract(sealed, tmp_path):
    import yaml

    from bif_lib.ingest import ingest
    from bif_lib.store import Store

    raw = yaml.safe_load((sealed.home / "inputs" / "register.yaml").read_text())
    raw["classification"] = "open"
    contract = tmp_path / "register_offen.yaml"
    contract.write_text(yaml.safe_dump(raw, allow_unicode=True))
    outcome = ingest(contract, sealed.home / "inputs" / "register.csv", store=Store(sealed.store))
    assert outcome.status == "rejected"
    assert "nicht durch einen neuen Vertrag herabgesetzt" in outcome.report.to_text()
    assert not list((sealed.store / "open").glob("register*"))


def test_derived_data_needs_a_release_certificate(sealed, tmp_path):
    import yaml

    from bif_lib.ingest import ingest
    from bif_lib.store import Store

    raw = yaml.safe_load((sealed.home / "inputs" / "intern.yaml").read_text())
    raw.update(id="abgeleitet", derived_from=["register"])
    contract = tmp_path / "abgeleitet.yaml"
    contract.write_text(yaml.safe_dump(raw, allow_unicode=True))
    outcome = ingest(contract, sealed.home / "inputs" / "intern.csv", store=Store(sealed.store))
    assert outcome.status == "rejected"
    assert "Geheimhaltungszertifikat" in outcome.report.to_text()


def test_the_office_ingests_from_its_own_account_through_the_gate(sealed):
    from bif_lib import audit

    source = Path("/tmp") / f"{sealed.prefix}-register.csv"
    shutil.copy(sealed.home / "inputs" / "register.csv", source)
    import pwd

    office = pwd.getpwnam(sealed.accounts["office"])
    os.chown(source, office.pw_uid, office.pw_gid)
    os.chmod(source, 0o600)
    try:
        source.write_text(source.read_text() + "P-4714;2;100;0;100\n")
        result = sealed.bif_as("office", "ingest", str(sealed.home / "inputs" / "register.yaml"), str(source))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert "Version 2" in result.stdout
        last = audit.entries(sealed.home / "audit")[-1]
        assert (last["event"], last["dataset"], last["account"]) == ("ingest", "register", sealed.accounts["office"])
        # an office member's non-confidential write leaves only as a release
        export = source.with_name(f"{sealed.prefix}-intern.csv")
        shutil.copy(sealed.home / "inputs" / "intern.csv", export)
        os.chown(export, office.pw_uid, office.pw_gid)
        result = sealed.bif_as("office", "ingest", str(sealed.home / "inputs" / "intern.yaml"), str(export))
        export.unlink()
        assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
        assert "Statistikstelle" in result.stdout + result.stderr
        # others have no way in: not through the gate either
        result = sealed.bif_as("analyst", "ingest", str(sealed.home / "inputs" / "register.yaml"), str(source))
        assert result.returncode != 0
    finally:
        source.unlink(missing_ok=True)


def test_other_accounts_cannot_read_an_office_process_environment_or_memory(sealed):
    """/proc: a kernel of the office holds tokens and data in its environment and memory."""
    import pwd
    import subprocess
    import sys
    import time

    office = pwd.getpwnam(sealed.accounts["office"])
    secret = "BIF_TEST_GEHEIM=" + sealed.prefix
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            env={"PATH": "/usr/bin:/bin", "BIF_TEST_GEHEIM": sealed.prefix},
                            user=office.pw_uid, group=office.pw_gid)
    try:
        time.sleep(0.3)
        for role in ("analyst", "apps", "operator", "nobody"):
            code = f"""
for name in ("environ", "mem", "maps", "fd/0"):
    try:
        with open("/proc/{proc.pid}/" + name, "rb") as fh:
            data = fh.read(4096)
        print("LESBAR", name, {secret!r}.encode() in data)
    except OSError:
        print("VERWEIGERT", name)
"""
            result = sealed.run_as(role, code)
            assert "LESBAR" not in result.stdout, (role, result.stdout)
            assert result.stdout.count("VERWEIGERT") == 4
    finally:
        proc.kill()
        proc.wait()


def test_the_office_releases_a_protected_table_from_its_own_account(sealed):
    """bif release: microdata read (audited), Cell Key Method, certificate, through the gate into
    the internal area; analysts then read the released table, never the microdata."""
    from bif_lib import audit
    from bif_lib.store import Store

    result = sealed.bif_as("office", "release", str(sealed.home / "inputs" / "freigabe.yaml"),
                           "--purpose", "Freigabe für die Planung")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output and "Geheimhaltungsnachweis" in output
    entry = Store(sealed.store).catalog.latest("freigabe")
    assert entry.classification == "internal" and entry.lineage["release"]["method"] == "cellkey"
    events = [(e["event"], e["dataset"], e["account"]) for e in audit.entries(sealed.home / "audit")[-2:]]
    assert events == [("read", "register", sealed.accounts["office"]), ("release", "freigabe", sealed.accounts["office"])]
    counts = sealed.run_as("analyst", "import json, bif_lib as bif; "
                                      "print(json.dumps(bif.load('freigabe')['anzahl'].tolist()))")
    assert counts.returncode == 0, counts.stderr
    published = json.loads(counts.stdout.strip().splitlines()[-1])
    assert all(v == 0 or v > 2 for v in published)  # true counts are 2 and 1: never shown


def test_a_release_whose_content_differs_from_its_certificate_is_refused(sealed, tmp_path):
    import pandas as pd

    from bif_lib.contracts import load_contract
    from bif_lib.ingest import ingest
    from bif_lib.releases import release_table
    from bif_lib.store import Store

    contract = load_contract(sealed.home / "inputs" / "freigabe.yaml")
    records = pd.DataFrame({"stadtteil": [1] * 40 + [2] * 30})
    table, certificate = release_table(contract, records, keys=[0.5] * 70, released_by="test")
    table.loc[0, "anzahl"] = int(table.loc[0, "anzahl"]) + 1  # changed after protection
    path = tmp_path / "freigabe.parquet"
    table.to_parquet(path)
    cert = tmp_path / "zertifikat.json"
    cert.write_text(certificate.to_json())
    outcome = ingest(contract, path, store=Store(sealed.store), certificate=cert)
    assert outcome.status == "rejected" and "stimmt nicht mit dem Geheimhaltungszertifikat" in outcome.report.to_text()


def test_a_release_takes_the_city_profiles_disclosure_settings(sealed):
    import pandas as pd
    import yaml

    from bif_lib.contracts import parse_contract
    from bif_lib.releases import release_table

    raw = yaml.safe_load((sealed.home / "inputs" / "freigabe.yaml").read_text())
    raw["release"]["method"] = "suppression"
    contract = parse_contract(yaml.safe_dump(raw))
    records = pd.DataFrame({"stadtteil": [1] * 4 + [2] * 30 + [3] * 20})
    table, certificate = release_table(contract, records, None, released_by="test", defaults={"min_frequency": 5})
    assert certificate.parameters["min_frequency"] == 5
    assert table.loc[table["stadtteil"] == 1, "anzahl"].isna().all()  # 4 < 5: blocked
    raw["release"]["parameters"] = {"min_frequency": 3}  # the contract overrides the city
    table, certificate = release_table(parse_contract(yaml.safe_dump(raw)), records, None, released_by="test",
                                       defaults={"min_frequency": 5})
    assert certificate.parameters["min_frequency"] == 3


def test_the_office_uses_catalog_and_audit_from_its_own_account(sealed):
    """bif catalog and bif audit as a member (no root): German output, no traceback; the member
    sees the full report of a confidential dataset, an analyst only counts."""
    shown = sealed.bif_as("office", "catalog", "show", "register")
    assert shown.returncode == 0 and "Traceback" not in shown.stdout + shown.stderr, shown.stderr
    assert "4.711" in shown.stdout  # the warning's value, from the report in the confidential area
    redacted = sealed.bif_as("analyst", "catalog", "show", "register")
    assert redacted.returncode == 0 and "4.711" not in redacted.stdout
    for args in (("audit", "show"), ("audit", "verify")):
        result = sealed.bif_as("office", *args)
        assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "unversehrt" in sealed.bif_as("office", "audit", "verify").stdout
    denied = sealed.bif_as("analyst", "audit", "show")
    assert denied.returncode != 0 and "Kein Lesezugriff" in denied.stderr


def test_totals_the_city_publishes_exactly_stay_unperturbed(sealed):
    """city.yaml `disclosure.unperturbed`: e.g. the city's total population is published exactly."""
    import numpy as np
    import pandas as pd
    import yaml

    from bif_lib.contracts import parse_contract
    from bif_lib.releases import release_table

    raw = yaml.safe_load((sealed.home / "inputs" / "freigabe.yaml").read_text())
    raw["release"]["parameters"] = {"margins": True}
    records = pd.DataFrame({"stadtteil": [1] * 40 + [2] * 30 + [3] * 2})
    keys = np.random.default_rng(7).random(len(records))
    table, certificate = release_table(parse_contract(yaml.safe_dump(raw)), records, keys, released_by="test",
                                       defaults={"unperturbed": [[]]})
    total = table.loc[table["stadtteil"].isna(), "anzahl"]
    assert total.tolist() == [72] and certificate.parameters["unperturbed"] == [[]]
    assert not table.loc[table["stadtteil"] == 3, "anzahl"].between(1, 2).any()
