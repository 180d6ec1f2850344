"""Membership of the sealed statistics office (``statistikstelle``): break-glass, two people, logged.

Only the Statistikstelle reads confidential data; who belongs to it is therefore not
something an operator decides alone. With local accounts (``auth.backend: local``)
``bif users`` and ``bif training`` refuse to put anyone into the group. The only way in:

1. ``bif office request NAME --reason "…"`` — an operator (root) files a request
   (audit event ``office-request``);
2. ``bif office approve ANTRAG`` — a *different* person who is a current member approves it
   from their **own OS account** (e.g. a terminal in their JupyterLab), never as root. The
   entry goes through the audit service (``bif audit serve``), which takes the approver's
   identity from the kernel (``SO_PEERCRED``), never from the command line
   (``office-approve``);
3. ``bif office apply`` (root; also run by every later ``bif office request``) reads the audit
   trail, checks that it is intact and that the approval is valid — from a BIF account whose
   hub name matches its OS account, of a current member admitted through this procedure,
   not the requester, not the person to be admitted, given after the request — and only
   then adds the person (``office-grant``).

While the office has no member yet, ``bif office init NAME`` admits the first one, exactly
once per installation (``office-init``). ``bif office remove NAME`` takes a member out
(``office-remove``): removing access never needs a second person. ``bif office list``
shows members, open requests and the history; members that appear in the user store
without a recorded admission are reported (root can always edit files by hand; the
procedure makes such a change visible).

State: ``$BIF_HOME/hub/office-requests.json`` (root, 0600, written atomically under a
lock). The audit trail (``bif_lib.audit``) is the evidence; the state file is the index.
In single-account mode (no root) there are no separate identities: the office can only be
initialised (demo), approvals are impossible.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
import re
import secrets
from pathlib import Path
from typing import Iterable, Iterator

from bif_lib import audit, config
from bif_lib.fsutil import write_private
from bif_lib.platform import accounts
from bif_lib.platform.auth import UserStore, UserStoreError, normalize_username
from bif_lib.platform.settings import OFFICE_GROUP, Settings

STATE_FILE = "office-requests.json"
MIN_REASON_LENGTH = 10
_REQUEST_ID_RE = re.compile(r"^[0-9a-f]{6}$")
PROCEDURE = "docs/platform.md, „Break-glass: Mitgliedschaft in der Statistikstelle“"

ADMISSION_REFUSED = (
    "Die Statistikstelle ist abgeschottet: mit `bif users` und `bif training` wird niemand "
    "aufgenommen. Aufnahme nur im Break-glass-Verfahren: `bif office request NAME --reason \"…\"` "
    "(Betrieb), Zustimmung eines anderen Mitglieds der Statistikstelle mit `bif office approve ANTRAG` "
    f"unter dessen eigenem Konto, danach `bif office apply` – siehe {PROCEDURE}."
)
LEAVING_REFUSED = (
    "{name} ist Mitglied der Statistikstelle: Austritt nur mit `bif office remove {name}` "
    "(wird im Zugriffsprotokoll festgehalten)."
)


class OfficeError(UserStoreError):
    """A step of the procedure was refused (message in German)."""


# --- guards for the ordinary account commands ------------------------------------------------

def check_group_change(name: str, new_groups: Iterable[str], current_groups: Iterable[str] = ()) -> None:
    """Refuse ``bif users add/set-groups`` and ``bif training`` changes of office membership."""
    new, current = set(new_groups), set(current_groups or ())
    if OFFICE_GROUP in new and OFFICE_GROUP not in current:
        raise OfficeError(ADMISSION_REFUSED)
    if OFFICE_GROUP in current and OFFICE_GROUP not in new:
        raise OfficeError(LEAVING_REFUSED.format(name=normalize_username(name)))


# --- state -------------------------------------------------------------------------------------

def state_path(settings: Settings) -> Path:
    return settings.hub_dir / STATE_FILE


def _empty_state() -> dict:
    return {"version": 1, "init": None, "requests": {}, "history": []}


def load_state(settings: Settings) -> dict:
    try:
        data = json.loads(state_path(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty_state()
    if data.get("version") != 1:
        raise OfficeError(f"{state_path(settings)}: unbekannte Version {data.get('version')!r}")
    return data


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[dict]:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = load_state(settings)
        yield state  # not written when the block raises
        text = json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        write_private(path, text.encode("utf-8"))  # 0600, root
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def recorded_members(state: dict, at: str | None = None) -> dict[str, dict]:
    """Members admitted through the procedure (and not removed since), each with the history
    entry that admitted them; ``at`` (ISO time) looks at the office as it was then."""
    members: dict[str, dict] = {}
    for event in state["history"]:
        if at is not None and event["time"] > at:
            break
        if event["event"] in ("init", "grant"):
            members[event["name"]] = event
        elif event["event"] == "remove":
            members.pop(event["name"], None)
    return members


def store_members(store: UserStore) -> list[str]:
    return sorted(n for n, u in store.users().items() if OFFICE_GROUP in u["groups"])


# --- who -----------------------------------------------------------------------------------------

def audit_directory(settings: Settings) -> Path:
    """The audit trail of this installation: ``$BIF_HOME/audit``, where the launcher's audit
    service (``bif audit serve``) keeps it."""
    return settings.home / "audit"


def _home_owner(settings: Settings) -> int | None:
    try:
        return settings.home.stat().st_uid
    except FileNotFoundError:
        return None


def _single_account_mode(settings: Settings) -> bool:
    """BIF runs without root: its state belongs to the account running it."""
    return os.geteuid() != 0 and _home_owner(settings) in (None, os.getuid())


def _require_operator(settings: Settings) -> None:
    if os.geteuid() == 0 or _single_account_mode(settings):
        return
    raise OfficeError("Diesen Schritt führt nur der Betrieb aus (als root, z. B. mit sudo).")


def _require_local(settings: Settings) -> None:
    backend = settings["auth"]["backend"]
    if backend != "local":
        raise OfficeError(
            f"Mit auth.backend: {backend} entscheidet das Verzeichnis (LDAP/OIDC) über die Mitgliedschaft "
            "in der Statistikstelle; das Break-glass-Verfahren von BIF gilt für lokale Konten.")


def operator_identity() -> dict:
    """Who runs a root-side step: ``BIF_USER`` or the login name, the sudo user and the
    account behind the kernel's login uid (kept through sudo), as far as known."""
    who = {"user": config.current_user()}
    if os.environ.get("SUDO_USER"):
        who["sudo_user"] = os.environ["SUDO_USER"]
    with contextlib.suppress(OSError, ValueError, KeyError):
        loginuid = int(Path("/proc/self/loginuid").read_text().strip())
        if loginuid not in (-1, 2**32 - 1):
            who["login_account"] = pwd.getpwuid(loginuid).pw_name
    return who


