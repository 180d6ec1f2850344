"""Configuration of the apps service, derived from the platform settings.

The launcher passes the platform's ``Settings`` (``bif_lib.platform.settings``); everything
the apps service needs is flattened into one small, JSON-serialisable ``AppsConfig`` so the
daemonised gateway and Voilà processes get exactly the values the launcher saw (they must
not re-read a settings file that may have changed meanwhile).

Each field names the settings key it comes from; its default is that key's default in the
settings schema (``bif_lib/platform/settings_schema.yaml``, where the keys are described),
so ``AppsConfig(home=...)`` and the settings never disagree.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# the hub service's name, as the apps wing calls it
from bif_lib.platform.settings import APPS_SERVICE as SERVICE_NAME  # noqa: F401
from bif_lib.platform.settings import Layout, Settings, defaults, load_settings, local_host

CONFIG_ENV = "BIF_APPS_CONFIG"
# Voilà renders every page for this placeholder base URL; the gateway replaces it with the
# app's own prefix (/services/bif-apps/app/<app_id>/) so each request names its app.
VOILA_BASE_PLACEHOLDER = "__BIF_APP__"
_DEFAULTS = defaults()
_CASTS = {"bool": bool, "int": int, "float": float, "str": str, "tuple[str, ...]": tuple}


def _setting(key: str) -> Any:
    """A field filled from the settings key ``key`` (``section.name``), with its default."""
    section, name = key.split(".")
    default = _DEFAULTS[section][name]
    if isinstance(default, list):  # a frozen config holds tuples
        default = tuple(default)
    return field(default=default, metadata={"setting": key})


@dataclass(frozen=True)
class AppsConfig(Layout):
    home: str
    store: str = ""
    base_url: str = _DEFAULTS.base_url
    hub_api_url: str = _DEFAULTS.hub_api_url
    platform_name: str = _setting("platform.name")
    internal_group: str = _setting("accounts.internal_group")
    confidential_group: str = _setting("accounts.confidential_group")
    port: int = _setting("apps.port")
    ip: str = _setting("apps.ip")
    voila_port: int = _setting("apps.voila_port")
    pool_size: int = _setting("apps.pool_size")
    pool_max: int = _setting("apps.pool_max")
    pool_demand_window: int = _setting("apps.pool_demand_window")
    shared_view: bool = _setting("apps.shared_view")
    shared_session_idle: int = _setting("apps.shared_session_idle")
    shared_max_sessions: int = _setting("apps.shared_max_sessions")
    shared_prepare_steps: int = _setting("apps.shared_prepare_steps")
    concurrent_starts: int = _setting("apps.concurrent_starts")
    concurrent_starts_per_person: int = _setting("apps.concurrent_starts_per_person")
    connect_grace: int = _setting("apps.connect_grace")
    queue_timeout: int = _setting("apps.queue_timeout")
    kernel_start: str = _setting("apps.kernel_start")
    kernel_preload: tuple[str, ...] = _setting("apps.kernel_preload")
    kernel_nice: int = _setting("apps.kernel_nice")
    front_nice: int = _setting("hub.front_nice")  # the gateway's session (service.serve)
    os_user: str = _setting("apps.os_user")
    cull_idle_timeout: int = _setting("apps.cull_idle_timeout")
    cull_interval: int = _setting("apps.cull_interval")
    publish_timeout: int = _setting("apps.publish_timeout")
    # robustness and limits (docs/apps.md, "Robustness and limits")
    max_kernels_per_user: int = _setting("apps.max_kernels_per_user")
    orphan_timeout: int = _setting("apps.orphan_timeout")
    orphan_check_interval: int = _setting("apps.orphan_check_interval")
    ws_max_message_size: int = _setting("apps.ws_max_message_size")
    ws_max_connections_per_kernel: int = _setting("apps.ws_max_connections_per_kernel")
    ws_ping_interval: int = _setting("apps.ws_ping_interval")
    watchdog_interval: float = _setting("apps.watchdog_interval")
    watchdog_probe_timeout: float = _setting("apps.watchdog_probe_timeout")
    watchdog_failures: int = _setting("apps.watchdog_failures")
    watchdog_busy_failures: int = _setting("apps.watchdog_busy_failures")
    watchdog_cpu_percent: float = _setting("apps.watchdog_cpu_percent")
    watchdog_memory_mb: int = _setting("apps.watchdog_memory_mb")
    watchdog_start_grace: float = _setting("apps.watchdog_start_grace")

    # --- construction -----------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "AppsConfig":
        """Build from the validated platform settings (``load_settings()`` if None)."""
        settings = load_settings() if settings is None else settings
        values = {}
        for f in fields(cls):
            if "setting" in f.metadata:
                section, name = f.metadata["setting"].split(".")
                values[f.name] = _CASTS[f.type](settings[section][name])
        return cls(home=str(settings.home), store=str(settings.store_dir), base_url=settings.base_url,
                   hub_api_url=os.environ.get("JUPYTERHUB_API_URL") or settings.hub_api_url, **values)

    @property
    def start_slots(self) -> int:
        """``concurrent_starts``, with 0 meaning the CPUs this process may use."""
        if self.concurrent_starts > 0:
            return self.concurrent_starts
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            return max(1, os.cpu_count() or 1)

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
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})

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
        """The app registry's folder (its layout: ``bif_lib.apps.registry``)."""
        return self.home_dir / "apps"

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
        return self.gallery_path

    @property
    def hub_prefix(self) -> str:
        return f"{self.base_url}hub/"

    @property
    def voila_base_url(self) -> str:
        return f"{self.service_prefix}app/{VOILA_BASE_PLACEHOLDER}/"

    @property
    def local_url(self) -> str:
        return f"http://{local_host(self.ip)}:{self.port}"

    @property
    def voila_url(self) -> str:
        return f"http://127.0.0.1:{self.voila_port}"

