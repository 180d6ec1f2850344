import dataclasses

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import (
    SCENARIOS,
    Assumptions,
    ProjectionParameters,
    combine,
    default_newcomer_profile,
    project_population,
    project_scenarios,
    scenario,
)

TOLERANCE = 1e-9


def _project(base, parameters, **options):
    options.setdefault("base_year", 2022)
    return project_population(base, parameters, **options)


# --- the hand-computed case -------------------------------------------------------------------

@pytest.fixture
def tiny_parameters() -> ProjectionParameters:
    """One district, ages 0, 1, 2 (= 2+); women of age 1 are fertile."""
    return ProjectionParameters(
        district_ids=(1,),
        survival=np.array([[0.99, 0.98, 0.90], [0.995, 0.99, 0.95]]),
        mortality_factor=np.ones((1, 2)),
        fertility=np.array([[0.0, 0.5, 0.0]]),
        share_boys=0.5,
        out_rate=np.full((1, 2, 3), 0.1),
        internal_rate=np.zeros((1, 2, 3)),
        destination=np.zeros((1, 1)),
        in_volume=10.0,
        in_profile=np.array([[[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]]),
    )


@pytest.fixture
def tiny_base() -> pd.DataFrame:
    return pd.DataFrame(
        [(1, sex, age, 100.0) for sex in ("m", "w") for age in range(3)],
        columns=["district_id", "sex", "age", "population"],
    )


def test_hand_computed_three_ages_two_years(tiny_base, tiny_parameters):
    # Fertility applies to the women of the cohort: those aged 0 at the start are aged 1 at its end.
    # Year 1: 0.5 * 100 women -> 50 births, 25 boys / 25 girls.
    #   cohorts at risk m: [25, 100, 200], w: [25, 100, 200]; out 10 %; +5 in-movers at age 1.
    #   m: [25 - 0.25 - 2.5, 100 - 2 - 10 + 5, 200 - 20 - 20] = [22.25, 93, 160]
    #   w: [25 - 0.125 - 2.5, 100 - 1 - 10 + 5, 200 - 10 - 20] = [22.375, 94, 170]
    # Year 2: 0.5 * 22.375 women -> 11.1875 births, 5.59375 of each sex.
    #   m at risk [5.59375, 22.25, 253] -> [5.59375 - 0.0559375 - 0.559375, 22.25 - 0.445 - 2.225 + 5,
    #                                       253 - 25.3 - 25.3] = [4.9784375, 24.58, 202.4]
    #   w at risk [5.59375, 22.375, 264] -> [5.00640625, 24.91375, 224.4]
    # (Assumptions(): rates as estimated, no mortality trend - the standard scenarios add one)
    result = _project(tiny_base, tiny_parameters, years=2, assumptions=Assumptions())
    expected = {
        2023: {"m": [22.25, 93.0, 160.0], "w": [22.375, 94.0, 170.0]},
        2024: {"m": [4.9784375, 24.58, 202.4], "w": [5.00640625, 24.91375, 224.4]},
    }
    table = result.population.set_index(["year", "sex", "age"])["population"]
    for year, by_sex in expected.items():
        for sex, values in by_sex.items():
            np.testing.assert_allclose(table.loc[year, sex].to_numpy(), values, rtol=1e-12)

    components = result.components.set_index("year")
    assert components.loc[2023, "births"] == pytest.approx(50.0, rel=1e-12)
    assert components.loc[2024, "births"] == pytest.approx(11.1875, rel=1e-12)
    assert components.loc[2023, "deaths"] == pytest.approx(0.25 + 2 + 20 + 0.125 + 1 + 10, rel=1e-12)
    assert components.loc[2023, "moves_in"] == pytest.approx(10.0)
    assert components.loc[2023, "moves_out"] == pytest.approx(0.1 * (25 + 100 + 200) * 2)


def test_internal_moves_follow_destination_matrix():
    parameters = ProjectionParameters(
        district_ids=(1, 2),
        survival=np.ones((2, 2)),
        mortality_factor=np.ones((2, 2)),
        fertility=np.zeros((2, 2)),
        share_boys=0.5,
        out_rate=np.zeros((2, 2, 2)),
        internal_rate=np.full((2, 2, 2), 0.1),
        destination=np.array([[0.0, 1.0], [1.0, 0.0]]),
        in_volume=0.0,
        in_profile=np.zeros((2, 2, 2)),
    )
    base = pd.DataFrame(
        [(1, sex, age, 100.0) for sex in ("m", "w") for age in range(2)],
        columns=["district_id", "sex", "age", "population"],
    )
    components = _project(base, parameters, years=1).components.set_index("district_id")
    assert components.loc[1, "moves_out_internal"] == pytest.approx(40.0)
    assert components.loc[2, "moves_in_internal"] == pytest.approx(40.0)
    assert components.loc[2, "population_end"] == pytest.approx(40.0)


# --- balance identity -------------------------------------------------------------------------

def test_balance_holds_for_every_district_and_year(city_base_population, city_parameters):
    housing = pd.DataFrame({"district_id": [13, 13, 4], "year": [2025, 2026, 2030],
                            "dwellings": [120, 80, 300], "persons_per_dwelling": [2.4, None, 2.0]})
    totals = {2030: 101_000, 2040: 97_500}
    result = _project(city_base_population, city_parameters, years=30, housing=housing, city_totals=totals)

    table = result.components
    previous = result.population.groupby(["year", "district_id"])["population"].sum()
    start = previous.reindex(pd.MultiIndex.from_frame(table[["year", "district_id"]].assign(
        year=table["year"] - 1))).to_numpy()
    residual = start + table["births"] - table["deaths"] + table["moves_in"] - table["moves_out"] \
        - table["population_end"]
    assert np.abs(residual).max() < TOLERANCE
    assert (table["population_start"] - start).abs().max() < TOLERANCE
    assert result.balance_residual() < TOLERANCE
    assert len(table) == 13 * 30

    by_age = result.components_by_age
    residual_by_age = by_age["population_start"] + by_age["births"] - by_age["deaths"] \
        + by_age["moves_in"] - by_age["moves_out"] - by_age["population_end"]
    assert residual_by_age.abs().max() < TOLERANCE
    # housing and alignment are booked as moves
    assert table["moves_in_housing"].sum() == pytest.approx(120 * 2.4 + 80 * 2.0 + 300 * 2.0)
    assert (table["moves_in_alignment"].sum() + table["moves_out_alignment"].sum()) > 0
    city = result.population.groupby("year")["population"].sum()
    assert city[2030] == pytest.approx(101_000)
    assert city[2040] == pytest.approx(97_500)


def test_internal_moves_cancel_out_at_city_level(city_base_population, city_parameters):
    table = _project(city_base_population, city_parameters, years=5).components
    by_year = table.groupby("year")[["moves_in_internal", "moves_out_internal"]].sum()
    np.testing.assert_allclose(by_year["moves_in_internal"], by_year["moves_out_internal"], rtol=1e-12)


# --- qualitative behaviour --------------------------------------------------------------------

def test_no_births_no_migration_shrinks_and_ages(city_base_population, city_parameters):
    closed = dataclasses.replace(
        city_parameters,
        fertility=np.zeros_like(city_parameters.fertility),
        out_rate=np.zeros_like(city_parameters.out_rate),
        internal_rate=np.zeros_like(city_parameters.internal_rate),
        in_volume=0.0,
    )
    population = _project(city_base_population, closed, years=20).population
    totals = population.groupby("year")["population"].sum()
    mean_age = (population["age"] * population["population"]).groupby(population["year"]).sum() / totals
    assert (np.diff(totals.to_numpy()) < 0).all()
    assert (np.diff(mean_age.to_numpy()) > 0).all()
    assert population.loc[(population["year"] == 2042) & (population["age"] < 20), "population"].sum() == 0


def test_zero_years_reproduces_base_population(city_base_population, city_parameters):
    result = _project(city_base_population, city_parameters, years=0)
    assert result.years == [2022]
    merged = result.population.merge(city_base_population, on=["district_id", "sex", "age"])
    assert len(merged) == len(city_base_population)
    np.testing.assert_array_equal(merged["population_x"], merged["population_y"])
    assert result.components.empty


def test_base_year_row_of_a_longer_projection_is_the_base(city_base_population, city_parameters):
    population = _project(city_base_population, city_parameters, years=3).population
    base_year = population[population["year"] == 2022]
    assert base_year["population"].sum() == pytest.approx(city_base_population["population"].sum(), abs=0)


def test_scenario_ordering_of_births(city_base_population, city_parameters):
    results = project_scenarios(city_base_population, city_parameters, base_year=2022, years=30)
    births = {name: result.components.groupby("year")["births"].sum() for name, result in results.items()}
    assert (births["low"] <= births["medium"]).all()
    assert (births["medium"] <= births["high"]).all()
    final = {name: result.population_array[-1].sum() for name, result in results.items()}
    assert final["low"] < final["medium"] < final["high"]


def test_combine_stacks_scenarios(city_base_population, city_parameters):
    results = project_scenarios(city_base_population, city_parameters, base_year=2022, years=2)
    stacked = combine(results, "components")
    assert sorted(stacked["scenario"].unique()) == ["high", "low", "medium"]
    assert len(stacked) == 3 * 13 * 2


def test_mortality_factor_changes_deaths(city_base_population, city_parameters):
    medium = _project(city_base_population, city_parameters, years=1).components["deaths"].sum()
    higher = _project(city_base_population, city_parameters, years=1,
                      assumptions=Assumptions(mortality_factor=1.2)).components["deaths"].sum()
    assert higher > medium


def test_sex_ratio_override(tiny_base, tiny_parameters):
    result = _project(tiny_base, tiny_parameters, years=1, assumptions=Assumptions(boys_per_100_girls=105))
    births = result.components_by_age.query("age == 0").set_index("sex")["births"]
    assert births["m"] / births["w"] == pytest.approx(1.05)


# --- provenance -------------------------------------------------------------------------------

def test_result_records_assumptions_inputs_and_synthetic_label(city_base_population, city_parameters):
    base = city_base_population.copy()
    base.attrs["bif"] = {"synthetic": True}
    result = _project(base, city_parameters, years=2, assumptions="high",
                      inputs={"einwohner_basis": "2024-01-05T10:00"})
    assert result.inputs == {"register_synthetisch": "test", "einwohner_basis": "2024-01-05T10:00"}
    assert result.assumptions["scenario"] == "high"
    assert result.assumptions["fertility_factor"] == SCENARIOS["high"].fertility_factor
    assert result.assumptions["base_year"] == 2022 and result.assumptions["end_year"] == 2024
    assert result.population.attrs["bif"]["synthetic"] is True
    assert result.components.attrs["bif"]["synthetic"] is True
    assert "synthetisch" in result.title


# --- bounds -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("fertility_factor", 2.0, "Faktor Geburtenhäufigkeit"),
        ("mortality_factor", 0.1, "Faktor Sterblichkeit"),
        ("in_migration_factor", -0.5, "Faktor Zuzüge"),
        ("out_migration_factor", 2.5, "Faktor Fortzüge"),
        ("persons_per_dwelling", 9, "Personen je Neubauwohnung"),
        ("boys_per_100_girls", 120, "Jungen je 100 Mädchen"),
    ],
)
def test_assumption_bounds_raise_german_message(field, value, label):
    with pytest.raises(ValueError, match=label) as error:
        Assumptions(**{field: value})
    assert "muss zwischen" in str(error.value)


