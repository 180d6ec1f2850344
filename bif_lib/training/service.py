"""The trainer page "Schulungen": a JupyterHub service behind the hub's login.

Started by the hub as a managed service (``hubconfig.services``), as root, because ending a
cohort removes OS accounts and homes and archives the participants' work. Everything a
trainer sends is checked here; a trainer sees and changes only the cohorts they created.

Who may come in: the hub lets only tokens and logins with
``access:services!service=bif-training`` through (the role ``bif-training-manager`` of the
group ``trainers``); the service checks the group again. Pages (HTML forms, German) and a
JSON API under ``api/`` with the same actions, used by ``bif training`` from a trainer's
JupyterLab terminal with the trainer's own token.

Every minute the service ends cohorts past their end date (``lifecycle.end_expired``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import jinja2
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from tornado import ioloop, web

from bif_lib.i18n import format_local_datetime
from bif_lib.platform.auth import UserStore, UserStoreError
from bif_lib.platform.cohorts import Cohort, cohorts_of, get_cohort
from bif_lib.platform.settings import TRAINING_SERVICE, Settings, load_settings
from bif_lib.training import lifecycle
from bif_lib.training.exercises import COURSE

log = logging.getLogger("bif.training.service")
HERE = Path(__file__).resolve().parent
TRAINER_GROUP = "trainers"
COHORT = r"([a-z][a-z0-9-]{0,19})"


class Context:
    def __init__(self, settings: Settings, hub_auth: HubOAuth, hub: lifecycle.HubClient):
        self.settings = settings
        self.hub_auth = hub_auth
        self.hub = hub
        self.store = UserStore.from_settings(settings)
        # one writer at a time for the user store and the homes; status reads beside it
        self.actions = ThreadPoolExecutor(1, "bif-training-action")
        self.reads = ThreadPoolExecutor(2, "bif-training-read")
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                            autoescape=True)

    async def act(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.actions, lambda: fn(*args, **kwargs))

    async def read(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.reads, lambda: fn(*args, **kwargs))


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, ctx: Context) -> None:
        self.ctx = ctx
        self.hub_auth = ctx.hub_auth

    @property
    def trainer(self) -> str:
        return self.current_user["name"]

    async def prepare(self) -> None:
        # the hub's answer about the user, asynchronously (the sync lookup would block the loop)
        model = await self.hub_auth.get_user(self, sync=False)
        try:  # the hub's verdict: does the token or login carry access to this service?
            model = self.check_hub_user(model) if model else None
        except UserNotAllowed:
            model = {"name": "?", "groups": []}
        self._hub_auth_user_cache = model if model and TRAINER_GROUP in (model.get("groups") or []) else None
        if model and self._hub_auth_user_cache is None:
            self.fail(403, "Kein Zugang", "Die Seite „Schulungen“ ist für die Schulungsleitung (Gruppe "
                                          "„trainers“) bestimmt.")

    def fail(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.finish(self.render_page("message.html", title=title, text=text))

    def render_page(self, name: str, **values) -> str:
        values.setdefault("user", self._hub_auth_user_cache if hasattr(self, "_hub_auth_user_cache") else None)
        return self.ctx.templates.get_template(name).render(
            prefix=self.ctx.settings.training_path, hub_home=f"{self.ctx.settings.base_url}hub/home",
            platform_name=self.ctx.settings["platform"]["name"], xsrf=self.xsrf_form_html(),
            # the page's own fetches send it as X-XSRFToken: the hub's rules want it on every
            # cookie-authenticated request that is not a navigation, GETs included
            xsrf_token=self.xsrf_token.decode("ascii"), **values)

    def write_error(self, status_code: int, **kwargs) -> None:
        texts = {403: ("Kein Zugang", "Sie haben keine Berechtigung für diese Seite."),
                 404: ("Nicht gefunden", "Diese Seite gibt es nicht (mehr).")}
        title, text = texts.get(status_code, ("Fehler", "Es ist ein Fehler aufgetreten. Bitte versuchen Sie es "
                                              "später erneut."))
        self.finish(self.render_page("message.html", title=title, text=text))

    async def cohort(self, name: str) -> Cohort:
        try:
            return await self.ctx.read(get_cohort, self.ctx.store, name, self.trainer)
        except UserStoreError:
            raise web.HTTPError(404) from None


class ApiHandler(BaseHandler):
    """JSON in and out; errors as {"error": "<German text>"}."""

    def get_login_url(self) -> str:
        raise web.HTTPError(403)

    def fail(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.finish({"error": text, "status": status})

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = getattr(exc, "log_message", None) or {403: "Kein Zugang", 404: "Nicht gefunden"}.get(
            status_code, "Fehler im Schulungsdienst")
        self.finish({"error": message, "status": status_code})

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPError(400, "Anfrage ist kein gültiges JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "JSON-Objekt erwartet")
        return data


# --- shared actions ---------------------------------------------------------------------------

def _size(value) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserStoreError(f"Anzahl der Konten muss eine ganze Zahl sein, nicht „{value}“") from None


async def _start(handler: BaseHandler, name, size, expires) -> tuple[Cohort, list]:
    return await handler.ctx.act(lifecycle.start_cohort, handler.ctx.settings, handler.ctx.store, str(name or ""),
                                 _size(size), expires=expires or None, trainer=handler.trainer)


async def _status(handler: BaseHandler, cohort: Cohort) -> dict:
    rows = await handler.ctx.read(lifecycle.progress, handler.ctx.settings, cohort, handler.ctx.hub)
    return {"cohort": cohort.to_json(), "exercises": [{"id": e.id, "notebook": e.notebook, "title": e.title}
                                                      for e in COURSE],
            "participants": [r.to_json() | {"last_activity_de": format_local_datetime(r.last_activity)
                                            if r.last_activity else "–"} for r in rows]}


# --- pages ------------------------------------------------------------------------------------

class HomeHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.home(message=self.get_argument("meldung", ""))

    @web.authenticated
    async def post(self) -> None:
        """Create a cohort from the form."""
        try:
            cohort, _ = await _start(self, self.get_body_argument("name", ""), self.get_body_argument("size", ""),
                                     self.get_body_argument("bis", ""))
        except UserStoreError as e:
            self.set_status(400)
            await self.home(error=str(e))
            return
        self.redirect(f"{self.ctx.settings.training_path}gruppen/{cohort.name}?neu=1")

    async def home(self, message: str = "", error: str = "") -> None:
        mine = await self.ctx.read(cohorts_of, self.ctx.store, self.trainer)
        archives = await self.ctx.read(lifecycle.archives, self.ctx.settings, self.trainer)
        training = self.ctx.settings["training"]
        self.finish(self.render_page("home.html", cohorts=[c.to_json() for c in mine],
                                     archives=[a.to_json() | {"created_de": format_local_datetime(a.created)}
                                               for a in archives],
                                     message=message, error=error,
                                     default_days=training["default_days"], max_days=training["max_days"]))


class CohortHandler(BaseHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        cohort = await self.cohort(name)
        status = await _status(self, cohort)
        self.finish(self.render_page("cohort.html", status=status, status_json=json.dumps(status),
                                     new=bool(self.get_argument("neu", "")), error=self.get_argument("fehler", "")))


class ExtendHandler(BaseHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        cohort = await self.cohort(name)
        try:
            await self.ctx.act(lifecycle.extend, self.ctx.settings, self.ctx.store, cohort,
                               self.get_body_argument("bis", ""))
        except UserStoreError as e:
            self.redirect(f"{self.ctx.settings.training_path}gruppen/{cohort.name}?fehler={quote(str(e))}")
            return
        self.redirect(f"{self.ctx.settings.training_path}gruppen/{cohort.name}")


class EndHandler(BaseHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        cohort = await self.cohort(name)
        try:
            report = await self.ctx.act(lifecycle.end_cohort, self.ctx.settings, self.ctx.store, cohort, self.ctx.hub)
        except UserStoreError as e:
            self.redirect(f"{self.ctx.settings.training_path}gruppen/{cohort.name}?fehler={quote(str(e))}")
            return
        text = (f"Schulungsgruppe {report.cohort} beendet: {len(report.accounts)} Konten entfernt, "
                f"Arbeitsstände archiviert ({report.archive.name}).")
        self.redirect(f"{self.ctx.settings.training_path}?meldung={quote(text)}")


class SheetHandler(BaseHandler):
    @web.authenticated
    async def get(self, name: str, kind: str) -> None:
        from bif_lib.training import sheet

        cohort = await self.cohort(name)
        try:
            accounts = await self.ctx.read(lifecycle.load_credentials, self.ctx.settings, cohort)
        except UserStoreError as e:
            self.fail(404, "Keine Zugangsdaten", str(e))
            return
        settings = self.ctx.settings
        args = dict(cohort=cohort.name, accounts=accounts, login_url=f"{settings.public_url}hub/login",
                    expires=cohort.expires, platform_name=settings["platform"]["name"], trainer=self.trainer,
                    notebooks_folder=f"{settings['notebooks']['target']}/{settings['training']['course']}")
        self.set_header("Cache-Control", "no-store")  # passwords
        if kind == ".pdf":
            data = await self.ctx.read(sheet.sheet_pdf, **args)
            self.set_header("Content-Type", "application/pdf")
            self.set_header("Content-Disposition", f'attachment; filename="zugangsdaten-{cohort.name}.pdf"')
            self.finish(data)
        else:
            self.finish(await self.ctx.read(sheet.sheet_html, **args))


class ArchiveHandler(BaseHandler):
    @web.authenticated
    async def get(self, file: str) -> None:
        try:
            path = await self.ctx.read(lifecycle.archive_file, self.ctx.settings, self.trainer, file)
        except UserStoreError:
            raise web.HTTPError(404) from None
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{path.name}"')
        self.finish(await self.ctx.read(path.read_bytes))


# --- API --------------------------------------------------------------------------------------

class CohortsApiHandler(ApiHandler):
    @web.authenticated
    async def get(self) -> None:
        mine = await self.ctx.read(cohorts_of, self.ctx.store, self.trainer)
        archives = await self.ctx.read(lifecycle.archives, self.ctx.settings, self.trainer)
        self.finish({"cohorts": [c.to_json() for c in mine], "archives": [a.to_json() for a in archives]})

    @web.authenticated
    async def post(self) -> None:
        data = self.body()
        try:
            cohort, created = await _start(self, data.get("name"), data.get("size"), data.get("bis"))
        except UserStoreError as e:
            raise web.HTTPError(400, str(e)) from None
        self.set_status(201)
        self.set_header("Cache-Control", "no-store")
        self.finish({"cohort": cohort.to_json(), "login_url": f"{self.ctx.settings.public_url}hub/login",
                     "accounts": [{"name": a.name, "password": a.password} for a in created]})


class CohortApiHandler(ApiHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        self.finish(await _status(self, await self.cohort(name)))

    @web.authenticated
    async def delete(self, name: str) -> None:
        cohort = await self.cohort(name)
        try:
            report = await self.ctx.act(lifecycle.end_cohort, self.ctx.settings, self.ctx.store, cohort, self.ctx.hub)
        except UserStoreError as e:
            raise web.HTTPError(409, str(e)) from None
        self.finish({"cohort": report.cohort, "accounts": report.accounts, "archive": report.archive.name,
                     "skipped": report.skipped})


class ExtendApiHandler(ApiHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        cohort = await self.cohort(name)
        try:
            cohort = await self.ctx.act(lifecycle.extend, self.ctx.settings, self.ctx.store, cohort,
                                        str(self.body().get("bis") or ""))
        except UserStoreError as e:
            raise web.HTTPError(400, str(e)) from None
        self.finish({"cohort": cohort.to_json()})


class CredentialsApiHandler(ApiHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        cohort = await self.cohort(name)
        try:
            accounts = await self.ctx.read(lifecycle.load_credentials, self.ctx.settings, cohort)
        except UserStoreError as e:
            raise web.HTTPError(404, str(e)) from None
        self.set_header("Cache-Control", "no-store")
        self.finish({"cohort": cohort.name, "login_url": f"{self.ctx.settings.public_url}hub/login",
                     "accounts": [{"name": a.name, "password": a.password} for a in accounts]})


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    def initialize(self, ctx: Context) -> None:
        self.hub_auth = ctx.hub_auth


# --- assembly ---------------------------------------------------------------------------------

def make_app(ctx: Context) -> web.Application:
    p = ctx.settings.training_path
    kw = {"ctx": ctx}
    handlers = [
        (rf"{p}", HomeHandler, kw),
        (rf"{p}oauth_callback", OAuthCallbackHandler, kw),
        (rf"{p}health", HealthHandler),
        (rf"{p}gruppen/{COHORT}", CohortHandler, kw),
        (rf"{p}gruppen/{COHORT}/verlaengern", ExtendHandler, kw),
        (rf"{p}gruppen/{COHORT}/beenden", EndHandler, kw),
        (rf"{p}gruppen/{COHORT}/zugangsdaten(\.pdf|\.html)?", SheetHandler, kw),
        (rf"{p}archiv/([a-z0-9-]+\.zip)", ArchiveHandler, kw),
        (rf"{p}api/gruppen", CohortsApiHandler, kw),
        (rf"{p}api/gruppen/{COHORT}", CohortApiHandler, kw),
        (rf"{p}api/gruppen/{COHORT}/verlaengern", ExtendApiHandler, kw),
        (rf"{p}api/gruppen/{COHORT}/zugangsdaten", CredentialsApiHandler, kw),
        (rf"{p}api/archiv/([a-z0-9-]+\.zip)", ArchiveHandler, kw),
        (rf"{p}static/(.*)", web.StaticFileHandler, {"path": str(HERE / "static")}),
    ]
    return web.Application(handlers, cookie_secret=os.urandom(32), login_url=ctx.hub_auth.login_url,
                           xsrf_cookies=False)  # HubOAuth checks _xsrf on cookie-authenticated POSTs itself


def _sweep(ctx: Context) -> None:
    for report in lifecycle.end_expired(ctx.settings, ctx.store, ctx.hub):
        log.info("abgelaufene Schulungsgruppe %s beendet (Archiv %s)", report.cohort, report.archive)


def _listen(app: web.Application, port: int, patience: float = 15.0) -> None:
    """Listen on 127.0.0.1:port; after `bif platform restart-hub` the previous service may still
    be letting go of the port for a moment."""
    deadline = time.monotonic() + patience
    while True:
        try:
            app.listen(port, address="127.0.0.1", xheaders=True)
            return
        except OSError as e:
            if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            log.warning("Port %s noch belegt; neuer Versuch in 0,5 s", port)
            time.sleep(0.5)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s bif-training] %(message)s")
    settings = load_settings()
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    # only tokens and logins that may use this service (the role bif-training-manager); the rest
    # of the OAuth settings comes from the environment the hub starts the service with
    hub_auth = HubOAuth(api_token=token, cache_max_age=60,
                        access_scopes={f"access:services!service={TRAINING_SERVICE}"})
    ctx = Context(settings, hub_auth, lifecycle.HubClient(settings.hub_api_url, token))
    app = make_app(ctx)
    _listen(app, settings["training"]["port"])

    async def sweep() -> None:
        try:
            await ctx.act(_sweep, ctx)
        except Exception:  # noqa: BLE001 - the next sweep tries again; the log says why
            log.exception("Ablauf der Schulungsgruppen fehlgeschlagen")

    loop = ioloop.IOLoop.current()
    loop.add_callback(sweep)
    ioloop.PeriodicCallback(sweep, settings["training"]["sweep_every"] * 1000).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.add_callback_from_signal(loop.stop))
    log.info("Schulungsdienst bereit auf 127.0.0.1:%s%s", settings["training"]["port"], settings.training_path)
    loop.start()


if __name__ == "__main__":
    main()
