"""The platform's settings: ``hub_config/settings.yaml`` merged with environment variables.

One readable YAML file configures the hub, the apps service and the launcher. A few
values that differ per machine (addresses, ports, the authentication backend) can be
overridden with environment variables, so the same file serves a developer laptop,
CI and a city's server::

    from bif_lib.platform.settings import load_settings
    settings = load_settings()
    settings.hub.port          # attribute access ...
    settings["apps"]["port"]   # ... or item access, the object is a dict
    settings.run_dir           # $BIF_HOME/run (derived paths are properties)

Secrets are never part of the file: tokens are generated on first use and kept in
``$BIF_HOME/run`` (mode 0600), passwords for directories come from environment variables.
"""

from __future__ import annotations

import copy
import os
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from bif_lib import config

SETTINGS_ENV = "BIF_HUB_SETTINGS"
DEFAULT_SETTINGS_FILE = config.PROJECT_ROOT / "hub_config" / "settings.yaml"

BIF_GROUPS = ("analysts", "planners", "trainers", "statistikstelle", "admins")
AUTH_BACKENDS = ("local", "ldap", "oidc")
ACCOUNT_MODES = ("auto", "separate", "single")
DATA_AREAS = ("internal", "confidential")
APPS_SERVICE = "bif-apps"
PUBLISH_SCOPE = "custom:bif-apps:publish"
# The sealed statistics office: the only group with the confidential data area. Nobody else
# may reach it through hub permissions (see :func:`role_problems` and docs/platform.md).
OFFICE_GROUP = "statistikstelle"
OPERATOR_GROUP = "admins"
OPERATOR_ROLE = "bif-operator"
BUILTIN_ADMIN_ROLE = "admin"  # JupyterHub's built-in role: bound to nobody in BIF
# keys of auth.ldap / auth.oidc that would make people hub admins through the directory
ADMIN_AUTH_KEYS = ("admin_users", "admin_groups")

# environment variable -> (section, key, type)
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "BIF_HUB_IP": ("hub", "ip", str),
    "BIF_HUB_PORT": ("hub", "port", int),
    "BIF_HUB_INTERNAL_PORT": ("hub", "internal_port", int),
    "BIF_PROXY_API_PORT": ("hub", "proxy_api_port", int),
    "BIF_HUB_BASE_URL": ("hub", "base_url", str),
    "BIF_HUB_PUBLIC_URL": ("hub", "public_url", str),
    "BIF_ACCOUNT_MODE": ("accounts", "mode", str),
    "BIF_ACCOUNT_PREFIX": ("accounts", "user_prefix", str),
    "BIF_HOME_ROOT": ("accounts", "home_root", str),
    "BIF_AUTH_BACKEND": ("auth", "backend", str),
    "BIF_CULL_TIMEOUT": ("culler", "timeout", int),
    "BIF_APPS_PORT": ("apps", "port", int),
    "BIF_VOILA_PORT": ("apps", "voila_port", int),
    "BIF_APPS_OS_USER": ("apps", "os_user", str),
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class SettingsError(ValueError):
    """The settings file is missing, unreadable or inconsistent (message in German)."""


