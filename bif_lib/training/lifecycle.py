"""A training cohort from start to end: credentials, participants' progress, end and archive.

Used by the trainer page (``bif_lib/training/service.py``, as root behind the hub) and by
``bif training`` run as root. The user store holds who belongs to which cohort
(``bif_lib/platform/cohorts.py``); this module adds what lives beside it:

- the credentials sheet's data (``$BIF_HOME/training/cohorts/<cohort>.json``, root only):
  the trainer may print the sheet again until the cohort ends; the passwords are of
  accounts that see open data only and expire with the cohort;
- each participant's progress: hub status (logged in, server) and passed exercises (read
  from their home with ``exercises.read_results``, which never follows their links);
- the end: logins stop at once (end date set to yesterday), servers stop, the participants'
  work is archived for the trainer, then OS accounts, homes and user-store entries go.
  If the archive cannot be written, nothing is deleted and the error says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import pwd
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bif_lib import processes
from bif_lib.fsutil import write_private
from bif_lib.platform import accounts, cohorts
from bif_lib.platform.auth import UserStore, UserStoreError, local_today
from bif_lib.platform.cohorts import Cohort, CohortAccount
from bif_lib.platform.settings import Settings

log = logging.getLogger("bif.training")


class TrainingError(UserStoreError):
    """A training action failed (message in German, for trainers)."""


# --- the hub, as far as the training needs it -------------------------------------------------

class HubClient:
    """The hub's REST API with one token: the training service's own, or the platform
    service's for root's ``bif training``. Synchronous (called from a worker thread)."""

    def __init__(self, api_url: str, token: str, timeout: float = 20.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def for_root(cls, settings: Settings) -> "HubClient | None":
        from bif_lib.platform import launcher
        from bif_lib.platform.settings import platform_api_token

        if not launcher.hub_running(settings):
            return None
        return cls(settings.hub_api_url, platform_api_token(settings))

    def _call(self, method: str, path: str) -> dict | None:
        request = urllib.request.Request(f"{self.api_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        return json.loads(data) if data else {}

    def user(self, name: str) -> dict | None:
        """The hub's model of ``name``, None if they never logged in (or were removed)."""
        return self._call("GET", f"/users/{urllib.parse.quote(name)}")

    def end_session(self, name: str) -> None:
        """Stop the person's server and remove them from the hub (sessions end)."""
        self._call("DELETE", f"/users/{urllib.parse.quote(name)}")


# --- credentials ------------------------------------------------------------------------------

def _private_dir(settings: Settings, name: str) -> Path:
    """``$BIF_HOME/training/<name>``, root's alone (0700): passwords and participants' work."""
    path = settings.training_dir / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.training_dir, 0o700)
    os.chmod(path, 0o700)
    return path


def _cohorts_dir(settings: Settings) -> Path:
    return _private_dir(settings, "cohorts")


def _credentials_file(settings: Settings, cohort: str) -> Path:
    return _cohorts_dir(settings) / f"{cohorts.check_cohort_name(cohort)}.json"


def save_credentials(settings: Settings, cohort: Cohort, created: list[CohortAccount]) -> None:
    data = {"cohort": cohort.name, "trainer": cohort.trainer,
            "accounts": [{"name": a.name, "password": a.password} for a in created]}
    write_private(_credentials_file(settings, cohort.name), json.dumps(data, ensure_ascii=False, indent=1))


