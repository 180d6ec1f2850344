"""A city profile: everything city-specific, as data.

``data_contracts/<city>/city.yaml`` names the city, its CRS and reference datasets, the
public source files (pinned URL and sha256 each) and the generated datasets; the
contracts beside it describe each dataset. Another municipality adopts BIF by adding
its own profile folder — no code changes (see docs/city-profiles.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bif_lib import config
from bif_lib.contracts import Contract, ContractError, load_contracts


@dataclass(frozen=True)
class SourceFile:
    path: str                 # path inside the city's data directory (= mirror layout)
    sha256: str | None = None  # required while pinned
    url: str | None = None    # pinned public URL of exactly this file
    upstream: dict | None = None  # or: {url, sha256, sql_table} — a table extracted from a pinned SQL dump
    bytes: int | None = None
    # false: the file is meant to change (a "latest" URL): no checksum is compared, new content is
    # accepted when it passes its contract and its checksum is recorded in the version's lineage
    # (docs/schedule.md, "Pinned and changing sources")
    pin: bool = True


@dataclass(frozen=True)
class CityProfile:
    key: str
    name: str
    directory: Path
    crs: str
    settings: dict
    sources: tuple[SourceFile, ...] = field(default_factory=tuple)

    @property
    def generated(self) -> dict:
        return self.settings.get("generated") or {}

    @property
    def attribution(self) -> str:
        return self.settings.get("attribution", "")

    def contracts(self) -> dict[str, Contract]:
        return load_contracts(self.directory)

    def source_dir(self, data_root: Path | None = None) -> Path:
        return (data_root or config.bif_home() / "sources") / self.key


def load_profile(key: str | None = None) -> CityProfile:
    directory = config.city_profile_dir(key)
    path = directory / "city.yaml"
    if not path.is_file():
        available = sorted(p.parent.name for p in config.contracts_root().glob("*/city.yaml"))
        raise ContractError(path, [("", None, f"Stadtprofil nicht gefunden; vorhanden: {', '.join(available) or 'keine'}")])
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [k for k in ("key", "name", "crs", "sources") if k not in settings]
    if missing:
        raise ContractError(path, [("", None, f"Pflichtangabe fehlt: {', '.join(missing)}")])
    sources = tuple(SourceFile(**s) for s in settings["sources"])
    for i, source in enumerate(sources):
        if source.pin and not source.sha256:
            raise ContractError(path, [(f"sources[{i}].sha256", None,
                                        f"{source.path}: Prüfsumme fehlt (oder die Datei mit „pin: false“ als "
                                        f"veränderlich kennzeichnen, docs/schedule.md)")])
        if not source.pin and source.upstream:
            raise ContractError(path, [(f"sources[{i}].pin", None,
                                        f"{source.path}: „pin: false“ braucht eine eigene Adresse (url), keinen "
                                        f"festen SQL-Dump")])
    return CityProfile(settings["key"], settings["name"], directory, settings["crs"], settings, sources)
