"""Shared writer for bench/results.json: each benchmark owns one section.

Benchmarks report measurements with how they were taken; they never assert timings.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "system": platform.platform()}


def record(section: str, data: dict) -> Path:
    """Replace ``section`` in results.json (atomically), stamped with time and machine."""
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    results[section] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "machine": machine(), **data}
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, RESULTS)
    return RESULTS
