"""``bif users ...`` and ``bif platform ...`` through their argparse registration."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from bif_lib.cli import platform as platform_cli
from bif_lib.cli import training as training_cli
from bif_lib.cli import users as users_cli
from bif_lib.platform import auth, launcher
from bif_lib.platform.settings import load_settings


@pytest.fixture
def bif(tmp_path, monkeypatch, cli_runner):
    """Run the two command groups like ``bif`` does: returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)
    return cli_runner((platform_cli, users_cli, training_cli))


def test_users_lifecycle(bif, tmp_path):
    code, out, _ = bif("users", "add", "MMeier", "--group", "analysts", "--group", "trainers",
                       "--password-stdin", stdin="ein-langes-passwort\n")
    assert code == 0 and "mmeier angelegt" in out and "analysts, trainers" in out
    store = auth.UserStore(tmp_path / "hub" / "users.json")
    assert store.authenticate("mmeier", "ein-langes-passwort") == ["analysts", "trainers"]

    code, out, _ = bif("users", "add", "pia", "-g", "planners", "--generate")
    password = out.split("Passwort: ")[1].strip()
    assert code == 0 and store.authenticate("pia", password) == ["planners"]

    code, out, _ = bif("users", "list")
    assert "mmeier  analysts, trainers" in out and "pia" in out
    code, out, _ = bif("users", "list", "--json")
    assert json.loads(out)["pia"]["groups"] == ["planners"]

    assert bif("users", "set-groups", "pia", "-g", "planners", "-g", "analysts")[0] == 0
    assert store.get("pia")["groups"] == ["analysts", "planners"]

    code, out, _ = bif("users", "passwd", "pia", "--generate")
    assert code == 0 and store.authenticate("pia", out.split("Passwort: ")[1].strip())

    code, out, _ = bif("users", "remove", "pia")
    assert code == 0 and store.get("pia") is None


def test_users_refusals_are_german(bif):
    code, _, err = bif("users", "add", "kurz", "-g", "analysts", "--password-stdin", stdin="kurz\n")
    assert code == 1 and "zu kurz" in err
    code, _, err = bif("users", "set-groups", "niemand", "-g", "analysts")
    assert code == 1 and "existiert nicht" in err
    with pytest.raises(SystemExit):
        bif("users", "add", "x", "-g", "chefs", "--generate")  # argparse: invalid choice


def test_platform_status_when_stopped(bif):
    code, out, _ = bif("platform", "status")
    assert code == 3 and "Proxy:      gestoppt" in out and "JupyterHub: gestoppt" in out


def test_start_explains_a_missing_proxy(bif, monkeypatch, tmp_path):
    monkeypatch.setenv("BIF_CHP", str(tmp_path / "nicht-da"))
    code, _, err = bif("platform", "start")
    assert code == 1 and "configurable-http-proxy fehlt" in err and "npm install" in err


def test_settings_command_shows_file_and_defaults(bif):
    code, out, _ = bif("platform", "settings")
    shown = yaml.safe_load(out)
    assert code == 0 and out.startswith("# Geltende BIF-Einstellungen")
    assert shown["platform"]["name"] == "BIF – Business Intelligence Flensburg"  # from settings.yaml
    assert shown["hub"]["port"] == 8000 and shown["apps"]["watchdog_failures"] == 3  # defaults


def test_z2jh_values_command(bif, tmp_path):
    target = tmp_path / "values.yaml"
    assert bif("platform", "z2jh-values", "-o", str(target))[0] == 0
    assert "loadRoles" in target.read_text()


def test_demo_accounts(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)
    settings = load_settings(environ={})
    first = launcher.ensure_demo_users(settings)
    assert set(first) == set(launcher.DEMO_USERS) and len(set(first.values())) == len(first)
    store = auth.UserStore.from_settings(settings)
    for name, password in first.items():
        assert store.authenticate(name, password) == [launcher.DEMO_USERS[name]]
    creds = tmp_path / launcher.DEMO_FILE
    assert os.stat(creds).st_mode & 0o777 == 0o600 and first["demo-planung"] in creds.read_text()
    assert launcher.ensure_demo_users(settings) == first  # a second start keeps them


def test_training_cohort_lifecycle(bif, tmp_path):
    """As root on the server: start, list, extend, sheet, end with archive."""
    bif("users", "add", "trainerin", "-g", "trainers", "--generate")
    handout = tmp_path / "zugang.csv"
    code, out, _ = bif("training", "start", "Grundkurs", "--size", "3", "--handout", str(handout))
    assert code == 0 and "3 Konten angelegt" in out and "gültig bis" in out
    lines = handout.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Konto;Passwort;Adresse" and len(lines) == 4
    assert oct(handout.stat().st_mode & 0o777) == "0o600"  # it holds passwords
    store = auth.UserStore(tmp_path / "hub" / "users.json")
    for line in lines[1:]:
        name, password, url = line.split(";")
        assert name in out and password in out and url.startswith("http")
        assert store.authenticate(name, password) == ["participants"]  # open data only
    assert [line.split(";")[0] for line in lines[1:]] == ["grundkurs-01", "grundkurs-02", "grundkurs-03"]

    code, out, _ = bif("training", "list")
    assert "grundkurs: 3 Konten (grundkurs-01 … grundkurs-03), gültig bis" in out
    code, _, err = bif("training", "start", "grundkurs", "--size", "2")
    assert code == 1 and "gibt es schon" in err
    code, out, _ = bif("training", "extend", "grundkurs", "--bis", "01.01.2020")
    assert code == 1
    sheet = tmp_path / "zugang.html"
    code, out, _ = bif("training", "sheet", "grundkurs", "-o", str(sheet))
    text = re.sub(r"<[^>]+>", "", sheet.read_text(encoding="utf-8"))  # the sheet marks digits with <span>
    assert code == 0 and all(line.split(";")[1] in text for line in lines[1:])

    code, out, _ = bif("training", "end", "grundkurs")
    assert code == 0 and "3 Konten entfernt" in out and "Archiv grundkurs-" in out
    assert set(store.users()) == {"trainerin"}  # other accounts stay
    code, _, err = bif("training", "end", "grundkurs")
    assert code == 1 and "Keine Schulungsgruppe" in err
    code, out, _ = bif("training", "list")
    assert "(keine Schulungsgruppen)" in out and "Archive beendeter Gruppen" in out


def test_training_cohort_is_created_whole_or_not_at_all(bif, tmp_path):
    bif("users", "add", "kurs-02", "-g", "planners", "--generate")  # a name the cohort would need
    code, _, err = bif("training", "start", "kurs", "--size", "3")
    assert code == 1 and "kurs-02" in err
    store = auth.UserStore(tmp_path / "hub" / "users.json")
    assert set(store.users()) == {"kurs-02"} and store.get("kurs-02")["groups"] == ["planners"]
    code, _, err = bif("training", "start", "ein-viel-zu-langer-kursname", "--size", "2")
    assert code == 1 and "Ungültiger Name der Schulungsgruppe" in err
    code, _, err = bif("training", "start", "kurs2", "--size", "0")
    assert code == 1 and "1 bis 99" in err
