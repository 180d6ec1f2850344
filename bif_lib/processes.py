"""Background processes of one BIF installation: start, find, check and stop them.

Used by the launcher (proxy, hub, audit service), the apps service's daemon (its gateway)
and the gateway's supervisor (Voilà and its kernels); like ``fsutil`` it sits below both
``apps`` and ``platform``. A background process runs in a session
of its own (it outlives the command that started it), appends to its log and is recorded in
a pid file in ``$BIF_HOME/run``. A pid file outlives its process and pids are reused, so a
process is only taken for ours while it is alive (not a zombie) and its command line
contains a marker (``PidFile.running``); ``bif platform status`` also checks its working
directory, to tell this installation's processes from another one's (``PidFile.check``).

Processes without a pid file (orphaned app kernels, leftovers of the publish sandbox's
account) are found by command line and uid with ``matching`` and killed with ``kill_all``.

Stopping is SIGTERM, a wait, then SIGKILL (``terminate``); with ``tree`` the SIGKILL also
takes the process's descendants, listed before the kill: Voilà's kernels run in sessions of
their own and would otherwise run on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bif_lib.fsutil import write_private

_CLK_TCK = os.sysconf("SC_CLK_TCK")
KILL_WAIT = 5.0  # how long to wait for a process to vanish after SIGKILL
EXEC_WAIT = 1.0  # how long an empty command line may be a process in the middle of exec


# --- /proc ------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> str | None:
    """The command line of ``pid`` (arguments joined by blanks), None if it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def alive(pid: int | None, marker: str | None = None) -> bool:
    """Is ``pid`` running (a zombie is not) and, with ``marker``, is it in its command line?"""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another account's process: it exists
    fields = _stat(pid)
    if fields is not None and fields[0] == "Z":
        return False  # exited, not yet reaped
    if marker is None:
        return True
    line = cmdline(pid)
    deadline = time.monotonic() + EXEC_WAIT
    while line == "" and time.monotonic() < deadline:
        # Mid-exec: the kernel closes the caller's pipe (Popen returns) before it sets up the
        # new program's arguments, so a just-started process shows an empty command line for
        # a moment. (A kernel thread's stays empty: not ours.)
        time.sleep(0.005)
        line = cmdline(pid)
    return line is not None and marker in line  # else a recycled pid, not ours


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    return children_map().get(pid, [])


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """All processes below ``pid`` (children, grandchildren, ...); ``tree`` from
    ``children_map()`` when the caller looks below many processes at once."""
    tree = children_map() if tree is None else tree
    found, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def children_map() -> dict[int, list[int]]:
    """ppid -> child pids of every process (one pass over /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        with contextlib.suppress(TypeError, IndexError, ValueError):
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _uids(pid: int) -> set[int]:
    """Real, effective, saved and filesystem uid of ``pid`` (empty if it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(errors="replace").splitlines():
            if line.startswith("Uid:"):
                return {int(u) for u in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def matching(*, uid: int | None = None, cmdline_contains: str | None = None) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes (not zombies) that have ``uid`` as real,
    effective, saved or filesystem uid and whose command line contains ``cmdline_contains``
    (arguments joined by blanks); the calling process is never among them."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        line = cmdline(pid)
        if line is None or (cmdline_contains is not None and cmdline_contains not in line):
            continue
        if uid is not None and uid not in _uids(pid):
            continue
        fields = _stat(pid)
        if fields is None or fields[0] == "Z":
            continue  # gone meanwhile, or exited and not yet reaped
        found.append((pid, line.strip()))
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far."""
    fields = _stat(pid)
    try:
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (TypeError, IndexError, ValueError):
        return None


def memory_bytes(pids: Iterable[int]) -> int:
    """Memory of the processes ``pids``: the sum of their PSS (shared pages counted once
    over all of them), or of their RSS where PSS cannot be read."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
    return total


# --- CPU priority of a session ------------------------------------------------------------------

AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroups() -> bool:
    """Whether the Linux scheduler shares the CPU among sessions first (autogroups): then each
    session (every background service here starts one) weighs as one process would, however
    many threads and children it has, and its weight is the session's nice value."""
    try:
        return AUTOGROUP_SWITCH.read_text().strip() == "1"
    except OSError:
        return False


CAP_SYS_NICE = 23  # linux/capability.h


def may_raise_priority() -> bool:
    """Whether this process may give a session more than the ordinary weight (a negative nice
    value): it needs CAP_SYS_NICE, which root has unless a container withholds it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def session_nice(nice: int, pid: int | str = "self") -> str | None:
    """Give the session of ``pid`` (its autogroup) the nice value ``nice``; a German description
    of what failed, or None. A negative value, a larger share than other sessions', needs root
    (CAP_SYS_NICE); a positive one needs no privilege. A session that a child of it starts
    (``spawn``) has a group of its own, at nice 0: the value is not inherited. Autogroups apply
    to processes in the root CPU cgroup; under systemd with the CPU controller a unit's
    ``CPUWeight`` plays this part (docs/platform.md)."""
    if not autogroups():
        return f"keine Autogroups ({AUTOGROUP_SWITCH} ist nicht 1)"
    if nice < 0 and not may_raise_priority():
        return f"nice {nice} braucht root (CAP_SYS_NICE)"
    for _ in range(30):  # the kernel takes one autogroup change per 100 ms, machine-wide
        try:
            fd = os.open(f"/proc/{pid}/autogroup", os.O_WRONLY)
            try:
                os.write(fd, str(nice).encode())
            finally:
                os.close(fd)
            return None
        except OSError as error:
            if error.errno != errno.EAGAIN:
                return f"Autogroup nice {nice}: {error.strerror}"
            time.sleep(0.1)
    return f"Autogroup nice {nice}: immer wieder EAGAIN"


# --- signals ----------------------------------------------------------------------------------

def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids`` that still exists and may be signalled."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` (its whole process group if it leads one, so that it cannot start
    anything new) and every process below it (listed before the kill)."""
    below = descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    kill_all(below)


def _gone(pid: int, marker: str | None) -> bool:
    with contextlib.suppress(ChildProcessError):  # reap it if it is our child
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    if not alive(pid):
        return True
    if marker is None:
        return False
    line = cmdline(pid)
    # an exiting process loses its command line before it is a zombie: not gone yet
    return bool(line) and marker not in line  # a recycled pid: ours is gone


def _wait_gone(pid: int, timeout: float, marker: str | None) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid, marker):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pid: int, timeout: float = 20.0, marker: str | None = None, *, tree: bool = False) -> bool:
    """Stop ``pid``: SIGTERM, wait up to ``timeout`` seconds (reaping it if it is our child),
    then SIGKILL — with ``tree`` also its process group and descendants (``kill_tree``).
    With ``marker``, a process whose command line lacks it counts as gone (a reused pid is
    never killed). True if it ended on SIGTERM. Not allowed to signal it: ``PermissionError``."""
    if pid <= 0:
        raise ValueError(f"keine Prozessnummer: {pid}")  # kill(-1) would signal every process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout, marker):
        return True
    if tree:
        kill_tree(pid)
    else:
        kill_all([pid])
    _wait_gone(pid, KILL_WAIT, marker)
    return False


