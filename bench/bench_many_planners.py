"""Many planners at once: N planners open the Bevölkerung app at the same moment (issue #18).

A throw-away platform on 127.0.0.1 with its own ports and ``BIF_HOME`` (``TestPlatform``
of tests/apps/apps_hub.py: hub + proxy + bif-apps gateway + preheated Voilà, pool size 2 as
in the default settings), the Flensburg store bootstrapped from the mirror and the bundled
``bevoelkerung`` app published. Logins go through BIF's own local accounts
(``BIFLocalAuthenticator``, real scrypt hashes in ``users.json``), not the dummy
authenticator of the tests: login times are the ones planners see.

For each N (default 5, 10, 30, 100), one round, each on a freshly started apps service
(pool at its own size, no memory of earlier opens: a pool grown by the last round's opens
would favour the next one). The platform setting ``apps.shared_view`` is set by
``--shared-view on|off`` (default on); ``--compare-modes`` runs the N list twice, first with
``off``, then with ``on`` (the apps service is restarted with the other setting between the
rounds, as between any two rounds), and prints one table per setting. Whatever the setting,
each planner records the mode its page came in (``mode``): **shared** (the gateway serves
everyone the same pre-rendered page with the widget states embedded; no kernel belongs to the
page; a change is computed by the gateway in a forked copy of the app) or **kernel** (a page
with its own kernel, as before; also with the setting on, for apps or platforms where shared
mode is not possible).

1. **Login wave.** All N planners log in at the same moment: hub login form (with its
   ``_xsrf``), the hub's redirect to the gallery, the gateway's OAuth round trip
   (authorize → ``oauth_callback``) until the gallery answers 200. Login time = from the
   request for the login form until the gallery page has arrived. Then, as a browser does
   on the gallery while its planner chooses, each planner fetches the files the gallery names
   for fetching ahead (``<link rel="prefetch">``, the scripts ``"modulepreload"``: the app
   front end, see docs/apps.md, "Speed"); Chromium does so by itself (and compiles the
   scripts), an HTTP planner in ``HttpPlanner.prefetch``.
2. **Everyone opens the app at the same moment (T0)** and changes the Stadtteil
   ``--changes`` times (default 5), then closes the page.

   * Up to ``--browsers`` (default 5) planners are real Chromium pages (Playwright, one fresh
     context each: cold cache, as on a planner's first open, unless ``--browser-cache warm``). *Interactive* = the app's first
     table, its chart images and the district dropdown are on the page (bench_app_open's
     ``APP_READY``, polled in the page) **and** one Stadtteil change has come back: the
     charts and the table show the new Stadtteil (bench_app_interaction's ``MEASURE_JS``).
     Time to interactive = (page's navigation start − T0) + time in the page until ready +
     duration of that first change: all taken in the page, so the benchmark's own event
     loop cannot inflate it. A page whose code cells came without output (no app on it)
     fails at once instead of waiting for the cap. Widget change = ``MEASURE_JS`` (change event until charts and
     table are redrawn in the browser, in either mode). Closing = ``page.close(run_before_unload=True)``:
     the page sends its shutdown beacon (a shared page sends nothing). The page's mode is read
     from its ``jupyter-config-data`` once it is ready.
   * The others are lightweight asyncio clients (tornado) doing what the page does:
     GET the app page as a navigation (``Sec-Fetch-Mode: navigate``: when the gateway's
     first-come-first-served line is full it answers with its streamed waiting page, which
     ends by sending the browser on to the prepared page; the client follows it); a page
     without the app's widget output counts as not interactive (a browser would show no
     app); fetch every script and style sheet it references (6 at a time, gzip,
     cold cache: each client fetches all of them, except those it fetched ahead on the
     gallery and may keep). The page's ``jupyter-config-data``
     decides the mode: with ``bifShared`` (a JSON string, or an object) it is shared,
     otherwise kernel.

     *Shared mode* (``kernelId`` empty; ``bifShared`` = ``{"snapshot", "interactUrl",
     "flushAfterMs", "viewOnly"}``): no kernel request, no WebSocket. The widget states are
     the ``update_states`` message embedded in the page (``<script
     type="application/vnd.bif.widget-snapshot+json" id="bif-widget-snapshot">``; its
     ``data.states`` have the shape of the control comm's answer); the Dropdown is found in
     them as below. Each change is a ``POST interactUrl`` (JSON, the login cookies, ``Origin``
     of the hub, ``Sec-Fetch-Site: same-origin``) with ``{"snapshot", "history": [the earlier
     steps in order], "step": {"comm_id": <Dropdown>, "data": {"method": "update", "state":
     {"index": k}, "buffer_paths": []}, "buffers": []}}``; **a change ends when the answer
     (``{"messages": [comm_msg/comm_open/comm_close ...], "pending": bool}``) has arrived**,
     then the step joins the history. A change whose messages touch no other comm than the
     Dropdown's is an error ("no other widget changed"; checked after the round, so that
     decompressing and parsing the answers does not hold up the other planners' loop). 429/503: wait ``Retry-After``
     (default 1 s) and send again (counted in ``retries``, the wait is part of the change);
     409: error "snapshot outdated". The client changes again at once (within
     ``flushAfterMs``), so it never flushes between changes; after its last change, if that
     answer was ``pending``, it waits ``flushAfterMs`` as the page does and sends one flush
     (``"step": {"flush": true}``), timed apart as ``flush_ms``, not as a change.
     *Interactive* = page received + snapshot read + the first change's answer arrived,
     counted from T0. Closing a shared page sends nothing (no kernel, no beacon).

     *Kernel mode*: GET ``api/kernels/<id>`` (the front end's
     ``KernelAPI.getKernelModel``); open the kernel WebSocket
     ``…/api/kernels/<id>/channels?session_id=…`` with the subprotocol
     ``v1.kernel.websocket.jupyter.org`` (binary frames, jupyter_server's v1 framing);
     ``kernel_info_request`` (as ``KernelConnection`` does on connecting); open the
     ``jupyter.widget.control`` comm and send ``request_states`` (as ipywidgets'
     ``_loadFromKernel``) until the kernel's ``update_states`` arrives, or, when the kernel
     closes that comm (no such comm target), ``comm_info_request`` and one ``request_state``
     per widget comm as ipywidgets' ``_loadFromKernelModels`` falls back to; find the Dropdown
     model with the CSS class ``bif-district-select`` in those states. Each change is a
     ``comm_msg`` to that model, ``{"method": "update", "state": {"index": k}}``, as the
     browser's Dropdown view sends it; **a change ends when the kernel reports
     ``status: idle`` on iopub for that ``comm_msg``** (its parent), i.e. when every update
     the kernel sent in reaction (echo, table, charts, map) is on the client. *Interactive* =
     page received + widget states received + the first change ended, counted from T0.
     Closing: the shutdown beacon the page sends (multipart ``POST
     voila/api/shutdown/<id>`` with ``Sec-Fetch-Site: same-origin``), then the WebSocket
     is closed.

     In both modes, what the client does not do: run JavaScript, render, load fonts/images
     referenced inside the CSS, send what widget views send on their own after rendering
     (e.g. the Leaflet map's bounds).

     The lightweight clients stand for people at their own PCs: they run in worker processes
     of ``--clients-per-process`` (10) planners each, every worker in a session of its own
     (``PlannerProcess``), not in the benchmark's own process, where they waited for the CPU
     together with the Playwright calls. They log in and time themselves there, with the
     machine's monotonic clock (T0 is sent to them); ``--clients-per-process 0`` runs them in
     the benchmark's process as before.

   Bounds: planners count as interactive only within ``--interactive-limit`` (30 s) of T0;
   whatever is not finished at T0 + ``--cap`` (default 60 s + 2 s per planner) is stopped
   (its WebSocket closed and its beacon sent in kernel mode, the browser page closed), and so is everything
   at once if the machine's available memory falls below ``--min-free-mb`` (the machine is
   shared). Failed or stopped planners count as "not interactive" (∞ in the percentiles).
3. **After everyone left**: Voilà's kernels that are neither in its pool nor an app's shared
   template kernel (``/bif/kernels``: ``pooled``, ``shared``) are counted 5 s and
   ``--settle`` (60) s after the last planner closed, or after the hostile clients stopped if
   that was later (the gateway's orphan reaper has
   ``apps.orphan_timeout`` = 45 s); then leftovers are shut down, the hub users of the round
   are deleted. Voilà's shared-mode state (``GET /bif/shared``: per app the template kernel,
   forked sessions, cache entries, hits, misses, forks) is recorded when all have closed and
   after the settle time (absent where Voilà has no such endpoint).

Memory, sampled every second during the round (PSS from ``/proc/<pid>/smaps_rollup``, so
pages shared between processes are counted once): the app kernels (the service's ipykernel
processes, children of Voilà or forks of its kernel server, with every process below them,
e.g. the session copies a shared template kernel forks; peak of their sum, peak per
process, peak count of kernels and of the processes below them) and the whole platform (hub,
proxy, gateway, Voilà and every kernel). Also recorded: each phase of the lightweight
clients (waiting line, page, assets, WebSocket, states, the shared mode's flush and
retries), planners per mode, pages without the app, errors by
kind, WARNING/ERROR lines of the gateway's and Voilà's logs, the pool before and after,
restarts of Voilà by the gateway's watchdog, CPU seconds per kind of process (platform
services, app kernels, Chromium, this benchmark, everything else on the machine) and per
process (``by_process``: Chromium's renderer, browser and GPU process; proxy, gateway, Voilà)
for the login wave, for T0 until all closed, and for T0 until the last Chromium page was
interactive (``until_browsers_interactive``: how much of the machine the browsers themselves
needed to get there), how long each HTTP planner's client waited for a CPU during each of its
changes (``changes_client_wait_ms``, from ``/proc/thread-self/schedstat``; summarized with
the change less that wait, a lower bound of the platform's part), the lag of the benchmark's own event loop
(over the round and from T0 until all closed, and when its worst lag ended), its own garbage
collections (``bench_gc``: none during a round, see ``no_collections``), the load
average, and the commit measured.

``--hostile``: each N three times, without, with and again without two hostile clients
(``HostileClients``), each on an account of its own, from T0 until the planners have closed: one
opens kernel WebSockets without the kernel subprotocol and sends a binary frame on each, one
after the other; the other asks for 50 app pages with a kernel each at once and asks again for
the refused ones every 2 s, without ever connecting them. They run in a process and session of
their own (``HostileProcess``), as on a machine of their own, but on the same 2 CPUs. The comparison table shows the
planners' p95 in the three rounds (the two rounds without show the noise) and what the hostile
clients got (close codes, HTTP statuses). Recorded as ``many_planners_hostile``.

``--browser-cache cold|warm`` (default cold; several values: each N once per value, recorded as
``many_planners_browser_cache``): *cold* is a first visit, as described above. *Warm* is a
planner who has opened the app before, as on a Monday morning: before the round each Chromium
planner's context opens the app twice until it is ready (``BrowserPlanner.warm_up``: Chromium
keeps a script's compiled code from its second load on), each HTTP planner once, keeping the
files a browser may keep without asking (``kept_fresh``); then all lose their cookies, as a
closed browser does, and the apps service is restarted, because the warm-up's opens count as
demand for the app's pool. The round itself is unchanged.

Everything the benchmark creates goes at the end, also on Ctrl-C, SIGTERM or an error:
the users and kernels of each round, the platform, its temporary directory.

Run (as root: the kernels run as the app service account)::

    .venv/bin/python -m bench.bench_many_planners [--n 5 10 30 100] [--browsers 5] [--changes 5] \
        [--shared-view on|off | --compare-modes] [--hostile] [--browser-cache cold warm]

(about 12 minutes for the default, twice that with ``--compare-modes``; ``--verbose`` prints one
line per planner, ``--keep-logs`` keeps the platform's directory with the hub's, gateway's and
Voilà's logs.)

Results: bench/results.json, section ``many_planners`` (``--no-record``: print only).
Nothing is asserted. Needs Chromium at /usr/bin/chromium, configurable-http-proxy and the
Flensburg mirror (``$BIF_MIRROR`` or ../shared/data/flensburg).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.message
import gc
import gzip
import http.cookiejar
import io
import json
import math
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import types
import typing
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

import apps_hub  # noqa: E402
from apps_hub import CHROMIUM, CHROMIUM_ARGS, TestPlatform, environment_access  # noqa: E402

from bench._results import record  # noqa: E402
from bench.bench_app_interaction import MEASURE_JS  # noqa: E402
from bench.bench_app_open import (  # noqa: E402
    APP_READY,
    mirror_dir,
    percentile,
    prepare_store,
    wait_pool_full,
)
from bench.bench_logins import make_store  # noqa: E402
from bif_lib.apps.serving.pools import pool_status  # noqa: E402

APP = "bevoelkerung"
PROTOCOL = "v1.kernel.websocket.jupyter.org"
DISTRICT_CLASS = "bif-district-select"
TARGETS = {30: {"interactive_pct": 100, "tti_p95_s": 2.0, "change_p95_ms": 300},
           100: {"interactive_pct": 100, "tti_p95_s": 5.0}, "kernels_left": 0}
LOGIN_TIMEOUT_MS = 180_000
BENCH_CPU = "benchmark (HTTP clients, Playwright calls)"  # the CPU-time kind of this process and its planner workers
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
EMPTY_PAGE = "the page came without the app's output (no widget): the planner sees no app"
ASSET_PARALLEL = 6  # connections per host of a browser (HTTP/1.1)
WARM_OPENS = 2  # Chromium keeps a script's compiled code from its second load on (--browser-cache warm)
QUEUE_NEXT = re.compile(r"bifQueueReady\((\"[^\"]+\")\)")
SHARED_RETRY = (429, 503)  # busy: send again after Retry-After
# in a Chromium page: the mode its page came in (as HttpPlanner.session decides it)
PAGE_MODE_JS = """() => {
  const el = document.getElementById('jupyter-config-data');
  if (!el) return null;
  try { return JSON.parse(el.textContent).bifShared ? 'shared' : 'kernel'; } catch (e) { return null; }
}"""
# what a browser sends when it opens a page (the gateway answers a navigation that has to wait
# with its waiting page)
NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "same-origin",
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
XSRF_FIELD = re.compile(r'name="_xsrf"\s+value="([^"]+)"')
# the page polls for the app's first output (bench_app_open.APP_READY) and notes when it was there
READY_WATCH = """(() => {
  if (!location.pathname.includes('/app/')) return;
  const ready = (APP_READY);
  // a page whose code cells came without any output shows no app: it never gets ready
  const empty = () => document.readyState === 'complete' && document.querySelector('.jp-CodeCell')
    && [...document.querySelectorAll('.jp-CodeCell')].every(c => c.classList.contains('jp-mod-noOutputs'));
  const check = () => {
    try {
      if (ready()) { window.__bifReady = performance.now(); return; }
      if (empty()) { window.__bifEmpty = performance.now(); return; }
    } catch (e) {}
    setTimeout(check, 5);
  };
  check();
})();""".replace("APP_READY", APP_READY)
# where a Chromium page's time went (ms after its own start, origin_s after T0): the page
# (request, first byte, last byte, DOM interactive, DOMContentLoaded end), each file (asked,
# first byte, last byte) and the app ready
PAGE_TIMING_JS = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const ms = v => Math.round(v);
  return {origin_s: performance.timeOrigin / 1000,
          page: [n.requestStart, n.responseStart, n.responseEnd, n.domInteractive, n.domContentLoadedEventEnd].map(ms),
          files: performance.getEntriesByType('resource').map(e =>
            [e.name.split('?')[0].slice(-24), ms(e.startTime), ms(e.responseStart), ms(e.responseEnd)]),
          ready: ms(window.__bifReady)};
}"""
# BIF's own login (scrypt) instead of the tests' dummy authenticator; no braces: the hub
# configuration is a format string (apps_hub.HUB_CONFIG)
BIF_LOGIN_CONFIG = """
c.JupyterHub.load_groups = dict()  # groups come from BIF's user store (manage_groups)
c.JupyterHub.authenticator_class = "bif_lib.platform.auth.BIFLocalAuthenticator"
c.Authenticator.manage_groups = True  # as bif_lib/platform/hubconfig.py sets it
c.BIFLocalAuthenticator.users_file = %r
"""


