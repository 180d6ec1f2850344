"""On the real platform: ``bif platform start`` starts the scheduler and ``stop`` stops it, and the
hub's start page shows an open failure notice to the people who steward data, not to planners."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bif_lib.platform import launcher
from bif_lib.processes import alive
from bif_lib.schedule import notices

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PLATFORM_CONFTEST = Path(__file__).resolve().parents[1] / "platform" / "conftest.py"


def platform_helpers():
    """``started_hub`` and friends of tests/platform (a conftest is no importable module by name)."""
    spec = importlib.util.spec_from_file_location("bif_platform_test_helpers", PLATFORM_CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_platform_runs_the_scheduler_and_its_start_page_shows_the_notices(environment_access, monkeypatch):
    helpers = platform_helpers()
    from bif_lib.platform.settings import ENV_OVERRIDES

    for var in [*ENV_OVERRIDES, "BIF_HUB_SETTINGS", "BIF_APPS_API_TOKEN", "BIF_PLATFORM_API_TOKEN",
                "CONFIGPROXY_AUTH_TOKEN", "BIF_HOME", "BIF_STORE"]:
        monkeypatch.delenv(var, raising=False)
    with helpers.started_hub("schedule") as hub:
        settings = hub.settings
        pid = launcher.SCHEDULE.pid(settings)
        assert pid and any("Zeitplandienst gestartet" in line for line in hub.output), hub.output
        state = launcher.status(settings, out=lambda line: None)
        assert state["schedule"] == pid

        notices.put(settings.home, {"dataset": "einwohner_stadtteile", "title": "Einwohner je Stadtteil",
                                    "classification": "open", "at": "2026-12-07T04:00:03+00:00",
                                    "message": "„einwohner_stadtteile“ abgelehnt: 1 Fehler – nichts wurde gespeichert.",
                                    "file": "/srv/x/131e8127a0af-fl_residents_by_district.csv",
                                    "details": ["Zeile 4, Spalte „residents“, Regel „Mindestwert“ (minimum): -5 < 0"]})
        hub.add_user("ana", ["analysts"], "ana-passwort-123")
        hub.add_user("pia", ["planners"], "pia-passwort-123")
        analyst = hub.session("ana", "ana-passwort-123").get(f"{hub.url}hub/home", timeout=60).content.decode("utf-8")
        assert 'id="bif-schedule-notices"' in analyst, analyst
        assert "Einwohner je Stadtteil</strong> (einwohner_stadtteile), 07.12.2026 05:00" in analyst
        assert "Zeile 4, Spalte „residents“, Regel „Mindestwert“ (minimum)" in analyst
        planner = hub.session("pia", "pia-passwort-123").get(f"{hub.url}hub/home", timeout=60).content.decode("utf-8")
        assert "Angemeldet als <strong>pia</strong>" in planner and 'id="bif-schedule-notices"' not in planner

        notices.clear(settings.home, "einwohner_stadtteile")  # a good run: the page is clean again
        again = hub.session("ana", "ana-passwort-123").get(f"{hub.url}hub/home", timeout=60).content.decode("utf-8")
        assert "Angemeldet als <strong>ana</strong>" in again and 'id="bif-schedule-notices"' not in again
    assert not alive(pid), "the scheduler runs on after bif platform stop"
    assert any("Zeitplandienst gestoppt" in line for line in hub.output), hub.output
