"""A training cohort logging in and starting their JupyterLab servers within a minute (issue #17).

A throw-away platform on 127.0.0.1 as the platform tests start it (``started_hub`` of
tests/platform/conftest.py: ``bif_lib.platform.launcher`` with hub, proxy, audit and apps
service, the trainer page as a hub-managed service, BIFSpawner with separate OS accounts),
with free ports, its own ``BIF_HOME`` and its own OS-account prefix (``bt<hex>-``), and the
installation's ``hub.start_timeout`` (the test helper shortens it to 90 s).

1. **Cohort through the trainer page's API.** A trainer account (``UserStore.add``, group
   ``trainers``) logs in through the hub's login form, creates a token
   (``POST hub/api/users/<trainer>/tokens``) and creates the cohort with
   ``POST services/bif-training/api/gruppen`` ``{"name": "bench", "size": N}``; the answer
   holds the generated accounts and passwords.
2. **Peer, measured in the same run.** A second cohort ``einzeln`` of 1 + ``--peer-repeat``
   (5) accounts, created the same way: the first starts alone once untimed (the hub's first
   spawn on a fresh platform), then the others one after the other, alone, each once the
   platform is idle (its processes below 0.1 CPU-s per second); their median is *the single
   start*. Each does exactly what a wave participant does. The cohort is ended (and checked
   gone) before the wave, which also starts on an idle platform.
3. **The wave.** N participants (one thread each) start at offsets drawn uniformly from
   ``[0, --spread]`` (``random.Random(--seed)``). Each: GET and POST ``hub/login`` (with
   ``_xsrf``; the redirect is not followed, so nothing starts implicitly), a token of their
   own (``POST hub/api/users/<name>/tokens`` with their session and ``X-XSRFToken``), the
   server start (``POST hub/api/users/<name>/server``, 201/202), then
   ``GET user/<name>/api/status`` with that token every 0.5 s until it answers 200.
   While the server starts the hub answers 424 (and 3xx in the moment the route appears);
   anything else, a non-2xx of the other steps, a failed spawn (the hub lists neither a
   server nor a pending spawn; checked every 5 s with the platform token) or 180 s without
   an answer counts as an error of that participant, with its text.
4. **Memory**, sampled every second from before the wave until the end: PSS
   (``bif_lib.processes.memory_bytes``, shared pages counted once) of the whole platform:
   hub, proxy, audit, apps service (gateway, Voilà, its pool) and their descendants (the
   training service and the culler are the hub's children) plus every process of the
   participants' OS accounts (``os_account_name``, found by uid in one pass over /proc per
   sample). Reported: before the wave, peak, 10 s after the last lab answered, per lab
   (each participant's processes).
5. **One kernel each** (skip with ``--no-kernels``): after the wave, every participant starts
   a ``python3`` kernel in their lab and runs ``import pandas, bif_lib`` (what the course's
   second notebook needs) over the kernel WebSocket; PSS again, for the memory of a cohort
   at work.
6. **The end.** ``DELETE services/bif-training/api/gruppen/bench`` with the trainer's token;
   then no OS account, OS group, home, process, hub user (``GET hub/api/users/<name>`` with
   the platform token: 404) or users.json entry of the cohort may be left ("Konten übrig").

Also recorded: WARNING/ERROR lines of ``$BIF_HOME/logs/`` written during the run, the hub's
own "took N seconds to start" per server, CPU use of the machine during the wave, load
averages. Everything is stopped and removed at the end (platform, OS accounts, homes,
groups, ``BIF_HOME``), also on an error, Ctrl-C or SIGTERM; the whole run is bounded
(``--budget``, default 20 min). Reports, never asserts.

Run as root (separate OS accounts), with configurable-http-proxy in node_modules::

    .venv/bin/python -m bench.bench_cohort [--size 15] [--spread 60] [--seed 17] [--peer-repeat 5]
                                           [--no-kernels] [--no-record] [--keep-logs DIR]

Unless ``--no-record``, the result replaces the section "``bench_cohort.py``" in
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import importlib.util
import json
import math
import os
import pwd
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from account_access import shared_environment_access

from bif_lib import processes
from bif_lib.apps.config import AppsConfig
from bif_lib.platform import accounts, launcher
from bif_lib.platform.auth import UserStore
from bif_lib.platform.settings import DEFAULT_SETTINGS_FILE, ENV_OVERRIDES, load_settings, platform_api_token

README = ROOT / "bench" / "README.md"
SECTION = "## `bench_cohort.py`: a training cohort of 15 logging in within a minute"
TRAINER, TRAINER_PW = "bench-leitung", "bench-leitung-passwort-1"
COHORT, PEER_COHORT = "bench", "einzeln"
PARTICIPANT_TIMEOUT = 180.0
IDLE_CPU = 0.1  # the platform counts as idle below this many CPU-s per second (over 3 s)
POLL = 0.5  # seconds between two polls of a participant's lab
SPAWN_CHECK = 5.0  # seconds between two looks at the hub's model of a participant's server
KERNEL_CODE = "import pandas, bif_lib\nprint('ok')"
HUB_TOOK = re.compile(r"User (\S+) took ([\d.]+) seconds to start")
LOG_PROBLEM = re.compile(r"^\[(?:E|W|C)\s|\bERROR\b|\bWARNING\b|Traceback|\bCRITICAL\b")
# the benchmark's own checks that an ended cohort's hub users are gone (404 expected)
OWN_CHECK = re.compile(r"\b404 GET /hub/api/users/[^ ]+ \(bif-platform@")


class Budget(Exception):
    """The run took longer than --budget."""


# --- the platform (tests/platform/conftest.py) ---------------------------------------------------

def platform_fixtures():
    """tests/platform/conftest.py as a module of its own (``started_hub``, ``hub_settings``, ``Hub``)."""
    spec = importlib.util.spec_from_file_location("bif_platform_conftest", ROOT / "tests" / "platform" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def clean_environment() -> None:
    """Developer settings (BIF_HUB_PORT, tokens, ...) must not leak into the throw-away
    platform (as the platform tests' ``_clean_platform_env``)."""
    for var in [*ENV_OVERRIDES, "BIF_HUB_SETTINGS", "BIF_APPS_API_TOKEN", "BIF_PLATFORM_API_TOKEN",
                "CONFIGPROXY_AUTH_TOKEN", "BIF_LDAP_BIND_PASSWORD", "BIF_OIDC_CLIENT_SECRET"]:
        os.environ.pop(var, None)


class Platform:
    """URLs and the bookkeeping calls of one run (the hub of ``started_hub``)."""

    def __init__(self, hub):
        self.hub = hub
        self.settings = hub.settings
        self.url = hub.url
        self.training = f"{self.url}services/bif-training/"
        self.platform_token = platform_api_token(self.settings)
        self.apps_cfg = AppsConfig.from_settings(self.settings)
        self._uids: dict[str, int] = {}

    def hub_user(self, name: str) -> requests.Response:
        return requests.get(f"{self.url}hub/api/users/{name}", timeout=30,
                            headers={"Authorization": f"token {self.platform_token}"})

    def os_account(self, name: str) -> str:
        return accounts.os_account_name(name, self.settings)

    def uid(self, name: str) -> int | None:
        """The uid of the participant's OS account (created at their first server start)."""
        if name not in self._uids:
            try:
                self._uids[name] = pwd.getpwnam(self.os_account(name)).pw_uid
            except KeyError:
                return None
        return self._uids[name]

    def service_roots(self) -> list[int]:
        # every daemon of the launcher (hub, proxy, audit, and whatever else it starts)
        daemons = [d for d in vars(launcher).values() if isinstance(d, launcher.Daemon)]
        roots = [d.pid(self.settings) for d in daemons]
        for pidfile in (self.apps_cfg.gateway_pid_file, self.apps_cfg.voila_pid_file):
            with contextlib.suppress(PermissionError):
                roots.append(processes.read_pid(pidfile))
        return [pid for pid in roots if pid]

    def wait_for_training(self, timeout: float = 90) -> float:
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.training}health", timeout=5).status_code == 200:
                    return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"the training service did not answer {self.training}health within {timeout} s")


