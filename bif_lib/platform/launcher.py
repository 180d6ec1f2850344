"""Start, stop and inspect the platform on one machine (``bif platform ...``).

Three long-running parts, each with a pid file in ``$BIF_HOME/run`` and a log in
``$BIF_HOME/logs``:

``proxy``  configurable-http-proxy, the only public port. Started separately from the
           hub (with its own auth token), so a hub restart keeps all routes.
``hub``    JupyterHub (``hub_config/jupyterhub_config.py``); its managed idle culler
           lives and dies with it.
``apps``   the apps service ``bif-apps`` (``bif_lib.apps.serving.service``), external.
``schedule`` the scheduler of refreshes (``bif schedule serve``, ``bif_lib.schedule.service``;
           ``schedule.enabled`` in the settings), independent of hub restarts.

``stop`` stops all of it including the users' JupyterLab servers; ``restart-hub``
restarts only the hub: servers, proxy and apps keep running.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bif_lib import config
from bif_lib.fsutil import write_private
from bif_lib.platform import accounts
from bif_lib.platform.settings import (
    Settings,
    apps_api_token,
    catalog_env,
    load_settings,
    platform_api_token,
    proxy_auth_token,
)
from bif_lib.processes import PidFile, alive, session_nice, spawn, terminate

HUB_CONFIG = config.PROJECT_ROOT / "hub_config" / "jupyterhub_config.py"
CHP_BIN = config.PROJECT_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
APPS_MODULE = "bif_lib.apps.serving.service"
DEMO_FILE = "demo-zugaenge.txt"
DEMO_USERS = {  # hub user name -> BIF group
    "demo-analyse": "analysts",
    "demo-planung": "planners",
    "demo-schulung": "trainers",
    "demo-statistik": "statistikstelle",
    "demo-admin": "admins",
}

Out = Callable[[str], None]


class PlatformError(RuntimeError):
    """Starting or stopping failed (message for the administrator, German / English)."""


@dataclass(frozen=True)
class Daemon:
    """A process started by the launcher, recognised by its pid file and command line."""

    name: str
    marker: str  # part of /proc/<pid>/cmdline that identifies the process

    def pidfile(self, settings: Settings) -> PidFile:
        return PidFile(settings.run_dir / f"{self.name}.pid", self.marker)

    def logfile(self, settings: Settings) -> Path:
        return settings.logs_dir / f"{self.name}.log"

    def pid(self, settings: Settings) -> int | None:
        """The pid if the process from the pid file is still running, else None."""
        return self.pidfile(settings).running()


PROXY = Daemon("proxy", "configurable-http-proxy")
HUB = Daemon("hub", "jupyterhub_config.py")
AUDIT = Daemon("audit", "bif_lib.cli audit serve")
SCHEDULE = Daemon("schedule", "bif_lib.cli schedule serve")
SINGLEUSER_MARKER = "jupyterhub-singleuser"  # the users' JupyterLab servers (started by the hub)


# --- helpers ---------------------------------------------------------------------------

def chp_command() -> Path:
    """configurable-http-proxy from the checkout's node_modules (or ``$BIF_CHP``)."""
    path = Path(os.environ.get("BIF_CHP") or CHP_BIN)
    if not os.access(path, os.X_OK):
        raise PlatformError(
            f"configurable-http-proxy fehlt ({path}). Installieren mit: "
            f"npm install --prefix {config.PROJECT_ROOT} configurable-http-proxy@5 / "
            "configurable-http-proxy is missing; install it with the npm command above."
        )
    return path


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def health_url(settings: Settings) -> str:
    return f"{settings.local_url}hub/health"