def _person_names(who: dict) -> set[str]:
    """Every name under which the person behind ``who`` (a requester) may appear: the names
    given and, for OS accounts, the hub name in their GECOS field (``BIF <name>``)."""
    names = {v for k, v in who.items() if k in ("user", "sudo_user", "login_account") and v}
    for name in list(names):
        with contextlib.suppress(KeyError):
            names.add(audit.identity(pwd.getpwnam(name).pw_uid)["user"])
    return names


def _record(settings: Settings, event: str, details: dict) -> dict:
    """An audit entry for a root-side step (root appends directly, as ``audit.record`` does;
    the directory is that of ``settings``)."""
    who = audit.identity(os.getuid()) | {"user": config.current_user()}
    return audit.append(event, who=who, details=details, directory=audit_directory(settings))


def _trail(settings: Settings) -> list[dict]:
    directory = audit_directory(settings)
    if not (directory / "head.json").exists() and not list(directory.glob("audit-*.jsonl")):
        return []
    problems = audit.verify(directory)
    if problems:
        raise OfficeError(
            f"Das Zugriffsprotokoll ist nicht unversehrt ({problems[0]}); an der Statistikstelle wird "
            "nichts geändert, bis es geprüft ist (`bif audit verify`).")
    return audit.entries(directory)


