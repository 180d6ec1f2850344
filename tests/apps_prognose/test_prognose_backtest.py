"""The back-test (bif_lib.planning.backtest) by hand cases, and the pieces of the prognosis app that
need no store: the lazy back-test of „Daten & Qualität“, Excel exports with assumption sheets.

Worked example (docs/planning-models.md, "Back-test"): two districts with 1 000 and 3 000 residents
at 31.12.2022, nobody born, dying or moving (survival 1, all rates 0): the projection keeps both.
Observed 2023: 1 000 and 3 000; 2024: 800 and 3 000.
    2024 district 1: error = 1 000 − 800 = +200, +25 %; district 2: 0 %
    city: 4 000 − 3 800 = +200 → 200 / 3 800 = +5,26 %    ("Prognosefehler 2022→2024: 5,26 %")
    MAPE 2024 = (25 + 0) / 2 = 12,5 %;  2023: every error 0.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import ProjectionParameters, life_table, project_population
from bif_lib.planning.backtest import (
    backtest,
    backtest_single_ages,
    backtest_stocks,
    band_label,
    band_limits,
    default_assumptions,
)
from bif_lib.planning.lifetable import survival_ratios

AGES = np.arange(101)


def still_parameters(district_ids=(1, 2), base_period=None) -> ProjectionParameters:
    """Nobody is born, dies or moves: the projection keeps every district's total."""
    n = len(district_ids)
    return ProjectionParameters(
        district_ids=tuple(district_ids), survival=np.ones((2, 101)), mortality_factor=np.ones((n, 2)),
        fertility=np.zeros((n, 101)), share_boys=0.5, out_rate=np.zeros((n, 2, 101)),
        internal_rate=np.zeros((n, 2, 101)), destination=np.zeros((n, n)), in_volume=0.0,
        in_profile=np.zeros((n, 2, 101)), base_period=base_period)


def living_parameters(district_ids=(11, 23)) -> ProjectionParameters:
    """Births, deaths, moves out, between the districts and in: every component at work."""
    n = len(district_ids)
    bell = np.exp(-0.5 * ((AGES - 30) / 5) ** 2)
    fertility = np.outer(np.linspace(0.9, 1.1, n), 1.4 * bell / bell[15:50].sum())
    fertility[:, :15] = fertility[:, 50:] = 0.0
    moving = 0.02 + 0.1 * np.exp(-0.5 * ((AGES - 23) / 4) ** 2)
    destination = np.full((n, n), 1 / (n - 1))
    np.fill_diagonal(destination, 0.0)
    profile = np.broadcast_to(0.01 + np.exp(-0.5 * ((AGES - 21) / 4) ** 2), (n, 2, 101)).copy()
    return ProjectionParameters(
        district_ids=tuple(district_ids), survival=survival_ratios(life_table()), mortality_factor=np.ones((n, 2)),
        fertility=fertility, share_boys=105 / 205, out_rate=np.broadcast_to(moving, (n, 2, 101)).copy(),
        internal_rate=np.broadcast_to(0.5 * moving, (n, 2, 101)).copy(), destination=destination,
        in_volume=900.0, in_profile=profile / profile.sum(), base_period=(2018, 2022))


def base_population(totals: dict[int, float]) -> pd.DataFrame:
    rows = []
    for district, total in totals.items():
        for sex in ("m", "w"):
            rows += [(district, sex, age, total / 2 / 101) for age in AGES]
    return pd.DataFrame(rows, columns=["district_id", "sex", "age", "population"])


def observed_totals(values: dict[tuple[int, int], float]) -> pd.DataFrame:
    return pd.DataFrame([(y, d, v) for (y, d), v in values.items()], columns=["year", "district_id", "population"])


# --- hand cases -------------------------------------------------------------------------------------

