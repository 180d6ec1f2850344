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
    # --- robustness and limits (docs/apps.md, "Robustness and limits") ----------------
    # kernels one person (hub user) may hold at once; further opens get a German page
    max_kernels_per_user: int = 5
    # a kernel whose page never connected, or whose WebSocket closed and did not come back,
    # is shut down after this many seconds (checked every orphan_check_interval seconds)
    orphan_timeout: int = 45
    orphan_check_interval: int = 5
    # per kernel WebSocket: largest message in either direction (bytes), connections per kernel
    ws_max_message_size: int = 64 * 1024 * 1024
    ws_max_connections_per_kernel: int = 3
    ws_ping_interval: int = 30
    # watchdog of the Voilà process: every watchdog_interval seconds Voilà must answer a probe
    # within watchdog_probe_timeout; it is restarted after watchdog_failures failed probes in a
    # row, after watchdog_busy_failures failed probes in a row while it used at least
    # watchdog_cpu_percent of a CPU, or when Voilà and its kernels use more than
    # watchdog_memory_mb (PSS; 0: 75 % of the machine's memory, negative: no limit).
    # Probes start to count once Voilà answered after its start, or after watchdog_start_grace.
    watchdog_interval: float = 5.0
    watchdog_probe_timeout: float = 5.0
    watchdog_failures: int = 3
    watchdog_busy_failures: int = 2
    watchdog_cpu_percent: float = 90.0
    watchdog_memory_mb: int = 0
    watchdog_start_grace: float = 120.0

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
            **{f.name: f.type_(_get(apps, f.name, f.default)) for f in _TUNABLES},
        )

    @property
    def memory_limit_bytes(self) -> int | None:
        """``watchdog_memory_mb`` in bytes; None when there is no limit."""
        if self.watchdog_memory_mb < 0:
            return None
        if self.watchdog_memory_mb > 0:
            return self.watchdog_memory_mb * 1024 * 1024
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return None
        return int(total * 0.75)

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


@dataclass(frozen=True)
class _Tunable:
    name: str
    type_: type
    default: Any


# settings under ``apps:`` read as they are named (robustness and limits)
_TUNABLES = tuple(
    _Tunable(f.name, type(f.default), f.default) for f in fields(AppsConfig)
    if f.name.startswith(("max_kernels_", "orphan_", "ws_", "watchdog_")))
