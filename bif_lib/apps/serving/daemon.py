"""Start, stop and inspect the apps service as a background process (used by the launcher).

``start`` launches ``python -m bif_lib.apps.serving.service`` in a session of its own
(so it outlives the launcher and a hub restart), logging to ``$BIF_HOME/logs/bif-apps.log``;
the gateway then starts Voilà itself (log ``bif-apps-voila.log``). Pid files live in
``$BIF_HOME/run``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from bif_lib import config as bif_config

from bif_lib.apps.config import CONFIG_ENV, SERVICE_NAME, AppsConfig
from bif_lib.apps.serving.supervisor import VoilaSupervisor, pid_alive, read_pid, stop_leftover_voila

GATEWAY_MARKER = "bif_lib.apps.serving.service"


class ServiceError(RuntimeError):
    """The service could not be started or stopped (message in German)."""


def _api_token(settings: Any) -> str:
    if os.environ.get("BIF_APPS_API_TOKEN"):
        return os.environ["BIF_APPS_API_TOKEN"]
    try:
        from bif_lib.platform.settings import Settings, apps_api_token
    except ImportError:
        Settings = None  # noqa: N806
    if Settings is not None and isinstance(settings, Settings):
        return apps_api_token(settings)
    raise ServiceError("Das API-Token des Dienstes bif-apps fehlt (Umgebungsvariable BIF_APPS_API_TOKEN).")


def health(cfg: AppsConfig, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{cfg.local_url}{cfg.service_prefix}health", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def status(settings: Any = None) -> dict:
    cfg = AppsConfig.current(settings)
    pid = read_pid(cfg.gateway_pid_file)
    voila_pid = read_pid(cfg.voila_pid_file)
    running = pid_alive(pid, GATEWAY_MARKER)
    state = health(cfg) if running else None
    return {
        "service": SERVICE_NAME, "running": running, "pid": pid if running else None,
        "voila_pid": voila_pid if pid_alive(voila_pid, VoilaSupervisor.MARKER) else None,
        "voila_running": bool(state and state.get("voila")), "healthy": bool(state and state.get("voila")),
        "apps": state.get("apps") if state else None,
        "url": f"{cfg.local_url}{cfg.service_prefix}", "log": str(cfg.gateway_log),
    }


def start(settings: Any = None, *, wait: bool = True, timeout: float = 60.0) -> dict:
    """Start gateway + Voilà in the background (no-op if already running)."""
    cfg = AppsConfig.current(settings)
    current = status(cfg)
    if current["running"]:
        return current
    token = _api_token(settings)
    for path in (cfg.run_dir, cfg.logs_dir):
        path.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.run_dir, 0o700)
    env = {
        **os.environ,
        CONFIG_ENV: cfg.to_json(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(bif_config.PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        # what JupyterHub would pass to a hub-managed service
        "JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_API_URL": cfg.hub_api_url,
        "JUPYTERHUB_SERVICE_NAME": SERVICE_NAME, "JUPYTERHUB_SERVICE_PREFIX": cfg.service_prefix,
        "JUPYTERHUB_CLIENT_ID": f"service-{SERVICE_NAME}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{cfg.service_prefix}oauth_callback",
        "JUPYTERHUB_BASE_URL": cfg.base_url,
    }
    env.pop("BIF_APPS_API_TOKEN", None)
    with open(cfg.gateway_log, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", GATEWAY_MARKER], env=env, cwd=str(bif_config.PROJECT_ROOT),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    cfg.gateway_pid_file.write_text(f"{proc.pid}\n")
    if not wait:
        return status(cfg)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"Der App-Dienst ist beim Start beendet worden (Code {proc.returncode}). "
                               f"Letzte Zeilen aus {cfg.gateway_log}:\n{_tail(cfg.gateway_log)}")
        state = health(cfg, timeout=1.0)
        if state and state.get("voila") and _voila_answers(cfg):
            return status(cfg)
        time.sleep(0.2)
    raise ServiceError(f"Der App-Dienst antwortet nach {timeout:.0f} s nicht. Siehe {cfg.gateway_log} und "
                       f"{cfg.voila_log}.")


def stop(settings: Any = None, *, timeout: float = 30.0) -> dict:
    """Stop the gateway (which stops Voilà and its kernels); clean up leftovers."""
    cfg = AppsConfig.current(settings)
    pid = read_pid(cfg.gateway_pid_file)
    if pid_alive(pid, GATEWAY_MARKER):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid, GATEWAY_MARKER) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid, GATEWAY_MARKER):
            os.kill(pid, signal.SIGKILL)
    # the gateway may have been killed hard: don't leave Voilà and its kernels behind
    stop_leftover_voila(cfg)
    for path in (cfg.gateway_pid_file, cfg.voila_pid_file, cfg.voila_token_file):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return status(cfg)


def _voila_answers(cfg: AppsConfig) -> bool:
    try:
        urllib.request.urlopen(f"{cfg.voila_url}/voila/static/voila.js", timeout=1.0).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def _tail(path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(keine Protokolldatei)"
