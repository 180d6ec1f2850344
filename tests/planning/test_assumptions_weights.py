"""Fertility and migration from several years with documented weights (recent years weigh more),
the last observed year in the parameters and their release (issue #15, hand-computed)."""

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning.parameters import (
    SmoothingSettings,
    estimate_parameters,
    projection_inputs_from_register,
    year_weights,
)
from bif_lib.planning.release import parameter_output_checks, parameters_from_release, release_parameters

NO_SMOOTHING = {"age_kernel": (1.0,), "pseudo_events": 0.0, "profile_pseudo_count": 0.0, "boys_prior_births": 0.0,
                    "min_events_by_sex": 0.0}


def test_year_weights_by_hand():
    # half-life 2 years, 2018-2022: raw 0.5 ** ((2022 - y) / 2) = 0.25, 0.35355, 0.5, 0.70711, 1 (sum 2.81066),
    # scaled to a mean of 1 (x 5 / 2.81066)
    weights = year_weights(2018, 2022, 2.0)
    np.testing.assert_allclose(list(weights.values()), [0.444735, 0.628951, 0.889471, 1.257902, 1.778941], atol=1e-6)
    assert sum(weights.values()) == pytest.approx(5.0)
    assert weights[2022] / 5 == pytest.approx(0.3558, abs=1e-4)  # the last year: 35.6 % of the weight, not 20 %
    assert year_weights(2018, 2022, None) == dict.fromkeys(range(2018, 2023), 1.0)
    # the default, half-life 1 year: 1/16, 1/8, 1/4, 1/2, 1 (sum 1.9375) x 5 / 1.9375; the last year 51.6 %
    assert SmoothingSettings().year_weight_half_life == 1.0
    np.testing.assert_allclose(list(year_weights(2018, 2022, 1.0).values()),
                               [0.161290, 0.322581, 0.645161, 1.290323, 2.580645], atol=1e-6)
    np.testing.assert_allclose(list(year_weights(2019, 2020, 1.0).values()), [2 / 3, 4 / 3])
    with pytest.raises(ValueError, match="Halbwertszeit"):
        year_weights(2018, 2022, 0.0)


def hand_register():
    """One district, 100 women aged 30 at each 31.12. 2018-2020 (and 50 men in 2020).

    2019: 10 births (mothers' cohort age 31), 100 moves in; 2020: 4 births, 40 moves in.
    """
    persons = pd.concat([pd.DataFrame({"extract_year": year, "district_id": 1, "sex": "w", "age": [30] * 100})
                         for year in (2018, 2019, 2020)]
                        + [pd.DataFrame({"extract_year": 2020, "district_id": 1, "sex": "m", "age": [40] * 50})],
                        ignore_index=True)
    rows = []
    for year, births, arrivals in ((2019, 10, 100), (2020, 4, 40)):
        rows += [(year, "birth", 1, 0, "m" if i % 2 else "w", 31) for i in range(births)]
        rows += [(year, "move_in", 1, 25, "m", np.nan) for _ in range(arrivals)]
    events = pd.DataFrame(rows, columns=["year", "event", "district_id", "age", "sex", "mother_age"])
    events["to_district_id"] = np.nan
    return persons, events


@pytest.mark.parametrize(("half_life", "fertility", "in_volume"), [
    # equal weights: (10 + 4) / (100 + 100) = 0.07 births per woman; (100 + 40) / 2 = 70 moves in a year
    (None, 0.07, 70.0),
    # half-life 1 year: weights 2/3 (2019) and 4/3 (2020):
    # (2/3 * 10 + 4/3 * 4) / (2/3 * 100 + 4/3 * 100) = 12 / 200 = 0.06; (2/3 * 100 + 4/3 * 40) / 2 = 60
    (1.0, 0.06, 60.0),
])
def test_weighted_fertility_and_in_migration_by_hand(half_life, fertility, in_volume, sh_life_table):
    persons, events = hand_register()
    smoothing = SmoothingSettings(**NO_SMOOTHING, year_weight_half_life=half_life)
    parameters = estimate_parameters(persons, events, (2019, 2020), lifetable=sh_life_table, smoothing=smoothing)
    assert parameters.fertility[0, 31] == pytest.approx(fertility)
    assert parameters.fertility[0].sum() == pytest.approx(fertility)
    assert parameters.in_volume == pytest.approx(in_volume)
    assert parameters.method["year_weights"] == pytest.approx(year_weights(2019, 2020, half_life))


def test_last_observed_year_is_kept_as_rates(sh_life_table):
    persons, events = hand_register()
    parameters = estimate_parameters(persons, events, (2019, 2020), lifetable=sh_life_table)
    # 2020: start 100 (extract 2019), 4 births, 0 deaths, 40 in, 0 out, end 150 (extract 2020)
    assert parameters.last_year == pytest.approx({"year": 2020.0, "birth_rate": 0.04, "death_rate": 0.0,
                                                  "in_rate": 0.4, "out_rate": 0.0, "population_ratio": 1.5})


