"""One executed copy of an app for all its viewers (shared_state.py, shared_views.py), with a
real ipykernel: the template kernel executes a small widget app, its state server forks
sessions that compute changes, and the answers are those a kernel would have sent."""

from __future__ import annotations

import asyncio
import contextlib
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

# BIF's chart and table views; a "chart" is the district's name as bytes, and ``drawn`` counts
CHART_APP = r"""
import ipywidgets as w
import pandas as pd
from bif_lib.apps.views.common import ViewTable
from bif_lib.apps.widgets.layout import ChartView, TableView
district = w.Dropdown(options=["Stadt", "Altstadt", "Mürwik"], value="Stadt")
drawn = w.IntText(0)
chart, table = ChartView(), TableView()
def picture(name):
    drawn.value += 1
    return f"PNG {name}".encode()
def changed(change):
    name = change["new"]
    chart.update(name, lambda: picture(name), f"diagramm-{name}")
    table.show(ViewTable(pd.DataFrame({"Stadtteil": [name]}), {"Stadtteil": "text"}, name, filename=f"tabelle-{name}"))
    table.update_downloads()
district.observe(changed, "value")
changed({"new": "Stadt"})
chart.finish()
table.update_downloads(now=True)
page = w.VBox([district, drawn, chart, table])
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


async def app_kernel_and_views(tmp_path, app: str = APP, idle: float = 0.5, **options):
    """A kernel that has executed ``app`` and was ``idle`` seconds (a pool kernel waits until it
    becomes a template; its deferred work, ``layout.Later``, runs meanwhile), and SharedViews with
    ``options`` (not adopted yet)."""
    km = AsyncMultiKernelManager(connection_dir=str(tmp_path))  # not the working directory
    kernel_id = await km.start_kernel(kernel_name="python3", env={**os.environ, "PYTHONPATH": os.getcwd()})
    await execute(km, kernel_id, app)
    await asyncio.sleep(idle)
    return km, kernel_id, shared_views.SharedViews(km, str(tmp_path / "shared"), max_sessions=3, **options)


@contextlib.contextmanager
def adopted(tmp_path, app: str, idle: float = 0.5, **options):
    """``app`` executed in a kernel and adopted as a template by SharedViews with ``options``;
    (loop, views, shared app). Its kernels end afterwards."""
    async def setup():
        km, kernel_id, views = await app_kernel_and_views(tmp_path, app, idle, **options)
        return km, views, await views.adopt("bevoelkerung", kernel_id)

    loop = LoopThread()
    km, views, shared_app = loop.run_until_complete(setup())
    try:
        yield loop, views, shared_app
    finally:
        loop.run_until_complete(km.shutdown_all(now=True))
        loop.close()


@pytest.fixture
def shared(tmp_path):
    async def setup():
        km, kernel_id, views = await app_kernel_and_views(tmp_path, session_idle=1.0, step_timeout=3.0)
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


def test_first_steps_take_every_other_choice_of_each_selection_widget_in_turns():
    def model(name, index, labels, **state):
        return {"model_name": name, "state": {"index": index, "_options_labels": labels, **state}}

    snapshot = {"data": {"states": {
        "topic": model("DropdownModel", 1, ["a", "b", "c"]),
        "mode": model("ToggleButtonsModel", 0, ["Werte", "Index"]),
        "off": model("DropdownModel", 0, ["x", "y"], disabled=True),
        "many": model("SelectMultipleModel", (0,), ["x", "y"]),
        "nothing": model("DropdownModel", None, ["x", "y"]),
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
    }}}
    steps = shared_views.first_steps(snapshot, 10)
    assert [(s["comm_id"], s["data"]["state"]["index"]) for s in steps] == [("topic", 0), ("mode", 1), ("topic", 2)]
    assert steps[0] == step_to("topic", 0)  # exactly what the page sends: the same cache key
    assert len(shared_views.first_steps(snapshot, 2)) == 2
    assert shared_views.first_steps(snapshot, 0) == []


def test_first_changes_are_prepared_after_planners_and_answer_as_computed(tmp_path):
    async def setup():
        km, kernel_id, views = await app_kernel_and_views(tmp_path, session_idle=5.0, step_timeout=10.0,
                                                          prepare_steps=8)
        views._computing = 1  # a planner's change is being computed: preparing waits
        app = await views.adopt("bevoelkerung", kernel_id)
        return km, views, app

    loop = LoopThread()
    try:
        km, views, app = loop.run_until_complete(setup())
        time.sleep(1.0)
        assert app.prepared == 0 and views.status()["apps"]["bevoelkerung"]["preparing"]

        async def background_session_nice():
            session = await shared_views.Session.open(app.socket_path)
            try:
                await session.call({"op": "background"})
                with open(f"/proc/{session.pid}/stat") as f:
                    return int(f.read().split(")")[-1].split()[16])
            finally:
                session.kill()

        assert loop.run_until_complete(background_session_nice()) == 19, "preparing runs at the lowest priority"
        loop.call(lambda: setattr(views, "_computing", 0))
        assert loop.run_until_complete(asyncio.wait_for(asyncio.shield(app.preparing), 60)) == 2
        deadline = time.monotonic() + 10
        while session_pids(app.server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session_pids(app.server_pid) == set(), "the sessions that prepared are gone"

        dropdown = model_of(app.snapshot, "DropdownModel")
        table = model_of(app.snapshot, "HTMLModel", "<p>Stadt</p>")
        links = model_of(app.snapshot, "HTMLModel", "")
        answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 2)))
        flushed = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [step_to(dropdown, 2)],
                                                         {"flush": True}))
        assert (app.misses, app.hits) == (0, 2)
        assert updates(answer)[table]["value"] == "<p>Mürwik</p>"
        assert updates(flushed)[links]["value"] == "download-Mürwik"
        # while the planner looks at the answer, a session is placed where they are now ...
        deadline = time.monotonic() + 30
        while (app.warming or not app.sessions) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (app.forks, app.replays, app.session_count()) == (1, 1, 1)
        # ... so their next change is computed there, without another fork
        answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [step_to(dropdown, 2)],
                                                        step_to(dropdown, 1)))
        assert updates(answer)[table]["value"] == "<p>Altstadt</p>"
        assert (app.misses, app.forks) == (1, 1)
        # a prepared answer is the one a planner's own session computes
        computed = loop.run_until_complete(views._compute(app, [], step_to(dropdown, 1), False))
        assert computed.decoded() == loop.run_until_complete(
            views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 1))).decoded()
    finally:
        loop.run_until_complete(views.drop("bevoelkerung"))
        loop.run_until_complete(km.shutdown_all(now=True))
        loop.close()


def test_a_replay_does_not_draw_and_the_next_answer_replaces_what_the_page_shows(tmp_path):
    """A copy that replays a page's changes draws no chart (the page has seen them) and has not
    built the downloads of the page's pauses: its next answer must still replace the page's
    picture and withdraw the page's download links, also where its own copy holds the same."""
    with adopted(tmp_path, CHART_APP, session_idle=1.0, step_timeout=10.0) as (loop, views, app):
        states = app.snapshot["data"]["states"]
        dropdown = model_of(app.snapshot, "DropdownModel")
        drawn = model_of(app.snapshot, "IntTextModel")
        image = model_of(app.snapshot, "ImageModel")
        (chart_link,) = [m for m, s in states.items() if "Diagramm" in str(s["state"].get("value", ""))]
        (table_links,) = [m for m, s in states.items() if "bif-downloads" in s["state"].get("_dom_classes", [])]
        assert states[drawn]["state"]["value"] == 1
        altstadt = [step_to(dropdown, 1)]

        def interact(history, step):
            return loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, history, step))

        def end_sessions():
            time.sleep(1.1)
            loop.call(views.sweep)
            deadline = time.monotonic() + 10
            while session_pids(app.server_pid) and time.monotonic() < deadline:
                time.sleep(0.05)

        # the page: Altstadt, then it pauses and gets the links of the Altstadt chart and table
        first = updates(interact([], altstadt[0]))
        assert first[drawn]["value"] == 2 and "PREPARING" not in str(first)
        flushed = updates(interact(altstadt, {"flush": True}))
        assert "diagramm-Altstadt" in flushed[chart_link]["value"]
        assert "altstadt" in flushed[table_links]["value"].lower()
        end_sessions()
        # back to Stadt in a new copy: it replays Altstadt without drawing, draws Stadt once; its
        # image and links hold Stadt's from the template, the page shows Altstadt's
        answer = interact(altstadt, step_to(dropdown, 0))
        back = updates(answer)
        assert app.replays == 1
        assert back[drawn]["value"] == 2, "replaying Altstadt drew nothing, the answer drew Stadt"
        (picture,) = [m for m in answer.decoded()["messages"] if m["content"]["comm_id"] == image]
        assert picture["content"]["data"]["buffer_paths"] == [["value"]], "sent although the copy held it"
        assert "wird vorbereitet" in back[chart_link]["value"] and "wird vorbereitet" in back[table_links]["value"]
        # a pause after a replay: the links of what the page shows, drawn now
        end_sessions()
        flushed = updates(loop.run_until_complete(views._compute(app, altstadt, {"flush": True}, True)))
        assert app.replays == 2
        assert "diagramm-Altstadt" in flushed[chart_link]["value"] and flushed[drawn]["value"] == 2
        assert "altstadt" in flushed[table_links]["value"].lower()


