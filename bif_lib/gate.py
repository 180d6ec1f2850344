"""The office's gate: how members of the statistics office write to the store without root.

The store is written by root only. A member of the Statistikstelle works from their own
account (JupyterLab terminal); ``bif ingest`` and ``bif release`` hand the files to the
audit service (root, ``bif audit serve``) over its Unix socket. The service

1. takes the member's identity from the kernel (``SO_PEERCRED``) and checks that the account
   is in the office's OS group;
2. checks that the member could read every file named (so the gate cannot be used to read
   files of other accounts);
3. ingests as root in a child process — the store's admission rules apply unchanged, so a
   table derived from confidential data still needs a matching release certificate;
4. records the outcome in the audit trail: ``release`` for anything that leaves the office,
   ``ingest`` for confidential data staying inside.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

from bif_lib import audit


class GateRefused(PermissionError):
    """The gate refused a submission (message in German)."""


def submit(contract: Path | str, source: Path | str, certificate: Path | str | None = None) -> dict:
    """Ask the audit service to ingest ``source`` (client side; any account)."""
    request = {"event": "submit", "contract": str(Path(contract).resolve()), "source": str(Path(source).resolve()),
               "certificate": str(Path(certificate).resolve()) if certificate else None}
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(3600)
            conn.connect(str(audit.socket_path()))
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = conn.makefile("rb").readline()
        reply = json.loads(answer or b"{}")
    except (OSError, ValueError) as exc:
        raise GateRefused("Der Speicher ist für dieses Konto nur über den Protokolldienst erreichbar, und der "
                          f"antwortet nicht ({audit.socket_path()}); bitte den Betrieb verständigen.") from exc
    if not reply.get("ok"):
        raise GateRefused(reply.get("error") or "Die Einreichung wurde abgelehnt.")
    return reply


def readable_by(uid: int, path: Path) -> bool:
    """Could the account ``uid`` open ``path`` for reading (owner, group and other bits, and every
    folder on the way searchable)?"""
    entry = pwd.getpwuid(uid)
    groups = set(os.getgrouplist(entry.pw_name, entry.pw_gid))

    def allowed(info: os.stat_result, owner_bit: int, group_bit: int, other_bit: int) -> bool:
        if info.st_uid == uid:
            return bool(info.st_mode & owner_bit)
        if info.st_gid in groups:
            return bool(info.st_mode & group_bit)
        return bool(info.st_mode & other_bit)

    path = Path(os.path.abspath(path))
    for folder in reversed(path.parents):
        if not allowed(folder.stat(), stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return False
    info = path.stat()
    return stat.S_ISREG(info.st_mode) and allowed(info, stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)


def office_account(uid: int, group: str | None) -> bool:
    if group is None:
        return False
    try:
        entry = pwd.getpwuid(uid)
        return grp.getgrnam(group).gr_gid in os.getgrouplist(entry.pw_name, entry.pw_gid)
    except KeyError:
        return False


def run_submission(request: dict, uid: int, group: str | None) -> dict:
    """Server side (root): check the member and the files, ingest in a child process, record it."""
    who = audit.identity(uid)
    if not office_account(uid, group):
        return {"ok": False, "error": f"Nur Mitglieder der Statistikstelle reichen über diesen Weg ein "
                                      f"(Konto {who['account']!r})."}
    paths = [request.get("contract"), request.get("source")] + ([request["certificate"]]
                                                                if request.get("certificate") else [])
    for name in paths:
        try:
            ok = bool(name) and readable_by(uid, Path(name))
        except OSError:
            ok = False
        if not ok:
            return {"ok": False, "error": f"Die Datei {name!r} ist für das Konto {who['account']!r} nicht lesbar."}
    env = {**os.environ, "BIF_USER": who["user"], "BIF_GATE_OFFICE": "1"}
    child = subprocess.run([sys.executable, "-m", "bif_lib.gate", *[p or "" for p in paths[:2]],
                            request.get("certificate") or ""],
                           env=env, capture_output=True, text=True, timeout=3600)
    try:
        outcome = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": "Das Einspielen ist fehlgeschlagen; Einzelheiten im Protokoll des Betriebs."}
    event = "ingest" if outcome.get("classification") == "confidential" else "release"
    entry = audit.append(event, who=who, dataset=outcome.get("dataset"), version=outcome.get("version"),
                         details={"status": outcome.get("status"), "source": paths[1],
                                  "certificate_sha256": outcome.get("certificate_sha256")})
    return {"ok": True, "entry": entry, **outcome}


def _ingest_child(contract: str, source: str, certificate: str) -> dict:
    from bif_lib.ingest import ingest

    outcome = ingest(contract, source, certificate=certificate or None)
    entry = outcome.entry
    release = (entry.lineage.get("release") or {}) if entry else {}
    return {"status": outcome.status, "summary": outcome.summary(), "report": outcome.report.to_text(),
            "dataset": outcome.report.dataset, "version": entry.version if entry else None,
            "classification": entry.classification if entry else None,
            "certificate_sha256": release.get("content_sha256")}


if __name__ == "__main__":  # the child process of run_submission (root)
    print(json.dumps(_ingest_child(*sys.argv[1:4]), ensure_ascii=False, default=str))
