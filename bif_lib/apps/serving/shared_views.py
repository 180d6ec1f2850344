"""Apps served from one executed copy to all their viewers: Voilà's side.

See ``shared_state.py`` for the idea and the kernel's side. Here, in the Voilà process:

* ``SharedViews.adopt`` turns a kernel that has rendered an app's page into the app's
  **template**: Voilà executes ``shared_state.start_state_server`` in it and reads the
  widget state of the default view (the *snapshot*) from the state server. The gateway
  serves the page with that state to every viewer; no viewer gets a kernel.
* ``SharedViews.interact`` answers a viewer's change. A viewer sends all its earlier
  changes (its *history*) with each new one, so that any session can serve it. For an app
  whose state server settled, the history reduces to a *place* (``SharedApp.place_of``):
  consecutive choices in one selection widget count as the last one, and a first choice back
  to the default view's is the default view. Then:
  1. an answer computed before for the same place (or history) and change is given again
     (the app's answer depends on nothing else; a training room changing to the same
     Stadtteil computes it once);
  2. another choice in the widget of the page's first choice is composed from the cached
     answers to both first choices (``SharedApp.compose``): a planner going through the
     Stadtteile one after another gets every answer from the prepared ones;
  3. otherwise the session that stands at exactly that history computes it (normally the
     viewer's own, one step behind);
  4. otherwise a new session (a fork of the state server) replays the history first.
  Places are used while a page shows exactly what the first answer to its place showed
  (``SharedApp.standing``: a first change, then composed answers); after a computed answer,
  which download links wait to be built depends on the way the page came, and the page's
  own history is used. Sessions always go by the page's history.
  A session is used by one request at a time; identical requests wait for the first one.
  Idle sessions end after ``session_idle`` seconds, the oldest beyond ``max_sessions``
  earlier: a viewer coming back later only costs a replay.
* ``SharedViews.prepare`` computes the **first changes** ahead, after ``adopt``: every other
  choice of each selection widget of the default view (up to ``prepare_steps`` per app), and
  what the page asks for once its planner paused after it (the flush). A room of planners
  who all open the app and pick their Stadtteil then gets every first answer from the cache.
  It runs one change at a time, in sessions at the lowest CPU priority, and waits while
  planners' own changes are being computed.

This module is loaded by its path in the Voilà process (see ``voila_server.py``): it must not
import ``bif_lib``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import signal
import struct
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

log = logging.getLogger("bif.apps.shared")

MAX_HISTORY = 300  # changes one page may make before it is served afresh (the page reloads)
MAX_CACHE_BYTES = 256 * 2**20  # answers kept per app
ADOPT_TIMEOUT = 60.0
STEP_TIMEOUT = 120.0
# Leaflet map views send where they are after every render and move; the app does not react,
# and these differ per window: they are kept in the page, not sent (see app_frontend/shared.js).
# ipyleaflet 0.19 syncs the bounds as north ... west and the pixel bounds as top ... right (its
# read-only traits: only the page sets them); "bounds" and "pixel_bounds" were synced before.
VIEW_ONLY = {"LeafletMapModel": ["north", "south", "east", "west", "top", "bottom", "left", "right",
                                 "bounds", "pixel_bounds", "center", "zoom", "window_url", "fullscreen"]}
# widgets whose choices a page sends as {"index": i} (ipywidgets' selection widgets with one choice)
SELECTION_MODELS = frozenset({"DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "SelectModel",
                              "SelectionSliderModel"})
PREPARE_YIELD_S = 0.2  # how often preparing looks whether planners' changes are still computed
FLUSH = {"flush": True}
MAX_WARMED = 4096  # places remembered per app where a session was placed after a cached answer


class SnapshotGone(Exception):
    """The page's snapshot is not the app's current one (republished, Voilà restarted)."""


class Refused(Exception):
    """A request that cannot be served (German text for the planner)."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status


