"""A city profile: everything city-specific, as data.

``data_contracts/<city>/city.yaml`` names the city, its CRS and reference datasets, the
public source files (pinned URL and sha256 each) and the generated datasets; the
contracts beside it describe each dataset. Another municipality adopts BIF by adding
its own profile folder — no code changes (see docs/city-profiles.md).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
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
    # true: the file ships with the profile, in ``<profile folder>/sources/<path>`` (e.g. the
    # fictional test city's files); it is checksummed like any other
    bundled: bool = False


@dataclass(frozen=True)
class Districts:
    """The city's districts (``districts:`` in city.yaml): integer codes, not necessarily 1..N."""

    names: dict[int, str]                # code -> display name, in the profile's order
    label: str = "Stadtteil"             # German name of the level, singular and plural
    label_plural: str = "Stadtteile"
    boundaries: str | None = None        # dataset with the polygons (key district_id); None: no map
    subdistricts: str | None = None      # dataset of a lower level, if the city has one

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(self.names)


PLANNING_DEFAULTS = {"population": "register_release", "stocks": {}, "life_table": None,
                     "fertility": {"tfr": 1.4, "mean_age": 31.5}}
PLANNING_SOURCES = ("register_release", "stocks")
STORAGE_CRS = "EPSG:25832"


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

    @property
    def official_name(self) -> str:
        return self.settings.get("official_name") or self.name

    @property
    def organisation(self) -> str:
        return self.settings.get("organisation") or self.official_name

    @property
    def platform_title(self) -> str:
        return self.settings.get("platform_title") or f"Business Intelligence {self.name}"

    @property
    def ags(self) -> str | None:
        return self.settings.get("ags")

    @property
    def state(self) -> str | None:
        return self.settings.get("state")

    @property
    def districts(self) -> Districts:
        return _districts(self.directory / "city.yaml", self.settings.get("districts"))

    @property
    def age_bands(self) -> tuple[int, ...]:
        """Lower bounds of the age groups the apps display; the last group is open."""
        return tuple(int(a) for a in self.settings.get("age_bands") or (0, 3, 6, 10, 16, 18, 25, 30, 45, 65, 80))

    @property
    def planning(self) -> dict:
        """The ``planning:`` section with defaults: where the projection's inputs come from."""
        own = self.settings.get("planning") or {}
        return {**PLANNING_DEFAULTS, **own}

    def released_datasets(self) -> tuple[str, str]:
        """(population by single age, projection parameters): the datasets the statistics office
        releases for planning (``planning.released``; ``planning.population: register_release``)."""
        released = self.planning.get("released") or {}
        if not released.get("population") or not released.get("parameters"):
            raise ContractError(self.directory / "city.yaml", [(
                "planning.released", None,
                "Pflichtangabe fehlt: die Freigaben der Statistikstelle für die Planung "
                "(population: Bevölkerung nach Einzelaltern, parameters: Projektionsparameter)")])
        return str(released["population"]), str(released["parameters"])

    def app(self, app_id: str) -> dict:
        """The ``apps.<app_id>`` section (texts, input mapping), or {}."""
        return (self.settings.get("apps") or {}).get(app_id) or {}

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
        if source.bundled and not (directory / "sources" / source.path).is_file():
            raise ContractError(path, [(f"sources[{i}].path", None,
                                        f"{source.path}: mitgelieferte Datei fehlt im Ordner sources/ des Stadtprofils")])
        if not source.pin and source.upstream:
            raise ContractError(path, [(f"sources[{i}].pin", None,
                                        f"{source.path}: „pin: false“ braucht eine eigene Adresse (url), keinen "
                                        f"festen SQL-Dump")])
    if str(settings["crs"]).upper() != STORAGE_CRS:
        # one CRS for all stored geodata, so that every city's maps, areas and distances work the
        # same; readers reproject source files from whatever CRS they declare
        raise ContractError(path, [("crs", None, f"BIF speichert Geodaten in {STORAGE_CRS} (ETRS89 / UTM 32N); "
                                                 f"Quelldateien in {settings['crs']} werden beim Einlesen "
                                                 f"umprojiziert – hier {STORAGE_CRS} angeben")])
    planning = settings.get("planning") or {}
    if planning.get("population", "register_release") not in PLANNING_SOURCES:
        raise ContractError(path, [("planning.population", None,
                                    f"unbekannte Herkunft der Prognose-Eingaben {planning.get('population')!r}; "
                                    f"erlaubt: {', '.join(PLANNING_SOURCES)}")])
    if planning.get("population") == "stocks" and not (planning.get("stocks") or {}).get("dataset"):
        raise ContractError(path, [("planning.stocks.dataset", None,
                                    "Pflichtangabe fehlt: der Datensatz mit den Bestandszahlen (Jahr × Stadtteil × "
                                    "Geschlecht × Altersgruppe)")])
    profile = CityProfile(settings["key"], settings["name"], directory, settings["crs"], settings, sources)
    profile.districts  # validated now: a wrong profile fails at start, not in a planner's app
    return profile


def _districts(path: Path, spec: dict | None) -> Districts:
    if not spec or not spec.get("codes"):
        raise ContractError(path, [("districts.codes", None,
                                    "Pflichtangabe fehlt: die Stadtteile (Nummer: Name) des Stadtprofils")])
    names: dict[int, str] = {}
    for code, name in spec["codes"].items():
        try:
            number = int(code)
        except (TypeError, ValueError):
            raise ContractError(path, [(f"districts.codes.{code}", None,
                                        f"Stadtteilnummer muss eine ganze Zahl sein (angegeben: {code!r})")]) from None
        if number in names:
            raise ContractError(path, [(f"districts.codes.{code}", None, f"Stadtteilnummer {number} doppelt")])
        if not isinstance(name, str) or not name.strip():
            raise ContractError(path, [(f"districts.codes.{code}", None, "Name des Stadtteils fehlt")])
        names[number] = name.strip()
    return Districts(names=names, label=spec.get("label", "Stadtteil"),
                     label_plural=spec.get("label_plural", "Stadtteile"),
                     boundaries=spec.get("boundaries"), subdistricts=spec.get("subdistricts"))


@functools.lru_cache(maxsize=4)
def _cached_profile(directory: str) -> CityProfile:
    return load_profile(Path(directory).name)


@contextmanager
def city_environment(city: str, home: Path | str | None = None) -> Iterator[CityProfile]:
    """This process works as ``city`` (``BIF_CITY``) — and, given ``home``, on that ``BIF_HOME``
    with its default store — for a ``with`` block; the environment and the cached profile are
    restored afterwards (tests, benchmarks, a city's bootstrap from another city's shell)."""
    changes = {"BIF_CITY": city, "BIF_STORE": None, "BIF_MIRROR": None}
    if home is not None:
        changes["BIF_HOME"] = str(home)
    _cached_profile.cache_clear()
    try:
        with config.environment(changes):
            yield current_profile()
    finally:
        _cached_profile.cache_clear()


def current_profile() -> CityProfile:
    """The profile of ``BIF_CITY`` (cached per process and profile folder)."""
    return _cached_profile(str(config.city_profile_dir()))


current_profile.cache_clear = _cached_profile.cache_clear  # type: ignore[attr-defined]