def pictures(answer) -> dict:
    """comm id -> the bytes (base64) an answer sends as a widget's value (charts)"""
    return {m["content"]["comm_id"]: m["buffers"][0] for m in answer.decoded()["messages"]
            if m["content"]["data"].get("buffer_paths") == [["value"]] and m.get("buffers")}


def test_a_planning_app_replayed_without_drawing_answers_as_the_copy_that_drew(tmp_path, flensburg_store):
    """The Bevölkerung app: a change computed in a fresh copy that replayed the page's changes
    without drawing shows the page what the copy that made those changes shows it."""
    code = ("from bif_lib.apps.views import bevoelkerung\n"
            "app = bevoelkerung.BevoelkerungApp()\n"
            "page = app.widget\n")

    with adopted(tmp_path, code, session_idle=1.0, step_timeout=60.0) as (loop, views, app):
        states = app.snapshot["data"]["states"]
        (district,) = [m for m, s in states.items() if "bif-district-select" in s["state"].get("_dom_classes", [])]
        history = [step_to(district, 1), step_to(district, 2)]
        back = step_to(district, 0)  # the whole city again: the picture the default view showed

        def compute(history, step):
            return loop.run_until_complete(views._compute(app, history, step, False))

        compute([], history[0])
        compute(history[:1], history[1])
        assert app.settled, "its selections changed and changed back leave the view as it was"
        drawn = compute(history, back)  # the copy that made the changes (and drew them)
        assert (app.forks, app.replays) == (1, 0)
        time.sleep(1.1)
        loop.call(views.sweep)
        replayed = compute(history, back)  # a new copy: replays without drawing, then draws
        assert (app.forks, app.replays) == (2, 1)
        assert pictures(drawn) and pictures(replayed) == pictures(drawn), "the same charts"
        shown, replayed_shown = updates(drawn), updates(replayed)
        for comm_id, state in shown.items():
            for key, value in state.items():
                assert replayed_shown.get(comm_id, {}).get(key) == value, (comm_id, key)


