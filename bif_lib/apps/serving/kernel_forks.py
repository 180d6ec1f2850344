"""App kernels forked from a warm process instead of started from scratch.

Starting an app kernel costs about 1.3 CPU-seconds, and about 1 s of that is importing the
same modules every time (ipykernel, pandas, matplotlib, geopandas, bif_lib's app views).
When many planners open apps at once, those imports are what everybody waits for. The
*kernel fork server* imports them once; each kernel is then a ``fork()`` of it that starts
ipykernel with its connection file, so only the notebook's own work remains (and the
imported modules' memory is shared copy-on-write between all kernels).

Two parts, one file (this module is loaded by path in Voilà's process, see voila_server.py,
and started as a script for the server; it never imports bif_lib at module level):

* ``serve()`` — the fork server, run as the app account with the kernels' filtered
  environment (``python kernel_forks.py SOCKET [--nice=N] MODULE ...``). It gives way on the
  CPU (``give_way``: all kernels together weigh one share of nice N), preloads the modules,
  listens on a Unix socket in a private (0700) directory and answers each request
  (``{"argv", "env", "cwd"}``, one JSON line) with a pidfd of the forked kernel, passed over
  the socket (SCM_RIGHTS), so the caller holds a handle that cannot point to a reused pid.
  The server dies with its parent (``PR_SET_PDEATHSIG``) and reaps its children.
* ``ForkedKernelProvisioner`` — jupyter_client's ``LocalProvisioner`` whose ``process`` is a
  ``ForkedProcess`` (poll, wait, signals through the pidfd) instead of a ``Popen``. A command
  that is not ``<python> -m ipykernel_launcher ...`` of the server's own interpreter, or a
  server that does not answer, falls back to the ordinary start: forking is an optimisation,
  never a condition.

Why not an existing package: jupyter_client has no fork-based provisioner, and the known
projects (e.g. ``jupyter-forkserver``) are unmaintained and start kernels as children of the
notebook server's own process, which here would copy Voilà (and its token) into every kernel.

What a fork must not inherit, and how it is avoided: the server never creates a ZeroMQ
context or a thread before forking (checked at start, OS threads included; BLAS thread pools
are limited to one thread, pyarrow's jemalloc runs without its background thread), each child
leads a process group of its own (``setpgid``; signals reach the kernel and what it started),
closes the server's sockets, restores default signal handlers, takes the request's environment and working directory, and reseeds
``random`` and numpy.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

KERNEL_MODULE = "ipykernel_launcher"
REQUEST_TIMEOUT = 10.0  # seconds to wait for a forked kernel's pidfd; then the ordinary start
MAX_REQUEST = 1 << 20  # bytes of one request (a kernel's environment and command line)
READY_WAIT = 20.0  # seconds a kernel start waits for a fork server that is still importing
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


# --- the server ----------------------------------------------------------------------------

def _prctl(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def give_way(nice: int) -> str | None:
    """Lower the CPU priority of this process and of everything forked from it to ``nice``;
    a German description of what failed, or None.

    Two values: the process's own nice value (inherited by every fork), which counts against
    the other processes of its session; and, where the scheduler groups processes by session
    (autogroups, ``/proc/sys/kernel/sched_autogroup_enabled``), the nice value of the session's
    group, which is what counts against other sessions (Voilà, the proxy, the hub). Only a
    lower priority is asked for, which needs no privilege. Must run before the process is made
    non-dumpable: then its /proc files belong to root and ``/proc/self/autogroup`` cannot be
    written any more."""
    if nice <= 0:
        return None
    try:
        os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
    except OSError as error:
        return f"nice {nice}: {error}"
    from bif_lib.processes import autogroups, session_nice  # (not at module level: see above)

    return session_nice(nice) if autogroups() else None


def _reap(*_args) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _expand(modules: list[str]) -> list[str]:
    """``package.*`` stands for the package's modules (found without importing them)."""
    import importlib.util
    import pkgutil

    names = []
    for name in modules:
        if not name.endswith(".*"):
            names.append(name)
            continue
        package = name[:-2]
        spec = importlib.util.find_spec(package)
        names.append(package)
        if spec is not None and spec.submodule_search_locations:
            names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    return names


def _preload(modules: list[str]) -> list[str]:
    """Import ``modules``; the names that failed (an app that lacks one still starts)."""
    import importlib

    failed = []
    for name in _expand(modules):
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - a module that fails is not preloaded, that is all
            print(f"bif-kernel-forks: {name} nicht vorab geladen: {error}", file=sys.stderr, flush=True)
            failed.append(name)
    return failed


