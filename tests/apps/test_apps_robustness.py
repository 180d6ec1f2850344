"""Robustness and limits of the apps service, against the real thing: JupyterHub + proxy +
gateway + preheated Voilà + Chromium (one platform for the module, with short timeouts).

* a kernel WebSocket without the kernel protocol is refused before it reaches Voilà (the
  Voilà 0.5.13 loop), the other apps keep answering; also text frames, oversized
  messages, too many connections per kernel;
* pages that went away (never connected, WebSocket closed) lose their kernel;
* eight simultaneous opens succeed; one person's kernel limit; 50 opens by one client;
* the app kernels cannot plant startup code or configuration and see no token;
* the watchdog replaces a hanging Voilà (last: it restarts Voilà).

Apps are put into the registry directly (``Registry.add_version``): what is tested here is
the running service, not the publication checks (tests/apps/test_apps_publish.py).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import pwd
import re
import signal
import stat
import time
import urllib.error
import urllib.request
import uuid

import pytest
from apps_helpers import KERNEL_ID, SLIDER_APP, notebook, run_async, voila_kernel_exists, wait_until
from apps_hub import PageJournal, install_app, logged_in_context, running_platform

pytestmark = pytest.mark.timeout(300)

SLIDER = "slider-app"
IMAGE = "bild-app"
CHECKS = "pruef-app"
SLOW = "lang-app"
SLOW_CELL = """\
import time
import ipywidgets as widgets
from IPython.display import display

time.sleep(2)  # a notebook that takes its time: its page holds the only slot meanwhile
display(widgets.HTML("<span class='bif-result'>Fertig</span>"))
"""
RESULT = ".bif-result"
PROTOCOL = "v1.kernel.websocket.jupyter.org"
ORPHAN_TIMEOUT = 10
CONNECT_GRACE = 2
SETTINGS = {
    "shared_view": False,  # the kernel per page (apps that cannot be shared); test_shared_view.py: shared
    "concurrent_starts": 1,  # one page prepared at a time: the line is seen with few people
    "pool_max": 3, "pool_demand_window": 20,  # pools grow with demand, and soon shrink back
    "max_kernels_per_user": 3,
    # a person's page that never connects holds their next one back this long (default 10 s):
    # shorter than ORPHAN_TIMEOUT, so that a few such opens in a row keep their kernels
    "connect_grace": CONNECT_GRACE,
    "orphan_timeout": ORPHAN_TIMEOUT, "orphan_check_interval": 1,
    "ws_max_message_size": 2 * 1024 * 1024, "ws_max_connections_per_kernel": 3,
    "watchdog_interval": 1, "watchdog_probe_timeout": 2, "watchdog_failures": 3,
}

IMAGE_CELL = """\
import struct, zlib
import ipywidgets as widgets
from IPython.display import display

