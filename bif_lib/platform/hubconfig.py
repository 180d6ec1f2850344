"""The JupyterHub configuration of BIF, built from the settings.

``hub_config/jupyterhub_config.py`` only calls :func:`configure`; everything else is
here, in small functions that the tests call directly:

- :func:`load_roles`, :func:`custom_scopes`: RBAC — roles bound to BIF groups, the
  default ``user`` role reduced so that a plain user (a planner) has no server;
- :func:`services`: the external apps service ``bif-apps``, the launcher's API client
  ``bif-platform`` and the hub-managed idle culler;
- :class:`BIFSpawner`: JupyterLab under the person's own OS account (or single-account
  mode), with the notebook templates in their home;
- :func:`authenticator_config`: local accounts, LDAP/AD or OpenID Connect;
- :func:`z2jh_values`: the same groups, roles, services and culler for Zero to JupyterHub.
"""

from __future__ import annotations

import asyncio
import copy
import os
import pwd
import sys
from pathlib import Path
from typing import Any, Callable

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Any as AnyTrait
from traitlets import default

from bif_lib import config
from bif_lib.platform import accounts
from bif_lib.platform.auth import authenticator_for
from bif_lib.platform.settings import (
    APPS_SERVICE,
    BUILTIN_ADMIN_ROLE,
    PARTICIPANTS_GROUP,
    PUBLISH_SCOPE,
    TRAINING_SERVICE,
    Settings,
    apps_api_token,
    catalog_env,
    load_settings,
    platform_api_token,
    proxy_auth_token,
)
from bif_lib.schedule import notices as schedule_notices

PLATFORM_SERVICE = "bif-platform"
CULLER_SERVICE = "idle-culler"
TEMPLATES_DIR = config.PROJECT_ROOT / "hub_config" / "templates"
# JupyterLab's settings for every user's server: German (overrides.json), no news (page_config.json)
LAB_SETTINGS_DIR = config.PROJECT_ROOT / "hub_config" / "lab"
SINGLEUSER = str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")

# scopes of the services (not configurable: they follow from what the services do)
SERVICE_ROLES = {
    APPS_SERVICE: {
        "description": "Apps-Dienst: Namen und Gruppen der Nutzenden lesen",
        "scopes": ["list:users", "read:users:name", "read:users:groups", "list:groups", "read:groups"],
    },
    PLATFORM_SERVICE: {
        "description": "Start/Stopp der Plattform und `bif users`: Nutzende und Server verwalten",
        "scopes": ["list:users", "read:users", "admin:users", "admin:servers", "read:hub"],
    },
    CULLER_SERVICE: {
        "description": "Stoppt untätige JupyterLab-Server",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    },
    # the trainer page: status of participants' servers, and at a cohort's end their hub
    # sessions; only for members of the group participants (cohort accounts)
    TRAINING_SERVICE: {
        "description": "Schulungsdienst: Teilnehmende sehen, ihre Server stoppen und sie am Ende entfernen",
        "scopes": [f"read:users!group={PARTICIPANTS_GROUP}", f"read:servers!group={PARTICIPANTS_GROUP}",
                   f"delete:users!group={PARTICIPANTS_GROUP}",
                   f"delete:servers!group={PARTICIPANTS_GROUP}"],
    },
}
APPS_OAUTH_SCOPES = ["read:users:groups!user", PUBLISH_SCOPE]


# --- RBAC ----------------------------------------------------------------------------

def groups_with_role(settings: Settings, role: str) -> list[str]:
    return sorted(g for g, spec in settings["groups"].items() if role in spec.get("roles", []))


# JupyterHub's built-in admin role, bound to nobody. Because its users, groups and services
# are given (empty), the hub makes the assignments exactly that at every start and clears
# every admin flag left in its database (JupyterHub.init_role_assignment): nobody is a hub
# admin, whatever an older configuration or a directory said. Operators get `bif-operator`.
# (JupyterHub refuses to change anything else of this role, even its description.)
ADMIN_ROLE = {"name": BUILTIN_ADMIN_ROLE, "users": [], "groups": [], "services": []}


