"""A sealed store with real OS accounts: the fixture of the access-matrix tests.

``sealed`` (module scope, root only) builds a BIF_HOME in a fresh, traversable temp folder with
an open, an internal and a confidential dataset plus a generated register source file, applies
the platform's permissions with test groups (``bt<hex>-int``, ``bt<hex>-stat``), creates one OS
account per role and starts the audit service. Everything is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from contract_metadata import METADATA

REPO = Path(__file__).resolve().parents[2]
BASE = {"title": "Testdaten", "description": "Datensatz für die Siegel-Tests", **METADATA}

from seal_roles import ROLES  # noqa: E402


@dataclass
class Sealed:
    home: Path
    prefix: str
    groups: dict[str, str]
    accounts: dict[str, str] = field(default_factory=dict)
    audit: subprocess.Popen | None = None

    @property
    def store(self) -> Path:
        return self.home / "store"

    def env(self) -> dict:
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "BIF_HOME": str(self.home),
                "PYTHONPATH": str(REPO), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}

    def run_as(self, role: str, code: str, timeout: int = 120) -> subprocess.CompletedProcess:
        """Run Python ``code`` as the role's real OS account (its own groups from /etc/group)."""
        account = self.accounts[role]
        entry = pwd.getpwnam(account)
        return subprocess.run([sys.executable, "-c", code], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, user=entry.pw_uid, group=entry.pw_gid,
                              extra_groups=os.getgrouplist(account, entry.pw_gid), cwd="/tmp")

    def bif_as(self, role: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return self.run_as(role, f"import sys; from bif_lib.cli import main; sys.exit(main({list(args)!r}))",
                           timeout=timeout)


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _contract(directory: Path, dataset: str, classification: str, fields, **extra) -> Path:
    raw = {"id": dataset, **BASE, "classification": classification,
           "source": {"format": "csv", "delimiter": ";", "encoding": "utf-8"},
           "schema": {"fields": [{"name": n, "type": t} for n, t in fields]}, **extra}
    raw["source"] = extra.get("source") or raw["source"]
    path = directory / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.chmod(path, 0o644)
    return path


def build_store(home: Path) -> dict[str, Path]:
    """open/internal/confidential datasets (as root, like the bootstrap) and their sources."""
    from bif_lib.ingest import ingest
    from bif_lib.store import Store

    sources = home / "inputs"
    sources.mkdir(mode=0o755)
    store = Store(home / "store")
    files = {}
    files["offen"] = _contract(sources, "offen", "open", [("stadtteil", "integer"), ("einwohner", "integer")])
    files["intern"] = _contract(sources, "intern", "internal", [("stadtteil", "integer"), ("plaetze", "integer")])
    files["register"] = _contract(
        sources, "register", "confidential",
        [("person_id", "string"), ("stadtteil", "integer"), ("lohn", "integer"), ("rente", "integer"),
         ("einkommen", "integer")],
        rules=[{"id": "einkommen_summe", "type": "sum_equals", "columns": ["lohn", "rente"], "total": "einkommen",
                "severity": "warning", "description": "Einkommen = Lohn + Rente"}], record_id="person_id")
    files["freigabe"] = _contract(
        sources, "freigabe", "internal", [("stadtteil", "integer"), ("anzahl", "integer")],
        derived_from=["register"], source={"format": "parquet"},
        release={"source": "register", "method": "cellkey", "by": {"stadtteil": "stadtteil"}, "count": "anzahl"})
    _write_csv(sources / "offen.csv", "stadtteil;einwohner\n1;100\n2;200\n")
    _write_csv(sources / "intern.csv", "stadtteil;plaetze\n1;10\n2;20\n")
    # a warning with a telltale value: it must not reach the shared catalog
    _write_csv(sources / "register.csv", "person_id;stadtteil;lohn;rente;einkommen\nP-4711;1;2000;0;2000\n"
                                         "P-4712;2;3171;0;4711\nP-4713;1;0;900;900\n")
    generated = home / "sources" / "teststadt" / "generated"
    from bif_lib.data.generated import sealed_dir

    sealed_dir(generated)
    shutil.copy(sources / "register.csv", generated / "register.csv")
    for dataset in ("offen", "intern", "register"):
        outcome = ingest(files[dataset], sources / f"{dataset}.csv", store=store)
        assert outcome.ok, outcome.report.to_text()
    os.chmod(sources / "register.csv", 0o600)
    os.chmod(sources / "intern.csv", 0o600)
    return files


@pytest.fixture(scope="module")
def sealed():
    if os.geteuid() != 0:
        pytest.skip("needs root (real OS accounts)")
    from bif_lib.platform import accounts
    from bif_lib.platform.settings import load_settings

    prefix = f"bt{secrets.token_hex(2)}"
    home = Path(tempfile.mkdtemp(prefix="bif-seal-"))
    os.chmod(home, 0o755)
    groups = {"internal": f"{prefix}-int", "confidential": f"{prefix}-stat"}
    old_home = os.environ.get("BIF_HOME")
    os.environ["BIF_HOME"] = str(home)
    settings = load_settings(environ={"BIF_HOME": str(home)})
    assert settings.home == home
    settings["accounts"]["internal_group"] = groups["internal"]
    settings["accounts"]["confidential_group"] = groups["confidential"]
    sealed = Sealed(home, prefix, groups)
    try:
        accounts.ensure_system_groups(settings)
        for role, areas in ROLES.items():
            name = f"{prefix}-{role}"[:32]
            subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--user-group",
                            "--shell", "/usr/sbin/nologin", "--comment", f"BIF {role}-{prefix}", name],
                           check=True, capture_output=True)
            accounts.set_os_groups(name, {groups[a] for a in areas}, settings)
            sealed.accounts[role] = name
        build_store(home)
        accounts.apply_store_permissions(home / "store", settings)
        audit_log = os.fdopen(os.open(home / "audit-service.log", os.O_WRONLY | os.O_CREAT, 0o600), "wb")
        sealed.audit = subprocess.Popen(
            [sys.executable, "-m", "bif_lib.cli", "audit", "serve", "--group", groups["confidential"]],
            env={**os.environ, "BIF_HOME": str(home), "PYTHONPATH": str(REPO)}, stdout=audit_log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (home / "audit" / "audit.sock").exists():
            assert sealed.audit.poll() is None and time.monotonic() < deadline, \
                (home / "audit-service.log").read_text()
            time.sleep(0.1)
        # one audited read, so that the trail's files exist for the matrix
        result = sealed.run_as("office", "import bif_lib as bif; bif.load('register', purpose='Einrichtung')")
        assert result.returncode == 0, result.stderr
        yield sealed
    finally:
        if sealed.audit is not None:
            sealed.audit.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                sealed.audit.wait(10)
        if old_home is None:
            os.environ.pop("BIF_HOME", None)
        else:
            os.environ["BIF_HOME"] = old_home
        accounts.remove_test_accounts(f"{prefix}-", list(groups.values()))
        shutil.rmtree(home, ignore_errors=True)