# --- small helpers ---------------------------------------------------------------------------------

def run_queue_wait_s() -> float | None:
    """Seconds the calling thread has waited for a CPU while it was ready to run (Linux
    schedstat, second field), or None where the kernel does not say. An HTTP planner's change
    is timed by its client; on this machine the clients share the CPUs with Chromium and the
    platform, and a client that waits for a CPU reads its answer late. Taken around each
    change, this tells that wait apart from the platform's part (``summarize``)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def client_wait_parts(rs: list[dict]) -> dict:
    """For the changes timed with their client's CPU wait (the HTTP planners'; a Chromium page
    times its changes itself): that wait, and the change less that wait. The latter is a lower
    bound of the platform's and the network's part (the wait delayed the change only where the
    answer came meanwhile); the change itself is the upper bound. Empty without such changes."""
    waits = [(ms, w) for r in rs for ms, w in zip(r.get("changes_ms", []), r.get("changes_client_wait_ms", []))
             if w is not None]
    if not waits:
        return {}
    return {"widget_change_client_cpu_wait_ms": stats([w for _, w in waits], digits=1),
            "widget_change_less_client_cpu_wait_ms": stats([max(0.0, ms - w) for ms, w in waits], digits=1)}


def http_change_parts(rnd: dict) -> str:
    """The HTTP planners' change p95 next to their clients' CPU waits (``summarize``), for the
    round's line."""
    h = rnd.get("http") or {}
    if "widget_change_client_cpu_wait_ms" not in h:
        return ""
    return (f"HTTP changes p95 {h['widget_change_ms'].get('p95')} ms, their clients' CPU wait p95 "
            f"{h['widget_change_client_cpu_wait_ms'].get('p95')} ms, change less that wait p95 "
            f"{h['widget_change_less_client_cpu_wait_ms'].get('p95')} ms; ")


def browser_cpu_part(rnd: dict) -> str:
    """Chromium's share of the machine until its pages were interactive, for the round's line."""
    used = (rnd.get("cpu_s") or {}).get("until_browsers_interactive")
    if not used:
        return ""
    return (f"until the last Chromium page was interactive ({used['wall_s']} s): Chromium used "
            f"{used.get('chromium', 0.0)} of the machine's {used['capacity (CPUs x wall time)']} CPU-s, "
            f"the platform {used.get('platform services', 0.0)}, the app kernels {used.get('app kernels', 0.0)}, "
            f"the benchmark's clients {used.get(BENCH_CPU, 0.0)}; ")


def rounded_waits(waits: list[float | None]) -> list[int | None]:
    """A planner's CPU waits per change in whole milliseconds (None: not read)."""
    return [None if w is None else round(w) for w in waits]


def client_waits(r: dict) -> str:
    """`` client_wait_ms=[...]`` for a planner whose changes were timed with their CPU waits."""
    waits = r.get("changes_client_wait_ms")
    if not waits or all(w is None for w in waits):
        return ""
    return f" client_wait_ms={rounded_waits(waits)}"


def waited_ms(since: float | None) -> float | None:
    """Milliseconds waited for a CPU since ``run_queue_wait_s()`` gave ``since``."""
    now = run_queue_wait_s()
    return None if since is None or now is None else 1000 * (now - since)


def stats(values: list[float], total: int | None = None, scale: float = 1.0, digits: int = 3) -> dict:
    """p50/p95/max of ``values``; with ``total``, the missing ones (failed planners) count as
    infinitely slow: a p95 that falls on one is reported as None ("not reached")."""
    vals = sorted(v * scale for v in values)
    padded = vals + [math.inf] * max(0, (total or len(vals)) - len(vals))
    if not padded:
        return {"n": 0}

    def q(p):
        v = percentile(padded, p) if all(math.isfinite(x) for x in padded) else _inf_percentile(padded, p)
        return round(v, digits) if math.isfinite(v) else None

    return {"n": len(vals), "of": len(padded), "p50": q(0.5), "p95": q(0.95),
            "max": round(vals[-1], digits) if vals else None,
            "mean": round(statistics.fmean(vals), digits) if vals else None}


def _inf_percentile(ordered: list[float], q: float) -> float:
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    if not math.isfinite(ordered[hi]):
        return math.inf if k > lo or not math.isfinite(ordered[lo]) else ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return math.inf


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def shared_config(config: dict) -> dict | None:
    """The page's ``bifShared`` (a JSON string or an object), None on a kernel page."""
    shared = config.get("bifShared")
    if isinstance(shared, str):
        shared = json.loads(shared) if shared.strip() else None
    return shared or None


def shared_view_known() -> bool:
    """Does this platform's settings schema have ``apps.shared_view`` (an unknown key is refused)?"""
    from bif_lib.platform.settings import schema

    return "shared_view" in schema()["properties"]["apps"].get("properties", {})


class AssetLinks(HTMLParser):
    """The scripts and style sheets a page makes the browser load (with the script modules it
    preloads: the app front end's chunks). ``of(html)`` parses only the page's ``<script>`` and
    ``<link>`` tags: the whole page (the widget snapshot in it) took the benchmark's one event
    loop 6 ms per planner, which all planners' pages arrive together and delay each other."""

    TAGS = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
    SCRIPT_END = re.compile(r"</script", re.IGNORECASE)

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    @classmethod
    def of(cls, html: str) -> list[str]:
        links, at = cls(), 0
        while (tag := cls.TAGS.search(html, at)) is not None:
            at = tag.end()
            if tag.group(1).lower() == "script":
                links.feed(tag.group(0) + "</script>")  # ends the content mode a script tag starts
                end = cls.SCRIPT_END.search(html, at)  # its content is text, as for the full parser
                at = end.end() if end else len(html)
            else:
                links.feed(tag.group(0))
        links.close()
        return links.urls

    PREFETCH = re.compile(r"<link\b[^>]*\brel=\"?(?:prefetch|modulepreload)\b[^>]*>", re.IGNORECASE)
    HREF = re.compile(r"\bhref=\"([^\"]+)\"", re.IGNORECASE)

    @classmethod
    def prefetched(cls, html: str, url: str) -> list[str]:
        """The URLs a page lets the browser fetch ahead (``<link rel="prefetch">`` or, for
        scripts, ``"modulepreload"``: the gallery's app front end), absolute, on the page's own
        host."""
        host = urllib.parse.urlsplit(url).netloc
        found = (cls.HREF.search(tag.group(0)) for tag in cls.PREFETCH.finditer(html))
        return [u for u in (urllib.parse.urljoin(url, html_unescape(h.group(1))) for h in found if h)
                if urllib.parse.urlsplit(u).netloc == host]

    @classmethod
    def same_host(cls, html: str, url: str) -> list[str]:
        """The page's script and style sheet URLs (absolute) on the page's own host."""
        host = urllib.parse.urlsplit(url).netloc
        return [u for u in (urllib.parse.urljoin(url, link) for link in cls.of(html))
                if urllib.parse.urlsplit(u).netloc == host]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and {"stylesheet", "modulepreload"} & set((a.get("rel") or "").split()) and a.get("href"):
            self.urls.append(a["href"])


class _CookieResponse:
    """What ``http.cookiejar`` needs of a response: its Set-Cookie headers."""

    def __init__(self, headers):
        self._msg = email.message.Message()
        for value in headers.get_list("Set-Cookie"):
            self._msg["Set-Cookie"] = value

    def info(self):
        return self._msg


# --- the platform and its memory --------------------------------------------------------------------

