"""Gateway building blocks: page rewriting, kernel bindings, path rules, access rules, config,
the resolver of its own clients."""

from __future__ import annotations

import socket

import pytest
from apps_helpers import run_async

from bif_lib.apps.access import can_open, can_publish
from bif_lib.apps.config import AppsConfig
from bif_lib.apps.serving.gateway import (
    KERNEL_ID_IN_PAGE,
    KERNEL_REST_PATH,
    STATIC_PATH,
    AddressResolver,
    KernelBindings,
    PageRewriter,
    strip_query_token,
)

KID = "7f84e22e-7139-4d25-b11c-c11931ec63b6"


@pytest.fixture
def cfg():
    return AppsConfig(home="/nonexistent")


def test_rewriter_points_page_at_app_and_assets_at_shared_prefix(cfg):
    page = (b'<script src="/services/bif-apps/app/__BIF_APP__/voila/static/voila.js"></script>'
            b'<link href="/services/bif-apps/app/__BIF_APP__/voila/templates/bif/static/index.css?v=1">'
            b'{"baseUrl": "/services/bif-apps/app/__BIF_APP__/", "kernelId": "' + KID.encode() + b'"}')
    out = PageRewriter(cfg, "abc123").rewrite(page, "schulbedarf")
    assert b"__BIF_APP__" not in out
    assert b'src="/services/bif-apps/assets/abc123/voila/static/voila.js"' in out
    assert b'href="/services/bif-apps/assets/abc123/voila/templates/bif/static/index.css?v=1"' in out
    assert b'"baseUrl": "/services/bif-apps/app/schulbedarf/"' in out
    assert KERNEL_ID_IN_PAGE.search(out).group(1).decode() == KID


def test_rewriter_respects_hub_base_url():
    cfg = AppsConfig(home="/x", base_url="/bif/")
    assert cfg.service_prefix == "/bif/services/bif-apps/"
    out = PageRewriter(cfg, "k").rewrite(b"/bif/services/bif-apps/app/__BIF_APP__/api/kernels", "a")
    assert out == b"/bif/services/bif-apps/app/a/api/kernels"


def test_kernel_binding_is_per_app_and_person():
    bindings = KernelBindings()
    bindings.bind(KID, "schulbedarf", "planer")
    assert bindings.allowed(KID, "schulbedarf", "planer")
    assert not bindings.allowed(KID, "kita", "planer")          # other app's prefix
    assert not bindings.allowed(KID, "schulbedarf", "kollege")  # other person
    assert not bindings.allowed("00000000-0000-0000-0000-000000000000", "schulbedarf", "planer")


def test_old_bindings_expire():
    bindings = KernelBindings(max_age=0)
    bindings.bind(KID, "a", "u")
    bindings.bind("11111111-1111-1111-1111-111111111111", "a", "u")  # purges the first
    assert not bindings.allowed(KID, "a", "u")


@pytest.mark.parametrize("path, ok", [
    ("voila/static/voila.js", True),
    ("voila/templates/bif/static/index.css", True),
    ("voila/labextensions/@jupyter-widgets/jupyterlab-manager/static/remoteEntry.js", True),
    ("voila/api/themes/@jupyterlab/theme-light-extension/index.css", True),
    ("voila/render/other-app.ipynb", False),
    ("voila/tree", False),
    ("voila/api/contents/", False),
    ("voila/files/secret.csv", False),
    ("bif/pools/other-app", False),
    ("api/kernels", False),
])
def test_only_front_end_files_are_static(path, ok):
    assert bool(STATIC_PATH.match(path)) is ok


def test_kernel_rest_paths():
    assert KERNEL_REST_PATH.match(f"api/kernels/{KID}").group(1) == KID
    assert KERNEL_REST_PATH.match(f"voila/api/shutdown/{KID}").group(1) == KID
    assert not KERNEL_REST_PATH.match("api/kernels/")
    assert not KERNEL_REST_PATH.match(f"api/kernels/{KID}/restart")


def test_token_never_forwarded():
    assert strip_query_token("token=abc&x=1&token=d&y=2") == "x=1&y=2"
    assert strip_query_token("") == ""


def test_audience_decides_who_opens():
    meta = {"audience": ["planners", "trainers"]}
    assert can_open({"name": "p", "kind": "user", "groups": ["planners"]}, meta)
    assert not can_open({"name": "s", "kind": "user", "groups": ["statistikstelle"]}, meta)
    # no admin override (Statistikgeheimnis)
    assert not can_open({"name": "a", "kind": "user", "groups": ["admins"], "admin": True}, meta)
    assert not can_open({"name": "svc", "kind": "service", "groups": ["planners"]}, meta)
    assert not can_open(None, meta)


def test_publish_needs_the_custom_scope():
    assert can_publish({"name": "a", "scopes": ["custom:bif-apps:publish", "read:users:groups!user=a"]})
    assert not can_publish({"name": "p", "scopes": ["access:services!service=bif-apps"]})


