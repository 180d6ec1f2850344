"""Mortality improving per scenario: yearly hazard reductions from the Destatis variants L1-L3,
or from a planner's life-expectancy gain per decade (issue #15, hand-computed)."""

import math

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import ProjectionParameters
from bif_lib.planning.lifetable import (
    hazard_multiplier_for_gain,
    life_expectancy_from_survival,
    survival_ratios,
    yearly_hazard_reduction,
)
from bif_lib.planning.projection import project_population
from bif_lib.planning.scenarios import DESTATIS_MORTALITY, SCENARIOS, Assumptions, scenario


def test_life_expectancy_from_survival_by_hand(sh_life_table):
    # sx = 0.9, 0.8, 0.5 (ages 0, 1, 2+): L0 = 0.9, L1 = 0.72, T2 = 0.72 * 0.5 / 0.5 = 0.72 -> e0 = 2.34
    assert life_expectancy_from_survival([0.9, 0.8, 0.5]) == pytest.approx(2.34)
    # hazards doubled: sx^2 = 0.81, 0.64, 0.25: 0.81 + 0.5184 + 0.5184 * 0.25 / 0.75 = 1.5012
    assert life_expectancy_from_survival([0.9, 0.8, 0.5], 2.0) == pytest.approx(1.5012)
    # the model life table's own e0
    sx = survival_ratios(sh_life_table)
    assert life_expectancy_from_survival(sx[0]) == pytest.approx(78.33, abs=1e-6)
    assert life_expectancy_from_survival(sx[1]) == pytest.approx(83.14, abs=1e-6)


def test_destatis_variants_translate_into_the_documented_yearly_reductions(sh_life_table):
    sx = survival_ratios(sh_life_table)
    source = DESTATIS_MORTALITY
    for variant, documented in source["yearly_hazard_reduction"].items():
        for s, sex in enumerate(("m", "w")):
            gain = source["e0_2070"][variant][sex] - source["e0_2021"][sex]
            r = yearly_hazard_reduction(sx[s], gain, source["years"])
            assert r == pytest.approx(documented[s], abs=1e-5), (variant, sex)
            # 49 years of (1 - r) raise e0 of the table by the variant's gain
            e0 = life_expectancy_from_survival(sx[s], (1 - r) ** 49)
            assert e0 == pytest.approx(life_expectancy_from_survival(sx[s]) + gain, abs=1e-3)
    # worked example (docs): men, L2: +6.1 years -> k = 0.5663, r = 1 - 0.5663 ** (1/49) = 1.154 % a year
    k = hazard_multiplier_for_gain(sx[0], 84.6 - 78.5)
    assert k == pytest.approx(0.5663, abs=1e-4)
    assert 1 - k ** (1 / 49) == pytest.approx(0.01154, abs=1e-5)
    assert SCENARIOS["low"].mortality_improvement == source["yearly_hazard_reduction"]["L1"]
    assert SCENARIOS["medium"].mortality_improvement == source["yearly_hazard_reduction"]["L2"]
    assert SCENARIOS["high"].mortality_improvement == source["yearly_hazard_reduction"]["L3"]
    assert all(s.mortality_factor == 1.0 for s in SCENARIOS.values())  # variants differ by the trend only


def _closed(survival) -> tuple[ProjectionParameters, pd.DataFrame]:
    """One district, no births, no migration; 100 persons in each cell of ages 0-2."""
    survival = np.asarray(survival, dtype=float)
    ages = survival.shape[1]
    parameters = ProjectionParameters(
        district_ids=(1,), survival=survival, mortality_factor=np.ones((1, 2)),
        fertility=np.zeros((1, ages)), share_boys=0.5, out_rate=np.zeros((1, 2, ages)),
        internal_rate=np.zeros((1, 2, ages)), destination=np.zeros((1, 1)), in_volume=0.0,
        in_profile=np.zeros((1, 2, ages)))
    base = pd.DataFrame([(1, sex, age, 100.0) for sex in ("m", "w") for age in range(3)],
                        columns=["district_id", "sex", "age", "population"])
    return parameters, base


