"""How fast does a published app open for a planner, and what does a kernel cost?

Measured in one run, for each notebook, served both ways:

* ``bif``: the real path — hub login, gallery, click "App öffnen", the bif-apps gateway,
  standalone Voilà with preheated kernels (pool size 2), and BIF's app front end
  (bif_lib/apps/serving/app_frontend/) for the apps that need nothing else (all of these);
* ``plain``: plain Voilà (``voila notebook.ipynb``) without preheated kernels and with its
  own front end, opened directly by URL (no hub, no gateway).

Notebooks: ``slider`` = tests/apps/fixtures/slider_app.ipynb (a slider and a number: the
notebook itself costs nothing), ``planning`` = a planning-like app generated below (pandas,
a table of 13 districts x 101 ages x 20 years aggregated at start, ~0.6 s of work
plus the pandas import, a year slider showing district totals), and — when the Flensburg
mirror is there (``$BIF_MIRROR`` or ../shared/data/flensburg) — the three real planning
apps of notebooks/apps (``bevoelkerung``, ``kita``, ``schulbedarf``) on a bootstrapped
store, published as ``bif publish --bundled`` does: what planners actually open.

"Interactive" = the app's widgets are rendered with the kernel's first output *and* one
change has round-tripped through the kernel: for slider/planning a key press on the slider
until the output shows the new value; for the real apps another district chosen in the
district dropdown until the page shows the kernel's answer (table, charts or the dependent
dropdown changed). Each open is a new tab in one browser with a persistent profile, as a
planner's browser is: it keeps the HTTP cache and V8's code cache (compiled scripts) between
opens, which an incognito context would throw away. The first, cold open is reported
separately. Between opens the benchmark waits until the app's kernel pool is full again and
its kernels have rendered the notebook (steady state: planners open apps far less often
than a pool refills); a short burst of back-to-back opens is reported
too. Memory: RSS and PSS of each app kernel process (the one in use and the pooled ones).

Run: ``.venv/bin/python bench/bench_app_open.py [--opens 20] [--no-bundled]`` (needs root or
the current user for the kernels, Chromium at /usr/bin/chromium, configurable-http-proxy).
Results go to bench/results.json, section ``app_open``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

from apps_hub import CHROMIUM, CHROMIUM_ARGS, FIXTURES, TestPlatform, environment_access, login  # noqa: E402

from bench._results import record  # noqa: E402

NOTEBOOK = FIXTURES / "slider_app.ipynb"
PLANNING_CODE = """\
import numpy as np
import pandas as pd
import ipywidgets as widgets
from IPython.display import display

rng = np.random.default_rng(2025)
index = pd.MultiIndex.from_product([range(1, 14), range(0, 101), range(2025, 2045)],
                                   names=["district_id", "age", "year"])
people = pd.DataFrame({"persons": rng.poisson(9, len(index)).astype(float)}, index=index).reset_index()
people["age_group"] = pd.cut(people["age"], [-1, 2, 5, 9, 15, 17, 64, 100],
                             labels=["0-2", "3-5", "6-9", "10-15", "16-17", "18-64", "65+"])
# stand-in for the work a planning app does at start (load, project, aggregate): ~0.5-1 s
for _ in range(20):
    shifted = people.groupby(["district_id", "age"])["persons"].shift(1, fill_value=0)
    people["persons"] = shifted.mul(0.3).add(people["persons"].mul(0.7))
by_group = people.pivot_table(index=["year", "district_id"], columns="age_group", values="persons",
                              aggfunc="sum", observed=True)
totals = people.groupby(["year", "district_id"])["persons"].sum().unstack()

year = widgets.IntSlider(value=2030, min=2025, max=2044, description="Jahr")
result = widgets.HTML()

def show(change=None):
    row = totals.loc[year.value]
    result.value = f"<span class='bif-result'>Ergebnis: {row.sum():,.1f} Personen</span>" + \\
        row.round(0).to_frame("Personen").to_html()

year.observe(show, names="value")
show()
display(widgets.VBox([year, result]))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_s": round(percentile(values, 0.5), 3), "p95_s": round(percentile(values, 0.95), 3),
            "min_s": round(min(values), 3), "max_s": round(max(values), 3),
            "mean_s": round(statistics.mean(values), 3)}


