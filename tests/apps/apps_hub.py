"""A small, real platform for the apps tests and the benchmark: JupyterHub + proxy + bif-apps.

Stand-in until the hub colleague's ``running_hub`` fixture exists: the hub configuration
here follows the agreed contract (external service ``bif-apps`` on ``apps.port``,
``oauth_client_allowed_scopes`` with ``read:users:groups!user``, the roles of
hub_config/settings.yaml, planners land on the gallery) with the dummy authenticator.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GROUPS = {
    "planners": ["planer"],
    "analysts": ["analyst"],
    "trainers": ["trainer"],
    "statistikstelle": ["statistik"],
    "admins": ["admin"],
}
PASSWORD = "irrelevant-for-dummy-auth"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chp_command() -> str | None:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


def missing_prerequisites() -> list[str]:
    missing = []
    if not chp_command():
        missing.append("configurable-http-proxy (npm install configurable-http-proxy)")
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (apt-get install chromium)")
    return missing


HUB_CONFIG = """
import json
spec = json.loads({spec!r})
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = spec["hub_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = spec["internal_port"]
c.JupyterHub.db_url = "sqlite:///" + spec["root"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = spec["root"] + "/hub_cookie_secret"
c.JupyterHub.pid_file = spec["root"] + "/hub.pid"
# The proxy runs on its own (started by the platform, like the apps service): a hub
# restart then does not cut the connections of apps that are open in browsers.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % spec["proxy_api_port"]
c.ConfigurableHTTPProxy.auth_token = spec["proxy_token"]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.load_groups = {{g: {{"users": users}} for g, users in spec["groups"].items()}}
c.JupyterHub.custom_scopes = {{
    "custom:bif-apps:publish": {{"description": "Apps in der BIF-App-Galerie veröffentlichen"}},
}}
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["read:users:name!user", "read:users:groups!user"]}},
    {{"name": "bif-apps-viewer", "scopes": ["access:services!service=bif-apps"],
      "groups": list(spec["groups"])}},
    {{"name": "bif-apps-publisher", "scopes": ["custom:bif-apps:publish"],
      "groups": ["analysts", "trainers", "statistikstelle", "admins"]}},
    {{"name": "pytest-admin", "scopes": ["admin:users", "tokens", "read:users", "list:users", "admin:groups"],
      "services": ["pytest"]}},
]
c.JupyterHub.services = [
    {{"name": "bif-apps", "url": "http://127.0.0.1:%d" % spec["apps_port"], "api_token": spec["apps_token"],
      "oauth_no_confirm": True, "oauth_client_allowed_scopes": ["read:users:groups!user"],
      "display": True, "timeout": 3}},  # as hub_config: don't hold up the hub's start
    {{"name": "pytest", "api_token": spec["admin_token"]}},
]

def default_url(handler):
    # planners (and anyone without a JupyterLab) land on the app gallery
    return "/services/bif-apps/"

c.JupyterHub.default_url = default_url
# BIF's own hub pages (hub_config/templates) where a test is about what they do
if spec.get("templates"):
    c.JupyterHub.template_paths = [spec["templates"]["path"]]
    c.JupyterHub.template_vars = spec["templates"]["vars"]