def _sync_os_groups(settings: Settings, name: str, groups: Iterable[str]) -> None:
    """Apply the data areas of ``groups`` to the person's OS account now, if it exists."""
    if os.geteuid() != 0 or not accounts.can_separate_accounts(settings):
        return
    with contextlib.suppress(accounts.AccountError, KeyError):
        account = accounts.os_account_name(name, settings)
        pwd.getpwnam(account)
        accounts.set_os_groups(account, accounts.os_groups_for(list(groups), settings), settings)


def _store(settings: Settings, store: UserStore | None) -> UserStore:
    return store or UserStore.from_settings(settings)


def _account(store: UserStore, name: str) -> dict:
    entry = store.get(name)
    if entry is None:
        raise OfficeError(f"Konto {name!r} existiert nicht (anlegen mit: bif users add {name} --group analysts)")
    if entry.get("cohort"):
        raise OfficeError(f"{name} ist ein Schulungskonto ({entry['cohort']}) und kann nicht in die "
                          "Statistikstelle aufgenommen werden")
    return entry


# --- init ------------------------------------------------------------------------------------------

def init(settings: Settings, name: str, password: str | None = None, store: UserStore | None = None) -> dict:
    """Admit the first member while the office has none — once per installation.

    An account that does not exist is created (``password`` required), directly in the
    office; an existing one keeps its other groups.
    """
    _require_operator(settings)
    _require_local(settings)
    store, name = _store(settings, store), normalize_username(name)
    with _locked(settings) as state:
        earlier = state["init"] or next(
            ({"name": e["details"].get("name"), "time": e["time"]} for e in _trail(settings)
             if e["event"] == "office-init" and e.get("uid") == _home_owner(settings)), None)
        if earlier:
            raise OfficeError(
                f"Die Statistikstelle wurde bereits eingerichtet ({earlier['time'][:10]}, {earlier['name']}); "
                "`bif office init` gibt es nur einmal. Weitere Mitglieder: `bif office request`.")
        members = store_members(store)
        if members:
            raise OfficeError(f"Die Statistikstelle hat schon Mitglieder ({', '.join(members)}); "
                              "`bif office init` ist nur für das erste Mitglied.")
        entry = store.get(name)
        if entry is None:
            if password is None:
                raise OfficeError(f"Konto {name!r} existiert nicht: mit --generate oder --password-stdin "
                                  "direkt anlegen, oder zuerst `bif users add`")
            store.add(name, [OFFICE_GROUP], password)
            before = None
        else:
            before = list(_account(store, name)["groups"])
            store.set_groups(name, [*before, OFFICE_GROUP])
        try:
            entry = _record(settings, "office-init", {"name": name, "operator": operator_identity(),
                                                      "account_created": before is None})
        except Exception:
            if before is None:
                store.remove(name)
            else:
                store.set_groups(name, before)
            raise
        state["init"] = {"name": name, "time": entry["time"], "by": entry["user"], "seq": entry["seq"]}
        state["history"].append({"time": entry["time"], "event": "init", "name": name, "by": entry["user"],
                                 "seq": entry["seq"]})
    _sync_os_groups(settings, name, store.get(name)["groups"])
    return state["init"]


# --- request ----------------------------------------------------------------------------------------

