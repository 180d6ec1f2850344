"""``bif platform status`` reports this installation's platform, not whatever answers on the port.

A stand-in "hub" (another installation, or any program) answers the configured port's health
check, and a pid file points at a live process that looks like a hub but runs elsewhere. The
old status said "healthy" and exited 0 in both cases.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ForeignHub(http.server.BaseHTTPRequestHandler):
    """Answers like a JupyterHub: healthy, and 403 for a token it does not know."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        status = 200 if self.path.endswith("/hub/health") else 403
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def foreign_hub():
    ports = {"BIF_HUB_PORT": _free_port(), "BIF_HUB_INTERNAL_PORT": _free_port(), "BIF_PROXY_API_PORT": _free_port()}
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", ports[name]), _ForeignHub)
               for name in ("BIF_HUB_PORT", "BIF_HUB_INTERNAL_PORT")]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    yield {name: str(port) for name, port in ports.items()}
    for server in servers:
        server.shutdown()
        server.server_close()


def _status(home: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bif_lib.cli", "platform", "status"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), "BIF_HOME": str(home), **env})


def test_a_foreign_hub_on_the_port_is_not_this_platform(tmp_path, foreign_hub):
    result = _status(tmp_path / "home", foreign_hub)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "nicht zu dieser Installation" in result.stdout and "erreichbar" not in result.stdout


def test_a_pid_file_of_another_installations_hub_is_not_this_hub(tmp_path, foreign_hub):
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    elsewhere = tmp_path / "andere-installation"
    elsewhere.mkdir()
    # alive, and its command line looks like a hub's ("jupyterhub_config.py"), but it runs elsewhere
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "jupyterhub_config.py"],
                                cwd=elsewhere)
    try:
        (home / "run" / "hub.pid").write_text(f"{impostor.pid}\n")
        result = _status(home, foreign_hub)
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"pid {impostor.pid} gehört zu einer anderen Installation" in result.stdout
        (home / "run" / "hub.pid").write_text("999999999\n")
        result = _status(home, foreign_hub)
        assert result.returncode == 3 and "läuft nicht (mehr)" in result.stdout
    finally:
        impostor.kill()
        impostor.wait()
