"""What each bundled app needs, resolved against the city profile and the store's catalog.

An app declares its inputs by role (``kitas``, ``projection``, ``boundaries`` …), required or
optional. The city profile maps a role to the city's dataset and columns::

    apps:
      kita:
        inputs:
          kitas: {dataset: kitas, columns: {}}   # columns: {app_column: city_column}; {} = same names

Without a mapping the dataset is named like the role. Two roles are resolved from other parts
of the profile: ``boundaries`` is ``districts.boundaries`` (absent: no map), ``projection`` the
datasets the population projection reads (``planning.population``: the released register
datasets, or the population stocks and the life table).

:func:`missing_inputs` names what a city lacks for an app (``bif publish --bundled`` skips
the app and says so); :func:`load_input` loads an input with the city's column names mapped to
the app's.

=========================  =============================================  ============================
app                        required                                       optional (without it)
=========================  =============================================  ============================
``bevoelkerung``           ``indicators``: open datasets with year and    ``boundaries`` (no map),
                           district_id                                    ``single_ages`` (no age
                                                                          pyramid)
``kita``                   ``kitas`` (points; with district_id if there   ``boundaries`` (no map),
                           are no boundaries), ``projection``             ``kindertagespflege`` (quota
                                                                          without it, labelled)
``schulbedarf``            ``schools``, ``projection``, ``boundaries``    ``capacities`` (estimated
                           (schools are located in and assigned to        with headroom, labelled)
                           districts by distance)
``bevoelkerungsprognose``  ``projection``                                 ``boundaries`` (no map)
=========================  =============================================  ============================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

BOUNDARIES, PROJECTION, INDICATORS, SINGLE_AGES = "boundaries", "projection", "indicators", "single_ages"
INDICATOR_KEYS = ("year", "district_id")


@dataclass(frozen=True)
class AppInput:
    """One input of an app: its role, what it is (German), required or what it adds."""

    role: str
    title: str  # German; "{district}" / "{districts}" are the profile's level names
    required: bool = True
    enables: str = ""  # optional inputs: what the app shows with it


APPS: dict[str, tuple[AppInput, ...]] = {
    "bevoelkerung": (
        AppInput(INDICATORS, "offene Datensätze mit Jahr und {district} (year, district_id)"),
        AppInput(BOUNDARIES, "Grenzen der {districts}", required=False, enables="Karte"),
        AppInput(SINGLE_AGES, "Bevölkerung nach Einzelaltern", required=False, enables="Altersaufbau"),
    ),
    "kita": (
        AppInput("kitas", "Kita-Verzeichnis"),
        AppInput(PROJECTION, "Bevölkerungsvorausberechnung"),
        AppInput(BOUNDARIES, "Grenzen der {districts}", required=False, enables="Karte"),
        AppInput("kindertagespflege", "Kindertagespflege (Jugendamt)", required=False,
                 enables="Kindertagespflege in der Betreuungsquote"),
    ),
    "schulbedarf": (
        AppInput("schools", "Schulverzeichnis"),
        AppInput(PROJECTION, "Bevölkerungsvorausberechnung"),
        AppInput(BOUNDARIES, "Grenzen der {districts} (Lage der Schulen, Zuordnung nach Entfernung)"),
        AppInput("capacities", "Kapazitäten der Grundschulen (Schulamt)", required=False,
                 enables="Kapazitäten des Schulamts statt Schätzung"),
    ),
    "bevoelkerungsprognose": (
        AppInput(PROJECTION, "Bevölkerungsvorausberechnung"),
        AppInput(BOUNDARIES, "Grenzen der {districts}", required=False, enables="Karte"),
    ),
}


def _profile(profile=None):
    if profile is not None:
        return profile
    from bif_lib.city.profile import current_profile

    return current_profile()


def _level(profile) -> tuple[str, str]:
    try:
        level = profile.districts
        return level.label, level.label_plural
    except Exception:  # noqa: BLE001 - texts only
        return "Stadtteil", "Stadtteile"


def inputs_of(app_id: str) -> tuple[AppInput, ...]:
    """The declared inputs of a bundled app (() for any other app)."""
    return APPS.get(app_id, ())


def input_spec(app_id: str, role: str, profile=None) -> dict:
    """``apps.<app_id>.inputs.<role>`` of the profile as {dataset, columns} (defaults filled in)."""
    raw = ((_profile(profile).app(app_id) or {}).get("inputs") or {}).get(role)
    if isinstance(raw, str):
        raw = {"dataset": raw}
    raw = dict(raw or {})
    return {"dataset": raw.get("dataset") or role, "columns": dict(raw.get("columns") or {}),
            **{k: v for k, v in raw.items() if k not in ("dataset", "columns")}}


def input_dataset(app_id: str, role: str, profile=None) -> str:
    """The city's dataset for an app's input (the profile's mapping, else the role's name)."""
    return input_spec(app_id, role, profile)["dataset"]


def boundaries_dataset(profile=None) -> str | None:
    """The dataset with the district polygons (``districts.boundaries``), or None."""
    try:
        return _profile(profile).districts.boundaries
    except Exception:  # noqa: BLE001 - no districts section: no map
        return None


def projection_datasets(profile=None) -> list[str]:
    """The datasets the population projection reads for this city (``planning.population``):
    the statistics office's released register datasets, or the population stocks and the life
    table (births are optional). An item that the profile does not name is given as the
    profile key to fill in ("planning.stocks.dataset")."""
    planning = _profile(profile).planning
    if planning.get("population") == "stocks":
        stocks = planning.get("stocks") or {}
        named = stocks.get("dataset")
        datasets = [str(d) for d in (named if isinstance(named, list) else [named] if named else [])]
        return [*(datasets or ["planning.stocks.dataset"]), planning.get("life_table") or "planning.life_table"]
    released = planning.get("released") or {}
    return [released.get("population") or "planning.released.population",
            released.get("parameters") or "planning.released.parameters"]


def single_ages_dataset(app_id: str = "bevoelkerung", profile=None) -> str:
    """The population by single age the age pyramid shows (mapping ``single_ages``, else the
    released register dataset)."""
    spec = ((_profile(profile).app(app_id) or {}).get("inputs") or {}).get(SINGLE_AGES)
    if spec:
        return input_dataset(app_id, SINGLE_AGES, profile)
    return projection_datasets(profile)[0]


def _catalog(store) -> dict:
    """{dataset_id: latest version entry} of the store (one catalog query)."""
    if store is None or isinstance(store, (str, bytes)) or hasattr(store, "__fspath__"):
        from bif_lib.ingest import default_store
        from bif_lib.store import Store

        store = default_store() if store is None else Store(store)
    return {entry.dataset_id: entry for entry in store.catalog.latest_versions()}


def _has_fields(entry, fields) -> bool:
    names = {f.get("name") for f in ((entry.contract or {}).get("schema") or {}).get("fields", [])}
    return set(fields) <= names


def indicator_datasets(catalog: Mapping, app_id: str = "bevoelkerung", profile=None) -> list[str]:
    """The datasets of the indicator catalogue: ``apps.<app>.inputs.indicators.datasets`` if the
    profile lists them, else every open dataset with year and district_id."""
    spec = ((_profile(profile).app(app_id) or {}).get("inputs") or {}).get(INDICATORS) or {}
    listed = spec.get("datasets") if isinstance(spec, dict) else None
    if listed:
        return [d for d in listed if d in catalog]
    return sorted(d for d, e in catalog.items()
                  if e.classification == "open" and _has_fields(e, INDICATOR_KEYS))


def datasets_for(app_id: str, role: str, catalog: Mapping | None = None, profile=None) -> list[str]:
    """The city's datasets behind one input of an app."""
    profile = _profile(profile)
    if role == BOUNDARIES:
        name = boundaries_dataset(profile)
        return [name] if name else []
    if role == PROJECTION:
        return projection_datasets(profile)
    if role == SINGLE_AGES:
        explicit = ((profile.app(app_id) or {}).get("inputs") or {}).get(SINGLE_AGES)
        if not explicit and profile.planning.get("population") == "stocks":
            return projection_datasets(profile)  # single ages split from the stocks (loaders.load_single_ages)
        return [single_ages_dataset(app_id, profile)]
    if role == INDICATORS:
        return indicator_datasets(catalog or {}, app_id, profile)
    return [input_dataset(app_id, role, profile)]


