"""The gateway's child: start, watch and stop the Voilà process.

Voilà runs under the app service account with a scrubbed environment (no hub tokens; its
own token arrives through a pipe), and the BIF Voilà template on ``JUPYTER_PATH``.

Directories (``$BIF_HOME/apps-runtime``, see ``prepare_state_dirs``): everything IPython,
Jupyter or Voilà read configuration or startup code from — ``HOME``, ``IPYTHONDIR`` (with
its ``profile_default/startup``), ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR`` (kernel
specs) — belongs to root (0755) and cannot be changed by the service account, so one app
cannot plant code that runs in the kernels of other apps. Only the runtime directory
(connection files), ``TMPDIR`` and a cache directory (matplotlib's font cache) are
writable, private (0700) to the service account, and runtime and ``TMPDIR`` are emptied at
every start of Voilà.

Watchdog (``watch``, every second; settings ``apps.watchdog_*``): a dead Voilà is
restarted; so is one that does not answer its probe several times in a row, sooner if it
does so at ~100 % CPU, or whose memory together with its kernels exceeds the limit. A
restart kills Voilà and its kernels. After five restarts within five minutes the gateway
gives up and ``/health`` says so.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bif_lib.apps.account import RunAs
from bif_lib.apps.config import AppsConfig
from bif_lib.apps.publishing.execute import child_env
from bif_lib.apps.registry import Registry
from bif_lib.apps.serving.gateway import AddressResolver
from bif_lib.processes import (
    PidFile,
    cpu_seconds,
    descendants,
    kill_all,
    kill_tree,
    matching,
    memory_bytes,
    spawn,
    terminate,
)

log = logging.getLogger("bif.apps.supervisor")
TEMPLATE_ROOT = Path(__file__).resolve().parent / "share"
MAX_RESTARTS = 5
RESTART_WINDOW = 300.0

# apps-runtime/<name>: read-only for the service account (root, 0755) ...
READ_ONLY_DIRS = ("home", "ipython", "jupyter-config", "jupyter-data")
# ... and private to it (0700); the first two are emptied at every start of Voilà
PRIVATE_DIRS = ("runtime", "tmp", "cache")
_EMPTIED_AT_START = ("runtime", "tmp")
# the IPython profile of app kernels (no history database: nothing to write there)
KERNEL_CONFIG = """\
# Written by BIF (bif_lib/apps/serving/supervisor.py) at every start of the apps service.
# This directory belongs to root: app kernels cannot add startup files or configuration.
c.HistoryManager.enabled = False
"""


def service_kernels(cfg: AppsConfig) -> list[int]:
    """App kernels of this service, also orphaned ones (their connection files live in the
    service's ``TMPDIR``, which is in their command line)."""
    return [pid for pid, _ in matching(cmdline_contains=f"{cfg.voila_state_dir / 'tmp'}/")]


# --- state directories ------------------------------------------------------------------------

def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)  # fd-based on Linux: never follows symlinks planted inside
    else:
        path.unlink()