def png(width=64, height=64):
    rows = b"".join(b"\\0" + bytes((200, 30, 30)) * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

# an image widget: its state travels as a binary buffer (the message Voilà 0.5.13 loops on)
display(widgets.Image(value=png(), format="png", width=64))
display(widgets.HTML("<span class='bif-result'>Bild geladen</span>"))
"""

# Runs in a preheated app kernel under Voilà, as any app's code would; prints its findings.
CHECK_CELL = r'''
import base64, json, os, sys
from pathlib import Path
from jupyter_core import paths as jpaths

found = {"writable": [], "refused": [], "env": dict(os.environ)}
candidates = set()
for var in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
    if os.environ.get(var):
        candidates.add(os.environ[var])
for var in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
    candidates.update(p for p in os.environ.get(var, "").split(os.pathsep) if p)
profile = get_ipython().profile_dir  # noqa: F821 - in the kernel
candidates.update([profile.location, profile.startup_dir])
candidates.update([jpaths.jupyter_config_dir(), jpaths.jupyter_data_dir(), *jpaths.jupyter_config_path(),
                   *jpaths.jupyter_path(), *jpaths.jupyter_path("kernels")])
home = os.path.expanduser("~")
candidates.update([home, home + "/.ipython/profile_default/startup", home + "/.jupyter",
                   home + "/.local/share/jupyter", home + "/.config", home + "/.local/lib"])
candidates.update(p for p in sys.path if os.path.isabs(p))  # a module planted there would be imported
candidates.add(os.getcwd())
for d in sorted(candidates):
    try:
        Path(d).mkdir(parents=True, exist_ok=True)
        with open(Path(d) / "00-bif-planted.py", "x") as fh:
            fh.write("print('planted')\n")
    except OSError as e:
        found["refused"].append([d, type(e).__name__])
    else:
        found["writable"].append(d)
        os.unlink(Path(d) / "00-bif-planted.py")
# the writable places the kernel needs
for var in ("TMPDIR", "JUPYTER_RUNTIME_DIR"):
    probe = Path(os.environ[var]) / "bif-probe"
    probe.write_text("x")
    probe.unlink()
    found.setdefault("needed_writable", []).append(var)
def ppid(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

def cmdline(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")

# the kernel's parent: the kernel fork server, whose parent is Voilà (or Voilà itself)
parent = os.getppid()
found["parent_cmdline"] = cmdline(parent)
voila = ppid(parent) if "kernel_forks" in found["parent_cmdline"] else parent
found["voila_cmdline"] = cmdline(voila)
for who, pid in (("voila", voila), ("parent", parent)):
    for name in ("environ", "maps"):
        try:
            found[who + "_" + name] = Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace")
        except OSError as e:
            found[who + "_" + name + "_error"] = type(e).__name__
# another app kernel (a sibling forked by the same server) keeps its memory to itself too
siblings = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
            and Path(f"/proc/{p}/stat").exists() and ppid(int(p)) == parent and "ipykernel" in cmdline(int(p))]
found["siblings"] = len(siblings)
for pid in siblings[:1]:
    try:
        Path(f"/proc/{pid}/environ").read_bytes()
    except OSError as e:
        found["sibling_environ_error"] = type(e).__name__
print("BIFCHECK:" + base64.b64encode(json.dumps(found).encode()).decode() + ":END")
'''


@pytest.fixture(scope="module")
def platform(environment_access):
    def prepare(p):
        install_app(p, SLIDER, json.loads(SLIDER_APP.read_text(encoding="utf-8")), pool_size=2)
        install_app(p, IMAGE, notebook(IMAGE_CELL, title="Test-App Bild", audience=["planners"]))
        install_app(p, CHECKS, notebook(CHECK_CELL, title="Test-App Prüfung", audience=["planners"]))
        install_app(p, SLOW, notebook(SLOW_CELL, title="Test-App Langsam", audience=["planners"]), pool_size=0)

    yield from running_platform(apps=SETTINGS, prepare=prepare)


@pytest.fixture(scope="module")
def planner(platform, browser):
    ctx = logged_in_context(platform, browser, "planer")
    yield ctx
    ctx.close()


def app_url(platform, app_id: str) -> str:
    return f"{platform.gallery_url}app/{app_id}/"


def open_slider(ctx, platform):
    page = ctx.new_page()
    page.goto(app_url(platform, SLIDER))
    page.wait_for_selector(RESULT)
    return page


def move_slider(page, expected: str) -> None:
    page.focus(".noUi-handle")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{RESULT}').textContent.includes('{expected}')",
                           timeout=30_000)


def open_html_only(ctx, platform, app_id: str) -> str:
    """Request the app page like a tab that is closed before its scripts run; its kernel id."""
    response = ctx.request.get(app_url(platform, app_id))
    assert response.status == 200, response.text()[:500]
    return KERNEL_ID.search(response.text()).group(1)


def cookie_header(ctx, platform) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in ctx.cookies([platform.gallery_url]))


def voila_token(platform) -> str:
    return platform.cfg().voila_token_file.read_text().strip()


def voila_pid(platform) -> int:
    return int(platform.cfg().voila_pid_file.read_text())


def ws_url(platform, app_id: str, kid: str) -> str:
    return f"ws://127.0.0.1:{platform.spec['hub_port']}/services/bif-apps/app/{app_id}/api/kernels/{kid}/channels" \
           f"?session_id={uuid.uuid4().hex}"


async def ws_connect(url: str, cookie: str, protocols: list[str] | None, headers: dict | None = None):
    from tornado import httpclient, websocket

    req = httpclient.HTTPRequest(url, headers={"Cookie": cookie, **(headers or {})}, connect_timeout=20,
                                 request_timeout=20)
    return await websocket.websocket_connect(req, subprotocols=protocols)


async def read_until_closed(conn, timeout: float = 20):
    """Messages until the server closes the connection; (messages, close code, close reason)."""
    messages = []
    while True:
        msg = await asyncio.wait_for(conn.read_message(), timeout)
        if msg is None:
            return messages, conn.close_code, conn.close_reason
        messages.append(msg)


def legacy_message(msg_type: str, content: dict, metadata: dict | None = None) -> str:
    """A kernel message in Jupyter's legacy WebSocket protocol (JSON text, no subprotocol)."""
    return json.dumps({"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": uuid.uuid4().hex,
                                  "username": "x", "version": "5.3", "date": "2024-01-01T00:00:00Z"},
                       "parent_header": {}, "metadata": metadata or {}, "content": content,
                       "channel": "shell", "buffers": []})


def v1_message(msg_type: str, content: dict, buffers=()) -> bytes:
    """A kernel message in the v1 kernel WebSocket protocol (what the front ends send)."""
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": uuid.uuid4().hex, "username": "x",
              "version": "5.3", "date": "2024-01-01T00:00:00Z"}
    parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
    return serialize_msg_to_ws_v1([*parts, *buffers], "shell")


# --- 1. hostile WebSocket clients ----------------------------------------------------------------

def test_a_client_that_keeps_opening_refused_websockets_is_slowed_down(platform, browser):
    """From the fourth refused kernel WebSocket of a person within a minute, the refusal comes
    only after 2 s (RefusalDelay); another person's is not delayed."""
    persistent = logged_in_context(platform, browser, "planer-ws-stur")
    kid = open_html_only(persistent, platform, IMAGE)
    cookie = cookie_header(persistent, platform)

    async def refused(cookie_: str, kernel: str) -> tuple[float, int | None]:
        t = time.monotonic()
        conn = await ws_connect(ws_url(platform, IMAGE, kernel), cookie_, None)
        _, code, _ = await read_until_closed(conn)
        return time.monotonic() - t, code

    answers = [run_async(refused(cookie, kid)) for _ in range(4)]
    assert [code for _, code in answers] == [1002] * 4
    first, fourth = [seconds for seconds, _ in answers[:3]], answers[3][0]
    assert fourth >= 1.9 and max(first) < fourth, answers

    other = logged_in_context(platform, browser, "planer-ws-andere")
    other_kid = open_html_only(other, platform, IMAGE)
    seconds, code = run_async(refused(cookie_header(other, platform), other_kid))
    assert code == 1002 and seconds < fourth
    persistent.close()
    other.close()


