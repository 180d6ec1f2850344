"""settings.yaml + environment variables -> one validated settings object."""

from __future__ import annotations

import copy

import pytest
import yaml

from bif_lib.platform import settings as s


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(s.DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))


def write(tmp_path, data: dict):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_default_file_loads_with_all_groups(monkeypatch, tmp_path):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    settings = s.load_settings(environ={})
    assert set(settings.groups) == set(s.BIF_GROUPS)
    assert settings.hub.port == 8000 and settings["apps"]["port"] == 8010  # attribute and item access
    assert settings.apps.voila_port == 8011 and settings.apps.pool_size == 2
    assert settings.apps.os_user == "bif-apps"
    assert settings.home == tmp_path and settings.run_dir == tmp_path / "run"
    assert settings.users_file == tmp_path / "hub" / "users.json"
    assert settings.local_url == "http://127.0.0.1:8000/"
    assert settings.gallery_path == "/services/bif-apps/"
    assert settings.hub_api_url == "http://127.0.0.1:8081/hub/api"
    assert settings.source_file == s.DEFAULT_SETTINGS_FILE


def test_environment_overrides_the_file(tmp_path):
    env = {"BIF_HUB_IP": "0.0.0.0", "BIF_HUB_PORT": "9000", "BIF_AUTH_BACKEND": "ldap", "BIF_APPS_PORT": "9010",
           "BIF_ACCOUNT_MODE": "single", "BIF_HUB_BASE_URL": "/bif", "BIF_HUB_PUBLIC_URL": "https://bif.example.org"}
    settings = s.load_settings(environ=env)
    assert settings.hub.port == 9000 and settings.auth.backend == "ldap" and settings.apps.port == 9010
    assert settings.local_url == "http://127.0.0.1:9000/bif/"  # 0.0.0.0 is reached on 127.0.0.1
    assert settings.public_url == "https://bif.example.org/bif/"
    assert settings.gallery_path == "/bif/services/bif-apps/"


def test_settings_file_from_environment(tmp_path, raw, monkeypatch):
    raw["hub"]["port"] = 8123
    monkeypatch.setenv(s.SETTINGS_ENV, str(write(tmp_path, raw)))
    assert s.load_settings().hub.port == 8123


@pytest.mark.parametrize("change, message", [
    (lambda d: d["auth"].update(backend="kerberos"), "auth.backend"),
    (lambda d: d["groups"].pop("planners"), "fehlende Gruppen: planners"),
    (lambda d: d["groups"].update(gaeste={"roles": []}), "unbekannte Gruppen: gaeste"),
    (lambda d: d["groups"]["analysts"]["roles"].append("bif-superuser"), "bif-superuser"),
    (lambda d: d["groups"]["admins"]["data_areas"].append("confidential"), "Statistikgeheimnis"),
    (lambda d: d["groups"]["planners"].update(data_areas=["internal"]), "planners"),
    (lambda d: d["auth"]["ldap"]["group_mapping"].update({"cn=x": "chefs"}), "chefs"),
    (lambda d: d["hub"].update(port="achttausend"), "hub.port"),
    (lambda d: d["accounts"].update(mode="shared"), "accounts.mode"),
])
def test_mistakes_are_reported_in_german(tmp_path, raw, change, message):
    data = copy.deepcopy(raw)
    change(data)
    with pytest.raises(s.SettingsError, match=message):
        s.load_settings(write(tmp_path, data), environ={})


def test_bad_environment_value():
    with pytest.raises(s.SettingsError, match="BIF_HUB_PORT"):
        s.load_settings(environ={"BIF_HUB_PORT": "x"})


def test_missing_file(tmp_path):
    with pytest.raises(s.SettingsError, match="fehlt"):
        s.load_settings(tmp_path / "nope.yaml")


def test_secrets_are_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    monkeypatch.delenv("BIF_APPS_API_TOKEN", raising=False)
    settings = s.load_settings(environ={})
    token = s.apps_api_token(settings)
    assert len(token) == 64 and s.apps_api_token(settings) == token
    assert (settings.run_dir / "apps_api_token").stat().st_mode & 0o777 == 0o600
    assert s.platform_api_token(settings) != token
    monkeypatch.setenv("BIF_APPS_API_TOKEN", "from-kubernetes")
    assert s.apps_api_token(settings) == "from-kubernetes"
