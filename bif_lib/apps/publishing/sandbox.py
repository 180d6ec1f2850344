"""The sandbox a notebook runs in while ``bif publish`` checks it.

A notebook under check is untrusted code. It must not reach the planners' live app kernels
(service account ``bif-apps``), nor read more data than the app will be allowed to read.
As root, ``execute.py`` therefore runs the check like this:

* under an account of its own, the *sandbox account* (``bif-publish``, created by
  ``bif_lib.platform.accounts.ensure_sandbox_account``; in no data group in /etc/group);
  its supplementary groups are set per run: none for an open app, the internal data group
  for an internal app, the confidential group never. What the app may read is decided by
  the operating system: a read of data above the app's classification fails;
* in new PID, mount, network and IPC namespaces (``unshare``): it sees only its own
  processes (no ``/proc/*/environ`` of other accounts), has only its own loopback (no hub
  API, no Voilà, no kernel ports, no other host), private empty ``/tmp``, ``/var/tmp`` and
  ``/dev/shm``; the live apps' state (``apps-runtime``), ``run/``, ``logs/`` and the hub's
  state are covered by empty read-only directories, the store is visible read-only;
* with a fresh 0700 work directory (HOME, IPYTHONDIR, JUPYTER_* dirs), removed afterwards;
* one check at a time per sandbox account (a lock), and afterwards no process of the
  sandbox account may remain: when the first process of the PID namespace ends (or is
  killed on timeout), the kernel kills every other one; leftovers would refuse the check.

This module is also the root-side launcher: ``unshare`` runs it by path (``python -I
sandbox.py --init CONFIG``) as PID 1 of the new namespaces, where it brings up loopback,
mounts the private directories, then forks the notebook runner, which drops privileges
(setgroups/setgid/setuid, ``PR_SET_NO_NEW_PRIVS``) and execs ``_run_notebook.py``. The
launcher stays PID 1, reaps orphans, and exits with the runner's status. For that reason
the module imports only the standard library at the top.

Without root there is no sandbox (single-account mode): the check runs as the current
user, as before, and the publisher is told so.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from bif_lib.apps.config import AppsConfig

log = logging.getLogger("bif.apps.sandbox")

LAUNCHER = Path(__file__).resolve()
# where the work directory appears inside the sandbox (on its private /tmp)
INNER_WORK = "/tmp/bif-publish"
# private, empty, in memory: sizes bound what a notebook can put there
PRIVATE_TMP = {"/tmp": "512m", "/var/tmp": "128m", "/dev/shm": "256m"}
FAILURE_MARKER = "BIF-SANDBOX-FEHLER:"
SETUP_FAILED = 125  # exit status of the launcher when the sandbox could not be set up
# processes (and threads) the sandbox account may have at once: a fork bomb ends here
NPROC_LIMIT = 1024
LOCK_DIR = Path("/run")

NO_SANDBOX_NOTE = (
    "Ohne Root-Rechte ist keine abgeschottete Prüfumgebung möglich (Einzelkonto-Modus): das Notebook "
    "wurde unter dem aktuellen Konto geprüft und konnte alles lesen, was dieses Konto lesen darf.")
NO_SANDBOX_LOG = (
    NO_SANDBOX_NOTE + " / Not root: no publication sandbox; the notebook was checked as the current user.")


class SandboxError(RuntimeError):
    """The sandbox cannot be used (message in German, for the publisher)."""


@dataclass(frozen=True)
class Sandbox:
    """Who a publication check runs as and what it may see (see module docstring)."""

    account: str
    uid: int
    gid: int
    groups: tuple[int, ...]           # supplementary groups of this run, exactly
    forbidden_groups: tuple[int, ...]  # never given (the confidential group, root)
    classification: str                # "open" or "internal": what the app may read
    readonly: tuple[str, ...] = ()     # host paths visible read-only at the same place
    masked: tuple[str, ...] = ()       # host directories covered by an empty read-only one

    def launcher_config(self, host_work: Path, child: list[str]) -> dict:
        return {**asdict(self), "host_work": str(host_work), "inner_work": INNER_WORK, "child": child,
                "nproc": NPROC_LIMIT}

    def command(self, host_work: Path, child: list[str]) -> list[str]:
        """The ``unshare`` command line that runs ``child`` (argv, paths as seen inside)."""
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        return [unshare, "--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--ipc",
                "--propagation", "private",
                sys.executable, "-I", str(LAUNCHER), "--init",
                json.dumps(self.launcher_config(host_work, child))]

    @property
    def lock_file(self) -> Path:
        return LOCK_DIR / f"bif-publish-{self.account}.lock"


def available() -> bool:
    """Can publication checks run in the sandbox here (root on Linux)?"""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def sandbox_for(cfg: "AppsConfig", classification: str, *, create: bool = True) -> Sandbox:
    """The sandbox for checking an app of ``classification`` ("open" or "internal"); root only.

    Creates the sandbox account if needed and refuses unsafe set-ups (German messages).
    """
    import grp
    import pwd

    if classification not in ("open", "internal"):
        raise SandboxError(f"Apps der Einstufung {classification!r} werden nicht geprüft.")
    if not available():
        raise SandboxError("Die abgeschottete Prüfumgebung braucht Linux und Root-Rechte.")
    if not (shutil.which("unshare") or os.path.exists("/usr/bin/unshare")):
        raise SandboxError("Die abgeschottete Prüfumgebung braucht das Programm unshare (util-linux).")
    from bif_lib.apps.account import _SettingsShim
    from bif_lib.platform import accounts

    settings = _SettingsShim({"apps": {"os_user": cfg.os_user},
                              "accounts": {"internal_group": cfg.internal_group,
                                           "confidential_group": cfg.confidential_group}}, cfg.home)
    name = accounts.sandbox_account_name(settings)
    try:
        if create:
            accounts.ensure_sandbox_account(settings)
        entry = pwd.getpwnam(name)
        accounts.check_environment_access()
    except KeyError:
        raise SandboxError(f"Das Prüfkonto {name!r} existiert nicht.") from None
    except accounts.AccountError as e:
        raise SandboxError(str(e)) from None
    try:
        confidential = grp.getgrnam(cfg.confidential_group).gr_gid
        internal = grp.getgrnam(cfg.internal_group).gr_gid
    except KeyError as e:
        raise SandboxError(f"Die Datengruppe {e.args[0]!r} fehlt.") from None
    service_uid = _uid_of(cfg.os_user)
    if entry.pw_uid == 0 or entry.pw_gid in (0, confidential) or entry.pw_uid == service_uid:
        raise SandboxError(f"Das Prüfkonto {name!r} ist root, in der vertraulichen Datengruppe oder das "
                           "Konto der App-Kernel; so wird nicht geprüft.")
    if confidential in os.getgrouplist(name, entry.pw_gid):
        # defence in depth: the run's groups are set explicitly anyway
        raise SandboxError(f"Das Prüfkonto {name!r} ist Mitglied von {cfg.confidential_group!r}; so wird "
                           "nicht geprüft.")
    home = Path(cfg.home)
    store = Path(cfg.store or home / "store")
    masked = [cfg.voila_state_dir, cfg.run_dir, cfg.logs_dir, home / "hub"]
    return Sandbox(
        account=name, uid=entry.pw_uid, gid=entry.pw_gid,
        groups=(internal,) if classification == "internal" else (),
        forbidden_groups=(confidential, 0), classification=classification,
        readonly=tuple(str(p) for p in (store,)), masked=tuple(str(p) for p in masked))


def _uid_of(name: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


@contextlib.contextmanager
def exclusive(box: Sandbox):
    """One check at a time per sandbox account, machine-wide: only then does "no process of
    the sandbox account remains" say something about this run. The lock file is removed
    while still locked; a waiter that then holds a lock on the removed file tries again."""
    while True:
        fd = os.open(box.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another publication check (sandbox account %s)", box.account)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(box.lock_file, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(box.lock_file)
        os.close(fd)


def end_leftovers(uid: int, grace: float = 5.0) -> list[tuple[int, str]]:
    """Processes of ``uid`` (pid, command) still alive ``grace`` seconds after a run (they
    should not exist: the PID namespace is gone). They are killed; the list says what was found."""
    from bif_lib import processes  # not at the top: run by path as the launcher, stdlib only

    deadline = time.monotonic() + grace
    found = processes.matching(uid=uid)
    while found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = processes.matching(uid=uid)
    processes.kill_all(pid for pid, _ in found)
    return [(pid, command[:120]) for pid, command in found]


def setup_failure(stderr: str) -> str | None:
    """The German reason when the sandbox itself could not be set up, from the launcher's
    (or unshare's) error output; None if the sandbox was set up."""
    for line in stderr.splitlines():
        if line.startswith(FAILURE_MARKER):
            return line[len(FAILURE_MARKER):].strip()
        if line.startswith("unshare:"):
            return f"Namensräume konnten nicht angelegt werden ({line.strip()})."
    return None


# --- the launcher: runs as root, as PID 1 of the new namespaces ----------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                ctypes.c_char_p]
    return _libc


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    if _c().mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _loopback_up() -> None:
    """``ip link set lo up`` without iproute2: nbclient talks to its kernel over 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bind(fd: int, target: str, flags: int) -> None:
    os.makedirs(target, mode=0o755, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def _prepare(config: dict) -> None:
    """Inside the new namespaces, still root: network, private directories, masks."""
    if os.getpid() != 1:
        raise RuntimeError("kein eigener PID-Namensraum")
    os.umask(0o022)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _loopback_up()
    # open what must stay reachable before the private /tmp etc. cover it
    work_fd = os.open(config["host_work"], os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    readonly = []
    for path in config["readonly"]:
        with contextlib.suppress(FileNotFoundError):
            readonly.append((path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    for path, size in PRIVATE_TMP.items():
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
    for path, fd in readonly:
        _bind(fd, path, MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    _bind(work_fd, config["inner_work"], MS_NOSUID | MS_NODEV)
    os.close(work_fd)
    keep = [config["inner_work"], *config["readonly"]]
    for path in config["masked"]:
        if os.path.isdir(path) and not any(_under(k, path) for k in keep):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k")


def _become_sandbox(config: dict) -> None:
    """In the forked runner: the sandbox account with exactly the run's groups, for good."""
    import resource

    uid, gid, groups = int(config["uid"]), int(config["gid"]), [int(g) for g in config["groups"]]
    forbidden = {int(g) for g in config["forbidden_groups"]}
    if uid == 0 or forbidden & {gid, *groups}:
        raise RuntimeError("unzulässige Kennung für die Prüfung")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (int(config["nproc"]), int(config["nproc"])))
    if _c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) \
            or set(os.getgroups()) - {gid} != set(groups):
        raise RuntimeError("Rechte konnten nicht abgegeben werden")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RuntimeError("Rechte konnten nicht abgegeben werden (root wieder erreichbar)")
    os.chdir(config["inner_work"])
    os.umask(0o077)


def _launch(config: dict) -> int:
    try:
        _prepare(config)
    except Exception as e:  # noqa: BLE001 - reported to the publisher
        print(f"{FAILURE_MARKER} Die abgeschottete Prüfumgebung ließ sich nicht einrichten: {e}",
              file=sys.stderr, flush=True)
        return SETUP_FAILED

    def stop(signum, frame):  # PID 1 gets no default handlers; ending it ends the namespace
        os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    runner = os.fork()
    if runner == 0:
        try:
            _become_sandbox(config)
            child = config["child"]
            os.execve(child[0], child, dict(os.environ))
        except BaseException as e:  # noqa: BLE001
            try:
                print(f"{FAILURE_MARKER} Die Prüfung konnte nicht gestartet werden: {e}", file=sys.stderr,
                      flush=True)
            finally:
                os._exit(SETUP_FAILED)
    # PID 1: reap every orphan until the runner ends; then the namespace goes with us
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return SETUP_FAILED
        except InterruptedError:
            continue
        if pid == runner:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--init":
        print("usage: sandbox.py --init CONFIG_JSON (started by bif publish through unshare)", file=sys.stderr)
        return 2
    return _launch(json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
