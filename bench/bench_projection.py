"""Benchmark: cohort-component projection, 13 Stadtteile x 2 sexes x 101 ages x 30 years x 3 scenarios.

Target (docs/planning-models.md): <= 100 ms for the three scenarios. Reports, never asserts.

    .venv/bin/python -m bench.bench_projection
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record  # noqa: E402
from bif_lib.planning import ProjectionParameters, life_table, project_scenarios  # noqa: E402
from bif_lib.planning.lifetable import survival_ratios  # noqa: E402

DISTRICTS = tuple(range(1, 14))
YEARS = 30
RUNS = 15
AGES = np.arange(101)


def _bell(center: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((AGES - center) / width) ** 2)


def benchmark_inputs() -> tuple[pd.DataFrame, ProjectionParameters]:
    """Plausible, deterministic inputs of Flensburg's size (~99 000 residents); no data needed."""
    n = len(DISTRICTS)
    level = np.linspace(0.8, 1.2, n)
    fertility = np.outer(level, 1.4 * _bell(31, 5) / _bell(31, 5)[15:50].sum())
    fertility[:, :15] = fertility[:, 50:] = 0.0
    out_rate = np.broadcast_to(0.02 + 0.10 * _bell(23, 4), (n, 2, 101)) * level[:, None, None]
    destination = np.full((n, n), 1 / (n - 1))
    np.fill_diagonal(destination, 0.0)
    in_profile = np.broadcast_to(0.01 + _bell(21, 4), (n, 2, 101)) * level[:, None, None]
    parameters = ProjectionParameters(
        district_ids=DISTRICTS, survival=survival_ratios(life_table()), mortality_factor=np.ones((n, 2)),
        fertility=fertility, share_boys=105 / 205, out_rate=np.array(out_rate),
        internal_rate=0.8 * np.array(out_rate), destination=destination, in_volume=8800.0,
        in_profile=in_profile / in_profile.sum(),
    )
    per_age = np.clip(1.0 + 0.6 * _bell(24, 6) - 0.9 * (AGES / 100) ** 2, 0.01, None)
    per_age = per_age * 7600 / per_age.sum() / 2
    base = pd.DataFrame(
        [(district, sex, age, value) for district in DISTRICTS for sex in ("m", "w")
         for age, value in zip(AGES, per_age)],
        columns=["district_id", "sex", "age", "population"],
    )
    return base, parameters


def _median_ms(task, runs: int = RUNS) -> tuple[float, list[float]]:
    task()  # warm-up (imports, caches)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        task()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), timings


def main() -> dict:
    base, parameters = benchmark_inputs()

    def arrays_only():
        return project_scenarios(base, parameters, base_year=2022, years=YEARS)

    def with_tables():
        for result in arrays_only().values():
            _ = result.population, result.components, result.components_by_age

    core_ms, core_runs = _median_ms(arrays_only)
    tables_ms, table_runs = _median_ms(with_tables)
    data = {
        "workload": f"{len(DISTRICTS)} Stadtteile x 2 sexes x 101 ages x {YEARS} years x 3 scenarios",
        "runs": RUNS,
        "statistic": "median wall time in ms",
        "projection_3_scenarios_ms": round(core_ms, 2),
        "projection_3_scenarios_with_tables_ms": round(tables_ms, 2),
        "target_ms": 100,
        "min_max_ms": {"projection": [round(min(core_runs), 2), round(max(core_runs), 2)],
                       "with_tables": [round(min(table_runs), 2), round(max(table_runs), 2)]},
        "note": "tables = population, components per district and per sex x age (DataFrames, "
                "built on first access)",
    }
    record("planning_projection", data)
    return data


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
