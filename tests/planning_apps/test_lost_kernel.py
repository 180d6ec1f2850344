"""An app page whose kernel is lost, in a real Chromium through the platform (hub, gateway,
Voilà, BIF's app front end, bif_lib/apps/serving/app_frontend/src/index.js):

* the kernel process is killed: the page says so in German (role="alert"), disables every
  control, shows no broken-link icons, reloads itself and works again with a fresh kernel;
* the connection breaks for a few seconds while the kernel lives: the page greys the app out
  with a German notice, reconnects by itself and goes on with the same kernel (no reload);
* the kernel's answer to a change is lost with the connection: later changes still go through.
"""

from __future__ import annotations

import os
import re
import signal

import pytest
from app_server import wait_ready
from kernel_frames import kernel_message

from bif_lib import processes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
# A kernel per page: the apps that cannot be shared (apps.shared_view, test_shared_view.py).
APPS_SETTINGS = {"shared_view": False}

LOST = "Verbindung zur App unterbrochen – die Seite wird neu geladen"
RECONNECTING = "Verbindung zur App unterbrochen – sie wird wiederhergestellt"
TABLE = "#bif-kitatabelle"

JS_KERNEL_ID = "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
JS_CONTROLS = """() => [...document.querySelectorAll('.bif-app input, .bif-app select, .bif-app button')]
                      .map(c => ({name: c.outerHTML.slice(0, 60), disabled: c.disabled}))"""
JS_OFFLINE_STYLE = """() => ({
  offline: document.body.classList.contains('bif-kernel-offline'),
  clickable: getComputedStyle(document.querySelector('.bif-app')).pointerEvents !== 'none',
  icons: [...document.querySelectorAll('.jupyter-widgets-disconnected')]
           .filter(e => !['none', 'normal', ''].includes(getComputedStyle(e, '::before').content)).length,
})"""


@pytest.fixture
def app_page(page):
    yield page
    page.goto("about:blank")  # the app's beforeunload beacon ends its kernel (a person holds at most 5)


def kernel_pid(app_server, kernel_id: str) -> int:
    """The process of the page's kernel: a child of the platform's Voilà started with the
    kernel's connection file (the test runs as root; the kernel as the app account)."""
    voila = int(app_server.platform.cfg().voila_pid_file.read_text())
    found = [pid for pid in processes.descendants(voila)
             if f"kernel-{kernel_id}.json" in (processes.cmdline(pid) or "")]
    assert len(found) == 1, f"kernel {kernel_id}: processes {found}"
    return found[0]


def choose_district(page, name: str) -> None:
    """A widget change goes through the kernel and back: the table marks the district."""
    page.locator(".bif-district-select select").select_option(label=name)
    page.wait_for_function(
        "name => [...document.querySelectorAll('#bif-kitatabelle tr.bif-selected')].some(r => r.innerText.includes(name))",
        arg=name, timeout=30_000)


def test_killed_kernel_reloads_the_page(app_server, app_page):
    page = app_page
    page.goto(app_server.app_url("kita"))
    wait_ready(page, TABLE)
    old_kernel = page.evaluate(JS_KERNEL_ID)
    pid = kernel_pid(app_server, old_kernel)
    assert page.evaluate(JS_OFFLINE_STYLE) == {"offline": False, "clickable": True, "icons": 0}

    with page.expect_navigation(timeout=60_000):
        os.kill(pid, signal.SIGKILL)
        notice = page.get_by_role("alert").filter(has_text="Verbindung zur App unterbrochen")
        notice.wait_for(timeout=20_000)  # the server restarts the kernel within seconds: a fresh kernel is no use
        assert notice.inner_text().strip() == LOST
        controls = page.evaluate(JS_CONTROLS)
        assert controls and not [c["name"] for c in controls if not c["disabled"]]
        assert page.evaluate(JS_OFFLINE_STYLE) == {"offline": True, "clickable": False, "icons": 0}

    # a fresh page with a fresh kernel, working
    wait_ready(page, TABLE)
    assert page.evaluate(JS_KERNEL_ID) != old_kernel
    assert page.locator(".bif-connection-notice").count() == 0
    assert page.evaluate(JS_OFFLINE_STYLE) == {"offline": False, "clickable": True, "icons": 0}
    choose_district(page, "Mürwik")


def test_short_interruption_reconnects_without_reload(app_server, app_page):
    interrupt_and_reconnect(app_server, app_page)