def request(settings: Settings, name: str, reason: str, store: UserStore | None = None) -> dict:
    """File a request to admit ``name`` (an operator, root). Approved requests are applied first."""
    _require_operator(settings)
    _require_local(settings)
    store, name = _store(settings, store), normalize_username(name)
    apply(settings, store)
    entry = _account(store, name)
    if OFFICE_GROUP in entry["groups"]:
        raise OfficeError(f"{name} ist bereits Mitglied der Statistikstelle")
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise OfficeError(f"Bitte eine Begründung angeben (--reason, mindestens {MIN_REASON_LENGTH} Zeichen)")
    with _locked(settings) as state:
        if not recorded_members(state):
            raise OfficeError("Die Statistikstelle hat noch kein Mitglied, das zustimmen könnte: das erste "
                              "Mitglied einmalig mit `bif office init NAME` aufnehmen.")
        for other in state["requests"].values():
            if other["name"] == name and other["status"] == "open":
                raise OfficeError(f"Für {name} gibt es schon einen offenen Antrag ({other['id']})")
        request_id = secrets.token_hex(3)
        while request_id in state["requests"]:
            request_id = secrets.token_hex(3)
        requester = operator_identity()
        logged = _record(settings, "office-request", {"request": request_id, "name": name, "reason": reason,
                                                      "requester": requester})
        record = {"id": request_id, "name": name, "reason": reason, "requester": requester,
                  "time": logged["time"], "request_seq": logged["seq"], "status": "open", "refused": []}
        state["requests"][request_id] = record
        state["history"].append({"time": logged["time"], "event": "request", "name": name,
                                 "by": requester["user"], "request": request_id, "seq": logged["seq"]})
    return record


# --- approve (a member, from their own account) -----------------------------------------------

def approve(settings: Settings, request_id: str, name: str | None = None) -> dict:
    """Record a member's approval through the audit service (identity from the kernel).

    Runs under the member's own OS account; it cannot read the requests (root only), so the
    decision whether the approval counts is taken by :func:`apply`.
    """
    request_id = (request_id or "").strip().lower()
    if os.geteuid() == 0:
        raise OfficeError(
            "Zustimmen nur unter dem eigenen Konto eines Mitglieds der Statistikstelle (z. B. im Terminal "
            "der eigenen JupyterLab), nicht als root: die Zustimmung wird mit der vom Betriebssystem "
            "bestätigten Kennung protokolliert.")
    if _single_account_mode(settings):
        raise OfficeError("Im Einzelkonto-Modus gibt es keine getrennten Konten: eine Zustimmung lässt sich "
                          "keiner Person zuordnen; die Statistikstelle kann hier nicht erweitert werden.")
    if not _REQUEST_ID_RE.match(request_id):
        raise OfficeError(f"Ungültige Antragsnummer {request_id!r} (sechs Zeichen, siehe `bif office list`)")
    me = audit.identity(os.getuid())
    if name and normalize_username(name) == me["user"]:
        raise OfficeError("Der eigenen Aufnahme kann man nicht zustimmen")
    try:
        confidential_gid = grp.getgrnam(settings["accounts"]["confidential_group"]).gr_gid
    except KeyError:
        confidential_gid = None
    if confidential_gid is None or confidential_gid not in os.getgroups():
        raise OfficeError(f"Sie ({me['user']}, Konto {me['account']}) sind kein Mitglied der Statistikstelle "
                          "und können nicht zustimmen.")
    details = {"request": request_id}
    if name:
        details["name"] = normalize_username(name)
    # the entry goes through the audit service of this installation, which takes who from SO_PEERCRED
    os.environ["BIF_AUDIT_DIR"] = str(audit_directory(settings))
    return audit.record("office-approve", details=details)


# --- apply (root) ----------------------------------------------------------------------------------