def test_release_carries_weights_and_last_year_and_passes_the_output_check(sh_life_table):
    persons, events = hand_register()
    parameters = estimate_parameters(persons, events, (2019, 2020), lifetable=sh_life_table)
    table = release_parameters(parameters)
    back = parameters_from_release(table)
    assert back.last_year == pytest.approx(parameters.last_year)
    assert back.method["smoothing"]["year_weight_half_life"] == 1.0
    counts = persons.assign(age=0)  # group sizes: 100 women (and 50 men in 2020 only)
    checks = parameter_output_checks(counts[counts["sex"] == "w"], table, (2019, 2020))
    assert checks[0] == {"name": "Nur Raten, Anteile und Modellgrößen", "passed": True,
                         "detail": "keine Fallzahlen von Personen"}
    # a release without them (older format) still reads
    old = table[~table["component"].str.startswith(("last_year", "year_weight"))]
    assert parameters_from_release(old).last_year is None
    with pytest.raises(ValueError, match="keine gleich gewichtete Variante"):
        parameters_from_release(table, variant="pooled")


def test_release_carries_the_equally_weighted_variant_for_back_tests(sh_life_table):
    persons, events = hand_register()
    weighted = estimate_parameters(persons, events, (2019, 2020), lifetable=sh_life_table,
                                   smoothing=SmoothingSettings(**NO_SMOOTHING, year_weight_half_life=1.0))
    pooled = estimate_parameters(persons, events, (2019, 2020), lifetable=sh_life_table,
                                 smoothing=SmoothingSettings(**NO_SMOOTHING, year_weight_half_life=None))
    table = release_parameters(weighted, pooled=pooled)
    assert parameter_output_checks(persons[persons["sex"] == "w"], table, (2019, 2020))[0]["passed"]
    assert parameters_from_release(table).in_volume == pytest.approx(60.0)
    assert parameters_from_release(table).fertility[0, 31] == pytest.approx(0.06)
    back = parameters_from_release(table, variant="pooled")
    assert back.in_volume == pytest.approx(70.0) and back.fertility[0, 31] == pytest.approx(0.07)
    np.testing.assert_allclose(back.survival, weighted.survival)
    assert back.last_year == pytest.approx(weighted.last_year) and back.method["variant"] == "pooled"
    with pytest.raises(ValueError, match="unbekannt"):
        parameters_from_release(table, variant="gleich")


def test_back_test_estimates_only_from_years_up_to_the_base_year(sh_life_table):
    persons, events = hand_register()
    options = {"lifetable": sh_life_table, "smoothing": SmoothingSettings(**NO_SMOOTHING)}
    earlier = projection_inputs_from_register(persons, events, base_year=2019, **options)
    assert earlier.base_year == 2019 and earlier.parameters.base_period == (2019, 2019)
    assert earlier.parameters.in_volume == pytest.approx(100.0)  # 2020's 40 arrivals are not used
    assert earlier.parameters.fertility[0, 31] == pytest.approx(0.10)
    assert earlier.parameters.last_year["year"] == 2019
    assert earlier.base_population["population"].sum() == 100
    latest = projection_inputs_from_register(persons, events, **options)
    assert latest.base_year == 2020 and latest.parameters.base_period == (2019, 2020)
    with pytest.raises(ValueError, match="Registerauszüge vor dem Basisjahr"):
        projection_inputs_from_register(persons, events, base_year=2018, **options)


def test_released_parameters_give_the_first_year_check(flensburg_store):
    from bif_lib.loaders import load_projection_inputs
    from bif_lib.planning.projection import first_year_check, project_population

    inputs = load_projection_inputs(store=flensburg_store)
    assert inputs.parameters.last_year["year"] == inputs.base_year
    assert inputs.parameters.method["smoothing"]["year_weight_half_life"] == 1.0
    result = project_population(inputs.base_population, inputs.parameters, base_year=inputs.base_year, years=1,
                                assumptions="medium")
    check = first_year_check(result).set_index("component")
    # counts of the base year rebuilt from the released rates and the (Cell-Key-protected) population
    assert check.loc["population", "observed"] == pytest.approx(inputs.base_population["population"].sum())
    assert check["observed"].notna().all() and check.loc["births", "observed"] > 0
    assert not check["outside_band"].any(), check[["observed", "projected", "change"]]

    # the back-test over the base period: from the released 2017 population with the equally weighted
    # variant and no trend (the apps' „Prognosefehler 2017→2022“)
    import bif_lib as bif
    from bif_lib.planning.scenarios import AS_ESTIMATED

    pooled = load_projection_inputs(base_year=2017, store=flensburg_store, variant="pooled")
    assert pooled.parameters.base_period == inputs.parameters.base_period
    backcast = project_population(pooled.base_population, pooled.parameters, base_year=2017, years=5,
                                  assumptions=AS_ESTIMATED)
    observed = bif.load("bevoelkerung_einzelalter", store=flensburg_store)
    observed_2022 = observed.loc[observed["year"] == 2022, "population"].sum()
    # 0.05 % on the register itself (test_estimation.py); here base and observed carry the Cell Key noise
    # (about ±0.1 % on a city total, different in each bootstrap); the weighted variant is about +1.2 % off
    assert abs(backcast.population_array[-1].sum() / observed_2022 - 1) < 0.005
