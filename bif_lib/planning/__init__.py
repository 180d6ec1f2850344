"""Planning models for city administrations: pure functions on DataFrames, no widgets, no I/O.

* :func:`project_population` - cohort-component projection per Stadtteil x sex x age x year,
  with scenarios (:data:`SCENARIOS`, :class:`Assumptions`), new housing areas and alignment;
* :func:`estimate_parameters` / :func:`projection_inputs_from_register` - its inputs from the
  register history; :func:`projection_inputs_from_stocks` - from published population stocks by
  age group (:func:`split_age_groups`, residual net migration); :func:`life_table` - the model
  life table for Schleswig-Holstein;
* :func:`project_school_demand` - primary-school pupils, classes and capacity flags;
* :func:`daycare_coverage` - Kita places against children by age band.

Every result carries ``.assumptions`` and ``.inputs`` ({dataset_id: version}) so that each number
can be traced. Method and sources: docs/planning-models.md.

Inputs in, results out: no module here reads or writes files, the store or the network, nor
imports anything that does (``tests/planning/test_purity.py``). Loading the inputs from the
store is :mod:`bif_lib.loaders`; the apps that show the results are in :mod:`bif_lib.apps.views`.
"""

from bif_lib.planning.age_split import split_age_groups
from bif_lib.planning.daycare import (
    DaycareResult,
    DemandRates,
    PlaceRule,
    daycare_coverage,
    places_by_band,
)
from bif_lib.planning.lifetable import CALIBRATION_TARGETS, LIFETABLE_COLUMNS, life_table
from bif_lib.planning.parameters import (
    ProjectionInputs,
    ProjectionParameters,
    SmoothingSettings,
    base_population_from_register,
    estimate_parameters,
    projection_inputs_from_register,
)
from bif_lib.planning.projection import (
    ProjectionResult,
    combine,
    default_newcomer_profile,
    project_population,
    project_scenarios,
)
from bif_lib.planning.scenarios import BOUNDS, SCENARIOS, Assumptions, scenario
from bif_lib.planning.schools import (
    SchoolDemandResult,
    SchoolSettings,
    base_pupils_by_grade,
    default_assignment,
    estimate_capacities,
    project_school_demand,
)
from bif_lib.planning.stocks import (
    estimate_from_stocks,
    fertility_schedule,
    net_migration_from_stocks,
    projection_inputs_from_stocks,
    single_age_stocks,
)

__all__ = [
    "BOUNDS",
    "CALIBRATION_TARGETS",
    "LIFETABLE_COLUMNS",
    "SCENARIOS",
    "Assumptions",
    "DaycareResult",
    "DemandRates",
    "PlaceRule",
    "ProjectionInputs",
    "ProjectionParameters",
    "ProjectionResult",
    "SchoolDemandResult",
    "SchoolSettings",
    "SmoothingSettings",
    "base_population_from_register",
    "base_pupils_by_grade",
    "combine",
    "daycare_coverage",
    "default_assignment",
    "default_newcomer_profile",
    "estimate_capacities",
    "estimate_from_stocks",
    "estimate_parameters",
    "fertility_schedule",
    "life_table",
    "net_migration_from_stocks",
    "places_by_band",
    "project_population",
    "project_scenarios",
    "project_school_demand",
    "projection_inputs_from_register",
    "projection_inputs_from_stocks",
    "scenario",
    "single_age_stocks",
    "split_age_groups",
]
