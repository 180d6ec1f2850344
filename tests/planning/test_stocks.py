"""Projection inputs from published stocks (bif_lib.planning.stocks): residual net migration,
births from a table or a fertility assumption, district codes from the data, the back-check, and
the loader's dispatch by the city profile."""

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bif_lib import loaders
from bif_lib.planning import estimate_parameters, project_population
from bif_lib.planning.schools import default_assignment
from bif_lib.planning.stocks import (
    estimate_from_stocks,
    fertility_schedule,
    net_migration_from_stocks,
    projection_inputs_from_stocks,
    single_age_stocks,
)

LOWER = list(range(0, 100, 5))
UPPER = [a + 4 for a in LOWER[:-1]] + [None]
FERTILITY = {"tfr": 1.4, "mean_age": 31.0}
CODES = (11, 12, 21, 93)  # integer codes, not 1..N


def make_stocks(codes=CODES, years=(2019, 2020), seed=5, synthetic=False) -> pd.DataFrame:
    """5-year bands 0–4 … 95+ per district and sex; a plausible shape with noise, slowly changing."""
    rng = np.random.default_rng(seed)
    ages = np.asarray(LOWER, dtype=float)
    shape = np.exp(-((ages - 30) / 35) ** 2) + 0.3 * (ages < 65) + 0.02
    rows = []
    for year in years:
        for code in codes:
            for sex in ("m", "w"):
                counts = np.round(shape * rng.uniform(200, 600) * rng.uniform(0.9, 1.1, len(LOWER)))
                rows += [(year, code, sex, a, b, c) for a, b, c in zip(LOWER, UPPER, counts)]
    frame = pd.DataFrame(rows, columns=["year", "district_id", "sex", "age_from", "age_to", "population"])
    frame["age_to"] = frame["age_to"].astype("Int64")  # as loaded: nullable integers, missing = open
    frame.attrs["bif"] = {"synthetic": synthetic}
    return frame