def _wait(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
          log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise PlatformError(f"{what} hat sich beendet / exited (Code {proc.returncode}).{_log_tail(log)}")
        time.sleep(0.2)
    raise PlatformError(f"{what} antwortet nicht nach {timeout:.0f} s / not answering.{_log_tail(log)}")


def _log_tail(log: Path | None, lines: int = 25) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- {log} ---\n" + "\n".join(tail)


def _spawn(daemon: Daemon, cmd: list, settings: Settings, env: dict, cwd: Path) -> subprocess.Popen:
    """Start ``daemon`` in the background (a session of its own: it survives the calling shell)."""
    return spawn(cmd, env=env, cwd=cwd, log=daemon.logfile(settings), pidfile=daemon.pidfile(settings))


def base_env(settings: Settings) -> dict[str, str]:
    """Environment for the hub and the apps service."""
    env = dict(os.environ)
    pythonpath = [str(config.PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update({
        "BIF_HOME": str(settings.home),
        "BIF_STORE": str(settings.store_dir),
        "BIF_HUB_SETTINGS": str(settings.source_file or ""),
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(pythonpath)),
        "BIF_APPS_API_TOKEN": apps_api_token(settings),
        **config.city_env(),  # the city profile the platform was started with, for every part
    })
    return catalog_env(env, settings)  # the catalog's readers' role: hub, spawner, apps


def hub_api(settings: Settings, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
    """Call the hub's REST API as the ``bif-platform`` service; returns parsed JSON or None."""
    req = urllib.request.Request(
        settings.hub_api_url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {platform_api_token(settings)}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data = r.read()
    return json.loads(data) if data else None


def hub_running(settings: Settings) -> bool:
    return HUB.pid(settings) is not None and _http_ok(health_url(settings))


# --- the apps service (colleague's module, optional) --------------------------------------

def apps_service():
    """The apps service module, or None if it is not part of this installation."""
    try:
        return importlib.import_module(APPS_MODULE)
    except ModuleNotFoundError as e:
        if e.name and APPS_MODULE.startswith(e.name):
            return None
        raise


# --- state directories and demo accounts ----------------------------------------------------

def prepare_state(settings: Settings) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.home, 0o755)  # the users' servers must reach the store below it
    for path, mode in ((settings.hub_dir, 0o700), (settings.run_dir, 0o700), (settings.logs_dir, 0o700)):
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    for token in (proxy_auth_token, platform_api_token, apps_api_token):
        token(settings)


def ensure_demo_users(settings: Settings) -> dict[str, str]:
    """One demo account per BIF group with a random password; returns name -> password
    and writes them to ``$BIF_HOME/demo-zugaenge.txt`` (0600). Existing ones are kept.

    The Statistikstelle's demo account is admitted like a real first member, through
    ``bif office init`` (``office.init``: once, recorded in the audit trail), never by a
    plain group assignment. If the office was already set up with someone else, there is
    no demo account for it (a note says so)."""
    from bif_lib.platform import office
    from bif_lib.platform.auth import UserStore, generate_password

    store = UserStore.from_settings(settings)
    path = settings.home / DEMO_FILE
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in DEMO_USERS:
                known[parts[0]] = parts[2]
    creds: dict[str, str] = {}
    for name, group in DEMO_USERS.items():
        password = known.get(name)
        entry = store.get(name)
        if entry is not None and password and store.authenticate(name, password) is not None:
            creds[name] = password
            continue
        password = generate_password()
        if group == office.OFFICE_GROUP:
            if not _demo_office_member(settings, store, name, entry, password):
                continue
        elif entry is None:
            store.add(name, [group], password)
        else:
            store.set_password(name, password)
            store.set_groups(name, [group])
        creds[name] = password
    write_private(path, "# BIF Demo-Zugänge (nur zum Ausprobieren, keine echten Daten)\n"
                  + "".join(f"{name}  {DEMO_USERS[name]}  {password}\n" for name, password in creds.items()))
    return creds


def _demo_office_member(settings: Settings, store, name: str, entry: dict | None, password: str) -> bool:
    """The demo account of the Statistikstelle through ``office.init``; False if impossible."""
    from bif_lib.platform import office

    try:
        if entry is None:
            office.init(settings, name, password=password, store=store)
            return True
        store.set_password(name, password)
        if office.OFFICE_GROUP not in entry["groups"]:
            office.init(settings, name, store=store)
        return True
    except office.OfficeError as e:
        print(f"Hinweis: kein Demo-Zugang für die Statistikstelle: {e}", file=sys.stderr)
        return False


# --- start --------------------------------------------------------------------------------

def _start_proxy(settings: Settings, out: Out) -> None:
    if PROXY.pid(settings):
        return
    hub = settings["hub"]
    if _port_open(hub["proxy_api_port"]):
        raise PlatformError(f"Port {hub['proxy_api_port']} ist belegt / in use (hub.proxy_api_port)")
    cmd = [chp_command(), "--ip", hub["ip"], "--port", str(hub["port"]),
           "--api-ip", "127.0.0.1", "--api-port", str(hub["proxy_api_port"]),
           "--error-target", f"http://127.0.0.1:{hub['internal_port']}{settings.base_url}hub/error",
           "--log-level", "warn"]
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": proxy_auth_token(settings)}
    proc = _spawn(PROXY, cmd, settings, env, settings.run_dir)
    # every request passes the proxy (one thread): first on a busy CPU (hub.front_nice; the
    # apps gateway sets its own, service.put_in_front)
    problem = session_nice(hub["front_nice"], proc.pid) if hub["front_nice"] else None
    _wait(lambda: _port_open(hub["proxy_api_port"]), 20, "Proxy", proc, PROXY.logfile(settings))
    out(f"Proxy gestartet / started (pid {proc.pid})")
    if problem:
        out(f"Hinweis: Proxy ohne CPU-Vorrang (hub.front_nice {hub['front_nice']}): {problem} / "
            "note: the proxy has no CPU priority (docs/platform.md)")


def _start_audit(settings: Settings, out: Out) -> None:
    """The audit service (bif_lib.audit): records confidential reads and is the office's gate
    to the store. Without it no confidential data is read (fail closed)."""
    if AUDIT.pid(settings):
        return
    from bif_lib import audit

    socket_path = settings.home / "audit" / audit.SOCKET_NAME
    socket_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bif_lib.cli", "audit", "serve",
           "--group", settings["accounts"]["confidential_group"]]
    env = {**os.environ, "BIF_HOME": str(settings.home), "BIF_STORE": str(settings.store_dir),
           "PYTHONPATH": str(config.PROJECT_ROOT)}
    env.pop("BIF_AUDIT_DIR", None)
    catalog_env(env, settings, writer=True)  # the office's gate ingests: the catalog's writers' role
    proc = _spawn(AUDIT, cmd, settings, env, settings.run_dir)
    _wait(socket_path.exists, 20, "Protokolldienst / audit service", proc, AUDIT.logfile(settings))
    out(f"Protokolldienst gestartet / audit service started (pid {proc.pid})")


def _start_hub(settings: Settings, out: Out, foreground: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)]
    env = base_env(settings)
    if foreground:  # logs on the terminal; Ctrl-C reaches the hub too
        proc = spawn(cmd, env=env, cwd=settings.hub_dir, log=None, pidfile=HUB.pidfile(settings), session=False)
    else:
        proc = _spawn(HUB, cmd, settings, env, settings.hub_dir)
    _wait(lambda: _http_ok(health_url(settings)), 90, "JupyterHub", proc,
          None if foreground else HUB.logfile(settings))
    out(f"JupyterHub gestartet / started (pid {proc.pid})")
    return proc


def _start_apps(settings: Settings, out: Out) -> None:
    service = apps_service()
    if service is None:
        out("Hinweis: Apps-Dienst nicht installiert (bif_lib.apps.serving.service fehlt), "
            "die App-Galerie ist nicht verfügbar. / Note: apps service not installed.")
        return
    if accounts.can_separate_accounts(settings):
        accounts.ensure_service_account(settings)
    os.environ["BIF_APPS_API_TOKEN"] = apps_api_token(settings)
    try:
        service.start(settings)
    except Exception as e:  # the hub stays usable without the gallery
        out(f"FEHLER: Apps-Dienst startet nicht / apps service failed to start: {e}")
        return
    out("Apps-Dienst gestartet / apps service started")


def start_scheduler(settings: Settings, out: Out = print) -> None:
    """The scheduler of refreshes (docs/schedule.md), as root like the ingest it runs; it says it
    is ready by writing ``$BIF_HOME/schedule/service.json`` with its pid."""
    if not settings["schedule"]["enabled"] or SCHEDULE.pid(settings):
        return
    state = settings.home / "schedule" / "service.json"
    cmd = [sys.executable, "-m", "bif_lib.cli", "schedule", "serve"]
    env = catalog_env(base_env(settings), settings, writer=True)  # it ingests: the catalog's writers' role
    proc = _spawn(SCHEDULE, cmd, settings, env, settings.run_dir)

    def ready() -> bool:
        try:
            return json.loads(state.read_text()).get("pid") == proc.pid
        except (OSError, ValueError):
            return False

    _wait(ready, 60, "Zeitplandienst / scheduler", proc, SCHEDULE.logfile(settings))
    out(f"Zeitplandienst gestartet / scheduler started (pid {proc.pid})")


def start(settings: Settings | None = None, demo: bool = False, foreground: bool = False,
          out: Out = print) -> int:
    """Start proxy, hub and apps service (idempotent). Returns an exit code."""
    settings = settings or load_settings()
    chp_command()
    if hub_running(settings):
        out(f"BIF läuft bereits / already running: {settings.public_url}")
        start_scheduler(settings, out)  # the one part that may have ended on its own
        if demo:
            _print_urls(settings, out, ensure_demo_users(settings))
        return 0
    prepare_state(settings)
    if accounts.can_separate_accounts(settings):
        accounts.ensure_system_groups(settings)
        if settings.store_dir.exists():
            accounts.apply_store_permissions(settings.store_dir, settings)
    else:
        out(accounts.single_mode_message())
    creds = ensure_demo_users(settings) if demo else {}
    HUB.pidfile(settings).stop()  # a hub that does not answer: replace it
    if _port_open(settings["hub"]["internal_port"]):
        raise PlatformError(f"Port {settings['hub']['internal_port']} ist belegt / in use (hub.internal_port)")
    if accounts.can_separate_accounts(settings):
        _start_audit(settings, out)
    _start_proxy(settings, out)
    proc = _start_hub(settings, out, foreground=foreground)
    _start_apps(settings, out)
    start_scheduler(settings, out)
    _print_urls(settings, out, creds)
    if not foreground:
        return 0
    return _run_foreground(settings, proc, out)


def _print_urls(settings: Settings, out: Out, creds: dict[str, str]) -> None:
    out(f"BIF-Plattform / platform:  {settings.public_url}")
    out(f"App-Galerie / app gallery: {settings.public_url.rstrip('/')}{settings.gallery_path}")
    out(f"Verwaltung / admin:        {settings.public_url}hub/admin")
    if creds:
        out("Demo-Zugänge (Benutzername, Gruppe, Passwort) / demo accounts:")
        for name, password in creds.items():
            out(f"  {name:<16} {DEMO_USERS[name]:<16} {password}")
        out(f"(gespeichert in / saved in {settings.home / DEMO_FILE}, nur für root lesbar)")


def _run_foreground(settings: Settings, proc: subprocess.Popen, out: Out) -> int:
    """Wait for the hub; SIGTERM/SIGINT stop the whole platform (e.g. under systemd)."""
    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        code = proc.wait()
        out(f"JupyterHub beendet / exited (Code {code})")
        return code or 0
    except KeyboardInterrupt:
        stop(settings, out=out)
        return 0


# --- stop -----------------------------------------------------------------------------------

def stop_user_servers(settings: Settings, out: Out = print, timeout: float = 60.0) -> list[str]:
    """Stop all users' JupyterLab servers through the hub API; returns the user names."""
    users = hub_api(settings, "GET", "/users?state=active") or []
    names = [u["name"] for u in users if u.get("servers")]
    for name in names:
        with contextlib.suppress(urllib.error.HTTPError):
            hub_api(settings, "DELETE", f"/users/{name}/server")
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            user = hub_api(settings, "GET", f"/users/{name}")
            if not (user or {}).get("servers"):
                pending.discard(name)
        time.sleep(0.3)
    if names:
        out(f"JupyterLab-Server gestoppt / stopped: {', '.join(names)}")
    if pending:
        out(f"WARNUNG: Server nicht gestoppt / not stopped: {', '.join(sorted(pending))}")
    return names


def stop_orphaned_servers(settings: Settings, out: Out = print) -> list[int]:
    """Stop servers the hub database still lists although the hub could not stop them
    (hub crashed or did not answer): by their recorded pids, checked against /proc."""
    import sqlite3

    db = settings.hub_dir / "jupyterhub.sqlite"
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT state FROM spawners WHERE state IS NOT NULL").fetchall()
    except sqlite3.Error:
        return []
    stopped = []
    for (state,) in rows:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            pid = int(json.loads(state).get("pid") or 0)
            if alive(pid, SINGLEUSER_MARKER):
                terminate(pid, marker=SINGLEUSER_MARKER)
                stopped.append(pid)
    if stopped:
        out(f"Verwaiste JupyterLab-Server gestoppt / orphaned servers stopped: {stopped}")
    return stopped


def _stop_daemon(daemon: Daemon, settings: Settings, out: Out) -> bool:
    pid = daemon.pidfile(settings).stop()
    if pid is not None:
        out(f"{daemon.name} gestoppt / stopped (pid {pid})")
    return pid is not None


def stop(settings: Settings | None = None, out: Out = print) -> int:
    """Stop the scheduler, the apps service, all users' servers, the hub and the proxy."""
    settings = settings or load_settings()
    stop_scheduler(settings, out)  # first: a refresh may be publishing apps
    service = apps_service()
    if service is not None:
        try:
            service.stop(settings)
            out("Apps-Dienst gestoppt / apps service stopped")
        except Exception as e:
            out(f"FEHLER beim Stoppen des Apps-Dienstes / stopping the apps service failed: {e}")
    if hub_running(settings):
        try:
            stop_user_servers(settings, out)
        except (urllib.error.URLError, OSError) as e:
            out(f"WARNUNG: Server konnten nicht gestoppt werden / could not stop servers: {e}")
    elif HUB.pid(settings) is None and PROXY.pid(settings) is None:
        out("BIF läuft nicht / not running")
    _stop_daemon(HUB, settings, out)
    stop_orphaned_servers(settings, out)
    _stop_daemon(PROXY, settings, out)
    _stop_daemon(AUDIT, settings, out)
    return 0


def stop_scheduler(settings: Settings, out: Out = print) -> bool:
    """Stop the scheduler and a refresh it is running (its child process)."""
    pid = SCHEDULE.pidfile(settings).stop(tree=True)
    if pid is not None:
        out(f"Zeitplandienst gestoppt / scheduler stopped (pid {pid})")
    return pid is not None


def restart_hub(settings: Settings | None = None, out: Out = print) -> int:
    """Restart only the hub: users' servers, proxy and apps service keep running."""
    settings = settings or load_settings()
    chp_command()
    prepare_state(settings)
    _stop_daemon(HUB, settings, out)
    _start_proxy(settings, out)  # no-op if it runs
    _wait(lambda: not _port_open(settings["hub"]["internal_port"]), 20, "alter Hub / old hub")
    _start_hub(settings, out)
    return 0


# --- status ---------------------------------------------------------------------------------

def _hub_is_ours(settings: Settings) -> bool:
    """The hub answering on the configured port accepts this installation's service token."""
    try:
        identity = hub_api(settings, "GET", "/user", timeout=5)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(identity, dict) and identity.get("name") == "bif-platform"


def status(settings: Settings | None = None, out: Out = print) -> dict:
    """Print and return what runs: proxy, hub, apps service, servers.

    Only this installation's processes count: each is found by its pid file in
    ``$BIF_HOME/run`` and checked to be alive, to be the right program and to run in this
    installation's directories; the hub must answer its health check *and* accept this
    installation's API token. Another hub on the configured port (another installation,
    another program) is reported as such, never as "running".
    """
    settings = settings or load_settings()
    # this installation's: pid file, alive, the right program, started in this installation's directory
    proxy, proxy_reason = PROXY.pidfile(settings).check(settings.run_dir)
    hub, hub_reason = HUB.pidfile(settings).check(settings.hub_dir)
    audit, audit_reason = AUDIT.pidfile(settings).check(settings.run_dir)
    schedule, schedule_reason = SCHEDULE.pidfile(settings).check(settings.run_dir)
    answers = _http_ok(health_url(settings))
    ours = hub is not None and answers and _hub_is_ours(settings)
    result: dict = {
        "proxy": proxy,
        "hub": hub,
        "audit": audit,
        "schedule": schedule,
        "hub_healthy": ours,
        "port_answers": answers,
        "foreign_hub": answers and not ours,
        "apps": None,
        "servers": [],
        "separate_accounts": accounts.can_separate_accounts(settings),
    }
    service = apps_service()
    if service is not None and hasattr(service, "status"):
        with contextlib.suppress(Exception):
            state = service.status(settings)
            result["apps"] = state.get("running") if isinstance(state, dict) else bool(state)
    elif service is not None:
        result["apps"] = _port_open(settings["apps"]["port"])
    if result["hub_healthy"]:
        with contextlib.suppress(urllib.error.URLError, OSError):
            users = hub_api(settings, "GET", "/users?state=active") or []
            result["servers"] = sorted(u["name"] for u in users if u.get("servers"))

    def fmt(pid, reason):
        return f"läuft / running (pid {pid})" if pid else f"gestoppt / stopped ({reason})"

    out(f"Proxy:      {fmt(proxy, proxy_reason)}")
    out(f"JupyterHub: {fmt(hub, hub_reason)}" + (" – erreichbar / healthy" if result["hub_healthy"] else ""))
    if result["foreign_hub"]:
        out(f"WARNUNG: Auf {health_url(settings)} antwortet ein Hub, der nicht zu dieser Installation "
            f"({settings.home}) gehört – eine andere Installation oder ein anderes Programm belegt den Port "
            f"(hub.port in settings.yaml). Diese BIF-Plattform läuft nicht.")
    elif hub is not None and not answers:
        out(f"WARNUNG: Der Hub-Prozess läuft, antwortet aber nicht auf {health_url(settings)}.")
    if audit is not None or AUDIT.pidfile(settings).path.exists() or result["separate_accounts"]:
        out(f"Protokolldienst / audit: {fmt(audit, audit_reason)}")
    if schedule is not None or settings["schedule"]["enabled"]:
        out(f"Zeitplan / schedule: {fmt(schedule, schedule_reason)}")
    if service is None:
        out("Apps:       nicht installiert / not installed")
    else:
        out(f"Apps:       {'läuft / running' if result['apps'] else 'gestoppt / stopped'}")
    out(f"Konten / accounts: {'getrennt / separate' if result['separate_accounts'] else 'Einzelkonto / single'}")
    out(f"JupyterLab-Server: {', '.join(result['servers']) or '–'}")
    if result["hub_healthy"]:
        out(f"URL: {settings.public_url}")
    return result