class Bench:
    """The platform and the accounts of one run."""

    def __init__(self, work: Path, args):
        self.work, self.args = work, args
        self.platform = TestPlatform(work / "platform")
        self.cfg = None
        self.accounts: list[tuple[str, str]] = []
        self.voila_token = ""
        self.shared_view_known = shared_view_known()
        self.shared_view = ""
        self.set_shared_view("off" if args.compare_modes else args.shared_view)
        if getattr(args, "prepare_steps", None) is not None:
            self.platform.apps_overrides["shared_prepare_steps"] = args.prepare_steps

    def set_shared_view(self, mode: str) -> None:
        """``apps.shared_view`` ("on"/"off") for the next start of the apps service, through the
        platform's settings overrides (as ``TestPlatform`` sets ``apps.pool_size``). A platform
        whose settings do not know the key keeps its kernel pages."""
        self.shared_view = mode
        if self.shared_view_known:
            self.platform.apps_overrides["shared_view"] = mode == "on"
        elif mode == "on":
            print("note: apps.shared_view is not in this platform's settings; its pages keep their kernels",
                  file=sys.stderr)

    # setup, in the main thread before the event loop
    def start(self) -> None:
        from bif_lib.apps.publishing.publish import publish_notebook

        platform = self.platform
        platform.activate_env()
        self.cfg = platform.cfg()
        mirror = mirror_dir()
        if mirror is None:
            raise SystemExit("Flensburg mirror not found ($BIF_MIRROR or ../shared/data/flensburg)")
        t = time.perf_counter()
        prepare_store(platform, mirror)
        print(f"store bootstrapped in {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        publish_notebook(ROOT / "notebooks" / "apps" / f"{APP}.ipynb", published_by="bench", cfg=self.cfg)
        print(f"{APP} published in {time.perf_counter() - t:.0f} s", flush=True)
        users_file = platform.settings().users_file
        users_file.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        self.accounts = make_store(users_file, max(self.args.n) + (2 if self.args.hostile else 0))
        print(f"{len(self.accounts)} local accounts (scrypt) in {time.perf_counter() - t:.0f} s", flush=True)
        original = apps_hub.HUB_CONFIG
        apps_hub.HUB_CONFIG = original + BIF_LOGIN_CONFIG % str(users_file)
        try:
            platform.start_apps()
            platform.start_hub()
        finally:
            apps_hub.HUB_CONFIG = original
        self.voila_token = self.cfg.voila_token_file.read_text().strip()
        waited = self.wait_ready()
        print(f"platform up, pool of {self.cfg.pool_size} rendered after {waited:.0f} s", flush=True)

    def restart_apps(self) -> float:
        """A freshly started apps service (gateway, Voilà, pool at its own size, no memory of
        earlier opens): each round starts from the same state. Seconds until the pool is full."""
        self.platform.stop_apps()
        self.cfg = self.platform.cfg()  # apps.shared_view may have changed
        self.platform.start_apps()
        self.voila_token = self.cfg.voila_token_file.read_text().strip()
        return self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until the platform is ready for the round: with apps.shared_view, the app's
        shared page is built (the gateway builds it at start, with a kernel of the pool), and
        the pool is full; its first changes are prepared (``apps.shared_prepare_steps``), as
        they are long before a Monday morning."""
        t0 = time.perf_counter()
        if getattr(self.cfg, "shared_view", False):
            req = urllib.request.Request(f"{self.cfg.voila_url}/bif/shared",
                                         headers={"Authorization": f"token {self.voila_token}"})
            while time.perf_counter() - t0 < timeout:
                try:
                    with urllib.request.urlopen(req, timeout=5) as resp:
                        shared = json.loads(resp.read()).get("apps", {}).get(APP)
                        if shared is not None and not shared.get("preparing"):
                            break
                except OSError:
                    pass
                time.sleep(0.2)
        wait_pool_full(self.cfg, APP, self.cfg.pool_size, timeout=max(1.0, timeout - (time.perf_counter() - t0)))
        return time.perf_counter() - t0

    def stop(self) -> None:
        from bif_lib.platform.auth import UserStore

        try:
            users = UserStore(self.platform.settings().users_file)
            users.remove_all([name for name, _ in self.accounts if users.get(name)])
        except Exception as e:  # noqa: BLE001 - the platform goes anyway
            print(f"could not remove the accounts: {e}", file=sys.stderr)
        self.platform.shutdown()

    # --- URLs ---------------------------------------------------------------------------------
    @property
    def hub(self) -> str:
        return self.platform.hub_url

    @property
    def app_url(self) -> str:
        return f"{self.platform.gallery_url}app/{APP}/"

    def voila_pid(self) -> int | None:
        try:
            return int(self.cfg.voila_pid_file.read_text())
        except (OSError, ValueError):
            return None

    def platform_pids(self, tree: dict[int, list[int]] | None = None) -> list[int]:
        from bif_lib.processes import descendants

        roots = [p.pid for p in (self.platform.hub_proc, self.platform.proxy_proc) if p is not None]
        for pidfile in (self.cfg.gateway_pid_file, self.cfg.voila_pid_file):
            try:
                roots.append(int(pidfile.read_text()))
            except (OSError, ValueError):
                pass
        pids = set(roots)
        for pid in roots:
            pids.update(descendants(pid, tree))
        return sorted(pids)

    async def voila_kernels(self) -> dict[str, dict] | None:
        from bif_lib.apps.serving.gateway import voila_kernels

        return await voila_kernels(self.cfg, self.voila_token)

    async def voila_shared(self) -> dict | None:
        """Voilà's shared-mode state (``GET /bif/shared``, same auth as ``/bif/kernels``): per app
        template kernel, sessions, cache entries, hits, misses, forks. None where Voilà has no
        such endpoint (404) or does not answer."""
        from bif_lib.apps.serving.gateway import voila_shared_status

        try:
            return await voila_shared_status(self.cfg, self.voila_token)
        except (ValueError, AttributeError):
            return None

    async def shutdown_kernel(self, kernel_id: str) -> bool:
        from bif_lib.apps.serving.gateway import shutdown_voila_kernel

        return await shutdown_voila_kernel(self.cfg, self.voila_token, kernel_id)

    async def hub_api(self, method: str, path: str):
        return await asyncio.get_running_loop().run_in_executor(None, self.platform.hub_api, method, path, None)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / tick, sum(fields) / tick


class Sampler(threading.Thread):
    """Every second: PSS of the app kernels and of the whole platform, the memory left on the
    machine, Voilà's pid (a watchdog restart changes it), and the CPU time used so far by
    each process of the platform, of Chromium and of this benchmark."""

    def __init__(self, bench: Bench, interval: float = 1.0):
        super().__init__(daemon=True, name="bench-sampler")
        self.bench, self.interval = bench, interval
        self.stop_event = threading.Event()
        self.samples: list[dict] = []
        self.low_memory = threading.Event()
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (kind, CPU seconds when last seen)
        self.names: dict[int, str] = {}  # pid -> which process it is (process_name)

    def sample(self) -> dict:
        from bif_lib.apps.serving.supervisor import service_kernels
        from bif_lib.processes import children_map, cmdline, cpu_seconds, descendants, memory_bytes

        # the app kernels wherever they hang (children of Voilà, or forks of the kernel fork
        # server, which is matched too and counted as before), with every process below a kernel:
        # a shared template kernel's state server and its session copies (they carry the kernel's
        # command line, but are found here also if they did not)
        lines = {pid: cmdline(pid) or "" for pid in service_kernels(self.bench.cfg)}
        found = {pid for pid, line in lines.items() if "ipykernel" in line}
        tree = children_map()
        forks = {child for pid in found if "kernel_forks" not in lines[pid] for child in descendants(pid, tree)}
        roots = found - forks  # kernels (and the fork server); the rest are processes forked by a kernel
        kernel_pids = sorted(found | forks)
        kernels = [memory_bytes([pid]) / 2**20 for pid in kernel_pids]
        # one pass over /proc for all of them: the sampler shares the interpreter with the planners
        platform_pids = self.bench.platform_pids(tree)
        platform = memory_bytes(platform_pids)
        kinds = {pid: "platform services" for pid in platform_pids}
        kinds.update({pid: "app kernels" for pid in kernel_pids})
        for pid in descendants(os.getpid(), tree):
            if pid in kinds:
                continue
            line = cmdline(pid) or ""
            if any(m in line for m in ("chrom", "playwright")):
                kinds[pid] = "chromium"
            elif PlannerProcess.flag in line:
                kinds[pid] = BENCH_CPU
            elif HostileProcess.flag in line:
                kinds[pid] = "hostile clients"
        for pid, kind in kinds.items():
            used = cpu_seconds(pid)
            if used is not None:
                self.cpu[pid] = (self.cpu.get(pid, (kind,))[0], used)
                if pid not in self.names:
                    self.names[pid] = process_name(kind, cmdline(pid) or "")
        return {"t": time.monotonic(), "voila_pid": self.bench.voila_pid(), "kernels": len(roots),
                "kernel_forks": len(forks),
                "kernels_pss_mb": round(sum(kernels), 1), "max_kernel_pss_mb": round(max(kernels, default=0.0), 1),
                "platform_pss_mb": round(platform / 2**20, 1), "available_mb": round(mem_available_mb())}

    def run(self) -> None:
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                s = self.sample()
            except Exception:  # noqa: BLE001 - a process ended while being read
                s = None
            if s is not None:
                self.samples.append(s)
                if s["available_mb"] < self.bench.args.min_free_mb:
                    self.low_memory.set()
            self.stop_event.wait(max(0.05, self.interval - (time.monotonic() - started)))

    def window(self, since: float, until: float | None = None) -> list[dict]:
        until = until or math.inf
        return [s for s in list(self.samples) if since <= s["t"] <= until]

    def cpu_mark(self) -> dict:
        return {"pids": dict(self.cpu), "bench": sum(os.times()[:2]), "machine": machine_cpu(),
                "t": time.monotonic()}

    def cpu_since(self, mark: dict) -> dict:
        """CPU seconds used since ``mark`` by kind (processes that ended lose their last second)."""
        used, by_process = Counter(), Counter()
        for pid, (kind, seconds) in dict(self.cpu).items():
            before = mark["pids"].get(pid, (kind, 0.0))[1]
            used[kind] += max(0.0, seconds - before)
            by_process[self.names.get(pid, kind)] += max(0.0, seconds - before)
        used[BENCH_CPU] += sum(os.times()[:2]) - mark["bench"]  # and its workers' (sampled above)
        busy, total = machine_cpu()
        used["whole machine"] = busy - mark["machine"][0]
        wall = time.monotonic() - mark["t"]
        out = {k: round(v, 1) for k, v in used.items()}
        out["other processes on the machine"] = round(
            used["whole machine"] - sum(v for k, v in used.items() if k != "whole machine"), 1)
        out["capacity (CPUs x wall time)"] = round((total - mark["machine"][1]), 1)
        out["wall_s"] = round(wall, 1)
        out["by_process"] = {k: round(v, 2) for k, v in by_process.most_common() if v >= 0.05}
        return out


def process_name(kind: str, line: str) -> str:
    """A short name for a process of ``kind``: Chromium's by its ``--type`` (renderer, gpu-process,
    utility: network, ...), the platform's by the module or program it runs."""
    if kind == "chromium":
        found = re.search(r"--type=(\S+)", line)
        sub = re.search(r"--utility-sub-type=(\S+)", line)
        if "chrom" not in line.split(" ")[0]:
            return "chromium: playwright driver"
        return "chromium: " + ((found.group(1) + (f" ({sub.group(1).split('.')[-2]})" if sub else ""))
                               if found else "browser")
    if kind == "platform services":
        for marker, name in (("configurable-http-proxy", "proxy"), ("jupyterhub", "hub"),
                             ("bif_lib.apps.serving.service", "gateway"), ("voila", "voila")):
            if marker in line:
                return f"platform: {name}"
        words = line.split(" ")
        module = words[words.index("-m") + 1] if "-m" in words[:-1] else None
        return "platform: " + (module or words[0].rsplit("/", 1)[-1] or "?")
    return kind


# --- a lightweight planner: HTTP + kernel WebSocket -------------------------------------------------

class KernelChannel:
    """One kernel WebSocket in the v1 protocol: send requests, wait for what they caused."""

    def __init__(self, ws):
        self.ws = ws
        self.session = uuid.uuid4().hex
        self.waiters: dict[str, dict] = {}
        self.bytes_in = 0
        self.trace: list | None = None  # (channel, type, parent's type, content) of every message, for debugging
        self.reader = asyncio.ensure_future(self._read())

    def _message(self, msg_type: str, content: dict, metadata: dict | None = None) -> tuple[str, list[bytes]]:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "session": self.session, "username": "",
                  "date": iso_now(), "version": "5.3"}
        return msg_id, [json.dumps(part).encode() for part in (header, {}, metadata or {}, content)]

    async def request(self, channel: str, msg_type: str, content: dict, until, metadata: dict | None = None,
                      timeout: float = 60) -> dict:
        """Send a message; wait until ``until(waiter, channel, msg_type, content)`` is true for
        a message whose parent it is. The waiter records count and bytes of those messages."""
        from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

        msg_id, parts = self._message(msg_type, content, metadata)
        waiter = {"until": until, "future": asyncio.get_running_loop().create_future(), "messages": 0,
                  "bytes": 0, "types": Counter(), "widgets": set(), "data": None}
        self.waiters[msg_id] = waiter
        try:
            await self.ws.write_message(serialize_msg_to_ws_v1(parts, channel), binary=True)
            await asyncio.wait_for(asyncio.shield(waiter["future"]), timeout)
        finally:
            self.waiters.pop(msg_id, None)
        return waiter

    async def send(self, channel: str, msg_type: str, content: dict, metadata: dict | None = None) -> None:
        from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

        _, parts = self._message(msg_type, content, metadata)
        await self.ws.write_message(serialize_msg_to_ws_v1(parts, channel), binary=True)

    async def _read(self) -> None:
        from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

        while True:
            raw = await self.ws.read_message()
            if raw is None:
                break
            if isinstance(raw, str):
                continue
            self.bytes_in += len(raw)
            channel, parts = deserialize_msg_from_ws_v1(raw)
            parent = json.loads(parts[1])
            if self.trace is not None:
                self.trace.append((channel, json.loads(parts[0])["msg_type"], parent.get("msg_type"),
                                   bytes(parts[3][:120])))
            waiter = self.waiters.get(parent.get("msg_id"))
            if waiter is None or waiter["future"].done():
                continue
            header, content = json.loads(parts[0]), json.loads(parts[3])
            waiter["messages"] += 1
            waiter["bytes"] += len(raw)
            waiter["types"][header["msg_type"]] += 1
            if header["msg_type"] == "comm_msg":
                waiter["widgets"].add(content.get("comm_id"))
            if waiter["until"](waiter, channel, header["msg_type"], content, parts[4:]):
                waiter["future"].set_result(None)
        for waiter in self.waiters.values():
            if not waiter["future"].done():
                waiter["future"].set_exception(ConnectionError("kernel WebSocket closed"))

    def close(self) -> None:
        self.ws.close()
        self.reader.cancel()


def _idle(waiter, channel, msg_type, content, buffers) -> bool:
    return channel == "iopub" and msg_type == "status" and content.get("execution_state") == "idle"


def _shell_reply(waiter, channel, msg_type, content, buffers) -> bool:
    if channel == "shell" and msg_type.endswith("_reply"):
        waiter["data"] = content
        return True
    return False


def _comm_closed(waiter, channel, msg_type, content, buffers) -> bool:
    return msg_type == "comm_close"


def _comm_method(method: str):
    """A waiter's predicate: a ``comm_msg`` whose data has this ``method`` (kept in the waiter)."""
    def matches(waiter, channel, msg_type, content, buffers) -> bool:
        data = content.get("data") or {}
        if msg_type == "comm_msg" and data.get("method") == method:
            waiter["data"] = data
            return True
        return False
    return matches


_state_reply = _comm_method("update")  # one widget's state (request_state)
_states = _comm_method("update_states")  # all widgets' states (the control comm)


def kept_fresh(cache_control: str) -> bool:
    """Whether a browser answers this file from its cache without asking again, for the few
    seconds between a warm-up and the round: ``max-age`` above 0 and neither ``no-store`` nor
    ``no-cache`` (``no-cache`` files are asked for again, with a 304 at best)."""
    directives = {d.strip().split("=", 1)[0].lower(): d.strip().partition("=")[2] for d in cache_control.split(",")}
    if "no-store" in directives or "no-cache" in directives:
        return False
    try:
        return int(directives.get("max-age", "0").strip('"')) > 0
    except ValueError:
        return False


def script_text(html: str, element_id: str) -> str | None:
    """The content of the page's ``<script id="element_id">``, None if there is none. A search
    for the id: a regular expression over the script tags took 4 ms for the shared page."""
    at = html.find(f'id="{element_id}"')
    opened = html.rfind("<", 0, at)
    if at < 0 or not html.startswith("<script", opened) or ">" in html[opened:at]:
        return None
    start = html.find(">", at) + 1
    end = html.find("</script>", start)
    return html[start:end] if start > 0 and end >= 0 else None


def answer_of(resp) -> dict:
    """The JSON answer of a response fetched ``raw`` (gzip as it came)."""
    body = resp.body or b""
    if resp.headers.get("Content-Encoding") == "gzip" and body:
        body = gzip.decompress(body)
    return json.loads(body)


_SNAPSHOT_MODELS: dict[str, tuple[str, int]] = {}


def snapshot_district_model(text: str) -> tuple[str, int]:
    """``district_model`` of a page's widget snapshot (its JSON text). Remembered per exact text:
    every planner gets the same page, and parsing its 250 KB for each of them kept the
    benchmark's loop from the planners' answers (a browser parses it on its own machine)."""
    found = _SNAPSHOT_MODELS.get(text)
    if found is None:
        found = _SNAPSHOT_MODELS[text] = district_model(json.loads(text)["data"]["states"])
    return found