def _fork_safe() -> str | None:
    """Why forking would be unsafe now (a second thread, also one started by a C library, or
    a ZeroMQ context), or None."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        threads = threading.active_count()
    if threads > 1:
        return f"{threads} Threads"
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        return "ein ZeroMQ-Kontext"
    return None


def _run_kernel(listener: socket.socket, conn: socket.socket, request: dict, titled: int) -> None:
    """In the forked child: become the kernel of ``request``; never returns."""
    code = 1
    try:
        try:
            # /proc/<pid>/cmdline as if started normally: tools (and the apps service's
            # leftover search) find a kernel by its connection file there. The server answers
            # only when this is done (``titled``).
            import setproctitle

            setproctitle.setproctitle(" ".join(request["argv"]))
        except ImportError:
            pass
        # A process group of its own, not a session: all kernels stay in the fork server's
        # session, and so in one autogroup of the kernel's scheduler (a session is one). With a
        # session each, one person's 5 kernels weighed as much CPU as 5 Voilàs; now all app
        # kernels together weigh as one, and nice values (prepared answers at the lowest
        # priority) count against the other kernels. Before the server answers (``titled``):
        # from then on its caller may signal the group.
        os.setpgid(0, 0)
        os.write(titled, b"1")
        os.close(titled)
        listener.close()
        conn.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        env = dict(request["env"])
        env["JPY_PARENT_PID"] = str(os.getppid())
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request.get("cwd") or "/")
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        # after "<python> -m ipykernel_launcher"; ipykernel read $JPY_PARENT_PID when the server
        # imported it, so the parent is given again: the kernel ends itself when the server goes
        args = [*list(request["argv"])[3:], f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = [KERNEL_MODULE, *args]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(args)
        _register_with_the_kernel()
        app.start()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - the kernel's own failure, reported like a crashed process
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _register_with_the_kernel() -> None:
    """What preloaded modules do when they are imported inside a kernel, done now that there
    is one: ipywidgets registers its comm targets (``jupyter.widget``, and
    ``jupyter.widget.control``, over which a page gets all widget states in one message)."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        widgets.register_comm_target()


def _answer(listener: socket.socket, conn: socket.socket) -> None:
    with conn:
        conn.settimeout(REQUEST_TIMEOUT)
        with conn.makefile("rb") as lines:
            data = lines.readline(MAX_REQUEST)
        if not data.endswith(b"\n"):
            return  # the caller gave up, or sent more than a request may hold
        request = json.loads(data)
        titled_r, titled_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(titled_r)
            _run_kernel(listener, conn, request, titled_w)
        os.close(titled_w)
        try:
            ready, _, _ = select.select([titled_r], [], [], 5)
            if ready:
                os.read(titled_r, 1)
        finally:
            os.close(titled_r)
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
        finally:
            os.close(pidfd)


def serve(socket_path: str, modules: list[str], nice: int = 0) -> int:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    problem = give_way(nice)
    if problem:
        print(f"bif-kernel-forks: CPU-Vorrang nicht gesenkt ({problem})", file=sys.stderr, flush=True)
    # Kernels inherit this across fork (an exec would reset it): one planner's kernel cannot
    # read another's memory or environment (/proc/<pid>/mem, environ; ptrace), although all
    # run under the app account.
    if not _prctl(_PR_SET_DUMPABLE, 0):
        print("bif-kernel-forks: PR_SET_DUMPABLE fehlgeschlagen", file=sys.stderr, flush=True)
    # libraries that start threads on import (a fork keeps only the calling thread): the BLAS
    # thread pools, and the background thread of pyarrow's jemalloc
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")
    # what ipykernel sets before the kernel imports matplotlib; here matplotlib is imported first
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    started = time.monotonic()
    failed = _preload(["ipykernel.kernelapp", "setproctitle", *modules])
    unsafe = _fork_safe()
    if unsafe:
        print(f"bif-kernel-forks: nach dem Vorladen läuft {unsafe}; Kernel werden normal gestartet",
              file=sys.stderr, flush=True)
        return 3
    # Everything imported so far is shared with the kernels until one of them writes to its
    # page. The garbage collector would write to every object it looks at (copying all of it
    # into every kernel at its first full collection): keep it away from these objects.
    import gc

    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    print(f"bif-kernel-forks: bereit in {time.monotonic() - started:.2f} s "
          f"({len(failed)} Module nicht geladen)", file=sys.stderr, flush=True)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        try:
            _answer(listener, conn)
        except (OSError, ValueError, KeyError) as error:
            print(f"bif-kernel-forks: Anfrage abgelehnt: {error}", file=sys.stderr, flush=True)