def test_websocket_without_kernel_protocol_is_refused_and_apps_keep_answering(platform, browser):
    ctx = logged_in_context(platform, browser, "planer-ws")
    before = voila_pid(platform)
    kid = open_html_only(ctx, platform, IMAGE)
    cookie = cookie_header(ctx, platform)

    async def hostile():
        conn = await ws_connect(ws_url(platform, IMAGE, kid), cookie, None)
        # what a legacy client sends first: the widget manager asks for all widget states, which
        # contain the image's bytes as a binary buffer; Voilà 0.5.13 would loop on the answer
        comm = uuid.uuid4().hex
        for message in (legacy_message("comm_open", {"comm_id": comm, "target_name": "jupyter.widget.control",
                                                     "data": {}}, {"version": "1.0.0"}),
                        legacy_message("comm_msg", {"comm_id": comm, "data": {"method": "request_states"}})):
            try:
                await conn.write_message(message)
            except Exception:  # noqa: BLE001 - already closed by the gateway
                break
        return await read_until_closed(conn)

    messages, code, reason = run_async(hostile())
    assert code == 1002 and "v1.kernel.websocket.jupyter.org" in reason
    assert messages == []  # nothing came from the kernel

    # the same kernel with the right protocol but a text frame (the legacy encoding): closed too
    async def text_frame():
        conn = await ws_connect(ws_url(platform, IMAGE, kid), cookie, [PROTOCOL])
        assert conn.selected_subprotocol == PROTOCOL
        await conn.write_message(legacy_message("kernel_info_request", {}))
        return await read_until_closed(conn)

    _, code, reason = run_async(text_frame())
    assert code == 1003 and "binär" in reason

    # a well-formed message above apps.ws_max_message_size (2 MiB here; Voilà itself would take
    # it): the gateway drops the connection (tornado aborts it, so the client may not even
    # receive the close code 1009)
    async def too_big():
        conn = await ws_connect(ws_url(platform, IMAGE, kid), cookie, [PROTOCOL])
        await conn.write_message(v1_message("comm_msg", {"comm_id": uuid.uuid4().hex, "data": {}},
                                            buffers=[b"\0" * (3 * 1024 * 1024)]), binary=True)
        return await read_until_closed(conn)

    _, code, _ = run_async(too_big())
    assert code in (None, 1009)

    # at most ws_max_connections_per_kernel (3) connections to one kernel
    async def many():
        conns = [await ws_connect(ws_url(platform, IMAGE, kid), cookie, [PROTOCOL]) for _ in range(3)]
        extra = await ws_connect(ws_url(platform, IMAGE, kid), cookie, [PROTOCOL])
        refused = await read_until_closed(extra)
        for conn in conns:
            conn.close()
        return refused

    _, code, reason = run_async(many())
    assert code == 1008 and "Zu viele Verbindungen" in reason

    # Voilà itself refuses the legacy protocol too (second line of defence), even with its token
    async def direct():
        from tornado import httpclient, websocket

        req = httpclient.HTTPRequest(f"ws://127.0.0.1:{platform.spec['voila_port']}/api/kernels/{kid}/channels",
                                     headers={"Authorization": f"token {voila_token(platform)}"})
        with pytest.raises(httpclient.HTTPClientError) as err:
            await websocket.websocket_connect(req)
        return err.value.code

    assert run_async(direct()) == 400

    # every app still answers, from the same Voilà (no hang, no restart)
    page = open_slider(ctx, platform)
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    page = ctx.new_page()
    page.goto(app_url(platform, IMAGE))
    page.wait_for_selector(RESULT)
    assert page.evaluate("document.querySelector('.widget-image').naturalWidth") > 0
    page.close(run_before_unload=True)
    assert voila_pid(platform) == before
    ctx.close()


# --- 4. kernels whose page went away ------------------------------------------------------------------

def test_tab_closed_before_connecting_leaves_no_kernel(platform, browser):
    ctx = logged_in_context(platform, browser, "planer-zu")
    kid = open_html_only(ctx, platform, SLIDER)  # the page, but never its WebSocket
    assert voila_kernel_exists(platform, kid)
    assert wait_until(lambda: not voila_kernel_exists(platform, kid), ORPHAN_TIMEOUT + 20)
    ctx.close()


def test_kernel_without_connection_is_shut_down_but_a_live_page_keeps_its_own(platform, browser):
    ctx = logged_in_context(platform, browser, "planer-weg")
    live = open_slider(ctx, platform)
    live_kid = live.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")

    # another tab connects and then loses its connection without a shutdown (crash, network)
    kid = open_html_only(ctx, platform, SLIDER)
    cookie = cookie_header(ctx, platform)

    async def connect_and_drop():
        conn = await ws_connect(ws_url(platform, SLIDER, kid), cookie, [PROTOCOL])
        await asyncio.sleep(1)
        conn.close()
        await asyncio.sleep(0.5)

    run_async(connect_and_drop())
    assert voila_kernel_exists(platform, kid)
    assert wait_until(lambda: not voila_kernel_exists(platform, kid), ORPHAN_TIMEOUT + 20)
    # the page that stayed connected all along still works with its kernel
    assert voila_kernel_exists(platform, live_kid)
    move_slider(live, "Ergebnis: 8")
    live.close(run_before_unload=True)
    ctx.close()


KERNEL_IN_URL = re.compile(r"/api/kernels/([0-9a-f-]{36})")
RELOADED_AND_READY = ("() => JSON.parse(sessionStorage.getItem('bif-app-reloads') || '[]').length === 1"
                      f" && !!document.querySelector('{RESULT}')")


def reloaded_and_ready(page, timeout: float, replaced: list[str]) -> bool:
    """The page reloaded itself once and shows its app, with a kernel not in ``replaced`` (a
    list read at each look: the test's handlers fill it while the page loads)."""
    def ready() -> bool:
        try:
            return page.evaluate(RELOADED_AND_READY) and page_kernel(page) not in replaced
        except Exception:  # noqa: BLE001 - between two documents
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        page.wait_for_timeout(250)  # (Playwright's event handlers run meanwhile)
    return False


def page_kernel(page) -> str:
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


