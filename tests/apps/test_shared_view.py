"""Apps served from one executed copy to all their viewers (``apps.shared_view``), against the
real thing: JupyterHub + proxy + gateway + preheated Voilà + Chromium.

* every viewer gets the same page without a kernel of their own; changes are computed in
  forks of the app's template and are independent per viewer;
* eight simultaneous opens succeed without a kernel each; the same change is computed once;
* the first choices in an app's selection widgets are computed ahead, and a planner's first
  choice is answered from them;
* the change endpoint refuses what does not come from an app page of someone allowed to
  open the app; a broken change leaves the app usable;
* a viewer's forked copy ends after ``shared_session_idle``; a new version replaces the page,
  and a page of the old version reloads itself to it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import partial

import pytest
from apps_helpers import SLIDER_APP, notebook, voila_get, wait_until
from apps_hub import PageJournal, install_app, logged_in_context, running_platform

pytestmark = pytest.mark.timeout(300)

SLIDER = "slider-app"
HIDDEN = "intern-app"
CHOICE = "auswahl-app"
CHOICE_APP = """import ipywidgets as w
district = w.Dropdown(options=["Gesamtstadt", "Altstadt", "Mürwik"], description="Stadtteil")
district.add_class("bif-district-select")
mode = w.ToggleButtons(options=["Werte", "Index"])
out = w.HTML('<p class="bif-choice">Gesamtstadt Werte</p>')
def show(_):
    out.value = f'<p class="bif-choice">{district.value} {mode.value}</p>'
