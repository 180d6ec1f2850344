"""The statistics office's released projection datasets: the parameter table converts both ways,
its output checks, the projection's inputs rebuilt from the two datasets (pure, in
bif_lib.planning.release), and the loader that reads them from the store (bif_lib.loaders)."""

import numpy as np
import pandas as pd
import pytest

import bif_lib as bif
from bif_lib.city import load_profile
from bif_lib.loaders import load_projection_inputs
from bif_lib.planning.release import (
    parameter_output_checks,
    parameters_from_release,
    projection_inputs_from_release,
    release_parameters,
)

# the Flensburg profile's names of the two released datasets (planning.released in its city.yaml)
POPULATION_DATASET, PARAMETERS_DATASET = load_profile("flensburg").released_datasets()
ARRAYS = ("survival", "mortality_factor", "fertility", "out_rate", "internal_rate", "destination", "in_profile")


def test_parameter_table_round_trip(city_parameters):
    table = release_parameters(city_parameters)
    assert list(table.columns) == ["component", "district_id", "to_district_id", "sex", "age", "value"]
    back = parameters_from_release(table, synthetic=True, inputs={PARAMETERS_DATASET: 3})
    for name in ARRAYS:
        np.testing.assert_allclose(getattr(back, name), getattr(city_parameters, name), err_msg=name)
    assert back.district_ids == city_parameters.district_ids
    assert back.share_boys == pytest.approx(city_parameters.share_boys)
    assert back.in_volume == pytest.approx(city_parameters.in_volume)
    assert back.base_period == (2018, 2022) and back.synthetic and back.inputs == {PARAMETERS_DATASET: 3}


def _released(frame: pd.DataFrame, dataset: str, version: int, synthetic: bool) -> pd.DataFrame:
    frame.attrs["bif"] = {"dataset": dataset, "version": version, "synthetic": synthetic}
    return frame


def test_projection_inputs_from_release(city_parameters, city_base_population):
    table = _released(release_parameters(city_parameters), PARAMETERS_DATASET, 2, True)
    population = _released(pd.concat([city_base_population.assign(year=2021, population=1.0),
                                      city_base_population.assign(year=2022)], ignore_index=True)
                           .astype({"population": "int64"}), POPULATION_DATASET, 5, False)
    inputs = projection_inputs_from_release(population, table)
    assert inputs.base_year == 2022
    assert inputs.base_population["population"].sum() == population.loc[population["year"] == 2022,
                                                                         "population"].sum()
    assert list(inputs.base_population.columns) == ["district_id", "sex", "age", "population"]
    assert inputs.base_population["population"].dtype == "float64"
    assert inputs.base_population.attrs["bif"]["synthetic"]  # one synthetic input labels the result
    assert inputs.parameters.inputs == {POPULATION_DATASET: 5, PARAMETERS_DATASET: 2}
    earlier = projection_inputs_from_release(population, table, base_year=2021)
    assert earlier.base_year == 2021 and (earlier.base_population["population"] == 1.0).all()


def test_parameter_output_checks(city_parameters):
    table = release_parameters(city_parameters)
    persons = pd.DataFrame([(year, district, sex) for year in range(2017, 2023) for district in (1, 2)
                            for sex in ("m", "w") for _ in range(150 if district == 1 else 120)],
                           columns=["extract_year", "district_id", "sex"])
    checks = parameter_output_checks(persons, table, (2018, 2022))
    assert [c["passed"] for c in checks] == [True, True]
    assert checks[1]["detail"].endswith(": 120 Personen")
    strict = parameter_output_checks(persons, table, (2018, 2022), min_persons=121)
    assert strict[1] == {"name": "Mindestbesetzung 121 Personen", "passed": False,
                         "detail": "kleinste Gruppe (Jahr × Stadtteil × Geschlecht) im Basiszeitraum: 120 Personen"}
    counts = pd.concat([table, pd.DataFrame({"component": ["persons"], "value": [17.0]})], ignore_index=True)
    assert parameter_output_checks(persons, counts, (2018, 2022))[0] == {
        "name": "Nur Raten, Anteile und Modellgrößen", "passed": False, "detail": "unbekannte Größen: persons"}


def test_load_projection_inputs_reads_the_two_released_datasets(flensburg_store):
    inputs = load_projection_inputs(store=flensburg_store)
    expected = projection_inputs_from_release(bif.load(POPULATION_DATASET, store=flensburg_store),
                                              bif.load(PARAMETERS_DATASET, store=flensburg_store))
    assert inputs.base_year == expected.base_year
    pd.testing.assert_frame_equal(inputs.base_population, expected.base_population)
    assert set(inputs.parameters.inputs) == {POPULATION_DATASET, PARAMETERS_DATASET}
    assert inputs.parameters.synthetic and inputs.base_population.attrs["bif"]["synthetic"]
    assert load_projection_inputs(base_year=inputs.base_year - 1, store=flensburg_store).base_year == \
        inputs.base_year - 1
