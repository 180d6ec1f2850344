"""Forwarding app traffic to Voilà: HTTP, the kernel WebSocket and page rewriting.

URL space below the service prefix (``/services/bif-apps/``):

``app/<app_id>/``                      the app page (Voilà ``/voila/render/<app_id>.ipynb``)
``app/<app_id>/api/kernels/<id>/...``  the page's kernel (WebSocket ``channels``, REST)
``app/<app_id>/voila/api/shutdown/<id>``  sent by the page when it is closed
``assets/<key>/voila/...``             Voilà's JavaScript/CSS, shared by all apps

Rules:

* every ``app/<app_id>/`` request needs a hub login and membership in the app's audience;
* a kernel may only be used by the person whose page request created it, through the
  app it belongs to (kernel ids are recorded when the page passes through here);
* nothing else of Voilà is reachable (no tree, no contents API, no other notebook);
* Voilà is called with its own token and without the person's cookies or tokens;
* kernel WebSockets must speak ``v1.kernel.websocket.jupyter.org`` (binary frames), within
  ``apps.ws_max_message_size`` and ``apps.ws_max_connections_per_kernel``; anything else is
  closed with a close code before it reaches Voilà (``KernelSocketProxy``);
* ``KernelBindings`` also count each person's kernels (``apps.max_kernels_per_user``) and
  each kernel's WebSockets, to find kernels whose page went away (``orphans``).

Voilà renders pages for the placeholder prefix ``app/__BIF_APP__/``; ``rewrite_page``
turns it into this app's prefix and points static files at the shared, versioned
``assets/<key>/`` prefix, which the browser may cache for good (the key changes when
Voilà or the widget extensions change).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import ipaddress
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from tornado import httpclient, web, websocket

from bif_lib.apps.config import AppsConfig

log = logging.getLogger("bif.apps.gateway")

KERNEL_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KERNEL_ID_IN_PAGE = re.compile(rb'"kernelId":\s*"(' + KERNEL_ID.encode() + rb')"')
STATIC_PATH = re.compile(r"^voila/(static|templates|labextensions|api/themes)/[^\0]*$")
KERNEL_REST_PATH = re.compile(rf"^(?:api/kernels|voila/api/shutdown)/({KERNEL_ID})$")

# response headers worth passing on to the browser
_PASS_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Content-Disposition")

# The only kernel WebSocket protocol relayed: both front ends (BIF's app front end and Voilà's,
# @jupyterlab/services 7) request it and always send binary frames with it.
KERNEL_WS_PROTOCOL = "v1.kernel.websocket.jupyter.org"
# close codes (RFC 6455) and reasons (≤ 123 bytes) for kernel WebSockets the gateway refuses
CLOSE_PROTOCOL = (1002, "Nur das Kernel-Protokoll v1.kernel.websocket.jupyter.org wird unterstützt.")
CLOSE_TEXT = (1003, "Kernel-Nachrichten müssen binär sein (v1.kernel.websocket.jupyter.org).")
CLOSE_BUSY = (1008, "Zu viele Verbindungen zu diesem Kernel.")
CLOSE_TOO_BIG = 1009
# the page's kernel was shut down or is gone: a normal closure, so that the page does not try
# to reconnect (@jupyterlab/services) and reloads itself with a fresh kernel
CLOSE_KERNEL_ENDED = (1000, "Der Rechenkern dieser Seite wurde beendet.")


def asset_key() -> str:
    """Changes whenever the front-end files Voilà serves may change."""
    import voila

    h = hashlib.sha256(voila.__version__.encode())
    try:
        from jupyter_core.paths import jupyter_path

        for root in jupyter_path("labextensions"):
            for pkg in sorted(Path(root).glob("**/package.json")):
                if pkg.parent.parent.name != "node_modules" and "static" not in pkg.parts:
                    h.update(pkg.read_bytes())
    except OSError:
        pass
    template = Path(__file__).resolve().parent / "share" / "voila" / "templates"
    for path in sorted(template.rglob("*")):
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


@dataclass
class KernelBinding:
    app_id: str
    user: str
    created: float  # time.time(): bindings older than max_age are forgotten
    bound: float = 0.0  # monotonic clock: when the page was delivered
    seen: float = 0.0  # monotonic clock: when bound, or when its last WebSocket closed
    sockets: int = 0  # open kernel WebSockets through the gateway
    # set once its page has connected (or the binding went): see wait_connected
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    # set when the binding ends (the kernel was shut down or is gone): its WebSockets close,
    # as Voilà keeps a page's connection open, and silent, after its kernel was shut down
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class KernelBindings:
    """Which person opened which kernel through which app, and whether its page is still there.

    Kept in memory by the gateway. Besides access control (``allowed``) it counts the kernels
    a person holds (``held``, for ``apps.max_kernels_per_user``; page requests still being
    rendered are counted through ``reserve``/``release``) and the kernel WebSockets of each
    kernel (``opened``/``closed``), so that kernels whose page went away can be found
    (``orphans``).
    """

    def __init__(self, max_age: float = 7 * 24 * 3600, clock=time.monotonic):
        self._bindings: dict[str, KernelBinding] = {}
        self._pending: dict[str, int] = {}
        self.max_age = max_age
        self.clock = clock

    def bind(self, kernel_id: str, app_id: str, user: str) -> None:
        self._purge()
        now = self.clock()
        self._bindings[kernel_id] = KernelBinding(app_id, user, time.time(), now, now)

    def allowed(self, kernel_id: str, app_id: str, user: str) -> bool:
        b = self._bindings.get(kernel_id)
        return b is not None and b.app_id == app_id and b.user == user

    def get(self, kernel_id: str) -> KernelBinding | None:
        return self._bindings.get(kernel_id)

    def unbind(self, kernel_id: str) -> KernelBinding | None:
        b = self._bindings.pop(kernel_id, None)
        if b is not None:
            b.connected.set()  # nothing to wait for any more
            b.ended.set()
        return b

    def clear(self) -> None:
        """Forget every kernel (Voilà was restarted: they are all gone)."""
        for b in self._bindings.values():
            b.connected.set()
            b.ended.set()
        self._bindings.clear()

    async def wait_connected(self, kernel_id: str, timeout: float) -> None:
        """Until the kernel's page has opened its first WebSocket, the kernel is gone, or
        ``timeout`` seconds passed."""
        b = self._bindings.get(kernel_id)
        if b is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(b.connected.wait(), timeout)

    # --- per-person limit ----------------------------------------------------------------
    def held(self, user: str) -> int:
        """Kernels ``user`` holds, including pages being rendered for them right now."""
        return sum(1 for b in self._bindings.values() if b.user == user) + self._pending.get(user, 0)

    def reserve(self, user: str, limit: int) -> bool:
        """Count a page request of ``user`` against ``limit`` (0: no limit); False if full."""
        if limit > 0 and self.held(user) >= limit:
            return False
        self._pending[user] = self._pending.get(user, 0) + 1
        return True

    def release(self, user: str) -> None:
        left = self._pending.get(user, 0) - 1
        if left > 0:
            self._pending[user] = left
        else:
            self._pending.pop(user, None)

    # --- connections and orphans -----------------------------------------------------------
    def sockets(self, kernel_id: str) -> int:
        b = self._bindings.get(kernel_id)
        return b.sockets if b else 0

    def opened(self, kernel_id: str) -> bool:
        b = self._bindings.get(kernel_id)
        if b is None:
            return False
        b.sockets += 1
        b.connected.set()
        return True

    def closed(self, kernel_id: str) -> None:
        b = self._bindings.get(kernel_id)
        if b is not None:
            b.sockets = max(0, b.sockets - 1)
            if b.sockets == 0:
                b.seen = self.clock()

    def orphans(self, timeout: float) -> list[str]:
        """Kernels without a WebSocket for ``timeout`` seconds: since their page was delivered
        (it never connected, e.g. the tab was closed while loading) or since the last
        WebSocket closed (a crashed tab, a lost network; a page reconnects well within that)."""
        now = self.clock()
        return [k for k, b in self._bindings.items() if b.sockets == 0 and now - b.seen >= timeout]

    def retain(self, alive: set[str], listed_at: float) -> list[str]:
        """Forget kernels that Voilà no longer has (culled, crashed). Only bindings made before
        Voilà's list was asked for (``listed_at``, monotonic) can be judged by it."""
        gone = [k for k, b in self._bindings.items() if k not in alive and b.bound < listed_at]
        for k in gone:
            self.unbind(k)
        return gone

    def _purge(self) -> None:
        limit = time.time() - self.max_age
        for kid in [k for k, b in self._bindings.items() if b.created < limit]:
            self.unbind(kid)

    def __len__(self) -> int:
        return len(self._bindings)