def test_a_page_that_asks_for_its_kernel_after_it_was_shut_down_reloads_itself(platform, browser):
    """A page whose first request for its kernel comes after the gateway shut the kernel down as
    an orphan (``apps.orphan_timeout``: a very slow browser) reloads itself and works with a
    fresh kernel, instead of showing the app without its widgets."""
    ctx = logged_in_context(platform, browser, "planer-spaet")
    page = ctx.new_page()
    late = []

    def after_the_orphan_check(route):
        kid = KERNEL_IN_URL.search(route.request.url).group(1)
        if not late:
            late.append(kid)
            assert wait_until(lambda: not voila_kernel_exists(platform, kid), ORPHAN_TIMEOUT + 20)
        route.continue_()

    page.route(re.compile(r".*/api/kernels/[0-9a-f-]{36}(\?.*)?$"), after_the_orphan_check)
    page.goto(app_url(platform, SLIDER))
    assert reloaded_and_ready(page, ORPHAN_TIMEOUT + 90, replaced=late) and late
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


def test_a_page_whose_first_connection_never_got_through_reloads_when_its_kernel_is_gone(platform, browser):
    """The page has its kernel, but its WebSocket never gets through (closed on the way, every
    attempt): the gateway shuts the kernel down as an orphan; the page's next attempt finds it
    gone (the kernel connection then calls it dead), and the page reloads itself and works with
    a fresh kernel."""
    ctx = logged_in_context(platform, browser, "planer-ohne-netz")
    page = ctx.new_page()
    blocked = []

    def kernel_socket(ws):
        kid = KERNEL_IN_URL.search(ws.url).group(1)
        if not blocked:
            blocked.append(kid)
        if kid == blocked[0]:
            ws.close()  # never reaches the server
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/api/kernels/[0-9a-f-]{36}/channels.*"), kernel_socket)
    page.goto(app_url(platform, SLIDER))
    assert reloaded_and_ready(page, ORPHAN_TIMEOUT + 120, replaced=blocked) and blocked
    assert not voila_kernel_exists(platform, blocked[0])
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


def shut_down_past_the_gateway(platform, kid: str) -> None:
    """Shut a kernel down in Voilà itself, as its culler would, or as the gateway's orphan check
    does just when the page connects: the gateway learns of it by asking Voilà."""
    from bif_lib.apps.serving.gateway import shutdown_voila_kernel

    assert run_async(shutdown_voila_kernel(platform.cfg(), voila_token(platform), kid))


def test_a_kernel_connection_ends_with_its_kernel(platform, browser):
    """Voilà keeps a kernel WebSocket open, and silent, after the kernel was shut down: the
    gateway closes it (a normal closure with a German reason) once it knows the kernel is gone."""
    ctx = logged_in_context(platform, browser, "planer-ende")
    kid = open_html_only(ctx, platform, SLIDER)
    cookie = cookie_header(ctx, platform)

    async def connected_then_ended():
        conn = await ws_connect(ws_url(platform, SLIDER, kid), cookie, [PROTOCOL])
        shut_down_past_the_gateway(platform, kid)
        return await read_until_closed(conn, timeout=ORPHAN_TIMEOUT)

    _, code, reason = run_async(connected_then_ended())
    assert (code, reason) == (1000, "Der Rechenkern dieser Seite wurde beendet.")
    ctx.close()


def test_a_working_page_whose_kernel_was_shut_down_reloads_itself(platform, browser):
    ctx = logged_in_context(platform, browser, "planer-gekappt")
    page = ctx.new_page()
    page.goto(app_url(platform, SLIDER))
    page.wait_for_selector(RESULT)
    kid = page_kernel(page)
    shut_down_past_the_gateway(platform, kid)
    assert reloaded_and_ready(page, 60, replaced=[kid])
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


def connected_without_answers(page, platform) -> list[str]:
    """Open the slider app in ``page`` with its first kernel connection standing but nothing
    of the kernel's reaching the page (its widgets are loading); later connections work. The
    first connection's kernel id is in the returned list once the page has connected."""
    first = []

    def kernel_socket(ws):
        server = ws.connect_to_server()
        ws.on_message(server.send)
        kid = KERNEL_IN_URL.search(ws.url).group(1)
        first.append(kid) if not first else None

        def to_page(message):
            if kid != first[0]:
                ws.send(message)
        server.on_message(to_page)

    page.route_web_socket(re.compile(r".*/api/kernels/[0-9a-f-]{36}/channels.*"), kernel_socket)
    page.goto(app_url(platform, SLIDER))
    for _ in range(120):  # until the page has connected (Playwright's handlers run meanwhile)
        if first:
            break
        page.wait_for_timeout(250)
    assert first and page.locator(RESULT).count() == 0
    return first


def test_a_page_whose_kernel_ends_while_its_widgets_load_reloads_itself(platform, browser):
    """The kernel ends while the page is connected but has not got its widgets yet (the orphan
    check shut it down just as a slow page connected): the page reloads and works, instead of
    showing "Loading widget..." for good."""
    ctx = logged_in_context(platform, browser, "planer-mittendrin")
    page = ctx.new_page()
    first = connected_without_answers(page, platform)
    shut_down_past_the_gateway(platform, first[0])
    assert reloaded_and_ready(page, 60, replaced=first)
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


def test_a_page_whose_widgets_never_come_reloads_itself(platform, browser):
    """Connected, kernel alive, but the widgets' state never arrives (whatever the cause): the
    page reloads after the front end's 30 s (FIRST_RESTORE_MS) and works with a fresh kernel."""
    ctx = logged_in_context(platform, browser, "planer-ohne-antwort")
    page = ctx.new_page()
    first = connected_without_answers(page, platform)
    page.wait_for_timeout(20_000)
    assert page.locator(RESULT).count() == 0 and page_kernel(page) == first[0]  # not before its time
    assert reloaded_and_ready(page, 40, replaced=first)
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


