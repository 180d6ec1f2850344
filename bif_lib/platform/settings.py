"""The platform's settings: schema defaults, ``hub_config/settings.yaml`` and environment variables.

One readable YAML file configures the hub, the apps service and the launcher. Every key, its
type and its default live in one place, the JSON Schema ``settings_schema.yaml`` beside this
module: the file holds only what an installation sets differently, and the schema fills in
the rest (a key left out or set to null gets its default). A few values that differ per
machine (addresses, ports, the authentication backend) can be overridden with environment
variables (``x-env`` in the schema), so the same file serves a developer laptop, CI and a
city's server::

    from bif_lib.platform.settings import load_settings
    settings = load_settings()
    settings.hub.port          # attribute access ...
    settings["apps"]["port"]   # ... or item access, the object is a dict
    settings.run_dir           # $BIF_HOME/run (derived paths are properties)

Mistakes are reported in German, naming the key (``SettingsError``): the schema's checks
(types, allowed values, unknown keys) and, in ``policy_problems``, the rules a schema cannot
express (roles that must exist, the statistics office's seal).

Secrets are never part of the file: tokens are generated on first use and kept in
``$BIF_HOME/run`` (mode 0600), passwords for directories come from environment variables.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

from bif_lib import config
from bif_lib.fsutil import write_private

SETTINGS_ENV = "BIF_HUB_SETTINGS"
DEFAULT_SETTINGS_FILE = config.PROJECT_ROOT / "hub_config" / "settings.yaml"
SCHEMA_FILE = Path(__file__).resolve().with_name("settings_schema.yaml")

APPS_SERVICE = "bif-apps"
TRAINING_SERVICE = "bif-training"
PARTICIPANTS_GROUP = "participants"
PUBLISH_SCOPE = "custom:bif-apps:publish"
# The sealed statistics office: the only group with the confidential data area. Nobody else
# may reach it through hub permissions (see :func:`role_problems` and docs/platform.md).
OFFICE_GROUP = "statistikstelle"
OPERATOR_GROUP = "admins"
OPERATOR_ROLE = "bif-operator"
BUILTIN_ADMIN_ROLE = "admin"  # JupyterHub's built-in role: bound to nobody in BIF
# keys of auth.ldap / auth.oidc that would make people hub admins through the directory
ADMIN_AUTH_KEYS = ("admin_users", "admin_groups")


@functools.cache
def schema() -> dict:
    """The settings schema (JSON Schema, draft 2020-12)."""
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(node: dict) -> dict:
    """``node`` with a local ``$ref`` (``#/$defs/...``) merged in."""
    ref = node.get("$ref")
    if not ref:
        return node
    return {**schema()["$defs"][ref.rsplit("/", 1)[1]], **node}


_PROPERTIES = schema()["properties"]
BIF_GROUPS: tuple[str, ...] = tuple(_PROPERTIES["groups"]["required"])
_PYTHON_TYPES = {"integer": int, "number": float, "string": str}

# environment variable -> (section, key, type), from ``x-env`` in the schema
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    prop["x-env"]: (section, key, _PYTHON_TYPES[_resolve(prop).get("type", "string")])
    for section, spec in _PROPERTIES.items()
    for key, prop in spec.get("properties", {}).items() if "x-env" in prop
}


class SettingsError(ValueError):
    """The settings file is missing, unreadable or inconsistent (message in German)."""


def local_host(ip: str) -> str:
    """Where a service listening on ``ip`` is reached on this machine."""
    return "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip


