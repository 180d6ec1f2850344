"""The real thing: JupyterHub + proxy + bif-apps (gateway + preheated Voilà) + Chromium.

One platform for the module (starting it costs ~15 s); tests run in file order and
build on each other's state (v1 published -> v2 via the API -> rollback to v1).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import time
import urllib.error
import urllib.request

import pytest
from apps_helpers import SLIDER_APP, api, notebook, slider_notebook, voila_kernel_exists
from apps_hub import logged_in_context, login, new_context, running_platform
from kernel_frames import VOILA_ALLOWED, kernel_message

pytestmark = pytest.mark.timeout(300)  # a hung browser or hub must not stall CI

APP = "slider-app"
RESULT = ".bif-result"


@pytest.fixture(scope="module")
def platform(environment_access):
    from bif_lib.apps.publishing.publish import publish_notebook

    # the kernel per page (apps that cannot be shared); test_shared_view.py covers the shared page
    yield from running_platform(apps={"shared_view": False},
                                prepare=lambda p: publish_notebook(SLIDER_APP, published_by="analyst", cfg=p.cfg()))


@pytest.fixture(scope="module")
def planner(platform, browser):
    """A planner's browser, logged in through the hub from its front page."""
    ctx = new_context(browser)
    page = ctx.new_page()
    page.goto(platform.hub_url + "/")
    login(page, platform.hub_url, "planer")
    page.wait_for_url(platform.gallery_url)
    ctx.landing_url = page.url
    page.close()
    yield ctx
    ctx.close()


def open_app(ctx, platform):
    page = ctx.new_page()
    page.goto(platform.gallery_url)
    page.click(f"[data-app-id={APP}] >> text=App öffnen")
    page.wait_for_selector(RESULT)
    return page


def move_slider(page, expected: str, timeout: float = 15_000) -> None:
    page.focus(".noUi-handle")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{RESULT}').textContent.includes('{expected}')",
                           timeout=timeout)


def kernel_id(page) -> str:
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


# --- tests, in order ----------------------------------------------------------------------

def test_planner_logs_in_and_lands_on_gallery(platform, planner):
    assert planner.landing_url == platform.gallery_url
    page = planner.new_page()
    page.goto(platform.gallery_url)
    assert page.locator("h1").inner_text() == "Apps"
    card = page.locator(f"[data-app-id={APP}]")
    assert card.locator(".card-title").inner_text() == "Test-App Schieberegler"
    text = card.inner_text()
    assert "Team Analyse" in text and "(Version 1)" in text and "Veröffentlicht" in text
    # German date: 22.11.2026, 06:18 Uhr
    assert card.locator("time").inner_text().endswith("Uhr")
    assert page.evaluate(f"document.querySelector('[data-app-id={APP}] img').naturalWidth") > 0
    page.close()


def spinner_animation(page) -> str:
    """The animation of Voilà's loading spinner on ``page``, whose own spinner is gone once the
    app is shown: a new one in its place. It stands still (static/app.css: turning, it drew 60
    frames a second in every waiting page); Voilà's own style turns it."""
    return page.evaluate("""() => { const loading = document.createElement('div'); loading.id = 'loading';
        loading.innerHTML = '<svg class="spinner"></svg>'; document.body.appendChild(loading);
        const name = getComputedStyle(loading.firstChild).animationName; loading.remove(); return name; }""")