def login(url: str, name: str, password: str, timeout: float = 60) -> tuple[requests.Session, requests.Response]:
    """A session logged in through the hub's login form (``Hub.session`` of the platform tests)."""
    s = requests.Session()
    s.get(f"{url}hub/login", timeout=timeout).raise_for_status()
    r = s.post(f"{url}hub/login", data={"username": name, "password": password,
                                          "_xsrf": s.cookies.get("_xsrf", path="/hub/")},
               allow_redirects=False, timeout=timeout)
    return s, r


def xsrf(session: requests.Session) -> str:
    return session.cookies.get("_xsrf", path="/hub/") or ""


class Trainer:
    """The trainer, through the trainer page's JSON API with a token of their own."""

    def __init__(self, plat: Platform):
        self.plat = plat
        UserStore.from_settings(plat.settings).add(TRAINER, ["trainers"], TRAINER_PW)
        session, r = login(plat.url, TRAINER, TRAINER_PW)
        if r.status_code != 302 or "/hub/login" in r.headers.get("location", ""):
            raise RuntimeError(f"trainer login failed: {r.status_code} {r.text[:300]}")
        t = session.post(f"{plat.url}hub/api/users/{TRAINER}/tokens", json={"note": "bench_cohort"},
                         headers={"X-XSRFToken": xsrf(session)}, timeout=30)
        if t.status_code != 201:
            raise RuntimeError(f"trainer token: {t.status_code} {t.text[:300]}")
        self.headers = {"Authorization": f"token {t.json()['token']}"}

    def create(self, name: str, size: int) -> tuple[list[dict], float]:
        started = time.monotonic()
        r = requests.post(f"{self.plat.training}api/gruppen", json={"name": name, "size": size},
                          headers=self.headers, timeout=180)
        took = time.monotonic() - started
        if r.status_code != 201:
            raise RuntimeError(f"cohort {name}: {r.status_code} {r.text[:500]}")
        return r.json()["accounts"], took

    def end(self, name: str) -> tuple[dict, float]:
        started = time.monotonic()
        r = requests.delete(f"{self.plat.training}api/gruppen/{name}", headers=self.headers, timeout=600)
        took = time.monotonic() - started
        if r.status_code != 200:
            raise RuntimeError(f"ending cohort {name}: {r.status_code} {r.text[:500]}")
        return r.json(), took


def traces(plat: Platform, names: list[str]) -> list[str]:
    """What is left of the accounts: OS account, its processes, OS group, home, hub user,
    users.json entry (tests/platform/test_trainer_page.py's ``os_traces``)."""
    left = []
    store = UserStore.from_settings(plat.settings)
    home_root = Path(plat.settings["accounts"]["home_root"])
    for name in names:
        account = plat.os_account(name)
        try:
            entry = pwd.getpwnam(account)
            left.append(f"OS-Konto {account}")
            if pids_by_uid({entry.pw_uid}):
                left.append(f"Prozesse von {account}")
        except KeyError:
            pass
        with contextlib.suppress(KeyError):
            grp.getgrnam(account)
            left.append(f"OS-Gruppe {account}")
        if (home_root / account).exists():
            left.append(f"Home von {account}")
        status = plat.hub_user(name).status_code
        if status != 404:
            left.append(f"Hub-Nutzer {name} (HTTP {status})")
        if store.get(name) is not None:
            left.append(f"Eintrag {name} in users.json")
    return left


# --- /proc --------------------------------------------------------------------------------------

