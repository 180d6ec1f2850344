"""One executed copy of an app for all its viewers (shared_state.py, shared_views.py), with a
real ipykernel: the template kernel executes a small widget app, its state server forks
sessions that compute changes, and the answers are those a kernel would have sent."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from jupyter_client.multikernelmanager import AsyncMultiKernelManager

from bif_lib.apps.serving import shared_views

pytestmark = pytest.mark.timeout(180)

APP = r"""
import ipywidgets as w
from bif_lib.apps.widgets.layout import Later
district = w.Dropdown(options=["Stadt", "Altstadt", "Mürwik"], value="Stadt")
district.add_class("bif-district-select")
table = w.HTML("<p>Stadt</p>")
links = w.HTML("")
later = Later(0.3)
calls = []
def changed(change):
    calls.append(change["new"])
    table.value = f"<p>{change['new']}</p>"
    later(lambda: setattr(links, "value", f"download-{change['new']}"))
district.observe(changed, "value")
box = w.VBox([district, table, links])
stuck = w.IntText(0)
def spin(change):
    while change["new"] == 99:  # an app that never answers this input
        pass
stuck.observe(spin, "value")
"""

def step_to(model_id: str, index: int) -> dict:
    return {"comm_id": model_id, "data": {"method": "update", "state": {"index": index}, "buffer_paths": []},
            "buffers": []}

async def execute(km, kernel_id: str, code: str) -> str:
    client = km.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        out: list[str] = []
        reply = await client.execute_interactive(
            code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out).strip()
    finally:
        client.stop_channels()

def model_of(snapshot: dict, name: str, value=None) -> str:
    for model_id, model in snapshot["data"]["states"].items():
        if model["model_name"] == name and (value is None or model["state"].get("value") == value):
            return model_id
    raise LookupError(name)

def updates(answer: dict) -> dict:
    """comm id -> merged state of the updates in an answer"""
    found: dict = {}
    for msg in answer.decoded()["messages"]:
        if msg["msg_type"] == "comm_msg" and msg["content"]["data"].get("method") in ("update", "echo_update"):
            found.setdefault(msg["content"]["comm_id"], {}).update(msg["content"]["data"]["state"])
    return found

def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False

def session_pids(server_pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().split(")")[-1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == server_pid and fields[0] != "Z":
                found.add(int(entry))
    return found

class LoopThread:
    """An event loop on a thread of its own: Playwright's sync API, used by browser tests earlier
    in the session, leaves a loop running on the main thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run_until_complete(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def call(self, function):
        async def call():
            return function()
        return self.run_until_complete(call())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def shared(tmp_path):
    async def setup():
        km = AsyncMultiKernelManager()
        kernel_id = await km.start_kernel(kernel_name="python3", env={**os.environ, "PYTHONPATH": os.getcwd()})
        await execute(km, kernel_id, APP)
        views = shared_views.SharedViews(km, str(tmp_path / "shared"), session_idle=1.0, max_sessions=3,
                                         step_timeout=3.0)
        app = await views.adopt("bevoelkerung", kernel_id)
        return km, kernel_id, views, app

    loop = LoopThread()
    km, kernel_id, views, app = loop.run_until_complete(setup())
    yield loop, km, kernel_id, views, app
    loop.run_until_complete(views.drop("bevoelkerung"))
    loop.run_until_complete(km.shutdown_all(now=True))
    loop.close()

def test_changes_are_computed_in_copies_and_the_kernel_stays_at_the_default(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    table = model_of(app.snapshot, "HTMLModel", "<p>Stadt</p>")
    links = model_of(app.snapshot, "HTMLModel", "")
    assert app.snapshot["data"]["states"][dropdown]["state"]["_options_labels"] == ["Stadt", "Altstadt", "Mürwik"]

    answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 2)))
    assert updates(answer)[table]["value"] == "<p>Mürwik</p>"
    assert links not in updates(answer), "deferred work waits for the flush"
    assert answer.decoded()["pending"] is True
    flushed = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [step_to(dropdown, 2)],
                                                     {"flush": True}))
    assert updates(flushed)[links]["value"] == "download-Mürwik"
    assert flushed.decoded()["pending"] is False
    # the next change continues in the same session (no replay)
    answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [step_to(dropdown, 2)],
                                                    step_to(dropdown, 1)))
    assert updates(answer)[table]["value"] == "<p>Altstadt</p>"
    assert (app.forks, app.replays) == (1, 0)
    # the template kernel itself never saw a change
    assert loop.run_until_complete(execute(km, kernel_id, "print(district.value, calls)")) == "Stadt []"

