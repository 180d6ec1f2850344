"""Configuration of the apps service, derived from the platform settings.

The launcher passes the colleague's ``Settings`` object (``bif_lib.platform.settings``);
everything the apps service needs is flattened into one small, JSON-serialisable
``AppsConfig`` so the daemonised gateway and Voilà processes get exactly the values the
launcher saw (they must not re-read a settings file that may have changed meanwhile).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bif_lib import config as bif_config

SERVICE_NAME = "bif-apps"
PUBLISH_SCOPE = "custom:bif-apps:publish"
CONFIG_ENV = "BIF_APPS_CONFIG"
# Voilà renders every page for this placeholder base URL; the gateway replaces it with the
# app's own prefix (/services/bif-apps/app/<app_id>/) so each request names its app.
VOILA_BASE_PLACEHOLDER = "__BIF_APP__"


def _get(settings: Any, dotted: str, default: Any = None) -> Any:
    """``settings["a"]["b"]`` for dicts and attribute objects alike, ``default`` if absent."""
    current = settings
    for part in dotted.split("."):
        if current is None:
            return default
        if isinstance(current, dict):
            current = current.get(part)
        else:
            current = getattr(current, part, None)
    return default if current is None else current


@dataclass(frozen=True)
class AppsConfig:
    home: str
    port: int = 8010
    ip: str = "127.0.0.1"
    voila_port: int = 8011
    pool_size: int = 2
    os_user: str = "bif-apps"
    internal_group: str = "bif-internal"
    confidential_group: str = "bif-statistik"
    hub_api_url: str = "http://127.0.0.1:8081/hub/api"
    base_url: str = "/"
    platform_name: str = "BIF – Business Intelligence"
    # kernels idle this long are shut down unless a browser is connected (seconds)
    cull_idle_timeout: int = 900
    cull_interval: int = 60
    # longest a notebook may run when it is checked for publication (seconds)
    publish_timeout: int = 300
    store: str = ""

    # --- construction -----------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Any = None) -> "AppsConfig":
        """Build from the platform settings (``load_settings()`` if None).

        Falls back to defaults and ``bif_lib.config`` when the settings module is not
        available (e.g. a data-only installation).
        """
        if settings is None:
            try:
                from bif_lib.platform.settings import load_settings
            except ImportError:  # platform package not installed: defaults only
                settings = {}
            else:
                settings = load_settings()
        home = _get(settings, "paths.home") or str(bif_config.bif_home())
        store = _get(settings, "paths.store") or str(bif_config.store_dir())
        base = "/" + str(_get(settings, "hub.base_url", "/")).strip("/")
        base = base if base.endswith("/") else base + "/"
        internal_port = _get(settings, "hub.internal_port", 8081)
        apps = _get(settings, "apps", {}) or {}
        return cls(
            home=str(home),
            store=str(store),
            port=int(_get(apps, "port", 8010)),
            ip=str(_get(apps, "ip", "127.0.0.1")),
            voila_port=int(_get(apps, "voila_port", 8011)),
            pool_size=int(_get(apps, "pool_size", 2)),
            os_user=str(_get(apps, "os_user", "bif-apps")),
            internal_group=str(_get(settings, "accounts.internal_group", "bif-internal")),
            confidential_group=str(_get(settings, "accounts.confidential_group", "bif-statistik")),
            hub_api_url=os.environ.get("JUPYTERHUB_API_URL")
            or f"http://127.0.0.1:{internal_port}{base}hub/api",
            base_url=base,
            platform_name=str(_get(settings, "platform.name", cls.platform_name)),
            cull_idle_timeout=int(_get(apps, "cull_idle_timeout", 900)),
            cull_interval=int(_get(apps, "cull_interval", 60)),
            publish_timeout=int(_get(apps, "publish_timeout", 300)),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AppsConfig":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def current(cls, settings: Any = None) -> "AppsConfig":
        """In a daemonised child: the config the parent passed; otherwise from settings."""
        if settings is None and os.environ.get(CONFIG_ENV):
            return cls.from_json(os.environ[CONFIG_ENV])
        if isinstance(settings, AppsConfig):
            return settings
        return cls.from_settings(settings)

    # --- derived paths and URLs -------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return Path(self.home)

    @property
    def apps_dir(self) -> Path:
        """The app registry: ``<app_id>/<version>/`` plus ``<app_id>/current``."""
        return self.home_dir / "apps"

    @property
    def served_dir(self) -> Path:
        """Voilà's root: one symlink ``<app_id>.ipynb`` per published app."""
        return self.apps_dir / "_voila"

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home_dir / "logs"

    @property
    def voila_state_dir(self) -> Path:
        """Home, runtime and connection files of the Voilà process, owned by the service
        account (``run/`` is root-only, so this lives beside it)."""
        return self.home_dir / "apps-runtime"

    @property
    def gateway_pid_file(self) -> Path:
        return self.run_dir / "bif-apps.pid"

    @property
    def voila_pid_file(self) -> Path:
        return self.run_dir / "bif-apps-voila.pid"

    @property
    def voila_token_file(self) -> Path:
        return self.run_dir / "bif-apps-voila.token"

    @property
    def cookie_secret_file(self) -> Path:
        return self.run_dir / "bif-apps-cookie-secret"

    @property
    def gateway_log(self) -> Path:
        return self.logs_dir / "bif-apps.log"

    @property
    def voila_log(self) -> Path:
        return self.logs_dir / "bif-apps-voila.log"

    @property
    def service_prefix(self) -> str:
        return f"{self.base_url}services/{SERVICE_NAME}/"

    @property
    def hub_prefix(self) -> str:
        return f"{self.base_url}hub/"

    @property
    def voila_base_url(self) -> str:
        return f"{self.service_prefix}app/{VOILA_BASE_PLACEHOLDER}/"

    @property
    def local_url(self) -> str:
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0", "::") else self.ip
        return f"http://{host}:{self.port}"

    @property
    def voila_url(self) -> str:
        return f"http://127.0.0.1:{self.voila_port}"
