"""The audit trail: every read of confidential data and every release out of the office.

Entries are JSON lines in ``$BIF_HOME/audit/audit-<year>.jsonl``, each carrying the
SHA-256 of the entry before it (a hash chain), so that an altered, deleted or reordered
entry is detected by :func:`verify` (``bif audit verify``); ``head.json`` holds the last
sequence number and hash, so that a cut-off tail is detected too.

Only root writes the files. Other accounts (the statistics office's members, whose
kernels read the register) hand their entries to the audit service (``bif audit serve``,
started with the platform) over a Unix socket; the service takes *who* from the
kernel (``SO_PEERCRED``), never from the entry, so nobody can log in someone else's
name or change what was logged. Nothing that needs an entry proceeds without one: when
the service cannot be reached, the read is refused (fail closed).

Entries are kept at least ``RETENTION_YEARS`` years (``bif audit prune`` refuses to drop
younger ones and leaves an anchor entry in the chain).
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bif_lib import config
from bif_lib.fsutil import write_private

RETENTION_YEARS = 5
GENESIS = "0" * 64
SOCKET_NAME = "audit.sock"
MAX_REQUEST = 64 * 1024
LOG_MODE = 0o640  # log, head and anchor: root writes them, the office's group (the folder's) reads them


class AuditUnavailable(PermissionError):
    """An entry could not be written; what needed it must not happen (message in German)."""


def audit_dir() -> Path:
    return Path(os.environ.get("BIF_AUDIT_DIR") or config.bif_home() / "audit")


def socket_path() -> Path:
    return audit_dir() / SOCKET_NAME


# --- who ----------------------------------------------------------------------------------

def identity(uid: int) -> dict:
    """The account behind ``uid``; BIF's accounts carry their hub name in the GECOS field."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return {"uid": uid, "account": str(uid), "user": str(uid)}
    gecos = entry.pw_gecos.split(",")[0]
    user = gecos[4:] if gecos.startswith("BIF ") else entry.pw_name
    return {"uid": uid, "account": entry.pw_name, "user": user}


# --- writing (root) -------------------------------------------------------------------------

def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _head(directory: Path) -> dict:
    try:
        return json.loads((directory / "head.json").read_text())
    except FileNotFoundError:
        return {"seq": 0, "hash": GENESIS}