def test_planner_opens_app_and_widget_updates_output(platform, planner):
    requests = []
    sent: list[str] = []  # message types the page sends its kernel
    page = planner.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(kernel_message(frame)[1]["msg_type"])))
    page.goto(platform.gallery_url)
    page.click(f"[data-app-id={APP}] >> text=App öffnen")
    page.wait_for_selector(RESULT)
    assert page.url == f"{platform.gallery_url}app/{APP}/"
    assert page.locator(RESULT).inner_text() == "Ergebnis: 6"
    assert "Version A" in page.locator("#rendered_cells").inner_text()
    assert page.locator(".bif-appbar-back").inner_text() == "← Alle Apps"
    move_slider(page, "Ergebnis: 8")
    # only what Voilà lets through to the kernel (no subshell requests, which it drops with a
    # warning and never answers)
    assert "comm_msg" in sent and set(sent) <= VOILA_ALLOWED, sorted(set(sent))

    # offline-capable: every request stayed on this machine; Font Awesome comes with the app
    # front end's bif-page-base.css (no second copy, nothing from a CDN)
    assert all(u.startswith(platform.hub_url) or u.startswith("data:") for u in requests), \
        [u for u in requests if not u.startswith(platform.hub_url)]
    assert not any("fontawesome" in u or "jupyterlab_pygments" in u for u in requests)
    assert page.evaluate("""() => { const i = document.createElement('i'); i.className = 'fa fa-check';
        document.body.appendChild(i); return getComputedStyle(i).fontFamily; }""").startswith('"Font Awesome')
    # a slider and a number need nothing beyond BIF's app front end: one script from the
    # shared assets, none of Voilà's JupyterLab application, its style script, its extensions
    # or MathJax
    scripts = [u.split("?")[0] for u in requests if ".js" in u]
    assert any(u.startswith(f"{platform.gallery_url}assets/") and u.endswith("/bif-app.js") for u in scripts)
    assert not [u for u in scripts
                if "voila.js" in u or "voila-style.js" in u or "remoteEntry" in u or "mathjax" in u.lower()]
    # two style sheets: what the page takes of voila-style.js with the notebook's style and
    # theme, and app.css with the widgets' styles (one request each, not five)
    sheets = page.evaluate("[...document.styleSheets].map(s => s.href).filter(Boolean)")
    assert [u.split("?")[0].rsplit("/", 1)[-1] for u in sheets] == ["bif-page-base.css", "bif-app.css"], sheets
    assert not [u for u in requests if u.split("?")[0].rsplit("/", 1)[-1] in ("index.css", "theme-light.css", "app.css")]
    # ... and their rules reach the page: the notebook's (index.css), the theme's variables, app.css
    assert page.evaluate("getComputedStyle(document.body).getPropertyValue('--jp-layout-color1').trim()") == "white"
    assert page.evaluate("getComputedStyle(document.querySelector('.bif-appbar')).display") == "flex"
    assert page.evaluate("getComputedStyle(document.querySelector('.jp-OutputArea-output')).overflowX") == "auto"
    assert spinner_animation(page) == "none"

    # the kernel runs under the app service account
    kid = kernel_id(page)
    voila_pid = int(platform.cfg().voila_pid_file.read_text())
    from bif_lib.processes import children

    owners = {pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name for pid in children(voila_pid)}
    expected = "bif-apps" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert owners == {expected}

    # closing the tab shuts its kernel down (Voilà's beacon passes the gateway)
    assert voila_kernel_exists(platform, kid)
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 15
    while voila_kernel_exists(platform, kid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not voila_kernel_exists(platform, kid)


def test_the_gallery_fetches_the_app_front_end_ahead(platform, browser):
    """While a planner chooses an app, the browser fetches the files of BIF's app front end
    that the gallery names (``<link rel="prefetch">``, for the scripts ``"modulepreload"``,
    which also compiles them): the first open of an app finds all of them in the browser's
    cache. The gallery names exactly what an app page loads."""
    ctx = new_context(browser)
    try:
        page = ctx.new_page()
        login(page, platform.hub_url, "planer")
        page.wait_for_url(platform.gallery_url)
        ahead = page.eval_on_selector_all('link[rel="prefetch"], link[rel="modulepreload"]',
                                          "links => links.map(l => [l.rel, l.href])")
        assert all((rel == "modulepreload") == href.split("?")[0].endswith(".js") for rel, href in ahead), ahead
        ahead = [href for _, href in ahead]
        assert any(u.split("?")[0].endswith("/bif-app.js") for u in ahead), ahead
        page.wait_for_function("urls => urls.every(u => performance.getEntriesByName(u).some(e => e.responseEnd > 0))",
                               arg=ahead)
        page.click(f"[data-app-id={APP}] >> text=App öffnen")
        page.wait_for_selector(RESULT)
        loaded = page.evaluate("""() => [...document.querySelectorAll(
            'link[rel=stylesheet], link[rel=modulepreload], script[type=module][src]')].map(e => e.href || e.src)""")
        assert sorted(ahead) == sorted(u for u in loaded if u.startswith(f"{platform.gallery_url}assets/")), loaded
        # transferSize 0: answered by the browser's cache, nothing came over the network
        sizes = page.evaluate("urls => urls.map(u => performance.getEntriesByName(u).map(e => e.transferSize))", ahead)
        assert all(s and set(s) == {0} for s in sizes), dict(zip(ahead, sizes))
        assert page.locator(RESULT).inner_text() == "Ergebnis: 6"
        page.close(run_before_unload=True)  # its kernel goes (the page's beacon)
    finally:
        ctx.close()


def test_app_page_reloads_when_its_kernel_is_gone_and_says_so_when_that_keeps_happening(platform, browser):
    # a person of their own: every load of the page below binds a kernel that is never used
    ctx = logged_in_context(platform, browser, "planer-kernel-weg")
    page = ctx.new_page()
    # the kernel the page names has vanished (e.g. culled) by the time the page asks for it,
    # on every load: a reload would get a fresh kernel, here it never does
    page.route("**/api/kernels/*", lambda route: route.fulfill(status=404, body="{}"))
    page.goto(platform.gallery_url)
    page.click(f"[data-app-id={APP}] >> text=App öffnen")
    # three reloads (the front end's limit within 5 minutes), then the planner decides
    notice = page.wait_for_selector(".bif-connection-notice button", timeout=60_000)
    assert "ließ sich mehrmals nicht neu starten" in page.inner_text(".bif-connection-notice")
    assert notice.inner_text() == "Seite neu laden"
    assert page.evaluate("JSON.parse(sessionStorage.getItem('bif-app-reloads')).length") == 3
    # the rest of the page is still shown, the widgets (which need their kernel) are left out
    assert "Version A" in page.locator("#rendered_cells").inner_text()
    assert page.locator("#rendered_cells").is_visible() and page.locator(RESULT).count() == 0
    page.close()
    ctx.close()


def test_user_outside_the_audience_cannot_open_the_app(platform, browser):
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, platform.hub_url, "statistik")
    page.wait_for_url(platform.gallery_url)
    assert "Für Sie sind noch keine Apps freigegeben" in page.inner_text("main")
    response = page.goto(f"{platform.gallery_url}app/{APP}/")
    assert response.status == 403
    assert "Kein Zugang zu dieser App" in page.inner_text("main")
    assert page.locator(RESULT).count() == 0
    assert ctx.request.get(f"{platform.gallery_url}thumbnails/{APP}/1.png").status == 403
    ctx.close()

    # without any login the service never answers with app content
    req = urllib.request.Request(f"{platform.gallery_url}app/{APP}/")
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(req, timeout=10)
    assert err.value.code == 302 and "/hub/api/oauth2/authorize" in err.value.headers["Location"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_publish_from_lab_shows_new_version(platform, planner, tmp_path):
    from bif_lib.apps import publish_from_lab

    nb = slider_notebook(title="Test-App Schieberegler B")
    nb["cells"][0]["source"] = "# Test-App\n\nStand: **Version B**"
    path = tmp_path / "slider_app.ipynb"
    path.write_text(json.dumps(nb))
    token = platform.user_token("analyst", ["custom:bif-apps:publish"])
    answer = publish_from_lab(path, token=token, url=platform.hub_url)
    assert (answer["app_id"], answer["version"]) == (APP, 2)

    page = planner.new_page()
    page.goto(platform.gallery_url)  # no restart of anything: the gallery reads the registry
    card = page.locator(f"[data-app-id={APP}]")
    assert card.locator(".card-title").inner_text() == "Test-App Schieberegler B"
    assert "(Version 2)" in card.inner_text()
    page.close()
    # the preheated kernels were replaced: the app shows the new notebook
    page = open_app(planner, platform)
    assert "Version B" in page.locator("#rendered_cells").inner_text()
    assert page.title() == "Test-App Schieberegler B"
    page.close()


def test_refused_publication_leaves_live_app_alone(platform, tmp_path):
    from bif_lib.apps import LabPublishError, publish_from_lab

    nb = slider_notebook(title="Kaputt")
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "raise RuntimeError('Datenquelle fehlt')"})
    path = tmp_path / "slider_app.ipynb"
    path.write_text(json.dumps(nb))
    token = platform.user_token("analyst", ["custom:bif-apps:publish"])
    with pytest.raises(LabPublishError) as err:
        publish_from_lab(path, token=token, url=platform.hub_url)
    assert "Zelle 3" in str(err.value) and "Datenquelle fehlt" in str(err.value)

    # a planner's token has no publish scope
    planner_token = platform.user_token("planer", ["read:users:groups!user"])
    with pytest.raises(LabPublishError, match="custom:bif-apps:publish"):
        publish_from_lab(SLIDER_APP, token=planner_token, url=platform.hub_url)

    status, listing = api(platform, "api/apps", token=platform.user_token("planer", ["read:users:groups!user",
                                                                                     "access:services!service=bif-apps"]))
    assert status == 200
    assert [(a["app_id"], a["version"], a["title"]) for a in listing["apps"]] == [
        (APP, 2, "Test-App Schieberegler B")]


