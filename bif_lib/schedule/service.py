"""The scheduler process: ``bif schedule serve``, started by ``bif platform start`` (root).

An APScheduler 3 ``BlockingScheduler`` in Europe/Berlin with one job per scheduled dataset and
one worker thread, so refreshes run one after another (the store serialises writes anyway and
the machine's CPUs belong to the people using the platform). Each refresh runs in a child
process (``bif schedule run DATASET``): a refresh that exhausts memory or hangs cannot take the
scheduler with it, and one that exceeds ``schedule.run_timeout`` is stopped and recorded as
failed. The scheduler supervises its runs; the dataset lock (``history.dataset_lock``) keeps a
run by hand and a scheduled one apart.

Missed runs: a job's first run is counted from the dataset's last run in the history (else from
its newest version in the store). If that moment has passed while the machine was off, the run
is made once when the scheduler starts, however many were missed (APScheduler's ``coalesce``),
recorded with the trigger "nachgeholt".

Every ``schedule.reload_every`` seconds the contracts and city.yaml are read again: a schedule a
steward added, changed or removed takes effect without a restart (a profile that no longer
loads keeps the jobs as they were; the error is logged).

State for ``bif schedule list`` and the launcher: ``$BIF_HOME/schedule/service.json`` (pid, start,
each job's next run).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bif_lib import config
from bif_lib.contracts import ContractError
from bif_lib.i18n import LOCAL_TZ
from bif_lib.processes import terminate
from bif_lib.schedule import history, runner
from bif_lib.schedule.history import EXIT_BUSY, FAILED
from bif_lib.schedule.plan import Plan, Target, load_plan
from bif_lib.schedule.spec import Schedule
from bif_lib.store import Store

log = logging.getLogger("bif.schedule")
RELOAD_JOB = "_reload"
# missed runs older than this are not enumerated one by one (they are coalesced into one run anyway)
CATCH_UP_WINDOW = timedelta(days=1)


class PlanTrigger(BaseTrigger):
    """An APScheduler trigger from a BIF ``Schedule``: the first run after ``reference`` (the last
    run; may lie in the past: then it is due at once), then each next run of the schedule."""

    def __init__(self, schedule: Schedule, reference: datetime | None):
        self.schedule = schedule
        self.reference = reference

    def get_next_fire_time(self, previous_fire_time, now):
        if previous_fire_time is None:
            return self.schedule.next_after(self.reference) if self.reference else now
        following = self.schedule.next_after(previous_fire_time)
        if following <= now:
            if self.schedule.every is not None:
                return self.schedule.next_after(now)  # an interval continues from now
            if now - following > CATCH_UP_WINDOW:
                return self.schedule.next_after(now - CATCH_UP_WINDOW)
        return following

    def __str__(self) -> str:
        return self.schedule.describe()

    def __repr__(self) -> str:
        return f"<PlanTrigger {self.schedule.to_dict()} from {self.reference}>"


class Scheduler:
    def __init__(self, settings, mirror: str | None = None):
        self.settings = settings
        self.mirror = mirror
        self.plan: Plan | None = None
        self.fingerprint: tuple | None = None
        self.catch_up: set[str] = set()
        self.child: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.started_at = datetime.now(timezone.utc)
        self.scheduler = BlockingScheduler(
            timezone=LOCAL_TZ, executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    # --- jobs ---------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the plan again and bring the jobs in line with it."""
        try:
            plan = load_plan()
        except (ContractError, OSError, ValueError) as exc:
            log.error("schedule not reloaded, keeping the jobs as they are: %s", exc)
            return
        except Exception:  # noqa: BLE001 - e.g. unreadable YAML: the scheduler keeps running
            log.exception("schedule not reloaded, keeping the jobs as they are")
            return
        fingerprint = plan.fingerprint()
        self.plan = plan
        if fingerprint == self.fingerprint:
            return
        self.fingerprint = fingerprint
        store = Store(self.settings.store_dir)
        wanted = {t.dataset: t for t in plan.scheduled}
        for job in self.scheduler.get_jobs():
            if job.id != RELOAD_JOB and job.id not in wanted:
                job.remove()
                log.info("%s: no longer scheduled", job.id)
        now = datetime.now(LOCAL_TZ)
        for dataset, target in wanted.items():
            trigger = PlanTrigger(target.schedule, runner.reference_time(dataset, self.settings.home, store))
            job = self.scheduler.get_job(dataset)
            if job is not None and repr(job.trigger.schedule.to_dict()) == repr(target.schedule.to_dict()):
                continue
            first = trigger.get_next_fire_time(None, now)
            if first <= now:
                self.catch_up.add(dataset)
            if job is None:
                self.scheduler.add_job(self.run, trigger, args=[dataset], id=dataset, name=dataset)
            else:
                job.reschedule(trigger)
            log.info("%s: %s, next run %s%s", dataset, target.schedule.describe(), first.isoformat(),
                     " (missed: now)" if first <= now else "")
        self.write_state()

    def write_state(self) -> None:
        jobs = {}
        for job in self.scheduler.get_jobs():
            if job.id != RELOAD_JOB:
                when = getattr(job, "next_run_time", None)
                jobs[job.id] = when.isoformat() if when else None
        history.write_service_state(self.settings.home, {"pid": os.getpid(), "started": self.started_at.isoformat(),
                                                         "jobs": jobs})

    # --- one run --------------------------------------------------------------------------------
    def run(self, dataset: str) -> None:
        """A job: refresh ``dataset`` in a child process and make sure the run is recorded."""
        if self.stopping.is_set():
            return
        trigger = runner.CAUGHT_UP if dataset in self.catch_up else runner.SCHEDULED
        self.catch_up.discard(dataset)
        run_id = uuid.uuid4().hex
        cmd = [sys.executable, "-m", "bif_lib.cli", "schedule", "run", dataset, "--trigger", trigger,
               "--run-id", run_id]
        if self.mirror:
            cmd += ["--mirror", str(self.mirror)]
        start = datetime.now(timezone.utc)
        timeout = int(self.settings["schedule"]["run_timeout"])
        log.info("%s: refresh starts (%s)", dataset, trigger)
        self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      errors="replace", cwd=str(self.settings.home))
        code = reason = None
        try:
            _, said = self.child.communicate(timeout=timeout)
            code = self.child.returncode
        except subprocess.TimeoutExpired:
            terminate(self.child.pid, timeout=10, tree=True)
            _, said = self.child.communicate()
            reason = f"Die Aktualisierung wurde nach {timeout} s abgebrochen (Zeitüberschreitung, schedule.run_timeout)"
        finally:
            self.child = None
        sys.stdout.write(said or "")  # the run's messages go to the scheduler's log
        sys.stdout.flush()
        if self.stopping.is_set():
            return  # stopped with the platform: the run is due again at the next start
        if code == EXIT_BUSY:
            log.info("%s: a refresh of it is running already (by hand); skipped", dataset)
            return
        recorded = [r for r in history.entries(self.settings.home, dataset) if r.get("run_id") == run_id]
        if recorded:
            log.info("%s: %s", dataset, recorded[-1]["outcome"])
        elif self.plan is not None and dataset in self.plan.targets:
            if reason is None:
                told = [line for line in (said or "").splitlines() if line.strip() and not line.startswith("… ")]
                reason = (f"Die Aktualisierung endete ohne Ergebnis (Rückgabewert {code})"
                          + (f": {' '.join(told)[:1000]}" if told else ""))
            self._record_lost_run(self.plan.targets[dataset], run_id, trigger, start, reason)
        self.write_state()

    def _record_lost_run(self, target: Target, run_id: str, trigger: str, start: datetime, reason: str) -> None:
        log.error("%s: %s", target.dataset, reason)
        record = {"run_id": run_id, "dataset": target.dataset, "title": target.title,
                  "classification": target.classification, "trigger": trigger,
                  "start": start.isoformat(timespec="seconds"),
                  "end": datetime.now(timezone.utc).isoformat(timespec="seconds"), "outcome": FAILED,
                  "version": None, "source": target.source.path, "pinned": target.source.pin, "file": None,
                  "source_sha256": None,
                  "message": f"{reason}; Einzelheiten im Protokoll des Zeitplandienstes "
                             f"({self.settings.logs_dir / 'schedule.log'})."}
        runner.conclude(target, record, self.settings, Store(self.settings.store_dir))

    # --- the process -------------------------------------------------------------------------------
    def stop(self, *_args) -> None:
        """SIGTERM/SIGINT: stop a running refresh and the scheduler."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            terminate(child.pid, timeout=10, tree=True)
        self.scheduler.shutdown(wait=False)

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.reload()
        self.scheduler.add_job(self.reload, IntervalTrigger(seconds=int(self.settings["schedule"]["reload_every"])),
                               id=RELOAD_JOB, name="reload")
        self.scheduler.add_listener(lambda event: self.write_state(), EVENT_SCHEDULER_STARTED)
        log.info("scheduler started (pid %s, %s scheduled datasets)", os.getpid(),
                 len(self.plan.scheduled) if self.plan else 0)
        self.scheduler.start()
        log.info("scheduler stopped")


def serve(settings=None, mirror: str | None = None) -> None:
    """Run the scheduler until SIGTERM (the launcher's ``bif platform stop``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stdout, force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = settings or runner.load_default_settings()
    os.environ.setdefault("BIF_HOME", str(settings.home))
    history.schedule_dir(settings.home, create=True)
    if str(config.bif_home()) != str(settings.home):
        log.warning("BIF_HOME %s differs from the settings' home %s", config.bif_home(), settings.home)
    Scheduler(settings, mirror).serve()


__all__ = ["PlanTrigger", "Scheduler", "serve"]