def load_roles(settings: Settings) -> list[dict]:
    """``JupyterHub.load_roles``: the roles of settings.yaml bound to BIF groups,
    JupyterHub's ``admin`` role bound to nobody, and the service roles."""
    roles: list[dict] = []
    for name, spec in settings["roles"].items():
        role = {"name": name, "description": spec.get("description", ""), "scopes": list(spec["scopes"])}
        if name != "user":  # every user has `user`; it is not bound to groups
            role["groups"] = groups_with_role(settings, name)
        roles.append(role)
    roles.append(copy.deepcopy(ADMIN_ROLE))
    for service, spec in SERVICE_ROLES.items():
        if service == CULLER_SERVICE and not settings["culler"]["enabled"]:
            continue
        roles.append({"name": f"{service}-service", "description": spec["description"],
                      "scopes": list(spec["scopes"]), "services": [service]})
    return roles


def custom_scopes(settings: Settings) -> dict[str, dict]:
    return {name: dict(spec) for name, spec in (settings.get("custom_scopes") or {}).items()}


def may_spawn(user, scopes: Any = None) -> bool:
    """Does ``user`` (a hub User) hold the permission to start their own server?"""
    if scopes is None:
        from jupyterhub.scopes import get_scopes_for

        scopes = get_scopes_for(user)
    return "servers" in scopes or f"servers!user={user.name}" in scopes


def make_default_url(settings: Settings) -> Callable:
    """Where people land after login: people with JupyterLab on the hub's home page
    (JupyterLab and the app gallery), everybody else on the app gallery."""
    home = f"{settings.base_url}hub/home"
    gallery = settings.gallery_path

    def default_url(handler) -> str:
        user = handler.current_user
        if user is None:
            return f"{settings.base_url}hub/login"
        return home if may_spawn(user) else gallery

    return default_url


# --- services ------------------------------------------------------------------------

def culler_command(settings: Settings) -> list[str]:
    culler = settings["culler"]
    cmd = [sys.executable, "-m", "jupyterhub_idle_culler",
           f"--timeout={int(culler['timeout'])}", f"--cull-every={int(culler['every'])}"]
    if culler.get("max_age"):
        cmd.append(f"--max-age={int(culler['max_age'])}")
    return cmd


def login_page_vars(gallery_path: str) -> dict:
    """What the login page needs to let the browser fetch the app front end while a person on
    the way to an app logs in (hub_config/templates/login.html): the apps service's list of the
    files, and its OAuth client, which the page's ``next`` names on the way to any of its pages."""
    return {"bif_front_end_ahead_url": f"{gallery_path}assets/ahead",
            "bif_apps_client_id": f"service-{APPS_SERVICE}"}


def services(settings: Settings, with_tokens: bool = True) -> list[dict]:
    """``JupyterHub.services``: the apps service (external), the launcher's API client and
    the idle culler (managed by the hub; user servers only, apps are never culled)."""
    apps = {
        "name": APPS_SERVICE,
        "url": settings.apps_url,
        # the hub only warns if the service is down; do not hold up the hub's start for it
        "timeout": 3,
        "oauth_client_allowed_scopes": list(APPS_OAUTH_SCOPES),
        "oauth_no_confirm": True,  # part of the platform: no "authorize access?" page
        "info": {"description": "Veröffentlichte Apps der Stadtverwaltung"},
    }
    platform = {"name": PLATFORM_SERVICE}
    if with_tokens:
        apps["api_token"] = apps_api_token(settings)
        platform["api_token"] = platform_api_token(settings)
    result = [apps, platform]
    if settings["culler"]["enabled"]:
        result.append({"name": CULLER_SERVICE, "command": culler_command(settings)})
    # last: JupyterHub stops starting services after a managed one that exits at once, and the
    # trainer page must never cost the culler
    result.append(training_service(settings))
    return result


def training_service(settings: Settings) -> dict:
    """The trainer page, managed by the hub: it starts with the hub, as root (it removes
    participants' OS accounts and homes), and gets its token from the hub."""
    env = {"BIF_HOME": str(settings.home), "BIF_STORE": str(settings.store_dir),
           "PYTHONPATH": str(config.PROJECT_ROOT), **config.city_env()}
    if settings.source_file:
        env["BIF_HUB_SETTINGS"] = str(settings.source_file)
    catalog_env(env, settings)  # the course's checks read datasets: the catalog's readers' role
    return {
        "name": TRAINING_SERVICE,
        "url": settings.training_url,
        "command": [sys.executable, "-m", "bif_lib.training.service"],
        "environment": env,
        "cwd": str(settings.home),
        "oauth_client_allowed_scopes": ["read:users:groups!user"],
        "oauth_no_confirm": True,
        "display": False,  # linked from the home page for trainers, not listed for everybody
        "info": {"description": "Schulungsgruppen anlegen, begleiten und beenden"},
    }