def test_rollback_restores_previous_version(platform, planner):
    token = platform.user_token("analyst", ["custom:bif-apps:publish"])
    status, answer = api(platform, f"api/apps/{APP}/rollback", token, {})
    assert status == 200 and answer["version"] == 1
    page = planner.new_page()
    page.goto(platform.gallery_url)
    assert page.locator(f"[data-app-id={APP}] .card-title").inner_text() == "Test-App Schieberegler"
    page.close()
    page = open_app(planner, platform)
    assert "Version A" in page.locator("#rendered_cells").inner_text()
    page.close()


def test_running_app_still_answers_after_hub_restart(platform, planner):
    page = open_app(planner, platform)
    move_slider(page, "Ergebnis: 8")
    platform.restart_hub()
    # gateway, Voilà and the proxy do not depend on the hub for running sessions
    move_slider(page, "Ergebnis: 10")
    page.close()
    page = planner.new_page()
    page.goto(platform.gallery_url)
    assert page.locator(f"[data-app-id={APP}]").count() == 1
    page.close()


def test_voila_crash_is_repaired_by_the_gateway(platform, planner):
    import signal

    from bif_lib.apps.serving.daemon import health

    cfg = platform.cfg()
    old = int(cfg.voila_pid_file.read_text())
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = health(cfg) or {}
        pid = cfg.voila_pid_file.read_text().strip() if cfg.voila_pid_file.exists() else ""
        if state.get("voila") and pid and int(pid) != old:
            break
        time.sleep(0.3)
    assert int(cfg.voila_pid_file.read_text()) != old
    page = open_app(planner, platform)  # waits for the new pool if needed
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)


