"""``bif-apps``: the external JupyterHub service with the app gallery and the Voilà gateway.

One tornado process (the *gateway*), reachable through the hub's proxy at
``/services/bif-apps/``; it starts and supervises one standalone Voilà process
(``voila_server.py``) on ``127.0.0.1:<apps.voila_port>`` under the app service account.

==============================================  ==========================================
``/services/bif-apps/``                         gallery (German), hub login via OAuth
``/services/bif-apps/app/<app_id>/...``         the app, proxied to Voilà (audience only)
``/services/bif-apps/thumbnails/<id>/<v>.png``  gallery thumbnails (audience only)
``/services/bif-apps/assets/<key>/voila/...``   Voilà's front-end files (public, cached)
``/services/bif-apps/static/...``               gallery CSS and JavaScript, app bar CSS
``/services/bif-apps/api/apps``                 JSON list of the apps the caller may open
``/services/bif-apps/api/publish``              POST a notebook (scope custom:bif-apps:publish)
``/services/bif-apps/api/apps/<id>/rollback``   POST (same scope)
``/services/bif-apps/api/apps/<id>/withdraw``   POST (same scope)
``/services/bif-apps/api/pools/<id>``           GET/POST/DELETE an app's kernel pool: only
                                                with the service's own API token (``bif
                                                publish``, see ``pools.py``)
``/services/bif-apps/health``                   liveness of gateway and Voilà (no login)
==============================================  ==========================================

The launcher calls ``start(settings)``, ``stop(settings)`` and ``status(settings)``;
``python -m bif_lib.apps.serving.service`` runs the gateway in the foreground.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json
import logging
import os
import secrets
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from tornado import web
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import StreamClosedError

from bif_lib.apps.access import can_open, can_publish, user_groups
from bif_lib.apps.account import RunAs, service_account
from bif_lib.apps.config import CONFIG_ENV, SERVICE_NAME, AppsConfig
from bif_lib.apps.publishing.publish import (
    SERVICE_UNREACHABLE,
    PublishError,
    PublishResult,
    publish_notebook,
    rollback,
    withdraw,
)
from bif_lib.apps.registry import APP_ID_RE, Registry, secure_root, served_name
from bif_lib.apps.serving import daemon
from bif_lib.apps.serving.gallery import Pages, front_end_ahead, items_for_user
from bif_lib.apps.serving.gateway import (
    CLOSE_BUSY,
    CLOSE_KERNEL_ENDED,
    CLOSE_PROTOCOL,
    KERNEL_ID,
    KERNEL_ID_IN_PAGE,
    KERNEL_REST_PATH,
    STATIC_PATH,
    AddressResolver,
    AssetCache,
    AssetHandler,
    KernelBindings,
    KernelSocketProxy,
    PageRewriter,
    RefusalDelay,
    asset_key,
    copy_response,
    fetch_voila,
    gzip_if_worth,
    send_compressed,
    shutdown_voila_kernel,
    strip_query_token,
    voila_kernels,
    voila_pool,
    voila_shared,
)
from bif_lib.apps.serving.pool_demand import PoolDemand
from bif_lib.apps.serving.shared_pages import NotShareable, SharedPage, SharedPages, compose
from bif_lib.apps.serving.shared_views import FLUSH
from bif_lib.apps.serving.start_queue import StartQueue
from bif_lib.apps.serving.supervisor import VoilaSupervisor
from bif_lib.fsutil import write_private
from bif_lib.platform.settings import PUBLISH_SCOPE
from bif_lib.processes import session_nice

log = logging.getLogger("bif.apps.service")

HERE = Path(__file__).resolve().parent
LAB_GROUPS = {"analysts", "trainers", "statistikstelle", "admins", "participants"}
# at the per-person kernel limit, a page request waits this long for a kernel to be freed
# (a reloaded page's old kernel is shut down by its beacon, which may arrive just after)
LIMIT_GRACE = 2.0
# waiting in line for a page (start_queue.py): the query argument of a prepared page, how long
# it is kept for its browser, and how often a waiting browser hears from the gateway
PREPARED_ARG = "bif_seite"
PREPARED_TTL = 60.0
QUEUE_HEARTBEAT = 10.0
QUEUE_TIMEOUT_TEXT = ("Sehr viele Apps werden gerade geöffnet",
                      ("Ihre App konnte in der Wartezeit nicht vorbereitet werden. Bitte versuchen Sie es in "
                       "ein paar Minuten noch einmal."))
VOILA_UNREACHABLE_TEXT = ("App-Dienst nicht erreichbar",
                          "Die Apps werden gerade neu gestartet. Bitte versuchen Sie es in einer Minute erneut.")
STREAM_MARK = "<!--bif-stream-->"
INTERACT_MAX_BYTES = 16 * 2**20  # one change with all earlier ones of its page
INTERACT_PER_USER = 2  # changes of one person computed at once (a page sends one at a time)
POOL_RESIZE_INTERVAL = 2  # seconds between two looks at the demand for each app's pool
# concurrent requests of the gateway to Voilà (tornado's default of 10 would make people's
# page requests queue behind each other while kernels start)
VOILA_MAX_CLIENTS = 100

# the launcher's entry points (implemented in daemon.py)
start = daemon.start
stop = daemon.stop
status = daemon.status


@dataclass
class Context:
    cfg: AppsConfig
    registry: Registry
    hub_auth: HubOAuth
    api_token: str  # the service's own hub API token: the only key to api/pools
    voila_token: str
    pages: Pages
    rewriter: PageRewriter
    asset_key: str
    run_as: RunAs
    bindings: KernelBindings = field(default_factory=KernelBindings)
    supervisor: VoilaSupervisor | None = None
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, "bif-publish"))
    syncing: asyncio.Future | None = None  # sync_bindings in progress (shared by its callers)
    start_queue: StartQueue | None = None  # first come, first served (start_queue.py)
    pool_demand: PoolDemand | None = None  # pools that grow with demand (pool_demand.py)
    # pages prepared for someone who waited in line, until their browser fetches them
    prepared: dict[str, PreparedPage] = field(default_factory=dict)
    shared_pages: SharedPages = field(default_factory=SharedPages)  # one page per app version (shared_pages.py)
    assets: AssetCache | None = None  # front-end files, compressed once
    interacting: dict[str, int] = field(default_factory=dict)  # changes in progress per person
    refusals: RefusalDelay = field(default_factory=RefusalDelay)  # kernel WebSockets refused per person

    def __post_init__(self) -> None:
        if self.start_queue is None:
            self.start_queue = StartQueue(self.cfg.start_slots, self.cfg.concurrent_starts_per_person)
        if self.assets is None:
            self.assets = AssetCache(self.cfg, self.voila_token)
        if self.pool_demand is None:
            self.pool_demand = PoolDemand(self.cfg.pool_demand_window, self.cfg.pool_max)


@dataclass
class PreparedPage:
    user: str
    app_id: str
    body: bytes
    expires: float


# --- authentication ----------------------------------------------------------------------

class HubUserMixin(HubOAuthenticated):
    """Resolve the hub user once per request, asynchronously.

    ``HubAuthenticated.get_current_user`` is synchronous and would block the event loop on
    a cache miss while it asks the hub; ``prepare`` does the same lookup with ``sync=False``
    and leaves the result where ``get_current_user`` finds it.
    """

    ctx: Context
    not_allowed = False

    def init_ctx(self, ctx: Context) -> None:
        self.ctx = ctx
        self.hub_auth = ctx.hub_auth

    async def resolve_user(self) -> dict | None:
        model = await self.hub_auth.get_user(self, sync=False)
        user = None
        if model:
            try:
                user = self.check_hub_user(model)
            except UserNotAllowed:
                self.not_allowed = True
        self._hub_auth_user_cache = user
        return user


class BaseHandler(HubUserMixin, web.RequestHandler):
    def initialize(self, ctx: Context) -> None:
        self.init_ctx(ctx)

    async def prepare(self) -> None:
        await self.resolve_user()
        if self.not_allowed:
            self.page(403, "Kein Zugang",
                      "Ihr Konto ist für die App-Übersicht nicht freigeschaltet. Bitte wenden Sie sich an "
                      "die IT-Abteilung.")

    def page(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(self.ctx.pages.message(title, text, user=self.current_user, status=status))

    def write_error(self, status_code: int, **kwargs) -> None:
        texts = {403: ("Kein Zugang", "Sie haben keine Berechtigung für diese Seite."),
                 404: ("Nicht gefunden", "Diese Seite gibt es nicht (mehr)."),
                 502: ("App-Dienst nicht erreichbar",
                       "Die Apps werden gerade neu gestartet. Bitte versuchen Sie es in einer Minute erneut.")}
        title, text = texts.get(status_code, ("Fehler", "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es "
                                              "später erneut."))
        self.finish(self.ctx.pages.message(title, text, user=self._hub_auth_user_cache
                                           if hasattr(self, "_hub_auth_user_cache") else None,
                                           status=status_code))


class ApiHandler(BaseHandler):
    """JSON in, JSON out; 403 instead of a login redirect."""

    async def prepare(self) -> None:
        await self.resolve_user()

    def get_login_url(self) -> str:
        raise web.HTTPError(403)

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.finish({"error": message, "status": status_code})

    def json_body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError:
            raise web.HTTPError(400, "Anfrage ist kein gültiges JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "JSON-Objekt erwartet")
        return data


# --- pages -----------------------------------------------------------------------------------

class GalleryHandler(BaseHandler):
    @web.authenticated
    def get(self) -> None:
        user = self.current_user
        items = items_for_user(self.ctx.registry, user, self.ctx.cfg.service_prefix)
        self.set_header("Cache-Control", "no-store")
        ahead = front_end_ahead((item.frontend for item in items), self.ctx.rewriter.assets.decode())
        self.finish(self.ctx.pages.gallery(user, items, lab_link=bool(user_groups(user) & LAB_GROUPS),
                                           ahead=ahead))


class ThumbnailHandler(BaseHandler):
    @web.authenticated
    def get(self, app_id: str, version: str) -> None:
        try:
            app = self.ctx.registry.get(app_id, int(version))
        except Exception:  # noqa: BLE001 - unknown app or version
            raise web.HTTPError(404) from None
        if not can_open(self.current_user, app.meta):
            raise web.HTTPError(403)
        path = app.thumbnail or (HERE / "static" / "placeholder.png")
        self.set_header("Content-Type", "image/png")
        # a version's thumbnail never changes
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        self.finish(path.read_bytes())


class AppHandler(BaseHandler):
    """``app/<app_id>/<rest>``: the app page and the page's requests to its kernel."""

    def check_xsrf_cookie(self) -> None:
        # The page's "shutdown my kernel" beacon on close is a same-origin form POST whose
        # _xsrf may not match the hub's xsrf scheme. It is safe without: it only acts on a
        # kernel the same person opened through this app (checked in post()).
        if self.request.method == "POST" and KERNEL_REST_PATH.match(self.path_kwargs.get("rest", "")) \
                and self.request.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin":
            return
        super().check_xsrf_cookie()

    def _app_meta(self, app_id: str) -> dict:
        app = self.ctx.registry.current(app_id) if APP_ID_RE.match(app_id) else None
        if app is None and APP_ID_RE.match(app_id) and self.ctx.registry.withdrawn(app_id):
            self.page(404, "App zurückgezogen",
                      "Diese App wurde zurückgezogen und kann nicht mehr geöffnet werden. Die verfügbaren Apps "
                      "finden Sie in der App-Übersicht.")
            return {}
        if app is None:
            raise web.HTTPError(404)
        if not can_open(self.current_user, app.meta):
            self.page(403, "Kein Zugang zu dieser App",
                      f"Die App „{app.meta.get('title', app_id)}“ ist für Ihre Gruppe nicht freigegeben. "
                      "Wenn Sie sie für Ihre Arbeit brauchen, wenden Sie sich an die verantwortliche Stelle "
                      f"({app.meta.get('owner') or 'unbekannt'}).")
            return {}
        return app.meta

    @web.authenticated
    async def get(self, app_id: str, rest: str) -> None:
        meta = self._app_meta(app_id)
        if not meta:
            return
        if rest == "":
            await self._render(app_id)
        elif STATIC_PATH.match(rest):
            resp = await fetch_voila(self.ctx.cfg, self.ctx.voila_token, "GET", rest,
                                     query=strip_query_token(self.request.query), request_headers=self.request.headers)
            copy_response(self, resp)
        elif (m := KERNEL_REST_PATH.match(rest)) and rest.startswith("api/kernels/"):
            await self._kernel_request(app_id, m.group(1), rest)
        else:
            raise web.HTTPError(404)

    async def post(self, app_id: str, rest: str) -> None:
        await self._kernel_call(app_id, rest)

    async def delete(self, app_id: str, rest: str) -> None:
        await self._kernel_call(app_id, rest)

    async def _kernel_call(self, app_id: str, rest: str) -> None:
        if not self.current_user:
            raise web.HTTPError(403)
        m = KERNEL_REST_PATH.match(rest)
        if not m or not self._app_meta(app_id):
            if not self._finished:
                raise web.HTTPError(404)
            return
        await self._kernel_request(app_id, m.group(1), rest)

    async def _kernel_request(self, app_id: str, kernel_id: str, rest: str) -> None:
        if not self.ctx.bindings.allowed(kernel_id, app_id, self.current_user["name"]):
            raise web.HTTPError(403)
        resp = await fetch_voila(self.ctx.cfg, self.ctx.voila_token, self.request.method, rest,
                                 body=self.request.body or b"", request_headers=self.request.headers)
        if self.request.method in ("POST", "DELETE") and resp.code in (200, 204, 404):
            self.ctx.bindings.unbind(kernel_id)  # the page shut its kernel down (tab closed)
        copy_response(self, resp, cache="no-store")

    async def _render(self, app_id: str) -> None:
        user = self.current_user["name"]
        ticket = self.get_query_argument(PREPARED_ARG, "")
        if ticket:
            self._send_prepared(ticket, app_id, user)
            return
        # A page with parameters in its address is rendered for them, with a kernel of its own.
        if self.ctx.cfg.shared_view and not strip_query_token(self.request.query):
            app = self.ctx.registry.current(app_id)
            page = await self.ctx.shared_pages.page(app_id, app.version, partial(build_shared_page, self.ctx, app_id))
            if page is not None:
                self.set_header("Cache-Control", "no-store")
                send_compressed(self, "text/html; charset=UTF-8", page.body, page.gzipped)
                return
        if not await self._reserve_kernel(user):
            limit = self.ctx.cfg.max_kernels_per_user
            log.warning("%s already holds %d kernel(s): app %s refused", user, limit, app_id)
            apps = "eine App" if limit == 1 else f"{limit} Apps"
            freed = self.ctx.cfg.orphan_timeout + self.ctx.cfg.orphan_check_interval
            when = "spätestens einer Minute" if freed <= 60 else f"spätestens {-(-freed // 60)} Minuten"
            self.page(429, "Zu viele geöffnete Apps",
                      f"Sie haben bereits {apps} geöffnet. Bitte schließen Sie eine davon (den Browser-Tab "
                      "der App), bevor Sie eine weitere öffnen. Apps in Tabs, die abgestürzt sind oder noch "
                      f"beim Laden geschlossen wurden, werden nach {when} freigegeben.")
            return
        self.ctx.pool_demand.opened(app_id, user)
        try:
            await self._render_in_turn(app_id)
        finally:
            self.ctx.bindings.release(user)

    async def _reserve_kernel(self, user: str) -> bool:
        """Count this page against the person's kernel limit (``apps.max_kernels_per_user``)."""
        bindings, limit = self.ctx.bindings, self.ctx.cfg.max_kernels_per_user
        if bindings.reserve(user, limit):
            return True
        # maybe some of them are gone already (culled, Voilà restarted), or a reloaded page's
        # beacon is on its way
        await sync_bindings(self.ctx)
        deadline = IOLoop.current().time() + LIMIT_GRACE
        while not bindings.reserve(user, limit):
            if IOLoop.current().time() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True

    async def _render_in_turn(self, app_id: str) -> None:
        """Prepare the page when it is this request's turn (start_queue.py). A browser that has
        to wait gets a page with its position at once and is sent on to the prepared page."""
        queue = self.ctx.start_queue
        place = queue.join(self.current_user["name"])
        try:
            if not place.granted.done() and self.request.headers.get("Sec-Fetch-Mode") == "navigate":
                await self._wait_in_browser(app_id, place)
                return
            if not await queue.wait(place, self.ctx.cfg.queue_timeout):
                log.warning("app %s: no turn within %d s (%d waiting)", app_id, self.ctx.cfg.queue_timeout,
                            len(queue))
                self.page(503, *QUEUE_TIMEOUT_TEXT)
                return
            body, problem = await self._prepare_page(app_id)
            if problem:
                self.page(*problem)
                return
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(body)
        finally:
            kernel_id = getattr(self, "_kernel_bound", None)
            if kernel_id and self.ctx.cfg.connect_grace > 0:
                queue.prepared(place)  # the slot to the next in line; the person still counts it
                IOLoop.current().spawn_callback(leave_once_connected, self.ctx, place, kernel_id)
            else:
                queue.leave(place)

    def on_connection_close(self) -> None:
        self._gone = True
        place = getattr(self, "_place", None)
        if place is not None:
            place.moved.set()  # wake the waiting loop: it leaves the line
        super().on_connection_close()

    async def _wait_in_browser(self, app_id: str, place) -> None:
        queue, loop = self.ctx.start_queue, IOLoop.current()
        self._place, self._gone = place, False
        deadline = loop.time() + self.ctx.cfg.queue_timeout
        head, tail = self.ctx.pages.waiting(queue.position(place), user=self.current_user).split(STREAM_MARK)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        shown = queue.position(place)
        try:
            self.write(head)
            await self.flush()
            while not place.granted.done():
                if loop.time() > deadline:
                    log.warning("app %s: no turn within %d s (%d waiting)", app_id,
                                self.ctx.cfg.queue_timeout, len(queue))
                    self.write(queue_script("bifQueueFailed", QUEUE_TIMEOUT_TEXT[1]))
                    self.finish(tail)
                    return
                await queue.moved_or_granted(place, timeout=QUEUE_HEARTBEAT)
                if self._gone:
                    return
                position = queue.position(place)
                # a position, or a heartbeat: a closed tab shows up as a failed write
                self.write(queue_script("bifQueuePosition", position) + "\n" if position and position != shown
                           else "\n")
                shown = position or shown
                await self.flush()
        except StreamClosedError:
            return
        body, problem = await self._prepare_page(app_id)
        if problem:
            self.write(queue_script("bifQueueFailed", problem[2]))
            self.finish(tail)
            return
        now = loop.time()
        for ticket in [t for t, p in self.ctx.prepared.items() if p.expires < now]:
            del self.ctx.prepared[ticket]  # never fetched: the orphan check ends their kernels
        ticket = secrets.token_urlsafe(18)
        self.ctx.prepared[ticket] = PreparedPage(self.current_user["name"], app_id, body, now + PREPARED_TTL)
        url = f"{self.request.path}?{PREPARED_ARG}={ticket}"
        self.write(queue_script("bifQueueReady", url))
        self.finish(tail)

    def _send_prepared(self, ticket: str, app_id: str, user: str) -> None:
        page = self.ctx.prepared.pop(ticket, None)
        if page is None or page.user != user or page.app_id != app_id or page.expires < IOLoop.current().time():
            if page is not None and page.user != user:
                self.ctx.prepared[ticket] = page  # not theirs: it stays for its owner
            log.info("prepared page of %s for %s not found (fetched already, expired or not theirs): "
                     "opening afresh", app_id, user)
            self.redirect(self.request.path)  # open the app afresh
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(page.body)

    async def _prepare_page(self, app_id: str) -> tuple[bytes | None, tuple[int, str, str] | None]:
        """The app page from Voilà, rewritten for the gateway, its kernel bound to this person;
        or (None, (status, title, text)) of a German error page."""
        body, problem = await render_page(self.ctx, app_id, strip_query_token(self.request.query),
                                          self.request.headers)
        m = KERNEL_ID_IN_PAGE.search(body or b"")
        if m:
            self._kernel_bound = m.group(1).decode()
            self.ctx.bindings.bind(self._kernel_bound, app_id, self.current_user["name"])
        return body, problem


