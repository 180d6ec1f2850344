"""Benchmark: BIF's validation engine against pandera and hand-written pandas checks, in one run.

Workload: 1,000,000 rows (synthetic, deterministic) x 9 rule kinds on 9 columns:
required (6 columns), type (integer/year), minimum, maximum, enum, pattern, primary key,
foreign key (13 Stadtteile) and a row sum rule (kinder_u6 + kinder_6_17 = kinder).
Each tool checks the same rules and collects *all* failures (pandera: ``lazy=True``):

* ``bif``     ``bif_lib.validation.compile_contract(contract).validate(frame)``
* ``pandera`` ``DataFrameSchema.validate(frame, lazy=True)`` (failure cases collected)
* ``pandas``  hand-written vectorised checks that collect the failing row positions per rule

Two inputs: the *typed* frame (integers as nullable Int64, text as pandas strings) and the
*raw* frame of text exactly as ``bif_lib.readers.read_source`` returns it from the CSV
(every tool must then also parse the numbers; pandera with ``coerce=True``). Two variants:
all rows valid, and ~1 % of rows failing (spread over all rules). Timed: the validation call
only (reading the CSV and building frames are not timed). Statistic: median wall time of
``--repeat`` runs per cell (default 5; the three contenders take turns in every
repetition, after one untimed warm-up run each). Targets: BIF >= 1.0x pandera, >= 0.8x hand-written.
Reports, never asserts.

The hand-written checks are what a competent pandas user writes (``str.fullmatch``,
``isin``, ``duplicated``, ``pd.to_numeric(errors="coerce")``); BIF's lead on raw text comes
from parsing through Arrow's casts where pandas' ``to_numeric`` goes through Python objects.

    .venv/bin/python -m bench.bench_validation            # from the repository root
    .venv/bin/python -m bench.bench_validation --rows 100000 --repeat 2   # quick look
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record  # noqa: E402
from bif_lib.contracts import parse_contract  # noqa: E402
from bif_lib.readers import read_source  # noqa: E402
from bif_lib.validation import compile_contract  # noqa: E402

ROWS = 1_000_000
DISTRICTS = pd.DataFrame({"district_id": np.arange(1, 14, dtype="int64")})
RULES = ["required", "type", "minimum", "maximum", "enum", "pattern", "primary_key", "foreign_key", "sum_equals"]
PATTERN = r"STBZ[0-9]{3}"

CONTRACT = f"""
id: bench_personen
version: "1.0"
title: Benchmark (synthetisch)
description: Synthetische Zeilen für den Validierungs-Benchmark.
owner: Benchmark
steward: {{name: Benchmark, email: bench@example.org}}
source_system: bench_validation.py
classification: internal
synthetic: true
licence: {{name: CC0-1.0, attribution: BIF}}
cadence: once
spatial_unit: Person
temporal_coverage: {{start: 2023, end: 2023}}
source: {{format: csv, delimiter: ";"}}
schema:
  fields:
    - {{name: record_id, type: integer, constraints: {{required: true}}}}
    - {{name: jahr, type: year, constraints: {{required: true}}}}
    - {{name: district_id, type: integer, constraints: {{required: true}}}}
    - {{name: bezirk_id, type: string, constraints: {{required: true, pattern: "{PATTERN}"}}}}
    - {{name: geschlecht, type: string, constraints: {{required: true, enum: [m, w]}}}}
    - {{name: alter, type: integer, constraints: {{required: true, minimum: 0, maximum: 100}}}}
    - {{name: kinder_u6, type: integer}}
    - {{name: kinder_6_17, type: integer}}
    - {{name: kinder, type: integer}}
  primaryKey: record_id
  foreignKeys:
    - {{fields: district_id, reference: {{resource: stadtteile, fields: district_id}}}}
rules:
  - {{type: sum_equals, columns: [kinder_u6, kinder_6_17], total: kinder}}