def load_credentials(settings: Settings, cohort: Cohort) -> list[CohortAccount]:
    """The passwords as created (a participant who changed theirs keeps the new one)."""
    try:
        data = json.loads(_credentials_file(settings, cohort.name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"Für die Schulungsgruppe „{cohort.name}“ sind keine Zugangsdaten gespeichert "
                            "(angelegt vor dieser BIF-Version oder schon beendet)") from None
    return [CohortAccount(a["name"], a["password"]) for a in data.get("accounts", [])
            if a.get("name") in cohort.accounts]


# --- start ------------------------------------------------------------------------------------

def start_cohort(settings: Settings, store: UserStore, name: str, size: int, *,
                 expires: dt.date | str | None, trainer: str | None) -> tuple[Cohort, list[CohortAccount]]:
    """Create a cohort (all accounts or none) and keep its credentials for the sheet."""
    if settings["auth"]["backend"] != "local":
        raise TrainingError(f"Schulungskonten sind lokale Konten; diese Plattform meldet über "
                            f"{settings['auth']['backend'].upper()} an (auth.backend). Bitte legen Sie die "
                            "Schulungskonten im Verzeichnis der Stadt an.")
    training = settings["training"]
    end = cohorts.check_end_date(cohorts.parse_end_date(expires), default_days=training["default_days"],
                                 max_days=training["max_days"])
    _refuse_existing_homes(settings, cohorts.account_names(cohorts.check_cohort_name(name), size))
    created = cohorts.create_cohort(store, name, size, expires=end, trainer=trainer)
    cohort = cohorts.get_cohort(store, name)
    try:
        save_credentials(settings, cohort, created)
    except OSError as e:
        store.remove_all(cohort.accounts)  # all or nothing
        raise TrainingError(f"Zugangsdaten konnten nicht gespeichert werden ({e.strerror}); "
                            "die Schulungsgruppe wurde nicht angelegt") from e
    log.info("Schulungsgruppe %s angelegt: %d Konten bis %s (Schulungsleitung: %s)",
             cohort.name, len(created), end, trainer or "root")
    return cohort, created


def _refuse_existing_homes(settings: Settings, names: list[str]) -> None:
    """A participant must start with an empty home. An OS account or home left by an earlier
    person of the same name (``bif users remove`` keeps them) would hand that person's files
    to the participant, and the cohort's end would archive and delete them."""
    taken = [name for name in names
             if participant_home(settings, name) is not None or _os_account_exists(settings, name)]
    if taken:
        raise TrainingError(f"Für {', '.join(taken)} gibt es noch ein Systemkonto oder Home-Verzeichnis eines "
                            "früheren Kontos; bitte einen anderen Namen für die Schulungsgruppe wählen")


def _os_account_exists(settings: Settings, name: str) -> bool:
    if not accounts.can_separate_accounts(settings):
        return False
    try:
        pwd.getpwnam(accounts.os_account_name(name, settings))
        return True
    except KeyError:
        return False


def extend(settings: Settings, store: UserStore, cohort: Cohort, expires: dt.date | str) -> Cohort:
    training = settings["training"]
    end = cohorts.check_end_date(cohorts.parse_end_date(expires), default_days=training["default_days"],
                                 max_days=training["max_days"])
    return cohorts.extend_cohort(store, cohort, end)


# --- progress ---------------------------------------------------------------------------------

@dataclass
class ParticipantStatus:
    name: str
    logged_in: bool = False
    last_activity: str | None = None
    server: str = "keiner"  # "läuft", "startet", "stoppt", "keiner"
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "logged_in": self.logged_in, "last_activity": self.last_activity,
                "server": self.server, "passed": self.passed, "failed": self.failed}


def participant_home(settings: Settings, name: str) -> Path | None:
    """The participant's home, if it exists (it is created at their first server start)."""
    if accounts.can_separate_accounts(settings):
        try:
            entry = pwd.getpwnam(accounts.os_account_name(name, settings))
        except KeyError:
            return None
        home = Path(entry.pw_dir)
    else:
        home = settings.single_homes_dir / name
    return home if home.is_dir() else None


def _server_state(model: dict) -> str:
    server = (model.get("servers") or {}).get("")
    if not server:
        return "keiner"
    if server.get("ready"):
        return "läuft"
    return {"spawn": "startet", "stop": "stoppt"}.get(server.get("pending") or "", "startet")


def progress(settings: Settings, cohort: Cohort, hub: HubClient | None) -> list[ParticipantStatus]:
    from bif_lib.training.exercises import read_results, summary

    rows = []
    for name in cohort.accounts:
        status = ParticipantStatus(name)
        model = hub.user(name) if hub is not None else None
        if model is not None:
            status.logged_in = True
            status.last_activity = model.get("last_activity")
            status.server = _server_state(model)
        home = participant_home(settings, name)
        if home is not None:
            done = summary(read_results(home))
            status.passed, status.failed = list(done["passed"]), list(done["failed"])
        rows.append(status)
    return rows


# --- end --------------------------------------------------------------------------------------

@dataclass
class EndReport:
    cohort: str
    accounts: list[str]
    archive: Path | None
    skipped: list[str] = field(default_factory=list)


def archive_dir(settings: Settings) -> Path:
    return _private_dir(settings, "archive")