def queue_script(function: str, argument) -> str:
    """One step of a waiting page's stream: a call of a function of templates/waiting.html
    (bifQueuePosition, bifQueueFailed, bifQueueReady)."""
    return f"<script>{function}({json.dumps(argument)})</script>"


async def leave_once_connected(ctx: Context, place, kernel_id: str) -> None:
    """A person's page counts against ``apps.concurrent_starts_per_person`` until it has
    connected to its kernel (or the kernel is gone, or ``apps.connect_grace`` passed), not
    only until it was sent (its slot is free for others from then on, ``StartQueue.prepared``).
    A client that asks for many kernel pages and never connects them (a script, an attacker)
    otherwise got them prepared one right after the other, each a notebook run: measured
    before, 5 kernels and 4.3 CPU-s within the 3 s of a benchmark round."""
    try:
        await ctx.bindings.wait_connected(kernel_id, ctx.cfg.connect_grace)
    finally:
        ctx.start_queue.leave(place)


async def render_page(ctx: Context, app_id: str, query: str = "",
                      request_headers=None) -> tuple[bytes | None, tuple[int, str, str] | None]:
    """The app page rendered by Voilà (a kernel of its pool has executed the app), rewritten for
    the gateway; or (None, (status, title, text)) of a German error page."""
    # While Voilà restarts (after a crash) people wait a little instead of seeing an error.
    deadline = IOLoop.current().time() + 30
    while True:
        try:
            resp = await fetch_voila(ctx.cfg, ctx.voila_token, "GET", f"voila/render/{served_name(app_id)}",
                                     query=query, request_headers=request_headers)
            break
        except web.HTTPError:
            sup = ctx.supervisor
            if sup is None or sup.gave_up or IOLoop.current().time() > deadline:
                return None, (502, *VOILA_UNREACHABLE_TEXT)
            await asyncio.sleep(0.5)
    if resp.code == 599:
        return None, (502, *VOILA_UNREACHABLE_TEXT)
    if resp.code != 200:
        log.error("Voilà answered %s for %s: %s", resp.code, app_id, (resp.body or b"")[:300])
        return None, (502, "App konnte nicht gestartet werden",
                      ("Die App ließ sich gerade nicht starten. Bitte versuchen Sie es gleich noch einmal; "
                       "bleibt der Fehler, informieren Sie die verantwortliche Stelle."))
    return ctx.rewriter.rewrite(resp.body, app_id), None