def pids_by_uid(uids: set[int]) -> dict[int, list[int]]:
    """uid -> live pids (no zombies) with that real, effective, saved or filesystem uid: what
    ``processes.matching(uid=...)`` finds, for many uids in one pass over /proc (a pass per
    account every second would cost the 2 CPUs measurably)."""
    found: dict[int, list[int]] = {}
    if not uids:
        return found
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            status = (entry / "status").read_text(errors="replace")
        except OSError:
            continue
        state = uid_line = None
        for line in status.splitlines():
            if line.startswith("State:"):
                state = line.split()[1]
            elif line.startswith("Uid:"):
                uid_line = line
                break
        if uid_line is None or state == "Z":
            continue
        for uid in {int(u) for u in uid_line.split()[1:]} & uids:
            found.setdefault(uid, []).append(int(entry.name))
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return math.nan


class Sampler(threading.Thread):
    """PSS of the whole platform and of each participant's processes, every second."""

    def __init__(self, plat: Platform, names: list[str], interval: float = 1.0):
        super().__init__(daemon=True, name="pss-sampler")
        self.plat, self.names, self.interval = plat, names, interval
        self.samples: list[dict] = []
        self.stop_event = threading.Event()
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (kind, CPU seconds when last seen)

    def sample(self) -> dict:
        roots = self.plat.service_roots()
        pids = set(roots)
        for pid in roots:
            pids.update(processes.descendants(pid))
        kinds = dict.fromkeys(pids, "services")
        uids = {name: uid for name in self.names if (uid := self.plat.uid(name)) is not None}
        by_uid = pids_by_uid(set(uids.values()))
        labs = {}
        for name, uid in uids.items():
            own = by_uid.get(uid, [])
            pids.update(own)
            kinds.update(dict.fromkeys(own, "labs"))
            if own:
                labs[name] = round(processes.memory_bytes(own) / 2**20, 1)
        for pid, kind in kinds.items():
            used = processes.cpu_seconds(pid)
            if used is not None:
                self.cpu[pid] = (kind, used)
        return {"t": time.monotonic(), "platform_mb": round(processes.memory_bytes(pids) / 2**20, 1),
                "processes": len(pids), "labs_mb": labs, "available_mb": round(mem_available_mb())}

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            with contextlib.suppress(Exception):  # a process gone mid-sample: the next sample counts
                self.samples.append(self.sample())
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def cpu_mark(self) -> dict[int, tuple[str, float]]:
        return dict(self.cpu)

    def cpu_since(self, mark: dict[int, tuple[str, float]]) -> dict[str, float]:
        """CPU seconds per kind since ``mark`` (processes started since then: all of theirs;
        up to their last sample, a process gone meanwhile loses less than a second)."""
        used: dict[str, float] = {}
        for pid, (kind, seconds) in dict(self.cpu).items():
            used[kind] = used.get(kind, 0.0) + seconds - mark.get(pid, (kind, 0.0))[1]
        return {k: round(v, 1) for k, v in used.items()}

    def window(self, since: float, until: float = math.inf) -> list[dict]:
        return [s for s in self.samples if since <= s["t"] <= until]

    def at(self, when: float) -> dict | None:
        """The first sample at or after ``when`` (else the last one)."""
        later = [s for s in self.samples if s["t"] >= when]
        return later[0] if later else (self.samples[-1] if self.samples else None)


# --- one participant -----------------------------------------------------------------------------