def test_config_from_platform_settings(tmp_path, monkeypatch):
    from bif_lib.platform.settings import load_settings

    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)

    settings = load_settings(overrides={
        "hub": {"internal_port": 9081, "base_url": "/bif"},
        "apps": {"port": 9010, "voila_port": 9011, "pool_size": 3},
        "paths": {"home": str(tmp_path)},
    }, environ={})
    cfg = AppsConfig.from_settings(settings)
    assert (cfg.port, cfg.voila_port, cfg.pool_size, cfg.os_user) == (9010, 9011, 3, "bif-apps")
    assert cfg.hub_api_url == "http://127.0.0.1:9081/bif/hub/api"
    assert cfg.service_prefix == "/bif/services/bif-apps/"
    assert cfg.apps_dir == tmp_path / "apps"
    assert AppsConfig.from_json(cfg.to_json()) == cfg


def test_daemon_status_when_not_running(tmp_path):
    from bif_lib.apps.serving import service

    cfg = AppsConfig(home=str(tmp_path), port=1, voila_port=1)
    state = service.status(cfg)
    assert state["running"] is False and state["voila_running"] is False
    assert service.stop(cfg)["running"] is False  # stopping a stopped service is fine


def test_voila_configuration():
    from bif_lib.apps.serving.voila_server import build_config

    c = build_config({"port": 8011, "root_dir": "/srv/apps/_voila", "apps_dir": "/srv/apps",
                      "base_url": "/services/bif-apps/app/__BIF_APP__/", "pool_size": 2,
                      "pool_sizes": {"schulbedarf": 4}, "cull_idle_timeout": 600, "cull_interval": 60}, "geheim")
    assert c.Voila.ip == "127.0.0.1" and c.Voila.token == "geheim" and c.Voila.server_url == "/"
    assert c.VoilaConfiguration.preheat_kernel is True and c.VoilaConfiguration.default_pool_size == 2
    assert c.VoilaConfiguration.progressive_rendering is False  # incompatible with preheating
    assert c.VoilaKernelManager.kernel_pools_config == {"default": {"pool_size": 2},
                                                        "schulbedarf.ipynb": {"pool_size": 4}}
    assert c.MappingKernelManager.cull_idle_timeout == 600 and c.MappingKernelManager.cull_connected is False
    assert c.VoilaConfiguration.allow_template_override == "NO"
    assert c.VoilaConfiguration.template == "bif"


