"""Notebook builders shared by the apps tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import getpass
import json
import os
import re
import time
import urllib.error
import urllib.request

import nbformat
from apps_hub import FIXTURES
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SLIDER_APP = FIXTURES / "slider_app.ipynb"
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')  # an app page's kernel, in its page config


def service_user() -> str:
    """Whom notebooks run as when checked: the publication sandbox account as root, else ourselves."""
    return "bif-publish" if os.geteuid() == 0 else getpass.getuser()


def slider_notebook(**bif) -> dict:
    """The fixture app as a dict, with ``metadata.bif`` fields overridden by ``bif``."""
    nb = json.loads(SLIDER_APP.read_text(encoding="utf-8"))
    nb["metadata"]["bif"].update(bif)
    return nb


def notebook(*sources: str, markdown: str | None = None, **bif) -> dict:
    """A small notebook with the given code cells and ``metadata.bif``."""
    meta = {"title": "Prüf-App", "description": "Eine App für die Tests.", "audience": ["planners"],
            "owner": "Team Test"}
    meta.update(bif)
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["bif"] = meta
    cells = [new_markdown_cell(markdown)] if markdown else []
    nb.cells = cells + [new_code_cell(src) for src in sources]
    return json.loads(nbformat.writes(nb))


def trace_cell(dataset: str, classification: str, synthetic: bool = False, version: int = 1) -> str:
    """Code that records a load the way ``bif_lib.load()`` does (no data store needed)."""
    record = {"dataset": dataset, "version": version, "classification": classification,
              "synthetic": synthetic, "created_at": "2024-12-31T10:00:00+00:00"}
    return ("import json, os\n"
            "with open(os.environ['BIF_LOAD_TRACE'], 'a') as fh:\n"
            f"    fh.write(json.dumps({record!r}) + '\\n')")


def with_bif(nb: dict, **bif) -> dict:
    nb = copy.deepcopy(nb)
    nb["metadata"]["bif"].update(bif)
    return nb


def call(platform, path: str, token: str | None = None, body: dict | None = None,
         method: str | None = None) -> tuple[int, bytes]:
    """A request to the apps service through the hub's proxy (``path`` below its prefix),
    with a hub token; (status, body)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"token {token}"} if token else {})}
    req = urllib.request.Request(f"{platform.gallery_url}{path}", method=method or ("GET" if body is None else "POST"),
                                 data=None if body is None else json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def api(platform, path: str, token: str | None = None, body: dict | None = None,
        method: str | None = None) -> tuple[int, dict]:
    """``call`` for the service's JSON API."""
    status, raw = call(platform, path, token, body, method)
    return status, json.loads(raw or b"{}")


def voila_get(platform, path: str) -> dict | None:
    """``GET`` of Voilà's API at ``path``, with Voilà's own token, past the gateway; None for 404."""
    cfg = platform.cfg()
    req = urllib.request.Request(f"{cfg.voila_url}/{path}",
                                 headers={"Authorization": f"token {cfg.voila_token_file.read_text().strip()}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return None


def voila_kernel_exists(platform, kid: str) -> bool:
    """Does Voilà still hold kernel ``kid``?"""
    return voila_get(platform, f"api/kernels/{kid}") is not None


def wait_until(condition, timeout: float, step: float = 0.5) -> bool:
    """Whether ``condition()`` holds within ``timeout`` seconds, asked every ``step``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def run_async(coroutine):
    """asyncio.run in a worker thread: Playwright's sync API, used by browser tests earlier in
    the session, leaves an event loop running on the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