def test_widgets_whose_state_comes_as_the_wait_for_them_ends_are_shown(platform, browser):
    """ipywidgets' manager waits 2 s (in steps of 100 ms) for the model of a widget the page
    shows, and calls it missing for good if the widgets' state has come from the kernel by then.
    State that came during the wait's last step left "Error displaying widget: model not found"
    (BIF's front end says it in German) on the page for good: on a busy machine, one of eight
    pages opened at once (ipywidgets#4040). The page's clock is Playwright's fake one: the
    widgets' state is let through exactly then. Meanwhile the page says it loads, in German."""
    ctx = logged_in_context(platform, browser, "planer-knapp")
    page = ctx.new_page()
    page.clock.install()
    page.clock.pause_at(time.time() + 1)  # the page's timers fire only when the test says so
    held, socket = [], {}

    def kernel_socket(ws):
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def to_page(message):
            state = "update_states" in message if isinstance(message, str) else b"update_states" in message
            if state and not socket.get("released"):
                held.append(message)
            else:
                ws.send(message)
        server.on_message(to_page)
        socket["page"] = ws

    page.route_web_socket(re.compile(r".*/api/kernels/[0-9a-f-]{36}/channels.*"), kernel_socket)
    page.goto(app_url(platform, SLIDER), wait_until="commit")
    for _ in range(240):  # the page has asked for the widgets' state: it waits for their models
        if held:
            break
        page.wait_for_timeout(250)
    assert held and page.locator(RESULT).count() == 0
    assert "Wird geladen …" in page.inner_text("body") and "Loading" not in page.inner_text("body")
    page.clock.run_for(1950)  # the wait's last step: the models are looked for again at 2000 ms
    socket["released"] = True
    for message in held:
        socket["page"].send(message)
    page.wait_for_timeout(1500)  # the state is applied (no timers needed)
    page.clock.run_for(200)
    page.clock.resume()
    page.wait_for_function("document.querySelector('.bif-result') || "
                           "document.body.innerText.includes('kann nicht angezeigt werden')", timeout=30_000)
    assert page.locator(RESULT).count() == 1, page.inner_text("body")
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)
    ctx.close()


# --- 3. many planners at once, and limits per person -------------------------------------------------

def test_eight_simultaneous_opens_all_succeed(platform, browser):
    before = voila_pid(platform)
    contexts = [logged_in_context(platform, browser, f"planer-{i}") for i in range(8)]
    pages = [ctx.new_page() for ctx in contexts]
    journal = PageJournal(pages)
    for page in pages:  # start all navigations, then wait for them
        page.evaluate(f"window.location.href = {app_url(platform, SLIDER)!r}")
    journal.wait_for_all(RESULT, 120_000, platform)
    for page in pages:
        move_slider(page, "Ergebnis: 8")
    for page in pages:
        page.close(run_before_unload=True)
    for ctx in contexts:
        ctx.close()
    assert voila_pid(platform) == before  # the watchdog saw nothing wrong meanwhile


def test_opens_beyond_the_free_slots_wait_in_line_and_see_their_position(platform, browser):
    """With one slot and an app without preheated kernels, three people opening at once are
    served one after another in arrival order; those waiting see their position, which moves
    up, and whoever closes the waiting tab leaves the line."""
    contexts = [logged_in_context(platform, browser, f"schlange-{i}") for i in range(4)]
    pages = [ctx.new_page() for ctx in contexts]
    seen: dict[int, list[str]] = {i: [] for i in range(4)}
    for i, page in enumerate(pages):
        page.expose_function("bifSeen", lambda text, i=i: seen[i].append(text))
        page.add_init_script("""new MutationObserver(() => {
            const p = document.getElementById('bif-queue-position');
            if (p) window.bifSeen(p.textContent);
            if (!window.bifDoneAt && document.querySelector('.bif-result')) window.bifDoneAt = Date.now();
          }).observe(document, {subtree: true, childList: true, characterData: true});""")
    for i, page in enumerate(pages):
        page.evaluate(f"window.location.href = {app_url(platform, SLOW)!r}")
        if i < 3:
            page.wait_for_timeout(300)  # a definite order of arrival
    # the last one to arrive closes its tab while it waits (position 3)
    status = pages[3].get_by_role("status")
    status.wait_for(timeout=20_000)
    assert "Sie sind an Position" in status.inner_text()
    assert pages[3].evaluate("document.documentElement.lang") == "de"
    pages[3].close()
    done_at = []
    for page in pages[:3]:
        page.wait_for_selector(RESULT, timeout=120_000)
        page.wait_for_function("() => window.bifDoneAt")
        done_at.append(page.evaluate("window.bifDoneAt"))
    assert done_at == sorted(done_at), done_at  # served in the order they came
    positions = {i: [int(x) for x in seen[i] if x.isdigit()] for i in range(3)}
    assert positions[0] == [], positions  # the first had the slot at once
    assert positions[1] and positions[1][-1] == 1, positions
    assert positions[2] and positions[2][0] >= 2 and positions[2][-1] == 1, positions
    assert positions[2] == sorted(positions[2], reverse=True), positions  # only ever moves up
    assert "bif_seite=" in pages[2].url  # the prepared page, fetched after waiting
    for page in pages[:3]:
        page.close(run_before_unload=True)
    for ctx in contexts:
        ctx.close()