async def build_shared_page(ctx: Context, app_id: str) -> SharedPage:
    """Render the app once and make its kernel the template of all viewers (shared_pages.py)."""
    version = ctx.registry.current(app_id).version
    body, problem = await render_page(ctx, app_id)
    if problem:
        raise RuntimeError(problem[2])
    m = KERNEL_ID_IN_PAGE.search(body)
    if m is None:
        raise NotShareable("no kernel in the page")
    kernel_id = m.group(1).decode()
    resp = await voila_shared(ctx.cfg, ctx.voila_token, "POST", app_id, body={"kernel_id": kernel_id})
    try:
        if resp is None or resp.code != 200:
            raise NotShareable(f"Voilà answered {getattr(resp, 'code', None)}")
        answer = json.loads(resp.body)
        interact = f"{ctx.cfg.service_prefix}app/{app_id}/bif/interact"
        page = compose(body, answer["snapshot_id"], answer["snapshot"], answer["view_only"], interact)
        # everybody arriving with this page fetches its files at once: have them ready
        await ctx.assets.warm(page, ctx.rewriter.assets)
        return SharedPage(version, answer["snapshot_id"], page, gzip_if_worth("text/html", page))
    except Exception:
        # not shared after all: the kernel serves nobody
        await voila_shared(ctx.cfg, ctx.voila_token, "DELETE", app_id)
        await shutdown_voila_kernel(ctx.cfg, ctx.voila_token, kernel_id)
        raise


