"""The hub's login page on the way to an app lets the browser fetch the app front end while the
person logs in (a planner who opened an app from a bookmark): real hub with BIF's own pages
(hub_config/templates), proxy, apps service, Chromium. The gallery does the same while the
person chooses (test_apps_integration.py)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from apps_helpers import SLIDER_APP
from apps_hub import PASSWORD, new_context, running_platform

pytestmark = pytest.mark.timeout(300)

APP = "slider-app"
RESULT = ".bif-result"


@pytest.fixture(scope="module")
def platform(environment_access):
    from bif_lib.apps.publishing.publish import publish_notebook

    yield from running_platform(hub_templates=True,
                                prepare=lambda p: publish_notebook(SLIDER_APP, published_by="analyst", cfg=p.cfg()))


def named_ahead(platform) -> list[list[str]]:
    """What the apps service names, asked without a login: ``[rel, absolute URL]`` per file."""
    with urllib.request.urlopen(f"{platform.gallery_url}assets/ahead", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        return [[f["rel"], platform.hub_url + f["href"]] for f in json.load(resp)["files"]]


def test_the_apps_service_names_its_front_ends_files_to_anybody(platform):
    files = [url for _, url in named_ahead(platform)]
    assert any(u.split("?")[0].endswith("/bif-app.js") for u in files), files
    for url in files:  # public, as they are for every app page
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and "immutable" in resp.headers["Cache-Control"]


def test_the_login_page_on_the_way_to_an_app_fetches_its_front_end_ahead(platform, browser):
    ctx = new_context(browser)
    try:
        page = ctx.new_page()
        page.goto(f"{platform.gallery_url}app/{APP}/")  # a bookmark, logged out: the hub's login page
        page.wait_for_selector("#username_input")
        assert "Anmelden" in page.title()
        page.wait_for_function("() => document.querySelectorAll('link[rel=prefetch]').length > 0")
        ahead = page.eval_on_selector_all('link[rel="prefetch"], link[rel="modulepreload"]',
                                          "links => links.map(l => [l.rel, l.href])")
        # as the service names them: the scripts also compiled ahead (modulepreload), the style
        # sheets only fetched
        assert sorted(ahead) == sorted(named_ahead(platform))
        assert all((rel == "modulepreload") == href.split("?")[0].endswith(".js") for rel, href in ahead), ahead
        ahead = [href for _, href in ahead]
        page.wait_for_function("urls => urls.every(u => performance.getEntriesByName(u).some(e => e.responseEnd > 0))",
                               arg=ahead)

        page.fill("#username_input", "planer")
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        page.wait_for_selector(RESULT)  # the app itself, after the login
        assert page.url.startswith(f"{platform.gallery_url}app/{APP}/")
        loaded = page.evaluate("""() => [...document.querySelectorAll(
            'link[rel=stylesheet], link[rel=modulepreload], script[type=module][src]')].map(e => e.href || e.src)""")
        assert sorted(ahead) == sorted(u for u in loaded if u.startswith(f"{platform.gallery_url}assets/")), loaded
        # transferSize 0: answered by the browser's cache, nothing came over the network
        sizes = page.evaluate("urls => urls.map(u => performance.getEntriesByName(u).map(e => e.transferSize))", ahead)
        assert all(s and set(s) == {0} for s in sizes), dict(zip(ahead, sizes))
    finally:
        ctx.close()


def test_a_login_page_on_no_way_to_an_app_fetches_nothing_ahead(platform, browser):
    ctx = new_context(browser)
    try:
        page = ctx.new_page()
        asked = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(f"{platform.hub_url}/hub/login")  # straight to the hub (JupyterLab, say)
        page.wait_for_selector("#username_input")
        page.wait_for_load_state("networkidle")
        assert "assets/ahead" not in page.content()
        assert not [u for u in asked if "/services/bif-apps/" in u], asked
    finally:
        ctx.close()