def _own_dir(path: Path, uid: int, gid: int, mode: int, *, empty: bool = False) -> None:
    """Make ``path`` a real directory of ``uid:gid`` with ``mode``. Whatever else is there (a
    file, a symlink, a directory of another owner) is removed first. The parent must belong
    to root, so nobody else can swap the entry meanwhile."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and (empty or not stat.S_ISDIR(st.st_mode) or st.st_uid != uid):
        _remove(path)
        st = None
    if st is None:
        os.mkdir(path, 0o700)
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


def _root_file(path: Path, text: str) -> None:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        _remove(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def prepare_state_dirs(cfg: AppsConfig, run_as: RunAs, *, fresh: bool = True) -> dict[str, Path]:
    """Create ``apps-runtime`` (see the module docstring) and return its directories by name.

    ``fresh`` empties the runtime directory and ``TMPDIR`` (at a start of Voilà, when none of
    its kernels runs). A layout of an older BIF (everything owned by the service account)
    is removed: nothing the account wrote there is ever read again.
    """
    base = cfg.voila_state_dir
    me_uid, me_gid = os.geteuid(), os.getegid()
    acc_uid = run_as.uid if run_as.switches else me_uid
    acc_gid = run_as.gid if run_as.switches else me_gid
    base.parent.mkdir(parents=True, exist_ok=True)
    _own_dir(base, me_uid, me_gid, 0o755)
    for entry in base.iterdir():  # leftovers of older layouts
        if entry.name not in READ_ONLY_DIRS + PRIVATE_DIRS:
            _remove(entry)
    dirs = {name: base / name for name in READ_ONLY_DIRS + PRIVATE_DIRS}
    for name in READ_ONLY_DIRS:
        _own_dir(dirs[name], me_uid, me_gid, 0o755)
    for name in PRIVATE_DIRS:
        _own_dir(dirs[name], acc_uid, acc_gid, 0o700, empty=fresh and name in _EMPTIED_AT_START)
    # the IPython directory of app kernels, complete, so that IPython never needs to write
    ipython = dirs["ipython"]
    profile = ipython / "profile_default"
    for path, mode in ((ipython / "extensions", 0o755), (ipython / "nbextensions", 0o755),
                       (profile, 0o755), (profile / "startup", 0o755), (profile / "log", 0o755),
                       (profile / "pid", 0o700), (profile / "security", 0o700)):
        _own_dir(path, me_uid, me_gid, mode)
    _root_file(ipython / "README", "IPython-Verzeichnis der App-Kernel (gehört root, nur lesbar).\n")
    _root_file(profile / "startup" / "README", "Keine Startdateien: das Verzeichnis gehört root.\n")
    _root_file(profile / "ipython_kernel_config.py", KERNEL_CONFIG)
    # jupyter_core's one-off migration from IPython 3 would look into the IPython directory
    _root_file(dirs["jupyter-config"] / "migrated", "")
    return dirs


def tidy_tmp(tmp: Path, older_than: float = 600.0) -> int:
    """Remove empty ``tmp*`` directories from the service's ``TMPDIR``: every app kernel leaves
    one (IPython's stand-in for the read-only IPython directory). Returns how many."""
    removed = 0
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        limit = time.time() - older_than
        for name in os.listdir(fd):
            if not name.startswith("tmp"):
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and st.st_mtime < limit:
                    os.rmdir(name, dir_fd=fd)  # only if empty
                    removed += 1
            except OSError:
                continue
    finally:
        os.close(fd)
    return removed


def _matplotlibrc() -> str | None:
    """Matplotlib's own default ``matplotlibrc`` (read-only, in the environment): with
    ``$MATPLOTLIBRC`` pointing there, a ``matplotlibrc`` in the writable cache is never read."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    rc = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "matplotlibrc"
    return str(rc) if rc.is_file() else None


def voila_pidfile(cfg: AppsConfig) -> PidFile:
    return PidFile(cfg.voila_pid_file, VoilaSupervisor.MARKER)


def stop_leftover_voila(cfg: AppsConfig, timeout: float = 15.0) -> bool:
    """Stop a Voilà whose gateway died without stopping it (it runs in its own session and
    would hold the port), and its kernels. True if one was found."""
    pid = voila_pidfile(cfg).running()
    if pid is None:
        kill_all(service_kernels(cfg))  # orphaned kernels of a Voilà that was killed
        return False
    kernels = descendants(pid)
    terminate(pid, timeout, VoilaSupervisor.MARKER, tree=True)
    kill_all(kernels + service_kernels(cfg))
    return True


@dataclass
class Watchdog:
    """Decides, from one check of Voilà after another, whether it must be restarted."""

    cfg: AppsConfig
    failures: int = 0  # failed probes in a row
    busy: int = 0  # of which at high CPU, in a row

    def reset(self) -> None:
        self.failures = self.busy = 0

    def judge(self, answered: bool, cpu_percent: float | None, memory: int | None) -> str | None:
        """The reason for a restart (for the log), or None."""
        limit = self.cfg.memory_limit_bytes
        if limit is not None and memory is not None and memory > limit:
            return (f"uses {memory / 2**20:.0f} MB with its kernels, more than the limit of "
                    f"{limit / 2**20:.0f} MB (apps.watchdog_memory_mb)")
        if answered:
            self.reset()
            return None
        self.failures += 1
        self.busy = self.busy + 1 if cpu_percent is not None and cpu_percent >= self.cfg.watchdog_cpu_percent else 0
        if self.busy >= self.cfg.watchdog_busy_failures:
            return (f"did not answer {self.failures} probe(s) in a row while using {cpu_percent:.0f} % CPU "
                    "(hanging in a loop)")
        if self.failures >= self.cfg.watchdog_failures:
            return f"did not answer {self.failures} probes in a row (hanging)"
        return None


class VoilaSupervisor:
    SCRIPT = Path(__file__).resolve().with_name("voila_server.py")
    MARKER = "voila_server"  # in the process's command line (pid files may be stale)

    def __init__(self, cfg: AppsConfig, run_as: RunAs, token: str, registry: Registry,
                 on_restart: Callable[[], None] | None = None):
        self.cfg, self.run_as, self.token, self.registry = cfg, run_as, token, registry
        self.on_restart = on_restart  # e.g. the gateway forgets the kernels of the old Voilà
        self.proc: subprocess.Popen | None = None
        self._restarts: list[float] = []
        self._stopping = False
        self.gave_up = False
        self.ready = False  # Voilà answers HTTP (set by probe())
        self.watchdog = Watchdog(cfg)
        self.last_restart_reason: str | None = None
        self._started_at = 0.0
        self._answered = False  # answered a probe since its start
        self._last_check = 0.0
        self._last_tidy = time.monotonic()
        self._cpu_sample: tuple[float, float] | None = None
        self._probe_client = None

    # --- preparation ---------------------------------------------------------------------
    def _state_dirs(self, fresh: bool = True) -> dict[str, Path]:
        return prepare_state_dirs(self.cfg, self.run_as, fresh=fresh)

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
            "kernel_start": self.cfg.kernel_start, "kernel_preload": list(self.cfg.kernel_preload),
            "kernel_nice": self.cfg.kernel_nice,
            "shared_session_idle": self.cfg.shared_session_idle, "shared_max_sessions": self.cfg.shared_max_sessions,
            "shared_prepare_steps": self.cfg.shared_prepare_steps,
        }

    def env(self, fresh: bool = True) -> dict:
        """Voilà's environment (its kernels inherit it). No token: ``start`` passes it
        through a pipe (``BIF_VOILA_TOKEN_FD``)."""
        dirs = self._state_dirs(fresh)
        extra = {
            "HOME": str(dirs["home"]), "TMPDIR": str(dirs["tmp"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTER_DATA_DIR": str(dirs["jupyter-data"]),
            "JUPYTER_CONFIG_DIR": str(dirs["jupyter-config"]), "IPYTHONDIR": str(dirs["ipython"]),
            "XDG_CACHE_HOME": str(dirs["cache"]), "MPLCONFIGDIR": str(dirs["cache"] / "matplotlib"),
            "JUPYTER_PATH": str(TEMPLATE_ROOT), "PYTHONNOUSERSITE": "1",
            "BIF_VOILA_CONFIG": json.dumps(self.voila_conf()),
        }
        rc = _matplotlibrc()
        if rc:
            extra["MATPLOTLIBRC"] = rc
        return child_env(self.cfg.home, self.cfg.store, extra)

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        if stop_leftover_voila(self.cfg):
            log.warning("stopped a Voilà left over from an earlier run")
        self.registry.served_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.registry.served_dir, 0o755)
        self.cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        env = self.env()
        # the token through a pipe: never in Voilà's environment, which its kernels could read
        token_r, token_w = os.pipe()
        os.write(token_w, self.token.encode("ascii"))
        os.close(token_w)
        env["BIF_VOILA_TOKEN_FD"] = str(token_r)
        try:
            self.proc = spawn([sys.executable, self.SCRIPT], env=env, cwd=self.registry.served_dir,
                              log=self.cfg.voila_log, pidfile=voila_pidfile(self.cfg), pass_fds=(token_r,),
                              **self.run_as.popen_kwargs())
        finally:
            os.close(token_r)
        self.gave_up = False
        self.ready = False
        self._answered = False
        self._started_at = time.monotonic()
        self._cpu_sample = None
        self.watchdog.reset()
        log.info("Voilà started (pid %s) as %s on 127.0.0.1:%s", self.proc.pid, self.run_as.name,
                 self.cfg.voila_port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def probe(self, timeout: float | None = None) -> bool:
        """Does Voilà answer? (``ready``; see ``watch``)"""
        from tornado import httpclient

        if not self.running:
            self.ready = False
            return False
        if self._probe_client is None:
            # not the gateway's shared client: probes must not queue behind people's requests
            self._probe_client = httpclient.AsyncHTTPClient(force_instance=True, max_clients=2,
                                                             resolver=AddressResolver())
        timeout = timeout or self.cfg.watchdog_probe_timeout
        try:
            await self._probe_client.fetch(f"{self.cfg.voila_url}/voila/static/voila.js", method="HEAD",
                                           request_timeout=timeout, connect_timeout=min(timeout, 2))
            self.ready = True
        except Exception:  # noqa: BLE001 - starting up, or hanging
            self.ready = False
        if self.ready:
            self._answered = True
        return self.ready

    async def watch(self) -> None:
        """Periodic task of the gateway (every second): restart a dead Voilà; until Voilà
        answers after a start, probe it every second (``ready``); then, every
        ``watchdog_interval`` seconds, probe it and measure it (the watchdog)."""
        if self._stopping or self.gave_up or self.proc is None:
            return
        if not self.running:
            self.poll()
            return
        now = time.monotonic()
        starting = not self._answered and now - self._started_at < self.cfg.watchdog_start_grace
        if starting:
            await self.probe(timeout=min(2.0, self.cfg.watchdog_probe_timeout))
            return
        if now - self._last_tidy > 600:
            self._last_tidy = now
            tidy_tmp(self.cfg.voila_state_dir / "tmp")
        if now - self._last_check < self.cfg.watchdog_interval:
            return
        self._last_check = now
        answered = await self.probe()
        if not self.running:
            return  # died meanwhile: poll() restarts it next time
        # /proc of Voilà and every kernel: read beside the gateway's event loop
        cpu, memory = await asyncio.get_running_loop().run_in_executor(None, self.measure)
        if not self.running:
            return
        reason = self.watchdog.judge(answered, cpu, memory)
        if reason:
            self.restart(reason)

    def measure(self) -> tuple[float | None, int | None]:
        """Voilà's CPU use since the last measurement (percent of one CPU) and the memory of
        Voilà and its kernels (bytes)."""
        pid = self.proc.pid
        now, used = time.monotonic(), cpu_seconds(pid)
        cpu = None
        if used is not None and self._cpu_sample is not None and now > self._cpu_sample[0]:
            cpu = 100.0 * (used - self._cpu_sample[1]) / (now - self._cpu_sample[0])
        self._cpu_sample = (now, used) if used is not None else None
        memory = memory_bytes([pid, *descendants(pid)]) if self.cfg.memory_limit_bytes is not None else None
        return cpu, memory

    def restart(self, reason: str) -> None:
        """Kill Voilà and its kernels (it may not react to SIGTERM any more) and start it
        again, unless it was restarted too often already."""
        pid = self.proc.pid
        log.error("Voilà (pid %s) %s: killing it and its kernels, starting it again", pid, reason)
        self.last_restart_reason = reason
        self.ready = False
        kill_tree(pid)  # Voilà's whole session first, so that it cannot start new kernels
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            log.error("Voilà (pid %s) did not end after SIGKILL", pid)
        kill_all(service_kernels(self.cfg))
        self._restart_or_give_up()

    def poll(self) -> None:
        """Restart Voilà if it died."""
        if self._stopping or self.proc is None or self.proc.poll() is None or self.gave_up:
            return
        self.ready = False
        log.warning("Voilà exited with %s; restarting", self.proc.returncode)
        self.last_restart_reason = f"exited with {self.proc.returncode}"
        kill_all(service_kernels(self.cfg))  # its kernels would run on without it
        self._restart_or_give_up()

    def _restart_or_give_up(self) -> None:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW]
        if len(self._restarts) >= MAX_RESTARTS:
            log.error("Voilà was restarted %d times within %d s; not restarting (see %s)",
                      MAX_RESTARTS, RESTART_WINDOW, self.cfg.voila_log)
            self.gave_up = True
            return
        self._restarts.append(now)
        self.start()
        if self.on_restart is not None:
            self.on_restart()

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM lets Voilà shut its kernels down; the whole session and its kernels go if it hangs
            if not terminate(self.proc.pid, timeout, tree=True):
                log.warning("Voilà did not stop within %s s; killed it and its kernels", timeout)
            self.proc.poll()
        kill_all(service_kernels(self.cfg))
        voila_pidfile(self.cfg).remove()