# a pure app: what it shows follows from the widgets' values
PURE_APP = r"""
import ipywidgets as w
district = w.Dropdown(options=["Stadt", "Altstadt", "Mürwik"], value="Stadt")
mode = w.ToggleButtons(options=["Werte", "Index"], value="Werte")
table = w.HTML("<p>Stadt Werte</p>")
def changed(change):
    table.value = f"<p>{district.value} {mode.value}</p>"
district.observe(changed, "value")
mode.observe(changed, "value")
page = w.VBox([district, mode, table])
"""


def test_the_state_server_settles_only_where_the_default_view_stays_as_it_was(tmp_path):
    """Before serving, the state server changes each selection widget and changes it back, so
    that sessions do not run those code paths for the first time. An app whose view is then
    another (APP: its deferred download link is built by then) gets a state server that did
    not: the page's default view is what the template showed."""
    with adopted(tmp_path, PURE_APP, session_idle=1.0, step_timeout=10.0) as (loop, views, app):
        assert app.settled and views.status()["apps"]["bevoelkerung"]["settled"] is True
        assert views.kernel_ids() == {app.kernel_id} and not views._adopting
        table = model_of(app.snapshot, "HTMLModel", "<p>Stadt Werte</p>")
        dropdown = model_of(app.snapshot, "DropdownModel")
        toggle = model_of(app.snapshot, "ToggleButtonsModel")
        assert app.snapshot["data"]["states"][dropdown]["state"]["index"] == 0
        assert app.snapshot["data"]["states"][toggle]["state"]["index"] == 0
        answer = loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, [], step_to(dropdown, 2)))
        assert updates(answer)[table]["value"] == "<p>Mürwik Werte</p>"
    (tmp_path / "links").mkdir()
    with adopted(tmp_path / "links", APP, session_idle=1.0, step_timeout=10.0) as (loop, views, app):
        assert not app.settled
        model_of(app.snapshot, "HTMLModel", "")  # the download link as the template left it
        assert model_of(app.snapshot, "DropdownModel")
        stuck = model_of(app.snapshot, "IntTextModel")
        assert app.snapshot["data"]["states"][stuck]["state"]["value"] == 0


