"""What does an app kernel cost to start: forked from the kernel fork server, or a fresh Python?

Both ways in one run (bif_lib/apps/serving/kernel_forks.py), through jupyter_client's own
kernel manager as Voilà uses it. Each kernel runs what every bundled planning app runs first:
the imports of its notebook (``bif_lib.apps.views.bevoelkerung``, ``kita``, ``schulbedarf``,
with pandas, geopandas, matplotlib, ipywidgets) and a small pandas computation. The data an app
then loads and shows costs the same either way and is left out.

* ``one``   one kernel at a time, ``--repeat`` times: wall time from the start request until
            the cell has run, and the kernel's CPU seconds (user + system, /proc/<pid>/stat)
* ``wave``  ``--wave`` kernels requested at the same moment (a training room): wall time until
            the last has run its cell, CPU seconds of all, and their memory (PSS summed,
            /proc/<pid>/smaps_rollup, and RSS) while all are alive

The fork server's own start (importing everything once) is reported separately.

    .venv/bin/python -m bench.bench_kernel_start [--repeat 5] [--wave 8]

Results go to bench/results.json, section ``kernel_start``. Nothing is asserted.
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
sys.path.insert(0, str(ROOT))

from jupyter_client.manager import AsyncKernelManager  # noqa: E402

from bench._results import record  # noqa: E402
from bif_lib.apps.config import AppsConfig  # noqa: E402
from bif_lib.apps.serving import kernel_forks  # noqa: E402

CELL = """\
import bif_lib.apps.views.bevoelkerung, bif_lib.apps.views.kita, bif_lib.apps.views.schulbedarf
import pandas as pd
frame = pd.DataFrame({"bezirk": [i % 13 for i in range(10_000)], "wert": range(10_000)})
print(int(frame.groupby("bezirk")["wert"].sum().sum()))
"""
# with --app-home: what the notebook of the app really runs, on a store with its data
APP_CELL = """\
from bif_lib.apps.views import {app}

{app}.show()
"""
PRELOAD = list(AppsConfig(home="/nonexistent").kernel_preload)  # the default of apps.kernel_preload
TICKS = os.sysconf("SC_CLK_TCK")
CODE = CELL


class BenchKernelManager(AsyncKernelManager):
    provisioner_class = None

    async def _async_pre_start_kernel(self, **kw):
        if type(self).provisioner_class is not None:
            self.kernel_id = self.kernel_id or os.urandom(8).hex()
            self.provisioner = type(self).provisioner_class(kernel_id=self.kernel_id,
                                                            kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory(pid: int) -> tuple[int, int]:
    pss = rss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1]) * 1024
        elif line.startswith("Rss:"):
            rss = int(line.split()[1]) * 1024
    return pss, rss


async def start_and_run(directory: Path, name: str) -> tuple[BenchKernelManager, float]:
    started = time.perf_counter()
    km = BenchKernelManager(kernel_name="python3", connection_file=str(directory / f"kernel-{name}.json"))
    await km.start_kernel(env=dict(os.environ))
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        reply = await client.execute_interactive(CODE, timeout=120, output_hook=lambda _: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
    return km, time.perf_counter() - started


def kernel_pid(km) -> int:
    return km.provisioner.process.pid


async def measure(mode: str, directory: Path, repeat: int, wave: int) -> dict:
    singles, single_cpu = [], []
    for i in range(repeat):
        km, seconds = await start_and_run(directory, f"{mode}-one-{i}")
        singles.append(seconds)
        single_cpu.append(cpu_seconds(kernel_pid(km)))
        await km.shutdown_kernel(now=True)
    started = time.perf_counter()
    results = await asyncio.gather(*(start_and_run(directory, f"{mode}-wave-{i}") for i in range(wave)))
    wave_seconds = time.perf_counter() - started
    pids = [kernel_pid(km) for km, _ in results]
    mem = [memory(pid) for pid in pids]
    wave_cpu = sum(cpu_seconds(pid) for pid in pids)
    await asyncio.gather(*(km.shutdown_kernel(now=True) for km, _ in results))
    return {
        "one_p50_s": round(statistics.median(singles), 3), "one_cpu_s": round(statistics.median(single_cpu), 3),
        "wave_kernels": wave, "wave_last_s": round(wave_seconds, 3),
        "wave_each_s": sorted(round(s, 2) for _, s in results),
        "wave_cpu_s": round(wave_cpu, 2),
        "wave_pss_mb": round(sum(p for p, _ in mem) / 2**20), "wave_rss_mb": round(sum(r for _, r in mem) / 2**20),
    }


async def main_async(repeat: int, wave: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bif-bench-kernels-") as tmp:
        directory = Path(tmp)
        BenchKernelManager.provisioner_class = None
        exec_result = await measure("exec", directory, repeat, wave)

        server = kernel_forks.ForkServer(PRELOAD, directory / "forks")
        started = time.perf_counter()
        server.start(dict(os.environ))
        while not server.ready():
            if not server.running():
                raise SystemExit("the kernel fork server did not start")
            await asyncio.sleep(0.02)
        server_start = time.perf_counter() - started
        server_cpu = cpu_seconds(server.process.pid)
        server_pss, _ = memory(server.process.pid)
        provisioner = kernel_forks.provisioner_class()
        provisioner.fork_server = server
        BenchKernelManager.provisioner_class = provisioner
        try:
            fork_result = await measure("fork", directory, repeat, wave)
        finally:
            server.stop()
    return {"exec": exec_result, "fork": fork_result,
            "fork_server": {"ready_s": round(server_start, 2), "cpu_s": round(server_cpu, 2),
                            "pss_mb": round(server_pss / 2**20)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wave", type=int, default=8)
    parser.add_argument("--app-home", help="a BIF_HOME with a bootstrapped store: each kernel runs the "
                                           "app's notebook (bif_lib.apps.views.<--app>.show()) instead")
    parser.add_argument("--app", default="bevoelkerung")
    args = parser.parse_args()
    global CODE
    if args.app_home:
        os.environ["BIF_HOME"] = args.app_home
        CODE = APP_CELL.format(app=args.app)
    result = asyncio.run(main_async(args.repeat, args.wave))
    result["cell"] = CODE
    e, f = result["exec"], result["fork"]
    print(f"{'':28} {'exec':>10} {'fork':>10} {'exec/fork':>10}")
    for key, label in [("one_p50_s", "one kernel, wall (p50, s)"), ("one_cpu_s", "one kernel, CPU (s)"),
                       ("wave_last_s", f"wave of {args.wave}, last done (s)"),
                       ("wave_cpu_s", f"wave of {args.wave}, CPU (s)"),
                       ("wave_pss_mb", f"wave of {args.wave}, PSS (MB)"),
                       ("wave_rss_mb", f"wave of {args.wave}, RSS (MB)")]:
        print(f"{label:28} {e[key]:>10} {f[key]:>10} {e[key] / f[key]:>9.1f}×")
    s = result["fork_server"]
    print(f"fork server: ready after {s['ready_s']} s, {s['cpu_s']} CPU-s, {s['pss_mb']} MB PSS")
    result["ratios"] = {k: round(e[k] / f[k], 2) for k in ("one_p50_s", "one_cpu_s", "wave_last_s", "wave_cpu_s",
                                                           "wave_pss_mb")}
    record("kernel_start", result)


if __name__ == "__main__":
    main()