class Layout:
    """What the platform's ``Settings`` and the apps service's ``AppsConfig`` derive alike
    from ``home`` (``BIF_HOME``) and ``base_url``."""

    @property
    def run_dir(self) -> Path:
        """Pid files and generated tokens (mode 0700)."""
        return Path(self.home) / "run"

    @property
    def logs_dir(self) -> Path:
        return Path(self.home) / "logs"

    @property
    def gallery_path(self) -> str:
        """The apps service's path below the hub's proxy (``/services/bif-apps/``)."""
        return f"{self.base_url}services/{APPS_SERVICE}/"

    @property
    def training_path(self) -> str:
        """The trainer page's path below the hub's proxy (``/services/bif-training/``)."""
        return f"{self.base_url}services/{TRAINING_SERVICE}/"


class Settings(Layout, dict):
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
    def store_dir(self) -> Path:
        return Path(self["paths"]["store"])

    @property
    def users_file(self) -> Path:
        return self.hub_dir / "users.json"

    @property
    def training_dir(self) -> Path:
        """Training cohorts: credentials sheets and archives (root only, mode 0700)."""
        return self.home / "training"

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
        return f"http://{local_host(self['hub']['ip'])}:{self['hub']['port']}{self.base_url}"

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
    def training_url(self) -> str:
        """Where the training service listens (the hub proxies ``/services/bif-training/`` to it)."""
        return f"http://127.0.0.1:{self['training']['port']}"

    @property
    def apps_url(self) -> str:
        """Where the apps service listens (the hub proxies ``/services/bif-apps/`` to it)."""
        return f"http://{local_host(self['apps']['ip'])}:{self['apps']['port']}"


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
            expected = next(_TYPE_NAMES[k] for k, v in _PYTHON_TYPES.items() if v is typ)
            raise SettingsError(f"Umgebungsvariable {var}={raw!r}: erwartet {expected}") from None
        section_data = data.get(section)
        if not isinstance(section_data, dict):
            section_data = data[section] = {}
        section_data[key] = value
    return data


# --- the schema: defaults and German messages ----------------------------------------------

def fill_defaults(data: Any, node: dict | None = None) -> Any:
    """Put the schema's ``default`` into every key of ``data`` that is missing or null, at
    every level (in place; the keys the schema knows in its order); returns ``data``."""
    node = _resolve(schema() if node is None else node)
    if not isinstance(data, dict):
        return data
    known = node.get("properties", {})
    given = dict(data)
    data.clear()
    for name, sub in known.items():
        sub = _resolve(sub)
        if given.get(name) is None and "default" in sub:
            given[name] = copy.deepcopy(sub["default"])
        if name in given:
            data[name] = fill_defaults(given.pop(name), sub)
    data.update(given)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in data.items():
            if name not in known:
                fill_defaults(value, extra)
    return data


def defaults() -> Settings:
    """The settings as the schema's defaults make them (no paths: they come with loading)."""
    return _wrap(fill_defaults({}))


def with_defaults(data: dict) -> dict:
    """A copy of the settings ``data`` with the schema's defaults filled in (unchecked)."""
    return fill_defaults(copy.deepcopy(data))


_TYPE_NAMES = {"integer": "eine ganze Zahl", "number": "eine Zahl", "string": "ein Text",
               "boolean": "true oder false", "array": "eine Liste", "object": "eine Zuordnung (mapping)",
               "null": "nichts"}