def district_model(states: dict) -> tuple[str, int]:
    """(model id, number of options) of the Stadtteil dropdown in the kernel's widget states."""
    for model_id, model in states.items():
        state = model.get("state") or {}
        if model.get("model_name") == "DropdownModel" and DISTRICT_CLASS in (state.get("_dom_classes") or []):
            return model_id, len(state.get("_options_labels") or [])
    raise LookupError("Stadtteil-Auswahl nicht in den Widget-Zuständen")


class HttpPlanner:
    """A planner without a browser (see the module docstring for what it does)."""

    kind = "http"

    def __init__(self, bench: Bench, user: str, password: str, connections: int = ASSET_PARALLEL):
        self.bench, self.user, self.password = bench, user, password
        self.jar = http.cookiejar.CookieJar()
        self.connections = connections  # kept-alive connections to the host at most (0: any number)
        self._http = None  # aiohttp.ClientSession, made on the loop at the first request
        self.t0 = time.monotonic()  # T0 once its session has started (asset_times count from it)
        self.r: dict = {"user": user, "kind": self.kind, "logged_in": False, "errors": []}
        self.kernel_id: str | None = None
        self.channel: KernelChannel | None = None
        self.shared: dict | None = None  # the page's bifShared (shared mode)
        self.closed = False
        self.model_id: str | None = None  # shared mode: the Stadtteil dropdown's model
        self.answers: list | None = None  # shared mode: the answers to check after the round
        # --browser-cache warm: the files a browser's cache answers without asking (warm_up)
        self.cache: set[str] | None = None

    # --- HTTP with cookies -------------------------------------------------------------------
    async def fetch(self, url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
                    follow: bool = True, timeout: float = 60, raw: bool = False):
        """(response, final url). ``raw``: the body as it came (gzip), as a browser caches it."""
        for _ in range(12):
            probe = urllib.request.Request(url)
            self.jar.add_cookie_header(probe)
            hdrs = {"Accept-Encoding": "gzip", "User-Agent": "bif-bench-planner", **(headers or {})}
            if probe.has_header("Cookie"):
                hdrs["Cookie"] = probe.get_header("Cookie")
            resp = await self._request(url, method, body, hdrs, timeout)
            self.jar.extract_cookies(_CookieResponse(resp.headers), probe)
            if follow and resp.code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                url = urllib.parse.urljoin(url, resp.headers["Location"])
                if resp.code in (301, 302, 303):
                    method, body = "GET", None
                continue
            if not raw and resp.headers.get("Content-Encoding") == "gzip" and resp.body:
                resp._body = gzip.decompress(resp.body)
            return resp, url
        raise ConnectionError(f"too many redirects at {url}")

    async def _request(self, url: str, method: str, body: bytes | None, headers: dict, timeout: float):
        """One request over this planner's kept-alive connections, as a tornado ``HTTPResponse``.

        aiohttp (a dependency of JupyterHub), not tornado's client: tornado's opens a connection
        per request, which no browser does. A browser keeps up to 6 connections per host open
        and sends its page, file and change requests over them. (Measured: the proxy's CPU time
        in a round hardly changed, 0.56-0.67 CPU-s at N = 30; a change no longer waits for a
        connection to be set up.)"""
        import aiohttp
        from tornado.httpclient import HTTPRequest, HTTPResponse
        from tornado.httputil import HTTPHeaders

        if self._http is None:
            self._http = aiohttp.ClientSession(
                # idle connections go before the proxy's keep-alive timeout (5 s) would close them
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.connections, keepalive_timeout=4),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,  # cookies: self.jar
                trace_configs=[self._connection_trace()])
        started = time.monotonic()
        try:
            async with self._http.request(
                    method, url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=max(1.0, timeout), connect=max(1.0, min(timeout, 20)))) as r:
                payload = await r.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ConnectionError(f"{method} {urllib.parse.urlsplit(url).path}: {type(e).__name__}: {e}") from e
        got = HTTPHeaders()
        for name, value in r.raw_headers:
            got.add(name.decode("latin-1"), value.decode("latin-1"))
        return HTTPResponse(HTTPRequest(url, method), r.status, headers=got, buffer=io.BytesIO(payload),
                            request_time=time.monotonic() - started)

    def _connection_trace(self):
        """Notes (started after T0, seconds to set up) of each new connection, for --verbose: a
        request on a new connection waits until the proxy accepts it, one on a kept-alive one not."""
        import aiohttp

        trace, started = aiohttp.TraceConfig(), {}

        async def start(session, ctx, params):
            started[id(ctx)] = time.monotonic()

        async def end(session, ctx, params):
            if (t := started.pop(id(ctx), None)) is not None:
                self.r.setdefault("connects", []).append((round(t - self.t0, 2), round(time.monotonic() - t, 3)))

        trace.on_connection_create_start.append(start)
        trace.on_connection_create_end.append(end)
        return trace

    async def end_http(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def cookie_header(self, url: str) -> str:
        probe = urllib.request.Request(url)
        self.jar.add_cookie_header(probe)
        return probe.get_header("Cookie") or ""

    # --- phases ------------------------------------------------------------------------------
    async def login(self) -> None:
        t = time.monotonic()
        try:
            resp, url = await self.fetch(f"{self.bench.hub}/hub/login")
            found = XSRF_FIELD.search(resp.body.decode(errors="replace"))
            xsrf = found.group(1) if found else next((c.value for c in self.jar if c.name == "_xsrf"), "")
            form = urllib.parse.urlencode({"username": self.user, "password": self.password, "_xsrf": xsrf})
            resp, url = await self.fetch(f"{self.bench.hub}/hub/login?next=", "POST", form.encode(),
                                         {"Content-Type": "application/x-www-form-urlencoded"},
                                         timeout=LOGIN_TIMEOUT_MS / 1000)
            if resp.code != 200 or url != self.bench.platform.gallery_url:
                raise RuntimeError(f"login ended at {urllib.parse.urlsplit(url).path} with HTTP {resp.code}")
            self.r["logged_in"] = True
            self.r["login_s"] = time.monotonic() - t
            await self.prefetch(resp.body.decode(errors="replace"), url)
        except Exception as e:  # noqa: BLE001 - a failed login is a result
            self.r["errors"].append(f"login: {type(e).__name__}: {e}")

    async def session(self, t0: float, deadline: float, changes: int) -> None:
        """Open the app at T0, ``changes`` Stadtteil changes, close (also when stopped)."""
        r = self.r
        self.t0 = t0
        phase = "page"
        try:
            resp, url = await self.fetch(self.bench.app_url, headers=NAVIGATE, timeout=deadline - time.monotonic())
            html = resp.body.decode(errors="replace")
            while resp.code == 200 and script_text(html, "jupyter-config-data") is None:
                # the gateway's waiting line (a streamed page with the position): it ends by
                # sending the browser on to the prepared page
                r["queued"] = r.get("queued", 0) + 1
                if "<script>bifQueueFailed(" in html or not QUEUE_NEXT.search(html):
                    raise RuntimeError("waiting line gave up (bifQueueFailed)")
                if r["queued"] > 3:
                    raise RuntimeError("sent back into the waiting line 3 times")
                r["queue_s"] = time.monotonic() - t0
                following = urllib.parse.urljoin(url, json.loads(QUEUE_NEXT.search(html).group(1)))
                resp, url = await self.fetch(following, headers=NAVIGATE, timeout=deadline - time.monotonic())
                html = resp.body.decode(errors="replace")
            if resp.code != 200:
                raise RuntimeError(f"app page HTTP {resp.code}")
            config = json.loads(script_text(html, "jupyter-config-data"))
            self.shared = shared_config(config)
            r["mode"] = "shared" if self.shared else "kernel"
            if WIDGET_VIEW not in html:
                # no widget in the page: a browser shows no app and never gets interactive
                self.kernel_id = None if self.shared else config.get("kernelId")
                r["empty_page"] = True
                raise RuntimeError(EMPTY_PAGE)
            self.kernel_id = None if self.shared else config["kernelId"]
            base = urllib.parse.urljoin(url, config["baseUrl"])
            r["page_s"] = time.monotonic() - t0
            r["page_bytes"] = len(resp.body)

            phase = "assets"
            own = AssetLinks.same_host(html, url)
            r["assets"], r["assets_bytes"] = len(own), await self.fetch_assets(own, deadline)
            r["assets_s"] = time.monotonic() - t0

            if self.shared:
                phase = "states"
                # the widget states embedded in the page (``</`` inside is written ``<\/``)
                found = script_text(html, "bif-widget-snapshot")
                if found is None:
                    raise RuntimeError("shared page without its widget snapshot (bif-widget-snapshot)")
                r["states_via"], r["states_bytes"] = "page snapshot", len(found)
                model_id, options = snapshot_district_model(found)
                r["states_s"] = time.monotonic() - t0
                phase = "change"
                await self.shared_changes(urllib.parse.urljoin(url, self.shared["interactUrl"]), model_id, options,
                                          t0, deadline, changes)
                return

            phase = "kernel"
            resp, _ = await self.fetch(f"{base}api/kernels/{self.kernel_id}", timeout=deadline - time.monotonic())
            if resp.code != 200:
                raise RuntimeError(f"api/kernels HTTP {resp.code}")
            await self.connect(base, deadline)
            r["ws_open_s"] = time.monotonic() - t0
            await self.channel.request("shell", "kernel_info_request", {}, _shell_reply,
                                       timeout=deadline - time.monotonic())

            phase = "states"
            states, r["states_via"], r["states_bytes"] = await self.widget_states(deadline)
            r["states_s"] = time.monotonic() - t0
            model_id, options = district_model(states)

            phase = "change"
            r["changes_ms"], r["changes_client_wait_ms"], r["change_messages"] = [], [], []
            for i in range(changes):
                index = 1 + i % (options - 1)  # another Stadtteil each time (index 0 is the whole city)
                started, waited = time.monotonic(), run_queue_wait_s()
                w = await self.channel.request(
                    "shell", "comm_msg", {"comm_id": model_id, "data": {"method": "update", "state": {"index": index},
                                                                        "buffer_paths": []}},
                    _idle, timeout=deadline - time.monotonic())
                r["changes_ms"].append(1000 * (time.monotonic() - started))
                r["changes_client_wait_ms"].append(waited_ms(waited))
                r["change_messages"].append(w["messages"])
                if len(w["widgets"] - {model_id}) == 0:
                    r["errors"].append("change: no other widget changed")
                if i == 0:
                    r["interactive_s"] = time.monotonic() - t0
        except asyncio.CancelledError:
            r["errors"].append(f"{phase}: stopped at the cap")
            raise
        except Exception as e:  # noqa: BLE001 - recorded per planner
            r["errors"].append(f"{phase}: {type(e).__name__}: {str(e)[:160]}")
        finally:
            await asyncio.shield(self.close())

    async def shared_changes(self, interact_url: str, model_id: str, options: int, t0: float, deadline: float,
                             changes: int) -> None:
        """Shared mode: each change a POST to the gateway (see the module docstring); after the
        last one, if its answer was pending, one flush as the page sends it after flushAfterMs.
        A change counts when its answer has arrived; what the answers say is checked after the
        round (``check_answers``): decompressing and parsing them at once (a browser does that on
        its own machine) made the benchmark's one loop late for everybody's next answers."""
        r, shared = self.r, self.shared
        history: list[dict] = []
        r["changes_ms"], r["changes_client_wait_ms"], r["retries"] = [], [], 0
        self.model_id, self.answers = model_id, []
        for i in range(changes):
            index = 1 + i % (options - 1)  # another Stadtteil each time (index 0 is the whole city)
            step = {"comm_id": model_id, "data": {"method": "update", "state": {"index": index}, "buffer_paths": []},
                    "buffers": []}
            started, waited = time.monotonic(), run_queue_wait_s()
            resp = await self.interact(interact_url, history, step, deadline)
            r["changes_ms"].append(1000 * (time.monotonic() - started))
            r["changes_client_wait_ms"].append(waited_ms(waited))
            self.answers.append(resp)
            history.append(step)
            if i == 0:
                r["interactive_s"] = time.monotonic() - t0
        if self.answers and answer_of(self.answers[-1]).get("pending"):
            # the client changed again at once (within flushAfterMs) after every earlier answer;
            # after the last one the page waits flushAfterMs, then asks for what is still due
            await asyncio.sleep(float(shared.get("flushAfterMs", 300)) / 1000)
            started = time.monotonic()
            resp = await self.interact(interact_url, history, {"flush": True}, deadline)
            r["flush_ms"] = 1000 * (time.monotonic() - started)
            answer = answer_of(resp)
            r["flush_messages"] = len(answer.get("messages") or [])
            r["pending_after_flush"] = bool(answer.get("pending"))

    def check_answers(self) -> None:
        """After the round: each change's answer must change another widget than the dropdown."""
        r, answers = self.r, self.answers
        if answers is None:
            return
        r["change_messages"], r["change_bytes"] = [], []
        for resp in answers:
            answer = answer_of(resp)
            messages = answer.get("messages") or []
            r["change_messages"].append(len(messages))
            r["change_bytes"].append(len(resp.body or b""))  # as sent (gzip)
            touched = {(m.get("content") or {}).get("comm_id") for m in messages
                       if m.get("msg_type") in ("comm_msg", "comm_open", "comm_close")}
            if len(touched - {self.model_id}) == 0:
                r["errors"].append("change: no other widget changed")
        self.answers = None

    async def interact(self, url: str, history: list[dict], step: dict, deadline: float):
        """One POST to the shared page's interactUrl: the response as it came (see ``answer_of``).
        429/503: wait Retry-After (default 1 s) and send again; 409: the snapshot is outdated."""
        body = json.dumps({"snapshot": self.shared["snapshot"], "history": history, "step": step}).encode()
        headers = {"Content-Type": "application/json", "Origin": self.bench.hub, "Sec-Fetch-Site": "same-origin",
                   "Accept": "application/json"}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("cap reached")
            resp, _ = await self.fetch(url, "POST", body, headers, follow=False, timeout=left, raw=True)
            if resp.code in SHARED_RETRY:
                self.r["retries"] = self.r.get("retries", 0) + 1
                try:
                    wait = float(resp.headers.get("Retry-After") or 1)
                except ValueError:
                    wait = 1.0
                await asyncio.sleep(max(0.0, min(wait, deadline - time.monotonic())))
                continue
            if resp.code == 409:
                raise RuntimeError("snapshot outdated")
            if resp.code != 200:
                raise RuntimeError(f"interact HTTP {resp.code}")
            return resp

    async def widget_states(self, deadline: float) -> tuple[dict, str, int]:
        """All widget states, as ipywidgets' ``_loadFromKernel`` gets them: over the
        ``jupyter.widget.control`` comm; if the kernel closes that comm (no such target), one
        ``request_state`` per widget comm (``_loadFromKernelModels``). (states, how, bytes)."""
        channel, comm_id = self.channel, uuid.uuid4().hex
        # the front end sends the request right after opening the comm, without waiting
        closed = asyncio.ensure_future(channel.request(
            "shell", "comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget.control", "data": {}},
            _comm_closed, metadata={"version": "1.0.0"}, timeout=deadline - time.monotonic()))
        states = asyncio.ensure_future(channel.request(
            "shell", "comm_msg", {"comm_id": comm_id, "data": {"method": "request_states"}}, _states,
            timeout=deadline - time.monotonic()))
        await asyncio.wait([closed, states], return_when=asyncio.FIRST_COMPLETED)
        if states.done() and not states.exception():
            closed.cancel()
            await channel.send("shell", "comm_close", {"comm_id": comm_id, "data": {}})
            waiter = states.result()
            return waiter["data"]["states"], "control comm", waiter["bytes"]
        states.cancel()
        if not closed.done() or closed.exception():
            raise (states.exception() if states.done() else closed.exception()) or RuntimeError("no widget states")
        # the kernel has no control comm target: one request per widget
        info = await channel.request("shell", "comm_info_request", {"target_name": "jupyter.widget"}, _shell_reply,
                                     timeout=deadline - time.monotonic())
        comms = list((info["data"] or {}).get("comms", {}))
        replies = await asyncio.gather(*(channel.request(
            "shell", "comm_msg", {"comm_id": c, "data": {"method": "request_state"}}, _state_reply,
            timeout=deadline - time.monotonic()) for c in comms))
        found = {c: {"model_name": w["data"]["state"].get("_model_name"), "state": w["data"]["state"]}
                 for c, w in zip(comms, replies)}
        return found, f"request_state per widget ({len(comms)})", info["bytes"] + sum(w["bytes"] for w in replies)

    async def prefetch(self, html: str, url: str) -> None:
        """What a browser does on the gallery after the login: fetch the files it names for
        fetching ahead (the app front end), keeping those it may keep (``kept_fresh``). A
        failed prefetch is no error: the app page fetches what is missing."""
        urls = AssetLinks.prefetched(html, url)
        if not urls:
            return
        if self.cache is None:
            self.cache = set()
        for u in urls:
            with contextlib.suppress(ConnectionError):
                await self.fetch_keeping(u, timeout=60)
        self.r["prefetched"] = sum(1 for u in urls if u in self.cache)

    async def fetch_keeping(self, url: str, timeout: float):
        """A file fetched as a browser does: kept (``self.cache``, if the planner has one) when
        its answer allows it (``kept_fresh``)."""
        resp, _ = await self.fetch(url, timeout=timeout, raw=True)
        if resp.code == 200 and self.cache is not None and kept_fresh(resp.headers.get("Cache-Control", "")):
            self.cache.add(url)
        return resp

    async def fetch_assets(self, urls: list[str], deadline: float) -> int:
        """Bytes of the page's files that came over the wire. With a cache (``warm_up``), a file
        it holds is not asked for, and a file whose answer may be kept goes into it."""
        limit = asyncio.Semaphore(ASSET_PARALLEL)
        if self.cache is not None:
            self.r["assets_cached"] = sum(1 for u in urls if u in self.cache)
            urls = [u for u in urls if u not in self.cache]

        async def one(u):
            async with limit:
                started = time.monotonic()
                resp = await self.fetch_keeping(u, timeout=deadline - time.monotonic())
                self.r.setdefault("asset_times", []).append(  # for --verbose
                    (urllib.parse.urlsplit(u).path[-40:], round(started - self.t0, 2),
                     round(time.monotonic() - self.t0, 2), len(resp.body or b""),
                     round(resp.request_time or 0, 3)))
                if resp.code != 200:
                    raise RuntimeError(f"asset HTTP {resp.code}: {urllib.parse.urlsplit(u).path[-60:]}")
                return len(resp.body or b"")

        return sum(await asyncio.gather(*(one(u) for u in urls)))

    async def warm_up(self) -> None:
        """As ``BrowserPlanner.warm_up``: the planner opened the app before, and their browser
        keeps what the page's files allowed (``kept_fresh``), but not their cookies. The page
        itself is asked for every time, as the gateway's app pages say (``no-store``). Files a browser
        would keep by its own guess (no ``max-age``) are asked for again: on the safe side."""
        self.cache = set()
        try:
            await self.login()
            if not self.r["logged_in"]:
                return  # login() has recorded why
            resp, url = await self.fetch(self.bench.app_url, headers=NAVIGATE)
            if resp.code != 200:
                raise RuntimeError(f"app page HTTP {resp.code}")
            html = resp.body.decode(errors="replace")
            own = AssetLinks.same_host(html, url)
            await self.fetch_assets(own, time.monotonic() + 60)
            self.r["warm_opens"] = 1
        except Exception as e:  # noqa: BLE001 - recorded per planner
            self.r["errors"].append(f"warm-up: {type(e).__name__}: {str(e)[:160]}")
        finally:
            self.jar.clear()
            await self.end_http()  # a closed browser keeps no connection either
            for key in ("logged_in", "login_s", "assets_cached", "asset_times"):
                self.r.pop(key, None)
            self.r["logged_in"] = False

    async def connect(self, base: str, deadline: float) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        ws_url = base.replace("http://", "ws://", 1) + f"api/kernels/{self.kernel_id}/channels?session_id=" \
            + uuid.uuid4().hex
        origin = self.bench.hub
        req = HTTPRequest(ws_url, headers={"Cookie": self.cookie_header(base), "Origin": origin},
                          connect_timeout=max(1, deadline - time.monotonic()),
                          request_timeout=max(1, deadline - time.monotonic()))
        ws = await websocket_connect(req, subprotocols=[PROTOCOL], max_message_size=256 * 2**20)
        if ws.selected_subprotocol != PROTOCOL:
            ws.close()
            raise RuntimeError(f"subprotocol {ws.selected_subprotocol!r}")
        self.channel = KernelChannel(ws)

    async def close(self) -> None:
        """As the page does when closed: the shutdown beacon, then the WebSocket goes. A shared
        page has neither: closing it sends nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            await self._close_page()
        finally:
            await self.end_http()

    async def _close_page(self) -> None:
        if self.shared:
            return
        if self.kernel_id:
            boundary = "----bifbench" + uuid.uuid4().hex
            body = (f'--{boundary}\r\nContent-Disposition: form-data; name="_xsrf"\r\n\r\n\r\n'
                    f"--{boundary}--\r\n").encode()
            try:
                resp, _ = await self.fetch(f"{self.bench.app_url}voila/api/shutdown/{self.kernel_id}", "POST", body,
                                           {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                            "Sec-Fetch-Site": "same-origin", "Origin": self.bench.hub},
                                           follow=False, timeout=30)
                self.r["shutdown_http"] = resp.code
            except Exception as e:  # noqa: BLE001
                self.r["errors"].append(f"shutdown: {type(e).__name__}: {e}")
        if self.channel is not None:
            self.channel.close()


# --- a real browser planner ---------------------------------------------------------------------

class BrowserPlanner:
    """A planner in Chromium (see the module docstring)."""

    kind = "browser"

    def __init__(self, bench: Bench, browser, user: str, password: str):
        self.bench, self.browser, self.user, self.password = bench, browser, user, password
        self.r: dict = {"user": user, "kind": self.kind, "logged_in": False, "errors": []}
        self.ctx = self.page = None

    async def _open_context(self) -> None:
        self.ctx = await self.browser.new_context(viewport={"width": 1366, "height": 768}, locale="de-DE")
        # a browser waits minutes for an answer; Playwright's default (30 s) would end a login
        # that the hub answers late under a login wave
        self.ctx.set_default_timeout(LOGIN_TIMEOUT_MS)
        await self.ctx.add_init_script(READY_WATCH)
        self.page = await self.ctx.new_page()

    async def _sign_in(self) -> None:
        await self.page.goto(f"{self.bench.hub}/hub/login")
        await self.page.fill("#username_input", self.user)
        await self.page.fill("#password_input", self.password)
        await self.page.click("#login_submit")
        await self.page.wait_for_url(self.bench.platform.gallery_url)

    async def login(self) -> None:
        t = time.monotonic()
        try:
            if self.ctx is None:  # a warmed-up context (warm_up) is kept
                await self._open_context()
            await self._sign_in()
            self.r["logged_in"] = True
            self.r["login_s"] = time.monotonic() - t
        except Exception as e:  # noqa: BLE001
            self.r["errors"].append(f"login: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    async def warm_up(self, opens: int = WARM_OPENS) -> None:
        """The browser of a planner who has used the app before (``--browser-cache warm``):
        a context that opened the app ``opens`` times, until it was ready, and then lost its
        cookies as a closed browser does. It keeps what a browser keeps between visits: the
        HTTP cache and V8's code cache (Chromium writes a script's compiled code on its second
        load). Its planner then logs in with the others."""
        try:
            await self._open_context()
            await self._sign_in()
            for _ in range(opens):
                await self.page.goto(self.bench.app_url, wait_until="commit")
                await self.page.wait_for_function("() => window.__bifReady !== undefined", polling=100)
                await self.page.goto(self.bench.platform.gallery_url)
            await self.ctx.clear_cookies()
            await self.page.goto("about:blank")
            self.r["warm_opens"] = opens
        except Exception as e:  # noqa: BLE001
            self.r["errors"].append(f"warm-up: {type(e).__name__}: {str(e).splitlines()[0][:160]}")

    async def session(self, t0: float, t0_epoch: float, deadline: float, changes: int) -> None:
        r, page = self.r, self.page
        phase = "page"
        try:
            def left() -> float:
                return max(1.0, 1000 * (deadline - time.monotonic()))

            await page.goto(self.bench.app_url, wait_until="commit", timeout=left())
            await page.wait_for_function("() => window.__bifReady !== undefined || window.__bifEmpty !== undefined",
                                         timeout=left(), polling=50)
            if await page.evaluate("window.__bifReady === undefined"):
                r["empty_page"] = True
                raise RuntimeError(EMPTY_PAGE)
            ready_epoch_ms = await page.evaluate("performance.timeOrigin + window.__bifReady")
            r["ready_s"] = ready_epoch_ms / 1000 - t0_epoch
            if self.bench.args.verbose:  # a round without --verbose does nothing it does not report
                r["page_timing"] = await page.evaluate(PAGE_TIMING_JS)
                r["page_timing"]["origin_s"] = round(r["page_timing"]["origin_s"] - t0_epoch, 3)
            mode = await page.evaluate(PAGE_MODE_JS)
            if mode:
                r["mode"] = mode
            phase = "change"
            r["changes_ms"] = []
            for i in range(changes):
                ms = await page.evaluate(MEASURE_JS, [f".{DISTRICT_CLASS}", "select", 1 + i % 13, True])
                r["changes_ms"].append(ms)
                if i == 0:
                    r["interactive_s"] = r["ready_s"] + ms / 1000
                if time.monotonic() > deadline:
                    raise TimeoutError("cap reached")
        except asyncio.CancelledError:
            r["errors"].append(f"{phase}: stopped at the cap")
            raise
        except Exception as e:  # noqa: BLE001
            r["errors"].append(f"{phase}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        finally:
            await asyncio.shield(self.close())

    async def close(self) -> None:
        try:
            if self.page is not None and not self.page.is_closed():
                await self.page.close(run_before_unload=True)  # the page's shutdown beacon
                await asyncio.sleep(0.5)  # let the beacon leave before the context goes
            if self.ctx is not None:
                await self.ctx.close()
        except Exception as e:  # noqa: BLE001
            self.r["errors"].append(f"close: {type(e).__name__}: {str(e)[:120]}")
        self.page = self.ctx = None


# --- hostile clients (--hostile) -----------------------------------------------------------------------

class HostileClients:
    """Two misbehaving planners beside the N planners of a round, from T0 until they have closed:

    * **malformed**: opens kernel WebSockets without the subprotocol ``v1.kernel.websocket.jupyter.org``
      (one of those froze Voilà 0.5.13 for everybody before the gateway refused them) and sends a
      binary frame on each, one after the other as fast as they are answered;
    * **greedy**: asks for 50 app pages with a kernel each at once (an address with a query gets a
      kernel of its own even with the shared view) and asks again every 2 s for the refused ones.
      Its pages never connect: their kernels are left to the gateway's orphan check.

    Counted: how each attempt ended (close code, HTTP status)."""

    GREEDY_PAGES = 50

    def __init__(self, bench: Bench, accounts: list[tuple[str, str]]):
        self.bench = bench
        self.malformed = HttpPlanner(bench, *accounts[0])
        self.greedy = HttpPlanner(bench, *accounts[1], connections=0)  # all 50 pages at once
        self.outcomes = {"malformed": Counter(), "greedy": Counter()}
        self.errors: list[str] = []

    async def login(self) -> None:
        await asyncio.gather(self.malformed.login(), self.greedy.login())
        for client in (self.malformed, self.greedy):
            self.errors += client.r["errors"]

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await asyncio.gather(self._malformed(stop), self._greedy(stop))
        finally:
            await asyncio.gather(self.malformed.end_http(), self.greedy.end_http())

    async def _kernel_page(self, client: HttpPlanner, tag: str) -> tuple[int, str | None]:
        """(HTTP status, kernel id) of an app page with a kernel of its own."""
        resp, _ = await client.fetch(f"{self.bench.app_url}?bif-bench={tag}", timeout=120)
        found = script_text(resp.body.decode(errors="replace"), "jupyter-config-data") if resp.code == 200 else None
        return resp.code, json.loads(found).get("kernelId") if found else None

    async def _malformed(self, stop: asyncio.Event) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        client, outcomes = self.malformed, self.outcomes["malformed"]
        try:
            code, kernel_id = await self._kernel_page(client, "malformed")
            if not kernel_id:
                raise RuntimeError(f"no kernel page (HTTP {code})")
            url = self.bench.app_url.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
            while not stop.is_set():
                req = HTTPRequest(f"{url}?session_id={uuid.uuid4().hex}", connect_timeout=10, request_timeout=10,
                                  headers={"Cookie": client.cookie_header(self.bench.app_url),
                                           "Origin": self.bench.hub})
                try:
                    ws = await websocket_connect(req)  # no subprotocol
                except Exception as e:  # noqa: BLE001 - refused at the handshake
                    outcomes[f"handshake refused ({getattr(e, 'code', type(e).__name__)})"] += 1
                    await asyncio.sleep(0.05)
                    continue
                try:
                    await ws.write_message(b"\0" * 64, binary=True)
                except Exception:  # noqa: BLE001 - closed before the frame went out
                    pass
                answer = await asyncio.wait_for(ws.read_message(), 10)
                outcomes["answered (not refused!)" if answer is not None else f"closed ({ws.close_code})"] += 1
                ws.close()
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"malformed: {type(e).__name__}: {str(e)[:160]}")

    async def _greedy(self, stop: asyncio.Event) -> None:
        outcomes = self.outcomes["greedy"]
        wanted = list(range(self.GREEDY_PAGES))
        try:
            while wanted and not stop.is_set():
                codes = await asyncio.gather(*(self._kernel_page(self.greedy, f"greedy-{i}") for i in wanted),
                                             return_exceptions=True)
                refused = []
                for i, got in zip(wanted, codes):
                    code = got if isinstance(got, BaseException) else got[0]
                    outcomes[f"HTTP {code}" if not isinstance(code, BaseException) else type(code).__name__] += 1
                    if isinstance(code, BaseException) or code != 200:
                        refused.append(i)
                wanted = refused
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2)
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"greedy: {type(e).__name__}: {str(e)[:160]}")

    def summary(self) -> dict:
        return {name: dict(c.most_common()) for name, c in self.outcomes.items()} | {"errors": self.errors[:6]}


class WorkerProcess:
    """Clients in a process of their own, in a session of their own (so, with the scheduler's
    autogroups, a CPU share of their own, as a machine of their own has one), driven over stdin
    and stdout, one JSON line per message. They still take their CPU from the same 2 CPUs as
    everything else. ``flag``: the command-line switch that makes this module the worker."""

    flag = ""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None

    async def spawn(self, spec: dict) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bench_many_planners", self.flag,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
            limit=64 * 2**20, cwd=str(ROOT))
        await self._say(spec)

    async def _say(self, message) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def _hear(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), max(0.1, deadline - time.monotonic()))
            if not line:
                raise RuntimeError(f"worker ended ({await self.process.wait()})")
            if line.startswith(b"{"):  # anything else is something a library printed
                return json.loads(line)

    def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def stop(self) -> None:
        """``close``, and wait until the worker has gone."""
        self.close()
        if self.process is not None:
            await self.process.wait()


async def worker_channel():
    """The worker's end of ``WorkerProcess``: (hear, say, spec, remote), ``remote`` standing in
    for the ``Bench`` (hub, app URL, gallery URL)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def hear():
        line = await reader.readline()
        if not line:
            raise SystemExit(0)  # the benchmark went away
        return json.loads(line)

    def say(message) -> None:
        print(json.dumps(message, default=str), flush=True)

    spec = await hear()
    remote = types.SimpleNamespace(
        hub=spec["hub"], app_url=spec["app_url"], platform=types.SimpleNamespace(gallery_url=spec["gallery_url"]))
    return hear, say, spec, remote