class Participant:
    """Logs in, starts their server and waits for their JupyterLab, as a participant would."""

    def __init__(self, plat: Platform, name: str, password: str, offset: float, stop: threading.Event):
        self.plat, self.name, self.password, self.stop = plat, name, password, stop
        self.token: str | None = None
        self.r: dict = {"name": name, "offset_s": round(offset, 2), "errors": [], "polls_424": 0,
                        "polls_3xx": 0, "polls": 0}

    def error(self, text: str) -> None:
        self.r["errors"].append(text[:300])

    def run(self, t0: float) -> None:
        """Start at ``t0 + offset`` (monotonic); everything within PARTICIPANT_TIMEOUT of the start."""
        r = self.r
        delay = t0 + r["offset_s"] - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            self.error("stopped before its start")
            return
        begin = time.monotonic()
        r["began_at_s"] = begin - t0
        limit = begin + PARTICIPANT_TIMEOUT

        def left() -> float:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        url = self.plat.url
        try:
            # 1. login through the hub's form
            s = requests.Session()
            g = s.get(f"{url}hub/login", timeout=min(60, left()))
            if g.status_code != 200:
                self.error(f"GET hub/login: HTTP {g.status_code} {g.text[:200]}")
                return
            p = s.post(f"{url}hub/login", data={"username": self.name, "password": self.password,
                                                 "_xsrf": xsrf(s)}, allow_redirects=False, timeout=min(60, left()))
            r["login_s"] = time.monotonic() - begin
            if p.status_code != 302 or "/hub/login" in p.headers.get("location", ""):
                self.error(f"POST hub/login: HTTP {p.status_code} {p.text[:200]}")
                return
            # 2. a token of their own, for their lab's API
            t = s.post(f"{url}hub/api/users/{self.name}/tokens", json={"note": "bench", "expires_in": 3600},
                       headers={"X-XSRFToken": xsrf(s)}, timeout=min(60, left()))
            if t.status_code != 201:
                self.error(f"POST tokens: HTTP {t.status_code} {t.text[:200]}")
                return
            self.token = t.json()["token"]
            # 3. start the server
            spawn_at = time.monotonic()
            sp = s.post(f"{url}hub/api/users/{self.name}/server", headers={"X-XSRFToken": xsrf(s)},
                        timeout=min(120, left()))
            r["spawn_request_s"] = time.monotonic() - spawn_at
            r["spawn_status"] = sp.status_code
            if sp.status_code not in (201, 202):
                self.error(f"POST server: HTTP {sp.status_code} {sp.text[:200]}")
                return
            # 4. until the lab answers
            poller = requests.Session()
            headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
            next_check = time.monotonic() + SPAWN_CHECK
            while not self.stop.is_set():
                r["polls"] += 1
                try:
                    q = poller.get(f"{url}user/{self.name}/api/status", headers=headers, allow_redirects=False,
                                   timeout=min(20, left()))
                except requests.RequestException as e:
                    self.error(f"GET api/status: {type(e).__name__}: {e}")
                    q = None
                now = time.monotonic()
                if q is not None and q.status_code == 200:
                    r["spawn_to_lab_s"] = now - spawn_at
                    r["start_to_lab_s"] = now - begin
                    r["lab_at_s"] = now - t0
                    return
                if q is not None:
                    if q.status_code == 424:
                        r["polls_424"] += 1
                    elif 300 <= q.status_code < 400:
                        r["polls_3xx"] += 1
                    else:
                        self.error(f"GET api/status: HTTP {q.status_code} {q.text[:200]}")
                if now >= next_check:
                    next_check = now + SPAWN_CHECK
                    try:
                        model = self.plat.hub_user(self.name).json()
                    except (requests.RequestException, ValueError):
                        model = None  # bookkeeping only: look again next time
                    server = (model.get("servers") or {}).get("") if model else True
                    if not server and not model.get("pending"):
                        self.error("the hub lists no server and no pending spawn: the start failed")
                        return
                self.stop.wait(min(POLL, left()))
                left()
            self.error("stopped")
        except TimeoutError:
            self.error(f"no lab within {PARTICIPANT_TIMEOUT:.0f} s of the start")
        except requests.RequestException as e:
            if time.monotonic() >= limit:
                self.error(f"no lab within {PARTICIPANT_TIMEOUT:.0f} s of the start ({type(e).__name__})")
            else:
                self.error(f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - counted as this participant's error, with its text
            self.error(f"{type(e).__name__}: {e}")
        finally:
            r["ended_at_s"] = time.monotonic() - t0

    def kernel(self, timeout: float = 120) -> None:
        """One kernel in the lab, running KERNEL_CODE (as opening the course's notebook does)."""
        import websocket

        r = self.r
        started = time.monotonic()
        base = f"{self.plat.url}user/{self.name}/"
        headers = {"Authorization": f"token {self.token}"}
        try:
            k = requests.post(f"{base}api/kernels", json={"name": "python3"}, headers=headers, timeout=timeout)
            if k.status_code != 201:
                r["kernel_error"] = f"POST api/kernels: HTTP {k.status_code} {k.text[:200]}"
                return
            session = uuid.uuid4().hex  # as JupyterLab's kernel connection sends it
            ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}api/kernels/{k.json()['id']}/channels"
                                             f"?session_id={session}",
                                             timeout=timeout, header=[f"Authorization: token {self.token}"])
            try:
                msg_id = uuid.uuid4().hex
                ws.send(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                               "username": self.name, "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": KERNEL_CODE, "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False}}))
                out = []
                deadline = started + timeout
                while time.monotonic() < deadline:
                    msg = json.loads(ws.recv())
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream":
                        out.append(msg["content"]["text"])
                    elif msg["msg_type"] == "error":
                        out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
                    elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        break
                text = "".join(out)
                if "ok" not in text:
                    r["kernel_error"] = f"kernel answered {text[:200]!r}"
                    return
                r["kernel_s"] = time.monotonic() - started
            finally:
                ws.close()
        except Exception as e:  # noqa: BLE001
            r["kernel_error"] = f"{type(e).__name__}: {e}"[:300]


def run_participants(people: list[Participant], t0: float, bound: float) -> None:
    threads = [threading.Thread(target=p.run, args=(t0,), daemon=True, name=p.name) for p in people]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, bound - time.monotonic()))


# --- statistics and logs ------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Linear interpolation; missing participants (failed) are passed as inf by the caller."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    if math.isinf(ordered[hi]) or math.isinf(ordered[lo]):
        return ordered[hi] if k > lo else ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stats(results: list[dict], key: str) -> dict:
    """p50/p95/max over all participants; one without ``key`` (failed) counts as infinitely slow."""
    values = [r.get(key, math.inf) for r in results]
    finite = [v for v in values if math.isfinite(v)]

    def q(p):
        v = percentile(values, p)
        return round(v, 2) if math.isfinite(v) else None

    return {"n": len(finite), "of": len(values), "p50": q(0.5), "p95": q(0.95),
            "min": round(min(finite), 2) if finite else None, "max": round(max(finite), 2) if finite else None,
            "mean": round(statistics.fmean(finite), 2) if finite else None}


def log_offsets(settings) -> dict[Path, int]:
    return {p: p.stat().st_size for p in sorted(settings.logs_dir.glob("*.log"))}


def log_lines(settings, offsets: dict[Path, int]) -> dict[str, list[str]]:
    """The lines written to each log since ``offsets``."""
    lines = {}
    for path in sorted(settings.logs_dir.glob("*.log")):
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            fh.seek(offsets.get(path, 0))
            lines[path.name] = fh.read().decode(errors="replace").splitlines()
    return lines


def log_problems(lines: dict[str, list[str]]) -> dict:
    found = {name: [ln for ln in ls if LOG_PROBLEM.search(ln) and not OWN_CHECK.search(ln)]
             for name, ls in lines.items()}
    found = {k: v for k, v in found.items() if v}
    # the same message for different users/times counts once in the summary
    kinds = Counter(re.sub(r"\d+(\.\d+)?", "#", re.sub(r"^\[\S+ [^\]]*\]\s*", "", ln))[:160]
                    for ls in found.values() for ln in ls)
    return {"count": sum(len(v) for v in found.values()), "by_log": {k: len(v) for k, v in found.items()},
            "kinds": kinds.most_common(12), "first": [f"{k}: {ln[:300]}" for k, v in found.items() for ln in v[:8]]}


def hub_spawn_times(lines: dict[str, list[str]]) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for ls in lines.values() for ln in ls if (m := HUB_TOOK.search(ln))}


# --- the run -------------------------------------------------------------------------------------