class RefusalDelay:
    """Kernel WebSockets a person keeps opening although they are refused (wrong protocol, too
    many connections) cost the proxy and the gateway a handshake each, as fast as the client
    can ask: one such client made 18 a second (bench_many_planners --hostile). The first
    ``free`` refusals within ``window`` seconds are answered at once, every further one only
    after ``delay`` seconds, so a client that waits for its answers slows down to one try per
    ``delay``. A browser never gets here: it asks for the protocol and opens one connection."""

    FORGET_ABOVE = 1000  # people remembered before those who stopped are forgotten

    def __init__(self, free: int = 3, window: float = 60.0, delay: float = 2.0, clock=time.monotonic):
        self.free, self.window, self.delay, self.clock = free, window, delay, clock
        self._recent: dict[str, list[float]] = {}
        self._forget_above = self.FORGET_ABOVE

    def delay_for(self, person: str) -> float:
        """Count one more refusal of ``person``; seconds to wait before answering it."""
        now = self.clock()
        if len(self._recent) > self._forget_above:  # forget people who stopped (bounded memory)
            self._recent = {p: t for p, t in self._recent.items() if t[-1] > now - self.window}
            # many people still refused: the next sweep only after as many more again, so that
            # each refusal costs O(1) on average
            self._forget_above = max(self.FORGET_ABOVE, 2 * len(self._recent))
        recent = [t for t in self._recent.get(person, []) if t > now - self.window][-self.free:] + [now]
        self._recent[person] = recent
        return self.delay if len(recent) > self.free else 0.0


