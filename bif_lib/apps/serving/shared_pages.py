"""The gateway's side of shared apps: one page for every viewer of an app version.

``shared_state.py`` says why and how changes are computed. Here: the page. The first open of
an app version renders it once in Voilà, as any page (a kernel of the app's pool executes
the notebook); Voilà then makes that kernel the app's template (``POST bif/shared/<app>``)
and answers with the widget state of the default view. The gateway keeps the page with
that state embedded and without a kernel id, and serves it to every viewer of that version
at once, without the line, a kernel or a limit per person. The page's front end
(``app_frontend/src/shared.js``) builds the widgets from the embedded state and sends
changes to ``app/<app>/bif/interact``.

The gateway also keeps Voilà's answers to the changes made on a page (``Answers``): an answer
depends on nothing but the request (the snapshot, the changes before and the change), so the
next viewer who sends the same request gets it without the hop to Voilà, whose loop may be
busy rendering somebody's kernel page. The answers go with their page.

A page is built once per app version: viewers arriving while it is built wait for the same
build. It is forgotten when the app's pool is rebuilt or dropped (publish, rollback,
withdrawal, new data), when Voilà restarts, and when Voilà no longer knows its snapshot (a
409 from an interaction; the page then reloads itself).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable

log = logging.getLogger("bif.apps.shared")

PAGE_CONFIG = re.compile(rb'(<script id="jupyter-config-data" type="application/json">)(.*?)(</script>)', re.S)
SNAPSHOT_SCRIPT = ('<script type="application/vnd.bif.widget-snapshot+json" id="bif-widget-snapshot">'
                   '{}</script>\n')
FLUSH_AFTER_MS = 300  # as layout.DOWNLOAD_DELAY_S: deferred work runs once the planner pauses


class Answers:
    """Voilà's answers to changes on one shared page, as sent (JSON, or gzip), by request.

    The key is the request body as it came (a digest of it) and whether the answer is
    compressed: the same page front end sends the same bytes for the same change. Only
    requests small enough to be read cheaply are kept (``MAX_REQUEST``: a first change is a
    few hundred bytes), and at most ``MAX_BYTES`` of answers, the least recently used going
    first. What counts as the same request is decided by the caller, which checks that the
    request names this page's snapshot."""

    MAX_BYTES = 32 * 2**20
    MAX_REQUEST = 64 * 2**10
    WARM_EVERY = 10.0  # seconds: see ``due_for_voila``

    def __init__(self) -> None:
        self._kept: OrderedDict[bytes, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._told: dict[bytes, float] = {}
        self._asking: dict[bytes, asyncio.Future] = {}
        self.hits = 0

    @staticmethod
    def key(request: bytes, gzip: bool) -> bytes:
        return hashlib.sha256(request).digest() + (b"g" if gzip else b"-")

    def get(self, key: bytes) -> tuple[str, bytes] | None:
        """(content encoding, body) of a kept answer, or None."""
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            self.hits += 1
        return kept

    def keep(self, key: bytes, encoding: str, body: bytes) -> None:
        if key in self._kept or len(body) > self.MAX_BYTES // 8:
            return
        self._kept[key] = (encoding, body)
        self._bytes += len(body)
        while self._bytes > self.MAX_BYTES:
            _, (_, dropped) = self._kept.popitem(last=False)
            self._bytes -= len(dropped)

    def asking(self, key: bytes) -> asyncio.Future | None:
        """Note that the request ``key`` is on its way to Voilà; None when the same request
        already is: then wait for that one (``joining``) instead of asking again. A training
        room changes to the same Stadtteil at once: one request reaches Voilà, not 15.
        ``answered`` must follow."""
        if key in self._asking:
            return None
        flight = self._asking[key] = asyncio.get_running_loop().create_future()
        return flight

    def joining(self, key: bytes) -> asyncio.Future | None:
        """The request ``key`` on its way to Voilà, if it is: it is done once its answer is
        kept here (or was not kept: then ask Voilà yourself)."""
        return self._asking.get(key)

    def answered(self, key: bytes, flight: asyncio.Future) -> None:
        """The request noted by ``asking`` has its answer (kept, or not, if it failed)."""
        if self._asking.get(key) is flight:
            del self._asking[key]
        if not flight.done():
            flight.set_result(None)

    def due_for_voila(self, key: bytes) -> bool:
        """Whether a first change answered here should still reach Voilà (without anybody
        waiting for it): there it places a copy of the app where the viewer now stands, so
        that a next change it must compute is computed at once (``SharedViews._warm``). Once
        per ``WARM_EVERY`` seconds and request."""
        now = time.monotonic()
        if now - self._told.get(key, -self.WARM_EVERY) < self.WARM_EVERY:
            return False
        if len(self._told) > 4096:
            self._told = {k: t for k, t in self._told.items() if now - t < self.WARM_EVERY}
        self._told[key] = now
        return True

    def __len__(self) -> int:
        return len(self._kept)


@dataclass
class SharedPage:
    version: int
    snapshot_id: str
    body: bytes
    gzipped: bytes | None = None  # compressed once, not for every viewer
    answers: Answers = field(default_factory=Answers)  # Voilà's answers to changes on it


class NotShareable(Exception):
    """This app version is served with a kernel per page."""


def compose(body: bytes, snapshot_id: str, snapshot: dict, view_only: dict, interact_url: str) -> bytes:
    """The page every viewer gets: Voilà's page without its kernel, with the widget state."""
    m = PAGE_CONFIG.search(body)
    if m is None:
        raise NotShareable("no page configuration in the page")
    config = json.loads(m.group(2))
    if config.get("bifFrontend") != "bif":
        raise NotShareable("the app needs Voilà's own front end")
    config["kernelId"] = ""
    config["bifShared"] = json.dumps({"snapshot": snapshot_id, "interactUrl": interact_url,
                                      "flushAfterMs": FLUSH_AFTER_MS, "viewOnly": view_only})
    config_json = json.dumps(config).replace("</", "<\\/").encode()
    state = json.dumps(snapshot, separators=(",", ":")).replace("</", "<\\/")
    # beside the configuration, in the head: the front end's script runs before the body ends
    return (body[:m.start(2)] + config_json + m.group(3) + b"\n" + SNAPSHOT_SCRIPT.format(state).encode()
            + body[m.end(3):])


class SharedPages:
    """Built pages by app id; at most one build per app at a time."""

    def __init__(self) -> None:
        self.pages: dict[str, SharedPage] = {}
        self.not_shareable: dict[str, int] = {}  # app id -> version that cannot be shared
        self._building: dict[str, asyncio.Future] = {}

    async def page(self, app_id: str, version: int,
                   build: Callable[[], Awaitable[SharedPage]]) -> SharedPage | None:
        """The app version's shared page, built by ``build`` if need be; None: serve it per kernel."""
        page = self.pages.get(app_id)
        if page is not None and page.version == version:
            return page
        if self.not_shareable.get(app_id) == version:
            return None
        building = self._building.get(app_id)
        if building is None:
            building = self._building[app_id] = asyncio.ensure_future(self._build(app_id, version, build))
        return await asyncio.shield(building)

    async def _build(self, app_id: str, version: int, build) -> SharedPage | None:
        try:
            page = await build()
        except NotShareable as e:
            log.info("app %s version %s is served with a kernel per page: %s", app_id, version, e)
            self.not_shareable[app_id] = version
            return None
        except Exception as e:  # noqa: BLE001 - try again with the next viewer
            log.warning("shared page of %s not built: %s", app_id, e)
            return None
        finally:
            self._building.pop(app_id, None)
        self.pages[app_id] = page
        log.info("app %s version %s: one shared page for all viewers (snapshot %s, %d bytes)", app_id, version,
                 page.snapshot_id, len(page.body))
        return page

    def forget(self, app_id: str | None = None, snapshot_id: str | None = None) -> None:
        """Forget one app's page (only if it has ``snapshot_id``, when given), or all."""
        if app_id is None:
            self.pages.clear()
            self.not_shareable.clear()
            return
        page = self.pages.get(app_id)
        if page is not None and (snapshot_id is None or page.snapshot_id == snapshot_id):
            del self.pages[app_id]
        if snapshot_id is None:
            self.not_shareable.pop(app_id, None)
