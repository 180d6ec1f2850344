"""Where BIF keeps its state, resolved from environment variables.

Everything a running BIF writes lives below one directory, ``BIF_HOME``
(default: ``var/`` in the checkout, so a developer's platform is self-contained).
Individual parts can be moved elsewhere, e.g. the store onto a protected volume.

==================  ===============================  ==========================
variable            meaning                          default
==================  ===============================  ==========================
``BIF_HOME``        root of all state                ``<checkout>/var``
``BIF_STORE``       verified data store              ``$BIF_HOME/store``
``BIF_CITY``        city profile in data_contracts/  ``flensburg``
``BIF_CONTRACTS``   folder with the city profiles    ``<checkout>/data_contracts``
``BIF_MIRROR``      local mirror of public sources   (unset: download)
``BIF_USER``        who ingests (recorded)           the OS user name
==================  ===============================  ==========================
"""

from __future__ import annotations

import getpass
import os
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
    return os.environ.get("BIF_CITY", "flensburg")


def city_profile_dir(name: str | None = None) -> Path:
    return contracts_root() / (name or city())


def mirror_dir() -> Path | None:
    value = os.environ.get("BIF_MIRROR")
    return Path(value).expanduser().resolve() if value else None


def current_user() -> str:
    return os.environ.get("BIF_USER") or getpass.getuser()