class Settings(dict):
    """A dict with attribute access (like ``traitlets.config.Config``) and derived paths."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return value

    def __deepcopy__(self, memo):
        return type(self)(copy.deepcopy(dict(self), memo))

    # --- derived paths -------------------------------------------------------------
    @property
    def home(self) -> Path:
        """``BIF_HOME``: root of all state."""
        return Path(self["paths"]["home"])

    @property
    def hub_dir(self) -> Path:
        """Hub state: database, cookie secret, local user store (mode 0700)."""
        return self.home / "hub"

    @property
    def run_dir(self) -> Path:
        """Pid files and generated tokens (mode 0700)."""
        return self.home / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def store_dir(self) -> Path:
        return Path(self["paths"]["store"])

    @property
    def users_file(self) -> Path:
        return self.hub_dir / "users.json"

    @property
    def single_homes_dir(self) -> Path:
        """Homes of the users in single-account mode (no OS accounts)."""
        return self.home / "homes"

    @property
    def source_file(self) -> Path | None:
        value = self.get("paths", {}).get("settings_file")
        return Path(value) if value else None

    # --- derived URLs --------------------------------------------------------------
    @property
    def base_url(self) -> str:
        base = "/" + self["hub"]["base_url"].strip("/")
        return base if base.endswith("/") else base + "/"

    @property
    def local_url(self) -> str:
        """The proxy's URL on this machine (health checks, tests)."""
        ip = self["hub"]["ip"]
        host = "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip
        return f"http://{host}:{self['hub']['port']}{self.base_url}"

    @property
    def public_url(self) -> str:
        """The URL people use (``hub.public_url`` or the local URL)."""
        public = self["hub"].get("public_url") or ""
        if public:
            return public.rstrip("/") + self.base_url
        return self.local_url

    @property
    def hub_api_url(self) -> str:
        return f"http://127.0.0.1:{self['hub']['internal_port']}{self.base_url}hub/api"

    @property
    def proxy_api_url(self) -> str:
        return f"http://127.0.0.1:{self['hub']['proxy_api_port']}"

    @property
    def apps_url(self) -> str:
        """Where the apps service listens (the hub proxies ``/services/bif-apps/`` to it)."""
        return f"http://127.0.0.1:{self['apps']['port']}"

    @property
    def gallery_path(self) -> str:
        return f"{self.base_url}services/{APPS_SERVICE}/"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Settings({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def settings_path() -> Path:
    value = os.environ.get(SETTINGS_ENV)
    return Path(value).expanduser().resolve() if value else DEFAULT_SETTINGS_FILE


def read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise SettingsError(f"Einstellungsdatei fehlt: {path}") from None
    except yaml.YAMLError as e:
        raise SettingsError(f"Einstellungsdatei {path} ist kein gültiges YAML: {e}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"Einstellungsdatei {path}: erwartet wird eine Zuordnung (mapping)")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively with ``override`` (neither is modified)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_env(data: dict, environ: dict[str, str] | os._Environ = os.environ) -> dict:
    """Apply the ``ENV_OVERRIDES`` present in ``environ`` to ``data`` (in place)."""
    for var, (section, key, typ) in ENV_OVERRIDES.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = typ(raw)
        except ValueError:
            raise SettingsError(f"Umgebungsvariable {var}={raw!r}: erwartet {typ.__name__}") from None
        data.setdefault(section, {})[key] = value
    return data


def validate(data: dict) -> None:
    """Check the settings for mistakes a city's IT could make; raise ``SettingsError``."""
    problems: list[str] = []
    for section in ("hub", "accounts", "auth", "groups", "roles", "apps"):
        if not isinstance(data.get(section), dict):
            problems.append(f"Abschnitt '{section}' fehlt")
    if problems:
        raise SettingsError("; ".join(problems))

    hub = data["hub"]
    for key in ("port", "internal_port", "proxy_api_port"):
        if not isinstance(hub.get(key), int) or not 0 < hub[key] < 65536:
            problems.append(f"hub.{key} muss eine Portnummer sein")
    for key in ("port", "voila_port"):
        if not isinstance(data["apps"].get(key), int):
            problems.append(f"apps.{key} muss eine Portnummer sein")

    mode = data["accounts"].get("mode")
    if mode not in ACCOUNT_MODES:
        problems.append(f"accounts.mode={mode!r}: erlaubt sind {', '.join(ACCOUNT_MODES)}")
    prefix = data["accounts"].get("user_prefix") or ""
    if prefix and not re.match(r"^[a-z][a-z0-9_-]*$", prefix):
        problems.append(f"accounts.user_prefix={prefix!r}: nur Kleinbuchstaben, Ziffern, - und _")

    backend = data["auth"].get("backend")
    if backend not in AUTH_BACKENDS:
        problems.append(f"auth.backend={backend!r}: erlaubt sind {', '.join(AUTH_BACKENDS)}")

    groups = data["groups"]
    roles = data["roles"]
    unknown = sorted(set(groups) - set(BIF_GROUPS))
    missing = sorted(set(BIF_GROUPS) - set(groups))
    if unknown:
        problems.append(f"unbekannte Gruppen: {', '.join(unknown)}")
    if missing:
        problems.append(f"fehlende Gruppen: {', '.join(missing)}")
    for name, spec in groups.items():
        for role in spec.get("roles", []):
            if role == BUILTIN_ADMIN_ROLE:
                if name == OPERATOR_GROUP:
                    problems.append(
                        "admins dürfen nicht an JupyterHubs eingebaute Rolle 'admin' gebunden sein: sie "
                        "umfasst Zugang zu allen Servern, Tokens und Gruppen, also auch zur Statistikstelle; "
                        f"der Betrieb erhält die Rolle '{OPERATOR_ROLE}'")
                else:
                    problems.append(
                        f"Gruppe {name}: JupyterHubs eingebaute Rolle 'admin' ist nicht erlaubt (Zugang zu "
                        "allen Servern, Tokens und Gruppen, auch zur Statistikstelle)")
            elif role not in roles:
                problems.append(f"Gruppe {name}: Rolle {role!r} ist nicht definiert")
        for area in spec.get("data_areas", []):
            if area not in DATA_AREAS:
                problems.append(f"Gruppe {name}: Datenbereich {area!r} unbekannt")
        if "confidential" in spec.get("data_areas", []) and name != OFFICE_GROUP:
            problems.append(f"Gruppe {name}: den vertraulichen Datenbereich hat nur die Statistikstelle "
                            "(Statistikgeheimnis)")
    for name, spec in roles.items():
        if not _NAME_RE.match(name):
            problems.append(f"Rollenname {name!r} ungültig")
        if name == BUILTIN_ADMIN_ROLE:
            problems.append("Rolle 'admin' darf in 'roles' nicht definiert werden: das ist JupyterHubs "
                            "eingebaute Admin-Rolle, die in BIF niemand erhält")
        if not isinstance(spec.get("scopes"), list):
            problems.append(f"Rolle {name}: 'scopes' muss eine Liste sein")
    if not problems:
        problems.extend(role_problems(groups, roles))
    if "planners" in groups and groups["planners"].get("data_areas"):
        problems.append("planners haben keinen eigenen Server und daher keine Datenbereiche")

    for backend_name in ("ldap", "oidc"):
        section = data["auth"].get(backend_name) or {}
        mapping = section.get("group_mapping") or {}
        for source, target in mapping.items():
            if target not in BIF_GROUPS:
                problems.append(
                    f"auth.{backend_name}.group_mapping: {source!r} -> {target!r} ist keine BIF-Gruppe"
                )
        for key in ADMIN_AUTH_KEYS:
            if section.get(key):
                problems.append(
                    f"auth.{backend_name}.{key}: in BIF wird niemand Hub-Admin, auch nicht über das "
                    f"Verzeichnis; der Betrieb erhält über die Gruppe {OPERATOR_GROUP} die Rolle {OPERATOR_ROLE}")
    if problems:
        raise SettingsError("Fehler in den Plattform-Einstellungen: " + "; ".join(problems))


# --- the sealed office in the role definitions ----------------------------------------------
#
# What a scope grants is read from the installed JupyterHub's own hierarchy
# (``jupyterhub.scopes.scope_definitions``), so that a scope which merely *implies*
# another one is caught too (``shares`` includes ``access:servers``, ``admin:groups``
# includes ``groups`` and ``delete:groups``, ``self`` means the own server and tokens).

def _granted(scope: str) -> set[tuple[str, str]]:
    """(scope, filter) pairs that ``scope`` grants, e.g. ``shares!user`` ->
    {("shares", "user"), ("access:servers", "user"), ...}. The filter is the text after ``!``."""
    from jupyterhub.scopes import scope_definitions

    base, _, filter_ = scope.partition("!")
    if base == "self":  # JupyterHub's metascope: the user's own resources
        todo, filter_ = ["read:users", "users:shares", "read:shares", "users:activity", "servers", "tokens",
                         "access:servers"], "user"
    else:
        todo = [base]
    seen: set[str] = set()
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(scope_definitions.get(current, {}).get("subscopes", []))
    return {(s, filter_) for s in seen}


def _group_filter_ok(filter_: str) -> bool:
    kind, _, value = filter_.partition("=")
    return kind == "group" and bool(value) and value != OFFICE_GROUP


def role_problems(groups: dict, roles: dict) -> list[str]:
    """German problems of roles that would let people outside the office reach it.

    For every role bound to a group other than ``statistikstelle`` (and for ``user``, which
    everybody has): no ``access:servers`` except ``!user`` (the own server), no ``tokens``
    except ``!user`` (no tokens for other people, which would carry their access), no
    ``admin:users`` (rename accounts – a renamed account starts the server of another
    person's OS account – and read authentication state). For every role, the office's
    included: group changes (``groups``, ``admin:groups``, ``delete:groups``) only with a
    ``!group=<name>`` filter that is not ``statistikstelle`` (admission is break-glass only).
    """
    problems: list[str] = []
    bound: dict[str, list[str]] = {"user": sorted(groups)}
    for group, spec in groups.items():
        for role in spec.get("roles", []):
            bound.setdefault(role, []).append(group)
    for role, spec in roles.items():
        holders = sorted(bound.get(role, []))
        outside = [g for g in holders if g != OFFICE_GROUP]
        if not holders:
            continue
        where = f"Rolle {role} (Gruppe(n) {', '.join(holders)})"
        for scope in spec.get("scopes") or []:
            granted = _granted(str(scope))
            # nobody, not even a member alone, adds people to the office through the hub
            if any(b in ("groups", "admin:groups", "delete:groups") and not _group_filter_ok(f)
                   for b, f in granted):
                problems.append(f"{where}: {scope!r} erlaubt Änderungen an Gruppen ohne Filter, der die "
                                f"Statistikstelle ausschließt; nur mit '!group=<Gruppe>' und nie für "
                                f"{OFFICE_GROUP!r}")
            if not outside:
                continue
            if any(b == "access:servers" and f != "user" for b, f in granted):
                problems.append(f"{where}: {scope!r} öffnet fremde JupyterLab-Server; erlaubt ist nur "
                                "'access:servers!user' (der eigene Server)")
            if any(b == "tokens" and f != "user" for b, f in granted):
                problems.append(f"{where}: {scope!r} erlaubt Tokens für andere Personen (und damit deren "
                                "Zugang); erlaubt ist nur 'tokens!user'")
            if any(b == "admin:users" for b, _ in granted):
                problems.append(f"{where}: {scope!r} enthält 'admin:users' (Konten umbenennen, "
                                "Anmeldedaten lesen) und ist außerhalb der Statistikstelle nicht erlaubt")
    return problems


def load_settings(
    path: str | Path | None = None,
    overrides: dict | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the settings file, apply ``overrides`` and environment variables, validate.

    ``path`` defaults to ``$BIF_HUB_SETTINGS`` or ``hub_config/settings.yaml``.
    Environment variables win over the file and over ``overrides``.
    """
    environ = os.environ if environ is None else environ
    source = Path(path) if path else settings_path()
    data = read_yaml(source)
    if overrides:
        data = deep_merge(data, overrides)
    apply_env(data, environ)
    validate(data)
    paths = data.setdefault("paths", {})
    paths.setdefault("home", str(config.bif_home()))
    paths.setdefault("store", str(config.store_dir()))
    paths["settings_file"] = str(source.resolve())
    return _wrap(data)


# --- secrets -------------------------------------------------------------------------

def ensure_secret(settings: Settings, name: str, env: str | None = None, nbytes: int = 32) -> str:
    """Return the token ``name`` from ``$BIF_HOME/run/<name>``; create it (0600) if missing.

    If the environment variable ``env`` is set, its value wins (e.g. on Kubernetes,
    where secrets come from the cluster).
    """
    if env and os.environ.get(env):
        return os.environ[env]
    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / name
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = secrets.token_hex(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def apps_api_token(settings: Settings) -> str:
    """API token of the ``bif-apps`` service (env ``BIF_APPS_API_TOKEN`` or generated)."""
    return ensure_secret(settings, "apps_api_token", env="BIF_APPS_API_TOKEN")


def platform_api_token(settings: Settings) -> str:
    """API token of ``bif-platform``, the launcher's and the CLI's hub service."""
    return ensure_secret(settings, "platform_api_token", env="BIF_PLATFORM_API_TOKEN")


def proxy_auth_token(settings: Settings) -> str:
    """Token shared by hub and configurable-http-proxy (``CONFIGPROXY_AUTH_TOKEN``)."""
    return ensure_secret(settings, "proxy_auth_token", env="CONFIGPROXY_AUTH_TOKEN")