def test_a_kernel_being_adopted_is_a_template_already(tmp_path):
    """While its state server settles, the kernel is no viewer's: it is listed as a template
    (Voilà's ``bif/kernels``) and never culled."""
    slow = PURE_APP.replace("def changed(change):\n", "import time\ndef changed(change):\n    time.sleep(0.5)\n")
    loop = LoopThread()
    km, kernel_id, views = loop.run_until_complete(app_kernel_and_views(tmp_path, slow))
    try:
        adopting = asyncio.run_coroutine_threadsafe(views.adopt("bevoelkerung", kernel_id), loop.loop)
        deadline = time.monotonic() + 10
        while kernel_id not in loop.call(views.kernel_ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kernel_id in loop.call(views.kernel_ids) and not adopting.done()
        assert adopting.result(60).settled and loop.call(views.kernel_ids) == {kernel_id}
    finally:
        loop.run_until_complete(km.shutdown_all(now=True))
        loop.close()


def shown_after(state: dict, *answers) -> dict:
    """(comm id, key) -> value after applying the answers' widget updates to ``state`` (buffers as
    base64; download links' files, which carry the time they were built, as "data:")"""
    state = dict(state)
    for answer in answers:
        for msg in (answer.decoded() if hasattr(answer, "decoded") else answer)["messages"]:
            data = msg["content"]["data"]
            for key, value in data.get("state", {}).items():
                state[msg["content"]["comm_id"], key] = shared_state_view(value)
            for path, buffer in zip(data.get("buffer_paths") or [], msg["buffers"], strict=True):
                state[msg["content"]["comm_id"], path[0]] = buffer
    return state


def shared_state_view(value):
    from bif_lib.apps.serving.shared_state import DATA_URI

    return DATA_URI.sub("data:", value) if isinstance(value, str) else value


def default_shown(snapshot: dict) -> dict:
    shown = {(comm_id, key): shared_state_view(value) for comm_id, model in snapshot["data"]["states"].items()
             for key, value in model["state"].items()}
    for (comm_id, _, key), buffer in zip(snapshot["data"]["buffer_paths"], snapshot["buffers"], strict=True):
        shown[comm_id, key] = buffer
    return shown


def test_a_planning_app_going_through_its_stadtteile_gets_composed_answers_as_computed(tmp_path, flensburg_store):
    """The Bevölkerung app settles, so a page's changes reduce to where it stands: another
    Stadtteil after the first is answered from the two first answers (no session computes it),
    and shows exactly what a copy that computed it shows; so does going back to the whole city."""
    code = ("from bif_lib.apps.views import bevoelkerung\n"
            "app = bevoelkerung.BevoelkerungApp()\n"
            "page = app.widget\n")

    with adopted(tmp_path, code, session_idle=30.0, step_timeout=60.0) as (loop, views, app):
        assert app.settled
        states = app.snapshot["data"]["states"]
        (district,) = [m for m, s in states.items() if "bif-district-select" in s["state"].get("_dom_classes", [])]
        one, two, whole_city = step_to(district, 1), step_to(district, 2), step_to(district, 0)

        def interact(history, step):
            return loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, history, step))

        def computed(history, step, flush=False):  # in a session, whatever the cache holds
            return loop.run_until_complete(views._compute(app, history, step, flush))

        first = [interact([], one), interact([one], shared_views.FLUSH)]  # as a prepared first change
        second = [interact([], two), interact([two], shared_views.FLUSH)]
        forks = app.forks
        assert app.composed == 0
        at_one = shown_after(default_shown(app.snapshot), *first)

        composed = interact([one], two)
        assert (app.composed, app.forks) == (1, forks), "composed, not computed"
        interact([two], one)
        assert interact([one, two, one], two) is composed, "the same place, the same answer"
        assert interact([one, two], shared_views.FLUSH) is second[1], "and the same links after it"
        real = computed([one], two)
        assert shown_after(at_one, composed) == shown_after(at_one, real)
        assert composed.decoded()["pending"] == real.decoded()["pending"] is True

        at_two = shown_after(default_shown(app.snapshot), *second)
        back = interact([one, two], whole_city)
        assert app.composed == 3
        assert back.decoded()["pending"] is False, "the default view's links are there at once"
        real = computed([two], whole_city)
        real_links = computed([two, whole_city], shared_views.FLUSH, True)  # in the copy that went back
        assert shown_after(at_two, back) == shown_after(at_two, real, real_links) == default_shown(app.snapshot)
        echoes = [m for m in back.decoded()["messages"] if m["content"]["data"]["method"] == "echo_update"]
        assert [(m["content"]["comm_id"], m["content"]["data"]["state"]) for m in echoes] == [(district, {"index": 0})]