def _band_totals(single: pd.DataFrame) -> pd.Series:
    band = np.minimum(single["age"] // 5 * 5, 95)
    return single.assign(age_from=band).groupby(["district_id", "sex", "age_from"])["population"].sum()


# --- worked hand example -----------------------------------------------------------------------

def _hand_life_table() -> pd.DataFrame:
    sx = [0.99, 0.99, 0.98, 0.5]  # survival ratios by cohort age 0..3 (3 = open class 3+)
    return pd.DataFrame({"sex": np.repeat(["m", "w"], 4), "age": np.tile(np.arange(4), 2),
                         "sx": sx * 2, "Lx": [1.0] * 8})


def _hand_stocks() -> pd.DataFrame:
    """Single years 0, 1, 2 and the open class 3+ of one district (code 7), both sexes alike."""
    rows = []
    for year, values in ((2019, [100, 100, 100, 50]), (2020, [12.9, 104, 97, 95])):
        for sex in ("m", "w"):
            rows += [(year, 7, sex, a, None if a == 3 else a, v) for a, v in zip(range(4), values)]
    return pd.DataFrame(rows, columns=["year", "district_id", "sex", "age_from", "age_to", "population"])


def test_worked_hand_example():
    """2019 -> 2020, 20 births in 2020 (10 boys, 10 girls with share_boys 0.5), per sex:
        age 0:  12.9 - 0.99 * 10          =  3   (newborns surviving to 31.12.)
        age 1: 104   - 0.99 * 100         =  5
        age 2:  97   - 0.98 * 100         = -1   -> out rate 1 / 100
        age 3+: 95   - 0.5 * (100 + 50)   = 20   (aged 2 and 3+ at the start join the open class)
    Positive net: 2 x (3 + 5 + 20) = 56 in-migrants a year, distributed by cell."""
    births = pd.DataFrame({"year": [2020], "district_id": [7], "births": [20.0]})
    parameters, _, net = estimate_from_stocks(_hand_stocks(), _hand_life_table(), births=births,
                                                   max_age=3, share_boys=0.5)
    for sex in ("m", "w"):
        np.testing.assert_allclose(net[net["sex"] == sex]["net_migration"], [3, 5, -1, 20], atol=1e-12)
    assert parameters.district_ids == (7,)
    np.testing.assert_allclose(parameters.out_rate[0], [[0, 0, 0.01, 0]] * 2, atol=1e-12)
    assert parameters.in_volume == pytest.approx(56.0)
    np.testing.assert_allclose(parameters.in_profile[0], [np.array([3, 5, 0, 20]) / 56] * 2, atol=1e-12)
    assert not parameters.internal_rate.any() and not parameters.destination.any()
    assert (parameters.mortality_factor == 1).all()
    assert parameters.base_period == (2020, 2020)
    assert parameters.method["births_by_year"] == {2020: "Geburtentabelle"}
    assert not parameters.synthetic


# --- fertility ---------------------------------------------------------------------------------

def test_fertility_schedule_sums_to_the_tfr_at_the_mean_age():
    rates = fertility_schedule(1.35, 31.5)
    assert rates.sum() == pytest.approx(1.35, rel=1e-12)
    assert (rates[:15] == 0).all() and (rates[50:] == 0).all() and (rates >= 0).all()
    ages = np.arange(len(rates))
    assert (ages * rates).sum() / rates.sum() == pytest.approx(31.5, abs=0.15)
    assert 28 <= ages[rates.argmax()] <= 32  # a single peak shortly before the mean
    with pytest.raises(ValueError, match="zusammengefasste Geburtenziffer"):
        fertility_schedule(0, 31.5)
    with pytest.raises(ValueError, match="Durchschnittsalter"):
        fertility_schedule(1.4, 50)


# --- back-check: one interval is reproduced exactly ---------------------------------------------

@pytest.mark.parametrize("with_births", [False, True])
def test_projection_from_the_first_year_reproduces_the_second(sh_life_table, with_births):
    stocks = make_stocks()
    births = (pd.DataFrame({"year": 2020, "district_id": list(CODES), "births": [61.0, 40.0, 75.0, 12.0]})
              if with_births else None)
    inputs = projection_inputs_from_stocks(stocks, sh_life_table, births=births, fertility=FERTILITY, base_year=2019)
    result = project_population(inputs.base_population, inputs.parameters, base_year=2019, years=1)
    assert result.assumptions["exit_probabilities_capped_cells"] == 0
    projected = result.population[result.population["year"] == 2020]
    expected = single_age_stocks(stocks, lifetable=sh_life_table)
    expected = expected[expected["year"] == 2020]
    np.testing.assert_allclose(projected["population"].to_numpy(), expected["population"].to_numpy(), atol=1e-9)
    published = stocks[stocks["year"] == 2020].set_index(["district_id", "sex", "age_from"])["population"]
    np.testing.assert_allclose(_band_totals(projected).reindex(published.index), published, rtol=1e-12)
    births_by_district = result.components.set_index("district_id")["births"]
    if with_births:
        np.testing.assert_allclose(births_by_district.loc[list(CODES)], births["births"], rtol=1e-12)
        assert inputs.parameters.method["fertility"]["source"].startswith("Geburtentabelle")
    else:  # the assumed TFR applied to the women of 2019
        tfr = inputs.parameters.fertility.sum(axis=1)
        np.testing.assert_allclose(tfr, FERTILITY["tfr"], rtol=1e-12)


def test_several_intervals_are_averaged(sh_life_table):
    stocks = make_stocks(years=(2019, 2020, 2021))
    net = net_migration_from_stocks(stocks, sh_life_table, fertility=FERTILITY)
    assert sorted(net["year"].unique()) == [2020, 2021]
    parameters, _, _ = estimate_from_stocks(stocks, sh_life_table, fertility=FERTILITY)
    mean = net.groupby(["district_id", "sex", "age"], sort=False)["net_migration"].mean().to_numpy()
    assert parameters.in_volume == pytest.approx(np.maximum(mean, 0).sum())
    assert parameters.method["intervals"] == [[2019, 2020], [2020, 2021]]
    assert parameters.base_period == (2020, 2021)


def test_a_gap_year_is_skipped_but_one_interval_is_needed(sh_life_table):
    parameters, _, _ = estimate_from_stocks(make_stocks(years=(2017, 2019, 2020)), sh_life_table, fertility=FERTILITY)
    assert parameters.method["intervals"] == [[2019, 2020]]
    with pytest.raises(ValueError, match="mindestens zwei aufeinanderfolgende Jahre"):
        estimate_from_stocks(make_stocks(years=(2019, 2021)), sh_life_table, fertility=FERTILITY)


# --- districts come from the data (or the profile), not from a constant -------------------------

def test_thirty_districts_with_non_consecutive_codes_are_all_kept(sh_life_table):
    codes = tuple(10 * (i // 3 + 1) + i % 3 + 1 for i in range(30))  # 11, 12, 13, 21, … 103
    stocks = make_stocks(codes=codes, years=(2019, 2020, 2021, 2022, 2023))
    start = time.perf_counter()
    inputs = projection_inputs_from_stocks(stocks, sh_life_table, fertility=FERTILITY)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"estimation from stocks took {elapsed:.3f} s"
    assert inputs.parameters.district_ids == codes and inputs.base_year == 2023
    result = project_population(inputs.base_population, inputs.parameters, base_year=2023, years=2)
    assert sorted(result.population["district_id"].unique()) == sorted(codes)
    assert result.population[result.population["year"] == 2023]["population"].sum() == pytest.approx(
        stocks[stocks["year"] == 2023]["population"].sum())


def test_profile_codes_set_the_order_unknown_codes_are_an_error(sh_life_table):
    stocks = make_stocks()
    codes = (93, 21, 12, 11, 99)  # profile order; 99 publishes no stocks
    parameters, arrays, _ = estimate_from_stocks(stocks, sh_life_table, fertility=FERTILITY, district_ids=codes)
    assert parameters.district_ids == codes
    assert parameters.method["districts_without_stocks"] == [99]
    assert not arrays[2020][-1].any()
    with pytest.raises(ValueError, match=r"unbekannte Stadtteile \[93\]"):
        estimate_from_stocks(stocks, sh_life_table, fertility=FERTILITY, district_ids=(11, 12, 21))


def test_register_estimation_takes_its_districts_from_the_data(sh_life_table):
    persons = pd.DataFrame({"extract_year": [2018] * 4 + [2019] * 4, "district_id": [11, 11, 93, 93] * 2,
                            "sex": ["m", "w"] * 4, "age": [30, 31, 40, 41] * 2})
    events = pd.DataFrame({"year": 2019, "event": ["move_in", "move_within", "move_within"],
                           "district_id": [11, 11, 93], "to_district_id": [None, 93, 11], "age": [25, 32, 41],
                           "sex": ["w", "m", "w"], "mother_age": None})
    parameters = estimate_parameters(persons, events, (2019, 2019), lifetable=sh_life_table)
    assert parameters.district_ids == (11, 93)
    schools = pd.DataFrame({"school_id": ["A", "B"], "district_id": [11, 93], "grade": [1, 1], "pupils": [20, 30]})
    assert sorted(default_assignment(schools)["district_id"].unique()) == [11, 93]


# --- errors and labels --------------------------------------------------------------------------

def test_input_errors_are_reported_in_german(sh_life_table):
    stocks = make_stocks()
    with pytest.raises(ValueError, match="Fertilitätsannahme"):
        estimate_from_stocks(stocks, sh_life_table)
    incomplete = stocks[~((stocks["year"] == 2020) & (stocks["district_id"] == 21) & (stocks["sex"] == "w"))]
    with pytest.raises(ValueError, match="Bevölkerungsbestände 2020: es fehlen Stadtteil/Geschlecht 21/w"):
        estimate_from_stocks(incomplete, sh_life_table, fertility=FERTILITY)
    with pytest.raises(ValueError, match="Spalte sex: unbekannte Werte"):
        estimate_from_stocks(stocks.assign(sex=stocks["sex"].replace({"w": "f"})), sh_life_table, fertility=FERTILITY)
    gap = stocks[stocks["age_from"] != 10]
    with pytest.raises(ValueError, match="Lücke oder Überschneidung zwischen 5–9"):
        estimate_from_stocks(gap, sh_life_table, fertility=FERTILITY)
    births = pd.DataFrame({"year": 2020, "district_id": [11, 12], "births": [10.0, 12.0]})
    with pytest.raises(ValueError, match=r"Geburten 2020: es fehlen die Stadtteile \[21, 93\]"):
        estimate_from_stocks(stocks, sh_life_table, births=births)


def test_results_are_synthetic_only_if_an_input_is(sh_life_table):
    plain = projection_inputs_from_stocks(make_stocks(), sh_life_table, fertility=FERTILITY)
    assert not plain.parameters.synthetic and not plain.base_population.attrs["bif"]["synthetic"]
    labelled = projection_inputs_from_stocks(make_stocks(synthetic=True), sh_life_table, fertility=FERTILITY)
    assert labelled.parameters.synthetic and labelled.base_population.attrs["bif"]["synthetic"]


# --- the loader dispatches by the profile -------------------------------------------------------

def _loaded(frame: pd.DataFrame, dataset: str, version: int) -> pd.DataFrame:
    frame = frame.copy()
    frame.attrs["bif"] = {"dataset": dataset, "version": version, "synthetic": dataset == "bestand"}
    return frame


def test_load_projection_inputs_from_stocks(monkeypatch, sh_life_table):
    datasets = {"bestand": _loaded(make_stocks(), "bestand", 3),
                "tafel": _loaded(sh_life_table, "tafel", 1),
                "geburten": _loaded(pd.DataFrame({"year": 2020, "district_id": list(CODES), "births": 50.0}),
                                    "geburten", 2)}
    planning = {"population": "stocks", "stocks": {"dataset": "bestand", "births": "geburten"},
                "life_table": "tafel", "fertility": {"tfr": 1.4, "mean_age": 31.5}}
    profile = SimpleNamespace(planning=planning, districts=SimpleNamespace(codes=CODES))
    monkeypatch.setattr(loaders, "current_profile", lambda: profile)
    monkeypatch.setattr(loaders, "load", lambda name, store=None: datasets[name])
    inputs = loaders.load_projection_inputs(store="store")
    assert inputs.base_year == 2020 and inputs.parameters.district_ids == CODES
    assert inputs.parameters.inputs == {"bestand": 3, "tafel": 1, "geburten": 2}
    assert inputs.parameters.synthetic  # the stocks are labelled synthetic
    assert inputs.parameters.method["births_by_year"] == {2020: "Geburtentabelle"}
    without_births = {**planning, "stocks": {"dataset": "bestand"}}
    monkeypatch.setattr(loaders, "current_profile",
                        lambda: SimpleNamespace(planning=without_births, districts=profile.districts))
    assert loaders.load_projection_inputs(base_year=2019).base_year == 2019
    with pytest.raises(ValueError, match="planning.life_table fehlt"):
        loaders.load_stock_projection_inputs({**planning, "life_table": None})
