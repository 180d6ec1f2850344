"""Store datasets → the planning models' inputs, and the office's certified release of them.

:mod:`bif_lib.planning` is pure (DataFrames in, results out; ``tests/planning/test_purity.py``).
This module is the floor above it that reads the store and stamps who released what and when:

* :func:`load_projection_inputs` — for apps and analysts: the projection's inputs, from where the
  city profile says (``planning.population`` in city.yaml): ``register_release`` — the two internal
  datasets the statistics office releases (``bevoelkerung_einzelalter``, ``projektionsparameter``);
  ``stocks`` — estimated from the published population stocks by age group, a life table and
  births or a fertility assumption (:mod:`bif_lib.planning.stocks`); read through ``bif_lib.load``
  (recorded in the load trace);
* :func:`release_parameters_checked` — for the statistics office, where the microdata are: the
  projection parameters as one table with an output-check certificate.

The table formats and conversions are in :mod:`bif_lib.planning.release`.
"""

from __future__ import annotations

import getpass

import pandas as pd

from bif_lib.api import load
from bif_lib.city.profile import current_profile
from bif_lib.planning.parameters import ProjectionInputs, projection_inputs_from_register
from bif_lib.planning.release import (
    MIN_PERSONS_PER_GROUP,
    parameter_output_checks,
    projection_inputs_from_release,
    release_parameters,
)


def load_projection_inputs(*, base_year: int | None = None, store=None, variant: str = "weighted") -> ProjectionInputs:
    """Projection inputs for apps and analysts, from where the city profile's ``planning.population``
    says: ``register_release`` (the two internal released datasets) or ``stocks`` (estimated from
    the published stocks, :func:`load_stock_projection_inputs`).

    ``variant="pooled"``: the released parameters estimated with equal year weights, for the
    back-test over the base period (the stocks path weighs its years equally anyway)."""
    profile = current_profile()
    if profile.planning.get("population") == "stocks":
        return load_stock_projection_inputs(profile.planning, district_ids=profile.districts.codes,
                                            base_year=base_year, store=store)
    population_dataset, parameters_dataset = profile.released_datasets()
    population = load(population_dataset, store=store)
    table = load(parameters_dataset, store=store)
    return projection_inputs_from_release(population, table, base_year=base_year, variant=variant)


def official_population(profile=None) -> dict | None:
    """The official count of the base year the profile names (``planning.official_population`` in
    city.yaml: {year, population, source}; population a number for the city or {district_id: number}),
    or None. Pass it as ``project_population(..., align_base_to=official_population())``."""
    planning = (profile or current_profile()).planning
    entry = planning.get("official_population")
    if not entry:
        return None
    missing = [key for key in ("year", "population", "source") if entry.get(key) in (None, "")]
    if missing:
        raise ValueError("Stadtprofil (city.yaml): planning.official_population braucht year, population und "
                         f"source (fehlt: {', '.join(missing)}).")
    return {"year": int(entry["year"]), "population": entry["population"], "source": str(entry["source"])}


def stock_datasets(planning: dict) -> list[str]:
    """The datasets with the population stocks (``planning.stocks.dataset``: one name, or a list
    when a city publishes one file per year or per period)."""
    named = (planning.get("stocks") or {}).get("dataset")
    return [str(d) for d in (named if isinstance(named, list) else [named] if named else [])]


def load_stocks(planning: dict, *, store=None) -> tuple[pd.DataFrame, dict]:
    """The stocks of every dataset ``planning.stocks.dataset`` names, as one table, and
    {dataset: version} of what was read. The same year in two datasets is refused in German."""
    frames = [load(dataset, store=store) for dataset in stock_datasets(planning)]
    versions = {f.attrs["bif"]["dataset"]: f.attrs["bif"]["version"] for f in frames if "dataset" in f.attrs.get("bif", {})}
    if len(frames) == 1:
        return frames[0], versions
    seen: dict[int, str] = {}
    for dataset, frame in zip(stock_datasets(planning), frames):
        for year in sorted(set(frame["year"].astype(int))):
            if year in seen:
                raise ValueError(f"Bevölkerungsbestände: das Jahr {year} steht in „{seen[year]}“ und in „{dataset}“ "
                                 f"(planning.stocks.dataset im Stadtprofil).")
            seen[year] = dataset
    combined = pd.concat(frames, ignore_index=True)
    combined.attrs["bif"] = {**frames[0].attrs.get("bif", {}),
                             "synthetic": any(f.attrs.get("bif", {}).get("synthetic") for f in frames)}
    return combined, versions


