"""The planner's own levels (TFR, in-migration), whole-year horizons, the base aligned to an
official count and the check of the first projected year (issue #15, hand-computed)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import ProjectionParameters
from bif_lib.planning.projection import city_tfr, first_year_check, project_population
from bif_lib.planning.scenarios import Assumptions, scenario


@pytest.fixture
def tiny():
    """The hand case of test_projection.py: one district, ages 0-2, 100 per cell, TFR 0.5, 10 in-movers."""
    parameters = ProjectionParameters(
        district_ids=(1,), survival=np.array([[0.99, 0.98, 0.90], [0.995, 0.99, 0.95]]),
        mortality_factor=np.ones((1, 2)), fertility=np.array([[0.0, 0.5, 0.0]]), share_boys=0.5,
        out_rate=np.full((1, 2, 3), 0.1), internal_rate=np.zeros((1, 2, 3)), destination=np.zeros((1, 1)),
        in_volume=10.0, in_profile=np.array([[[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]]))
    base = pd.DataFrame([(1, sex, age, 100.0) for sex in ("m", "w") for age in range(3)],
                        columns=["district_id", "sex", "age", "population"])
    return parameters, base


def _project(tiny, **options):
    parameters, base = tiny
    options.setdefault("assumptions", Assumptions())
    return project_population(base, parameters, base_year=2022, **options)


# --- horizon ------------------------------------------------------------------------------------

def test_fractional_horizon_is_refused_in_german(tiny):
    with pytest.raises(ValueError) as error:
        _project(tiny, years=2.7)
    assert str(error.value).startswith("„Vorausberechnungszeitraum (Jahre)“ muss eine ganze Zahl von Jahren sein "
                                       "(angegeben: 2,7)")
    with pytest.raises(ValueError, match="ganze Zahl"):
        _project(tiny, years=True)
    with pytest.raises(ValueError, match="muss eine Zahl sein"):
        _project(tiny, years="drei")
    with pytest.raises(ValueError, match="zwischen 0 und 50"):
        _project(tiny, years=51)
    assert _project(tiny, years=3.0).end_year == 2025
    assert _project(tiny, years=np.int64(2)).end_year == 2024


# --- the planner's levels -----------------------------------------------------------------------

def test_tfr_level_by_hand(tiny):
    # city TFR 0.5 (one fertile age); level 0.8 -> factor 1.6 -> 0.8 x 100 women = 80 births (50 before)
    result = _project(tiny, years=1, assumptions=scenario("mittel").adjusted(tfr=0.8))
    assert result.assumptions["tfr_estimated"] == pytest.approx(0.5)
    assert result.assumptions["fertility_factor_applied"] == pytest.approx(1.6)
    assert result.components["births"].sum() == pytest.approx(80.0)
    # the scenario's factor is reset by the level; both together are refused
    assert scenario("hoch").adjusted(tfr=1.4).fertility_factor == 1.0
    with pytest.raises(ValueError, match="bitte nur eines"):
        Assumptions(tfr=1.4, fertility_factor=1.1)
    with pytest.raises(ValueError, match="Geburtenziffer"):
        Assumptions(tfr=4.0)


def test_city_tfr_weights_districts_by_their_women():
    # two districts, one fertile age: 0.4 with 300 women, 0.8 with 100 -> (0.4*300 + 0.8*100) / 400 = 0.5
    fertility = np.array([[0.0, 0.4], [0.0, 0.8]])
    women = np.array([[0.0, 300.0], [0.0, 100.0]])
    assert city_tfr(fertility, women) == pytest.approx(0.5)


def test_in_migration_level(tiny):
    result = _project(tiny, years=1, assumptions=Assumptions(in_migration_per_year=30))
    assert result.components["moves_in_external"].sum() == pytest.approx(30.0)
    assert result.assumptions["in_migration_per_year"] == 30.0
    assert scenario("niedrig").adjusted(in_migration_per_year=30).in_migration_factor == 1.0


def test_describe_de_lists_every_assumption():
    text = scenario("mittel").adjusted(tfr=1.25, new_housing_share=0.5).describe_de()
    assert text["Geburtenziffer (Kinder je Frau)"] == "1,25"
    assert text["Jährlicher Rückgang der Sterblichkeit"] == "Männer 1,15 %, Frauen 1,00 % je Jahr"
    assert text["Anteil der Neubau-Bewohner innerhalb der Zuzüge"] == "50 %"


# --- base aligned to the official count ---------------------------------------------------------

def test_base_aligned_to_the_city_total_by_hand(tiny):
    official = {"year": 2022, "population": 540, "source": "Zensus 2022 (Beispiel)"}
    result = _project(tiny, years=1, align_base_to=official)
    # 600 in the register -> 540: every cell x 0.9
    np.testing.assert_allclose(result.population_array[0], 90.0)
    record = result.assumptions["base_alignment"]
    assert record["difference"] == pytest.approx(-60.0) and record["relative_difference"] == pytest.approx(-0.1)
    assert record["text_de"] == ("Basisbevölkerung 2022 an die amtliche Einwohnerzahl angepasst (Gesamtstadt): "
                                 "540 statt 600 (−60; −10,0 %); Quelle: Zensus 2022 (Beispiel)")
    assert result.balance_residual() < 1e-9
    with pytest.raises(ValueError, match="gilt für 2021, das Basisjahr ist 2022"):
        _project(tiny, years=1, align_base_to={**official, "year": 2021})


def test_base_aligned_per_district(city_base_population, city_parameters):
    before = city_base_population.groupby("district_id")["population"].sum()
    result = project_population(city_base_population, city_parameters, base_year=2022, years=1,
                                align_base_to={1: 7000.0, 2: before[2] + 100})
    by_district = result.population_array[0].sum(axis=(1, 2))
    assert by_district[0] == pytest.approx(7000.0) and by_district[1] == pytest.approx(before[2] + 100)
    np.testing.assert_allclose(by_district[2:], before.to_numpy()[2:])
    assert result.assumptions["base_alignment"]["by_district"][2]["difference"] == pytest.approx(100.0)


# --- first projected year against the last observed one -----------------------------------------

def test_first_year_check_by_hand(tiny):
    parameters, base = tiny
    # observed 2022: start 500 (= 600 / 1.2), 50 births, 30 deaths, 10 in, 65 out, 600 at 31.12.
    observed = {"year": 2022.0, "birth_rate": 0.1, "death_rate": 0.06, "in_rate": 0.02, "out_rate": 0.13,
                "population_ratio": 1.2}
    result = project_population(base, dataclasses.replace(parameters, last_year=observed), base_year=2022,
                                years=1, assumptions=Assumptions())
    check = first_year_check(result).set_index("component")
    # projected 2023 (test_projection.py's hand case): 50 births, 33.375 deaths, 10 in, 65 out, 561.625
    np.testing.assert_allclose(check["observed"], [50, 30, 10, 65, 600])
    np.testing.assert_allclose(check["projected"], [50, 33.375, 10, 65, 561.625])
    assert check.loc["deaths", "change"] == pytest.approx(0.1125)
    assert check["outside_band"].to_dict() == {"births": False, "deaths": True, "moves_in": False,
                                               "moves_out": False, "population": True}
    assert check.loc["deaths", "note_de"] == "Sprung von +11,3 % – mehr als ±10 %; Annahmen prüfen"
    assert not first_year_check(result, bands=0.2)["outside_band"].any()
    # without an observation of the base year: nothing to compare, nothing flagged
    later = project_population(base, dataclasses.replace(parameters, last_year=observed), base_year=2023,
                               years=1, assumptions=Assumptions())
    assert first_year_check(later)["observed"].isna().all() and not first_year_check(later)["outside_band"].any()
