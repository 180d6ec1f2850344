"""Back-test errors of the population projection, and the cost of the app „Bevölkerungsprognose“.

Reports, never asserts (bench/results.json, section ``backtest``):

* **Flensburg (register path)**: the released single ages of 2017–2022 and the released
  parameters (estimated from 2018–2022, so every base year is a check *in* the sample): for
  each base year 2017 … 2021 the city-wide error of 2022 ("Prognosefehler"), the mean absolute
  percentage error (MAPE) of the Stadtteile, the largest district error, the errors per year and,
  for 2017→2022, per age group of the profile;
* **Musterstadt (stocks path)**: stocks 2019–2023; *out of* the sample (parameters re-estimated
  from the stocks up to the base year) for the base years 2020, 2021, 2022 → 2023, and in the
  sample 2019→2023;
* the time the apps need for it: reading the observed data again plus the back-test (what the
  „Daten & Qualität“ panel pays when first opened);
* the app in-process (``--app``, default on): time to build it (what a kernel does when the app
  opens) and the callback time of each kind of change (district, year, chart, table, scenario,
  housing), as ``bench/bench_app_interaction.py`` measures its ``kernel_*`` part: in an asyncio
  loop, deferred downloads running between the changes.

Stores: Flensburg from ``$BIF_HOME`` if it holds ``bevoelkerung_einzelalter``, else a fresh
bootstrap from the mirror (``$BIF_MIRROR`` or ../shared/data/flensburg); Musterstadt always a
fresh bootstrap (bundled sources, a few seconds).

Run: ``.venv/bin/python -m bench.bench_backtest [--no-app] [--changes 20] [--no-record]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench._results import record  # noqa: E402

PAUSE_S = 0.05


def city(home: Path, key: str):
    from bif_lib.city import city_environment

    return city_environment(key, home)


def flensburg_home() -> Path:
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.store import Store

    home = os.environ.get("BIF_HOME")
    if home and Store(Path(home) / "store").catalog.latest("bevoelkerung_einzelalter") is not None:
        return Path(home)
    mirror = Path(os.environ.get("BIF_MIRROR", ROOT.parent / "shared" / "data" / "flensburg"))
    home = Path(tempfile.mkdtemp(prefix="bif-bench-backtest-fl-"))
    with city(home, "flensburg"):
        result = bootstrap("flensburg", mirror=mirror, store=Store(home / "store"))
    if not result.ok:
        raise SystemExit(result.summary())
    return home


def musterstadt_home() -> Path:
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.store import Store

    home = Path(tempfile.mkdtemp(prefix="bif-bench-backtest-ms-"))
    with city(home, "musterstadt"):
        result = bootstrap("musterstadt", store=Store(home / "store"))
    if not result.ok:
        raise SystemExit(result.summary())
    return home


def summary(bt) -> dict:
    out = {"base_year": bt.base_year, "end_year": bt.end_year, "in_sample": bt.in_sample,
           "parameters_period": list(bt.parameters_period or ()), "headline": bt.headline,
           "error_pct": round(bt.error_pct, 4), "mape_pct": round(bt.mape, 3),
           "max_abs_district_error_pct": round(float(bt.city["max_abs_error_pct"].iloc[-1]), 3),
           "error_pct_by_year": {int(r.year): round(float(r.error_pct), 4) for r in bt.city.itertuples()},
           "mape_pct_by_year": {int(r.year): round(float(r.mape), 3) for r in bt.city.itertuples()}}
    if bt.bands is not None:
        end = bt.bands[bt.bands["year"] == bt.end_year]
        out["error_pct_by_age_group"] = {r.band: round(float(r.error_pct), 3) for r in end.itertuples()}
    return out


def timed(function, runs: int = 5) -> tuple[object, float]:
    times, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        value = function()
        times.append((time.perf_counter() - start) * 1000)
    return value, round(statistics.median(times), 1)


def flensburg_backtests(home: Path) -> dict:
    from bif_lib.apps.views.projection_app import load_backtest
    from bif_lib.city import current_profile
    from bif_lib.loaders import load_projection_inputs, load_single_ages
    from bif_lib.planning.backtest import backtest_single_ages

    with city(home, "flensburg"):
        bands = current_profile().age_bands
        inputs = load_projection_inputs(variant="pooled")  # as the apps' back-test: equal year weights
        single = load_single_ages()
        years = sorted(int(y) for y in single["year"].unique())
        out = {"observed_years": years, "parameters_period": list(inputs.parameters.base_period or ()),
               "runs": []}
        for base in years[:-1]:
            bt = backtest_single_ages(single, inputs.parameters, base_year=base, age_bands=bands if base == years[0]
                                      else None)
            out["runs"].append(summary(bt))
            print(f"Flensburg   {bt.headline:38s} MAPE {bt.mape:6.2f} %  ({'in' if bt.in_sample else 'out of'} sample)")
        _, ms = timed(lambda: load_backtest())
        out["app_backtest_ms"] = ms  # read the single ages again + back-test, as the panel does
        _, ms = timed(lambda: backtest_single_ages(single, inputs.parameters))
        out["backtest_only_ms"] = ms
        print(f"Flensburg   back-test in the app: {out['app_backtest_ms']} ms (computation alone {ms} ms)")
    return out


def musterstadt_backtests(home: Path) -> dict:
    from bif_lib.api import load
    from bif_lib.apps.views.projection_app import load_backtest
    from bif_lib.city import current_profile
    from bif_lib.planning.backtest import backtest_stocks

    with city(home, "musterstadt"):
        profile = current_profile()
        planning = profile.planning
        stocks = load(planning["stocks"]["dataset"])
        lifetable = load(planning["life_table"])
        years = sorted(int(y) for y in stocks["year"].unique())
        out = {"stock_years": years, "runs": []}
        options = {"fertility": planning.get("fertility"), "district_ids": profile.districts.codes,
                   "age_bands": profile.age_bands}
        for base in years[1:-1]:
            bt = backtest_stocks(stocks, lifetable, base_year=base, out_of_sample=True, **options)
            out["runs"].append(summary(bt))
            print(f"Musterstadt {bt.headline:38s} MAPE {bt.mape:6.2f} %  (out of sample, parameters "
                  f"{bt.parameters_period[0]}–{bt.parameters_period[1]})")
        bt = backtest_stocks(stocks, lifetable, base_year=years[0], out_of_sample=False, **options)
        out["runs"].append(summary(bt))
        print(f"Musterstadt {bt.headline:38s} MAPE {bt.mape:6.2f} %  (in sample)")
        _, ms = timed(lambda: load_backtest())
        out["app_backtest_ms"] = ms
        print(f"Musterstadt back-test in the app: {ms} ms")
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def app_actions(app) -> dict:
    """name -> action(app, i) for change i (each a planner's change)."""
    names = list(app.names)
    base = app.projector.base_year

    def housing(app, i):
        if i % 2 == 0:
            app.housing.add(names[i % len(names)], base + 2 + i % 5, 200)
        else:
            app.housing.clear()

    return {
        "district": lambda app, i: setattr(app.district, "value", names[i % len(names)] if i % (len(names) + 1)
                                           else 0),
        "year": lambda app, i: setattr(app.year, "value", base + 1 + i % 20),
        "chart": lambda app, i: setattr(app.chart_kind, "value", ("bands", "components", "scenarios")[i % 3]),
        "table": lambda app, i: setattr(app.table_kind, "value", ("components", "scenarios", "districts",
                                                                  "bands")[i % 4]),
        "scenario": lambda app, i: setattr(app.scenario.scenario, "value", ("low", "high", "medium")[i % 3]),
        "fertility": lambda app, i: setattr(app.scenario.sliders["fertility_factor"], "value",
                                            round(0.9 + 0.01 * (i % 20), 2)),
        "housing": housing,
    }


async def _app_timings(home: Path, key: str, changes: int, warmup: int) -> dict:
    from bif_lib.apps.views.prognose import PrognoseApp

    out = {}
    with city(home, key):
        os.environ["BIF_UI_RAISE"] = "1"
        try:
            opens = []
            for _ in range(3):
                start = time.perf_counter()
                app = PrognoseApp()
                opens.append((time.perf_counter() - start) * 1000)
            out["open_ms"] = round(statistics.median(opens), 1)
            print(f"{key:11s} app built in {out['open_ms']} ms (median of 3; back-test not included)")
            for name, action in app_actions(app).items():
                cpu, wall = [], []
                for i in range(warmup + changes):
                    await asyncio.sleep(PAUSE_S)
                    c0, w0 = time.process_time(), time.perf_counter()
                    action(app, i)
                    if i >= warmup:
                        cpu.append((time.process_time() - c0) * 1000)
                        wall.append((time.perf_counter() - w0) * 1000)
                out[f"kernel_{name}"] = {"changes": len(cpu), "cpu_p50_ms": round(statistics.median(cpu), 1),
                                         "cpu_p95_ms": round(percentile(cpu, 95), 1),
                                         "wall_p50_ms": round(statistics.median(wall), 1),
                                         "wall_p95_ms": round(percentile(wall, 95), 1)}
                r = out[f"kernel_{name}"]
                print(f"{key:11s} kernel {name:10s} cpu p50 {r['cpu_p50_ms']:6.1f} ms  p95 {r['cpu_p95_ms']:6.1f} ms"
                      f"   wall p95 {r['wall_p95_ms']:6.1f} ms")
        finally:
            os.environ.pop("BIF_UI_RAISE", None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-app", action="store_true", help="only the back-test errors")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only, leave results.json alone")
    args = parser.parse_args()
    load_start = os.getloadavg()
    ms = musterstadt_home()  # first: bootstrapping Flensburg reads the confidential register, after which
    fl = flensburg_home()    # this process may not write anything but releases (bif_lib.store.admission)
    results = {"flensburg": flensburg_backtests(fl), "musterstadt": musterstadt_backtests(ms)}
    if not args.no_app:
        results["app_flensburg"] = asyncio.run(_app_timings(fl, "flensburg", args.changes, args.warmup))
        results["app_musterstadt"] = asyncio.run(_app_timings(ms, "musterstadt", args.changes, args.warmup))
    load = os.getloadavg()
    print(f"load average at start {load_start[0]:.2f}, at end {load[0]:.2f}")
    if args.no_record:
        return
    record("backtest", {
        "method": ("back-test: projection (scenario medium, no housing) from an earlier base year against the "
                   "observed totals; error = projected − observed; Prognosefehler = city-wide error of the last "
                   "observed year; MAPE = mean |error %| of the districts. App: in-process kernel callback times "
                   "in an asyncio loop (downloads deferred), median of 3 app builds"),
        "load_average_at_start": [round(x, 2) for x in load_start],
        "load_average_at_end": [round(x, 2) for x in load],
        "note": "2-core machine shared with other work; timings include waiting for the CPU",
        **results,
    })


if __name__ == "__main__":
    main()
