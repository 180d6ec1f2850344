"""The load test of issue #18 (``bench/bench_many_planners.py``) runs end to end on a small
round: its own platform, one Chromium planner and two HTTP planners in a worker process. It
must report what it promises (everyone interactive, the table, the CPU until the browsers
were interactive, the HTTP clients' waits for a CPU) and leave nothing behind: no platform
directory, no process of its platform. The figures themselves stay in the benchmark."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
WORK_PREFIX = "bif-bench-planners-"


def bench_processes() -> set[int]:
    """Processes whose command line names a benchmark platform's directory."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"/tmp/{WORK_PREFIX}".encode() in line:
                found.add(int(entry.name))
    return found


def test_a_small_round_reports_everything_and_leaves_nothing_behind(mirror_dir):
    if os.geteuid() != 0:
        pytest.skip("the benchmark's platform runs app kernels under their own account (root needed)")
    dirs_before = set(Path("/tmp").glob(f"{WORK_PREFIX}*"))
    procs_before = bench_processes()
    run = subprocess.run(
        [sys.executable, "-m", "bench.bench_many_planners", "--n", "3", "--browsers", "1", "--changes", "2",
         "--clients-per-process", "2", "--settle", "5", "--no-record", "--verbose"],
        cwd=REPO, env={**os.environ, "BIF_MIRROR": str(mirror_dir)}, capture_output=True, text=True, timeout=400,
        check=False)  # the exit code is asserted below, with the output
    out = run.stdout
    assert run.returncode == 0, (out[-3000:], run.stderr[-3000:])

    # the table: all three interactive, no kernel left after the settle time
    row = next(line for line in out.splitlines() if line.startswith("| 3 |"))
    assert "3/3 (100.0 %)" in row and row.rstrip().endswith("| 0 |"), row
    # each planner's line: the Chromium page ready, the HTTP planners' changes with their waits
    planners = [line for line in out.splitlines() if re.match(r"\s+planer-\d+ ", line)]
    assert len(planners) == 3, planners
    assert sum(" browser " in line and "ready_s=" in line for line in planners) == 1
    http = [line for line in planners if " http " in line]
    assert len(http) == 2 and all(re.search(r"client_wait_ms=\[\d+, \d+\]", line) for line in http), http
    # the round's line: the parts of the HTTP changes and Chromium's share until interactive
    assert re.search(r"HTTP changes p95 [\d.]+ ms, their clients' CPU wait p95 [\d.]+ ms", out)
    assert re.search(r"until the last Chromium page was interactive \([\d.]+ s\): Chromium used [\d.]+ of", out)

    # nothing left: the platform's directory and every process of it are gone
    assert set(Path("/tmp").glob(f"{WORK_PREFIX}*")) == dirs_before
    assert bench_processes() - procs_before == set()
