"""The scheduler process as the launcher starts it: runs on schedule, makes missed runs once,
stops a refresh that takes too long, never runs a dataset twice at once, leaves nothing behind."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bif_lib.cli import main
from bif_lib.platform import launcher
from bif_lib.processes import alive, matching
from bif_lib.schedule import history, notices

pytestmark = pytest.mark.timeout(300)
MARKER = "bif_lib.cli schedule"


def ours(home: Path) -> list[int]:
    """Processes of the scheduler (``serve`` and its ``run`` children) working in ``home``."""
    found = []
    for pid, _ in matching(cmdline_contains=MARKER):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cwd").resolve() in (home.resolve(), (home / "run").resolve()):
                found.append(pid)
    return found


def wait_for(predicate, timeout: float, what: str, seen: set[int] | None = None, home: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if seen is not None:
            seen.update(ours(home))
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


@contextlib.contextmanager
def scheduler(env, out: list[str]):
    """The scheduler started and stopped as ``bif platform start|stop`` do; yields its pid and the
    pids seen below it; afterwards none of them may run."""
    settings = env.settings
    for folder in (settings.run_dir, settings.logs_dir):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    launcher.start_scheduler(settings, out=out.append)
    pid = launcher.SCHEDULE.pid(settings)
    seen: set[int] = {pid}
    try:
        yield pid, seen
    finally:
        seen.update(ours(env.home))
        launcher.stop_scheduler(settings, out=out.append)
        left = [p for p in seen | set(ours(env.home)) if alive(p)]
        assert not left, f"still running after stop: {left}\n" + (settings.logs_dir / "schedule.log").read_text()


def test_the_scheduler_runs_on_schedule_makes_missed_runs_once_and_stops_cleanly(env, capsys):
    env.schedule("einwohner_stadtteile", {"every": "PT3S"})
    env.schedule("stadtteile", {"cron": "0 3 * * *"})
    # stadtteile last ran 50 hours ago: two or three daily runs were missed while "the machine was off"
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=50)).isoformat(timespec="seconds")
    history.append(env.home, {"run_id": "frueher", "dataset": "stadtteile", "start": long_ago, "end": long_ago,
                              "outcome": "unverändert", "version": 1, "trigger": "zeitplan", "message": ""})
    out: list[str] = []
    with scheduler(env, out) as (pid, seen):
        assert any("Zeitplandienst gestartet" in line for line in out), out
        state = history.service_state(env.home)
        assert state["pid"] == pid and set(state["jobs"]) == {"einwohner_stadtteile", "stadtteile"}

        def runs(dataset):
            return [r for r in history.entries(env.home, dataset) if r["run_id"] != "frueher"]

        wait_for(lambda: len(runs("einwohner_stadtteile")) >= 3, 120, "three runs every 3 s", seen, env.home)
        code = main(["schedule", "list"])
        listing, _ = capsys.readouterr()
        assert code == 0 and f"Zeitplandienst: läuft (pid {pid})" in listing
        assert "alle 3 Sekunden" in listing and "täglich 03:00 (cron 0 3 * * *)" in listing

    ein = runs("einwohner_stadtteile")
    # its last version entered minutes ago: many 3-second runs were missed, made once, then on schedule
    assert [r["trigger"] for r in ein[:3]] == ["nachgeholt", "zeitplan", "zeitplan"]
    assert all(r["outcome"] == "unverändert" for r in ein)
    starts = [datetime.fromisoformat(r["start"]) for r in ein]
    assert all(later >= earlier for earlier, later in zip(starts, starts[1:], strict=False))
    # never two at once: each run ended before the next began (one worker, the dataset lock)
    assert all(datetime.fromisoformat(a["end"]) <= datetime.fromisoformat(b["start"])
               for a, b in zip(ein, ein[1:], strict=False))
    [catch_up] = runs("stadtteile")  # the missed daily runs: once
    assert catch_up["trigger"] == "nachgeholt" and catch_up["outcome"] == "unverändert"
    assert any("Zeitplandienst gestoppt" in line for line in out), out
    assert not launcher.SCHEDULE.pidfile(env.settings).path.exists()


class Silent(http.server.BaseHTTPRequestHandler):
    """A mirror that accepts the request and never answers."""

    def do_GET(self):
        time.sleep(60)

    def log_message(self, *args):
        pass


def test_a_refresh_that_takes_too_long_is_stopped_and_reaches_the_steward(env):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env.write_settings({"schedule": {"run_timeout": 8,
                                         "mirror": f"http://127.0.0.1:{server.server_address[1]}/"}})
        env.schedule("einwohner_stadtteile", {"cron": "0 5 * * 1"})
        # the last run was two weeks ago: due at once
        long_ago = (datetime.now(timezone.utc) - timedelta(days=14)).isoformat(timespec="seconds")
        history.append(env.home, {"run_id": "frueher", "dataset": "einwohner_stadtteile", "start": long_ago,
                                  "end": long_ago, "outcome": "unverändert", "version": 1, "trigger": "zeitplan",
                                  "message": ""})
        out: list[str] = []
        with scheduler(env, out) as (pid, seen):
            wait_for(lambda: len(history.entries(env.home)) == 2, 90, "the stopped run recorded", seen, env.home)
    finally:
        server.shutdown()
    record = history.entries(env.home)[-1]
    assert record["outcome"] == "fehlgeschlagen" and record["trigger"] == "nachgeholt"
    assert "nach 8 s abgebrochen (Zeitüberschreitung, schedule.run_timeout)" in record["message"], record
    assert "schedule.log" in record["message"]
    assert "einwohner_stadtteile" in notices.read(env.home)


def test_never_two_refreshes_of_a_dataset_at_once(env, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom bif_lib.schedule.history import dataset_lock\n"
         "with dataset_lock(sys.argv[1], 'einwohner_stadtteile'):\n    print('gesperrt', flush=True)\n"
         "    time.sleep(60)\n", str(env.home)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        assert holder.stdout.readline().strip() == "gesperrt"
        code = main(["schedule", "run", "einwohner_stadtteile"])
        out, err = capsys.readouterr()
        assert code == 75 and "läuft bereits" in err and "nichts getan" in err, err
        assert history.entries(env.home) == []
        # another dataset is not held up
        assert main(["schedule", "run", "stadtteile"]) == 0
    finally:
        holder.kill()
        holder.wait()
    capsys.readouterr()
    assert main(["schedule", "run", "einwohner_stadtteile"]) == 0  # the lock went with its process
    assert [r["dataset"] for r in history.entries(env.home)] == ["stadtteile", "einwohner_stadtteile"]