def test_the_same_change_is_computed_once(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")

    async def wave():
        return await asyncio.gather(*(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1))
                                      for _ in range(8)))

    answers = loop.run_until_complete(wave())
    assert all(a == answers[0] for a in answers)
    assert app.misses == 1 and app.hits == 7 and app.forks == 1

def test_a_session_that_is_gone_is_replayed(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    table = model_of(app.snapshot, "HTMLModel", "<p>Stadt</p>")
    loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 2)))
    assert len(session_pids(app.server_pid)) == 1
    time.sleep(1.2)
    assert loop.call(views.sweep) == 1  # idle longer than session_idle
    loop.run_until_complete(asyncio.sleep(0.1))  # the closed connections go in the loop
    deadline = time.monotonic() + 10
    while session_pids(app.server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_pids(app.server_pid) == set(), "an ended session's fork exits"
    answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [step_to(dropdown, 2)],
                                                    step_to(dropdown, 0)))
    assert updates(answer)[table]["value"] == "<p>Stadt</p>"
    assert app.replays == 1

def test_sessions_are_bounded(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    history: list = []
    for i in range(5):  # five viewers at five different places
        history = [step_to(dropdown, 1 + i % 2)] * (i + 1)
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, history[:-1], history[-1]))
    assert app.session_count() <= 3
    loop.run_until_complete(asyncio.sleep(0.1))
    deadline = time.monotonic() + 10
    while len(session_pids(app.server_pid)) > 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(session_pids(app.server_pid)) <= 3

def test_bad_requests_are_refused_and_the_app_stays_usable(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    with pytest.raises(shared_views.SnapshotGone):
        loop.run_until_complete(views.interact("bevoelkerung", "old", [], step_to(dropdown, 1)))
    with pytest.raises(RuntimeError, match="no widget"):
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to("nope", 1)))
    with pytest.raises(RuntimeError, match="a step is"):
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [],
                                               {"comm_id": dropdown, "code": "import os"}))
    with pytest.raises(shared_views.Refused):
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id,
                                               [step_to(dropdown, 1)] * (shared_views.MAX_HISTORY + 1),
                                               step_to(dropdown, 1)))
    answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1)))
    assert answer.decoded()["messages"]

def test_the_copies_end_with_the_template(shared):
    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1)))
    server, sessions = app.server_pid, session_pids(app.server_pid)
    assert alive(server) and sessions
    loop.run_until_complete(views.drop("bevoelkerung"))
    deadline = time.monotonic() + 15
    while (alive(server) or any(alive(p) for p in sessions)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server) and not any(alive(p) for p in sessions)
    assert kernel_id not in km.list_kernel_ids()


def test_a_copy_that_computes_too_long_is_ended(shared):
    loop, km, kernel_id, views, app = shared
    stuck = model_of(app.snapshot, "IntTextModel")
    step = {"comm_id": stuck, "data": {"method": "update", "state": {"value": 99}, "buffer_paths": []},
            "buffers": []}
    with pytest.raises(asyncio.TimeoutError):
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step))
    deadline = time.monotonic() + 10
    while session_pids(app.server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session_pids(app.server_pid) == set(), "the spinning fork was killed"
    dropdown = model_of(app.snapshot, "DropdownModel")
    answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1)))
    assert answer.decoded()["messages"]


def test_a_dead_state_server_drops_the_template(shared):
    """Pages then reload and the gateway makes a new template (test_shared_view.py)."""
    import signal

    loop, km, kernel_id, views, app = shared
    dropdown = model_of(app.snapshot, "DropdownModel")
    os.kill(app.server_pid, signal.SIGKILL)
    with pytest.raises(shared_views.SnapshotGone):
        loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1)))
    assert "bevoelkerung" not in views.apps
    assert kernel_id not in km.list_kernel_ids()