def load_stock_projection_inputs(planning: dict, *, district_ids: tuple[int, ...] | None = None,
                                 base_year: int | None = None, store=None) -> ProjectionInputs:
    """Projection inputs estimated from published stocks, as the profile's ``planning`` section names them.

    ``planning.stocks.dataset``: year, district_id, sex, age_from, age_to, population;
    ``planning.life_table``: the life table (sex, age, sx, Lx …); ``planning.stocks.births``
    (optional): year, district_id, births; ``planning.fertility``: {tfr, mean_age} used without births.
    ``district_ids``: the profile's district codes (their order is kept; codes without stocks stay empty).
    The result is labelled synthetic only if a loaded input is (their ``attrs["bif"]``).
    """
    from bif_lib.planning.stocks import projection_inputs_from_stocks

    stocks_spec = planning.get("stocks") or {}
    if not stocks_spec.get("dataset"):
        raise ValueError("Stadtprofil (city.yaml): planning.stocks.dataset fehlt – der Datensatz mit den "
                         "Bevölkerungsbeständen nach Altersgruppen.")
    if not planning.get("life_table"):
        raise ValueError("Stadtprofil (city.yaml): planning.life_table fehlt – die Sterbetafel, aus der die "
                         "Überlebenswahrscheinlichkeiten kommen.")
    stocks, inputs = load_stocks(planning, store=store)
    lifetable = load(planning["life_table"], store=store)
    births = load(stocks_spec["births"], store=store) if stocks_spec.get("births") else None
    inputs.update({frame.attrs["bif"]["dataset"]: frame.attrs["bif"]["version"]
                   for frame in (lifetable, births) if frame is not None and "dataset" in frame.attrs.get("bif", {})})
    return projection_inputs_from_stocks(stocks, lifetable, births=births, fertility=planning.get("fertility"),
                                         base_year=base_year, district_ids=district_ids, inputs=inputs)


def load_single_ages(*, store=None) -> pd.DataFrame:
    """Population by single age (year, district_id, sex, age, population): the statistics office's
    release (``register_release``), or, for a city that publishes stocks by age group, the stocks
    split into single ages keeping every group total (``planning.stocks``; estimated, not counted)."""
    profile = current_profile()
    planning = profile.planning
    if planning.get("population") != "stocks":
        return load(profile.released_datasets()[0], store=store)
    from bif_lib.planning.stocks import single_age_stocks

    stocks, _ = load_stocks(planning, store=store)
    lifetable = load(planning["life_table"], store=store)
    table = single_age_stocks(stocks, district_ids=profile.districts.codes, lifetable=lifetable)
    table.attrs["bif"] = {**stocks.attrs.get("bif", {}), **table.attrs.get("bif", {}),
                          "derived_de": "Einzelalter aus Altersgruppen geschätzt (monotone Spline-Aufteilung, "
                                        "Gruppensummen exakt)"}
    return table


def release_parameters_checked(persons: pd.DataFrame, events: pd.DataFrame, base_period: tuple[int, int], *,
                               dataset: str, released_by: str | None = None, sources: list[dict] | None = None,
                               min_persons: int = MIN_PERSONS_PER_GROUP, smoothing=None):
    """The projection parameters with an output-check certificate (``method="output_check"``).

    Estimated from the register (``persons``, ``events``) over ``base_period``, as one long table
    (:func:`~bif_lib.planning.release.release_parameters`); the certificate records the checks
    of :func:`~bif_lib.planning.release.parameter_output_checks`, who released it (default: the
    current account) and when. ``smoothing``: a
    :class:`~bif_lib.planning.parameters.SmoothingSettings` (default: the standard settings, recent
    years weighted with a half-life of one year); the table also carries the parameters with equal
    year weights (``pooled_*``, for back-tests). Returns (table, :class:`~bif_lib.disclosure.Certificate`).
    """
    # imported here: disclosure brings scipy, which app kernels (load_projection_inputs) need not load
    from dataclasses import replace

    from bif_lib.disclosure import Certificate, content_digest
    from bif_lib.disclosure.certificate import utc_now
    from bif_lib.planning.parameters import SmoothingSettings, estimate_parameters

    smoothing = smoothing or SmoothingSettings()
    inputs = projection_inputs_from_register(persons, events, base_period=base_period, smoothing=smoothing)
    # the same with equal year weights, for the back-test over the base period (pooled_* components)
    pooled = estimate_parameters(persons, events, base_period, smoothing=replace(smoothing, year_weight_half_life=None))
    table = release_parameters(inputs.parameters, pooled=pooled)
    checks = parameter_output_checks(persons, table, base_period, min_persons=min_persons)
    certificate = Certificate(
        dataset=dataset, method="output_check",
        parameters={"base_period": list(base_period), "min_persons": min_persons, "rows": len(table)},
        checks=checks, released_by=released_by or getpass.getuser(), released_at=utc_now(),
        content_sha256=content_digest(table), sources=sources or [], synthetic=True)
    return table, certificate