@contextlib.contextmanager
def published_app(platform, nb: dict, frontend: str):
    """The app of ``nb`` (its ``metadata.bif.id``) published, checked to get ``frontend``, and
    withdrawn afterwards."""
    from bif_lib.apps.publishing.publish import publish_notebook, withdraw
    from bif_lib.apps.registry import Registry

    app_id = nb["metadata"]["bif"]["id"]
    path = platform.root / f"{app_id}.ipynb"
    path.write_text(json.dumps(nb))
    cfg = platform.cfg()
    result = publish_notebook(path, published_by="analyst", cfg=cfg)
    try:
        assert Registry(cfg.apps_dir).current(app_id).meta["frontend"] == frontend
        yield app_id
    finally:
        withdraw(result.app_id, by="analyst", cfg=cfg)


def test_app_with_a_formula_gets_voilas_front_end(platform, planner):
    """An app BIF's front end cannot show (here: a formula, which needs MathJax) is served
    with Voilà's full front end, and works the same."""
    nb = slider_notebook(title="Test-App Formel", id="formel-app")
    nb["cells"][0]["source"] = "# Test-App\n\nErgebnis $e = 2 \\cdot x$"
    with published_app(platform, nb, "voila"):
        page = planner.new_page()
        page.goto(platform.gallery_url)
        page.click("[data-app-id=formel-app] >> text=App öffnen")
        page.wait_for_selector(RESULT)
        # what the app page loaded (the gallery before it fetched BIF's front end ahead, for
        # the other app)
        loaded = page.evaluate("performance.getEntriesByType('resource').map(e => e.name.split('?')[0])")
        assert any(u.endswith("/voila.js") for u in loaded) and not any(u.endswith("/bif-app.js") for u in loaded)
        # Voilà's front end keeps Voilà's style sheets and links BIF's app.css on its own
        sheets = [u.split("?")[0].rsplit("/", 1)[-1]
                  for u in page.evaluate("[...document.styleSheets].map(s => s.href).filter(Boolean)")]
        assert {"index.css", "theme-light.css", "app.css"} <= set(sheets) and "bif-page-base.css" not in sheets, sheets
        assert page.evaluate("getComputedStyle(document.querySelector('.bif-appbar')).display") == "flex"
        assert spinner_animation(page) == "none"
        page.wait_for_selector("#rendered_cells mjx-container, #rendered_cells .MathJax")  # typeset
        move_slider(page, "Ergebnis: 8")
        page.close(run_before_unload=True)