def test_adjusted_scenario_is_validated_and_renamed():
    adjusted = scenario("mittel").adjusted(fertility_factor=1.2)
    assert adjusted.fertility_factor == 1.2 and adjusted.name == "medium (angepasst)"
    with pytest.raises(ValueError, match="zwischen 0,5 und 1,5"):
        scenario("medium").adjusted(fertility_factor=1.6)
    with pytest.raises(ValueError, match="Unbekannte Annahme"):
        scenario("medium").adjusted(children_per_woman=1.4)


def test_unknown_scenario_and_horizon_out_of_range(city_base_population, city_parameters):
    with pytest.raises(ValueError, match="Unbekanntes Szenario"):
        scenario("sehr hoch")
    with pytest.raises(ValueError, match="Vorausberechnungszeitraum"):
        _project(city_base_population, city_parameters, years=80)


def test_housing_input_is_validated(city_base_population, city_parameters):
    too_full = pd.DataFrame({"district_id": [1], "year": [2025], "dwellings": [10],
                             "persons_per_dwelling": [6.0]})
    with pytest.raises(ValueError, match="Personen je Neubauwohnung"):
        _project(city_base_population, city_parameters, years=5, housing=too_full)
    in_the_past = too_full.assign(year=2020, persons_per_dwelling=2.0)
    with pytest.raises(ValueError, match="nach dem Basisjahr"):
        _project(city_base_population, city_parameters, years=5, housing=in_the_past)