@dataclass
class Resolution:
    """An app's inputs against a city: what is there, what is missing."""

    app_id: str
    missing: list[str]                # required inputs that are missing (dataset ids or what to add)
    disabled: dict[str, list[str]]    # optional input missing: {what the app leaves out: [datasets]}

    @property
    def ok(self) -> bool:
        return not self.missing


def resolve(app_id: str, store=None, *, profile=None, catalog: Mapping | None = None) -> Resolution:
    """Check every declared input of ``app_id`` against the profile and the store's catalog."""
    profile = _profile(profile)
    catalog = _catalog(store) if catalog is None else catalog
    label, plural = _level(profile)
    missing: list[str] = []
    disabled: dict[str, list[str]] = {}
    for item in inputs_of(app_id):
        title = item.title.format(district=label, districts=plural)
        if item.role == INDICATORS:
            lacking = [] if datasets_for(app_id, item.role, catalog, profile) else [title]
        elif item.role == BOUNDARIES and not boundaries_dataset(profile):
            lacking = [f"{title} (districts.boundaries im Stadtprofil)"]
        else:
            lacking = [d for d in datasets_for(app_id, item.role, catalog, profile) if d not in catalog]
        if item.role == "kitas" and not lacking and not boundaries_dataset(profile):
            entry = catalog.get(input_dataset(app_id, "kitas", profile))
            columns = input_spec(app_id, "kitas", profile)["columns"]
            if entry is not None and not _has_fields(entry, [columns.get("district_id", "district_id")]):
                lacking = [f"Grenzen der {plural} oder eine Spalte district_id im Datensatz {entry.dataset_id}"]
        if not lacking:
            continue
        if item.required:
            missing.extend(d for d in lacking if d not in missing)
        else:
            disabled[item.enables] = lacking
    return Resolution(app_id, missing, disabled)


