"""The gateway's child: start, watch and stop the Voilà process.

Voilà runs under the app service account with a scrubbed environment (no hub tokens),
its own HOME/runtime directories, and the BIF Voilà template on ``JUPYTER_PATH``. If it
dies, the gateway restarts it (a few times, then it gives up and ``/health`` says so).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .account import RunAs
from .config import AppsConfig
from .execute import child_env
from .registry import Registry

log = logging.getLogger("bif.apps.supervisor")
TEMPLATE_ROOT = Path(__file__).resolve().parent / "share"
MAX_RESTARTS = 5
RESTART_WINDOW = 300.0


def write_private(path: Path, text: str) -> None:
    """Write a secret file readable only by its owner (created 0600 before any byte is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """Is ``pid`` running (and, if ``marker`` is given, is it our process)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if marker:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        if marker not in cmdline:
            return False  # a recycled pid, not ours
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return False  # zombie: exited, not yet reaped
        except (OSError, IndexError):
            pass
    return True


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    result = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            result.append(int(stat.parent.name))
    return result


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def stop_leftover_voila(cfg: AppsConfig, timeout: float = 15.0) -> bool:
    """Stop a Voilà whose gateway died without stopping it (it runs in its own session and
    would hold the port). True if one was found."""
    pid = read_pid(cfg.voila_pid_file)
    if not pid_alive(pid, VoilaSupervisor.MARKER):
        return False
    kernels = children(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid, VoilaSupervisor.MARKER) and time.monotonic() < deadline:
        time.sleep(0.1)
    for leftover in ([pid] if pid_alive(pid, VoilaSupervisor.MARKER) else []) + kernels:
        try:
            os.kill(leftover, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


class VoilaSupervisor:
    SCRIPT = Path(__file__).resolve().with_name("voila_server.py")
    MARKER = "voila_server"  # in the process's command line (pid files may be stale)

    def __init__(self, cfg: AppsConfig, run_as: RunAs, token: str, registry: Registry):
        self.cfg, self.run_as, self.token, self.registry = cfg, run_as, token, registry
        self.proc: subprocess.Popen | None = None
        self._restarts: list[float] = []
        self._stopping = False
        self.gave_up = False
        self.ready = False  # Voilà answers HTTP (set by probe())

    # --- preparation ---------------------------------------------------------------------
    def _state_dirs(self) -> dict[str, Path]:
        base = self.cfg.voila_state_dir
        dirs = {name: base / name for name in ("home", "runtime", "data", "config", "tmp")}
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o700)
        self.run_as.chown(base)
        for path in dirs.values():
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o700)
            self.run_as.chown(path)
        return dirs

    def voila_conf(self) -> dict:
        pool_sizes = {}
        for app in self.registry.list_current():
            size = app.meta.get("pool_size")
            if size is not None:
                pool_sizes[app.app_id] = int(size)
        return {
            "port": self.cfg.voila_port, "root_dir": str(self.registry.served_dir),
            "apps_dir": str(self.registry.root),
            "base_url": self.cfg.voila_base_url, "pool_size": self.cfg.pool_size, "pool_sizes": pool_sizes,
            "cull_idle_timeout": self.cfg.cull_idle_timeout, "cull_interval": self.cfg.cull_interval,
        }

    def env(self) -> dict:
        dirs = self._state_dirs()
        env = child_env(self.cfg.home, self.cfg.store, {
            "HOME": str(dirs["home"]), "TMPDIR": str(dirs["tmp"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_CONFIG_DIR": str(dirs["config"]), "IPYTHONDIR": str(dirs["home"] / ".ipython"),
            "MPLCONFIGDIR": str(dirs["home"] / ".matplotlib"),
            "JUPYTER_PATH": str(TEMPLATE_ROOT),
            "BIF_VOILA_CONFIG": json.dumps(self.voila_conf()), "BIF_VOILA_TOKEN": self.token,
        })
        return env

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        if stop_leftover_voila(self.cfg):
            log.warning("stopped a Voilà left over from an earlier run")
        self.registry.served_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.registry.served_dir, 0o755)
        self.cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(self.cfg.voila_log, "ab", buffering=0)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(self.SCRIPT)], env=self.env(), cwd=str(self.registry.served_dir),
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                start_new_session=True, **self.run_as.popen_kwargs())
        finally:
            logfile.close()
        self.cfg.voila_pid_file.write_text(f"{self.proc.pid}\n")
        self.gave_up = False
        self.ready = False
        log.info("Voilà started (pid %s) as %s on 127.0.0.1:%s", self.proc.pid, self.run_as.name,
                 self.cfg.voila_port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def probe(self) -> bool:
        """Does Voilà answer? (``ready``; checked by the gateway every few seconds)"""
        from tornado import httpclient

        if not self.running:
            self.ready = False
            return False
        try:
            await httpclient.AsyncHTTPClient().fetch(f"{self.cfg.voila_url}/voila/static/voila.js", method="HEAD",
                                                     request_timeout=5, connect_timeout=2)
            self.ready = True
        except Exception:  # noqa: BLE001 - starting up, or hanging
            self.ready = False
        return self.ready

    async def watch(self) -> None:
        """Periodic task of the gateway: restart a dead Voilà, refresh ``ready``."""
        self.poll()
        await self.probe()

    def poll(self) -> None:
        """Restart Voilà if it died."""
        if self._stopping or self.proc is None or self.proc.poll() is None or self.gave_up:
            return
        self.ready = False
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW]
        if len(self._restarts) >= MAX_RESTARTS:
            log.error("Voilà exited %d times within %d s; not restarting (see %s)",
                      MAX_RESTARTS, RESTART_WINDOW, self.cfg.voila_log)
            self.gave_up = True
            return
        log.warning("Voilà exited with %s; restarting", self.proc.returncode)
        self._restarts.append(now)
        self.start()

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM lets Voilà shut its kernels down; the whole session goes if it hangs
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Voilà did not stop within %s s; killing it and its kernels", timeout)
                kernels = children(self.proc.pid)  # kernels run in sessions of their own
                os.killpg(self.proc.pid, signal.SIGKILL)
                for pid in kernels:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(5)
        try:
            self.cfg.voila_pid_file.unlink()
        except FileNotFoundError:
            pass
