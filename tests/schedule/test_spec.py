"""Schedules: their form, German errors naming file and key, run times in Europe/Berlin across DST,
and which datasets may be put on a schedule at all."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from bif_lib.contracts import ContractError, load_contract
from bif_lib.schedule.spec import ScheduleError, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")
REPO_PROFILE = __import__("pathlib").Path(__file__).resolve().parents[2] / "data_contracts" / "flensburg"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def runs(schedule: dict, start: datetime, count: int) -> list[str]:
    """The next ``count`` runs after ``start``, as Berlin wall-clock text with the UTC offset."""
    parsed, moment, found = parse_schedule(schedule), start, []
    for _ in range(count):
        moment = parsed.next_after(moment)
        found.append(moment.strftime("%Y-%m-%d %H:%M %z"))
    return found


# --- form and errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("block, key, words", [
    ({"cron": "0 25 * * 1"}, "refresh.cron", ["Stunde", "25", "0–23"]),
    ({"cron": "61 5 * * 1"}, "refresh.cron", ["Minute", "61", "0–59"]),
    ({"cron": "0 5 * *"}, "refresh.cron", ["4 Felder", "erwartet werden 5"]),
    ({"cron": "0 5 * * funday"}, "refresh.cron", ["Wochentag", "funday"]),
    ({"cron": "0 5 30 2 *"}, "refresh.cron", ["keinen Tag"]),
    ({"cron": "*/0 * * * *"}, "refresh.cron", ["Schrittweite"]),
    ({"cron": "0 5 * * 5-1"}, "refresh.cron", ["rückwärts"]),
    ({"cron": "@reboot"}, "refresh.cron", ["kein bekanntes Kürzel"]),
    ({"every": "P1M"}, "refresh.every", ["keine Dauer", "cron verwenden"]),
    ({"every": "PT0S"}, "refresh.every", ["größer als null"]),
    ({"every": "PT6H", "at": "05:00"}, "refresh.at", ["ganzen Tagen"]),
    ({"every": "P1D", "at": 300}, "refresh.at", ["keine Uhrzeit", "Anführungszeichen"]),  # YAML's 5:00
    ({"cron": "0 5 * * 1", "every": "P7D"}, "refresh", ["genau eines"]),
    ({"cron": "0 5 * * 1", "at": "05:00"}, "refresh.at", ["nur mit „every“"]),
    ({"cron": "0 5 * * 1", "when": "immer"}, "refresh", ["unbekannter Schlüssel: when"]),
])
def test_a_malformed_schedule_is_refused_in_german_naming_the_key(block, key, words):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(block, "refresh")
    assert err.value.key == key
    for word in words:
        assert word in err.value.message, err.value.message


def test_a_bad_cron_in_a_contract_names_the_file_the_key_and_the_line(tmp_path):
    path = tmp_path / "einwohner_stadtteile.yaml"
    text = (REPO_PROFILE / "einwohner_stadtteile.yaml").read_text(encoding="utf-8")
    path.write_text(text + "\nrefresh:\n  cron: \"0 5 * * 8\"\n", encoding="utf-8")
    line = len(text.splitlines()) + 3
    with pytest.raises(ContractError) as err:
        load_contract(path)
    message = str(err.value)
    assert str(path) in message and f"refresh.cron (Zeile {line})" in message, message
    assert "Wochentag" in message and "8 liegt außerhalb von 0–7" in message, message


def test_a_good_schedule_loads_and_does_not_change_the_contracts_fingerprint(tmp_path):
    original = load_contract(REPO_PROFILE / "einwohner_stadtteile.yaml")
    path = tmp_path / "einwohner_stadtteile.yaml"
    path.write_text((REPO_PROFILE / "einwohner_stadtteile.yaml").read_text(encoding="utf-8")
                    + "\nrefresh: {every: P7D, at: \"05:00\", notify: [statistik@flensburg.example]}\n",
                    encoding="utf-8")
    scheduled = load_contract(path)
    assert scheduled.raw["refresh"]["every"] == "P7D"
    assert scheduled.sha256 == original.sha256  # a schedule makes no new version of the data


def test_confidential_and_released_data_cannot_be_scheduled(tmp_path):
    for name, reason in (("melderegister_personen.yaml", "vertrauliche Daten werden nie planmäßig"),
                         ("bevoelkerung_einzelalter.yaml", "bif release")):
        path = tmp_path / name
        path.write_text((REPO_PROFILE / name).read_text(encoding="utf-8") + "\nrefresh: {cron: \"0 5 * * 1\"}\n",
                        encoding="utf-8")
        with pytest.raises(ContractError) as err:
            load_contract(path)
        assert "refresh" in str(err.value) and reason in str(err.value), str(err.value)


def test_the_city_profile_default_is_checked_and_generated_datasets_are_refused(tmp_path, monkeypatch):
    from bif_lib.schedule.plan import PROFILE, NotRefreshable, load_plan

    profile = tmp_path / "flensburg"
    shutil.copytree(REPO_PROFILE, profile)
    monkeypatch.setenv("BIF_CONTRACTS", str(tmp_path))
    city = profile / "city.yaml"
    data = yaml.safe_load(city.read_text(encoding="utf-8"))

    data["refresh"] = {"default": {"cron": "0 5 * 13 *"}, "datasets": ["kitas"]}
    city.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_plan("flensburg")
    assert str(city) in str(err.value) and "refresh.default.cron" in str(err.value) and "Monat" in str(err.value)

    data["refresh"] = {"default": {"cron": "0 5 * * 1"}, "datasets": ["kitas", "sterbetafel_sh"]}
    city.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    plan = load_plan("flensburg")
    assert [(t.dataset, t.origin) for t in plan.scheduled] == [("kitas", PROFILE)]
    assert "erzeugt diesen Datensatz selbst" in plan.refused["sterbetafel_sh"]
    assert plan.target("einwohner_stadtteile").schedule is None  # refreshable by hand
    with pytest.raises(NotRefreshable, match="vertrauliche Daten"):
        plan.target("melderegister_personen")


# --- run times across daylight saving time -----------------------------------------------------------

def test_weekly_cron_is_mondays_as_in_crontab_across_the_spring_change():
    # "1" is Monday as in crontab (APScheduler 3's own CronTrigger would read it as Tuesday)
    assert runs({"cron": "0 5 * * 1"}, at(2026, 3, 20, 12, 0), 3) == [
        "2026-03-23 05:00 +0100", "2026-03-30 05:00 +0200", "2026-04-06 05:00 +0200"]


def test_a_time_in_the_spring_gap_runs_after_it_once():
    assert runs({"cron": "30 2 * * *"}, at(2026, 3, 28, 12, 0), 3) == [
        "2026-03-29 03:30 +0200", "2026-03-30 02:30 +0200", "2026-03-31 02:30 +0200"]


def test_a_time_in_the_repeated_autumn_hour_runs_once():
    assert runs({"cron": "30 2 * * *"}, at(2026, 10, 24, 12, 0), 3) == [
        "2026-10-25 02:30 +0200", "2026-10-26 02:30 +0100", "2026-10-27 02:30 +0100"]


def test_daily_at_keeps_the_wall_clock_time_across_both_changes():
    assert runs({"every": "P1D", "at": "05:00"}, at(2026, 3, 28, 5, 0), 2) == [
        "2026-03-29 05:00 +0200", "2026-03-30 05:00 +0200"]
    assert runs({"every": "P1D", "at": "05:00"}, at(2026, 10, 24, 5, 0), 2) == [
        "2026-10-25 05:00 +0100", "2026-10-26 05:00 +0100"]


def test_an_hourly_interval_is_absolute_time_and_runs_in_the_repeated_hour():
    start = datetime(2026, 10, 24, 23, 30, tzinfo=timezone.utc)  # 01:30 CEST
    assert runs({"every": "PT1H"}, start, 3) == ["2026-10-25 02:30 +0200", "2026-10-25 02:30 +0100",
                                                 "2026-10-25 03:30 +0100"]


def test_crontab_day_rules_sunday_and_either_day():
    assert runs({"cron": "0 6 * * 0"}, at(2026, 6, 1, 0, 0), 1) == runs({"cron": "0 6 * * 7"}, at(2026, 6, 1), 1) \
        == runs({"cron": "0 6 * * sun"}, at(2026, 6, 1), 1) == ["2026-06-07 06:00 +0200"]
    # day of month and weekday both restricted: either one (the 1st, and Mondays)
    assert runs({"cron": "0 5 1 * mon"}, at(2026, 5, 30, 0, 0), 3) == [
        "2026-06-01 05:00 +0200", "2026-06-08 05:00 +0200", "2026-06-15 05:00 +0200"]
    assert runs({"cron": "0 0 29 2 *"}, at(2026, 1, 1), 1) == ["2028-02-29 00:00 +0100"]


def test_schedules_are_described_in_german():
    assert parse_schedule({"cron": "0 5 * * 1"}).describe() == "montags 05:00 (cron 0 5 * * 1)"
    assert parse_schedule({"cron": "30 6 * * 1-5"}).describe() == "Mo–Fr 06:30 (cron 30 6 * * 1-5)"
    assert parse_schedule({"every": "P7D", "at": "05:00"}).describe() == "alle 7 Tage um 05:00"
    assert parse_schedule({"every": "P1D", "at": "05:00"}).describe() == "täglich um 05:00"
    assert parse_schedule({"every": "PT6H"}).describe() == "alle 6 Stunden"
    assert parse_schedule({"every": "PT1H30M"}).describe() == "alle 1 Stunde und 30 Minuten"