class HostileProcess(WorkerProcess):
    """``HostileClients`` in a worker process (``WorkerProcess``).

    Why: an attacker's client runs on its own machine. In this benchmark's process, its work
    (50 page requests every 2 s, each answer parsed, WebSocket handshakes) ran in the loop that
    times the honest planners: in one round with it the loop was 530 ms late 1 s after T0, and
    every HTTP planner's clock stood still with it.

    The protocol: the parent sends ``{hub, app_url, gallery_url, accounts}``; the worker logs in
    and answers ``{"errors"}``; ``"go"`` starts the attack, ``"stop"`` ends it, and the worker
    answers with ``HostileClients.summary()``."""

    flag = "--hostile-worker"

    def __init__(self, bench: Bench, accounts: list[tuple[str, str]]):
        super().__init__()
        self.bench, self.accounts = bench, accounts
        self.result: dict = {"errors": []}

    async def login(self) -> None:
        await self.spawn({"hub": self.bench.hub, "app_url": self.bench.app_url,
                          "gallery_url": self.bench.platform.gallery_url, "accounts": self.accounts})
        try:
            self.result["errors"] += (await self._hear(120))["errors"]
        except (RuntimeError, TimeoutError, ValueError) as e:
            self.result["errors"].append(f"worker: {type(e).__name__}: {e}")

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._say("go")
            await stop.wait()
            await self._say("stop")
            # the worker answers when its requests have ended (a page request waits up to 120 s)
            self.result = await self._hear(150)
        except (RuntimeError, TimeoutError, ValueError, ConnectionError) as e:
            self.result["errors"].append(f"worker: {type(e).__name__}: {e}")  # its counts are lost
        finally:
            self.close()

    def summary(self) -> dict:
        return self.result