def missing_inputs(app_id: str, store=None, *, profile=None) -> list[str]:
    """The datasets (or profile entries) a city lacks for ``app_id``; [] = the app can run."""
    return resolve(app_id, store, profile=profile).missing


def skipped_message(app_id: str, missing: list[str]) -> str:
    """German: why a bundled app is not published."""
    return (f"App {app_id!r} nicht veröffentlicht: es fehlen Daten dieser Stadt – {', '.join(missing)}. "
            f"Liegen sie vor, Datensatz einlesen bzw. im Stadtprofil unter apps.{app_id}.inputs zuordnen.")


# --- loading an input ----------------------------------------------------------------------------

def load_input(app_id: str, role: str, *, store=None, profile=None) -> pd.DataFrame:
    """Load the city's dataset for an app's input, its columns renamed to the app's names."""
    from bif_lib.api import load

    spec = input_spec(app_id, role, profile)
    frame = load(spec["dataset"], store=store)
    renames = {city: app for app, city in spec["columns"].items() if city != app and city in frame.columns}
    if renames:
        attrs = frame.attrs
        frame = frame.rename(columns=renames)
        frame.attrs = attrs
    return frame


def load_boundaries(*, store=None, profile=None):
    """The district polygons (GeoDataFrame with district_id; name from the profile where the
    dataset has none), or None if the city has no boundaries."""
    name = boundaries_dataset(profile)
    if not name:
        return None
    from bif_lib.api import load
    from bif_lib.store import DatasetNotFound

    try:
        frame = load(name, store=store)
    except DatasetNotFound:
        return None
    if "name" not in frame.columns:
        try:
            names = _profile(profile).districts.names
        except Exception:  # noqa: BLE001
            names = {}
        frame = frame.assign(name=[names.get(int(d), str(d)) for d in frame["district_id"]])
        frame.attrs = dict(frame.attrs)
    return frame