async def prepare_shared_pages(ctx: Context, app_ids: list[str] | None = None) -> None:
    """Build the shared pages of the current apps now (at start, after a publish or new data),
    so that the first planners do not wait for it."""
    if not ctx.cfg.shared_view:
        return
    for app in ctx.registry.list_current():
        if app_ids is None or app.app_id in app_ids:
            await ctx.shared_pages.page(app.app_id, app.version, partial(build_shared_page, ctx, app.app_id))


def snapshot_gone(resp) -> bool:
    """Whether Voilà answered a change with "this snapshot is gone" (409, reason "snapshot"),
    not with another refusal such as too long a history (409, reason "refused"): only then is
    the shared page outdated. A viewer must not be able to throw the page away."""
    if resp.code != 409:
        return False
    body = resp.body or b""
    try:
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return json.loads(body).get("reason") == "snapshot"
    except (OSError, ValueError, AttributeError, EOFError):
        return False


def change_on(page: SharedPage | None, request: bytes,
              live_version: int | None) -> tuple[SharedPage | None, bool]:
    """(the shared page a change request is made on, whether it is the page's first change).
    The page only if the request names its snapshot, the page is of the app's live version,
    and the request is small enough to be read here (``Answers.MAX_REQUEST``); else None: the
    request goes to Voilà, which answers an outdated snapshot with 409."""
    if page is None or len(request) > page.answers.MAX_REQUEST or page.version != live_version:
        return None, False
    try:
        asked = json.loads(request)
    except (ValueError, RecursionError):
        return None, False
    if not isinstance(asked, dict) or asked.get("snapshot") != page.snapshot_id \
            or not isinstance(asked.get("history"), list):
        return None, False
    return page, not asked["history"] and asked.get("step") != FLUSH