async def hostile_worker() -> None:
    """The other end of ``HostileProcess`` (``--hostile-worker``)."""
    hear, say, spec, remote = await worker_channel()
    # its heap is collected now and frozen, so that later collections do not go through it
    # again (see planner_worker); they stay on: the attack runs as long as the round
    gc.collect()
    gc.freeze()
    attack = HostileClients(remote, [tuple(a) for a in spec["accounts"]])
    await attack.login()
    say({"errors": attack.errors})
    if await hear() != "go":
        return
    stop = asyncio.Event()
    running = asyncio.ensure_future(attack.run(stop))
    await hear()  # "stop" (or the end of the input)
    stop.set()
    await asyncio.gather(running, return_exceptions=True)
    say(attack.summary())


class PlannerProcess(WorkerProcess):
    """A group of HTTP planners in a worker process (``WorkerProcess``, ``--clients-per-process``).

    Why: the HTTP planners stand for people at their own PCs. All of them in this benchmark's
    process shared one interpreter, one event loop and one CPU share with the Playwright calls.
    In the N = 30 rounds of 2026-12-06 that process waited on the run queue for up to 0.9 s at a
    time while the five Chromium pages rendered (``/proc/<pid>/task/*/schedstat``); meanwhile
    the gateway had answered every file in 1–25 ms (its access log), but the clients saw
    0.85 s per file, and then sent their 25 first changes at the same moment.

    Each planner's figures are taken in the worker with the same clock (``CLOCK_MONOTONIC``
    is the machine's): T0 and the deadline are sent as ``time.monotonic()`` values. The
    protocol: the parent sends ``{hub, app_url, gallery_url, accounts}``, the worker answers
    ``{"ready"}``; ``"login"`` logs all in at once, ``"warm_up"`` gives them a browser cache
    (``HttpPlanner.warm_up``), ``{"go": t0, "deadline", "changes"}`` runs their sessions; each is
    answered with ``{"results": [each planner's figures]}``."""

    flag = "--planner-worker"

    def __init__(self, bench: Bench, accounts: list[tuple[str, str]]):
        super().__init__()
        self.bench, self.accounts = bench, accounts
        # what run_round and summarize read of a planner: its figures
        self.planners = [types.SimpleNamespace(r={"user": u, "kind": HttpPlanner.kind, "logged_in": False,
                                                  "errors": []}) for u, _ in accounts]

    async def start(self) -> None:
        """The worker up and its planners made (before the login wave: a Python start is CPU)."""
        await self.spawn({"hub": self.bench.hub, "app_url": self.bench.app_url,
                          "gallery_url": self.bench.platform.gallery_url, "accounts": self.accounts})
        await self._ask(None, 120)

    async def login(self) -> None:
        await self._ask("login", LOGIN_TIMEOUT_MS / 1000 + 60)

    async def warm_up(self) -> None:
        await self._ask("warm_up", LOGIN_TIMEOUT_MS / 1000 + 120)

    async def session(self, t0: float, deadline: float, changes: int) -> None:
        try:
            await self._ask({"go": t0, "deadline": deadline, "changes": changes},
                            max(1.0, deadline - time.monotonic()) + 60)
        except asyncio.CancelledError:
            self._failed("stopped at the cap")
            raise

    async def _ask(self, message, timeout: float) -> None:
        try:
            if message is not None:
                await self._say(message)
            answer = await self._hear(timeout)
        except (RuntimeError, TimeoutError, ValueError, ConnectionError) as e:
            self._failed(f"{type(e).__name__}: {e}")
            self.close()
            return
        for planner, r in zip(self.planners, answer.get("results") or []):
            planner.r.clear()
            planner.r.update(r)

    def _failed(self, why: str) -> None:
        for planner in self.planners:
            planner.r["errors"].append(f"worker: {why}")


async def planner_worker() -> None:
    """The other end of ``PlannerProcess`` (``--planner-worker``)."""
    hear, say, spec, remote = await worker_channel()
    planners = [HttpPlanner(remote, user, password) for user, password in spec["accounts"]]
    # A worker lives for one round: collections are held off from before it says it is ready,
    # so its heap (JupyterHub's modules, imported with bench_logins) is collected now. Collected
    # on "go", it took 0.6 CPU-s per worker at T0: its planners started late, and three workers
    # took both CPUs from everybody else for the best part of a second as the app was opened.
    with no_collections():
        say({"ready": True})
        while True:
            message = await hear()
            if message == "login":
                await asyncio.gather(*(p.login() for p in planners))
            elif message == "warm_up":
                await asyncio.gather(*(p.warm_up() for p in planners))
            elif isinstance(message, dict) and "go" in message:
                await asyncio.gather(*(p.session(message["go"], message["deadline"], message["changes"])
                                       for p in planners if p.r["logged_in"]), return_exceptions=True)
                for p in planners:
                    p.check_answers()
            say({"results": [p.r for p in planners]})


@contextlib.contextmanager
def no_collections():
    """No garbage collection while the planners run (the benchmark's round, a planner worker's
    session): the HTTP planners stand for people at their own PCs, but they share a process,
    and a full collection of its heap stopped its loop, and every planner's clock with it, for
    0.9 s at N = 100. Reference counting still frees almost everything; the rest waits."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


class GcPauses:
    """(when, ms, generation) of the benchmark process's own garbage collections: a full one
    over a large heap stops its loop, and with it every HTTP planner's clock."""

    def __init__(self):
        self.pauses: list[tuple[float, float, int]] = []
        self._started = 0.0

    def __enter__(self) -> typing.Self:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((time.monotonic(), 1000 * (time.perf_counter() - self._started), info["generation"]))

    def summary(self, start: float, end: float) -> dict:
        within = [(ms, gen) for when, ms, gen in self.pauses if start <= when <= end]
        return {"collections": len(within), "full": sum(1 for _, gen in within if gen == 2),
                "total_ms": round(sum(ms for ms, _ in within), 1), "max_ms": round(max((ms for ms, _ in within), default=0), 1)}


async def cpu_until_interactive(browsers: list[BrowserPlanner], sampler: Sampler, mark: dict, cpu: dict) -> None:
    """CPU seconds by kind from T0 until the last Chromium page was interactive (or had
    failed), as ``cpu["until_browsers_interactive"]``: how much of the machine Chromium itself
    needed to get its pages there (bench/README.md, "What limits the N = 30 figures")."""
    while not all("interactive_s" in b.r or b.r["errors"] for b in browsers):
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, sampler.sample)
    cpu["until_browsers_interactive"] = sampler.cpu_since(mark)