def test_worked_example_known_perturbation():
    observed = observed_totals({(2023, 1): 1000, (2023, 2): 3000, (2024, 1): 800, (2024, 2): 3000})
    result = backtest(base_population({1: 1000, 2: 3000}), still_parameters(), observed, base_year=2022)
    assert (result.base_year, result.end_year, result.years) == (2022, 2024, [2023, 2024])
    end = result.districts[result.districts["year"] == 2024].set_index("district_id")
    assert end.loc[1, "projected"] == pytest.approx(1000) and end.loc[1, "error"] == pytest.approx(200)
    assert end.loc[1, "error_pct"] == pytest.approx(25.0) and end.loc[2, "error_pct"] == pytest.approx(0.0, abs=1e-9)
    assert result.error_pct == pytest.approx(200 / 3800 * 100)
    assert result.mape == pytest.approx(12.5)
    assert result.city.set_index("year").loc[2024, "max_abs_error_pct"] == pytest.approx(25.0)
    assert result.city.set_index("year").loc[2023, "error_pct"] == pytest.approx(0.0, abs=1e-9)
    assert result.headline == "Prognosefehler 2022→2024: 5,26 %"
    lines = result.summary_de()
    assert "zu hoch" in lines[1] and "12,50 %" in lines[2] and "25,00 %" in lines[2]
    assert not result.in_sample  # no base period: nothing known about the parameters


def test_too_low_is_named_and_the_headline_is_absolute():
    observed = observed_totals({(2023, 1): 1250, (2023, 2): 3000})
    result = backtest(base_population({1: 1000, 2: 3000}), still_parameters(), observed, base_year=2022)
    assert result.error_pct == pytest.approx(-250 / 4250 * 100)
    assert result.headline == "Prognosefehler 2022→2023: 5,88 %" and "zu niedrig" in result.summary_de()[1]


def test_an_exact_projection_has_no_error_in_any_year_district_or_band():
    parameters = living_parameters()
    base = base_population({11: 5200, 23: 8100})
    truth = project_population(base, parameters, base_year=2017, years=5,
                               assumptions=default_assumptions()).population
    observed = truth[truth["year"] > 2017]
    result = backtest(base, parameters, observed, base_year=2017, age_bands=[0, 3, 6, 18, 65, 80])
    assert result.end_year == 2022 and result.years == [2018, 2019, 2020, 2021, 2022]
    assert np.abs(result.districts["error_pct"]).max() < 1e-9
    assert np.abs(result.city["error"]).max() < 1e-6 and result.mape < 1e-9
    assert result.headline == "Prognosefehler 2017→2022: 0,00 %"
    assert list(result.bands["band"].unique()) == ["0–2", "3–5", "6–17", "18–64", "65–79", "80 und älter"]
    assert np.abs(result.bands["error"]).max() < 1e-6
    assert result.in_sample  # parameters of 2018–2022 checked from 2017
    assert any("aus 2018–2022 geschätzt" in line for line in result.summary_de())


def test_a_perturbed_band_gives_its_known_error():
    parameters = living_parameters()
    base = base_population({11: 5200, 23: 8100})
    truth = project_population(base, parameters, base_year=2017, years=2,
                               assumptions=default_assumptions()).population
    observed = truth[truth["year"] > 2017].copy()
    children = (observed["year"] == 2019) & (observed["age"] < 3)
    observed.loc[children, "population"] *= 1.1  # 10 % more small children observed than projected
    result = backtest(base, parameters, observed, base_year=2017, age_bands=[0, 3])
    band = result.bands[(result.bands["year"] == 2019) & (result.bands["band"] == "0–2")].iloc[0]
    assert band["error_pct"] == pytest.approx((1 / 1.1 - 1) * 100)  # −9,09 %
    other = result.bands[(result.bands["year"] == 2019) & (result.bands["band"] == "3 und älter")].iloc[0]
    assert other["error_pct"] == pytest.approx(0.0, abs=1e-9)