"""
REQUIRED = ["record_id", "jahr", "district_id", "bezirk_id", "geschlecht", "alter"]
INTEGERS = ["record_id", "jahr", "district_id", "alter", "kinder_u6", "kinder_6_17", "kinder"]


# --- data ------------------------------------------------------------------------------------

def make_data(rows: int, failing_share: float, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(typed frame, raw text frame); with failing_share > 0 about that share of rows break one rule each."""
    rng = np.random.default_rng(seed)
    district = rng.integers(1, 14, rows)
    u6, u17 = rng.integers(0, 3, rows), rng.integers(0, 4, rows)
    columns: dict[str, np.ndarray] = {
        "record_id": np.arange(1, rows + 1, dtype=np.int64), "jahr": np.full(rows, 2023, np.int64),
        "district_id": district.astype(np.int64),
        "bezirk_id": np.char.add("STBZ", np.char.zfill((district * 10 + rng.integers(1, 3, rows)).astype(str), 3)),
        "geschlecht": np.where(rng.random(rows) < 0.5, "m", "w").astype(object),
        "alter": rng.integers(0, 101, rows).astype(np.int64),
        "kinder_u6": u6.astype(np.int64), "kinder_6_17": u17.astype(np.int64), "kinder": (u6 + u17).astype(np.int64)}
    text_cells: list[tuple[str, np.ndarray]] = []
    missing: dict[str, np.ndarray] = {}
    if failing_share:
        # ~failing_share of rows, each breaking one of 10 defects (so every rule has failures)
        victims = rng.choice(rows, int(rows * failing_share), replace=False)
        kinds = np.array_split(victims, 10)
        columns["bezirk_id"] = columns["bezirk_id"].astype(object)
        missing["alter"] = kinds[0]                                   # required
        columns["alter"][kinds[1]] = -1                               # minimum
        columns["alter"][kinds[2]] = 117                              # maximum
        columns["geschlecht"][kinds[3]] = "x"                         # enum
        columns["bezirk_id"][kinds[4]] = "STBZ1"                      # pattern
        columns["record_id"][kinds[5]] = columns["record_id"][kinds[5] - 1]  # primary key (duplicates)
        columns["district_id"][kinds[6]] = 14                         # foreign key
        columns["kinder"][kinds[7]] += 1                              # sum_equals
        missing["district_id"] = kinds[8]                             # required
        text_cells.append(("kinder_u6", kinds[9]))                    # type (raw text only: "k. A.")
    typed = pd.DataFrame({
        name: (pd.array(values, dtype="Int64") if name in INTEGERS else pd.array(values, dtype="str"))
        for name, values in columns.items()})
    for name, positions in missing.items():
        typed.loc[positions, name] = pd.NA
    raw = typed.astype(str).where(typed.notna(), "")
    for name, positions in text_cells:
        raw.loc[positions, name] = "k. A."
    return typed, raw