def approval_problem(settings: Settings, store: UserStore, state: dict, record: dict, entry: dict) -> str | None:
    """Why the audit entry ``entry`` does not approve the request ``record`` (German), or None."""
    uid, account, user = entry.get("uid"), entry.get("account"), entry.get("user")
    if uid in (0, None) or uid == _home_owner(settings):
        return "nicht unter dem Konto einer Person gegeben"
    try:
        passwd = pwd.getpwuid(uid)
    except KeyError:
        return f"das Konto (uid {uid}) gibt es nicht mehr"
    try:
        expected = accounts.os_account_name(user, settings)
    except accounts.AccountError:
        expected = None
    if passwd.pw_name != account or not accounts.is_bif_account(passwd) or expected != account:
        return f"das Konto {account} ist nicht das BIF-Konto von {user}"
    if user == record["name"]:
        return "die aufzunehmende Person kann nicht selbst zustimmen"
    if {user, account} & _person_names(record["requester"]):
        return f"{user} hat den Antrag selbst gestellt (Vier-Augen-Prinzip)"
    if entry.get("details", {}).get("name") not in (None, record["name"]):
        return f"die Zustimmung nennt eine andere Person ({entry['details']['name']})"
    current = store.get(user)
    if current is None or OFFICE_GROUP not in current["groups"]:
        return f"{user} ist kein Mitglied der Statistikstelle"
    if user not in recorded_members(state, at=entry["time"]):
        return f"{user} war bei der Zustimmung kein über das Verfahren aufgenommenes Mitglied"
    return None


def apply(settings: Settings, store: UserStore | None = None) -> list[dict]:
    """Apply every open request with a valid approval in the audit trail; note refused
    approvals in the request. Returns one outcome per approval looked at."""
    _require_operator(settings)
    if settings["auth"]["backend"] != "local":
        return []
    store = _store(settings, store)
    outcomes: list[dict] = []
    with _locked(settings) as state:
        pending = [r for r in state["requests"].values() if r["status"] == "open"]
        if not pending:
            return outcomes
        approvals = [e for e in _trail(settings) if e["event"] == "office-approve"]
        for record in pending:
            looked_at = {r["seq"] for r in record.get("refused", [])}
            for entry in approvals:
                if (entry.get("details", {}).get("request") != record["id"] or entry["seq"] <= record["request_seq"]
                        or entry["seq"] in looked_at):
                    continue
                problem = approval_problem(settings, store, state, record, entry)
                if problem is None and store.get(record["name"]) is None:
                    record["status"] = "void"
                    problem = f"das Konto {record['name']} gibt es nicht mehr; Antrag erledigt"
                if problem:
                    record.setdefault("refused", []).append({"seq": entry["seq"], "user": entry["user"],
                                                             "account": entry["account"], "time": entry["time"],
                                                             "reason": problem})
                    outcomes.append({"request": record["id"], "name": record["name"], "approver": entry["user"],
                                     "granted": False, "reason": problem})
                    if record["status"] == "void":
                        break
                    continue
                _grant(settings, store, state, record, entry)
                outcomes.append({"request": record["id"], "name": record["name"], "approver": entry["user"],
                                 "granted": True, "reason": None})
                break
    for outcome in outcomes:
        if outcome["granted"]:
            _sync_os_groups(settings, outcome["name"], store.get(outcome["name"])["groups"])
    return outcomes


def _grant(settings: Settings, store: UserStore, state: dict, record: dict, approval: dict) -> None:
    name = record["name"]
    before = list(store.get(name)["groups"])
    store.set_groups(name, [*before, OFFICE_GROUP])
    try:
        logged = _record(settings, "office-grant", {
            "request": record["id"], "name": name, "requested_by": record["requester"]["user"],
            "approver": approval["user"], "approver_account": approval["account"],
            "approver_uid": approval["uid"], "approve_seq": approval["seq"], "request_seq": record["request_seq"]})
    except Exception:
        store.set_groups(name, before)
        raise
    record.update(status="granted", granted=logged["time"], grant_seq=logged["seq"],
                  approval={"user": approval["user"], "account": approval["account"], "uid": approval["uid"],
                            "seq": approval["seq"], "time": approval["time"]})
    state["history"].append({"time": logged["time"], "event": "grant", "name": name, "by": approval["user"],
                             "requested_by": record["requester"]["user"], "request": record["id"],
                             "seq": logged["seq"]})