class PageRewriter:
    def __init__(self, cfg: AppsConfig, key: str):
        self.placeholder = cfg.voila_base_url.encode()
        self.assets = f"{cfg.service_prefix}assets/{key}/".encode()
        self.app_prefix = f"{cfg.service_prefix}app/"

    def rewrite(self, body: bytes, app_id: str) -> bytes:
        for part in (b"voila/static", b"voila/labextensions", b"voila/templates"):
            body = body.replace(self.placeholder + part, self.assets + part)
        return body.replace(self.placeholder, f"{self.app_prefix}{app_id}/".encode())


def voila_headers(token: str, request_headers=None) -> dict:
    """Headers for Voilà: its token, and only harmless headers of the browser's request."""
    headers = {"Authorization": f"token {token}"}
    for name in ("Accept", "Accept-Language", "If-None-Match", "If-Modified-Since", "Content-Type",
                 "User-Agent", "Accept-Encoding"):
        if request_headers is not None and name in request_headers:
            headers[name] = request_headers[name]
    return headers


class AddressResolver:
    """Tornado's resolver for the platform's own addresses (Voilà and the hub on 127.0.0.1): an
    IP address as it is, without the trip through the thread pool that tornado's default
    resolver takes for every connection (under load, each such trip waits for the pool's
    thread and then for the event loop again); names still go that way. The gateway opens a
    connection per request to Voilà (tornado's client keeps none alive)."""

    def __init__(self):
        from tornado.netutil import DefaultLoopResolver

        self.names = DefaultLoopResolver()

    async def resolve(self, host: str, port: int, family=socket.AF_UNSPEC) -> list:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return await self.names.resolve(host, port, family)
        return [(socket.AF_INET6 if address.version == 6 else socket.AF_INET, (host, port))]

    def close(self) -> None:
        self.names.close()


async def fetch_voila(cfg: AppsConfig, token: str, method: str, path: str, *, query: str = "",
                      body: bytes | None = None, request_headers=None,
                      timeout: float = 300, decompress: bool = True) -> httpclient.HTTPResponse:
    url = f"{cfg.voila_url}/{path}" + (f"?{query}" if query else "")
    req = httpclient.HTTPRequest(
        url, method=method, headers=voila_headers(token, request_headers),
        body=body if method in ("POST", "PUT", "PATCH") else None,
        allow_nonstandard_methods=True, follow_redirects=False,
        request_timeout=timeout, connect_timeout=10, decompress_response=decompress,
    )
    try:
        return await httpclient.AsyncHTTPClient().fetch(req, raise_error=False)
    except (OSError, httpclient.HTTPClientError) as e:  # refused / reset: Voilà (re)starting
        log.info("Voilà not reachable for %s: %s", path, e)
        raise web.HTTPError(502) from None


