"""Run a notebook headless for its publication check, and record what data it loads.

``execute_notebook`` starts ``_run_notebook.py`` (nbclient) in a child process. As root
the child runs in the publication sandbox (``sandbox.py``): an account of its own with only
the data groups the app's classification allows, in its own PID, mount, network and IPC
namespaces, so untrusted code under check cannot reach the planners' live app kernels, and
a read of data the app may not use is refused by the operating system. Without root
(single-account mode) it runs as ``run_as``, the current user, as before.

The foundation's ``bif_lib.load()`` appends one JSON line per load to ``$BIF_LOAD_TRACE``;
the trace says which datasets the app uses (for ``meta.json``, the audience and the
synthetic label), but it is written by the notebook's own process and so only informs.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from bif_lib import config as bif_config
from bif_lib.apps.account import RunAs
from bif_lib.apps.publishing import sandbox as sandboxing
from bif_lib.apps.publishing.checks import DatasetUse, parse_load_trace
from bif_lib.i18n import CLASSIFICATION_LABELS
from bif_lib.processes import kill_tree

CHILD = Path(__file__).resolve().with_name("_run_notebook.py")
# environment passed to the notebook run; everything else (tokens!) is dropped
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "BIF_CITY", "BIF_CONTRACTS", "BIF_MIRROR")
# the most the parent reads of what the child wrote (the notebook controls these files)
_LIMITS = {"output.ipynb": 256 << 20, "error.json": 1 << 20, "modules.json": 1 << 20, "loads.jsonl": 16 << 20}
_STDERR_TAIL = 64 << 10


@dataclass
class ExecutionResult:
    ok: bool
    seconds: float
    notebook: nbformat.NotebookNode | None = None
    datasets: list[DatasetUse] = field(default_factory=list)
    error: str | None = None  # German, for people
    modules: set[str] = field(default_factory=set)  # top-level modules the kernel imported
    sandboxed: bool = False  # ran in the publication sandbox


def child_env(home: str, store: str, extra: dict | None = None) -> dict:
    from bif_lib.platform.settings import catalog_env_for_readers

    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    # a PostgreSQL catalog with the readers' role only, whoever publishes (root, the scheduler)
    env.update(catalog_env_for_readers())
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update({
        "BIF_HOME": str(home), "BIF_STORE": str(store),
        # kernels must import bif_lib from this checkout even when it is not installed
        "PYTHONPATH": str(bif_config.PROJECT_ROOT),
        "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(extra or {})
    return env


def execute_notebook(notebook: nbformat.NotebookNode, *, run_as: RunAs | None = None, home: str, store: str,
                     timeout: int = 300, sandbox: sandboxing.Sandbox | None = None,
                     total_timeout: float | None = None) -> ExecutionResult:
    """Execute ``notebook`` in a scratch directory; never raises for notebook errors.

    With ``sandbox`` the run happens there (see module docstring), otherwise as ``run_as``
    (default: the current user). ``timeout`` applies to each cell; the whole run may take
    at most ``total_timeout`` (default: twice ``timeout`` plus a minute).
    """
    run_as = run_as or RunAs(name="")
    total = total_timeout if total_timeout is not None else 2 * timeout + 60
    base = Path(tempfile.mkdtemp(prefix="bif-publish-"))  # 0700, ours
    try:
        if sandbox is not None:
            # base stays root's 0700; the child sees only work, bind-mounted at INNER_WORK
            work, inner, owner = base / "work", Path(sandboxing.INNER_WORK), (sandbox.uid, sandbox.gid)
            work.mkdir(mode=0o700)
            (work / "home").mkdir(mode=0o700)
            extra = {"HOME": str(inner / "home"), "IPYTHONDIR": str(inner / "ipython"),
                     "JUPYTER_CONFIG_DIR": str(inner / "jupyter" / "config"),
                     "JUPYTER_DATA_DIR": str(inner / "jupyter" / "data"),
                     "JUPYTER_RUNTIME_DIR": str(inner / "jupyter" / "runtime"),
                     "MPLCONFIGDIR": str(inner / "mpl"), "XDG_CACHE_HOME": str(inner / "cache"),
                     "XDG_CONFIG_HOME": str(inner / "config"), "TMPDIR": "/tmp"}
        else:
            work, inner = base, base
            owner = (run_as.uid, run_as.gid) if run_as.switches else None
            extra = {"HOME": str(work), "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
                     "IPYTHONDIR": str(work / "ipython"), "MPLCONFIGDIR": str(work / "mpl")}
        os.chmod(work, 0o700)
        nbformat.write(notebook, work / "input.ipynb")
        if owner:
            for path in (work, *work.iterdir()):
                os.chown(path, *owner)
        env = child_env(home, store, {"BIF_LOAD_TRACE": str(inner / "loads.jsonl"), **extra})
        # by path and isolated (-I): the child needs nbclient only, not bif_lib or its folder on sys.path
        child = [sys.executable, "-I", str(CHILD), str(inner / "input.ipynb"), str(inner / "output.ipynb"),
                 str(inner / "error.json"), str(timeout), str(inner / "modules.json")]
        if sandbox is None:
            started = time.monotonic()
            code, stderr, timed_out = _run(child, env, work, total, run_as.popen_kwargs())
            seconds = time.monotonic() - started
            leftovers = []
        else:
            with sandboxing.exclusive(sandbox):
                started = time.monotonic()
                code, stderr, timed_out = _run(sandbox.command(work, child), env, "/", total, {})
                seconds = time.monotonic() - started
                leftovers = sandboxing.end_leftovers(sandbox.uid)
        result = _result(work, owner[0] if owner else None, code, stderr, timed_out, total, seconds, sandbox)
        if leftovers:
            # cannot happen while the PID namespace works; if it does, the check is not trusted
            listed = ", ".join(f"{cmd or '?'} (PID {pid})" for pid, cmd in leftovers[:5])
            result = ExecutionResult(False, seconds, error=(
                f"Nach der Prüfung liefen noch Prozesse des Prüfkontos {sandbox.account!r} ({listed}); sie "
                "wurden beendet. Die Veröffentlichung wird sicherheitshalber abgelehnt."), sandboxed=True)
        return result
    finally:
        _remove(base)


def _result(work: Path, owner: int | None, code: int, stderr: str, timed_out: bool, total: float,
            seconds: float, box: sandboxing.Sandbox | None) -> ExecutionResult:
    sandboxed = box is not None
    failed = sandboxing.setup_failure(stderr) if sandboxed else None
    if failed:
        return ExecutionResult(False, seconds, error=failed, sandboxed=True)
    if timed_out:
        return ExecutionResult(False, seconds, error=f"Das Notebook wurde nach {total:g} Sekunden abgebrochen.",
                               sandboxed=sandboxed)
    try:
        if code != 0:
            return ExecutionResult(False, seconds, error=_error_text(_read_result(work, "error.json", owner),
                                                                     stderr, box), sandboxed=sandboxed)
        output = _read_result(work, "output.ipynb", owner)
        if output is None:
            raise ValueError("kein Ergebnis-Notebook")
        executed = nbformat.reads(output, as_version=4)
        try:
            modules = {str(m) for m in json.loads(_read_result(work, "modules.json", owner) or "[]")}
        except (ValueError, TypeError):
            modules = set()
        datasets = parse_load_trace(_read_result(work, "loads.jsonl", owner) or "")
    except (ValueError, OSError) as e:  # a result file the notebook damaged or replaced
        return ExecutionResult(False, seconds, error=f"Das Ergebnis der Prüfung ist unbrauchbar: {e}",
                               sandboxed=sandboxed)
    return ExecutionResult(True, seconds, executed, datasets, modules=modules, sandboxed=sandboxed)


def _read_result(work: Path, name: str, owner: int | None) -> str | None:
    """A file the child wrote into ``work`` (None if it did not). This process may be root and
    the notebook controls the directory: only a regular file of the child's account, not a
    link to something else, is read, and only up to a limit."""
    try:
        fd = os.open(work / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"{name} ist keine gewöhnliche Datei ({e.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or (owner is not None and info.st_uid != owner):
            raise ValueError(f"{name} ist keine gewöhnliche Datei des Prüfkontos")
        data = fh.read(_LIMITS[name] + 1)
    if len(data) > _LIMITS[name]:
        raise ValueError(f"{name} ist größer als {_LIMITS[name] >> 20} MB")
    return data.decode("utf-8", errors="replace")


def _run(cmd: list[str], env: dict, cwd, total: float, popen_kwargs: dict) -> tuple[int, str, bool]:
    """Run ``cmd`` in its own session; on timeout kill the whole group. Returns the exit
    status, the end of stderr and whether it timed out."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, **popen_kwargs)
    tail = bytearray()

    def drain():  # keep only the end: the notebook decides how much it writes
        for chunk in iter(lambda: proc.stderr.read1(65536), b""):
            tail.extend(chunk)
            del tail[:-_STDERR_TAIL]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=total)
    except subprocess.TimeoutExpired:
        timed_out = True
        # the group: unshare and the launcher (whose end ends the sandbox's PID namespace),
        # or without sandbox the runner and its kernel
        kill_tree(proc.pid)
        proc.wait()
    except BaseException:  # e.g. Ctrl-C on `bif publish`: the run must not go on without us
        kill_tree(proc.pid)
        proc.wait()
        raise
    reader.join(timeout=5)
    return proc.returncode, bytes(tail).decode("utf-8", errors="replace"), timed_out


