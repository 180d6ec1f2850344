"""The standalone Voilà that renders published apps, with preheated kernel pools.

Started by the gateway (``supervisor.py``) as ``python .../voila_server.py``
under the app service account, listening on 127.0.0.1 only. Its configuration arrives as
JSON in ``$BIF_VOILA_CONFIG``; its access token through an inherited pipe
(``$BIF_VOILA_TOKEN_FD``), never in an environment variable: app kernels run under the same
account and could read ``/proc/<voila>/environ``. The process also makes itself
non-dumpable (``PR_SET_DUMPABLE``), so kernels can neither read its environment nor its
memory (``/proc/<pid>/mem``, ptrace), and kernels start with a filtered environment
(``kernel_env``) and the read-only IPython directory prepared by the supervisor.

Why a subclass of Voilà instead of the ``voila`` command:

* Voilà builds kernel pools only for the notebooks it finds at start-up, and a pooled
  kernel has already executed the notebook as it was then. ``PoolHandler``
  (``/bif/pools/<app_id>``) replaces an app's pool after publish/rollback and drops it
  after a withdrawal, so people get the new version without restarting Voilà (which would
  end everybody's sessions). Only the gateway calls it, also on behalf of ``bif publish``
  (the service's ``api/pools/<app_id>``, see ``pools.py``).
* Pages are rendered for a placeholder base URL (``/services/bif-apps/app/__BIF_APP__/``)
  that the gateway swaps for the app's own prefix; the routes themselves are served at
  ``/`` (``Voila.server_url``).

The page-config hook (``frontend.py``) reads each app's ``meta.json`` through the app
registry (``registry.py``). Both modules are loaded by their paths when this file is started
as a script, so that this process does not import the ``bif_lib`` package.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import json
import logging
import os
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    # Started by path (not -m, which would import all of bif_lib first): keep this folder
    # off sys.path so its module names cannot shadow top-level ones.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from jupyter_server.base.handlers import APIHandler  # noqa: E402
from jupyter_server.services.kernels.kernelmanager import (  # noqa: E402
    AsyncMappingKernelManager,
    ServerKernelManager,
)
from tornado import web  # noqa: E402
from tornado.ioloop import PeriodicCallback  # noqa: E402
from traitlets import default  # noqa: E402
from traitlets.config import Config  # noqa: E402
from voila.app import Voila  # noqa: E402
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler  # noqa: E402


def _load_by_path(name: str, path: Path):
    """A module of bif_lib.apps loaded from its file, without importing the bif_lib package
    (which would cost this process about 90 MB: pandas, pyarrow, ...)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


if __package__:
    from bif_lib.apps.registry import Registry, served_name
    from bif_lib.apps.serving import kernel_forks, shared_views, template_cache
    from bif_lib.apps.serving.frontend import page_config_hook
else:
    _registry = _load_by_path("bif_apps_registry", HERE.parent / "registry.py")
    Registry, served_name = _registry.Registry, _registry.served_name
    page_config_hook = _load_by_path("bif_apps_frontend", HERE / "frontend.py").page_config_hook
    kernel_forks = _load_by_path("bif_apps_kernel_forks", HERE / "kernel_forks.py")
    shared_views = _load_by_path("bif_apps_shared_views", HERE / "shared_views.py")
    template_cache = _load_by_path("bif_apps_template_cache", HERE / "template_cache.py")

TEMPLATE_ROOT = HERE / "share"
# seconds between starting two kernels of a pool (Voilà's default 0.5: a pool refills without
# starving the kernels in use of CPU)
POOL_FILL_DELAY = 0.5
IOPUB_TIMEOUT = 60  # seconds (see build_config)
TEMPLATE = "bif"
KERNEL_WS_PROTOCOL = "v1.kernel.websocket.jupyter.org"
log = logging.getLogger("bif.apps.voila")

