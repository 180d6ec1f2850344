"""Benchmark: peak memory of reading and ingesting a large CSV, against a plain ``pandas.read_csv``.

Two workloads (``bench_load``): ``numeric`` (9 columns, mostly integers) and ``register``
(10 columns with German dates, street names, codes), ``--rows`` rows each (default 1,000,000),
written as semicolon CSV to a temporary directory.

Each operation runs in a fresh Python process (imports done first), so one operation's
allocations cannot hide in another's: the process resets its peak-RSS counter
(``/proc/self/clear_refs`` = 5) after the imports, runs the operation once and reports
``VmHWM`` (peak resident memory) minus the resident memory before the operation. RSS,
not tracemalloc: most of the memory is Arrow's and numpy's, which tracemalloc does not see.

* ``read_csv``        ``pandas.read_csv(path, sep=";")`` — the peer, default types
* ``read_csv_text``   ``pandas.read_csv(path, sep=";", dtype=str, keep_default_na=False)`` —
                      all text, as BIF reads (for information)
* ``bif_read``        ``bif_lib.readers.read_source`` — BIF's reading as the contract says
                      (decoding check, field counts, footer, NFC, shaping)
* ``bif_ingest``      ``bif_lib.ingest.ingest`` — reading and validation in chunks, Parquet
                      snapshot and Arrow read copy, catalog entry (peak taken when ``ingest``
                      returns, before the result is loaded to measure the final frame)

Reported per workload: CSV size, peak extra RSS of each operation in MB and as a multiple of
the CSV size, the typed frame's size (``memory_usage(deep=True)``), the operation's wall time
(for information: one run, not a timing benchmark), and ``bif_read`` / ``bif_ingest`` relative
to ``read_csv`` measured in the same run. Targets: reading and the whole ingest ≤ 3× the CSV
size; the ingest's multiple is what ``bif_lib.readers.INGEST_MEMORY_FACTOR`` must cover (the
estimate an ingest is refused with when memory is short). Reports, never asserts.

    .venv/bin/python -m bench.bench_ingest_memory            # from the repository root
    .venv/bin/python -m bench.bench_ingest_memory --rows 200000 --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
OPERATIONS = ("read_csv", "read_csv_text", "bif_read", "bif_ingest")


def _status(field: str) -> int:
    """A VmXXX line of /proc/self/status in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(operation: str, workload: str, csv: str, root: str) -> dict:
    """Runs in the fresh process: one operation, its peak extra RSS."""
    import gc
    import time

    import pandas as pd

    from bench.bench_load import DISTRICTS_CONTRACT, WORKLOADS
    from bif_lib.contracts import parse_contract
    from bif_lib.ingest import ingest
    from bif_lib.readers import read_source
    from bif_lib.store import Store

    contract = parse_contract(WORKLOADS[workload][0])
    store = Store(Path(root) / "store")
    if operation == "bif_ingest":  # the foreign key's reference, before the measurement
        districts = Path(root) / "stadtteile.csv"
        districts.write_text("district_id\n" + "".join(f"{i}\n" for i in range(1, 14)), encoding="utf-8")
        assert ingest(parse_contract(DISTRICTS_CONTRACT), districts, store=store).status == "created"
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = _status("VmRSS")
    started = time.perf_counter()
    frame_bytes = None
    if operation == "read_csv":
        frame = pd.read_csv(csv, sep=";")
    elif operation == "read_csv_text":
        frame = pd.read_csv(csv, sep=";", dtype=str, keep_default_na=False)
    elif operation == "bif_read":
        result = read_source(contract, csv)
        assert result.readable and not result.failures, result.failures[:3]
        frame = result.frame
    else:
        outcome = ingest(contract, csv, store=store)
        assert outcome.status == "created", outcome.report.to_text()
        peak = _status("VmHWM")  # the ingest's own peak: loading the result afterwards is not part of it
        seconds = time.perf_counter() - started
        frame = store.read(outcome.entry)
        frame_bytes = int(frame.memory_usage(deep=True).sum())
    if operation != "bif_ingest":
        peak = _status("VmHWM")
        seconds = time.perf_counter() - started
    return {"peak_extra_bytes": peak - before, "rows": len(frame), "seconds": seconds,
            "frame_bytes": frame_bytes if frame_bytes is not None else int(frame.memory_usage(deep=True).sum())}


def measure(rows: int) -> dict:
    from bench.bench_load import WORKLOADS

    results = {}
    with tempfile.TemporaryDirectory(prefix="bif-bench-mem-") as tmp:
        for workload, (_, make) in WORKLOADS.items():
            csv = Path(tmp) / f"{workload}.csv"
            make(rows).to_csv(csv, sep=";", index=False)
            size = csv.stat().st_size
            entry = {"csv_bytes": size, "csv_mb": round(size / 1e6, 1)}
            for operation in OPERATIONS:
                root = Path(tmp) / f"{workload}-{operation}"
                root.mkdir()
                out = subprocess.run([sys.executable, "-m", "bench.bench_ingest_memory", "--child", operation,
                                      workload, str(csv), str(root)], cwd=REPO, capture_output=True, text=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"{operation} {workload} failed:\n{out.stderr[-3000:]}")
                data = json.loads(out.stdout.strip().splitlines()[-1])
                entry[operation] = {"peak_extra_mb": round(data["peak_extra_bytes"] / 1e6, 1),
                                    "multiple_of_csv": round(data["peak_extra_bytes"] / size, 2),
                                    "frame_mb": round(data["frame_bytes"] / 1e6, 1),
                                    "seconds": round(data["seconds"], 2)}
                print(f"{workload:<9} {operation:<14} peak +{data['peak_extra_bytes'] / 1e6:8.1f} MB "
                      f"= {data['peak_extra_bytes'] / size:5.2f}× CSV ({size / 1e6:.1f} MB); "
                      f"frame {data['frame_bytes'] / 1e6:.1f} MB; {data['seconds']:.2f} s", flush=True)
            peer = entry["read_csv"]["peak_extra_mb"]
            entry["bif_read_vs_read_csv"] = round(entry["bif_read"]["peak_extra_mb"] / peer, 2)
            entry["bif_ingest_vs_read_csv"] = round(entry["bif_ingest"]["peak_extra_mb"] / peer, 2)
            results[workload] = entry
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results.json")
    parser.add_argument("--child", nargs=4, metavar=("OPERATION", "WORKLOAD", "CSV", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    results = measure(args.rows)
    if not args.no_record:
        from bench._results import record
        record("ingest_memory", {"rows": args.rows, "statistic": "peak extra RSS (VmHWM after reset) of one run "
                                 "in a fresh process; seconds: wall time of that run (information only)",
                                 "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
                                 "workloads": results})


if __name__ == "__main__":
    main()