def test_housing_after_the_horizon_is_ignored_and_default_profile_sums_to_one(
        city_base_population, city_parameters):
    later = pd.DataFrame({"district_id": [5], "year": [2040], "dwellings": [100]})
    result = _project(city_base_population, city_parameters, years=0, housing=later)
    assert result.assumptions["housing_newcomers_total"] == 0.0
    result = _project(city_base_population, city_parameters, years=18, housing=later)
    newcomers = result.components.query("year == 2040 and district_id == 5")["moves_in_housing"]
    assert newcomers.item() == pytest.approx(100 * 2.0)
    for max_age in (2, 100):
        assert default_newcomer_profile(max_age)["share"].sum() == pytest.approx(1.0)


def test_parameters_are_validated(tiny_parameters):
    with pytest.raises(ValueError, match="Zielmatrix"):
        dataclasses.replace(tiny_parameters, internal_rate=np.full((1, 2, 3), 0.1))
    with pytest.raises(ValueError, match="zwischen 0 und 1"):
        dataclasses.replace(tiny_parameters, out_rate=np.full((1, 2, 3), 1.5))
    with pytest.raises(ValueError, match="Form"):
        dataclasses.replace(tiny_parameters, fertility=np.zeros((1, 4)))


def test_base_population_is_validated(city_base_population, city_parameters):
    with pytest.raises(ValueError, match="unbekannte Stadtteile"):
        _project(city_base_population.assign(district_id=99), city_parameters, years=1)
    with pytest.raises(ValueError, match="nicht negativ"):
        _project(city_base_population.assign(population=-1.0), city_parameters, years=1)