class InteractHandler(AppHandler):
    """``app/<app_id>/bif/interact``: a change on a shared page, computed by Voilà
    (``shared_views.py``). The answer is the app's comm messages, as JSON."""

    def check_xsrf_cookie(self) -> None:
        # A JSON body cannot come from another site without the browser asking this one first
        # (CORS preflight, which is never allowed here); browsers also say where a request
        # comes from.
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json" \
                or self.request.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            raise web.HTTPError(403, "cross-site request")

    async def get(self, app_id: str) -> None:
        raise web.HTTPError(405)

    @web.authenticated
    async def post(self, app_id: str) -> None:
        if not self._app_meta(app_id):
            return
        if len(self.request.body) > INTERACT_MAX_BYTES:
            raise web.HTTPError(413)
        gzipped = "gzip" in self.request.headers.get("Accept-Encoding", "")
        page, first = change_on(self.ctx.shared_pages.pages.get(app_id), self.request.body,
                                self.ctx.registry.current_version(app_id))
        key = page.answers.key(self.request.body, gzipped) if page is not None else None
        kept = page.answers.get(key) if page is not None else None
        joined = False
        if kept is None and page is not None and (flight := page.answers.joining(key)) is not None:
            # the same change from another viewer is on its way to Voilà: its answer is this one's
            await asyncio.shield(flight)
            kept, joined = page.answers.get(key), True
        if kept is not None:
            if first and not joined and page.answers.due_for_voila(key):
                asyncio.ensure_future(self._tell_voila(app_id))
            encoding, body = kept
            self.set_header("Content-Type", "application/json")
            if encoding:
                self.set_header("Content-Encoding", encoding)
                self.set_header("Vary", "Accept-Encoding")
            self.set_header("Cache-Control", "no-store")
            self.finish(body)
            return
        user, busy = self.current_user["name"], self.ctx.interacting
        if busy.get(user, 0) >= INTERACT_PER_USER:
            # one page sends one change at a time; more at once is a script or many tabs
            self.set_status(429)
            self.set_header("Retry-After", "1")
            self.finish({"reason": "busy"})
            return
        busy[user] = busy.get(user, 0) + 1
        flight = page.answers.asking(key) if page is not None else None
        try:
            # the answer as Voilà compressed it once for everybody (passed on, not recompressed)
            resp = await fetch_voila(self.ctx.cfg, self.ctx.voila_token, "POST", f"bif/shared/{app_id}/interact",
                                     body=self.request.body, timeout=180, decompress=False,
                                     request_headers={"Content-Type": "application/json",
                                                      "Accept-Encoding": self.request.headers.get("Accept-Encoding",
                                                                                                  "")})
            self._forget_if_gone(app_id, resp)
            if resp.code == 200 and key is not None:
                page.answers.keep(key, resp.headers.get("Content-Encoding", ""), resp.body)
        finally:
            busy[user] -= 1
            if not busy[user]:
                del busy[user]
            if flight is not None:
                page.answers.answered(key, flight)
        if resp.headers.get("Content-Encoding"):
            self.set_header("Content-Encoding", resp.headers["Content-Encoding"])
            self.set_header("Vary", "Accept-Encoding")
        copy_response(self, resp, cache="no-store")

    async def _tell_voila(self, app_id: str) -> None:
        """A first change answered by the gateway, passed on to Voilà without waiting for it
        (see ``Answers.due_for_voila``)."""
        try:
            resp = await fetch_voila(self.ctx.cfg, self.ctx.voila_token, "POST", f"bif/shared/{app_id}/interact",
                                     body=self.request.body, timeout=60,
                                     request_headers={"Content-Type": "application/json"})
        except web.HTTPError:
            return  # Voilà restarting: nothing is lost but a head start
        self._forget_if_gone(app_id, resp)

    def _forget_if_gone(self, app_id: str, resp) -> None:
        """When Voilà answered that the request's snapshot is gone, forget the shared page of
        that snapshot (and its kept answers): the next open builds the page afresh. A page
        built since, of another snapshot, stays."""
        if not snapshot_gone(resp):
            return
        try:
            snapshot = json.loads(self.request.body).get("snapshot")
        except (ValueError, AttributeError, RecursionError):
            snapshot = None
        self.ctx.shared_pages.forget(app_id, snapshot)


class AppRedirectHandler(BaseHandler):
    def get(self, app_id: str) -> None:
        self.redirect(f"{self.ctx.cfg.service_prefix}app/{app_id}/", permanent=False)


class KernelSocketHandler(HubUserMixin, KernelSocketProxy):
    """``app/<app_id>/api/kernels/<kernel_id>/channels`` (WebSocket).

    Order of the checks: login, audience and kernel binding (HTTP 403 before the
    handshake); then the kernel protocol and the connections per kernel (handshake, then
    closed at once with a close code: nothing reaches Voilà); then Voilà.
    """

    def initialize(self, ctx: Context) -> None:
        self.init_ctx(ctx)
        super().initialize(ctx.cfg, ctx.voila_token)
        self._kernel_id: str | None = None  # counted in the bindings while set
        self._binding = None  # its kernel's binding: the connection ends with it
        self._ending: asyncio.Task | None = None

    async def get(self, app_id: str, kernel_id: str) -> None:
        user = await self.resolve_user()
        app = self.ctx.registry.current(app_id)
        if not user or app is None or not can_open(user, app.meta) \
                or not self.ctx.bindings.allowed(kernel_id, app_id, user["name"]):
            self.set_status(403)
            self.finish("Kein Zugang")
            return
        refusal = None
        if not self.speaks_kernel_protocol():
            refusal = CLOSE_PROTOCOL
        elif self.ctx.bindings.sockets(kernel_id) >= self.ctx.cfg.ws_max_connections_per_kernel:
            refusal = CLOSE_BUSY
        if refusal is not None:
            # a client that keeps trying waits for each further refusal (RefusalDelay)
            await asyncio.sleep(self.ctx.refusals.delay_for(user["name"]))
            self.refuse(*refusal)
        else:
            if self.ctx.bindings.opened(kernel_id):
                self._kernel_id, self._binding = kernel_id, self.ctx.bindings.get(kernel_id)
            try:
                await self.connect_upstream(kernel_id)
            except Exception as e:  # noqa: BLE001 - kernel gone (culled, Voilà restarted)
                self._release()
                log.info("kernel websocket %s not available: %s", kernel_id, e)
                self.set_status(404)
                self.finish("Kernel nicht mehr vorhanden")
                return
        try:
            # returns when the connection has ended (or its handshake failed)
            await super().get(app_id, kernel_id)
        finally:
            self._release()

    def open(self, *args, **kwargs) -> None:
        super().open(*args, **kwargs)
        if self._binding is not None:  # (only set for a connection that is not refused)
            self._ending = asyncio.ensure_future(self._close_when_ended(self._binding))

    async def _close_when_ended(self, binding) -> None:
        """Voilà keeps a page's connection open after the page's kernel was shut down (by the
        orphan check, also one whose page connected while it was being shut down, or culled):
        the page would wait for its widgets for good. The binding ends with the kernel."""
        await binding.ended.wait()
        if not self._closed:
            log.info("kernel of %s (app %s) has ended: its page's connection is closed", binding.user,
                     binding.app_id)
            self.close(*CLOSE_KERNEL_ENDED)

    def _release(self) -> None:
        if self._kernel_id is not None:
            self.ctx.bindings.closed(self._kernel_id)
            self._kernel_id = None

    def on_close(self) -> None:
        self._release()
        if self._ending is not None:
            self._ending.cancel()
        super().on_close()