# --- spawner -------------------------------------------------------------------------

class BIFSpawner(LocalProcessSpawner):
    """JupyterLab (``jupyterhub-singleuser`` from BIF's environment) for one person.

    With separate accounts the server runs as ``<prefix><name>``, created on first
    start and put into the OS groups of the person's data areas; in single-account
    mode it runs as the hub's own account with a home under ``$BIF_HOME/homes``.
    Either way the notebook templates are copied into the home.
    """

    bif_settings = AnyTrait(help="BIF settings (loaded from settings.yaml by default)").tag(config=True)
    account = AnyTrait(allow_none=True, default_value=None)

    @default("bif_settings")
    def _default_bif_settings(self):
        return load_settings()

    @default("cmd")
    def _default_cmd(self):
        return [SINGLEUSER]

    @property
    def separate_accounts(self) -> bool:
        return accounts.can_separate_accounts(self.bif_settings)

    def _prepare_account(self) -> accounts.Account:
        settings = self.bif_settings
        groups = sorted(g.name for g in self.user.groups)
        if self.separate_accounts:
            accounts.check_environment_access()
            account = accounts.ensure_user_account(self.user.name, groups, settings)
        else:
            me = pwd.getpwuid(os.getuid())
            home = settings.single_homes_dir / self.user.name
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            account = accounts.Account(me.pw_name, me.pw_uid, me.pw_gid, home, me.pw_shell or "/bin/bash")
        templates = {label: (config.PROJECT_ROOT / path) for label, path in
                     (settings["notebooks"]["templates"] or {}).items()}
        accounts.prepare_home(account, templates, settings["notebooks"]["target"])
        return account

    async def start(self):
        self.account = await asyncio.to_thread(self._prepare_account)
        return await super().start()

    def make_preexec_fn(self, name):
        account = self.account
        if account is None:
            raise RuntimeError("BIFSpawner: account not prepared; refusing to start a server as root")
        switch = set_user_setuid(account.name) if self.separate_accounts else None

        def preexec():
            # what a person's kernels write (exports, temporary files) is theirs alone: for the
            # statistics office that keeps microdata out of world-readable files in /tmp or $HOME
            os.umask(0o077)
            if switch is not None:
                switch()
            else:
                os.chdir(account.home)

        return preexec

    def user_env(self, env):
        account = self.account
        if account is not None:
            env["USER"] = account.name
            env["HOME"] = str(account.home)
            env["SHELL"] = account.shell or "/bin/bash"
            env["TMPDIR"] = str(account.home / ".tmp")  # private (0700), not the shared /tmp
        return env

    def get_env(self):
        env = super().get_env()
        settings = self.bif_settings
        pythonpath = [str(config.PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env.update({
            "BIF_HOME": str(settings.home),
            "BIF_STORE": str(settings.store_dir),
            "BIF_HUB_SETTINGS": str(settings.source_file or ""),
            "BIF_USER": self.user.name,
            **config.city_env(),  # the platform's city profile, also in every lab
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(pythonpath)),
            "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
        })
        return catalog_env(env, settings)  # kernels read the catalog with the readers' role

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0 and not self.separate_accounts:
            args.append("--allow-root")
        first = course_start(self.bif_settings) if PARTICIPANTS_GROUP in {g.name for g in self.user.groups} else None
        if first:  # a guided start: participants land in the course's first notebook
            args.append(f"--ServerApp.default_url=/lab/tree/{first}")
        return args


def course_start(settings: Settings) -> str | None:
    """The course's first notebook, relative to the home (``Vorlagen/Schulung/01_….ipynb``)."""
    label = settings["training"]["course"]
    source = (settings["notebooks"]["templates"] or {}).get(label)
    if not source:
        return None
    notebooks = sorted((config.PROJECT_ROOT / source).glob("*.ipynb"))
    return f"{settings['notebooks']['target']}/{label}/{notebooks[0].name}" if notebooks else None


# --- authentication --------------------------------------------------------------------

def _oidc_urls(oidc: dict) -> dict[str, str]:
    issuer = (oidc.get("issuer") or "").rstrip("/")
    base = f"{issuer}/protocol/openid-connect"  # Keycloak's layout
    return {
        "authorize_url": oidc.get("authorize_url") or f"{base}/auth",
        "token_url": oidc.get("token_url") or f"{base}/token",
        "userdata_url": oidc.get("userdata_url") or f"{base}/userinfo",
    }


def authenticator_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """Traitlets config sections of the selected authenticator ({section: {trait: value}}).

    ``admin_users`` (and for OIDC ``admin_groups``) are always empty: nobody becomes a hub
    admin, neither by name nor through the directory (settings.py refuses such keys too).
    """
    backend = settings["auth"]["backend"]
    if backend == "local":
        return {"BIFLocalAuthenticator": {"users_file": str(settings.users_file), "admin_users": []}}
    if backend == "ldap":
        ldap = dict(settings["auth"]["ldap"])
        section = {k: v for k, v in ldap.items() if k != "group_mapping"}
        section["group_mapping"] = dict(ldap.get("group_mapping") or {})
        if os.environ.get("BIF_LDAP_BIND_PASSWORD"):
            section["lookup_dn_search_password"] = os.environ["BIF_LDAP_BIND_PASSWORD"]
        if section.get("lookup_dn") and not section.get("lookup_dn_user_dn_attribute"):
            section["lookup_dn_user_dn_attribute"] = section["user_attribute"]
        section["admin_users"] = []
        return {"BIFLDAPAuthenticator": section}
    oidc = dict(settings["auth"]["oidc"])
    section = {
        "client_id": oidc["client_id"],
        "client_secret": os.environ.get("BIF_OIDC_CLIENT_SECRET", ""),
        "oauth_callback_url": oidc.get("callback_url") or f"{settings.public_url}hub/oauth_callback",
        "username_claim": oidc["username_claim"],
        "groups_claim": oidc["groups_claim"],
        "scope": list(oidc["scope"]),
        "login_service": oidc["login_service"],
        "group_mapping": dict(oidc.get("group_mapping") or {}),
        "admin_users": [],
        "admin_groups": [],
        **_oidc_urls(oidc),
    }
    return {"BIFOIDCAuthenticator": section}


# --- the whole configuration -----------------------------------------------------------

def configure(c, settings: Settings | None = None) -> Settings:
    """Fill the traitlets config ``c`` (``get_config()`` in jupyterhub_config.py)."""
    settings = settings or load_settings()
    hub, base = settings["hub"], settings.base_url
    for path, mode in ((settings.hub_dir, 0o700), (settings.run_dir, 0o700), (settings.logs_dir, 0o755)):
        path.mkdir(parents=True, exist_ok=True, mode=mode)

    # where the hub listens and keeps state
    c.JupyterHub.bind_url = f"http://{hub['ip']}:{hub['port']}{base}"
    if hub.get("public_url"):
        c.JupyterHub.public_url = hub["public_url"].rstrip("/") + base
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub['internal_port']}"
    c.JupyterHub.db_url = f"sqlite:///{settings.hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(settings.hub_dir / "jupyterhub_cookie_secret")

    # restarting the hub keeps the users' servers, the proxy and the apps service
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.cleanup_proxy = False
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = settings.proxy_api_url
    c.ConfigurableHTTPProxy.auth_token = proxy_auth_token(settings)

    # who may log in, in which groups
    c.JupyterHub.authenticator_class = authenticator_for(settings)
    c.Authenticator.manage_groups = True
    # who may log in is decided by the BIF authenticators (members of a BIF group only)
    c.Authenticator.any_allow_config = True
    # nobody is a hub admin (the admin role is bound to nobody, see ADMIN_ROLE)
    c.Authenticator.admin_users = set()
    for section, values in authenticator_config(settings).items():
        for key, value in values.items():
            setattr(c[section], key, value)

    # what each group may do
    c.JupyterHub.custom_scopes = custom_scopes(settings)
    c.JupyterHub.load_roles = load_roles(settings)
    c.JupyterHub.services = services(settings)

    # JupyterLab servers
    c.JupyterHub.spawner_class = BIFSpawner
    c.BIFSpawner.bif_settings = settings
    c.Spawner.default_url = "/lab"
    # the server's own token may also publish apps (publish_from_lab), besides JupyterHub's defaults
    # and trainers can run `bif training` in their terminal (the token gets only what its owner holds)
    c.Spawner.server_token_scopes = ["access:servers!server", "users:activity!user", "custom:bif-apps:publish",
                                     f"access:services!service={TRAINING_SERVICE}"]
    # city intranets: no news feed or update checks from the internet; German JupyterLab and no
    # news pop-up through the settings in hub_config/lab (docs/platform.md, "German pages")
    c.Spawner.args = ["--LabApp.news_url=None",
                      "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                      f"--LabApp.app_settings_dir={LAB_SETTINGS_DIR}",
                      # terminals as a non-login shell: a login shell's /etc/profile resets PATH, and
                      # `bif` (BIF's environment, first in the server's PATH) would be missing
                      "--ServerApp.terminado_settings=shell_command=['/bin/bash']"]
    c.Spawner.start_timeout = int(hub["start_timeout"])
    c.Spawner.http_timeout = 60
    c.JupyterHub.allow_named_servers = False

    # pages: German templates, planners land on the app gallery
    c.JupyterHub.redirect_to_server = False
    c.JupyterHub.default_url = make_default_url(settings)
    c.JupyterHub.template_paths = [str(TEMPLATES_DIR)]
    c.JupyterHub.template_vars = {
        "bif_platform_name": settings["platform"]["name"],
        "bif_login_hint": settings["platform"]["login_hint"],
        "bif_gallery_url": settings.gallery_path,
        "bif_training_url": settings.training_path,
        **login_page_vars(settings.gallery_path),
        # per request: failures of scheduled refreshes for the people who steward data (docs/schedule.md)
        "bif_schedule_notices": schedule_notices.template_var(settings),
    }
    c.JupyterHub.log_datefmt = "%Y-%m-%d %H:%M:%S"

    if not accounts.can_separate_accounts(settings):
        print(accounts.single_mode_message(), file=sys.stderr, flush=True)
    return settings