def interrupt_and_reconnect(app_server, page):
    # the page's kernel WebSocket runs through Playwright, which can cut it and refuse new ones
    state = {"online": True, "sockets": []}

    console: list[str] = []  # for the failure message
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))

    def route(ws):
        if not state["online"]:
            ws.close(code=4000, reason="offline")
            return
        state["sockets"].append((ws, ws.connect_to_server()))

    page.route_web_socket(re.compile(r".*/api/kernels/[^/]+/channels.*"), route)
    page.goto(app_server.app_url("kita"))
    wait_ready(page, TABLE)
    kernel = page.evaluate(JS_KERNEL_ID)
    page.evaluate("() => { window.bifSamePage = true; }")
    choose_district(page, "Mürwik")

    state["online"] = False
    for ws, server in state["sockets"]:  # both ends see the connection close
        server.close()
        ws.close(code=4000, reason="interrupted")
    state["sockets"].clear()
    notice = page.get_by_role("status").filter(has_text=RECONNECTING)
    notice.wait_for(timeout=10_000)
    assert not [c["name"] for c in page.evaluate(JS_CONTROLS) if not c["disabled"]]
    assert page.evaluate(JS_OFFLINE_STYLE)["offline"]

    state["online"] = True  # the next attempt (within seconds) gets through
    page.wait_for_function("() => !document.body.classList.contains('bif-kernel-offline')", timeout=30_000)
    assert page.evaluate("() => window.bifSamePage === true") and page.evaluate(JS_KERNEL_ID) == kernel
    assert page.locator(".bif-connection-notice").count() == 0
    assert page.evaluate("() => document.querySelectorAll('[data-bif-offline]').length") == 0
    assert not page.locator(".bif-district-select select").is_disabled()
    answers(page, "Tarup", console)


def answers(page, district: str, console: list[str]) -> None:
    """The app answers a change after the reconnect (with the browser's console if not)."""
    try:
        choose_district(page, district)
    except Exception as error:
        raise AssertionError("no answer to a change after reconnecting; browser console:\n"
                             + "\n".join(console[-40:])) from error


def test_a_change_whose_answer_is_lost_with_the_connection_does_not_block_the_next(app_server, app_page):
    """The connection breaks after the kernel has worked on a change but before the page has
    its "idle": that answer is lost (jupyter_server keeps only what the kernel sends after it
    noticed the close). ipywidgets would hold back every later change of that dropdown, waiting
    for it; the page must not (index.js, releaseHeldChanges)."""
    page = app_page
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    state = {"online": True, "armed": True, "watched": set(), "cut": 0}

    def route(ws):
        if not state["online"]:
            ws.close(code=4000, reason="offline")
            return
        server = ws.connect_to_server()

        def from_page(frame):
            _, header, _, content = kernel_message(frame)
            if (state["armed"] and header["msg_type"] == "comm_msg"
                    and "index" in content["data"].get("state", {})):
                state["watched"].add(header["msg_id"])  # a change of the dropdown
            server.send(frame)

        def from_kernel(frame):
            if not state["online"]:
                return  # on its way while the connection broke: lost
            channel, header, parent, content = kernel_message(frame)
            if (channel == "iopub" and header["msg_type"] == "status"
                    and content["execution_state"] == "idle" and parent.get("msg_id") in state["watched"]):
                state["online"] = state["armed"] = False  # this "idle" and what follows it are lost
                state["cut"] += 1
                server.close()
                ws.close(code=4000, reason="interrupted")
                return
            ws.send(frame)

        ws.on_message(from_page)
        server.on_message(from_kernel)

    page.route_web_socket(re.compile(r".*/api/kernels/[^/]+/channels.*"), route)
    page.goto(app_server.app_url("kita"))
    wait_ready(page, TABLE)
    kernel = page.evaluate(JS_KERNEL_ID)
    choose_district(page, "Mürwik")  # its table arrives; its "idle" does not
    page.get_by_role("status").filter(has_text=RECONNECTING).wait_for(timeout=10_000)
    assert state["cut"] == 1

    state["online"] = True
    page.wait_for_function("() => !document.body.classList.contains('bif-kernel-offline')", timeout=30_000)
    assert page.evaluate(JS_KERNEL_ID) == kernel
    answers(page, "Tarup", console)
    assert any("answers lost with the connection" in line for line in console), console[-20:]
    answers(page, "Sandberg", console)  # and it goes on answering