async def _control(cfg: AppsConfig, token: str, method: str, path: str, *, body: dict | None = None,
                   timeout: float = 30) -> httpclient.HTTPResponse | None:
    """One of the gateway's own requests to Voilà (not on a person's behalf); None if Voilà
    does not answer."""
    req = httpclient.HTTPRequest(f"{cfg.voila_url}/{path}", method=method, headers=voila_headers(token),
                                 body=None if body is None else json.dumps(body), request_timeout=timeout,
                                 connect_timeout=min(timeout, 5))
    try:
        return await _control_client().fetch(req, raise_error=False)
    except (OSError, httpclient.HTTPClientError):
        return None


async def voila_kernels(cfg: AppsConfig, token: str, timeout: float = 10) -> dict[str, dict] | None:
    """Voilà's kernels (``voila_server.KernelListHandler``) by id; None if Voilà does not answer."""
    resp = await _control(cfg, token, "GET", "bif/kernels", timeout=timeout)
    if resp is None or resp.code != 200:
        return None
    return {k["id"]: k for k in json.loads(resp.body)["kernels"]}


async def shutdown_voila_kernel(cfg: AppsConfig, token: str, kernel_id: str, timeout: float = 30) -> bool:
    """Shut one kernel down in Voilà; True if it is gone (also if it was gone already)."""
    resp = await _control(cfg, token, "DELETE", f"api/kernels/{kernel_id}", timeout=timeout)
    return resp is not None and resp.code in (200, 204, 404)


async def voila_shared(cfg: AppsConfig, token: str, method: str, app_id: str, *, body: dict | None = None,
                       timeout: float = 120) -> httpclient.HTTPResponse | None:
    """Make a kernel an app's template (POST ``{"kernel_id"}``) or drop the template (DELETE)
    (``voila_server.SharedHandler``); None if Voilà does not answer."""
    return await _control(cfg, token, method, f"bif/shared/{app_id}", body=body, timeout=timeout)


async def voila_shared_status(cfg: AppsConfig, token: str, timeout: float = 10) -> dict | None:
    """Voilà's shared apps (``GET bif/shared``): per app its template, sessions and answers;
    None if Voilà does not answer."""
    resp = await _control(cfg, token, "GET", "bif/shared", timeout=timeout)
    if resp is None or resp.code != 200:
        return None
    return json.loads(resp.body).get("apps")


async def voila_pool(cfg: AppsConfig, token: str, method: str, app_id: str,
                     pool_size: int | None = None) -> tuple[int, dict]:
    """Inspect (GET), rebuild (POST, with ``pool_size`` kernels: the app's own or
    ``apps.pool_size``), resize (PATCH) or drop (DELETE) an app's pool of preheated kernels
    (``voila_server.PoolHandler``). Returns Voilà's status and answer; 502 if it does not answer."""
    body = {"pool_size": cfg.pool_size if pool_size is None else int(pool_size)} if method in ("POST", "PATCH") \
        else None
    resp = await _control(cfg, token, method, f"bif/pools/{app_id}", body=body)
    if resp is None or resp.code == 599:
        log.info("Voilà not reachable for pool %s of %s", method, app_id)
        return 502, {}
    try:
        answer = json.loads(resp.body or b"{}")
    except ValueError:
        answer = {}
    if resp.code >= 400:
        log.warning("Voilà refused pool %s of %s: HTTP %s", method, app_id, resp.code)
    return resp.code, answer


_CONTROL_CLIENT: httpclient.AsyncHTTPClient | None = None


def _control_client() -> httpclient.AsyncHTTPClient:
    """The gateway's own requests to Voilà (kernel list, shutdowns, pools) do not queue behind
    people's page requests in the shared client."""
    global _CONTROL_CLIENT
    if _CONTROL_CLIENT is None:
        _CONTROL_CLIENT = httpclient.AsyncHTTPClient(force_instance=True, max_clients=4,
                                                      resolver=AddressResolver())
    return _CONTROL_CLIENT


def copy_response(handler: web.RequestHandler, resp: httpclient.HTTPResponse, body: bytes | None = None,
                  cache: str | None = None) -> None:
    if resp.code == 599:
        raise web.HTTPError(502, "Voilà nicht erreichbar")
    handler.set_status(resp.code)
    for name in _PASS_HEADERS:
        if name in resp.headers:
            handler.set_header(name, resp.headers[name])
    if cache:
        handler.set_header("Cache-Control", cache)
    elif "Cache-Control" in resp.headers:
        handler.set_header("Cache-Control", resp.headers["Cache-Control"])
    if resp.code in (204, 304):
        handler.finish()
        return
    handler.finish(resp.body if body is None else body)