def single_start(plat: Platform, trainer: Trainer, sampler: Sampler, out: dict, repeat: int) -> None:
    """The peer: one participant alone, ``repeat`` times one after the other (after one
    untimed first start on the fresh platform), each on a quiet machine; then the cohort ends."""
    accounts_, took = trainer.create(PEER_COHORT, 1 + repeat)
    out["peer_cohort_create_s"] = round(took, 2)
    sampler.names.extend(a["name"] for a in accounts_)
    stop = threading.Event()
    singles = []
    mark, cpu_before, peer_start = sampler.cpu_mark(), machine_cpu(), time.monotonic()
    waited = []
    for i, account in enumerate(accounts_):
        waited.append(wait_idle(sampler))  # the platform (and the last lab) has nothing left to do
        p = Participant(plat, account["name"], account["password"], 0.0, stop)
        p.run(time.monotonic())
        r = clean(p.r)
        if i == 0:
            out["first_start_on_platform"] = r
        else:
            singles.append(r)
        print(f"{'first start' if i == 0 else 'single start'} {account['name']}: {fmt_s(r.get('start_to_lab_s'))} "
              f"(login {fmt_s(r.get('login_s'))}, spawn→lab {fmt_s(r.get('spawn_to_lab_s'))}) {r['errors'] or ''}",
              flush=True)
    out["single_starts"] = singles
    out["peer_idle_wait_s"] = waited
    cpu = sampler.cpu_since(mark)
    machine = round((machine_cpu()[0] - cpu_before[0]) / os.sysconf("SC_CLK_TCK"), 1)
    out["peer_cpu_s"] = cpu | {"machine": machine, "other_jobs_and_bench": round(
        machine - cpu.get("labs", 0) - cpu.get("services", 0), 1)}
    out["peer_s"] = round(time.monotonic() - peer_start, 1)
    out["single_start"] = {key: stats(singles, key)["p50"] for key in ("start_to_lab_s", "spawn_to_lab_s", "login_s")}
    out["single_start"]["errors"] = [e for r in singles for e in r["errors"]]
    _report, took = trainer.end(PEER_COHORT)
    out["peer_cohort_end_s"] = round(took, 2)
    left = traces(plat, [a["name"] for a in accounts_])
    out["peer_cohort_left"] = left
    for a in accounts_:
        sampler.names.remove(a["name"])
    print(f"cohort {PEER_COHORT} ended in {took:.1f} s; left: {left or 'nothing'}", flush=True)