_MESSAGES = {  # per JSON Schema keyword; a schema's x-error takes precedence
    "type": "{path}: erwartet {expected}, nicht {value}",
    "enum": "{path}={value}: erlaubt sind {allowed}",
    "required": "{path}: es fehlt {names}",
    "additionalProperties": "{path}: unbekannte Schlüssel {names}",
    "minimum": "{path}={value}: mindestens {limit}",
    "exclusiveMinimum": "{path}={value}: muss größer als {limit} sein",
    "maximum": "{path}={value}: höchstens {limit}",
    "maxLength": "{path}={value}: höchstens {limit} Zeichen",
    "pattern": "{path}={value}: ungültig",
}
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _where(path) -> str:
    """``hub.port``, ``auth.ldap.group_mapping['cn=x,dc=y']``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "Einstellungen"


def _problem(error) -> str:
    """One German sentence for a ``jsonschema.ValidationError``, naming the key path."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    custom = error.schema.get("x-error", {}) if isinstance(error.schema, dict) else {}
    template = custom if isinstance(custom, str) else custom.get(keyword) or _MESSAGES.get(keyword)
    names: list[str] = []
    if keyword == "required":
        names = [n for n in expected if n not in instance]
    elif keyword == "additionalProperties":
        names = sorted(set(instance) - set(error.schema.get("properties", {})))
    types = expected if isinstance(expected, list) else [expected]
    return (template or "{path}={value}: ungültig ({keyword})").format(
        path=_where(error.absolute_path), value=repr(instance), names=", ".join(names), keyword=keyword,
        allowed=", ".join(map(str, expected)) if keyword == "enum" else "", limit=expected,
        expected=" oder ".join(_TYPE_NAMES.get(t, str(t)) for t in types) if keyword == "type" else "")


def schema_problems(data: dict) -> list[str]:
    """What in ``data`` (defaults filled in) the schema refuses, in German."""
    import jsonschema  # imported here: it costs about a second, and bif_lib.apps imports this module

    problems = [_problem(e) for e in jsonschema.Draft202012Validator(schema()).iter_errors(data)]
    return list(dict.fromkeys(problems))  # one line for several missing groups


def validate(data: dict) -> None:
    """Fill in the defaults (in place) and check the settings for mistakes a city's IT could
    make: first against the schema, then the policy; raise ``SettingsError`` (German)."""
    fill_defaults(data)
    problems = schema_problems(data) or policy_problems(data)
    if problems:
        raise SettingsError("Fehler in den Plattform-Einstellungen: " + "; ".join(problems))


def policy_problems(data: dict) -> list[str]:
    """What the schema cannot check: every role a group holds is defined, nobody holds
    JupyterHub's ``admin`` role, nobody but the office has the confidential data area or a
    role that opens it (``role_problems``), and nobody becomes hub admin through the directory."""
    problems: list[str] = []
    groups, roles = data["groups"], data["roles"]
    for name, spec in groups.items():
        for role in spec["roles"]:
            if role == BUILTIN_ADMIN_ROLE and name == OPERATOR_GROUP:
                problems.append(
                    "admins dürfen nicht an JupyterHubs eingebaute Rolle 'admin' gebunden sein: sie "
                    "umfasst Zugang zu allen Servern, Tokens und Gruppen, also auch zur Statistikstelle; "
                    f"der Betrieb erhält die Rolle '{OPERATOR_ROLE}'")
            elif role == BUILTIN_ADMIN_ROLE:
                problems.append(
                    f"Gruppe {name}: JupyterHubs eingebaute Rolle 'admin' ist nicht erlaubt (Zugang zu "
                    "allen Servern, Tokens und Gruppen, auch zur Statistikstelle)")
            elif role not in roles:
                problems.append(f"Gruppe {name}: Rolle {role!r} ist nicht definiert")
        if "confidential" in spec["data_areas"] and name != OFFICE_GROUP:
            problems.append(f"Gruppe {name}: den vertraulichen Datenbereich hat nur die Statistikstelle "
                            "(Statistikgeheimnis)")
    if BUILTIN_ADMIN_ROLE in roles:
        problems.append("Rolle 'admin' darf in 'roles' nicht definiert werden: das ist JupyterHubs "
                        "eingebaute Admin-Rolle, die in BIF niemand erhält")
    if groups["planners"]["data_areas"]:
        problems.append("planners haben keinen eigenen Server und daher keine Datenbereiche")
    problems += catalog_problems(data.get("catalog") or {})
    for backend in ("ldap", "oidc"):
        for key in ADMIN_AUTH_KEYS:
            if data["auth"][backend].get(key):
                problems.append(
                    f"auth.{backend}.{key}: in BIF wird niemand Hub-Admin, auch nicht über das "
                    f"Verzeichnis; der Betrieb erhält über die Gruppe {OPERATOR_GROUP} die Rolle {OPERATOR_ROLE}")
    return problems or role_problems(groups, roles)


