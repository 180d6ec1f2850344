"""One refresh of a dataset: fetch its public source, validate, ingest, re-publish, record.

``refresh(dataset)`` is what ``bif schedule run DATASET`` and the scheduler (``service``) do:

1. Under the dataset's lock (``history.dataset_lock``: never two refreshes of it at once) the
   source file is fetched like the bootstrap does (``data.fetch.fetch_source``: the local or HTTP
   mirror, else the public URL). A pinned file (``sha256`` in city.yaml) must still have its
   checksum: a changed file is refused. A file with ``pin: false`` may change.
2. A file identical to the one the newest version came from (same checksum, same contract) is
   "unverändert" without reading it again. Otherwise it is kept under
   ``schedule/received/<dataset>/`` and ingested (``bif_lib.ingest``: the same validation and store
   as ``bif ingest``); identical data are "unverändert", new data a new version ("neu") whose
   lineage names the file and its checksum, a rejected file "fehlgeschlagen".
3. After a new version the apps that loaded an older one are published again (``republish``).
4. The run goes into the history; a failure (also an app that could not be published again)
   opens a notice on the hub's start page and is mailed to the steward; a successful run closes
   the dataset's notice.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import requests

from bif_lib import config
from bif_lib.data.fetch import ChecksumMismatch, fetch_source
from bif_lib.fsutil import write_private
from bif_lib.i18n import CLASSIFICATION_LABELS, format_local_datetime, format_number
from bif_lib.ingest import ingest
from bif_lib.schedule import history, mail, notices
from bif_lib.schedule.history import FAILED, NEW, UNCHANGED, AlreadyRunning, dataset_lock, schedule_dir
from bif_lib.schedule.plan import Plan, Target, load_plan
from bif_lib.schedule.republish import republish
from bif_lib.store import Store
from bif_lib.validation.report import RULE_TITLES, ValidationReport

log = logging.getLogger("bif.schedule")

BY = "zeitplan"           # who ingests and publishes on the scheduler's behalf (recorded)
MANUAL, SCHEDULED, CAUGHT_UP = "manuell", "zeitplan", "nachgeholt"
MAX_DETAILS = 20          # failures listed in a run's record, notice and mail

Progress = Callable[[str], None]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def load_default_settings():
    from bif_lib.platform.settings import load_settings

    return load_settings()


def mirror_for(settings, mirror: str | Path | None = None) -> str | Path | None:
    """Where sources come from: ``mirror``, else ``schedule.mirror``, else ``BIF_MIRROR``, else
    the public URLs (None)."""
    return mirror or settings["schedule"]["mirror"] or config.mirror_dir()


# --- when ---------------------------------------------------------------------------------------------

def reference_time(dataset: str, home, store: Store) -> datetime | None:
    """What a dataset's next run is counted from: its last run (whatever came of it), else the time
    its newest version entered the store (the bootstrap), else None (never: due now)."""
    runs = history.entries(home, dataset)
    if runs and runs[-1].get("start"):
        return datetime.fromisoformat(runs[-1]["start"])
    try:
        latest = store.catalog.latest(dataset)
    except Exception:  # noqa: BLE001 - no catalog yet: nothing was ever stored
        latest = None
    return latest.ingested if latest else None


def next_run(target: Target, home, store: Store, now: datetime | None = None) -> datetime | None:
    """The next run of a scheduled dataset (Europe/Berlin); at or before ``now`` when it is due
    (also a run missed while the machine was off); None without a schedule."""
    if target.schedule is None:
        return None
    reference = reference_time(target.dataset, home, store)
    return target.schedule.next_after(reference) if reference else (now or _now())


def due(plan: Plan, settings, now: datetime | None = None) -> list[Target]:
    """The scheduled datasets whose next run has come, in ingest order."""
    now = now or _now()
    store = Store(settings.store_dir)
    return [t for t in plan.scheduled if next_run(t, settings.home, store, now) <= now]


# --- one run -------------------------------------------------------------------------------------------

def refresh(dataset: str, *, settings=None, plan: Plan | None = None, mirror: str | Path | None = None,
            trigger: str = MANUAL, run_id: str | None = None, publish: bool | None = None,
            progress: Progress | None = None) -> dict:
    """Refresh ``dataset`` now and return its history record. Raises ``NotRefreshable`` (no public
    source), ``AlreadyRunning`` (another refresh of it runs) or ``ContractError`` (the profile)."""
    settings = settings or load_default_settings()
    plan = plan or load_plan()
    target = plan.target(dataset)
    with dataset_lock(settings.home, dataset):
        return _run(target, plan, settings, mirror_for(settings, mirror), trigger, run_id or uuid.uuid4().hex,
                    settings["schedule"]["republish"] if publish is None else publish,
                    progress or (lambda message: None))


def run_due(*, settings=None, plan: Plan | None = None, mirror=None, trigger: str = SCHEDULED,
            publish: bool | None = None, progress: Progress | None = None) -> list[dict]:
    """Refresh every dataset that is due (``bif schedule run --due``, e.g. from a systemd timer)."""
    settings = settings or load_default_settings()
    plan = plan or load_plan()
    records = []
    for target in due(plan, settings):
        try:
            records.append(refresh(target.dataset, settings=settings, plan=plan, mirror=mirror, trigger=trigger,
                                   publish=publish, progress=progress))
        except AlreadyRunning as exc:
            (progress or (lambda message: None))(str(exc))
    return records


def _run(target: Target, plan: Plan, settings, mirror, trigger: str, run_id: str, publish: bool,
         say: Progress) -> dict:
    start = _now()
    record = {"run_id": run_id, "dataset": target.dataset, "title": target.title,
              "classification": target.classification, "trigger": trigger, "start": _iso(start), "end": None,
              "outcome": None, "version": None, "message": "", "source": target.source.path,
              "pinned": target.source.pin, "file": None, "source_sha256": None}
    store = Store(settings.store_dir)
    try:
        _refresh(target, plan, record, store, settings, mirror, publish, say)
    except Exception as exc:  # noqa: BLE001 - every failure reaches the steward
        log.exception("refresh of %s failed", target.dataset)
        record.update(outcome=FAILED, message=f"Unerwarteter Fehler bei der Aktualisierung von „{target.dataset}“: "
                                              f"{type(exc).__name__}: {str(exc)[:300]}")
    record["end"] = _iso(_now())
    conclude(target, record, settings, store)
    return record


def _refresh(target: Target, plan: Plan, record: dict, store: Store, settings, mirror, publish: bool,
             say: Progress) -> None:
    source, contract = target.source, target.contract
    say(f"Hole {source.path}" + (f" aus dem Spiegel {mirror}" if mirror else ""))
    try:
        data = fetch_source(source, mirror, say)
    except ChecksumMismatch as exc:
        record.update(outcome=FAILED, message=(
            f"{exc} Die Datei ist im Stadtprofil mit ihrer Prüfsumme festgelegt. War die Änderung gewollt, die "
            f"neue Prüfsumme in city.yaml eintragen oder die Quelle mit „pin: false“ als veränderlich kennzeichnen."))
        return
    except (OSError, requests.RequestException, ValueError) as exc:
        record.update(outcome=FAILED, message=f"{source.path} konnte nicht geholt werden: {str(exc)[:300]}")
        return
    sha = hashlib.sha256(data).hexdigest()
    record["source_sha256"] = sha
    latest = store.catalog.latest(target.dataset)
    if latest is not None and latest.source_sha256 == sha and latest.contract_sha256 == contract.sha256:
        record.update(outcome=UNCHANGED, version=latest.version, message=(
            f"„{target.dataset}“ unverändert: die Quelldatei ist dieselbe wie die von Version {latest.version} "
            f"(sha256 {sha[:12]}…) – nichts zu tun."))
        return
    received = schedule_dir(settings.home, create=True) / "received" / target.dataset / \
        f"{sha[:12]}-{Path(source.path).name}"
    received.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(received, data)
    record["file"] = str(received)
    outcome = ingest(contract, received, store=store, user=BY, progress=say)
    if outcome.status == "rejected":
        record.update(outcome=FAILED, message=outcome.summary(), errors=outcome.report.errors,
                      failures=failures_of(outcome.report))
        return
    entry = outcome.entry
    record.update(version=entry.version, message=outcome.summary(), warnings=outcome.report.warnings)
    if outcome.status == "unchanged":
        received.unlink(missing_ok=True)
        record.update(outcome=UNCHANGED, file=None)
        return
    record["outcome"] = NEW
    # the city's data directory holds the newest file, as a bootstrap would have fetched it
    write_private(plan.profile.source_dir(Path(settings.home) / "sources") / source.path, data)
    if publish:
        record["apps"] = republish(target.dataset, entry.version, settings, by=BY, progress=say)


def failures_of(report: ValidationReport, limit: int = MAX_DETAILS) -> list[dict]:
    """The first errors of a rejected file: row, column, rule (with its German title), value, message."""
    listed = []
    for failure in report.failures():
        if failure.severity != "error":
            continue
        listed.append({"row": failure.row, "column": failure.column, "rule": failure.rule_id or failure.rule,
                       "rule_title": RULE_TITLES.get(failure.rule, failure.rule), "value": failure.value,
                       "message": failure.message})
        if len(listed) >= limit:
            break
    return listed


def describe_failure(failure: dict) -> str:
    """„Zeile 5, Spalte „residents“, Regel „Mindestwert“ (minimum): …“."""
    parts = []
    if failure.get("row") is not None:
        parts.append(f"Zeile {failure['row']}")
    if failure.get("column"):
        parts.append(f"Spalte „{failure['column']}“")
    parts.append(f"Regel „{failure['rule_title']}“ ({failure['rule']})")
    return f"{', '.join(parts)}: {failure['message']}"


def failed(record: dict) -> bool:
    """Does the run need the steward: the refresh failed, or an app could not be published again."""
    return record["outcome"] == FAILED or any(not app["ok"] for app in record.get("apps") or [])


def problem_text(record: dict) -> str:
    if record["outcome"] == FAILED:
        return record["message"]
    apps = [a for a in record.get("apps") or [] if not a["ok"]]
    return (f"Version {record['version']} ist gespeichert, aber {len(apps)} App(s) ließen sich damit nicht neu "
            f"veröffentlichen; sie zeigen weiter die bisherigen Ergebnisse: "
            + "; ".join(a["error"].replace("\n", " ") for a in apps))


def conclude(target: Target, record: dict, settings, store: Store) -> None:
    """Tell the steward (notice, mail) or close the notice; then record the run in the history."""
    home = settings.home
    if failed(record):
        details = [describe_failure(f) for f in record.get("failures") or []]
        notices.put(home, {"dataset": target.dataset, "title": target.title,
                           "classification": target.classification, "at": record["start"],
                           "message": problem_text(record), "file": record.get("file") or target.source.path,
                           "details": details, "run_id": record["run_id"]})
        record["mail"] = _mail(target, record, settings, store, details)
    elif notices.clear(home, target.dataset):
        record["notice_closed"] = True
    history.append(home, record)


def _mail(target: Target, record: dict, settings, store: Store, details: list[str]) -> str:
    """Mail the failure to the steward; returns what became of it (German, for the history)."""
    recipients = target.recipients(settings)
    if not mail.configured(settings):
        return "keine E-Mail: kein Mailserver eingestellt (schedule.smtp.host)"
    if not recipients:
        return "keine E-Mail: keine Empfänger (steward.email im Vertrag, schedule.recipients)"
    subject, body = failure_mail(target, record, settings, store, details)
    try:
        mail.send(settings, recipients, subject, body)
    except mail.MailError as exc:
        log.warning("failure mail for %s not sent: %s", target.dataset, exc)
        return f"nicht versandt: {exc}"
    return f"versandt an {', '.join(recipients)}"


def failure_mail(target: Target, record: dict, settings, store: Store, details: list[str]) -> tuple[str, str]:
    """(subject, body) of the mail to the steward, in German."""
    dataset, title = target.dataset, target.title
    subject = f"BIF: Aktualisierung von „{title}“ ({dataset}) fehlgeschlagen"
    if record["outcome"] != FAILED:
        subject = f"BIF: Apps mit „{title}“ ({dataset}) nicht neu veröffentlicht"
    try:
        latest = store.catalog.latest(dataset)
    except Exception:  # noqa: BLE001
        latest = None
    when = format_local_datetime(record["start"])
    lines = [
        "Guten Tag,",
        "",
        f"die Aktualisierung des Datensatzes „{title}“ ({dataset}, "
        f"{CLASSIFICATION_LABELS.get(target.classification, target.classification)}) vom {when} ist nicht "
        f"gelungen.",
        "",
        f"Datensatz: {dataset}",
        f"Quelldatei: {target.source.path}",
    ]
    if record.get("file"):
        lines.append(f"Geprüfte Datei auf dem Server: {record['file']}")
    if record.get("source_sha256"):
        lines.append(f"Prüfsumme (sha256): {record['source_sha256']}")
    lines += ["", f"Grund: {problem_text(record)}"]
    if details:
        total = record.get("errors") or len(details)
        lines += ["", f"Gefundene Fehler ({format_number(len(details))} von {format_number(total)}):"]
        lines += [f"  - {line}" for line in details]
    if record["outcome"] == FAILED:
        kept = (f"Es wurde nichts gespeichert; in Gebrauch bleibt Version {latest.version} vom "
                f"{format_local_datetime(latest.ingested_at)}." if latest else "Es wurde nichts gespeichert.")
        lines += ["", kept]
    if target.schedule is not None:
        upcoming = target.schedule.next_after(datetime.fromisoformat(record["start"]))
        lines.append(f"Nächster planmäßiger Versuch: {format_local_datetime(upcoming)} (Zeitplan: "
                     f"{target.schedule.describe()}).")
    lines += [f"Nach einer Korrektur sofort erneut versuchen: bif schedule run {dataset}",
              "",
              "Der Hinweis auf der Startseite der Plattform verschwindet nach der nächsten erfolgreichen "
              "Aktualisierung.",
              "",
              f"Diese Nachricht hat {settings['platform']['name']} automatisch erzeugt."]
    return subject, "\n".join(lines) + "\n"


__all__ = ["BY", "CAUGHT_UP", "MANUAL", "SCHEDULED", "conclude", "due", "failure_mail", "failures_of", "next_run",
           "reference_time", "refresh", "run_due"]