# --- Zero to JupyterHub ----------------------------------------------------------------

def z2jh_values(settings: Settings) -> dict:
    """Helm values for Zero to JupyterHub with the same groups, roles, services and culler.

    Secrets are not included (they come from Kubernetes secrets); LDAP/OIDC settings
    are those of settings.yaml with the authenticator classes of BIF's hub image.
    """
    backend = settings["auth"]["backend"]
    if backend == "local":
        backend = "oidc"  # no local user store on Kubernetes: a directory is expected
    auth_class = {"ldap": "bif_lib.platform.auth.BIFLDAPAuthenticator",
                  "oidc": "bif_lib.platform.auth.BIFOIDCAuthenticator"}[backend]
    z_settings = Settings({**settings, "auth": {**settings["auth"], "backend": backend}})
    auth = authenticator_config(z_settings)
    for section in auth.values():
        section.pop("client_secret", None)
        section.pop("lookup_dn_search_password", None)
        if "oauth_callback_url" in section:
            section["oauth_callback_url"] = "https://bif.example.org/hub/oauth_callback"

    # the chart culls itself; training cohorts are local accounts, which Kubernetes does not have
    roles = [r for r in load_roles(settings)
             if r["name"] not in (f"{CULLER_SERVICE}-service", f"{TRAINING_SERVICE}-service")]
    apps_service = next(s for s in services(settings, with_tokens=False) if s["name"] == APPS_SERVICE)
    apps_service = {**apps_service, "url": f"http://bif-apps:{settings['apps']['port']}"}
    culler = settings["culler"]
    catalog = settings["catalog"]
    catalog_url = catalog["url"] if catalog["backend"] == "postgresql" else Z2JH_CATALOG_URL
    return {
        "hub": {
            "image": {"name": "registry.example.org/bif/hub", "tag": "latest"},
            # the hub's own database in PostgreSQL (the password: hub.db.password from the secrets' values)
            "db": {"type": "postgres", "url": Z2JH_HUB_DB_URL},
            "config": {
                "JupyterHub": {
                    "authenticator_class": auth_class,
                    "custom_scopes": custom_scopes(settings),
                    "redirect_to_server": False,
                    "allow_named_servers": False,
                },
                "Authenticator": {"manage_groups": True, "admin_users": []},
                **auth,
            },
            "loadRoles": {r["name"]: r for r in roles},
            "services": {
                APPS_SERVICE: {k: v for k, v in apps_service.items() if k != "name"},
                PLATFORM_SERVICE: {},
            },
            "extraConfig": {
                "bif": (
                    "from bif_lib.platform.hubconfig import make_default_url, z2jh_pre_spawn_hook\n"
                    "from bif_lib.platform.settings import load_settings\n"
                    "c.JupyterHub.default_url = make_default_url(load_settings())\n"
                    "c.KubeSpawner.pre_spawn_hook = z2jh_pre_spawn_hook\n"
                ),
            },
        },
        "singleuser": {
            "image": {"name": "registry.example.org/bif/lab", "tag": "latest"},
            "defaultUrl": "/lab",
            "uid": 1000,
            "storage": {
                "extraVolumes": [{"name": "bif-store", "persistentVolumeClaim": {"claimName": Z2JH_STORE_CLAIM}}],
            },
            "extraEnv": {"BIF_STORE": "/srv/bif/store", "BIF_HOME": "/srv/bif",
                         "BIF_APPS_URL": "http://proxy-public/services/bif-apps/",
                         # the catalog in PostgreSQL, read with the readers' role (docs/store.md)
                         "BIF_CATALOG_URL": catalog_url,
                         "BIF_CATALOG_USER": catalog["reader_role"],
                         "BIF_CATALOG_PASSWORD": {"valueFrom": {"secretKeyRef": {
                             "name": Z2JH_CATALOG_SECRET, "key": "reader-password"}}}},
        },
        "cull": {
            "enabled": bool(culler["enabled"]),
            "users": False,
            "timeout": int(culler["timeout"]),
            "every": int(culler["every"]),
            "maxAge": int(culler.get("max_age") or 0),
        },
    }