def strip_query_token(query: str) -> str:
    """Drop ``token=...`` from a query string (it must never reach Voilà)."""
    return "&".join(p for p in query.split("&") if p and not p.startswith("token="))


@dataclass
class CachedAsset:
    content_type: str
    body: bytes
    gzipped: bytes | None


class AssetCache:
    """The front-end files as sent, compressed once. Every planner's browser fetches them on its
    first open (2.8 MB, most of it the app front end's script): relaying and compressing them
    for each of 30 planners arriving at once cost more CPU than everything else of an open."""

    MAX_BYTES = 64 * 2**20

    def __init__(self, cfg: AppsConfig, token: str) -> None:
        self.cfg, self.token = cfg, token
        self._assets: dict[str, CachedAsset] = {}
        self._loading: dict[str, asyncio.Future] = {}
        self._bytes = 0

    async def load(self, path: str) -> CachedAsset | None:
        """The file at ``path`` (below Voilà's static URLs); None if Voilà has no such file. The
        first requests after a start arrive together: one of them fetches and compresses it."""
        if path in self._assets:
            return self._assets[path]
        if path not in self._loading:
            self._loading[path] = asyncio.ensure_future(self._fetch(path))
        return await asyncio.shield(self._loading[path])

    async def _fetch(self, path: str) -> CachedAsset | None:
        try:
            return await self._fetch_once(path)
        finally:
            del self._loading[path]  # cached now, or the next request tries again

    async def _fetch_once(self, path: str) -> CachedAsset | None:
        resp = await fetch_voila(self.cfg, self.token, "GET", path)
        if resp.code != 200:
            return None
        content_type = resp.headers.get("Content-Type", "application/octet-stream")
        body = resp.body or b""
        # compressing 2 MB takes a tenth of a second: not on the event loop (zlib frees the GIL)
        gzipped = await asyncio.get_running_loop().run_in_executor(None, gzip_if_worth, content_type, body)
        asset = CachedAsset(content_type, body, gzipped)
        if self._bytes + len(body) <= self.MAX_BYTES:
            self._assets[path] = asset
            self._bytes += len(body) + len(gzipped or b"")
        return asset

    async def warm(self, page: bytes, prefix: bytes) -> None:
        """Load every file of ``prefix`` (the current assets URL) that ``page`` names."""
        paths = {m.decode() for m in re.findall(re.escape(prefix) + rb"(voila/[^\"'?#\s]+)", page)}
        await asyncio.gather(*(self.load(p) for p in paths if STATIC_PATH.match(p)), return_exceptions=True)


_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


def gzip_if_worth(content_type: str, body: bytes) -> bytes | None:
    """``body`` compressed (as tornado's ``compress_response`` would), or None for types that
    do not shrink (images, fonts) and tiny bodies."""
    if len(body) < 1024 or not content_type.startswith(_COMPRESSIBLE):
        return None
    return gzip.compress(body, compresslevel=6, mtime=0)


def send_compressed(handler: web.RequestHandler, content_type: str, body: bytes, gzipped: bytes | None) -> None:
    """Finish with ``gzipped`` when the client takes gzip (tornado then leaves it alone)."""
    handler.set_header("Content-Type", content_type)
    handler.set_header("Vary", "Accept-Encoding")
    if gzipped is not None and "gzip" in handler.request.headers.get("Accept-Encoding", ""):
        handler.set_header("Content-Encoding", "gzip")
        handler.finish(gzipped)
    else:
        handler.finish(body)


class AssetHandler(web.RequestHandler):
    """Voilà's front-end files, shared by all apps; public (no data) and cacheable forever."""

    def initialize(self, cfg: AppsConfig, token: str, key: str, cache: AssetCache | None = None):
        self.cfg, self.token, self.key, self.cache = cfg, token, key, cache

    async def get(self, key: str, path: str) -> None:
        if not STATIC_PATH.match(path):
            raise web.HTTPError(404)
        cached = await self.cache.load(path) if key == self.key and self.cache is not None else None
        if cached is None:
            resp = await fetch_voila(self.cfg, self.token, "GET", path, query=strip_query_token(self.request.query),
                                     request_headers=self.request.headers)
            copy_response(self, resp, cache="no-cache")
            return
        # the key in the URL changes with any change of these files: cache for good
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        send_compressed(self, cached.content_type, cached.body, cached.gzipped)

    head = get


