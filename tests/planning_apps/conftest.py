"""Fixtures for the planning apps in a real Chromium, through the real platform: JupyterHub,
proxy, the bif-apps gateway and its preheated Voilà, on a copy of the bootstrapped Flensburg
store. The three bundled apps are published with the real publishing checks, and every page
belongs to a planner logged in through the hub."""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "apps"))

from app_server import block_external  # noqa: E402
from apps_hub import TestPlatform, login, missing_prerequisites  # noqa: E402

APPS = ("bevoelkerung", "kita", "schulbedarf")
NOTEBOOKS = HERE.parent.parent / "notebooks" / "apps"


@dataclass
class HubApps:
    platform: TestPlatform

    def app_url(self, name: str) -> str:
        return f"{self.platform.gallery_url}app/{name}/"


@pytest.fixture(scope="module")
def app_server(request, flensburg_home, environment_access):
    missing = missing_prerequisites()
    if missing:
        pytest.fail("needs " + ", ".join(missing))
    from bif_lib.apps.publishing.publish import publish_notebook
    from bif_lib.platform import accounts

    # a module may serve the apps with a kernel per page (APPS_SETTINGS = {"shared_view": False})
    p = TestPlatform(apps=getattr(request.module, "APPS_SETTINGS", None))
    shutil.copytree(flensburg_home / "store", p.home / "store")
    p.activate_env()
    try:
        settings = p.settings()
        accounts.ensure_system_groups(settings)
        accounts.apply_store_permissions(p.home / "store", settings)

        def publish_and_serve():
            for app in APPS:
                publish_notebook(NOTEBOOKS / f"{app}.ipynb", published_by="analyst", cfg=p.cfg())
            p.start_apps()

        with ThreadPoolExecutor(1) as pool:
            apps = pool.submit(publish_and_serve)
            p.start_hub()
            apps.result()
        yield HubApps(p)
    finally:
        p.shutdown()
        shutil.rmtree(p.root, ignore_errors=True)


@pytest.fixture
def page(browser, app_server):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="de-DE", accept_downloads=True)
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    login(page, app_server.platform.hub_url, "planer")
    page.wait_for_url(app_server.platform.gallery_url)
    page.external_requests = []
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    block_external(page, page.external_requests)
    yield page
    ctx.close()