async def loop_lag(stop: asyncio.Event, lags: list[tuple[float, float]]) -> None:
    """(when, how late) of a 50 ms timer on the benchmark's own loop: a late loop delays what
    the HTTP planners measure."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.05
        await asyncio.sleep(0.05)
        lags.append((time.monotonic(), max(0.0, loop.time() - due)))


async def non_pooled(bench: Bench) -> list[str] | None:
    """Voilà's kernels that belong to no pool and are no app's shared template kernel."""
    kernels = await bench.voila_kernels()
    return None if kernels is None else [k for k, v in kernels.items() if not v.get("pooled") and not v.get("shared")]


def log_offsets(bench: Bench) -> dict[Path, int]:
    return {p: (p.stat().st_size if p.exists() else 0) for p in (bench.cfg.gateway_log, bench.cfg.voila_log)}


def log_problems(offsets: dict[Path, int]) -> dict:
    """WARNING/ERROR lines written to the gateway's and Voilà's logs since ``offsets``."""
    found = {}
    for path, offset in offsets.items():
        if not path.exists():
            continue
        with open(path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode(errors="replace").splitlines()
        bad = [line for line in lines if " WARNING " in line or " ERROR " in line or "[W " in line or "[E " in line]
        kinds = Counter(" ".join(line.split()[2:])[:140] for line in bad)
        found[path.name] = {"lines": len(bad), "most_common": kinds.most_common(6)}
    return found


async def run_round(bench: Bench, sampler: Sampler, browser, n: int, hostile: bool = False,
                    browser_cache: str = "cold") -> dict:
    args = bench.args
    accounts = bench.accounts[:n]
    # the hostile clients' accounts come after everybody's (main makes two more)
    attackers = bench.accounts[-2:] if hostile else []
    n_browsers = min(args.browsers, n) if browser is not None else 0
    cap = args.cap if args.cap else 60 + 2 * n
    print(f"\n=== N = {n}: {n_browsers} Chromium + {n - n_browsers} HTTP/WebSocket planners ({browser_cache} "
          f"caches){' + 2 hostile clients' if hostile else ''}, cap {cap} s ===", flush=True)
    for name, _ in accounts + attackers:  # the planners exist on the hub, as they would
        try:
            await bench.hub_api("POST", f"/users/{name}")
        except urllib.error.HTTPError as e:
            if e.code != 409:  # 409: exists already
                raise
    browsers = [BrowserPlanner(bench, browser, u, p) for u, p in accounts[:n_browsers]]
    per_process = args.clients_per_process
    if per_process > 0:  # the HTTP planners in worker processes (PlannerProcess)
        http = accounts[n_browsers:]
        workers = [PlannerProcess(bench, http[i:i + per_process]) for i in range(0, len(http), per_process)]
        planners = browsers + [p for w in workers for p in w.planners]
        clients = browsers + workers  # what logs in and runs a session: a planner, or a worker's planners
    else:
        workers = []
        planners = clients = browsers + [HttpPlanner(bench, u, p) for u, p in accounts[n_browsers:]]
    attack = HostileProcess(bench, attackers) if hostile else None
    loop = asyncio.get_running_loop()
    try:
        # the workers up before the login wave (a Python start is CPU)
        await asyncio.gather(*(w.start() for w in workers))
        if browser_cache == "warm":
            # everybody opened the app before; their browsers kept its files
            await asyncio.gather(*(c.warm_up() for c in clients))
            # the warm-up's opens count as demand for the app's pool (apps.pool_demand_window):
            # the round starts from a freshly started apps service, as a cold round does
            waited = await loop.run_in_executor(None, bench.restart_apps)
            print(f"{sum('warm_opens' in p.r for p in planners)} planners' browsers warmed up; apps service "
                  f"restarted, pool full after {waited:.0f} s", flush=True)
    except BaseException:
        await asyncio.gather(*(w.stop() for w in workers))
        raise
    stop_attack = asyncio.Event()
    attack_task = None
    offsets = log_offsets(bench)
    load_before = os.getloadavg()
    lags: list[tuple[float, float]] = []
    stop_lag = asyncio.Event()
    lag_task = asyncio.ensure_future(loop_lag(stop_lag, lags))
    gc_pauses = GcPauses().__enter__()
    collections_held = no_collections()
    collections_held.__enter__()
    round_start = time.monotonic()
    voila_before = bench.voila_pid()
    baseline = sampler.window(round_start - 5, round_start)
    sampler.low_memory.clear()
    cpu = {}
    try:
        # 1. everyone logs in at the same moment
        mark = sampler.cpu_mark()
        t = time.monotonic()
        await asyncio.gather(*(c.login() for c in clients))
        login_wave = time.monotonic() - t
        await loop.run_in_executor(None, sampler.sample)
        cpu["login_wave"] = sampler.cpu_since(mark)
        print(f"login wave {login_wave:.1f} s, {sum(p.r['logged_in'] for p in planners)}/{n} logged in", flush=True)
        if attack is not None:
            await attack.login()  # after the wave: its figures stay those of the N planners
        await asyncio.sleep(1)

        # 2. everyone opens the app at the same moment
        pool_at_t0 = await loop.run_in_executor(None, pool_status, bench.cfg, APP)
        mark = sampler.cpu_mark()
        t0, t0_epoch = time.monotonic(), time.time()
        deadline = t0 + cap
        if attack is not None:
            attack_task = asyncio.ensure_future(attack.run(stop_attack))
        tasks = []
        for c in clients:
            if isinstance(c, BrowserPlanner):
                if c.r["logged_in"]:
                    tasks.append(asyncio.ensure_future(c.session(t0, t0_epoch, deadline, args.changes)))
            elif isinstance(c, PlannerProcess) or c.r["logged_in"]:  # a worker skips who is not logged in
                tasks.append(asyncio.ensure_future(c.session(t0, deadline, args.changes)))
        browsers_opening = [c for c in clients if isinstance(c, BrowserPlanner) and c.r["logged_in"]]
        cpu_watch = asyncio.ensure_future(cpu_until_interactive(browsers_opening, sampler, mark, cpu)) \
            if browsers_opening else None
        stopped_by = None
        while tasks and not all(t.done() for t in tasks):
            if sampler.low_memory.is_set():
                stopped_by = f"available memory below {args.min_free_mb} MB"
                break
            if time.monotonic() > deadline + 5:
                stopped_by = "cap"
                break
            await asyncio.wait(tasks, timeout=0.5)
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        closed_at = time.monotonic()
        if cpu_watch is not None:
            if not cpu_watch.done():
                cpu_watch.cancel()  # a page neither interactive nor failed: stopped at the cap
            await asyncio.gather(cpu_watch, return_exceptions=True)
        for p in planners:
            if isinstance(p, HttpPlanner):
                p.check_answers()
        await loop.run_in_executor(None, sampler.sample)
        cpu["open_to_close"] = sampler.cpu_since(mark)  # T0 until the planners closed
        stop_attack.set()
        if attack_task is not None:
            # the hostile clients stop with the planners; their requests may still wait (a page
            # in the line waits up to apps.queue_timeout)
            await asyncio.gather(attack_task, return_exceptions=True)
            await loop.run_in_executor(None, sampler.sample)
            cpu["until_hostile_stopped"] = sampler.cpu_since(mark)
        everyone_left = time.monotonic()
        shared_at_close = await bench.voila_shared()
        print(f"all closed {closed_at - t0:.1f} s after T0" + (f" (stopped: {stopped_by})" if stopped_by else "")
              + (f", the hostile clients {everyone_left - t0:.1f} s after T0" if attack_task is not None else ""),
              flush=True)

        # 3. kernels left after everyone (the hostile clients too) left
        await asyncio.sleep(5)
        left_5s = await non_pooled(bench)
        await asyncio.sleep(max(0.0, everyone_left + args.settle - time.monotonic()))
        left_settle = await non_pooled(bench)
        kernels_now = await bench.voila_kernels() or {}
        pool_after = await loop.run_in_executor(None, pool_status, bench.cfg, APP)
        processes = await loop.run_in_executor(None, sampler.sample)
        left_processes = {"kernel_processes": processes["kernels"], "forked_below_kernels": processes["kernel_forks"],
                          "of_them_pooled": sum(1 for v in kernels_now.values() if v.get("pooled")),
                          "of_them_shared_templates": sum(1 for v in kernels_now.values() if v.get("shared"))}
        shared_after = await bench.voila_shared()
        samples = sampler.window(round_start)
    finally:
        stop_lag.set()
        gc_pauses.__exit__(None, None, None)
        collections_held.__exit__(None, None, None)
        stop_attack.set()
        await lag_task
        if attack_task is not None and not attack_task.done():
            attack_task.cancel()
        if attack is not None:
            attack.close()
        await asyncio.gather(*(w.stop() for w in workers))
        # leave nothing behind for the next round
        for kid in (await non_pooled(bench)) or []:
            await bench.shutdown_kernel(kid)
        for name, _ in accounts + attackers:
            with contextlib.suppress(urllib.error.HTTPError):  # 404: not created
                await bench.hub_api("DELETE", f"/users/{name}")

    if args.verbose:
        for p in planners:
            r = p.r
            times = " ".join(f"{k}={r[k]:.2f}" for k in ("login_s", "queue_s", "page_s", "assets_s", "states_s",
                                                          "ready_s", "interactive_s") if k in r)
            flush = f" flush_ms={round(r['flush_ms'])}" if "flush_ms" in r else ""
            print(f"  {r['user']} {r['kind']:7s} {r.get('mode', '?'):6s} {times} "
                  f"changes_ms={[round(x) for x in r.get('changes_ms', [])]}{flush}{client_waits(r)} {r['errors'] or ''}")
        slowest = max((p.r for p in planners if p.r.get("asset_times")), key=lambda r: r.get("assets_s", 0), default=None)
        if slowest is not None:  # (path end, started, ended after T0, bytes, request time) per file
            print(f"  assets of {slowest['user']}: {slowest['asset_times']}")
            print(f"  new connections of {slowest['user']} (started, s to set up): {slowest.get('connects')}")
        for r in (p.r for p in planners if p.r.get("page_timing")):
            print(f"  page timing of {r['user']} (ms): {r['page_timing']}")
    return summarize(bench, n, n_browsers, cap, planners, t0, closed_at, samples, baseline, left_5s, left_settle,
                     login_wave, stopped_by, lags, load_before, voila_before, offsets) | {
        "cpu_s": cpu, "after_settle": left_processes, "pool_at_t0": pool_at_t0, "pool_after_settle": pool_after,
        "bench_gc": {"login_wave": gc_pauses.summary(round_start, t0), "open_to_close": gc_pauses.summary(t0, closed_at)},
        "voila_shared_at_close": shared_at_close, "voila_shared_after_settle": shared_after,
        "hostile": attack.summary() if attack is not None else None,
        "browser_cache": browser_cache}


def summarize(bench, n, n_browsers, cap, planners, t0, closed_at, samples, baseline, left_5s, left_settle,
              login_wave, stopped_by, lags, load_before, voila_before, offsets) -> dict:
    limit = bench.args.interactive_limit
    results = [p.r for p in planners]

    def block(rs: list[dict]) -> dict:
        tti = [r["interactive_s"] for r in rs if "interactive_s" in r]
        changes = [ms for r in rs for ms in r.get("changes_ms", [])]
        within = sum(1 for v in tti if v <= limit)
        out = {"planners": len(rs), "interactive_within_limit": within,
               "interactive_within_limit_pct": round(100 * within / len(rs), 1) if rs else None,
               "interactive_at_all": len(tti),
               "time_to_interactive_s": stats(tti, total=len(rs)),
               "widget_change_ms": stats(changes, scale=1.0, digits=1),
               "changes_done": len(changes), "changes_planned": len(rs) * bench.args.changes,
               "login_s": stats([r["login_s"] for r in rs if "login_s" in r], total=len(rs))}
        return out | client_wait_parts(rs)

    http = [r for r in results if r["kind"] == "http"]
    browsers = [r for r in results if r["kind"] == "browser"]
    phases = {}
    for key in ("queue_s", "page_s", "assets_s", "ws_open_s", "states_s", "ready_s"):
        vals = [r[key] for r in results if key in r]
        if vals:
            phases[key] = stats(vals)
    shared = [r for r in http if r.get("mode") == "shared"]
    errors = Counter(e for r in results for e in r["errors"])
    kernels_pss = [s["kernels_pss_mb"] for s in samples]
    platform_pss = [s["platform_pss_mb"] for s in samples]
    voila_pids = sorted({s["voila_pid"] for s in samples if s["voila_pid"]} | ({voila_before} if voila_before else set()))
    latest = max(((lag, when) for when, lag in lags if t0 <= when <= closed_at), default=(0.0, t0))
    opened = sorted(lag for when, lag in lags if t0 <= when <= closed_at)
    lags = sorted(lag for _, lag in lags)
    return {
        "n": n, "browsers": n_browsers, "http_clients": n - n_browsers, "cap_s": cap,
        "interactive_limit_s": limit, "stopped_by": stopped_by,
        "shared_view": bench.shared_view, "shared_view_setting_known": bench.shared_view_known,
        "shared_prepare_steps": getattr(bench.cfg, "shared_prepare_steps", None),
        # the mode each planner's page came in (none: no page arrived)
        "modes": dict(Counter(r.get("mode", "none") for r in results)),
        "all": block(results), "http": block(http) if http else None, "chromium": block(browsers) if browsers else None,
        "shared_flush_ms": stats([r["flush_ms"] for r in shared if "flush_ms" in r], digits=1),
        "shared_flushes": sum(1 for r in shared if "flush_ms" in r),
        "shared_retries": sum(r.get("retries", 0) for r in shared),
        "phases_from_t0_s": phases,
        "login_wave_s": round(login_wave, 2),
        "http_clients_queued": sum(1 for r in http if r.get("queued")),
        "http_clients_queued_again": sum(1 for r in http if r.get("queued", 0) > 1),
        "empty_pages": sum(1 for r in results if r.get("empty_page")),
        "widget_states_via": Counter(r.get("states_via", "").split(" (")[0] for r in http if r.get("states_via")),
        "kernels_peak": max((s["kernels"] for s in samples), default=0),
        "kernel_forks_peak": max((s.get("kernel_forks", 0) for s in samples), default=0),
        "kernels_pss_peak_mb": max(kernels_pss, default=None),
        "kernel_pss_peak_each_mb": max((s["max_kernel_pss_mb"] for s in samples), default=None),
        "platform_pss_peak_mb": max(platform_pss, default=None),
        "platform_pss_before_mb": baseline[-1]["platform_pss_mb"] if baseline else None,
        "available_memory_min_mb": min((s["available_mb"] for s in samples), default=None),
        "kernels_left_5s": None if left_5s is None else len(left_5s),
        "kernels_left_after_settle": None if left_settle is None else len(left_settle),
        "settle_s": bench.args.settle,
        "closed_after_t0_s": round(closed_at - t0, 1),
        "voila_restarts": max(0, len(voila_pids) - 1),
        "errors": errors.most_common(12), "planners_with_errors": sum(1 for r in results if r["errors"]),
        "shutdown_http": Counter(str(r.get("shutdown_http")) for r in http if r.get("mode") != "shared")
        if http else {},
        "log_problems": log_problems(offsets),
        "bench_loop_lag_ms": {"p99": round(1000 * lags[int(0.99 * (len(lags) - 1))], 1) if lags else None,
                              "max": round(1000 * lags[-1], 1) if lags else None,
                              "open_to_close_p99": round(1000 * opened[int(0.99 * (len(opened) - 1))], 1)
                              if opened else None,
                              "open_to_close_max": round(1000 * opened[-1], 1) if opened else None,
                              # when that was: it ended this long after T0
                              "open_to_close_max_ended_after_t0_s": round(latest[1] - t0, 2)},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "planner_details": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                             if k not in ("changes_ms", "changes_client_wait_ms")}
                            | {"changes_ms": [round(x) for x in r.get("changes_ms", [])]}
                            | ({"changes_client_wait_ms": rounded_waits(r["changes_client_wait_ms"])}
                               if "changes_client_wait_ms" in r else {})
                            for r in results],
    }


# --- main --------------------------------------------------------------------------------------------

async def run_all(bench: Bench, sampler: Sampler) -> list[dict]:
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    rounds = []
    pw = browser = None
    try:
        if bench.args.browsers > 0:
            from playwright.async_api import async_playwright

            pw = await async_playwright().start()
            # as in the city's offline intranet: names outside resolve to nothing at once
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        # --compare-modes: the N list with apps.shared_view off, then on (bench.start has started
        # the apps service with the first)
        modes = ["off", "on"] if bench.args.compare_modes else [bench.shared_view]
        # --hostile: each N three times, without, with and again without the hostile clients (the
        # two quiet rounds show the noise)
        attacks = (False, True, False) if bench.args.hostile else (False,)
        rounds_planned = ((m, n, c, h) for m in modes for n in bench.args.n for c in bench.args.browser_cache
                          for h in attacks)
        for i, (mode, n, cache, hostile) in enumerate(rounds_planned):
            if i:
                # the same start for every round: a pool grown by the last round's opens
                # (apps.pool_demand_window) would favour the next one; a new setting takes effect
                bench.set_shared_view(mode)
                if cache != "warm":  # a warm round restarts it after its warm-up (run_round)
                    waited = await asyncio.get_running_loop().run_in_executor(None, bench.restart_apps)
                    print(f"apps service restarted (apps.shared_view {mode}), pool full after {waited:.0f} s",
                          flush=True)
            result = await run_round(bench, sampler, browser, n, hostile, cache)
            rounds.append(result)
            print(table([result]), flush=True)
    finally:
        if browser is not None:
            await browser.close()
        if pw is not None:
            await pw.stop()
    return rounds


def fmt(v, unit: str = "") -> str:
    return "not reached" if v is None else f"{v}{unit}"


def mode_cell(r: dict) -> str:
    """The setting and the modes the pages came in, e.g. "on: shared 9, kernel 1"."""
    modes = r.get("modes") or {}
    cell = f"{r.get('shared_view', '?')}: " + ", ".join(f"{k} {v}" for k, v in sorted(modes.items()))
    cell += f"; caches {r['browser_cache']}" if r.get("browser_cache") else ""
    return cell + (" **+ hostile**" if r.get("hostile") else "")


def settled_after(rounds: list[dict]) -> str:
    """The column head for the kernels counted ``--settle`` seconds after everyone left."""
    settle = (rounds[0].get("settle_s") if rounds else None) or 60
    return f"kernels left after {settle:g} s"


def table(rounds: list[dict]) -> str:
    head = ("| N | shared_view: pages per mode | interactive ≤ 30 s | time to interactive p50 / p95 | "
            "widget change p50 / p95 | kernels PSS peak (count) | platform PSS peak | login p50 / p95 | "
            f"{settled_after(rounds)} |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for r in rounds:
        a = r["all"]
        tti, ch, lg = a["time_to_interactive_s"], a["widget_change_ms"], a["login_s"]
        forks = r.get("kernel_forks_peak") or 0
        count = f"{r['kernels_peak']}" + (f" + {forks} forked" if forks else "")
        rows.append(
            f"| {r['n']} | {mode_cell(r)} | "
            f"{a['interactive_within_limit']}/{r['n']} ({a['interactive_within_limit_pct']} %) | "
            f"{fmt(tti.get('p50'), ' s')} / {fmt(tti.get('p95'), ' s')} | "
            f"{fmt(ch.get('p50'), ' ms')} / {fmt(ch.get('p95'), ' ms')} | "
            f"{fmt(r['kernels_pss_peak_mb'], ' MB')} ({count}) | {fmt(r['platform_pss_peak_mb'], ' MB')} | "
            f"{fmt(lg.get('p50'), ' s')} / {fmt(lg.get('p95'), ' s')} | {fmt(r['kernels_left_after_settle'])} |")
    return head + "\n" + "\n".join(rows)


def hostile_comparison(rounds: list[dict]) -> list[dict]:
    """--hostile: per N, the rounds without, with and again without the hostile clients."""
    out = []
    for i in range(0, len(rounds) - 2, 3):
        quiet, attacked, again = rounds[i:i + 3]
        if not attacked.get("hostile") or quiet.get("hostile") or again.get("hostile"):
            continue

        def p95(r, key):
            return r["all"][key].get("p95")

        out.append({"n": attacked["n"], "shared_view": attacked["shared_view"],
                    "time_to_interactive_p95_s": [p95(r, "time_to_interactive_s") for r in (quiet, attacked, again)],
                    "widget_change_p95_ms": [p95(r, "widget_change_ms") for r in (quiet, attacked, again)],
                    "interactive": [r["all"]["interactive_within_limit"] for r in (quiet, attacked, again)],
                    "voila_restarts": attacked["voila_restarts"],
                    "kernels_left_after_settle": attacked["kernels_left_after_settle"],
                    "settle_s": attacked.get("settle_s"), "hostile": attacked["hostile"]})
    return out


def hostile_table(comparison: list[dict]) -> str:
    head = ("| N | time to interactive p95: without / with / again without | widget change p95 | interactive | "
            f"Voilà restarts | {settled_after(comparison)} | what the hostile clients got |\n"
            "|---:|---:|---:|---:|---:|---:|---|")
    rows = []
    for c in comparison:
        def three(values, unit):
            return " / ".join(fmt(v, unit) for v in values)

        got = "; ".join(f"{who}: " + ", ".join(f"{k} ×{v}" for k, v in counts.items())
                        for who, counts in c["hostile"].items() if who != "errors" and counts)
        rows.append(f"| {c['n']} | {three(c['time_to_interactive_p95_s'], ' s')} | "
                    f"{three(c['widget_change_p95_ms'], ' ms')} | {three(c['interactive'], '')} | "
                    f"{c['voila_restarts']} | {fmt(c['kernels_left_after_settle'])} | {got} |")
    return head + "\n" + "\n".join(rows)


def tables(rounds: list[dict]) -> str:
    """One table per apps.shared_view setting (a heading each when there are several)."""
    settings = list(dict.fromkeys(r.get("shared_view") for r in rounds))
    if len(settings) == 1:
        return table(rounds)
    return "\n\n".join(f"apps.shared_view = {s}\n\n" + table([r for r in rounds if r.get("shared_view") == s])
                        for s in settings)


def code_state() -> dict:
    """Which platform code was measured: the commit, and the files changed on top of it."""
    import subprocess

    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in git("status", "--porcelain").splitlines()
                            if line[3:].startswith(("bif_lib/", "hub_config/"))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5, 10, 30, 100], help="planners per round")
    parser.add_argument("--browsers", type=int, default=5, help="of them in real Chromium pages (at most)")
    parser.add_argument("--browser-cache", choices=("cold", "warm"), nargs="+", default=["cold"],
                        help="the planners' browser caches: cold (a first visit) or warm (everybody opened the "
                             "app before: Chromium keeps its HTTP and code cache, an HTTP planner the files "
                             "it may keep); each N once per value")
    parser.add_argument("--changes", type=int, default=5, help="Stadtteil changes per planner")
    parser.add_argument("--interactive-limit", type=float, default=30.0, help="seconds after T0")
    parser.add_argument("--cap", type=float, default=0, help="seconds after T0 until everything still open is "
                        "stopped (default 60 + 2 per planner)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the last close until kernels are "
                        "counted")
    parser.add_argument("--min-free-mb", type=int, default=2048, help="stop the round below this much available memory")
    parser.add_argument("--hostile", action="store_true",
                        help="each N without, with and again without two hostile clients (a WebSocket client "
                             "without the kernel protocol, a client asking for 50 kernels)")
    parser.add_argument("--hostile-worker", action="store_true", help=argparse.SUPPRESS)  # HostileProcess
    parser.add_argument("--clients-per-process", type=int, default=10,
                        help="HTTP planners per worker process, each in a session of its own (0: all in "
                             "the benchmark's process, as until 2026-12-06)")
    parser.add_argument("--planner-worker", action="store_true", help=argparse.SUPPRESS)  # PlannerProcess
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="one line per planner")
    parser.add_argument("--keep-logs", action="store_true", help="keep the platform's directory (logs)")
    parser.add_argument("--prepare-steps", type=int, default=None,
                        help="apps.shared_prepare_steps of the platform (first changes computed ahead; "
                             "default: the platform's setting, 0: none)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--shared-view", choices=("on", "off"), default="on",
                       help="the platform setting apps.shared_view (shared, kernel-free app pages)")
    modes.add_argument("--compare-modes", action="store_true",
                       help="run the N list with apps.shared_view off, then on; one table each")
    args = parser.parse_args()
    if args.hostile_worker or args.planner_worker:
        asyncio.run(hostile_worker() if args.hostile_worker else planner_worker())
        return
    if args.compare_modes and not shared_view_known():
        parser.error("--compare-modes: apps.shared_view is not in this platform's settings schema")
    if os.geteuid() != 0:
        print("note: not root; the app kernels run as this account", file=sys.stderr)

    started = time.monotonic()
    code_at_start = code_state()
    work = Path(tempfile.mkdtemp(prefix="bif-bench-planners-", dir="/tmp"))
    os.chmod(work, 0o755)  # the app service account works below it
    access = environment_access()
    access.__enter__()
    bench = Bench(work, args)
    sampler = Sampler(bench)
    rounds: list[dict] = []
    try:
        bench.start()
        sampler.start()
        rounds = asyncio.run(run_all(bench, sampler))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("stopped; cleaning up", file=sys.stderr)
    finally:
        sampler.stop_event.set()
        try:
            bench.stop()
        finally:
            access.__exit__(None, None, None)
            if args.keep_logs:
                print(f"logs kept in {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)
    if not rounds:
        sys.exit(1)
    print("\n" + tables(rounds))
    comparison = hostile_comparison(rounds) if args.hostile else []
    if comparison:
        print("\nWithout, with and again without the hostile clients:\n\n" + hostile_table(comparison))
    data = {
        "app": APP, "changes_per_planner": args.changes, "browsers_max": args.browsers,
        "browser_cache": args.browser_cache,
        "shared_view": "compare (off, then on)" if args.compare_modes else args.shared_view,
        "interactive_limit_s": args.interactive_limit, "pool_size": bench.cfg.pool_size,
        "targets": {str(k): v for k, v in TARGETS.items()},
        "method": ("one throw-away platform (TestPlatform: hub + proxy + gateway + preheated Voilà) on 127.0.0.1 with "
                   "BIF's local accounts (scrypt); per N: all log in at once, then all open the Bevölkerung app at "
                   "T0, change the Stadtteil, close. Up to --browsers planners are Chromium pages (cold contexts), "
                   "the rest asyncio HTTP/WebSocket clients doing what the page does: kernel mode (page, assets, "
                   "kernel WebSocket v1, request_states, Dropdown updates until the kernel's idle) or, on a shared "
                   "page (apps.shared_view), page, assets, the embedded widget snapshot and one POST to the "
                   "gateway's interactUrl per change until its answer (plus one flush if pending). Interactive: "
                   "browser = APP_READY + first change redrawn (timed in the page); HTTP client = page + widget "
                   "states + first change's end. Memory: PSS every second. See the module docstring."),
        "duration_s": round(time.monotonic() - started),
        "code": {**code_at_start, "changed_during_run": code_state() != code_at_start},
        "rounds": rounds,
    }
    if comparison:
        data["hostile_comparison"] = comparison
    for r in rounds:
        a = r["all"]
        print(f"N={r['n']} (shared_view {r['shared_view']}, pages {r['modes']}): "
              f"phases {json.dumps(r['phases_from_t0_s'])}; errors {r['errors'][:4]}; "
              f"shared flush {r['shared_flush_ms']} ({r['shared_flushes']}), retries {r['shared_retries']}, "
              f"Voilà shared state {json.dumps(r['voila_shared_at_close'])}; "
              f"Voilà restarts {r['voila_restarts']}; left after 5 s {r['kernels_left_5s']}; "
              f"min available memory {r['available_memory_min_mb']} MB; loop lag {r['bench_loop_lag_ms']}; gc {r['bench_gc']}; "
              f"changes {a['changes_done']}/{a['changes_planned']}; {http_change_parts(r)}{browser_cpu_part(r)}CPU s {json.dumps(r['cpu_s'])}"
              + (f"; hostile {json.dumps(r['hostile'])}" if r.get("hostile") else ""))
    if not args.no_record:
        for r in rounds:  # one record per planner is for --verbose, not for results.json
            r.pop("planner_details", None)
        # a --hostile run and a run with warm browser caches are records of their own: they do
        # not replace the plain run's figures
        section = "many_planners" + ("_hostile" if args.hostile else "") + (
            "_browser_cache" if args.browser_cache != ["cold"] else "")
        print("written to", record(section, data))


if __name__ == "__main__":
    main()
