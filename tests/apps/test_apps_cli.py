"""``bif publish``: publish, list, roll back, withdraw — German output, exit codes."""

from __future__ import annotations

import json

import pytest

from apps_helpers import SLIDER_APP, notebook
from bif_lib.cli import main
from bif_lib.apps.registry import Registry


@pytest.fixture
def home(apps_home, monkeypatch):
    for var in ("BIF_HUB_SETTINGS", "BIF_APPS_PORT", "BIF_VOILA_PORT", "BIF_APPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BIF_HOME", str(apps_home))
    monkeypatch.setenv("BIF_USER", "mmeier")
    return apps_home


def test_publish_list_rollback_withdraw(home, capsys):
    assert main(["publish", str(SLIDER_APP)]) == 0
    out = capsys.readouterr()
    assert "'slider-app' als Version 1 veröffentlicht" in out.out
    assert "nicht erreichbar" in out.out  # no service running: the CLI says when the app will show

    registry = Registry(home / "apps")
    registry.add_version("slider-app", SLIDER_APP.read_text(), {"title": "Neu", "audience": ["planners"]}, None)
    assert main(["publish", "--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["app_id"] == "slider-app" and rows[0]["current"] == 2 and rows[0]["versions"] == [1, 2]
    assert registry.get("slider-app", 1).meta["published_by"] == "mmeier"

    assert main(["publish", "--list"]) == 0
    assert "Version 2 (vorhanden: 1, 2)" in capsys.readouterr().out

    assert main(["publish", "--rollback", "slider-app"]) == 0
    assert "Version 1 ist jetzt aktiv" in capsys.readouterr().out
    assert registry.current_version("slider-app") == 1
    assert main(["publish", "--rollback", "slider-app", "--to", "2"]) == 0
    assert registry.current_version("slider-app") == 2

    assert main(["publish", "--withdraw", "slider-app"]) == 0
    assert registry.app_ids() == []


def test_refusal_is_german_with_exit_code_1(home, tmp_path, capsys):
    bad = tmp_path / "ohne_titel.ipynb"
    bad.write_text(json.dumps(notebook("x = 1", title="", audience=["jeder"])))
    assert main(["publish", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "wurde nicht veröffentlicht" in err and "Titel fehlt" in err and "Unbekannte Gruppe" in err
    assert Registry(home / "apps").app_ids() == []


def test_usage_errors(home, capsys):
    assert main(["publish"]) == 2
    assert main(["publish", "--to", "3"]) == 2
    assert main(["publish", "--rollback", "gibt-es-nicht"]) == 1
    assert "nicht veröffentlicht" in capsys.readouterr().err