def end_cohort(settings: Settings, store: UserStore, cohort: Cohort, hub: HubClient | None) -> EndReport:
    """End a cohort: no more logins, servers stopped, work archived, then accounts, homes and
    the user-store entries removed. The archive comes before any deletion."""
    from bif_lib.training.archive import archive_homes

    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    store.update_all(cohort.accounts, expires=yesterday)  # the authenticator refuses them from now on
    for name in cohort.accounts:
        if hub is not None:
            try:
                hub.end_session(name)
            except (urllib.error.URLError, OSError) as e:
                log.warning("Hub-Sitzung von %s nicht beendet: %s", name, e)
        _stop_processes(settings, name)
    homes = {name: home for name in cohort.accounts if (home := participant_home(settings, name)) is not None}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    target = archive_dir(settings) / f"{cohort.name}-{stamp}.zip"
    try:
        report = archive_homes(homes, target, cohort=cohort.name)
    except OSError as e:
        raise TrainingError(f"Die Arbeitsstände der Schulungsgruppe „{cohort.name}“ konnten nicht archiviert "
                            f"werden ({e.strerror or e}); es wurde nichts gelöscht, die Konten sind gesperrt. "
                            "Bitte Speicherplatz prüfen und erneut beenden.") from e
    meta = {"cohort": cohort.name, "trainer": cohort.trainer, "file": target.name,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "participants": list(cohort.accounts), "skipped": [str(s) for s in getattr(report, "skipped", [])]}
    write_private(target.with_suffix(".json"), json.dumps(meta, ensure_ascii=False, indent=1))
    for name in cohort.accounts:
        _remove_home(settings, name)
    store.remove_all(cohort.accounts)
    with contextlib.suppress(FileNotFoundError):
        _credentials_file(settings, cohort.name).unlink()
    log.info("Schulungsgruppe %s beendet: %d Konten entfernt, Archiv %s", cohort.name, len(cohort.accounts), target)
    return EndReport(cohort.name, list(cohort.accounts), target, meta["skipped"])


def _stop_processes(settings: Settings, name: str) -> None:
    """Whatever still runs under the participant's OS account (a server the hub lost track
    of, a terminal's background job) must go before the account does."""
    if not accounts.can_separate_accounts(settings):
        return
    try:
        uid = pwd.getpwnam(accounts.os_account_name(name, settings)).pw_uid
    except KeyError:
        return
    processes.kill_all(pid for pid, _ in processes.matching(uid=uid))


def _remove_home(settings: Settings, name: str) -> None:
    if accounts.can_separate_accounts(settings):
        accounts.remove_user_account(name, settings, delete_home=True)
    else:
        home = settings.single_homes_dir / name
        if home.is_dir() and not home.is_symlink():
            shutil.rmtree(home)


def end_expired(settings: Settings, store: UserStore, hub: HubClient | None,
                today: dt.date | None = None) -> list[EndReport]:
    """End every cohort past its end date (the training service does this every minute)."""
    reports = []
    for cohort in cohorts.expired_cohorts(store, today):
        try:
            reports.append(end_cohort(settings, store, cohort, hub))
        except (UserStoreError, accounts.AccountError) as e:
            log.error("Abgelaufene Schulungsgruppe %s nicht beendet: %s", cohort.name, e)
    return reports


# --- archives ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchiveInfo:
    cohort: str
    trainer: str | None
    file: str
    created: str
    size: int

    def to_json(self) -> dict:
        return {"cohort": self.cohort, "trainer": self.trainer, "file": self.file, "created": self.created,
                "size": self.size}


def archives(settings: Settings, trainer: str | None) -> list[ArchiveInfo]:
    """The archives of ended cohorts, newest first (a trainer sees their own)."""
    found = []
    folder = settings.training_dir / "archive"
    for meta_file in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            zip_file = meta_file.with_suffix(".zip")
            size = zip_file.stat().st_size
        except (OSError, ValueError):
            continue
        if trainer is None or meta.get("trainer") == trainer:
            found.append(ArchiveInfo(meta.get("cohort", ""), meta.get("trainer"), zip_file.name,
                                     meta.get("created", ""), size))
    return found


def archive_file(settings: Settings, trainer: str | None, file: str) -> Path:
    """The path of one archive, if it is the trainer's; the same German error otherwise."""
    for info in archives(settings, trainer):
        if info.file == file:
            return settings.training_dir / "archive" / info.file
    raise TrainingError(f"Kein Archiv „{file}“")