def test_widget_descriptions_with_html_reach_the_page_sanitized(platform, planner):
    """A widget description with HTML (``description_allow_html``; an app may build it from
    data) is shown without scripts, event handlers or ``javascript:`` links, and with its
    harmless markup: the widget manager's sanitizer (sanitize-html, one copy for it and
    JupyterLab's ``Sanitizer``, app_frontend/README.md). The app's own outputs are trusted,
    as in Voilà and JupyterLab: BIF's widgets escape what comes from data."""
    description = ('<b>Haken</b><img src="x" onerror="window.bifPwned = 1">'
                   '<a href="javascript:window.bifPwned = 2">Link</a><script>window.bifPwned = 3</script>')
    nb = notebook(f"import ipywidgets as w\nw.Checkbox(description={description!r}, description_allow_html=True)",
                  id="html-app", title="Test-App HTML")
    with published_app(platform, nb, "bif"):
        page = planner.new_page()
        page.goto(platform.gallery_url)
        page.click("[data-app-id=html-app] >> text=App öffnen")
        page.wait_for_selector(".widget-checkbox b")
        shown = page.evaluate("""() => {
            const label = document.querySelector('.widget-checkbox b').parentElement;
            return {bold: label.querySelector('b').textContent, images: label.querySelectorAll('img').length,
                    handlers: [...label.querySelectorAll('*')].flatMap(e => e.getAttributeNames())
                        .filter(name => name.startsWith('on')),
                    href: label.querySelector('a').getAttribute('href'),
                    scripts: document.querySelectorAll('.widget-checkbox script').length,
                    pwned: window.bifPwned === undefined ? null : window.bifPwned};
        }""")
        assert shown == {"bold": "Haken", "images": 1, "handlers": [], "href": None, "scripts": 0, "pwned": None}, shown
        page.close(run_before_unload=True)