def raw_as_read(raw: pd.DataFrame, contract) -> pd.DataFrame:
    """The raw frame exactly as BIF's CSV reader returns it (text columns plus _bif_row)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        raw.to_csv(path, sep=";", index=False)
        result = read_source(contract, path)
    assert result.frame is not None and not result.failures, result.failures[:3]
    return result.frame


# --- the three contenders --------------------------------------------------------------------

def bif_validator(contract):
    validator = compile_contract(contract, references=lambda dataset: DISTRICTS)

    def run(frame: pd.DataFrame) -> int:
        _, report = validator.validate(frame)
        return report.errors
    return run


def pandera_validator(raw: bool):
    import pandera.pandas as pa

    ints = dict(dtype="Int64", coerce=raw)
    schema = pa.DataFrameSchema(
        {
            "record_id": pa.Column(**ints, nullable=False, unique=True),                       # required, PK
            "jahr": pa.Column(**ints, nullable=False),
            "district_id": pa.Column(**ints, nullable=False,
                                     checks=pa.Check.isin(DISTRICTS["district_id"].tolist())),   # FK
            "bezirk_id": pa.Column(str, nullable=False, checks=pa.Check.str_matches(f"^{PATTERN}$")),
            "geschlecht": pa.Column(str, nullable=False, checks=pa.Check.isin(["m", "w"])),
            "alter": pa.Column(**ints, nullable=False, checks=[pa.Check.ge(0), pa.Check.le(100)]),
            "kinder_u6": pa.Column(**ints, nullable=True),
            "kinder_6_17": pa.Column(**ints, nullable=True),
            "kinder": pa.Column(**ints, nullable=True),
        },
        checks=[pa.Check(lambda df: (df["kinder_u6"] + df["kinder_6_17"] == df["kinder"]).fillna(True),
                         name="sum_equals")],
    )

    def run(frame: pd.DataFrame) -> int:
        if raw:  # pandera has no notion of an empty text field as missing
            frame = frame.replace("", None)
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return len(exc.failure_cases)
        return 0
    return run


def pandas_validator(raw: bool):
    reference = DISTRICTS["district_id"].to_numpy()

    def run(frame: pd.DataFrame) -> int:
        failures: dict[str, np.ndarray] = {}
        if raw:
            typed = {}
            for name in INTEGERS:
                text = frame[name]
                missing = (text == "").to_numpy()
                number = pd.to_numeric(text.where(~missing), errors="coerce")
                failures[f"type:{name}"] = np.flatnonzero(number.isna().to_numpy() & ~missing)
                typed[name] = number
            text_missing = {n: (frame[n] == "").to_numpy() for n in ("bezirk_id", "geschlecht")}
            numbers = pd.DataFrame(typed)
        else:
            numbers = frame[INTEGERS]
            text_missing = {n: frame[n].isna().to_numpy() for n in ("bezirk_id", "geschlecht")}
        for name in REQUIRED:
            mask = text_missing[name] if name in text_missing else numbers[name].isna().to_numpy()
            failures[f"required:{name}"] = np.flatnonzero(mask)
        alter = numbers["alter"].to_numpy(dtype="float64", na_value=np.nan)
        failures["minimum:alter"] = np.flatnonzero(alter < 0)
        failures["maximum:alter"] = np.flatnonzero(alter > 100)
        failures["enum:geschlecht"] = np.flatnonzero(~frame["geschlecht"].isin(["m", "w"]).to_numpy()
                                                     & ~text_missing["geschlecht"])
        failures["pattern:bezirk_id"] = np.flatnonzero(
            ~frame["bezirk_id"].str.fullmatch(PATTERN).fillna(False).to_numpy(bool) & ~text_missing["bezirk_id"])
        ids = numbers["record_id"]
        failures["primary_key"] = np.flatnonzero(ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy())
        district = numbers["district_id"]
        failures["foreign_key"] = np.flatnonzero(~district.isin(reference).to_numpy() & district.notna().to_numpy())
        total = numbers["kinder_u6"] + numbers["kinder_6_17"]
        judged = (total.notna() & numbers["kinder"].notna()).to_numpy(bool)  # rows with a missing part: not judged
        failures["sum_equals"] = np.flatnonzero((total != numbers["kinder"]).fillna(False).to_numpy(bool) & judged)
        return sum(len(rows) for rows in failures.values())
    return run


# --- measuring -------------------------------------------------------------------------------

def measure(contenders: dict, frame: pd.DataFrame, repeat: int) -> dict[str, tuple[float, int]]:
    """Median seconds and failures found per contender; the contenders take turns in every
    repetition (after one untimed warm-up run each), so load on the machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    found: dict[str, int] = {}
    for name, run in contenders.items():
        found[name] = run(frame)  # warm-up: imports, regex compilation, caches
    for _ in range(repeat):
        for name, run in contenders.items():
            gc.collect()
            start = time.perf_counter()
            run(frame)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), found[name]) for name in contenders}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-record", action="store_true", help="print only, do not write results.json")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    contract = parse_contract(CONTRACT)

    cells = {}
    for variant, share in (("valid", 0.0), ("failing_1pct", 0.01)):
        typed, raw = make_data(args.rows, share)
        raw = raw_as_read(raw, contract)
        for kind, frame in (("typed", typed), ("raw_text", raw)):
            contenders = {"bif": bif_validator(contract), "pandera": pandera_validator(kind == "raw_text"),
                          "pandas": pandas_validator(kind == "raw_text")}
            cell = {}
            for name, (seconds, found) in measure(contenders, frame, args.repeat).items():
                cell[name] = {"seconds": round(seconds, 4), "rows_per_s": round(args.rows / seconds),
                              "failures_found": int(found)}
                print(f"{variant:>13} {kind:>8} {name:>8}: {seconds:7.3f} s  {args.rows / seconds:>12,.0f} rows/s  "
                      f"{found:>7} failures", flush=True)
            cell["ratio_bif_vs_pandera"] = round(cell["pandera"]["seconds"] / cell["bif"]["seconds"], 2)
            cell["ratio_bif_vs_pandas"] = round(cell["pandas"]["seconds"] / cell["bif"]["seconds"], 2)
            print(f"{'':>23} BIF/pandera {cell['ratio_bif_vs_pandera']}x   BIF/hand-written "
                  f"{cell['ratio_bif_vs_pandas']}x", flush=True)
            cells[f"{variant}/{kind}"] = cell

    result = {
        "rows": args.rows, "repetitions": args.repeat, "statistic": "median wall time of the validation call (contenders interleaved, 1 warm-up run each)",
        "rules": RULES, "columns": 9,
        "timed": "the validate call only; data generation and CSV reading (raw_text input) are not timed",
        "inputs": {"typed": "Int64 / string columns", "raw_text": "all-text frame as bif_lib.readers returns it "
                                                                  "from the CSV (numbers parsed by each tool)"},
        "variants": {"valid": "no failing rows", "failing_1pct": "1 % of rows break one rule each (10 defects)"},
        "contenders": {"bif": "compile_contract(contract).validate(frame)",
                       "pandera": "DataFrameSchema.validate(frame, lazy=True); raw: coerce=True",
                       "pandas": "hand-written vectorised checks collecting failing rows per rule"},
        "targets": {"bif_vs_pandera": ">= 1.0", "bif_vs_pandas": ">= 0.8"},
        "ratio_definition": "time of the other tool / time of BIF (> 1: BIF faster)",
        "failures_found": "each tool counts in its own unit (BIF and hand-written: failing cells per rule; "
                          "pandera: rows of failure_cases, e.g. per check and both rows of a duplicate key)",
        "results": cells,
        "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
        "note": "other jobs shared the machine; contenders take turns so they see the same load",
    }
    if not args.no_record:
        record("validation", result)
    return result


if __name__ == "__main__":
    main()
