"""Benchmark: ``protect(..., method="cellkey")`` against a plain ``groupby().size()``, in one run.

Workload: 600,000 synthetic register-like rows (deterministic) over 13 Stadtteile x 101 single
ages (0–100) x 2 sexes = 2,626 cells, with a record key per row. Contenders, same table:

* ``groupby``  ``records.groupby(["district_id", "age", "sex"]).size()``: the unprotected count
* ``protect``  ``bif_lib.disclosure.protect(records, by, record_keys="record_key")`` (all 101 ages
  as categories): cell keys,
  ptable lookup, the five checks, the output frame (full grid, zeros included) and the certificate
  with its content digest
* for information ``protect`` with ``margins=True`` (4,242 cells: all margins perturbed too)

Statistic: median wall time of ``--repeat`` runs (default 9); the contenders take turns in every
repetition after one untimed warm-up each, so other jobs on the machine slow all alike. Target:
protect <= 5x groupby. Reports, never asserts.

    .venv/bin/python -m bench.bench_disclosure            # from the repository root
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record  # noqa: E402
from bif_lib.disclosure import draw_record_keys, protect  # noqa: E402

ROWS = 600_000
BY = ["district_id", "age", "sex"]
CATEGORIES = {"age": list(range(101))}  # every single age, also one nobody has reached
TARGET = 5.0


def register_rows(rows: int, seed: int = 2022) -> pd.DataFrame:
    """Register-like persons: 13 Stadtteile of unequal size, a realistic age pyramid, m/w."""
    rng = np.random.default_rng(seed)
    district_weights = rng.uniform(0.5, 1.5, 13)
    age = np.minimum(rng.gamma(4.2, 10.5, rows).astype(np.int64), 100)
    return pd.DataFrame({
        "person_id": np.arange(1, rows + 1),
        "district_id": rng.choice(np.arange(1, 14), rows, p=district_weights / district_weights.sum()),
        "age": age,
        "sex": pd.array(rng.choice(["m", "w"], rows), dtype="str"),
        "record_key": draw_record_keys(rows, seed=seed),
    })


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)

    load_start = os.getloadavg()[0]
    records = register_rows(args.rows)
    contenders = {
        "groupby": lambda: records.groupby(BY).size(),
        "protect": lambda: protect(records, BY, record_keys="record_key", categories=CATEGORIES,
                                   released_by="bench"),
        "protect_margins": lambda: protect(records, BY, record_keys="record_key", categories=CATEGORIES,
                                           released_by="bench", margins=True),
    }
    timings = {name: [] for name in contenders}
    for task in contenders.values():
        task()  # warm-up: imports, the frozen ptable, pandas caches
    for _ in range(args.repeat):
        for name, task in contenders.items():
            gc.collect()
            started = time.perf_counter()
            task()
            timings[name].append((time.perf_counter() - started) * 1000)
    median = {name: statistics.median(values) for name, values in timings.items()}
    table, certificate = contenders["protect"]()
    data = {
        "workload": f"{args.rows:,} rows, 13 Stadtteile x 101 ages x 2 sexes = {len(table):,} cells",
        "repeat": args.repeat,
        "statistic": "median wall time in ms; contenders interleaved, one warm-up each",
        "groupby_size_ms": round(median["groupby"], 2),
        "protect_cellkey_ms": round(median["protect"], 2),
        "protect_cellkey_margins_ms": round(median["protect_margins"], 2),
        "ratio_protect_to_groupby": round(median["protect"] / median["groupby"], 2),
        "ratio_protect_margins_to_groupby": round(median["protect_margins"] / median["groupby"], 2),
        "target_ratio": TARGET,
        "min_max_ms": {name: [round(min(v), 2), round(max(v), 2)] for name, v in timings.items()},
        "ptable": certificate.ptable_version,
        "load_average_start": round(load_start, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
    }
    if not args.no_record:
        record("disclosure_cellkey", data)
    return data


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key}: {value}")
