"""``bif publish app|list|rollback|withdraw``: German output, exit codes, the forms of BIF
before the sub-commands, refusal of accounts that may not publish, and — against the real
hub, gateway and Voilà — withdrawing and bringing an app back, with the pool refreshed
through the gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from apps_helpers import SLIDER_APP, api, call, notebook
from apps_hub import PROJECT_ROOT, running_platform

from bif_lib.apps.registry import Registry
from bif_lib.cli import main
from bif_lib.cli.publish import modern_args

APP = "slider-app"


@pytest.fixture
def home(apps_home, monkeypatch):
    for var in ("BIF_HUB_SETTINGS", "BIF_VOILA_PORT", "BIF_APPS_CONFIG", "BIF_APPS_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BIF_HOME", str(apps_home))
    monkeypatch.setenv("BIF_USER", "mmeier")
    monkeypatch.setenv("BIF_APPS_PORT", "1")  # no apps service: nobody listens there
    return apps_home


def test_publish_list_rollback_withdraw(home, capsys):
    assert main(["publish", str(SLIDER_APP)]) == 0  # the short form of `bif publish app`
    out = capsys.readouterr()
    assert f"'{APP}' als Version 1 veröffentlicht" in out.out
    assert "Hinweis: Der App-Dienst war nicht erreichbar" in out.out  # publishing works with the platform stopped

    registry = Registry(home / "apps")
    registry.add_version(APP, SLIDER_APP.read_text(), {"title": "Neu", "audience": ["planners"],
                                                       "published_by": "kkurz"}, None)
    assert main(["publish", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["app_id"], r["current"], r["versions"], r["title"], r["published_by"], r["withdrawn"])
            for r in rows] == [(APP, 2, [1, 2], "Neu", "kkurz", None)]
    assert registry.get(APP, 1).meta["published_by"] == "mmeier"

    assert main(["publish", "list"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["App", "Version", "vorhanden", "Titel", "Zielgruppe", "veröffentlicht", "von", "am"]
    assert line.startswith(APP) and "1, 2" in line and "Planung" in line and "kkurz" in line and line.endswith("Uhr")

    assert main(["publish", "rollback", APP]) == 0
    assert "Version 1 ist jetzt aktiv („Test-App Schieberegler“)" in capsys.readouterr().out
    assert registry.current_version(APP) == 1
    assert main(["publish", "rollback", APP, "--to", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"rolled_back": True, "app_id": APP, "version": 2,
                                                   "pool_refreshed": False}

    assert main(["publish", "withdraw", APP]) == 0
    out = capsys.readouterr().out
    assert "ist zurückgezogen" in out and "Versionen (1, 2) bleiben erhalten" in out
    assert f"bif publish rollback {APP}" in out
    assert registry.app_ids() == [] and registry.versions(APP) == [1, 2]
    assert main(["publish", "list"]) == 0
    assert "zurückgezogen" in capsys.readouterr().out.splitlines()[1]
    assert main(["publish", "withdraw", APP]) == 1
    assert "wurde nicht zurückgezogen" in capsys.readouterr().err

    assert main(["publish", "rollback", APP]) == 0  # the version withdrawn comes back
    assert registry.current_version(APP) == 2 and registry.app_ids() == [APP]


def test_the_flags_before_the_sub_commands_still_work(home, capsys):
    assert modern_args(["x.ipynb", "--app-id", "x"]) == ["app", "x.ipynb", "--app-id", "x"]
    assert modern_args(["--app-id", "x", "x.ipynb"]) == ["app", "--app-id", "x", "x.ipynb"]
    assert modern_args(["--bundled"]) == ["app", "--bundled"]
    assert modern_args(["--json", "--list"]) == ["list", "--json"]
    assert modern_args(["--rollback", "a", "--to", "2"]) == ["rollback", "a", "--to", "2"]
    assert modern_args(["--to", "2", "--rollback=a"]) == ["rollback", "a", "--to", "2"]
    assert modern_args(["--withdraw", "a"]) == ["withdraw", "a"]
    assert modern_args(["list", "--json"]) == ["list", "--json"]
    assert modern_args(["--help"]) == ["--help"]

    registry = Registry(home / "apps")
    for title in ("v1", "v2"):
        registry.add_version(APP, SLIDER_APP.read_text(), {"title": title, "audience": ["planners"]}, None)
    capsys.readouterr()
    assert main(["publish", "--list", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)[0]["current"] == 2 and "bif publish list" in out.err  # with a hint
    assert main(["publish", "--rollback", APP]) == 0
    assert registry.current_version(APP) == 1
    assert main(["publish", "--withdraw", APP]) == 0
    assert registry.app_ids() == []


def test_refusal_is_german_with_exit_code_1(home, tmp_path, capsys):
    bad = tmp_path / "ohne_titel.ipynb"
    bad.write_text(json.dumps(notebook("x = 1", title="", audience=["jeder"])))
    assert main(["publish", "app", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "wurde nicht veröffentlicht" in err and "Titel fehlt" in err and "Unbekannte Gruppe" in err
    assert Registry(home / "apps").app_ids() == []


def test_usage_errors(home, capsys):
    for args in (["publish"], ["publish", "--to", "3"], ["publish", "rollback"], ["publish", "app", "a", "--bundled"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2, args
    assert "Fehler" in capsys.readouterr().err
    assert main(["publish", "app"]) == 2
    assert "Bitte ein Notebook angeben" in capsys.readouterr().err
    assert main(["publish", "rollback", "gibt-es-nicht"]) == 1
    err = capsys.readouterr().err
    assert "wurde nicht zurückgerollt" in err and "nicht veröffentlicht" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: another account than the registry's owner")
def test_accounts_that_may_not_publish_are_refused(home):
    """Publishing, rolling back and withdrawing change the registry, which belongs to root:
    another account is refused in German before anything runs, and the apps stay as they are."""
    registry = Registry(home / "apps")
    for title in ("v1", "v2"):
        registry.add_version(APP, SLIDER_APP.read_text(), {"title": title, "audience": ["planners"]}, None)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/tmp",
           "BIF_HOME": str(home), "BIF_APPS_PORT": "1", "PYTHONPATH": str(PROJECT_ROOT)}

    def bif(*args):
        return subprocess.run([sys.executable, "-m", "bif_lib.cli", "publish", *args], user="nobody", env=env,
                              cwd="/tmp", capture_output=True, text=True, timeout=120)

    for args in (["rollback", APP], ["withdraw", APP], ["--withdraw", APP], [str(SLIDER_APP)],
                 ["rollback", APP, "--json"]):
        done = bif(*args)
        assert done.returncode == 1, (args, done.stderr)
        assert "Keine Berechtigung" in done.stderr and "publish_from_lab" in done.stderr, args
        assert "prüfe" not in done.stderr and "Traceback" not in done.stderr, args
    assert json.loads(done.stdout)["rolled_back"] is False
    assert registry.current_version(APP) == 2 and registry.versions(APP) == [1, 2]
    listing = bif("list", "--json")  # reading is for everybody who may read the registry
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["current"] == 2


# --- against the running platform ----------------------------------------------------------------

@pytest.fixture(scope="module")
def platform(environment_access):
    yield from running_platform()


@pytest.fixture
def cli_env(platform, monkeypatch):
    """``bif publish`` as the platform's operator: its settings, its service's token (in the
    environment, as the launcher has it)."""
    monkeypatch.setenv("BIF_APPS_PORT", str(platform.spec["apps_port"]))
    monkeypatch.setenv("BIF_VOILA_PORT", str(platform.spec["voila_port"]))
    monkeypatch.setenv("BIF_USER", "mmeier")
    for var in ("BIF_HUB_SETTINGS", "BIF_APPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return platform


def bif_json(capsys, *args) -> dict:
    code = main(["publish", *args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def listed(platform, token) -> list[str]:
    status, answer = api(platform, "api/apps", token)
    assert status == 200, answer
    return [a["app_id"] for a in answer["apps"]]


def test_withdraw_and_rollback_with_the_service_running(cli_env, capsys):
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.serving.pools import pool_status

    platform = cli_env
    planner = platform.user_token("planer", ["read:users:groups!user", "access:services!service=bif-apps"])
    analyst = platform.user_token("analyst", ["custom:bif-apps:publish", "read:users:groups!user",
                                              "access:services!service=bif-apps"])
    cfg = AppsConfig.current()
    assert cfg.local_url == platform.cfg().local_url

    # published from the command line: the gateway replaced the pool (with the service's token)
    assert bif_json(capsys, "app", str(SLIDER_APP))["pool_refreshed"] is True
    assert listed(platform, planner) == [APP]
    assert pool_status(cfg, APP)["pool_size"] == 2

    # pools are the platform's business: not for analysts (publish scope), planners or anybody
    for token in (analyst, planner, None, "falsch"):
        for method in ("POST", "DELETE", "GET"):
            status, _ = call(platform, f"api/pools/{APP}", token, {} if method == "POST" else None, method)
            assert status == 403, (token, method)

    # withdrawn: out of the gallery, the app page says so (German), its pool is gone
    answer = bif_json(capsys, "withdraw", APP)
    assert (answer["withdrawn"], answer["version"], answer["pool_dropped"]) == (True, 1, True)
    assert listed(platform, planner) == []
    status, page = call(platform, f"app/{APP}/", planner)
    assert status == 404 and "App zurückgezogen" in page.decode() and "nicht mehr geöffnet" in page.decode()
    assert pool_status(cfg, APP)["queued"] == 0
    assert bif_json(capsys, "list")[0]["withdrawn"]["by"] == "mmeier"

    # back again, with a fresh pool: planners open it
    answer = bif_json(capsys, "rollback", APP)
    assert (answer["version"], answer["pool_refreshed"]) == (1, True)
    assert listed(platform, planner) == [APP]
    status, page = call(platform, f"app/{APP}/", planner)
    assert status == 200 and "Version A" in page.decode()

    # the same over the service's API, for publishers only
    assert api(platform, f"api/apps/{APP}/withdraw", planner, {})[0] == 403
    status, answer = api(platform, f"api/apps/{APP}/withdraw", analyst, {})
    assert status == 200 and (answer["withdrawn"], answer["pool_dropped"]) == (True, True)
    assert listed(platform, planner) == [] and Registry(cfg.apps_dir).history(APP)[-1]["by"] == "analyst"
    status, answer = api(platform, f"api/apps/{APP}/rollback", analyst, {})
    assert status == 200 and (answer["rolled_back"], answer["version"], answer["pool_refreshed"]) == (True, 1, True)
    assert listed(platform, planner) == [APP]