def wait_idle(sampler: Sampler, timeout: float = 60.0) -> float:
    """Wait until the platform's processes use less than IDLE_CPU per second (3 s windows);
    returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        mark = sampler.cpu_mark()
        time.sleep(3)
        if sum(sampler.cpu_since(mark).values()) < 3 * IDLE_CPU:
            break
    return round(time.monotonic() - started, 1)


def clean(r: dict) -> dict:
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}


def fmt_s(v) -> str:
    return "–" if v is None else f"{v:.1f} s"


def run(plat: Platform, args, out: dict) -> None:
    settings = plat.settings
    offsets_at_start = {}
    out["training_service_after_s"] = round(plat.wait_for_training(), 1)
    trainer = Trainer(plat)
    sampler = Sampler(plat, [])
    sampler.start()
    cohort_names: list[str] = []
    ended = False
    try:
        offsets_at_start = log_offsets(settings)
        single_start(plat, trainer, sampler, out, args.peer_repeat)

        # the cohort, through the trainer page's API
        created, took = trainer.create(COHORT, args.size)
        out["cohort_create_s"] = round(took, 2)
        cohort_names = [a["name"] for a in created]
        print(f"cohort {COHORT} of {len(created)} created in {took:.1f} s", flush=True)
        sampler.names.extend(cohort_names)
        rng = random.Random(args.seed)
        offsets = sorted(rng.uniform(0, args.spread) for _ in created)
        stop = threading.Event()
        people = [Participant(plat, a["name"], a["password"], off, stop) for a, off in zip(created, offsets)]

        # the wave
        out["wave_idle_wait_s"] = wait_idle(sampler)  # the platform has nothing left to do; samples before
        out["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
        out["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        cpu_before, bench_cpu_before = machine_cpu(), sum(os.times()[:2])
        cpu_mark = sampler.cpu_mark()
        t0 = time.monotonic()
        before = sampler.window(t0 - 3.5, t0)
        print(f"wave of {args.size} over {args.spread:.0f} s started", flush=True)
        run_participants(people, t0, t0 + args.spread + PARTICIPANT_TIMEOUT + 30)
        stop.set()
        wave_end = time.monotonic()
        cpu_after = machine_cpu()
        out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        out["machine_cpu_busy_pct"] = round(100 * (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1]), 1)
        out["bench_cpu_s"] = round(sum(os.times()[:2]) - bench_cpu_before, 1)
        time.sleep(1.5)  # one more sample: the platform's CPU until the end of the wave
        out["cpu_s"] = sampler.cpu_since(cpu_mark) | {"bench": out["bench_cpu_s"]}
        out["cpu_s"]["machine"] = round((cpu_after[0] - cpu_before[0]) / os.sysconf("SC_CLK_TCK"), 1)
        out["cpu_s"]["other_jobs"] = round(out["cpu_s"]["machine"] - out["cpu_s"].get("labs", 0)
                                           - out["cpu_s"].get("services", 0) - out["bench_cpu_s"], 1)
        out["wave_s"] = round(wave_end - t0, 1)
        results = [clean(p.r) for p in people]
        answered = [r for r in results if "lab_at_s" in r]
        first_login = min(r["began_at_s"] for r in results if "began_at_s" in r)
        last_lab = max((r["lab_at_s"] for r in answered), default=None)
        # after the wave: 10 s after the last lab answered
        settle_until = t0 + (last_lab if last_lab is not None else wave_end - t0) + 10
        time.sleep(max(0.0, settle_until - time.monotonic()) + 1)
        after = sampler.at(settle_until)
        during = sampler.window(t0, settle_until)
        labs_after = sorted(v for name, v in (after or {}).get("labs_mb", {}).items() if name in cohort_names)
        peak_lab = max((v for s in during for name, v in s["labs_mb"].items() if name in cohort_names), default=None)
        out["wave"] = {
            "size": args.size, "spread_s": args.spread, "seed": args.seed,
            "all_labs_answered": len(answered) == len(results),
            "labs_answered": len(answered),
            "participants_failed": sum(1 for r in results if "lab_at_s" not in r),
            "participants_with_errors": sum(1 for r in results if r["errors"]),
            "errors": Counter(re.sub(r"\d+", "#", e)[:160] for r in results for e in r["errors"]).most_common(10),
            "first_login_at_s": round(first_login, 2),
            "last_start_at_s": round(max(offsets), 2),
            "all_labs_from_first_login_s": round(last_lab - first_login, 2) if len(answered) == len(results) else None,
            "last_lab_at_s": round(last_lab, 2) if last_lab is not None else None,
            "start_to_lab_s": stats(results, "start_to_lab_s"),
            "spawn_to_lab_s": stats(results, "spawn_to_lab_s"),
            "login_s": stats(results, "login_s"),
            "spawn_request_s": stats(results, "spawn_request_s"),
            "spawn_status": Counter(str(r.get("spawn_status")) for r in results),
            "polls_424": sum(r["polls_424"] for r in results), "polls_3xx": sum(r["polls_3xx"] for r in results),
            "participants": results,
        }
        out["memory"] = {
            "platform_before_mb": before[-1]["platform_mb"] if before else None,
            "platform_peak_mb": max((s["platform_mb"] for s in during), default=None),
            "platform_after_wave_mb": after["platform_mb"] if after else None,
            "processes_after_wave": after["processes"] if after else None,
            "lab_after_wave_mb": {"p50": round(statistics.median(labs_after), 1) if labs_after else None,
                                  "min": labs_after[0] if labs_after else None,
                                  "max": labs_after[-1] if labs_after else None, "n": len(labs_after)},
            "lab_peak_mb": peak_lab,
            "available_min_mb": min((s["available_mb"] for s in during), default=None),
            "samples": len(during),
        }
        print(f"wave done: {len(answered)}/{len(results)} labs, last at {fmt_s(last_lab)}", flush=True)

        # one kernel each
        if not args.no_kernels:
            ready = [p for p in people if p.token and "lab_at_s" in p.r]
            k0 = time.monotonic()
            threads = [threading.Thread(target=p.kernel, daemon=True) for p in ready]
            for th in threads:
                th.start()
            for th in threads:
                th.join(max(0.0, k0 + 150 - time.monotonic()))
            kernels_done = time.monotonic()
            time.sleep(5)
            with_kernels = sampler.at(kernels_done + 5)
            labs_k = sorted(v for name, v in (with_kernels or {}).get("labs_mb", {}).items() if name in cohort_names)
            ok = [p.r["kernel_s"] for p in ready if "kernel_s" in p.r]
            out["kernels"] = {
                "code": KERNEL_CODE, "started": len(ready), "ran": len(ok),
                "errors": [p.r["kernel_error"] for p in ready if "kernel_error" in p.r],
                "all_done_s": round(kernels_done - k0, 2),
                "kernel_s": {"p50": round(percentile(ok, 0.5), 2) if ok else None,
                             "max": round(max(ok), 2) if ok else None},
                "platform_mb": with_kernels["platform_mb"] if with_kernels else None,
                "platform_peak_mb": max((s["platform_mb"] for s in sampler.window(k0, kernels_done + 5)), default=None),
                "lab_with_kernel_mb": {"p50": round(statistics.median(labs_k), 1) if labs_k else None,
                                       "min": labs_k[0] if labs_k else None, "max": labs_k[-1] if labs_k else None},
                "available_min_mb": min((s["available_mb"] for s in sampler.window(k0, kernels_done + 5)),
                                        default=None),
            }
            print(f"kernels: {len(ok)}/{len(ready)} ran {KERNEL_CODE.splitlines()[0]!r} in {kernels_done - k0:.1f} s",
                  flush=True)

        # the end, through the API
        report, took = trainer.end(COHORT)
        ended = True
        left = traces(plat, cohort_names)
        out["end"] = {"took_s": round(took, 2), "accounts_removed": len(report.get("accounts", [])),
                      "archive": report.get("archive"), "skipped": report.get("skipped"), "left": left}
        print(f"cohort {COHORT} ended in {took:.1f} s: {len(report.get('accounts', []))} accounts removed; "
              f"Konten übrig: {len(left)} {left or ''}", flush=True)
    finally:
        sampler.stop_event.set()
        if cohort_names and not ended:  # an error or the budget: end it anyway, as the trainer would
            with contextlib.suppress(Exception):
                trainer.end(COHORT)
        lines = log_lines(settings, offsets_at_start)
        out["log_problems"] = log_problems(lines)
        out["hub_spawn_times_s"] = hub_spawn_times(lines)


def code_state() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in git("status", "--porcelain").splitlines()
                            if line[3:].startswith(("bif_lib/", "hub_config/"))]}


# --- output --------------------------------------------------------------------------------------

def yes_no(v: bool) -> str:
    return "yes" if v else "no"


def mb(v) -> str:
    return "–" if v is None else f"{v:,.0f} MB"


def sec(v) -> str:
    return "not reached" if v is None else f"{v:.1f} s"


def table(out: dict) -> str:
    w, m = out["wave"], out["memory"]
    single = out["single_start"].get("start_to_lab_s")
    singles = [r.get("start_to_lab_s") for r in out["single_starts"]]
    st, sp, lg = w["start_to_lab_s"], w["spawn_to_lab_s"], w["login_s"]
    cpu = out.get("cpu_s", {})

    def ratio(v):
        return "–" if v is None or not single else f"{v / single:.1f}×"

    rows = [
        ("participants (N) / logins spread over", f"{w['size']} / {w['spread_s']:.0f} s (uniform, seed {w['seed']})"),
        ("all labs answering", f"{yes_no(w['all_labs_answered'])} ({w['labs_answered']}/{w['size']})"),
        ("failures (participants without a lab within 180 s)", str(w["participants_failed"])),
        ("participants with errors", f"{w['participants_with_errors']}"
                                     + (f": {'; '.join(f'{e} ×{n}' for e, n in w['errors'][:3])}" if w["errors"] else "")),
        ("time until all labs answer, from the first login",
         (f"{sec(w['all_labs_from_first_login_s'])} (the last participant started "
          f"{w['last_start_at_s'] - w['first_login_at_s']:.1f} s after the first)")),
        ("per participant, start → lab p50 / p95 / max",
         f"{sec(st['p50'])} / {sec(st['p95'])} / {sec(st['max'])}"),
        ("of it: server start request → lab p50 / p95", f"{sec(sp['p50'])} / {sec(sp['p95'])}"),
        ("of it: login p50 / p95", f"{sec(lg['p50'])} / {sec(lg['p95'])}"),
        ("single start alone (peer, same run): start → lab",
         (f"{sec(single)} (median of {len(singles)}: {', '.join(sec(v) for v in singles)}; login "
          f"{sec(out['single_start'].get('login_s'))}; the very first start on the platform "
          f"{sec(out['first_start_on_platform'].get('start_to_lab_s'))})")),
        ("wave p50 / p95 ÷ single start", f"{ratio(st['p50'])} / {ratio(st['p95'])}"),
        ("platform PSS before / peak / 10 s after the last lab",
         f"{mb(m['platform_before_mb'])} / {mb(m['platform_peak_mb'])} / {mb(m['platform_after_wave_mb'])}"),
        ("per lab PSS after the wave p50 (min–max)",
         f"{mb(m['lab_after_wave_mb']['p50'])} ({mb(m['lab_after_wave_mb']['min'])}–{mb(m['lab_after_wave_mb']['max'])})"),
    ]
    k = out.get("kernels")
    if k:
        rows += [
            ("with one kernel each (`import pandas, bif_lib`): platform PSS", (f"{mb(k['platform_mb'])} "
             f"({k['ran']}/{k['started']} kernels ran; all in {k['all_done_s']:.1f} s)")),
            ("per lab with its kernel p50 (min–max)", (f"{mb(k['lab_with_kernel_mb']['p50'])} "
             f"({mb(k['lab_with_kernel_mb']['min'])}–{mb(k['lab_with_kernel_mb']['max'])})")),
        ]
    rows += [
        ("smallest available memory during the wave", mb(m["available_min_mb"])),
        ("CPU during the wave", (f"{out['machine_cpu_busy_pct']} % of {os.cpu_count()} CPUs busy for "
                                 f"{out['wave_s']:.0f} s: labs {cpu.get('labs', 0)} ({cpu.get('labs', 0) / max(1, w['labs_answered']):.1f} "
                                 f"per lab), services {cpu.get('services', 0)}, "
                                 f"this benchmark {cpu.get('bench', 0)}, other jobs {cpu.get('other_jobs', 0)} CPU-s (during the "
                                 f"{out['peer_s']:.0f} s of single starts: other jobs and this benchmark "
                                 f"{out['peer_cpu_s']['other_jobs_and_bench']} CPU-s)")),
        ("cohort ended via the API (`DELETE …/api/gruppen/bench`)",
         f"{out['end']['took_s']:.1f} s, {out['end']['accounts_removed']} accounts; "
         f"Konten übrig: {len(out['end']['left'])}" if out.get("end") else "not reached"),
        ("WARNING/ERROR lines in $BIF_HOME/logs during the run", str(out["log_problems"]["count"])),
        ("measured", (f"{out['started_at']}, load average {out['load_average_before'][0]} before, "
                     f"{out['load_average_after'][0]} after the wave; commit {out['code']['commit']}")),
    ]
    return "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def readme_section(out: dict) -> str:
    problems = out["log_problems"]
    peers = len(out["single_starts"])
    notes = ""
    kernel_errors = (out.get("kernels") or {}).get("errors")
    if kernel_errors:
        notes += "\nKernels that did not run: " + "; ".join(f"`{e}`" for e in kernel_errors) + "\n"
    if problems["count"]:
        notes += ("\nWARNING/ERROR lines in the platform's logs during the run, by kind (`--keep-logs` for "
                  "the lines):\n\n"
                 + "\n".join(f"- {n} × `{kind.strip()}`" for kind, n in problems["kinds"][:8]) + "\n")
    return f"""{SECTION}