def _remove(base: Path) -> None:
    import shutil

    shutil.rmtree(base, ignore_errors=True)  # does not follow links the notebook may have left


def _error_text(text: str | None, stderr: str, box: sandboxing.Sandbox | None) -> str:
    try:
        info = json.loads(text) if text else None
        if not isinstance(info, dict):
            raise ValueError
    except ValueError:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        return f"Das Notebook ließ sich nicht ausführen: {tail or 'unbekannter Fehler'}"
    if info.get("kind") == "timeout":
        return f"Zelle {info.get('cell')} lief länger als {info.get('timeout')} Sekunden."
    if info.get("kind") == "widgets":
        listed = "; ".join(str(w) for w in info.get("widgets") or []) or "unbekannt"
        return ("Das Notebook läuft durch, aber der Zustand seiner Widgets lässt sich nicht an die Seite der "
                f"App senden (betroffen: {listed}). Die Seite würde bei niemandem fertig laden. "
                "Meist enthält eine Box (VBox, HBox, Tab, Accordion …) ein Widget, das mit .close() geschlossen "
                "wurde: Nehmen Sie es zuerst aus der Box (box.children = [...]).")
    where = f"Zelle {info['cell']}: " if info.get("cell") else ""
    message = f"{where}{info.get('ename', 'Fehler')}: {info.get('evalue', '')}".strip()
    if _denied(info):
        if box is None:
            message += (" – App-Kernel laufen unter einem Dienstkonto, das nur offene und interne "
                        "Daten lesen darf.")
        else:
            may = "offene Daten" if box.classification == "open" else "offene und interne Daten"
            message += (f" – Das Betriebssystem hat den Lesezugriff verweigert: Die Prüfung läuft abgeschottet "
                        f"und darf nur lesen, was eine als „{CLASSIFICATION_LABELS[box.classification]}“ "
                        f"eingestufte App lesen darf ({may}); vertrauliche Daten nie.")
            if box.classification == "open":
                message += " Braucht die App interne Daten: in den Metadaten \"classification\": \"internal\"."
    return "Das Notebook läuft nicht fehlerfrei durch. " + message


def _denied(info: dict) -> bool:
    text = f"{info.get('ename', '')} {info.get('evalue', '')}"
    return any(s in text for s in ("PermissionError", "AccessDenied", "Permission denied", "Errno 13",
                                   "Kein Zugriff"))
