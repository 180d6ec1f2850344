"""The load test's lightweight planners (bench/bench_many_planners.py) do what a browser does with
less of the benchmark's own time: these check that the shortcuts find the same things."""
import gzip
import io
import json

from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.httputil import HTTPHeaders

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