def test_places_reduce_choices_in_one_widget_only_for_a_settled_app():
    snapshot = {"data": {"states": {
        "w": {"model_name": "DropdownModel", "state": {"index": 0, "_options_labels": ["a", "b", "c"]}},
        "x": {"model_name": "ToggleButtonsModel", "state": {"index": 1, "_options_labels": ["a", "b"]}},
        "t": {"model_name": "IntTextModel", "state": {"value": 0}}}, "buffer_paths": []}, "buffers": []}
    w1, w2, w0, x0 = step_to("w", 1), step_to("w", 2), step_to("w", 0), step_to("x", 0)
    text = {"comm_id": "t", "data": {"method": "update", "state": {"value": 5}, "buffer_paths": []}, "buffers": []}
    app = shared_views.SharedApp("a", "k", "/nowhere", "s", snapshot, 0, settled=True)
    assert app.place_of([w1, w2]) == [w2]
    assert app.place_of([w1, w2, w0]) == [], "back to the default view's choice"
    assert app.place_of([w1, x0, w2]) == [w1, x0, w2], "another widget in between"
    assert app.place_of([x0, w1, w0]) == [x0, w0], "only a first choice back is the default view"
    assert app.place_of([text, w1, w2]) == [text, w2]
    assert app.place_of([w1, {**w2, "data": {**w2["data"], "state": {"index": 2, "label": "c"}}}]) == \
        [w1, {**w2, "data": {**w2["data"], "state": {"index": 2, "label": "c"}}}], "not only a choice"
    assert app.place_of([{**text, "comm_id": "w", "data": {"method": "update", "state": {"index": True}}}]) != []
    assert app.standing([w1]) == ([w1], True), "a first change: the first answer there"
    assert app.standing([w1, w2]) == ([w1, w2], False), "after an answer not composed: its own history"
    app.settled = False
    assert app.place_of([w1, w2, w0]) == [w1, w2, w0]
    assert app.standing([w1]) == ([w1], False)
    assert app.compose([w1], w2) is None


