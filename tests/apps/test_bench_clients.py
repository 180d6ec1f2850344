"""The load test's lightweight planners (bench/bench_many_planners.py) do what a browser does with
less of the benchmark's own time: these check that the shortcuts find the same things."""
import gzip
import io
import json
import time
import types

from apps_helpers import run_async
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders
from tornado.testing import bind_unused_port

from bench import bench_many_planners
from bench.bench_many_planners import (
    AssetLinks,
    answer_of,
    district_model,
    kept_fresh,
    script_text,
    snapshot_district_model,
)

PAGE = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="/static/base.css?v=1" type="text/css">
<link rel="icon" href="/favicon.ico">
<script>var later = '<script src="/not-loaded.js">'; // text, not a tag</script>
<link rel="modulepreload" href="/static/chunk.js">
<script id="bif-widget-snapshot" type="application/json">{"data": "<link rel=\\"stylesheet\\" href=\\"/x.css\\">"}</script>
</head><body><div class="app"></div>
<SCRIPT type="module" SRC="/static/app.js?v=2"></SCRIPT>
<link rel="preload stylesheet" href="/static/late.css">
<script src="/static/after.js"></script>
</body></html>"""


def test_only_the_pages_own_host_is_asked_for_files():
    page = PAGE.replace("</body>", '<script src="https://cdn.example.org/x.js"></script></body>')
    assert AssetLinks.same_host(page, "http://127.0.0.1:8000/app/x/") == [
        "http://127.0.0.1:8000/static/base.css?v=1", "http://127.0.0.1:8000/static/chunk.js",
        "http://127.0.0.1:8000/static/app.js?v=2", "http://127.0.0.1:8000/static/late.css",
        "http://127.0.0.1:8000/static/after.js"]


def full_parse(html: str) -> list[str]:
    links = AssetLinks()
    links.feed(html)
    links.close()
    return links.urls


def test_asset_links_from_the_tags_alone_equal_those_of_the_whole_page():
    assert AssetLinks.of(PAGE) == full_parse(PAGE) == [
        "/static/base.css?v=1", "/static/chunk.js", "/static/app.js?v=2", "/static/late.css", "/static/after.js"]


def snapshot_text(options: list[str]) -> str:
    states = {
        "a1": {"model_name": "HTMLModel", "state": {"value": "<b>x</b>"}},
        "d1": {"model_name": "DropdownModel", "state": {"_dom_classes": ["bif-district-select"],
                                                        "_options_labels": options}},
    }
    return json.dumps({"data": {"states": states}})


def test_the_district_dropdown_of_a_snapshot_is_found_once_per_exact_text(monkeypatch):
    parsed = []

    def counted(states):
        parsed.append(states)
        return district_model(states)

    monkeypatch.setattr(bench_many_planners, "district_model", counted)
    first = snapshot_text(["Gesamtstadt", "Altstadt", "Neustadt"])
    assert snapshot_district_model(first) == district_model(json.loads(first)["data"]["states"]) == ("d1", 3)
    # an equal text (another planner's page, another string object) is not parsed again
    assert snapshot_district_model("".join(list(first))) == ("d1", 3)
    assert len(parsed) == 1
    # another text is parsed itself
    assert snapshot_district_model(snapshot_text(["Gesamtstadt", "Altstadt"])) == ("d1", 2)
    assert len(parsed) == 2


def response(body: bytes, encoding: str | None) -> HTTPResponse:
    headers = HTTPHeaders({"Content-Encoding": encoding} if encoding else {})
    return HTTPResponse(HTTPRequest("http://127.0.0.1/"), 200, headers=headers, buffer=io.BytesIO(body))


def test_answers_are_read_as_they_came_gzip_or_not():
    answer = {"messages": [{"msg_type": "comm_msg", "content": {"comm_id": "a1"}}], "pending": False}
    raw = json.dumps(answer).encode()
    assert answer_of(response(gzip.compress(raw), "gzip")) == answer
    assert answer_of(response(raw, None)) == answer


def test_a_scripts_text_is_found_by_its_id_and_only_in_a_script():
    page = PAGE.replace("</head>", '<script id="jupyter-config-data" type="application/json">{"a": 1}</script>'
                                   '<div id="elsewhere">no script</div></head>')
    assert json.loads(script_text(page, "jupyter-config-data")) == {"a": 1}
    assert script_text(page, "bif-widget-snapshot").startswith('{"data": "<link')
    assert script_text(page, "elsewhere") is None
    assert script_text(page, "missing") is None


def test_the_benchmarks_own_garbage_collections_are_counted_while_watched():
    import gc
    import time

    from bench.bench_many_planners import GcPauses

    start = time.monotonic()
    with GcPauses() as pauses:
        gc.collect()
    gc.collect()  # not watched any more
    summary = pauses.summary(start, time.monotonic())
    assert summary["collections"] == summary["full"] == 1 and summary["max_ms"] == summary["total_ms"] >= 0
    assert pauses.summary(start - 10, start - 5)["collections"] == 0


class _CountingServer:
    """A tornado server on 127.0.0.1 that counts the connections it accepted."""

    def __init__(self):
        from tornado import httpserver, web

        counter = self

        class Server(httpserver.HTTPServer):
            def handle_stream(self, stream, address):
                counter.connections += 1
                return super().handle_stream(stream, address)

        class File(web.RequestHandler):
            def get(self, name):
                counter.requested.append(name)
                self.set_header("Content-Type", "text/css")
                if name.startswith("kept"):  # as the gateway sends the front end's files
                    self.set_header("Cache-Control", "public, max-age=31536000, immutable")
                elif name.startswith("asked"):
                    self.set_header("Cache-Control", "no-cache")
                self.finish(b"x" * 2000)

        class Login(web.RequestHandler):
            def get(self):
                self.set_cookie("seen", "1")
                self.redirect("/file/a.css")

        self.connections = 0
        self.requested: list[str] = []
        self.server = Server(web.Application([(r"/file/(.*)", File), (r"/login", Login)]))
        sock, port = bind_unused_port()
        self.server.add_sockets([sock])
        self.base = f"http://127.0.0.1:{port}"


def test_a_planner_keeps_its_connections_open_as_a_browser_does():
    """20 files over at most 6 connections (a browser's per host), cookies and redirects kept."""
    async def scenario():
        server = _CountingServer()
        bench = types.SimpleNamespace(hub=server.base, app_url=server.base + "/")
        planner = bench_many_planners.HttpPlanner(bench, "planer-x", "secret")
        try:
            urls = [f"{server.base}/file/{i}.css" for i in range(20)]
            size = await planner.fetch_assets(urls, time.monotonic() + 30)
            resp, url = await planner.fetch(f"{server.base}/login")
            assert resp.code == 200 and url.endswith("/file/a.css")
            assert "seen=1" in planner.cookie_header(server.base + "/")
        finally:
            await planner.end_http()
            server.server.stop()
        return size, server.connections

    size, connections = run_async(scenario())
    assert size == 20 * 2000
    assert 1 <= connections <= bench_many_planners.ASSET_PARALLEL


def test_planners_in_a_worker_process_report_back_what_happened():
    """The worker protocol (PlannerProcess): start, login wave, session; a planner whose login
    failed reports why and does not open the app."""
    async def scenario():
        server = _CountingServer()
        bench = types.SimpleNamespace(hub=server.base, app_url=server.base + "/app/",
                                      platform=types.SimpleNamespace(gallery_url=server.base + "/gallery"))
        worker = bench_many_planners.PlannerProcess(bench, [("planer-a", "pw"), ("planer-b", "pw")])
        try:
            await worker.start()
            await worker.warm_up()  # --browser-cache warm; no hub here: the warm-up's logins fail
            warmed = [dict(p.r, errors=list(p.r["errors"])) for p in worker.planners]
            await worker.login()  # and so do the round's
            now = time.monotonic()
            await worker.session(now, now + 10, 1)
        finally:
            await worker.stop()
            server.server.stop()
        return warmed, [p.r for p in worker.planners]

    warmed, results = run_async(scenario())
    assert [r["user"] for r in warmed] == [r["user"] for r in results] == ["planer-a", "planer-b"]
    for r in warmed:
        assert r["logged_in"] is False and "warm_opens" not in r
        assert len(r["errors"]) == 1 and r["errors"][0].startswith("login: "), r["errors"]
    for r in results:
        assert r["logged_in"] is False and "interactive_s" not in r
        assert len(r["errors"]) == 2 and all(e.startswith("login: ") for e in r["errors"]), r["errors"]


def test_what_a_browser_keeps_fresh():
    assert kept_fresh("public, max-age=31536000, immutable")
    assert kept_fresh("private, max-age=60")
    assert not kept_fresh("no-cache")
    assert not kept_fresh("max-age=0")
    assert not kept_fresh("no-store, max-age=600")
    assert not kept_fresh("")
    assert not kept_fresh("max-age=soon")


def test_a_planner_with_a_warm_cache_asks_only_for_what_it_may_not_keep():
    """--browser-cache warm: the second open asks again only for files sent without max-age."""
    async def scenario():
        server = _CountingServer()
        bench = types.SimpleNamespace(hub=server.base, app_url=server.base + "/")
        planner = bench_many_planners.HttpPlanner(bench, "planer-x", "secret")
        planner.cache = set()
        urls = [f"{server.base}/file/{name}.css" for name in ("kept-1", "kept-2", "asked", "plain")]
        try:
            first = await planner.fetch_assets(urls, time.monotonic() + 30)
            server.requested.clear()
            again = await planner.fetch_assets(urls, time.monotonic() + 30)
        finally:
            await planner.end_http()
            server.server.stop()
        return first, again, sorted(server.requested), planner.r["assets_cached"]

    first, again, requested, cached = run_async(scenario())
    assert first == 4 * 2000 and again == 2 * 2000
    assert requested == ["asked.css", "plain.css"] and cached == 2


GALLERY = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="/static/gallery.css">
<link rel="prefetch" href="/file/kept-1.css?v=1&amp;x=2">
<link href="/file/kept-2.css" rel="prefetch">
<link rel="prefetch" href="/file/asked.css">
<link rel="modulepreload" href="/file/front.js?v=3">
<link rel="prefetch" href="https://cdn.example.org/elsewhere.js">
<link rel="preload" href="/file/preloaded.css">
</head><body></body></html>"""


def test_the_gallerys_files_to_fetch_ahead_are_found():
    assert AssetLinks.prefetched(GALLERY, "http://127.0.0.1:8000/services/bif-apps/") == [
        "http://127.0.0.1:8000/file/kept-1.css?v=1&x=2", "http://127.0.0.1:8000/file/kept-2.css",
        "http://127.0.0.1:8000/file/asked.css", "http://127.0.0.1:8000/file/front.js?v=3"]
    # a page's own modulepreload is fetched at once too, whether the page runs it or not
    assert AssetLinks.prefetched(PAGE, "http://127.0.0.1:8000/app/x/") == ["http://127.0.0.1:8000/static/chunk.js"]


def test_a_planner_fetches_ahead_what_the_gallery_names_as_a_browser_does():
    """A browser fetches the gallery's ``<link rel="prefetch">`` files after the login and
    keeps those it may keep: the app page then asks only for the others."""
    async def scenario():
        server = _CountingServer()
        bench = types.SimpleNamespace(hub=server.base, app_url=server.base + "/")
        planner = bench_many_planners.HttpPlanner(bench, "planer-x", "secret")
        try:
            await planner.prefetch(GALLERY, server.base + "/services/bif-apps/")
            ahead = sorted(server.requested)
            server.requested.clear()
            urls = [f"{server.base}/file/{name}" for name in ("kept-1.css?v=1&x=2", "kept-2.css", "asked.css",
                                                               "plain.css")]
            fetched = await planner.fetch_assets(urls, time.monotonic() + 30)
        finally:
            await planner.end_http()
            server.server.stop()
        return ahead, fetched, sorted(server.requested), planner.r

    ahead, fetched, requested, r = run_async(scenario())
    assert ahead == ["asked.css", "front.js", "kept-1.css", "kept-2.css"]
    assert r["prefetched"] == 2 and r["assets_cached"] == 2
    assert fetched == 2 * 2000 and requested == ["asked.css", "plain.css"]


def test_a_clients_wait_for_a_cpu_is_read_from_the_kernel():
    """Two processes spinning on this thread's CPU make it wait for that CPU: the wait read
    around a stretch of work must grow by a good part of that stretch."""
    import multiprocessing
    import os

    from bench.bench_many_planners import run_queue_wait_s, waited_ms

    before = run_queue_wait_s()
    assert before is not None and before >= 0
    cpus = os.sched_getaffinity(0)
    cpu = min(cpus)
    hogs = [multiprocessing.get_context("fork").Process(target=_spin, args=(cpu, 1.5)) for _ in range(2)]
    for hog in hogs:
        hog.start()
    os.sched_setaffinity(0, {cpu})
    try:
        time.sleep(0.2)  # the hogs running
        since, ran = run_queue_wait_s(), time.thread_time()
        _spin(cpu, 0.6)
        waited, ran = waited_ms(since), 1000 * (time.thread_time() - ran)
    finally:
        os.sched_setaffinity(0, cpus)
        for hog in hogs:
            hog.join()
    # three on one CPU: this thread ran about a third of the stretch and waited for the rest
    assert waited is not None and waited > 150 and waited > 1.2 * ran, (waited, ran)
    assert waited_ms(None) is None


def _spin(cpu: int, seconds: float) -> None:
    import os

    os.sched_setaffinity(0, {cpu})
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_the_http_changes_are_told_apart_from_their_clients_wait_for_a_cpu():
    from bench.bench_many_planners import client_wait_parts, http_change_parts

    rs = [{"changes_ms": [100.0, 40.0], "changes_client_wait_ms": [80.0, None]},
          {"changes_ms": [30.0], "changes_client_wait_ms": [50.0]},  # clocks apart: never below 0
          {"changes_ms": [500.0]}]  # a Chromium page: timed in the page, no wait
    parts = client_wait_parts(rs)
    assert parts["widget_change_client_cpu_wait_ms"]["n"] == 2
    assert parts["widget_change_client_cpu_wait_ms"]["max"] == 80.0
    assert parts["widget_change_less_client_cpu_wait_ms"]["max"] == 20.0
    assert parts["widget_change_less_client_cpu_wait_ms"]["p50"] == 10.0
    assert client_wait_parts([{"changes_ms": [10.0]}]) == {}
    line = http_change_parts({"http": {"widget_change_ms": {"p95": 97.0}, **parts}})
    assert "HTTP changes p95 97.0 ms" in line and "CPU wait p95" in line
    assert http_change_parts({"http": {"widget_change_ms": {"p95": 1.0}}}) == ""


def test_the_benchmark_follows_the_waiting_line_as_a_browser_does():
    """The HTTP planners read the gateway's waiting page as Chromium runs it: on to the prepared
    page, or given up; the page's own script (its function definitions) is neither."""
    from bif_lib.apps.serving.gallery import Pages
    from bif_lib.apps.serving.service import STREAM_MARK, queue_script

    head, tail = Pages("/services/bif-apps/", "/hub/", "BIF").waiting(2, user={"name": "p"}).split(STREAM_MARK)
    waiting = head + queue_script("bifQueuePosition", 1) + "\n"
    assert not bench_many_planners.QUEUE_NEXT.search(waiting + tail)
    url = "/services/bif-apps/app/bevoelkerung/?bif_seite=abc"
    ready = waiting + queue_script("bifQueueReady", url) + tail
    assert json.loads(bench_many_planners.QUEUE_NEXT.search(ready).group(1)) == url
    assert "<script>bifQueueFailed(" not in ready
    assert "<script>bifQueueFailed(" in waiting + queue_script("bifQueueFailed", "Bitte später") + tail