Z2JH_STORE_CLAIM = "bif-store"
Z2JH_STORE_MOUNT = "/srv/bif/store"
# placeholders like the image names: the city's PostgreSQL for the hub and (unless the settings
# name it) the catalog; the catalog's passwords in the Secret `bif-catalog`
Z2JH_HUB_DB_URL = "postgresql+psycopg://bif_hub@postgres.example.org:5432/bif_hub"
Z2JH_CATALOG_URL = "postgresql://postgres.example.org:5432/bif_catalog"
Z2JH_CATALOG_SECRET = "bif-catalog"


def z2jh_store_mounts(bif_groups: list[str], settings: Settings) -> list[dict]:
    """Read-only mounts of the store for a pod: the catalog and ``open`` for everybody,
    ``internal`` and ``confidential`` only for groups with that data area. On Kubernetes
    the mounts take the place of the OS groups of the single-machine setup."""
    areas = set()
    for group in bif_groups:
        areas.update(settings["groups"].get(group, {}).get("data_areas", []))
    mounts = [{"name": "bif-store", "mountPath": Z2JH_STORE_MOUNT, "subPath": "catalog", "readOnly": True},
              {"name": "bif-store", "mountPath": f"{Z2JH_STORE_MOUNT}/open", "subPath": "open", "readOnly": True}]
    for area in ("internal", "confidential"):
        if area in areas:
            mounts.append({"name": "bif-store", "mountPath": f"{Z2JH_STORE_MOUNT}/{area}",
                           "subPath": area, "readOnly": True})
    return mounts


