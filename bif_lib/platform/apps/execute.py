"""Run a notebook headless, as the app service account, and record what data it loads.

``execute_notebook`` starts ``_run_notebook.py`` in a child
process under the service account (the same account the app's kernels will have in
Voilà), so a notebook that reads data the app account cannot read fails here, at
publication, and not later in front of a planner. The child runs nbclient; the
foundation's ``bif_lib.load()`` appends one JSON line per load to ``$BIF_LOAD_TRACE``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from bif_lib import config as bif_config

from .account import RunAs
from .checks import DatasetUse, read_load_trace

CHILD = Path(__file__).resolve().with_name("_run_notebook.py")
# environment passed to the notebook run; everything else (tokens!) is dropped
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "BIF_CITY", "BIF_CONTRACTS", "BIF_MIRROR")


@dataclass
class ExecutionResult:
    ok: bool
    seconds: float
    notebook: nbformat.NotebookNode | None = None
    datasets: list[DatasetUse] = field(default_factory=list)
    error: str | None = None  # German, for people
    modules: set[str] = field(default_factory=set)  # top-level modules the kernel imported


def child_env(home: str, store: str, extra: dict | None = None) -> dict:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
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


def execute_notebook(notebook: nbformat.NotebookNode, *, run_as: RunAs, home: str, store: str,
                     timeout: int = 300) -> ExecutionResult:
    """Execute ``notebook`` in a scratch directory as ``run_as``; never raises for notebook errors.

    ``timeout`` applies to each cell; the whole run may take at most twice that plus a minute.
    """
    work = Path(tempfile.mkdtemp(prefix="bif-publish-"))
    try:
        os.chmod(work, 0o700)
        run_as.chown(work)
        source = work / "input.ipynb"
        nbformat.write(notebook, source)
        run_as.chown(source)
        trace = work / "loads.jsonl"
        env = child_env(home, store, {
            "BIF_LOAD_TRACE": str(trace), "HOME": str(work),
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "IPYTHONDIR": str(work / "ipython"),
            "MPLCONFIGDIR": str(work / "mpl"),
        })
        # by path and isolated (-I): the child needs nbclient only, not bif_lib or its folder on sys.path
        cmd = [sys.executable, "-I", str(CHILD), str(source), str(work / "output.ipynb"), str(work / "error.json"),
               str(timeout), str(work / "modules.json")]
        started = time.monotonic()
        # own session: on timeout the whole group goes, the kernel (a grandchild) included
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, **run_as.popen_kwargs())
        try:
            _, stderr = proc.communicate(timeout=2 * timeout + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return ExecutionResult(False, time.monotonic() - started,
                                   error=f"Das Notebook wurde nach {2 * timeout + 60} Sekunden abgebrochen.")
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            return ExecutionResult(False, seconds, error=_error_text(work / "error.json", stderr))
        executed = nbformat.read(work / "output.ipynb", as_version=4)
        try:
            modules = set(json.loads((work / "modules.json").read_text()))
        except (FileNotFoundError, ValueError):
            modules = set()
        return ExecutionResult(True, seconds, executed, read_load_trace(trace), modules=modules)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _error_text(path: Path, stderr: str) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        return f"Das Notebook ließ sich nicht ausführen: {tail or 'unbekannter Fehler'}"
    if info.get("kind") == "timeout":
        return f"Zelle {info['cell']} lief länger als {info['timeout']} Sekunden."
    where = f"Zelle {info['cell']}: " if info.get("cell") else ""
    message = f"{where}{info.get('ename', 'Fehler')}: {info.get('evalue', '')}".strip()
    if info.get("ename") == "PermissionError":
        message += (" – App-Kernel laufen unter einem Dienstkonto, das nur offene und interne "
                    "Daten lesen darf.")
    return "Das Notebook läuft nicht fehlerfrei durch. " + message