def planning_notebook(path: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["bif"] = {"title": "Bevölkerung je Stadtteil (Benchmark)",
                          "description": "Planungsähnliche Benchmark-App mit synthetischen Zufallszahlen.",
                          "audience": ["planners"], "owner": "Benchmark"}
    nb.cells = [new_markdown_cell("# Bevölkerung je Stadtteil"), new_code_cell(PLANNING_CODE)]
    nbformat.write(nb, path)
    return path


@dataclass(frozen=True)
class Case:
    """A notebook to open, how to see that it is ready and how to make one change."""

    notebook: Path
    ready: str  # JS predicate: widgets rendered with the kernel's first output
    kind: str   # "slider" or "dropdown" (the change that round-trips through the kernel)


SLIDER_READY = ("() => { const r = document.querySelector('.bif-result');"
                " return r && r.textContent.includes('Ergebnis') && document.querySelector('.noUi-handle'); }")
# the real apps: first table, every chart image loaded, the district dropdown there
APP_READY = ("() => document.querySelector('.bif-table-html table')"
             " && [...document.querySelectorAll('.bif-chart img')].every(i => i.src && i.complete)"
             " && document.querySelector('.bif-district-select select')")
# what only the kernel changes on a real app page: the page without the dropdowns (their
# selection is the browser's) and the map (Leaflet redraws on its own), plus the dropdowns'
# option lists (one dropdown narrows another)
APP_STATE = """() => { const app = document.querySelector('.bif-app').cloneNode(true);
  const options = [...document.querySelectorAll('.bif-app select')].map(s => [...s.options].map(o => o.text).join('|'));
  app.querySelectorAll('select, .leaflet-container').forEach(e => e.remove());
  return app.innerHTML + '\\n' + options.join('\\n'); }"""
BUNDLED = ("bevoelkerung", "kita", "schulbedarf")


def measure_open(page, go, case: Case) -> tuple[float, float]:
    """(seconds until the widgets show the kernel's first output, seconds until interactive)."""
    t0 = time.perf_counter()
    go()
    page.wait_for_function(case.ready, timeout=60_000)
    visible = time.perf_counter() - t0
    if case.kind == "slider":
        before = page.inner_text(".bif-result")
        page.focus(".noUi-handle")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(b) => document.querySelector('.bif-result').textContent !== b", arg=before,
                               timeout=60_000)
    else:
        before = page.evaluate(APP_STATE)
        select = page.locator(".bif-district-select select")
        current = select.evaluate("s => s.selectedIndex")
        select.select_option(index=2 if current == 1 else 1)
        page.wait_for_function(f"(b) => ({APP_STATE})() !== b", arg=before, timeout=60_000)
    return visible, time.perf_counter() - t0