# environment variables never passed to an app kernel (besides any holding Voilà's token)
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|API_?KEY|COOKIE", re.IGNORECASE)
_DROPPED_PREFIXES = ("JUPYTERHUB_", "BIF_VOILA_", "CONFIGPROXY_", "JPY_API_TOKEN")


# named like a secret, but for every BIF account to have: the catalog's readers' password (the
# role may only read the catalog, which holds no confidential values; platform.settings.catalog_env
# gives the apps service no other)
_KERNEL_READABLE = frozenset({"BIF_CATALOG_PASSWORD"})


def kernel_env(env: dict, secrets: tuple[str, ...] = ()) -> dict:
    """The environment of an app kernel: ``env`` without hub variables, without anything
    named like a secret (but the catalog's readers' password) and without any value containing
    one of ``secrets``."""
    return {k: v for k, v in env.items()
            if not k.startswith(_DROPPED_PREFIXES) and (k in _KERNEL_READABLE or not _SECRET_NAME.search(k))
            and not any(secret and secret in str(v) for secret in secrets)}


def read_token_fd(fd: int) -> str:
    """Read Voilà's token from the pipe the supervisor passed (and close it)."""
    with os.fdopen(fd, "r", encoding="ascii", closefd=True) as pipe:
        token = pipe.read().strip()
    if not token:
        raise SystemExit("bif-voila: kein Token erhalten")
    return token


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: processes of the same account (the app kernels) can no
    longer read this process's ``/proc/<pid>/environ`` or memory or ptrace it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        return False