def append(event: str, *, who: dict, dataset: str | None = None, version: int | None = None,
           purpose: str | None = None, details: dict | None = None, directory: Path | None = None) -> dict:
    """Append one entry (caller must be allowed to write the audit folder, i.e. root)."""
    directory = directory or audit_dir()
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o711)  # `serve` opens it to the office's group
    with os.fdopen(os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        head = _head(directory)
        now = datetime.now(timezone.utc)
        entry = {"seq": head["seq"] + 1, "time": now.isoformat(timespec="microseconds"), "event": event,
                 **{k: who[k] for k in ("user", "account", "uid")}, "dataset": dataset, "version": version,
                 "purpose": purpose, "details": details or {}, "prev": head["hash"]}
        entry["hash"] = _digest(entry)
        path = directory / f"audit-{now.year}.jsonl"
        write_private(path, json.dumps(entry, ensure_ascii=False) + "\n", mode=LOG_MODE, append=True)
        write_private(directory / "head.json", json.dumps({"seq": entry["seq"], "hash": entry["hash"]}),
                      mode=LOG_MODE)
        if os.geteuid() == 0:  # readable by the folder's group (the office), whoever wrote the entry
            gid = directory.stat().st_gid
            for written in (path, directory / "head.json"):
                os.chown(written, 0, gid)
        return entry


def record(event: str, *, dataset: str | None = None, version: int | None = None,
           purpose: str | None = None, details: dict | None = None) -> dict:
    """Record an entry for the current process: directly as root, else through the audit service."""
    if os.geteuid() == 0:
        return append(event, who=identity(0) | {"user": config.current_user()}, dataset=dataset, version=version,
                      purpose=purpose, details=details)
    request = json.dumps({"event": event, "dataset": dataset, "version": version, "purpose": purpose,
                          "details": details or {}}, ensure_ascii=False).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(str(socket_path()))
            conn.sendall(request + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        reply = json.loads(answer or b"{}")
    except (OSError, ValueError) as exc:
        raise AuditUnavailable(
            "Der Zugriff wird nicht ausgeführt: das Zugriffsprotokoll ist nicht erreichbar "
            f"({socket_path()}). Vertrauliche Daten werden nur protokolliert gelesen; bitte den "
            "Betrieb verständigen (`bif audit serve` läuft mit der Plattform).") from exc
    if not reply.get("ok"):
        raise AuditUnavailable(f"Das Zugriffsprotokoll hat den Eintrag abgelehnt: {reply.get('error', 'unbekannt')}")
    return reply["entry"]


# --- the service (root) ----------------------------------------------------------------------

CALLER_EVENTS = {"read", "office-approve"}  # what other accounts may record, in their own name
EVENTS = {"read", "office-request", "office-approve", "office-grant", "office-remove", "office-init"}


def handle(raw: bytes, uid: int) -> dict:
    """One request from the socket: the entry is written in the name of ``uid`` (from the kernel)."""
    try:
        request = json.loads(raw)
        event = str(request["event"])
        if event not in EVENTS:
            raise ValueError(f"unbekanntes Ereignis {event!r}")
        if uid != 0 and event not in CALLER_EVENTS:
            # requests, grants and removals are root's (bif office, as root); releases are the gate's
            raise ValueError(f"das Ereignis {event!r} trägt nur der Betrieb (root) ein")
        version = request.get("version")
        entry = append(event, who=identity(uid), dataset=_text(request.get("dataset")),
                       version=int(version) if version is not None else None,
                       purpose=_text(request.get("purpose")), details=dict(request.get("details") or {}))
        return {"ok": True, "entry": entry}
    except (ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": str(exc)[:200]}


def _text(value) -> str | None:
    return None if value is None else str(value)[:500]


def serve(group: str | None = None) -> None:
    """Run the audit service (root) until killed: folder 0751, log files 0640 readable by ``group``
    (the statistics office's OS group, which reviews the trail). One thread per connection, so a
    long submission through the office's gate (``bif_lib.gate``) does not hold up reads."""
    import socketserver

    directory = audit_dir()
    directory.mkdir(parents=True, exist_ok=True)
    gid = grp.getgrnam(group).gr_gid if group else -1
    os.chown(directory, 0, gid)
    os.chmod(directory, 0o751 if group else 0o711)

    def share(path: Path) -> None:
        if path.exists():
            os.chown(path, 0, gid)

    for path in directory.glob("*.json*"):
        share(path)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            creds = self.request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            raw = self.rfile.readline(MAX_REQUEST)
            reply = dispatch(raw, uid, group)
            self.wfile.write(json.dumps(reply, ensure_ascii=False, default=str).encode() + b"\n")

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    path = socket_path()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with Server(str(path), Handler) as server:
        os.chmod(path, 0o666)  # anyone may connect; identity comes from SO_PEERCRED
        server.serve_forever()


def dispatch(raw: bytes, uid: int, group: str | None) -> dict:
    """Audit entries are written here; submissions to the store go through the office's gate."""
    try:
        request = json.loads(raw)
    except ValueError:
        return {"ok": False, "error": "keine gültige Anfrage"}
    if isinstance(request, dict) and request.get("event") == "submit":
        from bif_lib.gate import run_submission

        return run_submission(request, uid, group)
    return handle(raw, uid)


# --- reading and checking ---------------------------------------------------------------------

@dataclass
class Problem:
    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def entries(directory: Path | None = None) -> list[dict]:
    directory = directory or audit_dir()
    result = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                result.append(json.loads(line))
    return result


def verify(directory: Path | None = None) -> list[Problem]:
    """Every break of the chain (German); empty when the trail is complete and unaltered."""
    directory = directory or audit_dir()
    problems: list[Problem] = []
    try:
        anchor = json.loads((directory / "anchor.json").read_text())  # left by a prune
        previous_hash, previous_seq = anchor["hash"], anchor["seq"]
    except FileNotFoundError:
        previous_hash, previous_seq = GENESIS, 0
    for path in sorted(directory.glob("audit-*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.name} Zeile {number}"
            try:
                entry = json.loads(line)
            except ValueError:
                problems.append(Problem(where, "kein gültiger Eintrag (verändert?)"))
                continue
            if entry.get("hash") != _digest(entry):
                problems.append(Problem(where, f"Eintrag {entry.get('seq')} wurde verändert (Prüfsumme stimmt nicht)"))
            if entry.get("prev") != previous_hash:
                problems.append(Problem(where, f"Eintrag {entry.get('seq')} folgt nicht auf den vorigen "
                                               "(Einträge gelöscht, eingefügt oder umgestellt)"))
            if entry.get("seq") != previous_seq + 1:
                problems.append(Problem(where, f"Laufnummer {entry.get('seq')} statt {previous_seq + 1}"))
            previous_hash, previous_seq = entry.get("hash"), entry.get("seq", previous_seq + 1)
    head = _head(directory)
    if head["seq"] != previous_seq or head["hash"] != previous_hash:
        problems.append(Problem("head.json", f"das Protokoll endet bei Eintrag {previous_seq}, zuletzt geschrieben "
                                             f"wurde Eintrag {head['seq']} (Einträge am Ende gelöscht?)"))
    return problems


def prune(before_year: int, *, now: datetime | None = None, directory: Path | None = None,
          retention_years: int = RETENTION_YEARS) -> list[Path]:
    """Drop whole years older than the retention period (root). ``anchor.json`` keeps the sequence
    number and hash of the last dropped entry, so the chain stays checkable from there on."""
    directory = directory or audit_dir()
    now = now or datetime.now(timezone.utc)
    retention_years = max(int(retention_years), RETENTION_YEARS)  # a setting may lengthen it, never shorten
    if before_year > now.year - retention_years + 1:
        raise ValueError(f"Einträge werden mindestens {retention_years} Jahre aufbewahrt: frühestens die Jahre "
                         f"vor {now.year - retention_years + 1} können gelöscht werden.")
    problems = verify(directory)
    if problems:
        raise ValueError("Das Protokoll ist nicht unversehrt; nichts wurde gelöscht: " + str(problems[0]))
    dropped = [p for p in sorted(directory.glob("audit-*.jsonl")) if int(p.stem.split("-")[1]) < before_year]
    if not dropped:
        return []
    last = [json.loads(line) for line in dropped[-1].read_text(encoding="utf-8").splitlines() if line.strip()][-1]
    write_private(directory / "anchor.json", json.dumps({"seq": last["seq"], "hash": last["hash"],
                                                        "pruned_before": before_year}), mode=LOG_MODE)
    for path in dropped:
        path.unlink()
    return dropped