def test_a_waiting_page_whose_connection_ends_early_asks_again(platform, browser):
    """The line's answer comes over the waiting page's own connection. When that ends without
    one (the app service restarted, a proxy cut it), the page says so and asks again, instead
    of promising for good that the app will open by itself; at most three times in five minutes."""
    from bif_lib.apps.serving.gallery import Pages
    from bif_lib.apps.serving.service import STREAM_MARK

    cfg = platform.cfg()
    head = Pages(cfg.service_prefix, cfg.hub_prefix, cfg.platform_name).waiting(2, user={"name": "x"})
    cut_off = head.split(STREAM_MARK)[0] + "<script>bifQueuePosition(1)</script>\n"  # and then nothing
    ctx = logged_in_context(platform, browser, "planer-abgerissen")
    page = ctx.new_page()
    requests = []

    def cut_the_first_two(route):
        requests.append(route.request.url)
        if len(requests) <= 2:
            route.fulfill(status=200, content_type="text/html; charset=UTF-8", body=cut_off)
        else:
            route.continue_()

    page.route(app_url(platform, SLIDER), cut_the_first_two)
    page.goto(app_url(platform, SLIDER))
    notice = page.get_by_role("alert").filter(has_text="Die Verbindung wurde unterbrochen")
    notice.wait_for(timeout=10_000)
    assert "Die Seite wird neu geladen" in notice.inner_text()
    page.wait_for_selector(RESULT, timeout=60_000)  # asked again twice; the third time it works
    assert len(requests) == 3
    move_slider(page, "Ergebnis: 8")

    # a connection cut every time: after three tries in five minutes the planner decides
    page.evaluate("sessionStorage.setItem('bif-queue-retries', JSON.stringify([Date.now(), Date.now(), Date.now()]))")
    page.unroute(app_url(platform, SLIDER))
    page.route(app_url(platform, SLIDER), lambda route: (requests.append(route.request.url),
                                                         route.fulfill(status=200, body=cut_off,
                                                                       content_type="text/html; charset=UTF-8")))
    page.goto(app_url(platform, SLIDER))
    page.get_by_role("alert").filter(has_text="mehrmals unterbrochen").wait_for(timeout=10_000)
    page.wait_for_timeout(4000)  # no further try
    assert len(requests) == 4
    page.close()
    ctx.close()


def test_a_prepared_page_is_only_for_the_person_who_waited(platform, planner):
    response = planner.request.get(f"{app_url(platform, SLIDER)}?bif_seite=erfunden", max_redirects=0)
    assert response.status == 302 and response.headers["location"].endswith(f"/app/{SLIDER}/")


def pool_size_in_voila(platform, app_id: str) -> int:
    from bif_lib.apps.serving.gateway import voila_pool

    status, answer = run_async(voila_pool(platform.cfg(), voila_token(platform), "GET", app_id))
    assert status == 200, answer
    return answer["pool_size"]


def test_a_pool_grows_with_demand_and_shrinks_back(platform, browser):
    """IMAGE has a pool of 1. Two opens by one person leave it so (one person is no demand);
    three people opening it within the window raise it to pool_max (3), without replacing the
    kernels in it; when the opens have aged out it returns to 1."""
    people = [logged_in_context(platform, browser, f"planer-andrang-{i}") for i in range(3)]
    assert wait_until(lambda: pool_size_in_voila(platform, IMAGE) == 1, 30)
    kernels = [open_html_only(people[0], platform, IMAGE) for _ in range(2)]
    time.sleep(5)  # the gateway looks at the demand every 2 s
    assert pool_size_in_voila(platform, IMAGE) == 1
    kernels += [open_html_only(ctx, platform, IMAGE) for ctx in people[1:]]
    assert wait_until(lambda: pool_size_in_voila(platform, IMAGE) == 3, 15)
    # the grown pool fills: the next opens get preheated kernels
    from bif_lib.apps.serving.gateway import voila_pool
    assert wait_until(lambda: run_async(voila_pool(platform.cfg(), voila_token(platform), "GET", IMAGE))[1]
                      .get("rendered") == 3, 60)
    for kid, ctx in zip(kernels, people[:1] * 2 + people[1:]):
        ctx.request.post(f"{app_url(platform, IMAGE)}voila/api/shutdown/{kid}", headers={"Sec-Fetch-Site": "same-origin"})
    assert wait_until(lambda: pool_size_in_voila(platform, IMAGE) == 1, 20 + 15)
    for ctx in people:
        ctx.close()


def test_kernel_limit_per_person(platform, browser):
    ctx = logged_in_context(platform, browser, "planer-limit")
    kernels = [open_html_only(ctx, platform, SLIDER) for _ in range(3)]
    assert len(set(kernels)) == 3
    response = ctx.request.get(app_url(platform, SLIDER))
    assert response.status == 429
    assert "Sie haben bereits 3 Apps geöffnet" in response.text()
    # closing one (the page's beacon) frees a place at once
    closed = ctx.request.post(f"{app_url(platform, SLIDER)}voila/api/shutdown/{kernels[0]}",
                              headers={"Sec-Fetch-Site": "same-origin"})
    assert closed.status == 204
    open_html_only(ctx, platform, SLIDER)
    ctx.close()


def test_fifty_opens_by_one_client_do_not_hurt_others(platform, browser):
    greedy = logged_in_context(platform, browser, "planer-gierig")
    cookie = cookie_header(greedy, platform)
    other = logged_in_context(platform, browser, "planer-andere")

    sent = []  # when the pages with a kernel arrived

    def page_request(_):
        req = urllib.request.Request(app_url(platform, SLIDER), headers={"Cookie": cookie})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                answer = resp.status, resp.read().decode()
                sent.append(time.monotonic())
                return answer
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = pool.map(page_request, range(50))
        # meanwhile another planner opens and uses the app
        page = open_slider(other, platform)
        move_slider(page, "Ergebnis: 8")
        answers = list(answers)
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 3 and statuses.count(429) == 47, statuses
    # never connected, so each page held the client's next one back (apps.connect_grace): one
    # notebook run after the other, not three at once
    sent.sort()
    assert all(b - a >= 0.9 * CONNECT_GRACE for a, b in zip(sent, sent[1:])), sent
    assert all("Sie haben bereits 3 Apps geöffnet" in body for status, body in answers if status == 429)
    move_slider(page, "Ergebnis: 10")
    page.close(run_before_unload=True)

    # the three pages never connected: their kernels are shut down and the person may open apps again
    kids = [KERNEL_ID.search(body).group(1) for status, body in answers if status == 200]
    assert wait_until(lambda: not any(voila_kernel_exists(platform, k) for k in kids), ORPHAN_TIMEOUT + 20)
    assert wait_until(lambda: page_request(0)[0] == 200, 10)
    greedy.close()
    other.close()