class ForkingKernelManager(ServerKernelManager):
    """One app kernel's manager: started by the kernel fork server when there is one
    (``kernel_forks.py``; ``apps.kernel_start: fork``), otherwise as usual."""

    provisioner_class = None  # kernel_forks' provisioner, set by main() when forking is on

    async def _async_pre_start_kernel(self, **kw):
        cls = type(self).provisioner_class
        if self.provisioner is None and cls is not None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = cls(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


class BifKernelManager(AsyncMappingKernelManager):
    """Starts app kernels with a filtered environment (``kernel_env``) and with the read-only
    IPython directory given on the command line as well: IPython falls back to a fresh
    temporary directory when ``$IPYTHONDIR`` is not writable, but it takes ``--ipython-dir``
    as it is, so startup files and configuration come from the root-owned directory only."""

    secrets: tuple[str, ...] = ()

    @default("kernel_manager_class")
    def _default_kernel_manager_class(self):
        return f"{__name__}.ForkingKernelManager"

    shared = None  # SharedViews, set by BifVoila: its template kernels are never culled

    async def cull_kernel_if_idle(self, kernel_id: str):
        if self.shared is not None and kernel_id in self.shared.kernel_ids():
            return None
        return await super().cull_kernel_if_idle(kernel_id)

    def handed_out(self, kernel_id: str) -> None:
        """A preheated kernel was given to a page: it counts as active from now on. The culler
        measures idleness from a kernel's last message, and Voilà's pool keeps it from culling
        only the kernels still in the pool: one that waited there longer than
        ``cull_idle_timeout`` (a quiet weekend) was cullable from the moment a page took it
        until the page connected, and the page had to reload."""
        if kernel_id in self:
            self.get_kernel(kernel_id).last_activity = datetime.now(UTC)  # as jupyter_server notes activity

    async def start_kernel(self, *args, **kwargs):
        env = kernel_env(dict(kwargs.get("env") or os.environ), self.secrets)
        kwargs["env"] = env
        if env.get("IPYTHONDIR"):
            kwargs["extra_arguments"] = [*(kwargs.get("extra_arguments") or []),
                                         f"--ipython-dir={env['IPYTHONDIR']}"]
        return await super().start_kernel(*args, **kwargs)


class PoolHandler(APIHandler):
    """Inspect (GET), rebuild (POST) or drop (DELETE) one app's preheated kernel pool."""

    @property
    def _km(self):
        return self.settings["kernel_manager"]

    @web.authenticated
    def get(self, app_id: str) -> None:
        nb = served_name(app_id)
        pool = getattr(self._km, "_pools", {}).get(nb, [])
        started = [t.result() for t in pool if _succeeded(t)]
        configured = self._km.kernel_pools_config.get(nb, self._km.kernel_pools_config.get("default", {}))
        # ready: the kernel runs; rendered: it has also executed the notebook, so the next
        # request gets its page at once
        self.finish({"app_id": app_id, "pool_size": configured.get("pool_size"), "queued": len(pool),
                     "ready": len(started), "rendered": sum(1 for c in started if _succeeded(c["task"]))})

    @web.authenticated
    async def post(self, app_id: str) -> None:
        nb = served_name(app_id)
        if not (Path(self._km.root_dir) / nb).exists():
            raise web.HTTPError(404, f"no served notebook {nb}")
        body = json.loads(self.request.body or b"{}")
        km = self._km
        if "pool_size" in body and body["pool_size"] is not None:
            km.kernel_pools_config[nb] = {"pool_size": max(0, int(body["pool_size"]))}
        # Swap in a fresh pool first (synchronously, so no request can take an old kernel
        # after this point), then shut the old kernels down in the background.
        old = km._pools.pop(nb, [])
        km.fill_if_needed(delay=0, notebook_name=nb)
        asyncio.ensure_future(_discard(km, old))
        await self.settings["bif_shared"].drop(app_id)  # its snapshot shows the old version
        log.info("pool of %s rebuilt (%d old kernel(s) discarded)", nb, len(old))
        self.finish({"app_id": app_id, "discarded": len(old), "queued": len(km._pools.get(nb, []))})

    @web.authenticated
    async def patch(self, app_id: str) -> None:
        """Resize the pool to ``pool_size`` without replacing its kernels (pool_demand.py):
        more are started, or the surplus (the youngest) is shut down."""
        nb = served_name(app_id)
        if not (Path(self._km.root_dir) / nb).exists():
            raise web.HTTPError(404, f"no served notebook {nb}")
        size = max(0, int(json.loads(self.request.body or b"{}")["pool_size"]))
        km = self._km
        km.kernel_pools_config[nb] = {"pool_size": size}
        pool = km._pools.setdefault(nb, [])
        surplus = [pool.pop() for _ in range(max(0, len(pool) - size))]
        if len(pool) < size:
            km.fill_if_needed(delay=0, notebook_name=nb)
        if surplus:
            asyncio.ensure_future(_discard(km, surplus))
        log.info("pool of %s resized to %d (%d discarded)", nb, size, len(surplus))
        self.finish({"app_id": app_id, "pool_size": size, "discarded": len(surplus),
                     "queued": len(km._pools.get(nb, []))})

    @web.authenticated
    async def delete(self, app_id: str) -> None:
        nb = served_name(app_id)
        km = self._km
        old = km._pools.pop(nb, [])
        km.kernel_pools_config.pop(nb, None)
        await _discard(km, old)
        await self.settings["bif_shared"].drop(app_id)
        self.finish({"app_id": app_id, "discarded": len(old)})


def _succeeded(task) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


async def _discard(km, tasks) -> None:
    for task in tasks:
        try:
            content = await task
        except Exception:  # noqa: BLE001 - a kernel that failed to start needs no shutdown
            continue
        content["task"].cancel()
        try:
            await km.shutdown_kernel(content["kernel_id"], now=True)
        except Exception as e:  # noqa: BLE001
            log.warning("could not shut down pooled kernel %s: %s", content["kernel_id"], e)


class KernelListHandler(APIHandler):
    """``GET /bif/kernels``: every kernel with its connections and whether it waits in a pool
    (the gateway forgets kernels that are gone, e.g. culled)."""

    @web.authenticated
    def get(self) -> None:
        km = self.settings["kernel_manager"]
        pooled = {t.result()["kernel_id"] for pool in getattr(km, "_pools", {}).values() for t in pool
                  if _succeeded(t)}
        shared = self.settings["bif_shared"].kernel_ids()
        connections = getattr(km, "_kernel_connections", {})  # jupyter_server's count per kernel
        kernels = []
        for kid in km.list_kernel_ids():
            kernel = km.get_kernel(kid)
            kernels.append({"id": kid, "connections": connections.get(kid, 0), "pooled": kid in pooled,
                            "shared": kid in shared,
                            "execution_state": getattr(kernel, "execution_state", None)})
        self.finish({"kernels": kernels})


class SharedHandler(APIHandler):
    """Apps served from one executed copy (``shared_views.py``); only the gateway calls this.

    ``GET /bif/shared``: the shared apps, their sessions and answers.
    ``POST /bif/shared/<app_id>`` ``{"kernel_id"}``: that kernel (it has just rendered the
    app's page) becomes the app's template; answers the snapshot of its widgets.
    ``DELETE /bif/shared/<app_id>``: the app's template goes.
    ``POST /bif/shared/<app_id>/interact`` ``{"snapshot", "history", "step"}``: a viewer's change.
    """

    @property
    def _shared(self):
        return self.settings["bif_shared"]

    @web.authenticated
    def get(self, app_id: str | None = None, action: str | None = None) -> None:
        self.finish(self._shared.status())

    @web.authenticated
    async def post(self, app_id: str | None = None, action: str | None = None) -> None:
        if app_id is None:
            raise web.HTTPError(405)
        body = json.loads(self.request.body or b"{}")
        if action == "interact":
            await self._interact(app_id, body)
            return
        try:
            app = await self._shared.adopt(app_id, str(body["kernel_id"]))
        except Exception as e:  # noqa: BLE001 - the gateway serves the app per kernel instead
            log.warning("app %s cannot be shared: %s", app_id, e)
            raise web.HTTPError(409, f"not shareable: {e}") from None
        self.finish({"app_id": app_id, "snapshot_id": app.snapshot_id, "snapshot": app.snapshot,
                     "view_only": shared_views.VIEW_ONLY})

    async def _interact(self, app_id: str, body: dict) -> None:
        try:
            answer = await self._shared.interact(app_id, str(body.get("snapshot", "")), body.get("history") or [],
                                                 body.get("step") or {})
        except shared_views.SnapshotGone:
            self.set_status(409)
            self.finish({"reason": "snapshot"})
            return
        except shared_views.Refused as e:
            self.set_status(e.status)
            self.finish({"reason": "refused", "text": str(e)})
            return
        except Exception as e:  # noqa: BLE001 - the app's own error, or its copy died
            log.warning("app %s: change not computed: %s", app_id, e)
            self.set_status(500)
            self.finish({"reason": "error"})
            return
        self.set_header("Content-Type", "application/json")
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")  # tornado leaves an encoded body alone
            self.finish(answer.gzipped)
        else:
            self.finish(answer.body)

    @web.authenticated
    async def delete(self, app_id: str | None = None, action: str | None = None) -> None:
        if app_id is None:
            raise web.HTTPError(405)
        await self._shared.drop(app_id)
        self.finish({"app_id": app_id})


class KernelSocketNoDelay(VoilaKernelWebsocketHandler):
    """Voilà's kernel WebSocket with Nagle's algorithm off, for the v1 kernel protocol only.

    A kernel answers with several small messages in a row (status, reply, comm
    messages). With Nagle on, each one after the first waits for the gateway's delayed
    ACK, about 40 ms on Linux. Three such waits were a third of opening a small app.

    Without the ``v1.kernel.websocket.jupyter.org`` subprotocol, Voilà 0.5.13's
    ``write_message`` reads the first binary message of the legacy protocol as if it were
    v1 and loops forever (100 % CPU, memory growing by gigabytes, every app frozen). The
    gateway never asks for anything else; this refusal is the second line of defence.
    """

    async def get(self, kernel_id):
        protocols = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if KERNEL_WS_PROTOCOL not in protocols:
            raise web.HTTPError(400, f"only {KERNEL_WS_PROTOCOL}")
        return await super().get(kernel_id)

    async def open(self, kernel_id):
        self.set_nodelay(True)
        return await super().open(kernel_id)


class BifVoila(Voila):
    name = "bif-voila"
    # set by main() from the gateway's configuration
    bif_shared_dir = str(Path(os.environ.get("TMPDIR") or "/tmp") / f"bif-shared-{os.getpid()}")
    bif_session_idle = 60.0
    bif_max_sessions = 64
    bif_prepare_steps = 0

    def init_handlers(self):
        handlers = [(pattern, KernelSocketNoDelay if handler is VoilaKernelWebsocketHandler else handler, *rest)
                    for pattern, handler, *rest in super().init_handlers()]
        handlers.insert(0, (r"/bif/pools/([a-z0-9][a-z0-9-]{0,62})", PoolHandler))
        handlers.insert(0, (r"/bif/kernels", KernelListHandler))
        handlers.insert(0, (r"/bif/shared(?:/([a-z0-9][a-z0-9-]{0,62})(?:/(interact))?)?", SharedHandler))
        return handlers

    def init_settings(self) -> dict:
        settings = super().init_settings()
        shared = shared_views.SharedViews(self.kernel_manager, self.bif_shared_dir,
                                          session_idle=self.bif_session_idle, max_sessions=self.bif_max_sessions,
                                          prepare_steps=self.bif_prepare_steps)
        BifKernelManager.shared = shared
        settings["bif_shared"] = shared
        self._note_hand_outs(self.kernel_manager)
        self._bif_sweeper = PeriodicCallback(shared.sweep, 10_000)
        self._bif_sweeper.start()
        return settings

    @staticmethod
    def _note_hand_outs(km) -> None:
        """Tell ``BifKernelManager.handed_out`` which pooled kernel each page gets. Voilà's
        pooling kernel manager is a class it derives from ours when it starts
        (``voila_kernel_manager_factory``), so its hand-out is wrapped here, on the instance."""
        take = getattr(km, "get_rendered_notebook", None)
        if take is None:  # no preheating: every page starts its own kernel
            return

        async def get_rendered_notebook(*args, **kwargs):
            task, rendered, kernel_id = await take(*args, **kwargs)
            km.handed_out(kernel_id)
            return task, rendered, kernel_id

        km.get_rendered_notebook = get_rendered_notebook


def build_config(conf: dict, token: str) -> Config:
    """Traitlets config for ``BifVoila`` from the gateway's JSON description."""
    c = Config()
    c.Voila.ip = "127.0.0.1"
    c.Voila.port = int(conf["port"])
    c.Voila.port_retries = 0
    c.Voila.open_browser = False
    c.Voila.root_dir = conf["root_dir"]
    c.Voila.base_url = conf["base_url"]
    c.Voila.server_url = "/"
    c.Voila.token = token
    c.VoilaConfiguration.template = TEMPLATE
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.show_margins = True  # centred page, like the gallery
    # ?template=/?theme= would bypass the preheated pages (and the BIF template)
    c.VoilaConfiguration.allow_template_override = "NO"
    c.VoilaConfiguration.allow_theme_override = "NO"
    # the light theme: BIF's front end brings it in its first style sheet (app_frontend/build.mjs)
    c.VoilaConfiguration.theme = "light"
    c.VoilaConfiguration.preheat_kernel = True
    # app kernels: filtered environment, read-only IPython directory (BifKernelManager)
    c.VoilaConfiguration.multi_kernel_manager_class = BifKernelManager
    # no request header becomes a kernel environment variable (the gateway's Authorization
    # header carries Voilà's token)
    c.VoilaConfiguration.http_header_envs = []
    # JUPYTER_DATA_DIR is read-only: the notebook trust database and its secret live in memory
    # (apps are trusted by publication, not by signatures)
    c.NotebookNotary.db_file = ":memory:"
    c.NotebookNotary.secret = os.urandom(32)
    c.VoilaConfiguration.default_pool_size = int(conf["pool_size"])
    # A cell's outputs may arrive after its execution reply, much later under load (many
    # kernels starting): wait for them, and never hand out a page that lost them (nbclient's
    # default: 4 s, then the page is rendered without its outputs).
    c.VoilaExecutor.iopub_timeout = IOPUB_TIMEOUT
    c.VoilaExecutor.raise_on_iopub_timeout = True
    # progressive rendering and prelaunch hooks cannot be combined with preheating
    c.VoilaConfiguration.progressive_rendering = False
    # serve no files from the app directory (apps show data through widgets only)
    c.VoilaConfiguration.file_allowlist = []
    # apps show no code: the syntax-highlighting theme is dead weight on every page
    c.VoilaConfiguration.extension_denylist = ["jupyterlab_pygments"]
    # per app, leave out front-end extensions it does not use (see frontend.py)
    c.VoilaConfiguration.page_config_hook = page_config_hook(Registry(conf["apps_dir"]))
    pools = {"default": {"pool_size": int(conf["pool_size"])}}
    for app_id, size in (conf.get("pool_sizes") or {}).items():
        pools[served_name(app_id)] = {"pool_size": int(size)}
    c.VoilaKernelManager.kernel_pools_config = pools
    c.VoilaKernelManager.fill_delay = POOL_FILL_DELAY
    # A page request that never opens its kernel's websocket (a script, a crashed tab)
    # leaves the kernel running: cull idle kernels that nobody is connected to.
    # Pooled kernels are exempt (Voilà's cull_kernel_if_idle skips them).
    c.MappingKernelManager.cull_idle_timeout = int(conf["cull_idle_timeout"])
    c.MappingKernelManager.cull_interval = int(conf["cull_interval"])
    c.MappingKernelManager.cull_connected = False
    c.MappingKernelManager.cull_busy = False
    return c


def main() -> None:
    undumpable = make_undumpable()
    conf = json.loads(os.environ.pop("BIF_VOILA_CONFIG"))
    token = read_token_fd(int(os.environ.pop("BIF_VOILA_TOKEN_FD")))
    for name in [k for k in os.environ if kernel_env({k: os.environ[k]}, (token,)) == {}]:
        del os.environ[name]  # nothing secret for the kernels to inherit
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not undumpable:
        log.warning("PR_SET_DUMPABLE failed: app kernels could read this process's memory")
    BifKernelManager.secrets = (token,)
    template_cache.install()  # pages' templates compiled once, not per kernel (template_cache.py)
    forks = start_fork_server(conf, token)
    BifVoila.bif_shared_dir = str(Path(os.environ.get("TMPDIR") or "/tmp") / f"bif-shared-{os.getpid()}")
    BifVoila.bif_session_idle = float(conf.get("shared_session_idle", 60))
    BifVoila.bif_max_sessions = int(conf.get("shared_max_sessions", 64))
    BifVoila.bif_prepare_steps = int(conf.get("shared_prepare_steps", 0))
    app = BifVoila(config=build_config(conf, token))
    app.initialize([])
    try:
        app.start()
    finally:
        if forks is not None:
            forks.stop()


def start_fork_server(conf: dict, token: str):
    """The kernel fork server (``kernel_forks.py``) when ``kernel_start`` is "fork": started now
    so that its imports are done before the first pool fills; None otherwise."""
    if conf.get("kernel_start", "fork") != "fork":
        return None
    directory = Path(os.environ.get("TMPDIR") or "/tmp") / f"bif-kernel-forks-{os.getpid()}"
    server = kernel_forks.ForkServer(conf.get("kernel_preload") or [], directory, log,
                                     nice=int(conf.get("kernel_nice", 0)))
    server.start(kernel_env(dict(os.environ), (token,)))
    provisioner = kernel_forks.provisioner_class()
    provisioner.fork_server = server
    ForkingKernelManager.provisioner_class = provisioner
    return server


if __name__ == "__main__":
    sys.exit(main())