@dataclass(frozen=True)
class Answer:
    """An answer as sent: JSON, and compressed once (the same answer goes to many viewers)."""

    body: bytes
    gzipped: bytes
    composed: bool = False  # by ``SharedApp.compose``: the page then shows what the first answer there showed

    @classmethod
    def of(cls, data: dict, composed: bool = False) -> Answer:
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(body, gzip.compress(body, compresslevel=6, mtime=0), composed)

    def decoded(self) -> dict:
        return json.loads(self.body)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


def history_key(steps: list) -> str:
    return hashlib.sha256(json.dumps(steps, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def selection_step(comm_id: str, index: int) -> dict:
    """A choice in a selection widget, exactly as the page sends it (app_frontend/src/shared.js)."""
    return {"comm_id": comm_id, "data": {"method": "update", "state": {"index": index}, "buffer_paths": []},
            "buffers": []}


def selection_choice(snapshot: dict, step) -> tuple[str, int] | None:
    """``(comm id, index)`` when ``step`` only makes a choice in one of the default view's
    selection widgets, exactly as ``selection_step`` (and the page) writes it; else None."""
    if not isinstance(step, dict) or set(step) != {"comm_id", "data", "buffers"} or step["buffers"]:
        return None
    comm_id, data = step["comm_id"], step["data"]
    if not isinstance(comm_id, str) or not isinstance(data, dict) or data.get("method") != "update" \
            or set(data) - {"method", "state", "buffer_paths"} or data.get("buffer_paths"):
        return None
    state = data.get("state")
    if not isinstance(state, dict) or list(state) != ["index"]:
        return None
    index = state["index"]
    model = snapshot["data"]["states"].get(comm_id) or {}
    if not isinstance(index, int) or isinstance(index, bool) or model.get("model_name") not in SELECTION_MODELS:
        return None
    return comm_id, index


def first_steps(snapshot: dict, limit: int) -> list[dict]:
    """The changes a planner can make first with one choice: every other option of each enabled
    selection widget of the default view, taken in turns across the widgets (the first other
    option of each, then the second ...) so that a small ``limit`` still covers every widget."""
    choices = []
    for comm_id, model in snapshot["data"]["states"].items():
        state = model.get("state") or {}
        index, labels = state.get("index"), state.get("_options_labels")
        if model.get("model_name") not in SELECTION_MODELS or state.get("disabled") \
                or not isinstance(index, int) or isinstance(index, bool) or not isinstance(labels, (list, tuple)):
            continue
        choices.append([selection_step(comm_id, i) for i in range(len(labels)) if i != index])
    steps = []
    for turn in range(max((len(c) for c in choices), default=0)):
        steps.extend(c[turn] for c in choices if turn < len(c))
    return steps[:max(0, limit)]


def updated_keys(messages: list) -> set | None:
    """The (comm id, key)s these messages set; None if one of them is not a widget's update
    (a widget opened or closed, a custom message): such answers are not composed."""
    keys = set()
    for message in messages:
        content = message.get("content") or {}
        data = content.get("data") or {}
        if message.get("msg_type") != "comm_msg" or data.get("method") not in ("update", "echo_update"):
            return None
        paths = data.get("buffer_paths") or []
        if any(len(path) != 1 for path in paths):
            return None
        keys.update((content["comm_id"], key) for key in [*data.get("state", {}), *(p[0] for p in paths)])
    return keys


class Session:
    """One connection to the state server: a forked copy that stands at ``key``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.key = history_key([])
        self.used = time.monotonic()
        self.pid: int | None = None

    @classmethod
    async def open(cls, path: str) -> Session:
        reader, writer = await asyncio.open_unix_connection(path, limit=2**20)
        session = cls(reader, writer)
        session.pid = int((await session._read(ADOPT_TIMEOUT))["pid"])
        return session

    async def call(self, request: dict, timeout: float = STEP_TIMEOUT) -> dict:
        body = json.dumps(request, separators=(",", ":")).encode()
        self.writer.write(struct.pack(">I", len(body)) + body)
        await self.writer.drain()
        answer = await self._read(timeout)
        self.used = time.monotonic()
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def _read(self, timeout: float) -> dict:
        async def frame():
            (size,) = struct.unpack(">I", await self.reader.readexactly(4))
            return json.loads(await self.reader.readexactly(size))

        return await asyncio.wait_for(frame(), timeout)

    def close(self) -> None:
        self.writer.close()

    def kill(self) -> None:
        """End the fork now (it may be computing and would not see the closed connection)."""
        self.close()
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@dataclass
class SharedApp:
    app_id: str
    kernel_id: str
    socket_path: str
    snapshot_id: str
    snapshot: dict
    server_pid: int
    sessions: dict[str, list[Session]] = field(default_factory=dict)  # by history key
    answers: OrderedDict = field(default_factory=OrderedDict)  # (history key, step) -> answer, LRU
    answers_bytes: int = 0
    inflight: dict[str, asyncio.Future] = field(default_factory=dict)
    warming: dict[str, asyncio.Future] = field(default_factory=dict)  # sessions being placed, by history key
    warmed: dict[str, float] = field(default_factory=dict)  # history key -> when a session was placed there
    preparing: asyncio.Task | None = None
    prepared: int = 0  # answers computed ahead (SharedViews.prepare)
    settled: bool = False  # the state server ran its selections once before serving (shared_state._settle)
    hits: int = 0
    misses: int = 0
    forks: int = 0
    replays: int = 0
    composed: int = 0  # answers composed from cached first answers (``compose``)

    def session_count(self) -> int:
        return sum(len(s) for s in self.sessions.values())

    # --- places: where a page stands -------------------------------------------------------------
    # A settled app shows what its widgets' values say, however they got there (the state
    # server checked that a choice and back leaves the view as it was). A page's changes then
    # reduce to a *place*: consecutive choices in one selection widget count as the last one,
    # and a first choice back to the default view's own is the default view. Pages at the same
    # place share answers as long as they show exactly what the first answer there showed
    # (``standing``); sessions go by the page's own history. Apps that did not settle keep
    # their whole history.

    def place_after(self, place: list, step: dict) -> list:
        """Where a page at ``place`` stands after ``step`` (not a flush)."""
        if not self.settled:
            return [*place, step]
        choice = selection_choice(self.snapshot, step)
        if choice is None:
            return [*place, step]
        if place and (selection_choice(self.snapshot, place[-1]) or ("",))[0] == choice[0]:
            place = place[:-1]
        if not place and choice[1] == self.snapshot["data"]["states"][choice[0]]["state"].get("index"):
            return []
        return [*place, step]

    def place_of(self, history: list) -> list:
        place: list = []
        for step in history:
            place = self.place_after(place, step)
        return place

    def standing(self, history: list) -> tuple[list, bool]:
        """What a page's answers (and its flush) are looked up by, and whether that is its place.
        Its place, where the page shows exactly what the first answer to that place showed: no
        change yet, a first change, then only composed answers. Its own history otherwise: a
        computed answer withdraws only the download links its change changed, so which links
        wait to be built then depends on the way the page came."""
        if not self.settled:
            return history, False
        place: list = []
        for step in history:
            if place:
                answer = self.answers.get(history_key([place, step]))
                if answer is None or not answer.composed:
                    return history, False
            place = self.place_after(place, step)
        return place, True

    def compose(self, place: list, step: dict) -> Answer | None:
        """The answer to another choice in the widget of a page's first choice, from the cached
        answers to both first choices (a planner going through the Stadtteile one after another):
        what the new choice changed from the default view, and every widget that only the old
        choice (or the work after it, the flush) had changed set back to the default view. None
        where those answers are not all cached or hold anything but widget updates: the change
        is then computed."""
        if not self.settled or len(place) != 1:
            return None
        choice, chosen = selection_choice(self.snapshot, step), selection_choice(self.snapshot, place[0])
        if choice is None or chosen is None or choice[0] != chosen[0] or choice == chosen:
            return None
        if self.place_after(place, step):  # a new choice: its own first answer
            target = self.recall(history_key([[], step]))
            if target is None:
                return None
            decoded = target.decoded()
            messages, pending = decoded["messages"], decoded["pending"]
        else:  # back to the default view's choice: as the kernel would echo it
            messages = [{"msg_type": "comm_msg", "metadata": {}, "buffers": [],
                         "content": {"comm_id": choice[0], "data": {**step["data"], "method": "echo_update"}}}]
            pending = False
        first = self.recall(history_key([[], place[0]]))  # how the page got where it is
        if first is None:
            return None
        undone = [first.decoded()]
        if undone[0]["pending"]:  # and the work after it, if the page asked for it
            flushed = self.recall(history_key([place, FLUSH]))
            if flushed is None:
                return None
            undone.append(flushed.decoded())
        kept = updated_keys(messages)
        changed = [updated_keys(answer["messages"]) for answer in undone]
        if kept is None or None in changed:
            return None
        resets = self.default_updates(set().union(*changed) - kept)
        if resets is None:
            return None
        return Answer.of({"messages": resets + messages, "pending": pending}, composed=True)

    def default_updates(self, keys: set) -> list[dict] | None:
        """Messages that set these (comm id, key)s to the default view's values."""
        states = self.snapshot["data"]["states"]
        paths_of = self.snapshot["data"]["buffer_paths"]
        binary = {(path[0], path[2]): i for i, path in enumerate(paths_of) if len(path) == 3 and path[1] == "state"}
        if any(len(path) > 3 and (path[0], path[2]) in keys for path in paths_of):
            return None  # bytes inside a list or dict: not sent apart here
        messages = []
        for comm_id in sorted({comm_id for comm_id, _ in keys}):
            state, paths, buffers = {}, [], []
            for key in sorted(k for c, k in keys if c == comm_id):
                if (comm_id, key) in binary:
                    paths.append([key])
                    buffers.append(self.snapshot["buffers"][binary[(comm_id, key)]])
                elif key in states.get(comm_id, {}).get("state", {}):
                    state[key] = states[comm_id]["state"][key]
                else:  # a widget or value the default view does not have
                    return None
            messages.append({"msg_type": "comm_msg", "metadata": {}, "buffers": buffers,
                             "content": {"comm_id": comm_id,
                                         "data": {"method": "update", "state": state, "buffer_paths": paths}}})
        return messages

    def remember(self, key: str, answer: Answer) -> None:
        known = self.answers.pop(key, None)
        if known is not None:
            self.answers_bytes -= known.size
        self.answers[key] = answer
        self.answers_bytes += answer.size
        while self.answers_bytes > MAX_CACHE_BYTES and self.answers:
            _, dropped = self.answers.popitem(last=False)
            self.answers_bytes -= dropped.size

    def recall(self, key: str) -> Answer | None:
        found = self.answers.get(key)
        if found is not None:
            self.answers.move_to_end(key)
        return found

    def park(self, session: Session) -> None:
        self.sessions.setdefault(session.key, []).append(session)

    def take(self, key: str) -> Session | None:
        parked = self.sessions.get(key)
        if not parked:
            return None
        session = parked.pop()
        if not parked:
            del self.sessions[key]
        return session

    def close(self) -> None:
        if self.preparing is not None:
            self.preparing.cancel()
        for placing in self.warming.values():
            placing.cancel()
        for parked in self.sessions.values():
            for session in parked:
                session.close()
        self.sessions.clear()


class SharedViews:
    """The shared apps of this Voilà, by app id."""

    def __init__(self, kernel_manager, directory: str, *, session_idle: float = 60.0, max_sessions: int = 64,
                 concurrent_forks: int | None = None, step_timeout: float = STEP_TIMEOUT, prepare_steps: int = 0):
        self.km = kernel_manager
        self.prepare_steps = prepare_steps
        self._computing = 0  # planners' changes being computed now (preparing waits for them)
        self.step_timeout = step_timeout
        self.directory = directory
        self.session_idle = session_idle
        self.max_sessions = max_sessions
        self.apps: dict[str, SharedApp] = {}
        self._adopting: set[str] = set()  # kernels becoming templates (their state server settles)
        self._forking = asyncio.Semaphore(concurrent_forks or os.cpu_count() or 2)
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def kernel_ids(self) -> set[str]:
        """The templates' kernels, also while they are being adopted: never culled, no viewer's."""
        return {app.kernel_id for app in self.apps.values()} | self._adopting

    def status(self) -> dict:
        return {"apps": {a.app_id: {"template_kernel": a.kernel_id, "snapshot": a.snapshot_id,
                                    "sessions": a.session_count(), "cache_entries": len(a.answers),
                                    "cache_bytes": a.answers_bytes, "hits": a.hits, "misses": a.misses,
                                    "forks": a.forks, "replays": a.replays, "composed": a.composed, "prepared": a.prepared, "settled": a.settled,
                                    "preparing": a.preparing is not None and not a.preparing.done()}
                         for a in self.apps.values()}}

    # --- templates -------------------------------------------------------------------------------

    async def adopt(self, app_id: str, kernel_id: str) -> SharedApp:
        """Make ``kernel_id`` (it has rendered the app's page) the app's template."""
        self._adopting.add(kernel_id)
        try:
            return await self._adopt(app_id, kernel_id)
        finally:
            self._adopting.discard(kernel_id)

    async def _adopt(self, app_id: str, kernel_id: str) -> SharedApp:
        path = os.path.join(self.directory, f"{app_id}-{uuid.uuid4().hex[:8]}.sock")
        code = ("import bif_lib.apps.serving.shared_state as _bif_shared\n"
                f"_bif_shared_pid = _bif_shared.start_state_server({path!r})\n")
        kernel = self.km.get_kernel(kernel_id)
        client = kernel.client()
        client.start_channels()
        try:
            await asyncio.wait_for(client.wait_for_ready(timeout=ADOPT_TIMEOUT), ADOPT_TIMEOUT)
            reply = await client.execute_interactive(code, silent=False, store_history=False,
                                                     user_expressions={"pid": "_bif_shared_pid"},
                                                     timeout=ADOPT_TIMEOUT, output_hook=lambda msg: None)
        finally:
            client.stop_channels()
        content = reply["content"]
        if content.get("status") != "ok":
            raise RuntimeError(f"state server not started: {content.get('ename')}: {content.get('evalue')}")
        pid = int(content["user_expressions"]["pid"]["data"]["text/plain"])
        session = await Session.open(path)
        try:
            snapshot = await session.call({"op": "snapshot"}, timeout=ADOPT_TIMEOUT)
            settled = bool((await session.call({"op": "status"}, timeout=ADOPT_TIMEOUT)).get("settled"))
        finally:
            session.close()
        old = self.apps.get(app_id)
        app = SharedApp(app_id, kernel_id, path, uuid.uuid4().hex, snapshot, pid, settled=settled)
        self.apps[app_id] = app
        if old is not None:
            await self._retire(old)
        log.info("app %s is shared: template kernel %s, state server %d (%s), %d widgets", app_id, kernel_id, pid,
                 "settled" if settled else "not settled", len(snapshot["data"]["states"]))
        if self.prepare_steps > 0:
            app.preparing = asyncio.ensure_future(self.prepare(app))
        return app

    async def drop(self, app_id: str) -> None:
        """The app was republished, rolled back or withdrawn: its template goes."""
        app = self.apps.pop(app_id, None)
        if app is not None:
            await self._retire(app)

    async def _retire(self, app: SharedApp) -> None:
        app.close()
        try:
            os.unlink(app.socket_path)
        except OSError:
            pass
        try:  # the kernel's process group takes the state server and its sessions along
            await self.km.shutdown_kernel(app.kernel_id, now=True)
        except Exception as e:  # noqa: BLE001 - gone already
            log.info("template kernel %s of %s: %s", app.kernel_id, app.app_id, e)

    # --- changes -----------------------------------------------------------------------------------

    async def interact(self, app_id: str, snapshot_id: str, history: list, step: dict) -> Answer:
        app = self.apps.get(app_id)
        if app is None or app.snapshot_id != snapshot_id:
            raise SnapshotGone()
        if not isinstance(history, list) or len(history) > MAX_HISTORY:
            raise Refused(409, "Zu viele Änderungen auf einer Seite: bitte laden Sie die App neu.")
        flush = step == FLUSH
        where, alike = app.standing(history)
        key = history_key([where, step])
        answer = app.recall(key)
        if answer is None and alike and not flush:
            answer = app.compose(where, step)
            if answer is not None:
                app.composed += 1
                app.remember(key, answer)
        if answer is not None:
            app.hits += 1
            if not history and not flush:
                self._warm(app, [step])
            return answer
        waiting = app.inflight.get(key)
        if waiting is not None:
            app.hits += 1
            return await asyncio.shield(waiting)
        app.misses += 1
        future = asyncio.get_running_loop().create_future()
        app.inflight[key] = future
        self._computing += 1
        try:
            answer = await self._compute(app, history, step, flush)
            future.set_result(answer)
            if self.apps.get(app_id) is app:
                app.remember(key, answer)
            return answer
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._computing -= 1
            app.inflight.pop(key, None)

    def _warm(self, app: SharedApp, history: list) -> None:
        """After a first change answered from the cache (mostly a prepared one, whose session
        ended) no session stands where its viewer now is: place one there while the viewer
        looks at the answer (a fork that replays the change), so that their next change is
        computed at once, as after an answer computed for them. Once per place while such a
        session may still be waiting (``session_idle``), as a computed answer leaves one
        session there: when it has been taken, the others who came there at the same time
        mostly get their next answers from the cache as well. Only after first changes: a
        later answer in the cache was computed by a planner, whose session was parked there,
        and a crowd making the same changes would otherwise replay ever longer histories
        (after a composed answer, a session is forked when the page needs one)."""
        key, now = history_key(history), time.monotonic()
        if now - app.warmed.get(key, -self.session_idle) < self.session_idle or app.sessions.get(key) \
                or self.apps.get(app.app_id) is not app:
            return
        if len(app.warmed) >= MAX_WARMED:  # forget the places whose session has ended anyway
            app.warmed = {k: t for k, t in app.warmed.items() if now - t < self.session_idle}
        app.warmed[key] = now
        app.warming[key] = asyncio.ensure_future(self._place(app, history, key))

    async def _place(self, app: SharedApp, history: list, key: str) -> None:
        self._computing += 1
        try:
            session = await self._fork_at(app, history, key)
            if self.apps.get(app.app_id) is app:
                app.park(session)
                self._trim(app)
            else:
                session.kill()
        except Exception as e:  # noqa: BLE001 - the next change forks and replays itself
            log.info("no session placed for %s: %s", app.app_id, e)
        finally:
            self._computing -= 1
            app.warming.pop(key, None)

    async def _fork_at(self, app: SharedApp, history: list, key: str) -> Session:
        """A new session (a fork of the state server) that has replayed ``history``; forks that
        replay run at most one per CPU at a time. The state server gone (crashed, killed): the
        template is dropped, pages reload and the gateway builds the app's page afresh."""
        async with self._forking:
            try:
                session = await Session.open(app.socket_path)
            except (OSError, asyncio.IncompleteReadError) as e:
                log.warning("state server of %s unreachable (%s): template dropped", app.app_id, e)
                await self.drop(app.app_id)
                raise SnapshotGone() from e
            app.forks += 1
            try:
                if history:
                    app.replays += 1
                    await session.call({"op": "replay", "steps": history}, self.step_timeout)
            except BaseException:
                session.kill()  # in an unknown state, maybe still computing
                raise
            session.key = key
            return session

    async def _compute(self, app: SharedApp, history: list, step: dict, flush: bool) -> Answer:
        before = history_key(history)
        session = app.take(before)
        if session is None and before in app.warming:
            await asyncio.wait({app.warming[before]})  # a session is being placed there
            session = app.take(before)
        try:
            if session is None:
                session = await self._fork_at(app, history, before)
            answer = await session.call({"op": "flush"} if flush else {"op": "step", "step": step}, self.step_timeout)
        except BaseException:
            if session is not None:
                session.kill()  # in an unknown state, maybe still computing
            raise
        if not flush:
            session.key = history_key([*history, step])
        app.park(session)
        self._trim(app)
        return Answer.of({"messages": answer["messages"], "pending": answer["pending"]})

    # --- first changes, ahead ---------------------------------------------------------------------

    async def prepare(self, app: SharedApp) -> int:
        """Compute the answers to the app's first changes (``first_steps``) and, where the page
        will ask for deferred work after them, the flush; returns how many changes were
        prepared. Stops when the app is retired; a change that fails is skipped (a planner
        making it computes it and sees the error)."""
        for step in first_steps(app.snapshot, self.prepare_steps):
            while self._computing:  # planners first
                await asyncio.sleep(PREPARE_YIELD_S)
            if self.apps.get(app.app_id) is not app:
                break
            if app.recall(history_key([[], step])) is not None:
                continue  # a planner was quicker
            try:
                await self._prepare_one(app, step)
            except (OSError, asyncio.IncompleteReadError) as e:
                log.info("preparing the first changes of %s stopped: %s", app.app_id, e)
                break
            except Exception as e:  # noqa: BLE001 - the app's own error: its planner will see it
                log.info("first change of %s not prepared: %s", app.app_id, e)
        log.info("app %s: %d first change(s) prepared", app.app_id, app.prepared)
        return app.prepared

    async def _prepare_one(self, app: SharedApp, step: dict) -> None:
        async with self._forking:
            session = await Session.open(app.socket_path)
        try:
            await session.call({"op": "background"}, self.step_timeout)
            answer = await session.call({"op": "step", "step": step}, self.step_timeout)
            flushed = await session.call({"op": "flush"}, self.step_timeout) if answer["pending"] else None
        finally:
            session.kill()  # at the lowest priority: not parked for a planner
        if self.apps.get(app.app_id) is not app:
            return
        app.remember(history_key([[], step]), Answer.of({"messages": answer["messages"],
                                                         "pending": answer["pending"]}))
        if flushed is not None:
            app.remember(history_key([[step], FLUSH]), Answer.of({"messages": flushed["messages"],
                                                                  "pending": flushed["pending"]}))
        app.prepared += 1

    def _trim(self, app: SharedApp) -> None:
        parked = sorted(((s.used, key, s) for key, ss in app.sessions.items() for s in ss), key=lambda t: t[0])
        surplus = len(parked) - self.max_sessions
        for _, key, session in parked[:max(0, surplus)]:
            app.sessions[key].remove(session)
            if not app.sessions[key]:
                del app.sessions[key]
            session.close()

    def sweep(self) -> int:
        """End sessions idle for ``session_idle`` seconds (their forks exit); returns how many."""
        limit, ended = time.monotonic() - self.session_idle, 0
        for app in self.apps.values():
            for key in list(app.sessions):
                keep = [s for s in app.sessions[key] if s.used >= limit]
                for session in app.sessions[key]:
                    if session.used < limit:
                        session.close()
                        ended += 1
                if keep:
                    app.sessions[key] = keep
                else:
                    del app.sessions[key]
        return ended