# --- 6. hardened app kernels --------------------------------------------------------------------------

def test_app_kernels_cannot_plant_code_and_see_no_token(platform, planner):
    cfg = platform.cfg()
    token = voila_token(platform)
    page = planner.request.get(app_url(platform, CHECKS))
    assert page.status == 200
    found = json.loads(base64.b64decode(re.search(r"BIFCHECK:([A-Za-z0-9+/=]+):END", page.text()).group(1)))
    # IPython's complaint about the read-only IPython directory stays in the log, off the page
    assert "writable location" not in page.text()

    # (a) no directory IPython, Jupyter or Python read startup code, configuration or
    # modules from is writable for the kernel; the places it needs are
    assert found["writable"] == [], found["writable"]
    refused = {d for d, _ in found["refused"]}
    assert {found["env"]["IPYTHONDIR"], found["env"]["JUPYTER_CONFIG_DIR"], found["env"]["JUPYTER_DATA_DIR"],
            found["env"]["IPYTHONDIR"] + "/profile_default/startup"} <= refused
    assert found["needed_writable"] == ["TMPDIR", "JUPYTER_RUNTIME_DIR"]

    # (b) no token, no hub secrets in the kernel's environment
    env = found["env"]
    assert not [k for k in env if k.startswith(("JUPYTERHUB_", "BIF_VOILA_", "BIF_APPS_API"))], sorted(env)
    dump = json.dumps(found)
    assert token not in dump and platform.spec["apps_token"] not in dump

    # (c) Voilà does not show its environment (nor memory map) to the kernel, and the token is
    # not in it anyway; the kernel fork server (the kernel's parent) and the other app kernels
    # forked from it (the pool's) do not either
    assert "voila_server" in found["voila_cmdline"]
    assert "voila_environ_error" in found and "voila_maps_error" in found
    if platform.cfg().kernel_start == "fork":
        assert "kernel_forks" in found["parent_cmdline"]
        assert "parent_environ_error" in found and "parent_maps_error" in found
        assert found["siblings"] >= 1 and "sibling_environ_error" in found
    voila_environ = open(f"/proc/{voila_pid(platform)}/environ", "rb").read()  # as root
    assert token.encode() not in voila_environ and b"BIF_VOILA_TOKEN=" not in voila_environ

    # nothing the service account can read below apps-runtime holds the token
    for path in cfg.voila_state_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert token.encode() not in path.read_bytes(), path

    # the directories as the supervisor made them
    account = pwd.getpwnam(cfg.os_user).pw_uid if os.geteuid() == 0 else os.geteuid()
    base = cfg.voila_state_dir
    for name, owner, mode in [(".", 0, 0o755), ("home", 0, 0o755), ("ipython", 0, 0o755),
                              ("ipython/profile_default/startup", 0, 0o755), ("jupyter-config", 0, 0o755),
                              ("jupyter-data", 0, 0o755), ("runtime", account, 0o700), ("tmp", account, 0o700),
                              ("cache", account, 0o700)]:
        st = os.lstat(base / name)
        assert stat.S_ISDIR(st.st_mode) and (st.st_uid, stat.S_IMODE(st.st_mode)) == (owner, mode), name


# --- 5. logins do not block the hub ----------------------------------------------------------------------

def test_login_hashing_leaves_the_event_loop_free(tmp_path, monkeypatch):
    """While scrypt (real parameters) checks a password, the event loop serves other work."""
    from bif_lib.platform import auth
    from bif_lib.platform.settings import load_settings

    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    settings = load_settings(environ={})
    auth.UserStore.from_settings(settings).add("ida", ["planners"], "ida-passwort-123")
    authenticator = auth.BIFLocalAuthenticator(users_file=str(settings.users_file))

    async def login_while_ticking():
        login = asyncio.ensure_future(authenticator.authenticate(None, {"username": "ida",
                                                                        "password": "ida-passwort-123"}))
        ticks = 0
        while not login.done():
            await asyncio.sleep(0)
            ticks += 1
            if ticks == 3:
                # the hash takes far longer than three turns of the loop: had it run on the
                # loop, the login would be done before the loop came back here
                assert not login.done()
        return await login, ticks

    model, ticks = run_async(login_while_ticking())
    assert model["name"] == "ida" and model["groups"] == ["planners"]
    assert ticks > 3


# --- 2. the watchdog (last: it restarts Voilà) ------------------------------------------------------------

def test_watchdog_replaces_a_hanging_voila(platform, planner):
    from bif_lib.apps.serving.daemon import health
    from bif_lib.processes import descendants

    cfg = platform.cfg()
    old = voila_pid(platform)
    kernels = descendants(old)
    assert kernels
    os.kill(old, signal.SIGSTOP)  # alive, but answers nothing
    try:
        assert wait_until(lambda: voila_pid(platform) != old and (health(cfg) or {}).get("voila"), 90)
    finally:
        try:
            os.kill(old, signal.SIGCONT)
        except ProcessLookupError:
            pass
    # the hanging Voilà and its kernels are gone, not left beside the new one
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in [old, *kernels]), 10)
    assert "did not answer" in cfg.gateway_log.read_text()
    page = open_slider(planner, platform)
    move_slider(page, "Ergebnis: 8")
    page.close(run_before_unload=True)


# --- building blocks (no platform) --------------------------------------------------------------------------