district.observe(show, "value")
mode.observe(show, "value")
w.VBox([district, mode, out])"""
RESULT = ".bif-result"
SESSION_IDLE = 5
SETTINGS = {"shared_view": True, "shared_session_idle": SESSION_IDLE, "pool_size": 1}


def slider_version(text: str) -> dict:
    nb = json.loads(SLIDER_APP.read_text(encoding="utf-8"))
    nb["cells"][0]["source"] = f"# Test-App\n\nStand: **{text}**"
    return nb


@pytest.fixture(scope="module")
def platform(environment_access):
    def prepare(p):
        install_app(p, SLIDER, slider_version("Version A"))
        install_app(p, HIDDEN, notebook("import ipywidgets as w\nw.HTML('intern')", title="Intern",
                                        audience=["office"]))
        install_app(p, CHOICE, notebook(CHOICE_APP, title="Auswahl"))

    yield from running_platform(apps=SETTINGS, prepare=prepare)


@pytest.fixture(scope="module")
def planner(platform, browser):
    ctx = logged_in_context(platform, browser, "planer")
    yield ctx
    ctx.close()


def app_url(platform, app_id: str = SLIDER) -> str:
    return f"{platform.gallery_url}app/{app_id}/"


def open_app(ctx, platform):
    page = ctx.new_page()
    # the page's console, shown by pytest when a test fails
    page.on("console", lambda m: print("console", m.type, m.text[:500]))
    page.on("pageerror", lambda e: print("page error", e))
    page.goto(app_url(platform))
    page.wait_for_selector(RESULT)
    return page


def move_slider(page, expected: str, presses: int = 1) -> None:
    page.focus(".noUi-handle")
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{RESULT}').textContent.includes('{expected}')",
                           timeout=30_000)


def viewer_kernels(platform) -> list[dict]:
    """Voilà's kernels that are neither waiting in a pool nor an app's template."""
    return [k for k in voila_get(platform, "bif/kernels")["kernels"] if not k["pooled"] and not k["shared"]]


def shared_status(platform, app_id: str = SLIDER) -> dict:
    return voila_get(platform, "bif/shared")["apps"].get(app_id, {})


def page_config(page) -> dict:
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent)")


# --- tests, in order ------------------------------------------------------------------------------

def test_the_shared_page_is_built_before_the_first_planner_comes(platform):
    # the gateway builds every current app's page at start (and after a new version)
    assert wait_until(lambda: shared_status(platform).get("template_kernel"), 120)
    assert shared_status(platform)["forks"] == 0 and viewer_kernels(platform) == []


def test_every_viewer_gets_the_same_page_without_a_kernel(platform, planner, browser):
    page = open_app(planner, platform)
    assert page.evaluate("document.body.dataset.bifMode") == "shared"
    config = page_config(page)
    assert config["kernelId"] == "" and json.loads(config["bifShared"])["snapshot"]
    assert page.locator(RESULT).inner_text() == "Ergebnis: 6"
    assert "Version A" in page.locator("#rendered_cells").inner_text()
    move_slider(page, "Ergebnis: 8")
    assert viewer_kernels(platform) == []
    status = shared_status(platform)
    assert status["template_kernel"] and status["forks"] >= 1

    # another planner gets the same page and the default view, not the first one's change
    other = logged_in_context(platform, browser, "planer-b")
    second = open_app(other, platform)
    assert page_config(second)["bifShared"] == config["bifShared"]
    assert second.locator(RESULT).inner_text() == "Ergebnis: 6"
    move_slider(second, "Ergebnis: 10", presses=2)
    move_slider(page, "Ergebnis: 10")  # the first one goes on from where they were
    assert second.locator(RESULT).inner_text() == "Ergebnis: 10"
    assert viewer_kernels(platform) == []
    second.close()
    other.close()
    page.close()


def test_a_planners_next_open_takes_the_apps_scripts_and_styles_from_the_browsers_cache(platform, browser):
    # what a planner's browser keeps between visits (bench_many_planners --browser-cache warm
    # relies on it): every script and style sheet of the page, none asked for again
    ctx = logged_in_context(platform, browser, "planer-cache")
    # the first open as a first visit: without what the gallery had the browser fetch ahead
    # (test_apps_integration.py checks that)
    blank = ctx.new_page()
    ctx.new_cdp_session(blank).send("Network.clearBrowserCache")
    blank.close()
    loaded = "performance.getEntriesByType('resource').filter(e => /\\.(js|css)(\\?|$)/.test(e.name))" \
             ".map(e => [e.name, e.transferSize, e.decodedBodySize])"
    first = open_app(ctx, platform)
    fetched = first.evaluate(loaded)
    first.close()
    again = open_app(ctx, platform)
    cached = again.evaluate(loaded)
    again.close()
    ctx.close()
    assert any(name.endswith(".js") or ".js?" in name for name, _, _ in fetched), fetched
    assert all(transferred > 0 for _, transferred, _ in fetched), fetched  # the first time over the wire
    assert sorted(name for name, _, _ in cached) == sorted(name for name, _, _ in fetched)
    # transferSize 0 with a body: from the cache, without a request (not even a 304)
    assert all(transferred == 0 and size > 0 for _, transferred, size in cached), cached


def test_eight_simultaneous_opens_all_succeed_without_a_kernel_each(platform, browser):
    contexts = [logged_in_context(platform, browser, f"planer-{i}") for i in range(8)]
    pages = [ctx.new_page() for ctx in contexts]
    before = shared_status(platform)
    journal = PageJournal(pages)
    for page in pages:  # start all navigations, then wait for them
        page.evaluate(f"window.location.href = {app_url(platform)!r}")
    journal.wait_for_all(RESULT, 120_000, platform)
    for page in pages:
        move_slider(page, "Ergebnis: 8")
    after = shared_status(platform)
    assert viewer_kernels(platform) == []
    # eight planners, one identical change: computed at most once (it may be prepared), the
    # others got the same answer from Voilà's cache or from the gateway's (shared_pages.Answers)
    assert after["misses"] - before["misses"] <= 1, (before, after)
    for ctx in contexts:
        ctx.close()


def test_first_choices_are_prepared_and_a_planners_first_choice_is_answered_from_them(platform, planner):
    # every other option of the dropdown (2) and of the toggle buttons (1), computed ahead
    def prepared():
        status = shared_status(platform, CHOICE)
        return status.get("prepared") == 3 and not status.get("preparing")

    assert wait_until(prepared, 120), shared_status(platform, CHOICE)
    before = shared_status(platform, CHOICE)
    page = planner.new_page()
    page.goto(app_url(platform, CHOICE))
    page.wait_for_selector(".bif-choice")
    page.select_option(".bif-district-select select", label="Mürwik")
    page.wait_for_function("document.querySelector('.bif-choice').textContent === 'Mürwik Werte'",
                           timeout=30_000)
    after = shared_status(platform, CHOICE)
    # what the page sent is exactly the prepared change: answered from the cache, nothing computed
    assert (after["hits"], after["misses"]) == (before["hits"] + 1, before["misses"])
    assert after["settled"], "the app shows what its widgets' values say"

    # going on through the Stadtteile, and back to the whole city: composed from the prepared
    # answers (shared_views.SharedApp.compose), still nothing computed
    def choose(label: str, shown: str) -> None:
        page.select_option(".bif-district-select select", label=label)
        page.wait_for_function(f"document.querySelector('.bif-choice').textContent === '{shown}'", timeout=30_000)

    choose("Altstadt", "Altstadt Werte")
    choose("Gesamtstadt", "Gesamtstadt Werte")
    choose("Altstadt", "Altstadt Werte")
    composed = shared_status(platform, CHOICE)
    assert (composed["composed"], composed["misses"]) == (after["composed"] + 2, before["misses"])
    # another widget: computed in a session, the dropdown's choice is the page's
    page.click("text=Index")
    page.wait_for_function("document.querySelector('.bif-choice').textContent === 'Altstadt Index'", timeout=30_000)
    choose("Mürwik", "Mürwik Index")
    assert page.eval_on_selector(".bif-district-select select", "s => s.selectedOptions[0].textContent") == "Mürwik"
    computed = shared_status(platform, CHOICE)
    assert computed["misses"] > before["misses"] and computed["composed"] == composed["composed"]
    page.close()


def interact(ctx, platform, body, app_id: str = SLIDER, content_type: str = "application/json"):
    return ctx.request.post(f"{app_url(platform, app_id)}bif/interact", data=json.dumps(body),
                            headers={"Content-Type": content_type}, fail_on_status_code=False)


def test_the_change_endpoint_refuses_what_is_not_a_change_of_an_allowed_viewer(platform, planner, browser):
    snapshot, slider = shared_slider(platform, planner)
    good = {"snapshot": snapshot, "history": [], "step": slider_step(slider, 7)}
    answer = interact(planner, platform, good)
    assert answer.status == 200, answer.text()
    assert "Ergebnis: 14" in answer.text()

    assert interact(planner, platform, good, content_type="text/plain").status == 403  # a cross-site form
    assert interact(planner, platform, {**good, "snapshot": "alt"}).status == 409
    broken = interact(planner, platform, {**good, "step": {"comm_id": slider, "code": "import os"}})
    assert broken.status == 500 and json.loads(broken.text()) == {"reason": "error"}
    assert interact(planner, platform, {**good, "step": {**good["step"], "comm_id": "x" * 32}}).status == 500
    assert interact(planner, platform, good).status == 200  # still usable

    # someone outside the app's audience, and nobody logged in
    assert interact(planner, platform, good, app_id=HIDDEN).status in (403, 404)
    anonymous = browser.new_context()
    refused = anonymous.request.post(f"{app_url(platform)}bif/interact", data=json.dumps(good),
                                     headers={"Content-Type": "application/json"}, max_redirects=0,
                                     fail_on_status_code=False)
    assert refused.status in (302, 403)
    anonymous.close()


def test_the_gateway_answers_a_change_it_has_passed_on_before_without_voila(platform, planner):
    """Voilà's answer to a change depends on nothing but the request: the gateway keeps it
    with the shared page and answers the same request itself (shared_pages.Answers)."""
    snapshot, slider = shared_slider(platform, planner)

    step = partial(slider_step, slider)

    later = {"snapshot": snapshot, "history": [step(3)], "step": step(11)}
    computed = interact(planner, platform, later)
    assert computed.status == 200 and "Ergebnis: 22" in computed.text()
    before = shared_status(platform)
    again = interact(planner, platform, later)
    assert again.status == 200 and again.text() == computed.text()
    after = shared_status(platform)
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"]), "Voilà was asked"

    # a first change answered by the gateway still reaches Voilà once, without anybody
    # waiting: Voilà places a copy of the app there for the viewer's next change
    first = {"snapshot": snapshot, "history": [], "step": step(13)}
    assert interact(planner, platform, first).status == 200
    passed_on = shared_status(platform)["hits"] + shared_status(platform)["misses"]
    assert interact(planner, platform, first).text() == interact(planner, platform, first).text()
    assert wait_until(lambda: shared_status(platform)["hits"] + shared_status(platform)["misses"]
                      == passed_on + 1, 10), shared_status(platform)

    # what was kept never answers a request for another snapshot, nor one Voilà refuses
    assert interact(planner, platform, {**later, "snapshot": "alt"}).status == 409
    assert interact(planner, platform, {**later, "step": {"comm_id": slider, "code": "x"}}).status == 500


def test_the_same_change_from_many_at_once_reaches_voila_once(platform, planner):
    """A training room picks the same Stadtteil at once: the gateway passes one request on and
    gives its answer to all who sent the same (shared_pages.Answers.asking/joining); waiting
    for it is not computing, so the per-person limit (INTERACT_PER_USER) refuses none."""
    import concurrent.futures

    snapshot, slider = shared_slider(platform, planner)
    cookies = cookie_header(planner, platform)

    step = partial(slider_step, slider)

    # never asked before (a history of its own): Voilà computes it in a copy of the app
    body = {"snapshot": snapshot, "history": [step(4), step(9)], "step": step(17)}

    def send(_) -> tuple[int, bytes]:
        return post_change(platform, cookies, body)

    before = shared_status(platform)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert [status for status, _ in answers] == [200] * 8, [status for status, _ in answers]
    assert len({text for _, text in answers}) == 1 and b"Ergebnis: 34" in answers[0][1]
    after = shared_status(platform)
    assert after["hits"] + after["misses"] == before["hits"] + before["misses"] + 1, (before, after)


def shared_slider(platform, planner) -> tuple[str, str]:
    """The shared page's snapshot and the slider's model id, for changes sent by hand."""
    page = open_app(planner, platform)
    snapshot = json.loads(page_config(page)["bifShared"])["snapshot"]
    page.close()
    slider = next(m for m, s in shared_states(planner, platform).items() if s["model_name"] == "IntSliderModel")
    return snapshot, slider


def slider_step(slider: str, value: int) -> dict:
    """One change of the slider, as the page sends it."""
    return {"comm_id": slider, "data": {"method": "update", "state": {"value": value}, "buffer_paths": []},
            "buffers": []}


def cookie_header(planner, platform) -> str:
    """The planner's cookies, for requests sent from threads (Playwright's are not thread-safe)."""
    return "; ".join(f"{c['name']}={c['value']}" for c in planner.cookies([platform.gallery_url]))


def post_change(platform, cookies: str, body: dict) -> tuple[int, bytes]:
    """POST one change as the page does; (status, answer), thread-safe (no Playwright)."""
    req = urllib.request.Request(f"{app_url(platform)}bif/interact", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Cookie": cookies}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def shared_states(ctx, platform) -> dict:
    page = ctx.new_page()
    page.goto(app_url(platform))
    page.wait_for_selector(RESULT)
    states = page.evaluate(
        "JSON.parse(document.getElementById('bif-widget-snapshot').textContent).data.states")
    page.close()
    return states


def test_a_viewers_copy_ends_when_they_left(platform, planner):
    page = open_app(planner, platform)
    move_slider(page, "Ergebnis: 8", presses=1)
    move_slider(page, "Ergebnis: 12", presses=2)
    page.close(run_before_unload=True)
    assert shared_status(platform)["sessions"] >= 1
    # ended after shared_session_idle, swept every 10 s
    assert wait_until(lambda: shared_status(platform)["sessions"] == 0, SESSION_IDLE + 15)
    assert viewer_kernels(platform) == []


def test_a_new_version_replaces_the_shared_page_and_old_pages_reload(platform, planner):
    from bif_lib.apps.serving.pools import refresh_pool

    page = open_app(planner, platform)
    old = json.loads(page_config(page)["bifShared"])["snapshot"]
    install_app(platform, SLIDER, slider_version("Version B"))
    assert refresh_pool(platform.cfg(), SLIDER)  # what bif publish does after a new version
    # the open page of version A: its next change finds the snapshot gone and reloads to B
    page.focus(".noUi-handle")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#rendered_cells').textContent.includes('Version B')",
                           timeout=60_000)
    page.wait_for_selector(RESULT)
    assert json.loads(page_config(page)["bifShared"])["snapshot"] != old
    move_slider(page, "Ergebnis: 8")
    page.close()


def test_one_person_flooding_the_change_endpoint_is_held_back(platform, planner, browser):
    """Two changes of one person are computed at once, the rest is refused (429, the page tries
    again); another planner meanwhile works as always."""
    import concurrent.futures

    snapshot, slider = shared_slider(platform, planner)
    cookies = cookie_header(planner, platform)

    def flood(i: int) -> int:
        # distinct histories: nothing is cached, every request needs a fork and a replay
        body = {"snapshot": snapshot, "history": [slider_step(slider, v) for v in range(i % 5 + 1)],
                "step": slider_step(slider, 20 - i % 7)}
        return post_change(platform, cookies, body)[0]

    other = logged_in_context(platform, browser, "planer-ruhig")
    page = open_app(other, platform)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        flooding = [pool.submit(flood, i) for i in range(20)]
        move_slider(page, "Ergebnis: 8")
        move_slider(page, "Ergebnis: 10")
        statuses = [f.result() for f in flooding]
    assert statuses.count(429) >= 10 and set(statuses) <= {200, 429}, statuses
    page.close()
    other.close()