def z2jh_pre_spawn_hook(spawner) -> None:  # pragma: no cover - runs on Kubernetes
    """KubeSpawner hook: mount the store areas the user's groups may read."""
    groups = [g.name for g in spawner.user.groups]
    spawner.volume_mounts = list(spawner.volume_mounts) + z2jh_store_mounts(groups, load_settings())


Z2JH_HEADER = """\
# Zero to JupyterHub (Helm chart "jupyterhub", KubeSpawner) values for BIF.
# GENERATED from hub_config/settings.yaml by `bif platform z2jh-values -o hub_config/z2jh/values.yaml`;
# tests/platform/test_z2jh.py fails when it drifts from the local configuration.
# Same groups, roles, scopes, apps service and idle culler as the single-machine hub.
# Before use: set the image names, the directory (hub.config.*Authenticator), the PostgreSQL
# server of the hub (hub.db.url) and of the catalog (settings catalog.url) and the secrets
# (OIDC client secret / LDAP bind password via hub.extraEnv from a Secret, hub.db.password,
# the Secret bif-catalog with reader-password and writer-password).
# See docs/platform.md, "Beyond one machine".
"""


def write_z2jh_values(settings: Settings, output: str | Path | None = None) -> str:
    """Render :func:`z2jh_values` as YAML (with header); write it to ``output`` if given."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def _str(dumper, value):  # multi-line strings (extraConfig) as readable blocks
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, _str)
    body = yaml.dump(z2jh_values(settings), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    text = Z2JH_HEADER + body
    if output:
        Path(output).write_text(text, encoding="utf-8")
    return text