@pytest.mark.parametrize("module", ["bevoelkerung", "prognose", "kita", "schulbedarf"])
def test_every_selection_of_a_planning_app_is_composed_as_a_session_computes_it(tmp_path, flensburg_store, module):
    """In each planning app, for each selection widget of its default view: another choice
    after the first, and back to the default view's choice, composed from the first answers,
    show what a session that computed them shows (after its deferred work, going back)."""
    with adopted(tmp_path, f"from bif_lib.apps.views import {module}\n{module}.show()\n",
                 session_idle=30.0, step_timeout=60.0) as (loop, views, app):
        assert app.settled
        default = default_shown(app.snapshot)

        def interact(history, step):
            return loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, history, step))

        def computed(history, step, flush=False):
            return loop.run_until_complete(views._compute(app, history, step, flush))

        def first(step):
            answers = [interact([], step)]
            if answers[0].decoded()["pending"]:
                answers.append(interact([step], shared_views.FLUSH))
            return answers

        widgets = {}
        for step in shared_views.first_steps(app.snapshot, 1000):
            widgets.setdefault(step["comm_id"], []).append(step)
        assert widgets
        for comm_id, (a, *others) in widgets.items():
            at_a = shown_after(default, *first(a))
            for b in others[:1]:
                answers_b = first(b)
                composed = interact([a], b)
                assert composed.decoded()["messages"], "composed, not empty"
                assert shown_after(at_a, composed) == shown_after(at_a, computed([a], b)), comm_id
                assert shown_after(at_a, composed, *answers_b[1:]) == shown_after(default, *answers_b), comm_id
            default_choice = step_to(comm_id, app.snapshot["data"]["states"][comm_id]["state"]["index"])
            back = interact([a], default_choice)
            real = [computed([a], default_choice)]
            if real[0].decoded()["pending"]:
                real.append(computed([a, default_choice], shared_views.FLUSH, True))  # in that copy
            assert shown_after(at_a, back) == shown_after(at_a, *real) == default, comm_id
        assert app.composed >= len(widgets)


def test_a_template_adopted_before_its_deferred_work_ran_serves_the_finished_default_view(tmp_path, flensburg_store):
    """The gateway adopts a pool kernel as soon as it has rendered the app, when the app's
    download links (``layout.Later``) may still wait for their timer. A fork never runs the
    kernel's timers: the state server runs that work before it forks, so the page gets the
    links, and the state server settles (its view after settling would otherwise differ)."""
    from bif_lib.apps.widgets.layout import PNG_PREPARING, PREPARING

    code = ("from bif_lib.apps.views import bevoelkerung\n"
            "bevoelkerung.show()\n")
    with adopted(tmp_path, code, idle=0.0) as (_loop, _views, app):
        values = [m["state"].get("value") for m in app.snapshot["data"]["states"].values()]
        waiting = [v for v in values if isinstance(v, str) and v in (PREPARING, PNG_PREPARING)]
        assert not waiting, waiting
        assert any(isinstance(v, str) and 'class="bif-download"' in v for v in values)
        assert app.settled


def test_after_a_computed_answer_a_page_keeps_its_own_history(tmp_path, flensburg_store):
    """Which download links wait to be built depends on the way a page came: after an answer
    that was computed (not composed), its flush goes by its own history, computed where its
    links were withdrawn, so it gets them all, also when the default view's flush was asked for
    by someone else (an empty answer: nothing waits there)."""
    from bif_lib.apps.widgets.layout import PNG_PREPARING, PREPARING

    code = ("from bif_lib.apps.views import bevoelkerung\n"
            "bevoelkerung.show()\n")
    with adopted(tmp_path, code, session_idle=30.0, step_timeout=60.0) as (loop, views, app):
        assert app.settled
        states = app.snapshot["data"]["states"]
        (district,) = [m for m, s in states.items() if "bif-district-select" in s["state"].get("_dom_classes", [])]
        one, whole_city = step_to(district, 1), step_to(district, 0)

        def interact(history, step):
            return loop.run_until_complete(views.interact("bevoelkerung", app.snapshot_id, history, step))

        assert interact([], shared_views.FLUSH).decoded() == {"messages": [], "pending": False}
        answers = [interact([], one)]  # its flush is not in the cache: going back cannot be composed
        answers.append(interact([one], whole_city))
        assert app.composed == 0 and answers[-1].decoded()["pending"]
        assert app.standing([one, whole_city]) == ([one, whole_city], False)
        answers.append(interact([one, whole_city], shared_views.FLUSH))
        shown = shown_after(default_shown(app.snapshot), *answers)
        assert not [v for v in shown.values() if v in (PREPARING, PNG_PREPARING)]
        assert shown == default_shown(app.snapshot)


def test_what_only_the_page_sets_of_a_map_stays_in_the_page():
    """ipyleaflet's read-only synced traits of a map (its bounds in the page's window) are set
    by the page alone: a shared page keeps them (VIEW_ONLY), or every window size would be a
    history of its own and no answer could be shared."""
    import ipyleaflet

    read_only = {name for name, trait in ipyleaflet.Map.class_traits(sync=True).items()
                 if getattr(trait, "read_only", False)}
    assert read_only and read_only <= set(shared_views.VIEW_ONLY["LeafletMapModel"])