def test_single_ages_take_the_earliest_year_as_base_and_keep_the_label():
    parameters = living_parameters()
    base = base_population({11: 5200, 23: 8100})
    truth = project_population(base, parameters, base_year=2017, years=3,
                               assumptions=default_assumptions()).population.drop(columns="scenario")
    truth.attrs["bif"] = {"synthetic": True, "dataset": "einzelalter_test"}
    result = backtest_single_ages(truth, parameters)
    assert (result.base_year, result.end_year) == (2017, 2020)
    assert abs(result.error_pct) < 1e-9 and result.synthetic
    assert any("einzelalter_test" in line for line in result.summary_de())
    shorter = backtest_single_ages(truth, parameters, base_year=2018, end_year=2019)
    assert (shorter.base_year, shorter.end_year, shorter.years) == (2018, 2019, [2019])
    with pytest.raises(ValueError, match="Basisjahr 2010"):
        backtest_single_ages(truth, parameters, base_year=2010)


def test_no_observed_year_after_the_base_is_refused_in_german():
    with pytest.raises(ValueError, match="keine beobachteten Jahre"):
        backtest(base_population({1: 10, 2: 10}), still_parameters(), observed_totals({(2022, 1): 10}),
                 base_year=2022)


# --- stocks ------------------------------------------------------------------------------------------

LOWER = list(range(0, 100, 5))
UPPER = [a + 4 for a in LOWER[:-1]] + [None]


