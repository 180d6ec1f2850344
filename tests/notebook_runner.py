"""Run notebooks headless (nbclient), two at a time, against a given BIF_HOME and city profile.

Shared by the Flensburg notebook tests (tests/notebooks) and the second city's
(tests/city); a helper module, not a conftest, so that test modules can import it.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

TIMEOUT = 240


def run_notebook(path: Path, trace: Path) -> dict:
    """Execute one notebook in the current environment; the outcome, never an exception."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(trace.parent)}})
    # the office's notebook releases for real (idempotent: an unchanged release is recognised)
    env = {**os.environ, "BIF_LOAD_TRACE": str(trace), "BIF_FREIGABE_AUSFUEHREN": "1"}
    try:
        client.execute(env=env)
        error = None
    except Exception as e:  # noqa: BLE001 - reported by the test of this notebook
        error = f"{type(e).__name__}: {str(e)[-2500:]}"
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    stderr = [o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") if o.get("output_type") == "stream"
                     else str((o.get("data") or {}).get("text/plain", "")) for o in outputs)
    return {"error": error, "errors": errors, "stderr": stderr, "text": text,
            "seconds": time.perf_counter() - started}


def run_notebooks(paths: list[Path], work: Path, env: dict[str, str | None]) -> dict[Path, dict]:
    """Run ``paths`` two at a time with ``env`` applied to os.environ (None = unset), restored after."""
    from bif_lib.config import environment

    with environment(env):
        traces = {p: work / f"{p.parent.name}-{p.stem}.trace" for p in paths}
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {p: pool.submit(run_notebook, p, traces[p]) for p in paths}
            return {p: {**f.result(), "trace": traces[p]} for p, f in futures.items()}