```bash
.venv/bin/python -m bench.bench_cohort [--size 15] [--spread 60] [--seed 17] [--peer-repeat 5] [--no-kernels] [--no-record]
```

(about 3 minutes, as root; `--keep-logs DIR` keeps the platform's logs.) Issue #17: a cohort logs
in and starts their JupyterLab servers within a minute. The benchmark starts its own platform on
127.0.0.1 as the platform tests do (`started_hub` of tests/platform/conftest.py: launcher, hub,
proxy, audit, apps service, the trainer page as a hub service, BIFSpawner with separate OS
accounts under a prefix of its own, `hub.start_timeout` as installed). Then:

1. A trainer account creates the cohort through the trainer page's API
   (`POST services/bif-training/api/gruppen`, the trainer's own token).
2. *Single start (peer)*: a second cohort of 1 + {peers}; the first starts alone once, untimed (the
   fresh platform's first spawn); the other {peers} start alone one after the other, each on an idle
   platform. Their median is the single start; the cohort is ended before the wave.
3. *The wave*: each participant starts at a random offset (uniform over the spread, seeded) and
   does as HTTP what their browser does: the hub's login form (`_xsrf`), a token of their own,
   the server start (`POST hub/api/users/<name>/server`), then `GET user/<name>/api/status`
   every 0.5 s until it answers 200. *Start → lab* runs from the first request to that 200.
   Errors: any non-2xx of these steps (except the hub's 424 "not running yet" while the server
   starts), a failed spawn, 180 s without a lab.
4. *Memory*: PSS every second (`bif_lib.processes.memory_bytes`, shared pages counted once) of
   hub, proxy, audit, apps service, training service and every process of the participants'
   OS accounts.
5. Each participant starts one kernel and runs `import pandas, bif_lib`; PSS again.
6. The cohort is ended through the API (`DELETE …/api/gruppen/bench`). Nothing of its accounts
   may be left: OS account, group, home, processes, hub user (404), users.json entry.
   Platform, accounts and `BIF_HOME` are removed at the end, also on errors.

The hub answers a server start only once it has seen the new server answer. It looks with
random, growing pauses (JupyterHub's `exponential_backoff`: up to 0.2, 0.4, 0.8 … 5 s), so
starts of the same work differ by a second or more; hence the median of {peers} single starts.

**Result** ({out['started_at'][:16].replace('T', ' ')} UTC, 2 CPUs):

{table(out)}
{notes}"""


def write_readme_section(text: str, readme: Path = README) -> None:
    """Put ``text`` (starting with SECTION) into the README: replace the section if it is there
    (up to the next ``## `` heading), else append it."""
    content = readme.read_text(encoding="utf-8")
    start = content.find(SECTION + "\n")
    if start == -1:
        content = content.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        nxt = content.find("\n## ", start + len(SECTION))
        end = len(content) if nxt == -1 else nxt + 1
        content = content[:start] + text.rstrip("\n") + "\n" + ("\n" + content[end:] if nxt != -1 else "")
    readme.write_text(content, encoding="utf-8")


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=15, help="participants in the cohort")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the logins are spread")
    parser.add_argument("--seed", type=int, default=17, help="seed of the random offsets")
    parser.add_argument("--peer-repeat", type=int, default=5, help="single starts for the peer (their median)")
    parser.add_argument("--no-kernels", action="store_true", help="skip the kernel per participant after the wave")
    parser.add_argument("--budget", type=float, default=1200.0, help="seconds until the run is stopped")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the platform's logs there before removing it")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write bench/README.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: participants' servers run under OS accounts of their own")
    fixtures = platform_fixtures()
    reason = fixtures.requires_integration()
    if reason:
        raise SystemExit(f"the platform cannot run here: {reason}")
    clean_environment()
    if args.keep_logs:
        os.environ["BIF_TEST_KEEP_LOGS"] = str(Path(args.keep_logs).resolve())

    def on_term(signum, frame):
        raise KeyboardInterrupt

    def on_alarm(signum, frame):
        raise Budget(f"stopped after --budget {args.budget:.0f} s")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    installed = load_settings(DEFAULT_SETTINGS_FILE, environ={})
    overrides = {"hub": {"start_timeout": installed["hub"]["start_timeout"]},
                 "training": {"port": fixtures.free_port()}}
    out: dict = {"code": code_state(), "method": "see bench/bench_cohort.py's docstring"}
    started = time.monotonic()
    prefix = None
    failed = None
    try:
        with shared_environment_access():
            try:
                with fixtures.started_hub("bench-cohort", overrides) as hub:
                    prefix = hub.prefix
                    print(f"platform up at {hub.url} (BIF_HOME {hub.settings.home}, accounts {prefix}*)", flush=True)
                    signal.alarm(int(args.budget))
                    try:
                        run(Platform(hub), args, out)
                    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - reported, then cleaned up
                        failed = f"{type(e).__name__}: {e}"
                        traceback.print_exc()
                    finally:
                        signal.alarm(0)
                        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
                        print("stopping the platform, removing accounts and BIF_HOME …", flush=True)
            except AssertionError as e:  # started_hub: something still ran after `bif platform stop`
                out["after_stop"] = str(e)
                print(f"after stopping: {e}", file=sys.stderr)
    finally:
        if prefix:
            out["os_accounts_left"] = [e.pw_name for e in pwd.getpwall() if e.pw_name.startswith(prefix)]
            out["os_groups_left"] = [g.gr_name for g in grp.getgrall() if g.gr_name.startswith(prefix)]
            print(f"OS accounts left with prefix {prefix}: {out['os_accounts_left'] or 'none'}; "
                  f"groups: {out['os_groups_left'] or 'none'}", flush=True)
    out["duration_s"] = round(time.monotonic() - started)
    problems = out.get("log_problems", {})
    if problems.get("count"):
        print(f"\n{problems['count']} WARNING/ERROR lines in the platform's logs ({problems['by_log']}):")
        for kind, n in problems["kinds"]:
            print(f"  {n} × {kind}")
    if out.get("wave"):
        for r in out["wave"]["participants"]:
            print(f"  {r['name']}: offset {r['offset_s']:5.1f} s, login {fmt_s(r.get('login_s'))}, spawn "
                  f"{r.get('spawn_status')} in {fmt_s(r.get('spawn_request_s'))}, spawn→lab "
                  f"{fmt_s(r.get('spawn_to_lab_s'))}, start→lab {fmt_s(r.get('start_to_lab_s'))}, hub: "
                  f"{out['hub_spawn_times_s'].get(r['name'], '–')} s, polls {r['polls']} {r['errors'] or ''}")
    summary = {k: v for k, v in out.items() if k != "wave"} | (
        {"wave": {k: v for k, v in out["wave"].items() if k != "participants"}} if out.get("wave") else {})
    print("\n" + json.dumps(summary, indent=1, ensure_ascii=False, default=str))
    if failed or not out.get("wave") or not out.get("end"):
        print(f"\nthe run did not complete: {failed}", file=sys.stderr)
        sys.exit(1)
    print("\n" + table(out))
    if not args.no_record:
        write_readme_section(readme_section(out))
        print(f"\nwritten to {README}")


if __name__ == "__main__":
    main()