# --- pid files and starting ---------------------------------------------------------------------

def read_pid(path: Path) -> int | None:
    """The pid recorded in ``path`` (None: no file or no pid in it; ``PermissionError`` propagates)."""
    try:
        pid = int(Path(path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid > 0 else None


@dataclass(frozen=True)
class PidFile:
    """The pid file of a background process and the marker that identifies the process."""

    path: Path
    marker: str  # part of /proc/<pid>/cmdline

    @property
    def name(self) -> str:
        return self.path.stem

    def read(self) -> int | None:
        return read_pid(self.path)

    def write(self, pid: int) -> None:
        write_private(self.path, f"{pid}\n", durable=False)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def running(self) -> int | None:
        """The recorded pid if that process is alive and ours, else None."""
        pid = self.read()
        return pid if alive(pid, self.marker) else None

    def stop(self, timeout: float = 20.0, *, tree: bool = False) -> int | None:
        """Terminate the process if it runs (see ``terminate``) and remove the pid file;
        returns the pid that was stopped."""
        pid = self.running()
        if pid is not None:
            terminate(pid, timeout, self.marker, tree=tree)
        self.remove()
        return pid

    def check(self, cwd: Path) -> tuple[int | None, str]:
        """(pid, "") if the recorded process runs, is ours and works in ``cwd`` — the
        directory this installation starts it in; else (None, the reason in German)."""
        try:
            pid = self.read()
        except PermissionError:
            return None, f"pid-Datei {self.path} nicht lesbar (als Betreiberkonto/root aufrufen)"
        if pid is None:
            return None, (f"pid-Datei {self.path} ist unlesbar (keine gültige pid)" if self.path.exists()
                          else "keine pid-Datei")
        if not alive(pid, self.marker):
            return None, f"pid {pid} aus der pid-Datei läuft nicht (mehr) oder ist kein {self.name}-Prozess"
        try:
            actual = Path(f"/proc/{pid}/cwd").resolve(strict=True)
        except (FileNotFoundError, ProcessLookupError):
            return None, f"pid {pid} läuft nicht mehr"
        except PermissionError:
            return None, f"pid {pid} nicht prüfbar (keine Rechte; als Betreiberkonto/root aufrufen)"
        if actual != Path(cwd).resolve():
            return None, f"pid {pid} gehört zu einer anderen Installation (Arbeitsverzeichnis {actual})"
        return pid, ""


def spawn(cmd: list, *, env: dict, cwd: Path | str, log: Path | None, pidfile: PidFile | None = None,
          session: bool = True, **popen) -> subprocess.Popen:
    """Start ``cmd`` with stdin from /dev/null; stdout and stderr appended to ``log`` (after a
    line with the time and the command) or, without a log, the caller's. ``session``: in a
    session of its own, so it outlives the caller and its terminal. Records the pid in
    ``pidfile``. ``popen``: more arguments for ``subprocess.Popen`` (``pass_fds``, ``user``)."""
    cmd = [str(c) for c in cmd]
    out = None
    if log is not None:
        out = open(log, "ab", buffering=0)
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if out is not None else None,
                                cwd=cwd, env=env, start_new_session=session, **popen)
    finally:
        if out is not None:
            out.close()
    if pidfile is not None:
        pidfile.write(proc.pid)
    return proc