def kernel_memory(voila_pid: int) -> list[dict]:
    from bif_lib.processes import children

    result = []
    for pid in children(voila_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            pss_kb = int(next(line.split()[1] for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                              if line.startswith("Pss:")))
        except (OSError, StopIteration):
            continue
        result.append({"pid": pid, "rss_mb": round(rss_kb / 1024, 1), "pss_mb": round(pss_kb / 1024, 1)})
    return result


def wait_pool_full(cfg, app_id: str, size: int, timeout: float = 60) -> float:
    from bif_lib.apps.serving.pools import pool_status

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        state = pool_status(cfg, app_id) or {}
        if state.get("rendered", 0) >= size:
            break
        time.sleep(0.1)
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PlainVoila:
    """``voila notebook.ipynb`` as people run it: no preheating, no gateway."""

    def __init__(self, workdir: Path, notebook: Path, name: str):
        self.dir = workdir / f"plain-{name}"
        self.dir.mkdir()
        shutil.copy(notebook, self.dir / "app.ipynb")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(self.dir / "app.ipynb"), "--no-browser", f"--port={self.port}",
             "--Voila.ip=127.0.0.1", "--Voila.port_retries=0"],
            cwd=self.dir, stdout=open(workdir / f"plain-voila-{name}.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}voila/static/voila.js", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("plain Voilà did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def run_case(ctx, platform, cfg, voila_pid: int, app_id: str, plain: PlainVoila, case: Case, opens: int,
             burst: int) -> dict:
    """Measure one notebook both ways, alternating bif and plain opens."""

    def bif_open(wait_pool: bool = True):
        if wait_pool:
            wait_pool_full(cfg, app_id, cfg.pool_size)
        p = ctx.new_page()
        p.goto(platform.gallery_url)
        p.wait_for_selector(f"[data-app-id={app_id}]")
        times = measure_open(p, lambda: p.click(f"[data-app-id={app_id}] >> text=App öffnen"), case)
        return p, times

    def plain_open():
        p = ctx.new_page()
        times = measure_open(p, lambda: p.goto(plain.url), case)
        return p, times

    # cold first opens (this app's page and assets not yet in the browser cache)
    p, bif_cold = bif_open()
    memory_in_use = kernel_memory(voila_pid)
    p.close(run_before_unload=True)
    p, plain_cold = plain_open()
    p.close(run_before_unload=True)

    bif_visible, bif_interactive, plain_visible, plain_interactive = [], [], [], []
    for _ in range(opens):
        p, (v, i) = bif_open()
        bif_visible.append(v)
        bif_interactive.append(i)
        p.close(run_before_unload=True)
        p, (v, i) = plain_open()
        plain_visible.append(v)
        plain_interactive.append(i)
        p.close(run_before_unload=True)

    wait_pool_full(cfg, app_id, cfg.pool_size)
    burst_times = []
    for _ in range(burst):
        p, (_, i) = bif_open(wait_pool=False)
        burst_times.append(i)
        p.close(run_before_unload=True)
    wait_pool_full(cfg, app_id, cfg.pool_size)
    memory_pooled = kernel_memory(voila_pid)

    bif, base = summary(bif_interactive), summary(plain_interactive)
    return {
        "bif_preheated": {"interactive": bif, "visible": summary(bif_visible),
                          "cold_first_open_s": [round(x, 3) for x in bif_cold]},
        "plain_voila": {"interactive": base, "visible": summary(plain_visible),
                        "cold_first_open_s": [round(x, 3) for x in plain_cold]},
        "speedup_p50": round(base["p50_s"] / bif["p50_s"], 2),
        "speedup_p95": round(base["p95_s"] / bif["p95_s"], 2),
        "burst_back_to_back_interactive_s": [round(x, 3) for x in burst_times],
        "kernel_memory_in_use": memory_in_use,
        "kernel_memory_pooled": memory_pooled,
        "max_kernel_rss_mb": max(k["rss_mb"] for k in memory_in_use + memory_pooled),
        "max_kernel_pss_mb": max(k["pss_mb"] for k in memory_in_use + memory_pooled),
    }


def mirror_dir() -> Path | None:
    """The Flensburg source mirror (as CI lays it out beside the repository), if any."""
    for candidate in (os.environ.get("BIF_MIRROR"), ROOT.parent / "shared" / "data" / "flensburg"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def prepare_store(platform, mirror: Path) -> None:
    """The bootstrapped Flensburg store the bundled apps read, readable by the app account."""
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.platform import accounts
    from bif_lib.store import Store

    result = bootstrap("flensburg", mirror=mirror, store=Store(platform.home / "store"))
    if not result.ok:
        raise RuntimeError(result.summary())
    settings = platform.settings()
    accounts.ensure_system_groups(settings)
    accounts.apply_store_permissions(platform.home / "store", settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=20)
    parser.add_argument("--burst", type=int, default=4, help="back-to-back opens without waiting for the pool")
    parser.add_argument("--no-bundled", action="store_true", help="leave out the three real planning apps")
    parser.add_argument("--kernel-start", choices=["fork", "exec"], default="fork",
                        help="how app kernels start (apps.kernel_start)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from bif_lib.apps.publishing.publish import publish_notebook, withdraw

    work = Path(tempfile.mkdtemp(prefix="bif-bench-apps-"))
    os.chmod(work, 0o755)  # the app service account works below it
    access = environment_access()
    access.__enter__()
    platform = TestPlatform(work / "platform", apps={"kernel_start": args.kernel_start})
    platform.activate_env()
    plains: dict[str, PlainVoila] = {}
    load_before = os.getloadavg()
    try:
        cfg = platform.cfg()
        cases = {"slider": Case(NOTEBOOK, SLIDER_READY, "slider"),
                 "planning": Case(planning_notebook(work / "planning_app.ipynb"), SLIDER_READY, "slider")}
        mirror = None if args.no_bundled else mirror_dir()
        if mirror:
            prepare_store(platform, mirror)
            cases.update({name: Case(ROOT / "notebooks" / "apps" / f"{name}.ipynb", APP_READY, "dropdown")
                          for name in BUNDLED})
        elif not args.no_bundled:
            print("Flensburg mirror not found ($BIF_MIRROR): the bundled planning apps are left out", file=sys.stderr)
        # one app live at a time, so the kernels under Voilà are that app's (memory per app)
        app_ids = {"slider": publish_notebook(NOTEBOOK, published_by="bench", cfg=cfg).app_id}
        platform.start_apps()
        platform.start_hub()
        voila_pid = int(cfg.voila_pid_file.read_text())

        results = {}
        with sync_playwright() as pw:
            # as in the city's offline intranet: names outside resolve to nothing at once (plain
            # Voilà's page asks a CDN for Font Awesome; a DNS lookup that hangs would stall it)
            offline = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
            ctx = pw.chromium.launch_persistent_context(
                str(work / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS + offline,
                viewport={"width": 1366, "height": 768}, locale="de-DE")
            page = ctx.new_page()
            login(page, platform.hub_url, "planer")
            page.wait_for_url(platform.gallery_url)
            page.close()
            for name, case in cases.items():
                if name not in app_ids:
                    for previous in list(app_ids.values()):
                        withdraw(previous, by="bench", cfg=cfg)  # its pooled kernels go too
                    app_ids = {name: publish_notebook(case.notebook, published_by="bench", cfg=cfg).app_id}
                # plain Voilà for this notebook only now: its idle server must not share the machine
                # with the other cases
                plains[name] = PlainVoila(work, case.notebook, name)
                try:
                    results[name] = run_case(ctx, platform, cfg, voila_pid, app_ids[name], plains[name], case,
                                             args.opens, args.burst)
                finally:
                    plains.pop(name).stop()
                print(summary_line(name, results[name]), flush=True)
            ctx.close()

        data = {
            "method": ("Chromium (headless) with a persistent profile (HTTP and code cache kept, as in a "
                       "planner's browser), new tab per open. bif: click 'App öffnen' in the gallery -> widgets "
                       "rendered with the kernel's output -> one change round-trips through the kernel (slider: "
                       "ArrowRight; real apps: another district in the dropdown). plain: goto URL of plain Voilà "
                       "(no preheat, no hub) -> same. "
                       "bif and plain opens alternate; before each bif open the app's pool is full again (steady "
                       "state: the pooled kernels have rendered the notebook). Apps service: gateway + Voilà 0.5 "
                       f"preheat, pool_size={cfg.pool_size}, BIF's app front end where the app allows; hub + proxy "
                       "on 127.0.0.1."),
            "opens": args.opens,
            "cases": {name: {"notebook": str(case.notebook.relative_to(ROOT)) if case.notebook.is_relative_to(ROOT)
                             else "generated (see PLANNING_CODE in bench_app_open.py)", **results[name]}
                      for name, case in cases.items()},
            # memory per kernel as PSS: its own pages plus its share of those it shares with the
            # other kernels (the sum over kernels is what they occupy); RSS counts every shared
            # library page again in every kernel
            "targets": {"p50_s": 1.0, "p95_s": 2.0, "speedup": 3.0, "kernel_pss_mb": 200},
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
        data["kernel_start"] = args.kernel_start
        path = record("app_open" if args.kernel_start == "fork" else f"app_open_{args.kernel_start}", data)
        for name, r in results.items():
            print(summary_line(name, r))
        print(f"load average before/after: {data['load_average_before']} / {data['load_average_after']}")
        print(f"written to {path}")
    finally:
        for plain in plains.values():
            plain.stop()
        platform.shutdown()
        access.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


def summary_line(name: str, r: dict) -> str:
    b, p = r["bif_preheated"]["interactive"], r["plain_voila"]["interactive"]
    return (f"{name:12s} bif p50 {b['p50_s']} s p95 {b['p95_s']} s | plain p50 {p['p50_s']} s p95 {p['p95_s']} s"
            f" | speed-up p50 {r['speedup_p50']}x p95 {r['speedup_p95']}x | max kernel RSS "
            f"{r['max_kernel_rss_mb']} MB PSS {r['max_kernel_pss_mb']} MB | burst {r['burst_back_to_back_interactive_s']}")


if __name__ == "__main__":
    main()