KID = "7f84e22e-7139-4d25-b11c-c11931ec63b6"
KID2 = "11111111-1111-1111-1111-111111111111"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_bindings_count_kernels_per_person_and_find_orphans():
    from bif_lib.apps.serving.gateway import KernelBindings

    clock = Clock()
    b = KernelBindings(clock=clock)
    assert b.reserve("p", 2) and b.reserve("p", 2)
    assert not b.reserve("p", 2)  # two pages being rendered count already
    b.bind(KID, "a", "p")
    b.release("p")
    assert b.held("p") == 2 and not b.reserve("p", 2)
    b.release("p")
    assert b.held("p") == 1 and b.reserve("q", 0)  # 0: no limit

    # never connected: an orphan after the timeout
    clock.now += 30
    assert b.orphans(30) == [KID]
    # connected: not an orphan, however long; after the last socket closed, again after the timeout
    assert b.opened(KID) and b.opened(KID) and b.sockets(KID) == 2
    clock.now += 1000
    assert b.orphans(30) == []
    b.closed(KID)
    clock.now += 1000
    assert b.orphans(30) == []  # one socket still open
    b.closed(KID)
    clock.now += 29
    assert b.orphans(30) == []
    clock.now += 1
    assert b.orphans(30) == [KID]

    # Voilà's kernel list only judges bindings made before it was asked for
    listed_at = clock()
    clock.now += 1
    first = b.get(KID)
    b.bind(KID2, "a", "p")
    second = b.get(KID2)
    assert b.retain(set(), listed_at) == [KID]
    assert b.get(KID) is None and b.get(KID2) is not None
    # a binding that ends tells its connections (they close: KernelSocketHandler)
    assert first.ended.is_set() and not second.ended.is_set()
    assert b.unbind(KID2) is not None and b.held("p") == 0 and second.ended.is_set()
    assert not b.opened(KID2)  # unknown kernels are not counted
    b.bind(KID, "a", "p")
    third = b.get(KID)
    b.clear()  # Voilà restarted
    assert third.ended.is_set() and third.connected.is_set() and len(b) == 0


def test_watchdog_judgement():
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.serving.supervisor import Watchdog

    cfg = AppsConfig(home="/x", watchdog_failures=3, watchdog_busy_failures=2, watchdog_cpu_percent=90,
                     watchdog_memory_mb=100)
    w = Watchdog(cfg)
    assert w.judge(False, 5.0, 10 * 2**20) is None
    assert w.judge(False, 5.0, 10 * 2**20) is None
    assert w.judge(True, 5.0, 10 * 2**20) is None  # an answer starts the count again
    assert w.judge(False, 5.0, None) is None and w.judge(False, None, None) is None
    assert "did not answer 3 probes" in w.judge(False, 0.0, None)
    w.reset()
    assert w.judge(False, 99.0, None) is None
    assert "CPU" in w.judge(False, 100.0, None)  # two busy failures in a row
    w.reset()
    assert "limit of 100 MB" in w.judge(True, 1.0, 101 * 2**20)
    assert AppsConfig(home="/x", watchdog_memory_mb=-1).memory_limit_bytes is None
    assert AppsConfig(home="/x").memory_limit_bytes > 0  # 0: 75 % of the machine's memory


def test_kernel_environment_is_filtered():
    from bif_lib.apps.serving.voila_server import kernel_env

    env = {"PATH": "/usr/bin", "HOME": "/h", "BIF_HOME": "/srv/bif", "JUPYTERHUB_API_TOKEN": "x",
           "JUPYTERHUB_API_URL": "http://hub", "BIF_VOILA_CONFIG": "{}", "MY_SECRET": "s", "DB_PASSWORD": "p",
           "SOME_URL": "http://127.0.0.1/?token=geheim-123"}
    assert kernel_env(env, ("geheim-123",)) == {"PATH": "/usr/bin", "HOME": "/h", "BIF_HOME": "/srv/bif"}
    # the catalog's readers' password stays (the role only reads a catalog without confidential values)
    catalog = {"BIF_CATALOG_URL": "postgresql://db/bif_catalog", "BIF_CATALOG_USER": "bif_catalog_reader",
               "BIF_CATALOG_PASSWORD": "lesen", "BIF_CATALOG_WRITER_PASSWORD": "schreiben"}
    assert kernel_env(catalog) == {k: v for k, v in catalog.items() if k != "BIF_CATALOG_WRITER_PASSWORD"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (directories of two owners)")
def test_state_dirs_replace_an_old_layout_without_following_planted_links(apps_home):
    from bif_lib.apps.account import RunAs
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.serving.supervisor import prepare_state_dirs

    try:
        entry = pwd.getpwnam("bif-apps")
    except KeyError:
        pytest.skip("no account bif-apps")
    run_as = RunAs("bif-apps", entry.pw_uid, entry.pw_gid)
    cfg = AppsConfig(home=str(apps_home))
    victim = apps_home / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("root's")
    # the layout of an older BIF, owned by the service account, with a planted startup file
    # and links an app could have planted to make root change other files
    base = cfg.voila_state_dir
    startup = base / "home" / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-evil.py").write_text("print('planted')")
    (base / "tmp").symlink_to(victim)
    (base / "ipython").symlink_to(victim)
    for path in [base, *base.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    dirs = prepare_state_dirs(cfg, run_as)
    assert sorted(p.name for p in base.iterdir()) == sorted(dirs)
    assert not list(base.rglob("00-evil.py"))
    for name, path in dirs.items():
        st = os.lstat(path)
        assert stat.S_ISDIR(st.st_mode)
        expected = (entry.pw_uid, 0o700) if name in ("runtime", "tmp", "cache") else (0, 0o755)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == expected, name
    st = os.stat(victim)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o755) and (victim / "keep.txt").read_text() == "root's"
    assert (dirs["ipython"] / "profile_default" / "ipython_kernel_config.py").is_file()


def test_watchdog_measures_processes():
    import subprocess
    import sys

    from bif_lib.processes import cpu_seconds, descendants, memory_bytes

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
        assert memory_bytes([os.getpid()]) > 10 * 2**20  # this pytest process: tens of MB at least
        assert memory_bytes([os.getpid(), child.pid]) > memory_bytes([os.getpid()])
        assert cpu_seconds(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()