"""


class TestPlatform:
    """Hub, proxy and apps service in one temporary BIF_HOME."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path | None = None, apps: dict | None = None, hub_templates: bool = False):
        # apps: extra settings of the apps service (section ``apps``), e.g. short timeouts;
        # hub_templates: the hub shows BIF's own pages (hub_config/templates), not JupyterHub's
        self.apps_overrides = dict(apps or {})
        self.root = Path(root or tempfile.mkdtemp(prefix="bif-apps-test-", dir="/tmp"))
        self.root.mkdir(parents=True, exist_ok=True)
        # the app service account must be able to reach the registry below BIF_HOME
        os.chmod(self.root, 0o755)
        self.home = self.root / "home"
        self.home.mkdir(exist_ok=True)
        os.chmod(self.home, 0o755)
        self.spec = {
            "root": str(self.root), "chp": chp_command(), "groups": GROUPS,
            "hub_port": free_port(), "internal_port": free_port(), "proxy_api_port": free_port(),
            "apps_port": free_port(), "voila_port": free_port(),
            "proxy_token": secrets.token_hex(16), "apps_token": secrets.token_hex(16),
            "admin_token": secrets.token_hex(16),
        }
        if hub_templates:
            from bif_lib.platform.hubconfig import TEMPLATES_DIR, login_page_vars

            gallery = "/services/bif-apps/"
            self.spec["templates"] = {"path": str(TEMPLATES_DIR), "vars": {
                "bif_platform_name": "BIF (Test)", "bif_login_hint": "", "bif_gallery_url": gallery,
                "bif_training_url": "/services/bif-training/", **login_page_vars(gallery)}}
        self.hub_proc: subprocess.Popen | None = None
        self.proxy_proc: subprocess.Popen | None = None
        self._env_backup: dict[str, str | None] = {}

    # --- settings --------------------------------------------------------------------------
    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.spec['hub_port']}"

    @property
    def gallery_url(self) -> str:
        return f"{self.hub_url}/services/bif-apps/"

    def environ(self) -> dict[str, str]:
        return {"BIF_HOME": str(self.home), "BIF_APPS_API_TOKEN": self.spec["apps_token"]}

    def settings(self):
        from bif_lib.platform.settings import load_settings

        return load_settings(overrides={
            "hub": {"port": self.spec["hub_port"], "internal_port": self.spec["internal_port"],
                    "proxy_api_port": self.spec["proxy_api_port"]},
            "apps": {"port": self.spec["apps_port"], "voila_port": self.spec["voila_port"], "pool_size": 2,
                     **self.apps_overrides},
            "paths": {"home": str(self.home), "store": str(self.home / "store")},
        }, environ={})

    def cfg(self):
        from bif_lib.apps.config import AppsConfig

        return AppsConfig.from_settings(self.settings())

    def activate_env(self) -> None:
        for key, value in self.environ().items():
            self._env_backup.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore_env(self) -> None:
        for key, value in self._env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # --- proxy and hub ---------------------------------------------------------------------
    def start_proxy(self) -> None:
        log = open(self.root / "proxy.log", "ab")
        env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": self.spec["proxy_token"]}
        self.proxy_proc = subprocess.Popen(
            [self.spec["chp"], "--ip", "127.0.0.1", "--port", str(self.spec["hub_port"]),
             "--api-ip", "127.0.0.1", "--api-port", str(self.spec["proxy_api_port"]),
             "--error-target", f"http://127.0.0.1:{self.spec['internal_port']}/hub/error", "--log-level", "warn"],
            cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        # as the launcher starts it (hub.front_nice; the gateway sets its own)
        from bif_lib.processes import session_nice

        session_nice(self.settings()["hub"]["front_nice"], self.proxy_proc.pid)

    def stop_proxy(self) -> None:
        if self.proxy_proc and self.proxy_proc.poll() is None:
            self.proxy_proc.terminate()
            self.proxy_proc.wait(10)

    def start_hub(self, timeout: float = 30) -> None:
        if self.proxy_proc is None:
            self.start_proxy()
        config = self.root / "jupyterhub_config.py"
        config.write_text(HUB_CONFIG.format(spec=json.dumps(self.spec)))
        log = open(self.root / "hub.log", "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        self.hub_proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=self.root, env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub_proc.poll() is not None:
                raise RuntimeError("hub exited:\n" + (self.root / "hub.log").read_text()[-3000:])
            try:
                # through the proxy: the hub has registered its routes once this answers
                urllib.request.urlopen(f"{self.hub_url}/hub/api/", timeout=1).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError("hub did not start:\n" + (self.root / "hub.log").read_text()[-3000:])

    def stop_hub(self) -> None:
        if self.hub_proc and self.hub_proc.poll() is None:
            self.hub_proc.send_signal(signal.SIGTERM)
            try:
                self.hub_proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub_proc.pid, signal.SIGKILL)
                self.hub_proc.wait(5)

    def restart_hub(self) -> None:
        self.stop_hub()
        self.start_hub()

    # --- apps service ---------------------------------------------------------------------
    def start_apps(self) -> dict:
        from bif_lib.apps.serving import service

        return service.start(self.settings())

    def stop_apps(self) -> dict:
        from bif_lib.apps.serving import service

        return service.stop(self.settings())

    # --- hub API ---------------------------------------------------------------------------
    def hub_api(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"{self.hub_url}/hub/api{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.spec['admin_token']}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def add_user(self, name: str, group: str) -> None:
        """A hub user in one of the BIF groups (dummy authenticator: any password)."""
        try:
            self.hub_api("POST", f"/users/{name}", {})
        except urllib.error.HTTPError as e:
            if e.code != 409:  # exists already
                raise
        self.hub_api("POST", f"/groups/{group}/users", {"users": [name]})

    def user_token(self, user: str, scopes: list[str]) -> str:
        """An API token of ``user`` (as a JupyterLab server would have)."""
        return self.hub_api("POST", f"/users/{user}/tokens", {"scopes": scopes, "note": "pytest"})["token"]

    def shutdown(self) -> None:
        try:
            self.stop_apps()
        finally:
            self.stop_hub()
            self.stop_proxy()
            self.restore_env()


def running_platform(apps: dict | None = None, prepare=None, hub_templates: bool = False):
    """For a module-scoped fixture (``yield from running_platform(...)``): hub, proxy and apps
    service, started side by side (as independent as in production); ``prepare(platform)``
    runs before the apps service starts (e.g. publishing an app); ``hub_templates``: the hub
    shows BIF's own pages (hub_config/templates). Skips the tests without the
    prerequisites; afterwards everything is stopped and removed (``BIF_TEST_KEEP_LOGS=1`` keeps it)."""
    import pytest

    missing = missing_prerequisites()
    if missing:
        pytest.skip("needs " + ", ".join(missing))
    platform = TestPlatform(apps=apps, hub_templates=hub_templates)
    platform.activate_env()
    try:
        with ThreadPoolExecutor(1) as pool:
            service = pool.submit(lambda: (prepare and prepare(platform), platform.start_apps()))
            platform.start_hub()
            service.result()
        yield platform
    finally:
        platform.shutdown()
        if not os.environ.get("BIF_TEST_KEEP_LOGS"):
            shutil.rmtree(platform.root, ignore_errors=True)


def environment_access():
    """See tests/account_access.py (kept here for the benchmarks that import apps_hub)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from account_access import shared_environment_access

    return shared_environment_access()


def login(page, hub_url: str, user: str) -> None:
    """Log in through the hub's login form (dummy authenticator: any password)."""
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")


def install_app(platform, app_id: str, nb: dict, pool_size: int = 1) -> None:
    """Put an app straight into the registry (``Registry.add_version``): for tests of the running
    service, not of the publication checks (tests/apps/test_apps_publish.py)."""
    from bif_lib.apps.registry import Registry

    meta = {**nb["metadata"]["bif"], "owner": "Team Test", "published_by": "analyst", "frontend": "bif",
            "mathjax": False, "frontend_extensions": [], "pool_size": pool_size, "datasets": [],
            "kernel": "python3"}
    nb["metadata"]["title"] = meta["title"]
    Registry(platform.cfg().apps_dir).add_version(app_id, json.dumps(nb), meta, None, by="analyst")


def new_context(browser, timeout_ms: float = 30_000):
    """A fresh browser context as a planner's: a 1366 × 768 screen, German."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="de-DE")
    ctx.set_default_timeout(timeout_ms)
    return ctx


class PageJournal:
    """What each of several pages showed and logged (navigations, console), for the failure
    report of a test that waits for many pages at once: which page is stuck, and where."""

    def __init__(self, pages):
        self.t0, self.entries = time.monotonic(), {i: [] for i in range(len(pages))}
        self.pages = pages
        for i, page in enumerate(pages):
            page.on("console", lambda m, i=i: self._add(i, f"console {m.type}: {m.text[:300]}"))
            page.on("framenavigated", lambda f, i=i: f.parent_frame is None and self._add(i, f"at {f.url}"))

    def _add(self, i: int, text: str) -> None:
        self.entries[i].append(f"{time.monotonic() - self.t0:7.1f} s {text}")

    def report(self, platform=None, log_lines: int = 80) -> str:
        parts = []
        for i, page in enumerate(self.pages):
            try:
                shown = page.evaluate("document.body ? document.body.innerText.slice(0, 400) : ''")
            except Exception as e:  # noqa: BLE001 - a closed or navigating page
                shown = f"({type(e).__name__})"
            parts.append(f"page {i}: {page.url}\n  shows: {shown!r}\n  " + "\n  ".join(self.entries[i]))
        if platform is not None:
            for name in ("bif-apps.log", "bif-apps-voila.log"):
                path = platform.home / "logs" / name
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-log_lines:]
                    parts.append(f"--- last lines of {name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def wait_for_all(self, selector: str, timeout_ms: float, platform=None) -> None:
        """Every page shows ``selector`` within ``timeout_ms`` of now; else the report."""
        from playwright.sync_api import Error as PlaywrightError

        deadline = time.monotonic() + timeout_ms / 1000
        for i, page in enumerate(self.pages):
            try:
                page.wait_for_selector(selector, timeout=max(1.0, deadline - time.monotonic()) * 1000)
            except PlaywrightError as e:
                raise AssertionError(f"page {i} shows no {selector}: {e}\n{self.report(platform)}") from None


def logged_in_context(platform, browser, user: str, group: str = "planners"):
    """A fresh browser context of a new hub user of ``group``, logged in."""
    platform.add_user(user, group)
    ctx = new_context(browser, 60_000)
    page = ctx.new_page()
    login(page, platform.hub_url, user)
    page.wait_for_url(platform.gallery_url)
    page.close()
    return ctx
