"""Back-test of the population projection: run it from an earlier base year and compare with the
years that were observed since.

    projected(t, d) = the projection's population of district d at 31.12. of year t
    error(t, d)     = projected(t, d) − observed(t, d)
    error % (t, d)  = error(t, d) / observed(t, d) · 100
    city error %    = (Σ_d projected − Σ_d observed) / Σ_d observed · 100      ("Prognosefehler")
    MAPE (t)        = mean over the districts with observed > 0 of |error % (t, d)|

Two ways to get the parameters, and the result says which (``in_sample``):

* **in the sample** — the parameters were estimated from a period that overlaps the checked
  years (the released register parameters of 2018–2022 checked from 2017 on; stocks of
  2019–2023 checked from 2019). This checks that the model reproduces what it was fitted to
  (engine, age-shift, the balance of the components); it is *not* the error of a real
  forecast, which is larger.
* **out of the sample** — the parameters come only from the years up to the base year (stocks:
  :func:`backtest_stocks` re-estimates from the stocks ≤ base year). This is the error a
  planner would have made with the method at the time.

Pure: DataFrames in, results out (``tests/planning/test_purity.py``). The apps load the
observed data (``bif_lib.apps.views.projection_app``); the method is in docs/planning-models.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.i18n import format_number
from bif_lib.planning._common import check_columns, is_synthetic, label_frame, merge_inputs
from bif_lib.planning.parameters import ProjectionParameters
from bif_lib.planning.projection import project_population
from bif_lib.planning.scenarios import Assumptions

MIN_INTERVALS_OUT_OF_SAMPLE = 2  # stocks: estimate from at least two yearly intervals before the base year


def default_assumptions() -> Assumptions | str:
    """The rates as estimated, without a trend (``scenarios.AS_ESTIMATED`` where it exists): the
    observed years already contain their mortality and migration; else the scenario „mittel“."""
    from bif_lib.planning import scenarios

    return getattr(scenarios, "AS_ESTIMATED", None) or "medium"


@dataclass(frozen=True, eq=False)
class Backtest:
    """Projected against observed population, per year and district (and per age band).

    ``districts``: year, district_id, projected, observed, error, error_pct;
    ``city``: year, projected, observed, error, error_pct, mape, max_abs_error_pct;
    ``bands`` (if the observed data have single ages and bands were given): year, band, age_from,
    age_to, projected, observed, error, error_pct (city-wide).
    """

    base_year: int
    end_year: int
    districts: pd.DataFrame
    city: pd.DataFrame
    bands: pd.DataFrame | None
    in_sample: bool
    parameters_period: tuple[int, int] | None
    synthetic: bool
    method: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.city["year"]]

    def _end(self) -> pd.Series:
        return self.city[self.city["year"] == self.end_year].iloc[0]

    @property
    def error_pct(self) -> float:
        """City-wide error of the last checked year in percent (signed: + = projected too high)."""
        return float(self._end()["error_pct"])

    @property
    def mape(self) -> float:
        """Mean absolute percentage error over the districts in the last checked year."""
        return float(self._end()["mape"])

    @property
    def headline(self) -> str:
        """'Prognosefehler 2017→2022: 0,05 %' (city-wide, absolute, last checked year)."""
        return f"Prognosefehler {self.base_year}→{self.end_year}: {format_number(abs(self.error_pct), 2)} %"

    def summary_de(self, district_plural: str = "Stadtteile") -> list[str]:
        """The back-test in German sentences (headline first), for the quality panel and exports."""
        end = self._end()
        direction = "zu hoch" if end["error"] > 0 else "zu niedrig" if end["error"] < 0 else "genau"
        lines = [
            self.headline + " (Gesamtstadt).",
            f"Vorausberechnet für {self.end_year}: {format_number(end['projected'])} Einwohner, beobachtet: "
            f"{format_number(end['observed'])} ({format_number(end['error'], 0)}; {direction}).",
            f"Mittlerer absoluter Fehler der {district_plural} {self.end_year}: {format_number(self.mape, 2)} % "
            f"(größter: {format_number(end['max_abs_error_pct'], 2)} %).",
        ]
        if self.parameters_period:
            first, last = self.parameters_period
            period = f"{first}–{last}" if first != last else str(first)
            if self.in_sample:
                lines.append(f"Die Parameter sind aus {period} geschätzt, also aus Jahren, die der Rückblick prüft: "
                             "Er prüft, wie gut das Modell die beobachtete Entwicklung nachbildet – eine echte "
                             "Vorausberechnung hat in der Regel größere Fehler.")
            else:
                lines.append(f"Die Parameter sind nur aus {period} geschätzt (bis zum Basisjahr): der Fehler einer "
                             f"Vorausberechnung, die {self.base_year} gemacht worden wäre.")
        if self.method.get("observed_note_de"):
            lines.append(self.method["observed_note_de"])
        return lines

    def table_by_year(self) -> pd.DataFrame:
        """German table: Jahr, Vorausberechnet, Beobachtet, Abweichung, Abweichung (%), mittlerer
        absoluter Fehler der Stadtteile (%)."""
        return pd.DataFrame({"Jahr": self.city["year"].astype(int), "Vorausberechnet": self.city["projected"],
                             "Beobachtet": self.city["observed"], "Abweichung": self.city["error"],
                             "Abweichung in %": self.city["error_pct"],
                             "Mittlerer absoluter Fehler der Teilräume in %": self.city["mape"]})


def _totals(frame: pd.DataFrame) -> pd.DataFrame:
    """year, district_id, population summed over everything else."""
    check_columns(frame, ["year", "district_id", "population"], "Beobachtete Bevölkerung")
    return (frame.groupby([frame["year"].astype(int), frame["district_id"].astype(int)])["population"].sum()
            .rename("observed").reset_index())


def band_label(age_from: int, age_to: int | None) -> str:
    """'0–2', '80 und älter' (completed years)."""
    if age_to is None:
        return f"{age_from} und älter"
    return str(age_from) if age_from == age_to else f"{age_from}–{age_to}"


def band_limits(lower_bounds: Sequence[int], max_age: int = 100) -> list[tuple[int, int | None]]:
    """[(0, 2), (3, 5), …, (80, None)] from lower bounds (the last band is open)."""
    bounds = sorted(int(b) for b in lower_bounds)
    if not bounds or bounds[0] != 0:
        bounds = [0, *[b for b in bounds if b > 0]]
    return [(lo, hi - 1) for lo, hi in zip(bounds, bounds[1:])] + [(bounds[-1], None)]


def backtest(
    base_population: pd.DataFrame,
    parameters: ProjectionParameters,
    observed: pd.DataFrame,
    *,
    base_year: int,
    end_year: int | None = None,
    assumptions: Assumptions | str | None = None,
    in_sample: bool | None = None,
    age_bands: Sequence[int] | None = None,
    parameters_period: tuple[int, int] | None = None,
    method: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Backtest:
    """Project ``base_population`` (31.12. of ``base_year``) to ``end_year`` (default: the last
    observed year) and compare with ``observed`` (year, district_id, population [, sex, age]) in
    every observed year after the base year.

    ``in_sample`` None: decided from ``parameters.base_period`` (its last year after the base year
    means the parameters saw checked years). ``age_bands``: lower bounds of the age bands for the
    city-wide table by band (needs ``age`` in ``observed``). ``parameters_period``: the years the
    parameters were estimated from, as the result names them (default ``parameters.base_period``).
    """
    observed_totals = _totals(observed)
    later = sorted(int(y) for y in observed_totals["year"].unique() if y > base_year)
    if end_year is None:
        if not later:
            raise ValueError(f"Rückblick: keine beobachteten Jahre nach dem Basisjahr {base_year}.")
        end_year = later[-1]
    end_year = int(end_year)
    checked = [y for y in later if y <= end_year]
    if not checked:
        raise ValueError(f"Rückblick {base_year}→{end_year}: keine beobachteten Jahre dazwischen.")
    result = project_population(base_population, parameters, base_year=base_year, years=end_year - base_year,
                                assumptions=default_assumptions() if assumptions is None else assumptions)
    district_ids = np.asarray(result.district_ids)
    by_year = result.population_array.sum(axis=2)  # (year, district, age)
    projected = by_year.sum(axis=2)  # (year, district)
    rows = pd.DataFrame({
        "year": np.repeat(checked, len(district_ids)),
        "district_id": np.tile(district_ids, len(checked)),
        "projected": np.concatenate([projected[y - base_year] for y in checked]),
    })
    districts = rows.merge(observed_totals, on=["year", "district_id"], how="left")
    districts["observed"] = districts["observed"].fillna(0.0)
    districts["error"] = districts["projected"] - districts["observed"]
    districts["error_pct"] = np.where(districts["observed"] > 0,
                                      districts["error"] / districts["observed"].where(districts["observed"] > 0)
                                      * 100, np.nan)
    city = districts.groupby("year", as_index=False)[["projected", "observed"]].sum()
    city["error"] = city["projected"] - city["observed"]
    city["error_pct"] = city["error"] / city["observed"] * 100
    absolute = districts.assign(abs_pct=districts["error_pct"].abs()).groupby("year")["abs_pct"]
    city["mape"] = city["year"].map(absolute.mean())
    city["max_abs_error_pct"] = city["year"].map(absolute.max())

    bands = None
    if age_bands is not None and "age" in observed.columns:
        limits = band_limits(age_bands, result.max_age)
        ages = observed["age"].to_numpy(int)
        years = observed["year"].to_numpy(int)
        counts = observed["population"].to_numpy(float)
        parts = []
        for year in checked:
            in_year = years == year
            obs = np.bincount(np.minimum(ages[in_year], result.max_age), weights=counts[in_year],
                              minlength=result.max_age + 1)
            pro = by_year[year - base_year].sum(axis=0)
            for lo, hi in limits:
                top = result.max_age if hi is None else hi
                parts.append((year, band_label(lo, hi), lo, hi, float(pro[lo:top + 1].sum()),
                              float(obs[lo:top + 1].sum())))
        bands = pd.DataFrame(parts, columns=["year", "band", "age_from", "age_to", "projected", "observed"])
        bands["error"] = bands["projected"] - bands["observed"]
        bands["error_pct"] = bands["error"] / bands["observed"].where(bands["observed"] > 0) * 100

    period = parameters_period or parameters.base_period
    period = tuple(int(y) for y in period) if period else None
    if in_sample is None:
        in_sample = bool(period and period[1] > base_year)
    synthetic = bool(result.synthetic or is_synthetic(observed))
    for frame in (districts, city, bands):
        if frame is not None:
            label_frame(frame, synthetic)
    return Backtest(base_year=int(base_year), end_year=end_year, districts=districts, city=city, bands=bands,
                    in_sample=bool(in_sample), parameters_period=period, synthetic=synthetic,
                    method={"assumptions": result.assumptions.get("scenario"),
                            "assumptions_de": result.assumptions.get("scenario_label_de"), **dict(method or {})},
                    inputs=merge_inputs(result.inputs, inputs))


def backtest_single_ages(
    single_ages: pd.DataFrame,
    parameters: ProjectionParameters,
    *,
    base_year: int | None = None,
    end_year: int | None = None,
    age_bands: Sequence[int] | None = None,
    assumptions: Assumptions | str | None = None,
) -> Backtest:
    """The back-test of the register path: the single-age population of several years (year,
    district_id, sex, age, population; e.g. the released ``bevoelkerung_einzelalter``) and the
    projection parameters. Base year: default the earliest year; end year: default the latest."""
    check_columns(single_ages, ["year", "district_id", "sex", "age", "population"], "Einzelalter")
    years = sorted(int(y) for y in single_ages["year"].unique())
    base_year = years[0] if base_year is None else int(base_year)
    if base_year not in years:
        raise ValueError(f"Rückblick: kein Bestand für das Basisjahr {base_year} (vorhanden: "
                         f"{', '.join(map(str, years))}).")
    known = single_ages["district_id"].astype(int).isin(parameters.district_ids)
    rows = single_ages[known]
    base = rows[rows["year"] == base_year][["district_id", "sex", "age", "population"]]
    base = label_frame(base.astype({"population": "float64"}).reset_index(drop=True), is_synthetic(single_ages))
    note = None
    if single_ages.attrs.get("bif", {}).get("dataset"):
        note = (f"Beobachtet: {single_ages.attrs['bif']['dataset']} (Bestand 31.12.; durch die Geheimhaltung "
                "leicht veränderte Werte).")
    return backtest(base, parameters, rows, base_year=base_year, end_year=end_year, age_bands=age_bands,
                    assumptions=assumptions, method={"source": "Einzelalter mehrerer Jahre",
                                                     **({"observed_note_de": note} if note else {})})


def backtest_stocks(
    stocks: pd.DataFrame,
    lifetable: pd.DataFrame,
    *,
    births: pd.DataFrame | None = None,
    fertility: Mapping[str, Any] | None = None,
    district_ids: tuple[int, ...] | None = None,
    base_year: int | None = None,
    end_year: int | None = None,
    out_of_sample: bool = True,
    age_bands: Sequence[int] | None = None,
    assumptions: Assumptions | str | None = None,
) -> Backtest:
    """The back-test of the stocks path (:mod:`bif_lib.planning.stocks`).

    ``out_of_sample`` (default): the parameters are estimated only from the stocks (and births)
    up to the base year; default base year: the first year with two intervals before it
    (``MIN_INTERVALS_OUT_OF_SAMPLE``; one if the stocks are too short). Else the parameters come
    from every year and the default base year is the earliest. The observed totals are the
    published stocks (exact); the age bands compare with the stocks split into single ages.
    """
    from bif_lib.planning.stocks import projection_inputs_from_stocks, single_age_stocks

    check_columns(stocks, ["year", "district_id", "population"], "Bevölkerungsbestände")
    years = sorted(int(y) for y in stocks["year"].unique())
    if len(years) < 2 or (out_of_sample and len(years) < 3):
        raise ValueError("Rückblick: zu wenige Jahre mit Beständen "
                         f"(vorhanden: {', '.join(map(str, years)) or 'keine'}).")
    last = years[-1] if end_year is None else int(end_year)
    if base_year is None:
        if out_of_sample:
            base_year = years[min(MIN_INTERVALS_OUT_OF_SAMPLE, len(years) - 2)]
        else:
            base_year = years[0]
    base_year = int(base_year)
    if base_year >= last:
        raise ValueError(f"Rückblick: das Basisjahr {base_year} muss vor dem letzten Jahr {last} liegen.")
    if out_of_sample:
        used = stocks[stocks["year"].astype(int) <= base_year]
        used.attrs = dict(stocks.attrs)
        used_births = None if births is None else births[births["year"].astype(int) <= base_year]
        if used_births is not None:
            used_births.attrs = dict(births.attrs)
    else:
        used, used_births = stocks, births
    inputs = projection_inputs_from_stocks(used, lifetable, births=used_births, fertility=fertility,
                                           base_year=base_year, district_ids=district_ids)
    observed = _totals(stocks[stocks["year"].astype(int) > base_year]).rename(columns={"observed": "population"})
    observed.attrs["bif"] = dict(stocks.attrs.get("bif", {}))
    if age_bands is not None:
        observed = single_age_stocks(stocks[stocks["year"].astype(int) > base_year],
                                     district_ids=inputs.parameters.district_ids, lifetable=lifetable)
        observed.attrs["bif"] = {**stocks.attrs.get("bif", {}), **observed.attrs.get("bif", {})}
    return backtest(inputs.base_population, inputs.parameters, observed, base_year=base_year, end_year=last,
                    age_bands=age_bands, assumptions=assumptions, in_sample=not out_of_sample,
                    parameters_period=(years[0], base_year if out_of_sample else years[-1]),
                    method={"source": "Bevölkerungsbestände nach Altersgruppen (Residuenmethode)",
                            "out_of_sample": out_of_sample,
                            "observed_note_de": "Beobachtet: die veröffentlichten Bestände (Summen exakt; "
                                                "Altersgruppen aus Einzelaltern geschätzt)."})
