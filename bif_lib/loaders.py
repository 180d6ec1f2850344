"""Store datasets → the planning models' inputs, and the office's certified release of them.

:mod:`bif_lib.planning` is pure (DataFrames in, results out; ``tests/planning/test_purity.py``).
This module is the floor above it that reads the store and stamps who released what and when:

* :func:`load_projection_inputs` — for apps and analysts: the projection's inputs from the two
  internal datasets the statistics office releases (``bevoelkerung_einzelalter``,
  ``projektionsparameter``), read through ``bif_lib.load`` (recorded in the load trace);
* :func:`release_parameters_checked` — for the statistics office, where the microdata are: the
  projection parameters as one table with an output-check certificate.

The table formats and conversions are in :mod:`bif_lib.planning.release`.
"""

from __future__ import annotations

import getpass

import pandas as pd

from bif_lib.api import load
from bif_lib.planning.parameters import ProjectionInputs, projection_inputs_from_register
from bif_lib.planning.release import (
    MIN_PERSONS_PER_GROUP,
    PARAMETERS_DATASET,
    POPULATION_DATASET,
    parameter_output_checks,
    projection_inputs_from_release,
    release_parameters,
)


def load_projection_inputs(*, base_year: int | None = None, store=None) -> ProjectionInputs:
    """Projection inputs for apps and analysts, from the two internal released datasets."""
    population = load(POPULATION_DATASET, store=store)
    table = load(PARAMETERS_DATASET, store=store)
    return projection_inputs_from_release(population, table, base_year=base_year)


def release_parameters_checked(persons: pd.DataFrame, events: pd.DataFrame, base_period: tuple[int, int], *,
                               dataset: str, released_by: str | None = None, sources: list[dict] | None = None,
                               min_persons: int = MIN_PERSONS_PER_GROUP):
    """The projection parameters with an output-check certificate (``method="output_check"``).

    Estimated from the register (``persons``, ``events``) over ``base_period``, as one long table
    (:func:`~bif_lib.planning.release.release_parameters`); the certificate records the checks
    of :func:`~bif_lib.planning.release.parameter_output_checks`, who released it (default: the
    current account) and when. Returns (table, :class:`~bif_lib.disclosure.Certificate`).
    """
    # imported here: disclosure brings scipy, which app kernels (load_projection_inputs) need not load
    from bif_lib.disclosure import Certificate, content_digest
    from bif_lib.disclosure.certificate import utc_now

    inputs = projection_inputs_from_register(persons, events, base_period=base_period)
    table = release_parameters(inputs.parameters)
    checks = parameter_output_checks(persons, table, base_period, min_persons=min_persons)
    certificate = Certificate(
        dataset=dataset, method="output_check",
        parameters={"base_period": list(base_period), "min_persons": min_persons, "rows": len(table)},
        checks=checks, released_by=released_by or getpass.getuser(), released_at=utc_now(),
        content_sha256=content_digest(table), sources=sources or [], synthetic=True)
    return table, certificate