class KernelSocketProxy(websocket.WebSocketHandler):
    """Relays one kernel WebSocket between the browser and Voilà, message by message.

    Only the kernel protocol both front ends speak (``v1.kernel.websocket.jupyter.org``,
    binary frames) is relayed. Anything else is closed with a close code and a German
    reason before it reaches Voilà: Voilà 0.5.13's ``write_message`` misreads the first
    binary message of a connection in the legacy protocol (no subprotocol) and loops
    forever, which freezes every app (see docs/apps.md, "Robustness and limits").
    """

    upstream: websocket.WebSocketClientConnection | None = None

    def initialize(self, cfg: AppsConfig, token: str):
        self.cfg, self.token = cfg, token
        self.upstream = None
        self._closed = False
        self._refusal: tuple[int, str] | None = None

    # --- what the browser asked for ----------------------------------------------------------
    def requested_protocols(self) -> list[str]:
        return [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]

    def speaks_kernel_protocol(self) -> bool:
        return KERNEL_WS_PROTOCOL in self.requested_protocols()

    def refuse(self, code: int, reason: str) -> None:
        """Complete the handshake without Voilà, then close at once with ``code``/``reason``
        (a WebSocket client sees these; a refused handshake would only show 1006)."""
        self._refusal = (code, reason)

    @property
    def max_message_size(self) -> int:
        return self.cfg.ws_max_message_size

    @property
    def ping_interval(self) -> float | None:
        return self.cfg.ws_ping_interval or None

    async def connect_upstream(self, kernel_id: str) -> None:
        query = strip_query_token(self.request.query)
        url = f"ws://127.0.0.1:{self.cfg.voila_port}/api/kernels/{kernel_id}/channels"
        req = httpclient.HTTPRequest(url + (f"?{query}" if query else ""),
                                     headers=voila_headers(self.token), connect_timeout=10)
        self.upstream = await websocket.websocket_connect(
            req, subprotocols=[KERNEL_WS_PROTOCOL], max_message_size=self.cfg.ws_max_message_size,
            ping_interval=self.cfg.ws_ping_interval or None)
        chosen = self.upstream.selected_subprotocol
        if chosen != KERNEL_WS_PROTOCOL:
            self.upstream.close()
            self.upstream = None
            raise RuntimeError(f"Voilà chose kernel protocol {chosen!r}")
        # kernel messages are small and come in bursts: relay each at once (Nagle's algorithm
        # would hold all but the first until the other side's delayed ACK, ~40 ms)
        self.upstream.protocol.set_nodelay(True)

    def select_subprotocol(self, subprotocols):
        # also when refusing: a browser that asked for the protocol and does not get it
        # drops the connection without reading the close frame with the reason
        return KERNEL_WS_PROTOCOL if KERNEL_WS_PROTOCOL in subprotocols else None

    def open(self, *args, **kwargs) -> None:
        from tornado.ioloop import IOLoop

        if self._refusal is not None:
            log.warning("kernel websocket refused (%s %s): %s", self._refusal[0], self._refusal[1],
                        self.request.path)
            self.close(*self._refusal)
            return
        self.set_nodelay(True)
        IOLoop.current().spawn_callback(self._pump)

    async def _pump(self) -> None:
        while True:
            msg = await self.upstream.read_message()
            if msg is None:
                break
            try:
                await self.write_message(msg, binary=isinstance(msg, bytes))
            except websocket.WebSocketClosedError:
                break
        if not self._closed:
            code = self.upstream.close_code
            self.close(CLOSE_TOO_BIG if code == CLOSE_TOO_BIG else None)

    async def on_message(self, message) -> None:
        if self.upstream is None:
            return
        if isinstance(message, str):
            # the kernel protocol sends binary frames only; text would be read by Voilà as
            # the legacy protocol
            self.close(*CLOSE_TEXT)
            return
        try:
            await self.upstream.write_message(message, binary=True)
        except websocket.WebSocketClosedError:
            self.close()  # Voilà closed the kernel connection (kernel shut down or culled)

    def on_close(self) -> None:
        self._closed = True
        if self.upstream is not None:
            self.upstream.close()

    def check_origin(self, origin: str) -> bool:
        # same-origin only (tornado's default): a foreign page must not drive a kernel
        # with the visitor's cookie
        return super().check_origin(origin)