# --- remove -----------------------------------------------------------------------------------------

def remove(settings: Settings, name: str, keep_groups: Iterable[str] | None = None, reason: str | None = None,
           store: UserStore | None = None, account_deleted: bool = False) -> dict:
    """Take ``name`` out of the office (an operator; no second person needed).

    The person keeps their other groups (or gets ``keep_groups``). With
    ``account_deleted`` only the removal is recorded: ``bif users remove`` deletes the account.
    """
    _require_operator(settings)
    _require_local(settings)
    store, name = _store(settings, store), normalize_username(name)
    entry = store.get(name)
    if entry is None or OFFICE_GROUP not in entry["groups"]:
        raise OfficeError(f"{name} ist kein Mitglied der Statistikstelle")
    groups = sorted(set(keep_groups) if keep_groups else set(entry["groups"]) - {OFFICE_GROUP})
    if OFFICE_GROUP in groups:
        raise OfficeError("Beim Austritt kann die Statistikstelle nicht zu den verbleibenden Gruppen gehören")
    if not groups and not account_deleted:
        raise OfficeError(f"{name} wäre danach in keiner Gruppe: mit --group die künftigen Gruppen angeben "
                          f"oder das Konto mit `bif users remove {name}` löschen")
    with _locked(settings) as state:
        if not account_deleted:
            store.set_groups(name, groups)  # access ends first; the entry follows
            _sync_os_groups(settings, name, groups)
        logged = _record(settings, "office-remove", {
            "name": name, "reason": (reason or "").strip() or None, "groups_after": groups,
            "account_deleted": account_deleted, "operator": operator_identity()})
        for record in state["requests"].values():
            if record["name"] == name and record["status"] == "open" and account_deleted:
                record["status"] = "void"
        state["history"].append({"time": logged["time"], "event": "remove", "name": name, "by": logged["user"],
                                 "reason": (reason or "").strip() or None, "seq": logged["seq"]})
    return {"name": name, "groups": groups, "seq": logged["seq"]}


# --- overview ---------------------------------------------------------------------------------------

def overview(settings: Settings, store: UserStore | None = None) -> dict:
    """Members, open requests (with the approvals seen so far) and the history (root)."""
    _require_operator(settings)
    store = _store(settings, store)
    state = load_state(settings)
    members = store_members(store)
    recorded = recorded_members(state)
    trail = _trail(settings)
    requests = []
    for record in state["requests"].values():
        if record["status"] != "open":
            continue
        approvals = []
        for entry in trail:
            if (entry["event"] == "office-approve" and entry.get("details", {}).get("request") == record["id"]
                    and entry["seq"] > record["request_seq"]):
                problem = approval_problem(settings, store, state, record, entry)
                approvals.append({"user": entry["user"], "time": entry["time"], "valid": problem is None,
                                  "reason": problem})
        requests.append({**record, "approvals": approvals})
    return {
        "members": [{"name": n, "admitted": recorded.get(n)} for n in members],
        "unrecorded": sorted(set(members) - set(recorded)),
        "missing": sorted(set(recorded) - set(members)),
        "open_requests": requests,
        "history": state["history"],
    }


def open_requests_from_trail(settings: Settings) -> list[dict]:
    """For members (no access to the state file): open requests as far as the audit trail,
    if readable, shows them."""
    entries = audit.entries(audit_directory(settings))
    owner = _home_owner(settings)
    done = {e["details"].get("request") for e in entries
            if e["event"] == "office-grant" and e.get("uid") == owner}
    return [{"id": e["details"].get("request"), "name": e["details"].get("name"),
             "reason": e["details"].get("reason"), "by": e["user"], "time": e["time"]}
            for e in entries if e["event"] == "office-request" and e.get("uid") == owner
            and e["details"].get("request") not in done]