def stocks(years, codes=(11, 12, 93), seed=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shape = np.exp(-((np.asarray(LOWER, float) - 30) / 35) ** 2) + 0.3 * (np.asarray(LOWER) < 65) + 0.02
    rows = []
    for k, year in enumerate(years):
        for code in codes:
            for sex in ("m", "w"):
                counts = np.round(shape * (300 + 10 * code) * (1 + 0.01 * k) * rng.uniform(0.97, 1.03, len(LOWER)))
                rows += [(year, code, sex, a, b, c) for a, b, c in zip(LOWER, UPPER, counts)]
    frame = pd.DataFrame(rows, columns=["year", "district_id", "sex", "age_from", "age_to", "population"])
    frame["age_to"] = frame["age_to"].astype("Int64")
    frame.attrs["bif"] = {"synthetic": True}
    return frame


FERTILITY = {"tfr": 1.4, "mean_age": 31.0}


def test_stocks_one_interval_in_the_sample_is_exact():
    """With one interval the residual reproduces the second stock exactly (docs, section 4a)."""
    result = backtest_stocks(stocks([2019, 2020]), life_table(), fertility=FERTILITY, out_of_sample=False)
    assert (result.base_year, result.end_year, result.in_sample) == (2019, 2020, True)
    assert abs(result.error_pct) < 1e-9 and result.mape < 1e-9
    assert result.parameters_period == (2019, 2020)


def test_stocks_out_of_the_sample_estimate_only_from_the_years_up_to_the_base():
    frame = stocks([2019, 2020, 2021, 2022, 2023])
    result = backtest_stocks(frame, life_table(), fertility=FERTILITY, age_bands=[0, 6, 18, 65])
    assert (result.base_year, result.end_year, result.in_sample) == (2021, 2023, False)
    assert result.parameters_period == (2019, 2021) and result.years == [2022, 2023]
    observed = frame[frame["year"] == 2023].groupby("district_id")["population"].sum()
    end = result.districts[result.districts["year"] == 2023].set_index("district_id")
    np.testing.assert_allclose(end["observed"], observed.loc[end.index])  # the published totals, exactly
    assert 0 < result.mape < 10 and result.synthetic
    assert any("nur aus 2019–2021 geschätzt" in line for line in result.summary_de())
    # the stocks after the base year do not change the result: they are not used to estimate
    later = frame.copy()
    later.loc[later["year"] == 2023, "population"] *= 1.5
    changed = backtest_stocks(later, life_table(), fertility=FERTILITY)
    np.testing.assert_allclose(changed.districts["projected"], result.districts["projected"])
    assert changed.error_pct == pytest.approx((result.city["projected"].iloc[-1]
                                               / (1.5 * result.city["observed"].iloc[-1]) - 1) * 100)
    chosen = backtest_stocks(frame, life_table(), fertility=FERTILITY, base_year=2020)
    assert (chosen.base_year, chosen.parameters_period) == (2020, (2019, 2020))


def test_stocks_too_short_for_a_back_test():
    with pytest.raises(ValueError, match="zu wenige Jahre"):
        backtest_stocks(stocks([2019, 2020]), life_table(), fertility=FERTILITY)


def test_band_limits_and_labels():
    assert band_limits([0, 3, 6, 80]) == [(0, 2), (3, 5), (6, 79), (80, None)]
    assert band_limits([5, 10]) == [(0, 4), (5, 9), (10, None)]
    assert [band_label(a, b) for a, b in [(0, 2), (6, 6), (80, None)]] == ["0–2", "6", "80 und älter"]


# --- widgets without a store ------------------------------------------------------------------------

def test_the_quality_panel_computes_the_back_test_when_first_opened():
    from bif_lib.apps.widgets.panels import DataQualityPanel

    calls = []

    def provider():
        calls.append(1)
        return ["Prognosefehler 2017→2022: 0,05 % (Gesamtstadt).", "Detail"]

    panel = DataQualityPanel([])
    panel.set_backtest(provider)
    assert not calls and "wird beim Öffnen berechnet" in panel.html.value
    panel.selected_index = 0
    assert calls == [1] and "Prognosefehler 2017→2022: 0,05 %" in panel.html.value
    panel.selected_index = None
    panel.selected_index = 0
    assert calls == [1]  # once
    panel.set_assumptions({"Szenario": "mittel"})
    assert "Prognosefehler" in panel.html.value and "mittel" in panel.html.value
    notes = panel.export_info(app="x").notes
    assert any(n.startswith("Rückblick: Prognosefehler: Prognosefehler 2017") for n in notes)

    def failing():
        raise ValueError("zu wenige Jahre")

    other = DataQualityPanel([])
    other.set_backtest(failing, now=True)
    assert other.backtest_lines == ["Rückblick nicht möglich: zu wenige Jahre"]


def test_excel_export_puts_each_assumption_table_on_its_own_sheet():
    from openpyxl import load_workbook

    from bif_lib.apps.views.common import INT, TEXT, ViewTable
    from bif_lib.apps.widgets.export import TableDownloads, xlsx_bytes

    main = ViewTable(pd.DataFrame({"Jahr": [2022, 2023], "Einwohner": [100.0, 101.4]}), {"Jahr": "year",
                                                                                        "Einwohner": INT}, "Haupt")
    annahmen = ViewTable(pd.DataFrame({"Annahme": ["Faktor Zuzüge"], "Wert": ["1,07"]}),
                         {"Annahme": TEXT, "Wert": TEXT}, "Annahmen")
    neubau = ViewTable(pd.DataFrame({"Bezugsjahr": [2025], "Wohnungen": [300.0]}),
                       {"Bezugsjahr": "year", "Wohnungen": INT}, "Neubau")
    data = xlsx_bytes(main, sheet="Tabelle", info={"Quelle": "Test"},
                      extra_sheets=[("Annahmen", annahmen), ("Neubau", neubau)])
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tabelle", "Annahmen", "Neubau", "Hinweise"]
    assert [c.value for c in book["Annahmen"][2]] == ["Faktor Zuzüge", "1,07"]
    assert [c.value for c in book["Neubau"][2]] == [2025, 300]
    links = TableDownloads()
    links.update(main, extra_sheets=[("Annahmen", annahmen), ("Neubau", neubau)])
    assert links.extra_sheets == ["Annahmen", "Neubau"]
    assert "CSV Annahmen" in links.value and 'download="tabelle_annahmen.csv"' in links.value
    assert links.value.count("download=") == 4  # Excel, CSV, and a CSV per assumption sheet