def test_refusal_delay_slows_down_a_person_who_keeps_trying():
    from bif_lib.apps.serving.gateway import RefusalDelay

    now = [1000.0]
    delay = RefusalDelay(free=3, window=60, delay=2.0, clock=lambda: now[0])
    assert [delay.delay_for("stur") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert delay.delay_for("stur") == 2.0
    assert delay.delay_for("andere") == 0.0  # per person
    now[0] += 61  # the refusals aged out
    assert delay.delay_for("stur") == 0.0
    # bounded memory: people who stopped are forgotten; while many are still refused, the
    # sweeps come ever more rarely (not on every refusal)
    for i in range(2500):
        delay.delay_for(f"p{i}")
    assert 1000 < len(delay._recent) <= 2 * 2002 and delay._forget_above > 1000
    now[0] += 61  # they all stopped; new people come
    before, swept_at = len(delay._recent), None
    for i in range(delay._forget_above + 1):
        delay.delay_for(f"neu{i}")
        if len(delay._recent) < before + i + 1:
            swept_at = i
            break
    assert swept_at is not None and len(delay._recent) == swept_at + 1  # only the new ones remain
    assert not any(p.startswith("p") for p in delay._recent)


def test_the_platforms_address_is_used_as_it_is_and_names_are_still_resolved():
    async def resolve():
        resolver = AddressResolver()
        try:
            return (await resolver.resolve("127.0.0.1", 8000), await resolver.resolve("::1", 8000),
                    await resolver.resolve("localhost", 8000))
        finally:
            resolver.close()

    ipv4, ipv6, name = run_async(resolve())
    assert ipv4 == [(socket.AF_INET, ("127.0.0.1", 8000))]
    assert ipv6 == [(socket.AF_INET6, ("::1", 8000))]
    assert any(address[0] in ("127.0.0.1", "::1") for _, address in name)


def test_kept_answers_are_bounded_and_least_recently_used_go_first(monkeypatch):
    from bif_lib.apps.serving.shared_pages import Answers

    monkeypatch.setattr(Answers, "MAX_BYTES", 800)
    answers = Answers()
    keys = [Answers.key(f'{{"step": {i}}}'.encode(), gzip=True) for i in range(9)]
    assert Answers.key(b"{}", gzip=True) != Answers.key(b"{}", gzip=False)  # JSON and gzip apart
    for i, key in enumerate(keys[:8]):
        answers.keep(key, "gzip", bytes([i]) * 100)  # 800 bytes: all kept
    assert answers.get(keys[0]) == ("gzip", bytes([0]) * 100)  # the first, used last now
    answers.keep(keys[8], "gzip", b"z" * 100)  # over 800 bytes: the least recently used goes
    assert answers.get(keys[1]) is None and answers.get(keys[0]) and answers.get(keys[8]) and len(answers) == 8
    answers.keep(keys[1], "", b"w" * 101)  # over an eighth of the limit: not kept at all
    assert answers.get(keys[1]) is None and answers.hits == 3


def test_a_first_change_answered_by_the_gateway_is_passed_on_once_in_a_while(monkeypatch):
    from bif_lib.apps.serving import shared_pages

    now = [100.0]
    monkeypatch.setattr(shared_pages.time, "monotonic", lambda: now[0])
    answers, key = shared_pages.Answers(), shared_pages.Answers.key(b"{}", gzip=True)
    assert answers.due_for_voila(key) and not answers.due_for_voila(key)
    now[0] += shared_pages.Answers.WARM_EVERY
    assert answers.due_for_voila(key)


def test_the_same_request_is_asked_once_and_the_others_wait_for_its_answer():
    import asyncio

    from bif_lib.apps.serving.shared_pages import Answers

    async def scenario():
        answers, key, other = Answers(), Answers.key(b'{"step": 1}', gzip=True), Answers.key(b"{}", gzip=True)
        assert answers.joining(key) is None  # nothing on its way: ask Voilà
        flight = answers.asking(key)
        assert flight is not None and answers.asking(key) is None  # a second asker must join
        assert answers.asking(other) is not None  # another request is asked on its own
        waiting = asyncio.ensure_future(asyncio.shield(answers.joining(key)))
        await asyncio.sleep(0)
        assert not waiting.done()
        answers.keep(key, "gzip", b"answer")
        answers.answered(key, flight)
        await waiting
        assert answers.get(key) == ("gzip", b"answer")
        # a failed request leaves nothing kept: whoever waited asks again, as the first
        assert answers.joining(key) is None
        failed = answers.asking(Answers.key(b"x", gzip=False))
        answers.answered(Answers.key(b"x", gzip=False), failed)
        assert failed.done() and answers.asking(Answers.key(b"x", gzip=False)) is not None

    run_async(scenario())


def test_only_a_gone_snapshot_outdates_the_shared_page():
    """A viewer's refused change (409 "refused": too long a history) must not throw the
    shared page and its kept answers away; only Voilà's "snapshot gone" does."""
    import gzip
    import json
    from types import SimpleNamespace

    from bif_lib.apps.serving.service import snapshot_gone

    def answer(code: int, body: dict, zipped: bool = False):
        data = json.dumps(body).encode()
        return SimpleNamespace(code=code, body=gzip.compress(data) if zipped else data,
                               headers={"Content-Encoding": "gzip"} if zipped else {})

    assert snapshot_gone(answer(409, {"reason": "snapshot"}))
    assert snapshot_gone(answer(409, {"reason": "snapshot"}, zipped=True))
    assert not snapshot_gone(answer(409, {"reason": "refused", "text": "Zu viele Änderungen"}))
    assert not snapshot_gone(answer(200, {"reason": "snapshot"}))
    assert not snapshot_gone(SimpleNamespace(code=409, body=b"<html>", headers={}))


def test_a_kept_answer_is_looked_up_only_for_a_change_on_the_live_page():
    import json

    from bif_lib.apps.serving.service import change_on
    from bif_lib.apps.serving.shared_pages import SharedPage

    page = SharedPage(version=3, snapshot_id="s1", body=b"<html>")
    step = {"comm_id": "c", "data": {"method": "update", "state": {"index": 2}, "buffer_paths": []}}

    def asked(**change) -> bytes:
        return json.dumps({"snapshot": "s1", "history": [], "step": step, **change}).encode()

    assert change_on(page, asked(), 3) == (page, True)  # a first change
    assert change_on(page, asked(history=[step]), 3) == (page, False)
    assert change_on(page, asked(history=[step], step={"flush": True}), 3) == (page, False)
    assert change_on(page, asked(history=[], step={"flush": True}), 3) == (page, False)  # a flush is no change
    assert change_on(page, asked(), 4) == (None, False)  # a newer version is live: Voilà decides (409)
    assert change_on(page, asked(snapshot="s0"), 3) == (None, False)  # another snapshot
    assert change_on(page, asked(history="x"), 3) == (None, False)
    assert change_on(None, asked(), 3) == (None, False)
    assert change_on(page, b"[" * 100_000, 3) == (None, False)  # too large to be read here
    assert change_on(page, b"[" * 5_000 + b"]" * 5_000, 3) == (None, False)  # too deep: no 500
    assert change_on(page, b"not json", 3) == (None, False)
