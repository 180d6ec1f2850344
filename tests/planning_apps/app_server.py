"""A standalone Voilà serving notebooks/apps with the BIF template, for the browser tests and
bench/bench_app_interaction.py.

Stand-in for the hub + apps gateway (tests/apps, bif_lib/apps): same template
(``bif``, centred page with margins, no CDN), same Voilà version, but no login and no
preheated pool. Switch the tests to the hub fixture once publishing our apps there is cheap.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APPS_DIR = REPO / "notebooks" / "apps"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen
    root: Path

    def app_url(self, name: str) -> str:
        return f"{self.url}voila/render/{name}.ipynb"

    def log(self) -> str:
        path = self.root / "voila.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start(bif_home: Path | str, *, timeout: float = 60, preheat: int = 0) -> AppServer:
    """Start Voilà on a free port (BIF_HOME = ``bif_home``); returns when it answers."""
    from bif_lib.apps.serving.voila_server import TEMPLATE_ROOT

    root = Path(tempfile.mkdtemp(prefix="bif-planning-apps-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "BIF_UI_RAISE"))}
    env.update({"BIF_HOME": str(bif_home), "JUPYTER_PATH": str(TEMPLATE_ROOT),
                "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTER_CONFIG_DIR": str(root / "config"),
                "JUPYTER_DATA_DIR": str(root / "data"), "IPYTHONDIR": str(root / "ipython")})
    env.pop("BIF_STORE", None)
    command = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
               "--Voila.port_retries=0", "--template=bif", "--VoilaConfiguration.show_margins=True",
               "--VoilaConfiguration.show_tracebacks=True", str(APPS_DIR)]
    if preheat:
        command[-1:-1] = ["--preheat_kernel=True", f"--pool_size={preheat}"]
    log = open(root / "voila.log", "wb")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    server = AppServer(f"http://127.0.0.1:{port}/", process, root)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("voila exited:\n" + server.log())
        try:
            urllib.request.urlopen(server.url + "voila/tree", timeout=2).close()
            return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    server.stop()
    raise RuntimeError("voila did not start:\n" + server.log())


def block_external(page, seen: list[str]) -> None:
    """Abort every request that leaves 127.0.0.1 (the city intranet is offline) and record it."""
    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            return r.continue_()
        seen.append(url)
        return r.abort()

    page.route("**/*", route)


def wait_ready(page, selector: str, timeout: float = 120_000) -> None:
    """Wait until the app's first table is rendered (Voilà renders outputs in the browser)."""
    page.wait_for_selector(f"{selector} table", timeout=timeout)
    page.wait_for_function("() => [...document.querySelectorAll('.bif-chart img')].every(i => i.src && i.complete)",
                           timeout=timeout)


JS_SNAPSHOT = """() => ({
  charts: [...document.querySelectorAll('.bif-chart img')].map(i => i.src),
  table: (document.querySelector('.bif-table-html') || {}).innerText || '',
  html: (document.querySelector('.bif-table-html') || {}).innerHTML || '',
  selected: [...document.querySelectorAll('tr.bif-selected td')].map(td => td.innerText),
})"""