# --- API -----------------------------------------------------------------------------------------

class AppsApiHandler(ApiHandler):
    @web.authenticated
    def get(self) -> None:
        items = items_for_user(self.ctx.registry, self.current_user, self.ctx.cfg.service_prefix)
        self.finish({"apps": [{"app_id": i.app_id, "version": i.version, "title": i.title, "url": i.url,
                               "published_at": i.published_iso} for i in items]})


class PublisherApiHandler(ApiHandler):
    """Needs the hub scope custom:bif-apps:publish on the caller's token (analysts, admins…).

    The job (publish, rollback, withdraw) runs beside the event loop without touching the
    kernel pool; the handler then refreshes or drops the pool itself, in Voilà."""

    hub_scopes = {PUBLISH_SCOPE}
    done = "published"  # the answer's flag: {"published": true, ...}
    pool = "pool_refreshed"  # ... and whether Voilà did what the pool needed

    async def prepare(self) -> None:
        await self.resolve_user()
        if self.not_allowed or (self.current_user and not can_publish(self.current_user)):
            raise web.HTTPError(403, f"Es fehlt die Berechtigung {PUBLISH_SCOPE} (Rolle bif-apps-publisher).")

    async def run_job(self, job, *args, **kwargs) -> PublishResult | None:
        """``job(*args, **kwargs)`` with this service's config and registry, leaving the pool
        to the handler (``refresh=False``); a refusal is answered (422, German reasons) and
        gives None."""
        user = self.current_user["name"]
        call = partial(job, *args, cfg=self.ctx.cfg, registry=self.ctx.registry, refresh=False, **kwargs)
        try:
            return await IOLoop.current().run_in_executor(self.ctx.executor, call)
        except PublishError as e:
            log.info("%s by %s refused: %s", job.__name__, user, e)
            self.set_status(422)
            self.finish({self.done: False, "app_id": e.app_id, "reasons": e.reasons, "message": e.german()})
            return None

    async def refresh_pool(self, result: PublishResult) -> None:
        """Replace the app's pooled kernels with ones of the version now live."""
        status, _ = await voila_pool(self.ctx.cfg, self.ctx.voila_token, "POST", result.app_id,
                                     result.app.meta.get("pool_size"))
        self.ctx.pool_demand.forget(result.app_id)  # rebuilt at its own size
        self.ctx.shared_pages.forget(result.app_id)
        asyncio.ensure_future(prepare_shared_pages(self.ctx, [result.app_id]))
        result.pool_refreshed = status == 200
        if not result.pool_refreshed:
            result.notes.append(SERVICE_UNREACHABLE)

    def answer(self, result: PublishResult, **extra) -> None:
        self.finish({self.done: True, "app_id": result.app_id, "version": result.version,
                     self.pool: result.pool_refreshed, **extra})


class PublishApiHandler(PublisherApiHandler):
    """POST ``{"notebook": {...}, "filename": "x.ipynb", "app_id": optional}``."""

    @web.authenticated
    async def post(self) -> None:
        data = self.json_body()
        if not isinstance(data.get("notebook"), dict):
            raise web.HTTPError(400, "Feld 'notebook' (das Notebook als JSON) fehlt.")
        result = await self.run_job(publish_notebook, data["notebook"], published_by=self.current_user["name"],
                                    app_id=data.get("app_id"), filename=data.get("filename"), run_as=self.ctx.run_as)
        if result is None:
            return
        await self.refresh_pool(result)
        self.set_status(201)
        self.answer(result, url=f"{self.ctx.cfg.service_prefix}app/{result.app_id}/", notes=result.notes)


class RollbackApiHandler(PublisherApiHandler):
    """POST ``{"to": 3}`` or ``{}`` (the version before; for a withdrawn app the one withdrawn)."""

    done = "rolled_back"

    @web.authenticated
    async def post(self, app_id: str) -> None:
        to = self.json_body().get("to")
        result = await self.run_job(rollback, app_id, int(to) if to is not None else None,
                                    by=self.current_user["name"])
        if result is not None:
            await self.refresh_pool(result)
            self.answer(result)


class WithdrawApiHandler(PublisherApiHandler):
    """POST: the app leaves the gallery; its versions are kept (rollback brings it back)."""

    done = "withdrawn"
    pool = "pool_dropped"

    @web.authenticated
    async def post(self, app_id: str) -> None:
        result = await self.run_job(withdraw, app_id, by=self.current_user["name"])
        if result is not None:
            status, _ = await voila_pool(self.ctx.cfg, self.ctx.voila_token, "DELETE", app_id)
            self.ctx.pool_demand.forget(app_id)
            self.ctx.shared_pages.forget(app_id)
            result.pool_refreshed = status == 200
            self.answer(result)