def test_hazard_reduction_in_the_projection_by_hand():
    parameters, base = _closed([[0.99, 0.98, 0.90], [0.995, 0.99, 0.95]])
    result = project_population(base, parameters, base_year=2022, years=2,
                                assumptions=Assumptions(mortality_improvement=(0.04, 0.0)))
    deaths = result.components_by_age.set_index(["year", "sex", "age"])["deaths"]
    # year 1 (n = 1), men aged 2+ at year end: at risk 100 + 100 (ages 1 and 2 at the start);
    # q = 1 - 0.90 ** 0.96 = 1 - exp(0.96 * ln 0.9) = 0.096199 (without the reduction: 0.1)
    assert deaths[2023, "m", 2] == pytest.approx(200 * (1 - 0.9 ** 0.96))
    assert 1 - 0.9 ** 0.96 == pytest.approx(0.096199, abs=1e-6)
    # year 2 (n = 2): hazard x 0.96 ** 2 = 0.9216; at risk = the survivors of cohort ages 1 and 2 of year 1
    at_risk = result.population.set_index(["year", "sex", "age"])["population"]
    expected = (at_risk[2023, "m", 1] + at_risk[2023, "m", 2]) * (1 - 0.9 ** 0.9216)
    assert deaths[2024, "m", 2] == pytest.approx(expected)
    # women: no reduction
    assert deaths[2023, "w", 2] == pytest.approx(200 * 0.05)
    assert result.assumptions["mortality_improvement_applied"] == [0.04, 0.0]
    with pytest.raises(ValueError, match="Jährlicher Rückgang der Sterblichkeit"):
        Assumptions(mortality_improvement=(0.1, 0.0))


def test_life_expectancy_gain_per_decade_is_translated_per_sex(sh_life_table):
    sx = survival_ratios(sh_life_table)
    parameters, base = _closed(sx)
    own = scenario("mittel").adjusted(life_expectancy_gain=1.0)
    assert own.mortality_improvement == (0.0, 0.0) and own.life_expectancy_gain == 1.0
    result = project_population(base, parameters, base_year=2022, years=10, assumptions=own)
    r = result.assumptions["mortality_improvement_from_gain"]
    for s in range(2):
        # ten years of (1 - r): e0 one year higher
        gained = life_expectancy_from_survival(sx[s], (1 - r[s]) ** 10) - life_expectancy_from_survival(sx[s])
        assert gained == pytest.approx(1.0, abs=1e-6)
    assert r[0] == pytest.approx(yearly_hazard_reduction(sx[0], 1.0, 10))
    assert 0.005 < r[1] < 0.03 and r[0] != r[1]
    with pytest.raises(ValueError, match="bitte nur eines"):
        Assumptions(mortality_improvement=0.01, life_expectancy_gain=1.0)
    with pytest.raises(ValueError, match="Zunahme der Lebenserwartung"):
        Assumptions(life_expectancy_gain=5.0)


def test_improving_mortality_lowers_deaths(city_base_population, city_parameters):
    def deaths(assumptions):
        result = project_population(city_base_population, city_parameters, base_year=2022, years=20,
                                    assumptions=assumptions)
        return result.components.groupby("year")["deaths"].sum()

    constant = deaths(Assumptions())
    by_scenario = {name: deaths(SCENARIOS[name].adjusted(fertility_factor=1.0, in_migration_factor=1.0))
                   for name in ("low", "medium", "high")}
    assert (by_scenario["low"] < constant).all()
    assert (by_scenario["high"] < by_scenario["medium"]).all() and (by_scenario["medium"] < by_scenario["low"]).all()
    assert math.isclose(by_scenario["medium"].iloc[0] / constant.iloc[0], 1, rel_tol=0.02)  # gradual, not a jump
