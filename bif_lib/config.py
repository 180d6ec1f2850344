"""Where BIF keeps its state, resolved from environment variables.

Everything a running BIF writes lives below one directory, ``BIF_HOME``
(default: ``var/`` in the checkout, so a developer's platform is self-contained).
Individual parts can be moved elsewhere, e.g. the store onto a protected volume.

==================  ===============================  ==========================
variable            meaning                          default
==================  ===============================  ==========================
``BIF_HOME``        root of all state                ``<checkout>/var``
``BIF_STORE``       verified data store              ``$BIF_HOME/store``
``BIF_CITY``        city profile in data_contracts/  ``data_contracts/default.yaml``
``BIF_CONTRACTS``   folder with the city profiles    ``<checkout>/data_contracts``
``BIF_MIRROR``      local mirror of public sources   (unset: download)
``BIF_OPENDATA``    open data site (static folder)   ``$BIF_HOME/opendata``
``BIF_USER``        who ingests (recorded)           the OS user name
==================  ===============================  ==========================

``BIF_STANDARDS_MIRROR`` is a local mirror of the pinned standards open data is validated against
(SHACL shapes, ``bif_lib.opendata``); default ``../shared/standards`` beside the checkout if it
exists, otherwise they are downloaded from their pinned URLs.

The catalog of the store ``BIF_STORE`` is ``$BIF_STORE/catalog.sqlite`` unless
``BIF_CATALOG_URL`` names a PostgreSQL database (``postgresql://server:5432/bif``); then
``BIF_CATALOG_USER`` and ``BIF_CATALOG_PASSWORD`` are the role and its password (or libpq's
own ``~/.pgpass``). The launcher sets them from the settings (``catalog:``, docs/store.md).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def bif_home() -> Path:
    return _path_from_env("BIF_HOME", PROJECT_ROOT / "var")


def store_dir() -> Path:
    return _path_from_env("BIF_STORE", bif_home() / "store")


def contracts_root() -> Path:
    return _path_from_env("BIF_CONTRACTS", PROJECT_ROOT / "data_contracts")


def city() -> str:
    """The city profile's key: ``BIF_CITY``, else the default named in ``<contracts>/default.yaml``."""
    return os.environ.get("BIF_CITY") or default_city()


def default_city() -> str:
    import yaml  # here: config is imported by every process, most never need the default

    path = contracts_root() / "default.yaml"
    try:
        return str(yaml.safe_load(path.read_text(encoding="utf-8"))["city"])
    except (OSError, TypeError, KeyError, yaml.YAMLError):
        profiles = sorted(p.parent.name for p in contracts_root().glob("*/city.yaml"))
        if len(profiles) == 1:
            return profiles[0]
        raise RuntimeError(f"{path}: kein Standard-Stadtprofil (city: …) – BIF_CITY setzen; "
                           f"vorhanden: {', '.join(profiles) or 'keine'}") from None


def city_env() -> dict[str, str]:
    """The variables that make a child process use the same city profile as this one."""
    env = {"BIF_CITY": city()}
    if os.environ.get("BIF_CONTRACTS"):
        env["BIF_CONTRACTS"] = str(contracts_root())
    return env


def city_profile_dir(name: str | None = None) -> Path:
    return contracts_root() / (name or city())


def mirror_dir() -> Path | None:
    value = os.environ.get("BIF_MIRROR")
    return Path(value).expanduser().resolve() if value else None


def standards_mirror_dir() -> Path | None:
    """Local mirror of the pinned standards open data is validated against (``bif_lib.opendata``):
    ``BIF_STANDARDS_MIRROR``, else ``../shared/standards`` beside the checkout if it exists."""
    value = os.environ.get("BIF_STANDARDS_MIRROR")
    if value:
        return Path(value).expanduser().resolve()
    beside = PROJECT_ROOT.parent / "shared" / "standards"
    return beside if beside.is_dir() else None


def opendata_dir() -> Path:
    return _path_from_env("BIF_OPENDATA", bif_home() / "opendata")


def current_user() -> str:
    return os.environ.get("BIF_USER") or getpass.getuser()


CATALOG_URL_ENV = "BIF_CATALOG_URL"
CATALOG_USER_ENV = "BIF_CATALOG_USER"
CATALOG_PASSWORD_ENV = "BIF_CATALOG_PASSWORD"


def catalog_connection() -> dict[str, str] | None:
    """The PostgreSQL catalog of ``store_dir()`` as ``{"url", "user", "password"}`` (user and
    password may be empty), or None: the catalog is the SQLite file in the store."""
    url = os.environ.get(CATALOG_URL_ENV, "").strip()
    if not url:
        return None
    return {"url": url, "user": os.environ.get(CATALOG_USER_ENV, "").strip(),
            "password": os.environ.get(CATALOG_PASSWORD_ENV, "")}


@contextmanager
def environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) environment variables of this process for a ``with`` block, then
    restore them as they were."""
    saved = {key: os.environ.get(key) for key in changes}
    try:
        for key, value in changes.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