def catalog_problems(catalog: dict) -> list[str]:
    """The catalog's settings: PostgreSQL needs a URL, SQLite none, and the URL never carries a
    user or a password (roles are their own keys, passwords come from the environment)."""
    url = str(catalog.get("url") or "")
    if catalog.get("backend") != "postgresql":
        return ["catalog.url ist gesetzt, catalog.backend aber sqlite: für PostgreSQL bitte catalog.backend: "
                "postgresql setzen, sonst catalog.url leer lassen"] if url else []
    if not url:
        return ["catalog.backend ist postgresql, aber catalog.url fehlt (z. B. postgresql://server:5432/bif_catalog)"]
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        credentials = bool(parts.username or parts.password)
    except ValueError:
        parts, credentials = None, False
    if parts is None or parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        return [f"catalog.url={url!r}: erwartet postgresql://server:5432/datenbank"]
    if credentials or re.search(r"(^|[?&])(user|password)=", parts.query):
        return ["catalog.url: ohne Benutzer und Passwort angeben – die Rollen stehen in catalog.writer_role und "
                "catalog.reader_role, die Passwörter kommen aus BIF_CATALOG_WRITER_PASSWORD und "
                "BIF_CATALOG_READER_PASSWORD (oder ~/.pgpass), nie aus der Einstellungsdatei"]
    return []


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
    """Read the settings file, apply ``overrides`` and environment variables, fill in the
    schema's defaults, validate.

    ``path`` defaults to ``$BIF_HUB_SETTINGS`` or ``hub_config/settings.yaml``.
    Environment variables win over the file and over ``overrides``.
    """
    environ = os.environ if environ is None else environ
    source = Path(path) if path else settings_path()
    data = read_yaml(source)
    if overrides:
        data = deep_merge(data, overrides)
    apply_env(data, environ)
    _platform_name_from_profile(data)
    validate(data)
    paths = data.setdefault("paths", {})
    paths.setdefault("home", str(config.bif_home()))
    paths.setdefault("store", str(config.store_dir()))
    paths["settings_file"] = str(source.resolve())
    return _wrap(data)


def _platform_name_from_profile(data: dict) -> None:
    """``platform.name`` left out: „BIF – “ and the city profile's ``platform_title`` (no city text
    in hub_config/settings.yaml; docs/city-profiles.md). Without a readable profile: the schema default."""
    platform = data.get("platform")
    if not isinstance(platform, dict):
        platform = data["platform"] = {}
    if platform.get("name"):
        return
    from bif_lib.city.profile import current_profile
    from bif_lib.contracts import ContractError

    try:
        platform["name"] = f"BIF – {current_profile().platform_title}"
    except (ContractError, OSError, RuntimeError):  # no usable profile: the schema's default name
        pass


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
    write_private(path, value + "\n")
    return value


CATALOG_WRITER_PASSWORD = "BIF_CATALOG_WRITER_PASSWORD"
CATALOG_READER_PASSWORD = "BIF_CATALOG_READER_PASSWORD"


def catalog_env(env: dict, settings: Settings, *, writer: bool = False,
                environ: dict[str, str] | os._Environ = os.environ) -> dict:
    """``env`` (changed in place and returned) naming the catalog for a process the platform starts
    (``config.catalog_connection``): nothing for SQLite; for PostgreSQL the URL, the role and its
    password — the writer's only for processes that write (``writer``: the audit service, which
    ingests for the office). The writer's password never reaches anything else, so no kernel
    can change the catalog; the reader's may (the catalog holds no confidential values)."""
    for name in (config.CATALOG_URL_ENV, config.CATALOG_USER_ENV, config.CATALOG_PASSWORD_ENV,
                 CATALOG_WRITER_PASSWORD):
        env.pop(name, None)
    catalog = settings["catalog"]
    if catalog["backend"] != "postgresql":
        return env
    env[config.CATALOG_URL_ENV] = catalog["url"]
    env[config.CATALOG_USER_ENV] = catalog["writer_role" if writer else "reader_role"]
    password = environ.get(CATALOG_WRITER_PASSWORD if writer else CATALOG_READER_PASSWORD)
    if password:
        env[config.CATALOG_PASSWORD_ENV] = password
    return env