# --- Voilà's side --------------------------------------------------------------------------

class ForkedProcess:
    """What jupyter_client's ``LocalProvisioner`` uses of a ``Popen``, for a forked kernel that
    is not a child of this process: its pidfd answers whether it runs and takes signals."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int):
        self.pid = pid
        self._pidfd = pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            poller = select.poll()
            poller.register(self._pidfd, select.POLLIN)
            if poller.poll(0):  # readable: the process has ended (its exit code is its parent's)
                self.returncode = -1
                self._close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                import subprocess

                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is not None:
            return
        try:
            signal.pidfd_send_signal(self._pidfd, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self):
        self._close()


class ForkServer:
    """Starts the fork server (lazily, once per Voilà) and asks it for kernels."""

    def __init__(self, modules: list[str], directory: Path, log=None, nice: int = 0):
        self.modules = list(modules)
        self.nice = nice
        self.directory = Path(directory)
        self.socket_path = self.directory / "forks.sock"
        self.log = log
        self.process = None
        self._failed_at = 0.0

    def start(self, env: dict) -> None:
        import subprocess

        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.socket_path), f"--nice={self.nice}",
             *self.modules],
            env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        return self.running() and self.socket_path.exists()

    async def ensure(self, env: dict, wait: float = READY_WAIT) -> bool:
        """Start the server if it is not running (at most every 30 s after a failure); True
        if it answers. A server that is still importing is waited for up to ``wait`` seconds:
        the first kernels of the pools start at the same time, and waiting for the imports
        once is cheaper than doing them in every kernel."""
        if not self.running() and time.monotonic() - self._failed_at > 30:
            if self.process is not None and self.log:
                self.log.warning("kernel fork server ended (%s); starting it again", self.process.returncode)
            self._failed_at = time.monotonic()
            self.start(env)
        deadline = time.monotonic() + wait
        while self.running() and not self.ready() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.ready()

    async def fork(self, argv: list[str], env: dict, cwd: str | None) -> ForkedProcess:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(None, self._fork, argv, env, cwd), REQUEST_TIMEOUT)

    def _fork(self, argv: list[str], env: dict, cwd: str | None) -> ForkedProcess:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REQUEST_TIMEOUT)
            conn.connect(str(self.socket_path))
            conn.sendall(json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode() + b"\n")
            message, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            if not fds:
                raise OSError("der Fork-Server hat keinen Kernel gestartet")
            return ForkedProcess(json.loads(message)["pid"], fds[0])

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(5)
            except Exception:  # noqa: BLE001 - it is killed then
                self.process.kill()
        self.socket_path.unlink(missing_ok=True)


def forkable(argv: list[str]) -> bool:
    """A kernel command the fork server can run: this interpreter, ``-m ipykernel_launcher``."""
    return (len(argv) >= 3 and argv[1:3] == ["-m", KERNEL_MODULE]
            and os.path.realpath(argv[0]) == os.path.realpath(sys.executable))


def provisioner_class():
    """``ForkedKernelProvisioner``, defined on first use (jupyter_client is imported then)."""
    from jupyter_client.provisioning import LocalProvisioner

    class ForkedKernelProvisioner(LocalProvisioner):
        fork_server: ForkServer | None = None  # set by Voilà's kernel manager

        async def launch_kernel(self, cmd, **kwargs):
            server = type(self).fork_server
            env = kwargs.get("env") or dict(os.environ)
            if server is not None and forkable(cmd) and await server.ensure(env):
                try:
                    self.process = await server.fork(cmd, env, kwargs.get("cwd"))
                except (OSError, ValueError, KeyError, TimeoutError) as error:
                    self.log.warning("kernel fork failed (%s); starting the kernel normally", error)
                else:
                    self.pid = self.pgid = self.process.pid  # the child leads its own process group
                    self.cwd = kwargs.get("cwd")
                    return self.connection_info
            return await super().launch_kernel(cmd, **kwargs)

    return ForkedKernelProvisioner


if __name__ == "__main__":
    # started by path: keep this folder off sys.path (its module names could shadow others)
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    options = [a for a in sys.argv[2:] if a.startswith("--nice=")]
    sys.exit(serve(sys.argv[1], [a for a in sys.argv[2:] if a not in options],
                   int(options[-1].split("=", 1)[1]) if options else 0))