class PoolApiHandler(web.RequestHandler):
    """``api/pools/<app_id>``: inspect (GET), rebuild (POST ``{"pool_size": n}``) or drop
    (DELETE) an app's pool of preheated kernels in Voilà, for publishers outside this process
    (``bif publish``, ``pools.py``).

    Only the service's own hub API token is accepted (``Authorization: token …``), compared
    here without asking the hub: whoever holds it runs the platform (root, or the one BIF
    account). People, also those with the publish scope, never get it; they change apps
    through the publisher API above, which refreshes the pool itself.
    """

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    def prepare(self) -> None:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not self.ctx.api_token \
                or not hmac.compare_digest(token.strip().encode(), self.ctx.api_token.encode()):
            raise web.HTTPError(403)

    async def get(self, app_id: str) -> None:
        await self._pool("GET", app_id)

    async def post(self, app_id: str) -> None:
        try:
            size = json.loads(self.request.body or b"{}").get("pool_size")
            size = None if size is None else int(size)
        except (ValueError, TypeError, AttributeError):
            raise web.HTTPError(400) from None
        await self._pool("POST", app_id, size)

    async def delete(self, app_id: str) -> None:
        await self._pool("DELETE", app_id)

    async def _pool(self, method: str, app_id: str, pool_size: int | None = None) -> None:
        status, answer = await voila_pool(self.ctx.cfg, self.ctx.voila_token, method, app_id, pool_size)
        if method != "GET":
            self.ctx.pool_demand.forget(app_id)
            self.ctx.shared_pages.forget(app_id)
            if method == "POST" and status == 200:
                asyncio.ensure_future(prepare_shared_pages(self.ctx, [app_id]))
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(answer)

    def write_error(self, status_code: int, **kwargs) -> None:
        self.finish({"status": status_code})


class HealthHandler(web.RequestHandler):
    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self) -> None:
        sup = self.ctx.supervisor
        self.set_header("Cache-Control", "no-store")
        self.finish({"status": "ok", "voila": bool(sup and sup.running and sup.ready),
                     "apps": len(self.ctx.registry.app_ids())})


class FrontEndAheadHandler(web.RequestHandler):
    """``assets/ahead``: the files of BIF's app front end, if an app uses it, as JSON
    (``{"files": [{"href": ..., "rel": ...}, ...]}``, ``gallery.AheadFile``), for a page
    outside this service to let the browser fetch them ahead: the hub's login page on the way
    to an app (hub_config/templates/login.html), where a planner who opened an app from a
    bookmark types the password. Public, as the files themselves are (``AssetHandler``): the
    answer names no app."""

    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self) -> None:
        frontends = (str(app.meta.get("frontend") or "") for app in self.ctx.registry.list_current())
        self.set_header("Cache-Control", "no-cache")  # the files' key changes with the installation
        self.finish({"files": [f._asdict() for f in front_end_ahead(frontends, self.ctx.rewriter.assets.decode())]})


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    def initialize(self, ctx: Context) -> None:
        self.hub_auth = ctx.hub_auth


# --- assembly ---------------------------------------------------------------------------------

def make_hub_auth(cfg: AppsConfig, api_token: str) -> HubOAuth:
    prefix = cfg.service_prefix
    return HubOAuth(
        api_token=api_token, api_url=cfg.hub_api_url, base_url=prefix, hub_prefix=cfg.hub_prefix,
        oauth_client_id=f"service-{SERVICE_NAME}", oauth_redirect_uri=f"{prefix}oauth_callback",
        access_scopes={f"access:services!service={SERVICE_NAME}"},
        # group changes on the hub apply within a minute
        cache_max_age=60,
    )


def make_app(ctx: Context, cookie_secret: bytes) -> web.Application:
    p = ctx.cfg.service_prefix
    app_id = r"([a-z0-9][a-z0-9-]{0,62})"
    kw = {"ctx": ctx}
    handlers = [
        (rf"{p}", GalleryHandler, kw),
        (rf"{p}oauth_callback", OAuthCallbackHandler, kw),
        (rf"{p}health", HealthHandler, kw),
        (rf"{p}api/apps", AppsApiHandler, kw),
        (rf"{p}api/publish", PublishApiHandler, kw),
        (rf"{p}api/apps/{app_id}/rollback", RollbackApiHandler, kw),
        (rf"{p}api/apps/{app_id}/withdraw", WithdrawApiHandler, kw),
        (rf"{p}api/pools/{app_id}", PoolApiHandler, kw),
        (rf"{p}thumbnails/{app_id}/([0-9]+)\.png", ThumbnailHandler, kw),
        (rf"{p}assets/ahead", FrontEndAheadHandler, kw),
        (rf"{p}assets/([0-9a-f]+)/(.*)", AssetHandler,
         {"cfg": ctx.cfg, "token": ctx.voila_token, "key": ctx.asset_key, "cache": ctx.assets}),
        (rf"{p}static/(.*)", web.StaticFileHandler, {"path": str(HERE / "static")}),
        (rf"{p}app/{app_id}/api/kernels/({KERNEL_ID})/channels", KernelSocketHandler, kw),
        (rf"{p}app/{app_id}/bif/interact", InteractHandler, kw),
        (rf"{p}app/(?P<app_id>[a-z0-9][a-z0-9-]{{0,62}})/(?P<rest>.*)", AppHandler, kw),
        (rf"{p}app/{app_id}", AppRedirectHandler, kw),
        (r"/", web.RedirectHandler, {"url": p}),
    ]
    return web.Application(
        handlers, cookie_secret=cookie_secret, login_url=ctx.hub_auth.login_url, xsrf_cookies=False,
        log_function=_log_request,
        websocket_ping_interval=ctx.cfg.ws_ping_interval, websocket_max_message_size=ctx.cfg.ws_max_message_size,
        compress_response=True,
    )


# --- kernels whose page went away ------------------------------------------------------------------

async def sync_bindings(ctx: Context) -> None:
    """Forget kernels Voilà no longer has (culled after idling, crashed). Callers that come
    while a sync is under way share it (50 refused requests cost Voilà one question)."""
    if ctx.syncing is None or ctx.syncing.done():
        ctx.syncing = asyncio.ensure_future(_sync_bindings(ctx))
    await asyncio.shield(ctx.syncing)


async def _sync_bindings(ctx: Context) -> None:
    listed_at = ctx.bindings.clock()
    kernels = await voila_kernels(ctx.cfg, ctx.voila_token)
    if kernels is not None:
        for kid in ctx.bindings.retain(set(kernels), listed_at):
            log.info("kernel %s is gone from Voilà", kid)


def restarted_voila(ctx: Context) -> None:
    """A restarted Voilà has none of the old kernels, and every pool at its own size."""
    ctx.bindings.clear()
    ctx.shared_pages.forget()
    ctx.pool_demand = PoolDemand(ctx.cfg.pool_demand_window, ctx.cfg.pool_max)