def _catalog_of_settings_file(environ) -> dict | None:
    """The ``catalog:`` section of the settings file with its defaults, read cheaply (the full
    ``load_settings`` takes a second); None for SQLite or an unreadable file."""
    try:
        data = yaml.safe_load(settings_path().read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None  # the command itself reports a broken settings file where it needs one
    section = data.get("catalog") if isinstance(data, dict) else None
    catalog = {key: spec.get("default") for key, spec in _PROPERTIES["catalog"]["properties"].items()}
    catalog.update(section if isinstance(section, dict) else {})
    catalog["backend"] = environ.get("BIF_CATALOG_BACKEND") or catalog["backend"]
    catalog["url"] = environ.get(config.CATALOG_URL_ENV) or catalog.get("url") or ""
    return catalog if catalog["backend"] == "postgresql" and catalog["url"] else None


def catalog_env_for_shell(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """``bif`` typed in a shell: name the catalog that settings.yaml chooses (``catalog:``), so that
    root's ``bif ingest`` writes where the platform reads; root gets the writer's role, others the
    reader's. Nothing changes when the environment already names a catalog."""
    if environ.get(config.CATALOG_URL_ENV):
        return
    catalog = _catalog_of_settings_file(environ)
    if catalog:
        # into a fresh dict: catalog_env drops the writer's password from what it fills, and
        # `bif platform start` still needs it in this process's environment for the audit service
        environ.update(catalog_env({}, Settings({"catalog": catalog}), writer=os.geteuid() == 0, environ=environ))


def catalog_env_for_readers(environ: dict[str, str] | os._Environ = os.environ) -> dict:
    """The catalog for code BIF does not trust (a notebook under its publication check): always
    the readers' role, whoever runs the check — root's shell and the scheduler hold the writers'."""
    if not environ.get(config.CATALOG_URL_ENV):
        return {}
    catalog = _catalog_of_settings_file(environ) or {
        "backend": "postgresql", "url": environ[config.CATALOG_URL_ENV],
        "reader_role": _PROPERTIES["catalog"]["properties"]["reader_role"]["default"]}
    reader = catalog_env({}, Settings({"catalog": catalog}), writer=False, environ=environ)
    if not reader.get(config.CATALOG_PASSWORD_ENV) and environ.get(config.CATALOG_USER_ENV) == reader.get(
            config.CATALOG_USER_ENV) and environ.get(config.CATALOG_PASSWORD_ENV):
        reader[config.CATALOG_PASSWORD_ENV] = environ[config.CATALOG_PASSWORD_ENV]  # already the reader (apps service)
    return reader


def apps_api_token(settings: Settings) -> str:
    """API token of the ``bif-apps`` service (env ``BIF_APPS_API_TOKEN`` or generated)."""
    return ensure_secret(settings, "apps_api_token", env="BIF_APPS_API_TOKEN")


def platform_api_token(settings: Settings) -> str:
    """API token of ``bif-platform``, the launcher's and the CLI's hub service."""
    return ensure_secret(settings, "platform_api_token", env="BIF_PLATFORM_API_TOKEN")


def proxy_auth_token(settings: Settings) -> str:
    """Token shared by hub and configurable-http-proxy (``CONFIGPROXY_AUTH_TOKEN``)."""
    return ensure_secret(settings, "proxy_auth_token", env="CONFIGPROXY_AUTH_TOKEN")
