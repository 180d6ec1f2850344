"""Start, stop and inspect the apps service as a background process (used by the launcher).

``start`` launches ``python -m bif_lib.apps.serving.service`` in a session of its own
(so it outlives the launcher and a hub restart), logging to ``$BIF_HOME/logs/bif-apps.log``;
the gateway then starts Voilà itself (log ``bif-apps-voila.log``). Pid files live in
``$BIF_HOME/run``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from bif_lib import config as bif_config
from bif_lib.apps.config import CONFIG_ENV, SERVICE_NAME, AppsConfig
from bif_lib.apps.serving.supervisor import stop_leftover_voila, voila_pidfile
from bif_lib.platform.settings import Settings, apps_api_token, load_settings
from bif_lib.processes import PidFile, spawn

GATEWAY_MARKER = "bif_lib.apps.serving.service"


def gateway_pidfile(cfg: AppsConfig) -> PidFile:
    return PidFile(cfg.gateway_pid_file, GATEWAY_MARKER)


class ServiceError(RuntimeError):
    """The service could not be started or stopped (message in German)."""


def health(cfg: AppsConfig, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{cfg.local_url}{cfg.service_prefix}health", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def status(settings: Any = None) -> dict:
    cfg = AppsConfig.current(settings)
    pid = gateway_pidfile(cfg).running()
    running = pid is not None
    state = health(cfg) if running else None
    return {
        "service": SERVICE_NAME, "running": running, "pid": pid,
        "voila_pid": voila_pidfile(cfg).running(),
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
    token = apps_api_token(settings if isinstance(settings, Settings) else load_settings())
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
    proc = spawn([sys.executable, "-m", GATEWAY_MARKER], env=env, cwd=bif_config.PROJECT_ROOT,
                 log=cfg.gateway_log, pidfile=gateway_pidfile(cfg))
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
    gateway_pidfile(cfg).stop(timeout)
    # the gateway may have been killed hard: don't leave Voilà and its kernels behind
    stop_leftover_voila(cfg)
    voila_pidfile(cfg).remove()
    cfg.voila_token_file.unlink(missing_ok=True)
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