async def resize_pools(ctx: Context) -> None:
    """Give apps in demand larger pools, and the others their own size back (pool_demand.py)."""
    if ctx.pool_demand.quiet or (ctx.supervisor is not None and not ctx.supervisor.ready):
        return  # no registry reads every 2 s while nobody opens apps
    own = {app.app_id: int(app.meta["pool_size"]) if app.meta.get("pool_size") is not None else ctx.cfg.pool_size
           for app in ctx.registry.list_current()}
    for app_id, size in ctx.pool_demand.changes(own).items():
        status, _ = await voila_pool(ctx.cfg, ctx.voila_token, "PATCH", app_id, size)
        if status == 200:
            ctx.pool_demand.applied(app_id, size)
            log.info("pool of %s: %d kernel(s) (%d opens in the last %d s)", app_id, size,
                     ctx.pool_demand.recent(app_id), ctx.cfg.pool_demand_window)


async def reap_orphans(ctx: Context) -> None:
    """Shut down kernels whose page went away: never connected within ``apps.orphan_timeout``
    (a tab closed while loading sends no shutdown) or without a WebSocket for that long."""
    if not len(ctx.bindings) or (ctx.supervisor is not None and not ctx.supervisor.ready):
        return
    await sync_bindings(ctx)

    async def reap(kid: str) -> None:
        binding = ctx.bindings.get(kid)
        if binding is None or binding.sockets:
            return  # reconnected meanwhile
        if await shutdown_voila_kernel(ctx.cfg, ctx.voila_token, kid):
            if ctx.bindings.get(kid) is binding:
                ctx.bindings.unbind(kid)
            log.info("kernel %s of %s (app %s) shut down: its page has had no connection for %s s",
                     kid, binding.user, binding.app_id, ctx.cfg.orphan_timeout)

    # at once: a kernel takes a second or two to shut down
    await asyncio.gather(*(reap(kid) for kid in ctx.bindings.orphans(ctx.cfg.orphan_timeout)))


def _log_request(handler: web.RequestHandler) -> None:
    """Access log; health checks (every few seconds from monitoring) only at debug level."""
    status = handler.get_status()
    level = logging.DEBUG if isinstance(handler, HealthHandler) and status == 200 else \
        logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    access = logging.getLogger("tornado.access")
    if access.isEnabledFor(level):
        access.log(level, "%d %s %.1fms", status, handler._request_summary(),
                   1000.0 * handler.request.request_time())


def _cookie_secret(cfg: AppsConfig) -> bytes:
    # persistent, so people stay logged in across restarts of the service
    path = cfg.cookie_secret_file
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        secret = secrets.token_hex(32)
        write_private(path, secret)
        return bytes.fromhex(secret)


def _prepare_dirs(cfg: AppsConfig) -> None:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.run_dir, 0o700)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    secure_root(cfg.apps_dir)


def put_in_front(nice: int) -> None:
    """Every page and change passes the gateway; what it does is short. Its session weighs
    ``hub.front_nice`` on the CPU (processes.session_nice), so a busy machine serves it first.
    Voilà and the kernel fork server start sessions of their own and keep the ordinary
    weight (the kernels less). Only a session of its own: a gateway started in a terminal
    would raise the terminal's session with it."""
    if nice == 0:
        return
    if os.getsid(0) != os.getpid():
        log.info("not leading a session of its own (started in a terminal?): CPU priority left as it is")
        return
    problem = session_nice(nice)
    if problem:
        log.warning("CPU priority (hub.front_nice %d) not set: %s", nice, problem)


async def serve(cfg: AppsConfig) -> None:
    from tornado.httpclient import AsyncHTTPClient

    # Voilà and the hub API: without a thread-pool trip per connection (gateway.AddressResolver)
    AsyncHTTPClient.configure(None, max_clients=VOILA_MAX_CLIENTS, resolver=AddressResolver())
    api_token = os.environ.get("JUPYTERHUB_API_TOKEN") or os.environ.get("BIF_APPS_API_TOKEN", "")
    if not api_token:
        raise SystemExit("JUPYTERHUB_API_TOKEN / BIF_APPS_API_TOKEN fehlt: der Dienst kann die Hub-Anmeldung "
                         "nicht prüfen.")
    _prepare_dirs(cfg)
    # started by daemon.start (which has recorded it in the pid file and removes that on
    # stop), or in the foreground (`python -m bif_lib.apps.serving.service`): then it is ours
    foreground = not os.environ.get(CONFIG_ENV)
    if foreground:
        daemon.gateway_pidfile(cfg).write(os.getpid())
    put_in_front(cfg.front_nice)
    run_as = service_account(cfg)
    secure_root(cfg.apps_dir)  # after the account exists (it may own the folder)
    registry = Registry(cfg.apps_dir)
    voila_token = secrets.token_urlsafe(32)
    # for operators (and the robustness tests) who must ask Voilà past the gateway; no BIF
    # code reads it: publishers ask the gateway (api/pools)
    write_private(cfg.voila_token_file, voila_token)
    key = asset_key()
    hub_auth = make_hub_auth(cfg, api_token)
    ctx = Context(cfg=cfg, registry=registry, hub_auth=hub_auth, api_token=api_token, voila_token=voila_token,
                  pages=Pages(cfg.service_prefix, cfg.hub_prefix, cfg.platform_name),
                  rewriter=PageRewriter(cfg, key), asset_key=key, run_as=run_as)
    # a restarted Voilà has none of the old kernels
    ctx.supervisor = VoilaSupervisor(cfg, run_as, voila_token, registry, on_restart=partial(restarted_voila, ctx))
    ctx.supervisor.start()
    app = make_app(ctx, _cookie_secret(cfg))
    server = app.listen(cfg.port, cfg.ip, xheaders=True)
    await ctx.supervisor.probe()
    watcher = PeriodicCallback(ctx.supervisor.watch, 1000)
    watcher.start()
    reaper = PeriodicCallback(partial(reap_orphans, ctx), 1000 * max(1, cfg.orphan_check_interval))
    reaper.start()
    resizer = PeriodicCallback(partial(resize_pools, ctx), 1000 * POOL_RESIZE_INTERVAL)
    resizer.start()
    preparing = asyncio.ensure_future(prepare_shared_pages(ctx))
    log.info("bif-apps listening on %s:%s%s (Voilà on 127.0.0.1:%s, kernels as %s)",
             cfg.ip, cfg.port, cfg.service_prefix, cfg.voila_port, run_as.name)

    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    log.info("stopping bif-apps")
    preparing.cancel()
    watcher.stop()
    reaper.stop()
    server.stop()
    await loop.run_in_executor(None, ctx.supervisor.stop)
    ctx.executor.shutdown(wait=False, cancel_futures=True)
    cfg.voila_token_file.unlink(missing_ok=True)
    if foreground:
        daemon.gateway_pidfile(cfg).remove()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stdout)
    asyncio.run(serve(AppsConfig.current()))


if __name__ == "__main__":
    main()
