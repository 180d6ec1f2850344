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
                self.set_header("Content-Type", "text/css")
                self.finish(b"x" * 2000)

        class Login(web.RequestHandler):
            def get(self):
                self.set_cookie("seen", "1")
                self.redirect("/file/a.css")

        self.connections = 0
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
            await worker.login()  # no hub here: both logins fail
            now = time.monotonic()
            await worker.session(now, now + 10, 1)
        finally:
            await worker.stop()
            server.server.stop()
        return [p.r for p in worker.planners]

    results = run_async(scenario())
    assert [r["user"] for r in results] == ["planer-a", "planer-b"]
    for r in results:
        assert r["logged_in"] is False and "interactive_s" not in r
        assert len(r["errors"]) == 1 and r["errors"][0].startswith("login: "), r["errors"]
