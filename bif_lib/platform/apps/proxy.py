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
* Voilà is called with its own token and without the person's cookies or tokens.

Voilà renders pages for the placeholder prefix ``app/__BIF_APP__/``; ``rewrite_page``
turns it into this app's prefix and points static files at the shared, versioned
``assets/<key>/`` prefix, which the browser may cache for good (the key changes when
Voilà or the widget extensions change).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tornado import httpclient, web, websocket

from .config import AppsConfig

log = logging.getLogger("bif.apps.proxy")

KERNEL_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KERNEL_ID_IN_PAGE = re.compile(rb'"kernelId":\s*"(' + KERNEL_ID.encode() + rb')"')
STATIC_PATH = re.compile(r"^voila/(static|templates|labextensions|api/themes)/[^\0]*$")
KERNEL_REST_PATH = re.compile(rf"^(?:api/kernels|voila/api/shutdown)/({KERNEL_ID})$")
HASHED_NAME = re.compile(r"[.-][0-9a-f]{16,}\.(js|css|woff2?|svg|png)$")

# response headers worth passing on to the browser
_PASS_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Content-Disposition")
MAX_WS_MESSAGE = 256 * 1024 * 1024


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
    created: float


class KernelBindings:
    """Which person opened which kernel through which app (kept in memory)."""

    def __init__(self, max_age: float = 7 * 24 * 3600):
        self._bindings: dict[str, KernelBinding] = {}
        self.max_age = max_age

    def bind(self, kernel_id: str, app_id: str, user: str) -> None:
        self._purge()
        self._bindings[kernel_id] = KernelBinding(app_id, user, time.time())

    def allowed(self, kernel_id: str, app_id: str, user: str) -> bool:
        b = self._bindings.get(kernel_id)
        return b is not None and b.app_id == app_id and b.user == user

    def _purge(self) -> None:
        limit = time.time() - self.max_age
        for kid in [k for k, b in self._bindings.items() if b.created < limit]:
            del self._bindings[kid]

    def __len__(self) -> int:
        return len(self._bindings)


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
                 "User-Agent"):
        if request_headers is not None and name in request_headers:
            headers[name] = request_headers[name]
    return headers


async def fetch_voila(cfg: AppsConfig, token: str, method: str, path: str, *, query: str = "",
                      body: bytes | None = None, request_headers=None,
                      timeout: float = 300) -> httpclient.HTTPResponse:
    url = f"{cfg.voila_url}/{path}" + (f"?{query}" if query else "")
    req = httpclient.HTTPRequest(
        url, method=method, headers=voila_headers(token, request_headers),
        body=body if method in ("POST", "PUT", "PATCH") else None,
        allow_nonstandard_methods=True, follow_redirects=False,
        request_timeout=timeout, connect_timeout=10, decompress_response=True,
    )
    try:
        return await httpclient.AsyncHTTPClient().fetch(req, raise_error=False)
    except (OSError, httpclient.HTTPClientError) as e:  # refused / reset: Voilà (re)starting
        log.info("Voilà not reachable for %s: %s", path, e)
        raise web.HTTPError(502) from None


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


class AssetHandler(web.RequestHandler):
    """Voilà's front-end files, shared by all apps; public (no data) and cacheable forever."""

    def initialize(self, cfg: AppsConfig, token: str, key: str):
        self.cfg, self.token, self.key = cfg, token, key

    async def get(self, key: str, path: str) -> None:
        if not STATIC_PATH.match(path):
            raise web.HTTPError(404)
        resp = await fetch_voila(self.cfg, self.token, "GET", path, query=strip_query_token(self.request.query),
                                 request_headers=self.request.headers)
        # the key in the URL changes with any change of these files: cache for good
        cache = "public, max-age=31536000, immutable" if key == self.key and resp.code == 200 else "no-cache"
        copy_response(self, resp, cache=cache)

    head = get


class KernelSocketProxy(websocket.WebSocketHandler):
    """Relays one kernel WebSocket between the browser and Voilà, message by message."""

    upstream: websocket.WebSocketClientConnection | None = None

    def initialize(self, cfg: AppsConfig, token: str):
        self.cfg, self.token = cfg, token
        self.upstream = None
        self._closed = False

    async def connect_upstream(self, kernel_id: str) -> None:
        query = strip_query_token(self.request.query)
        url = f"ws://127.0.0.1:{self.cfg.voila_port}/api/kernels/{kernel_id}/channels"
        req = httpclient.HTTPRequest(url + (f"?{query}" if query else ""),
                                     headers=voila_headers(self.token), connect_timeout=10)
        requested = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                     if p.strip()]
        self.upstream = await websocket.websocket_connect(
            req, subprotocols=requested or None, max_message_size=MAX_WS_MESSAGE, ping_interval=30)
        # kernel messages are small and come in bursts: relay each at once (Nagle's algorithm
        # would hold all but the first until the other side's delayed ACK, ~40 ms)
        self.upstream.protocol.set_nodelay(True)

    def select_subprotocol(self, subprotocols):
        chosen = self.upstream.selected_subprotocol if self.upstream else None
        return chosen if chosen in subprotocols else None

    def open(self, *args, **kwargs) -> None:
        from tornado.ioloop import IOLoop

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
            self.close()

    async def on_message(self, message) -> None:
        if self.upstream is None:
            return
        try:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))
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
