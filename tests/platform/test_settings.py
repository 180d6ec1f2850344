"""settings.yaml + environment variables -> one validated settings object."""

from __future__ import annotations

import copy
import os
import re

import pytest
import yaml

from bif_lib.platform import settings as s


@pytest.fixture
def raw() -> dict:
    """The shipped settings with the schema's defaults filled in: every key written out."""
    return s.with_defaults(s.read_yaml(s.DEFAULT_SETTINGS_FILE))


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


# --- the schema: defaults in one place ------------------------------------------------------

def leaves(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_the_shipped_file_holds_only_what_differs_from_the_defaults():
    """Defaults live in the schema; hub_config/settings.yaml repeats none of them."""
    defaults = dict(leaves(s.defaults()))
    repeated = [key for key, value in leaves(s.read_yaml(s.DEFAULT_SETTINGS_FILE)) if defaults.get(key) == value]
    assert not repeated, f"in settings.yaml and as default in settings_schema.yaml: {repeated}"


def test_an_empty_file_gives_the_defaults(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("hub:\napps: {port: ~}\n", encoding="utf-8")  # nothing / null: the default
    settings = s.load_settings(path, environ={})
    assert settings.hub.port == 8000 and settings.apps.port == 8010 and settings.culler.timeout == 3600
    assert set(settings.groups) == set(s.BIF_GROUPS) and "bif-operator" in settings.roles
    assert settings.platform.name == "BIF – Business Intelligence Flensburg"  # the profile's platform_title
    assert settings.groups.planners.data_areas == [] and settings.auth.ldap.group_mapping == {}


def test_apps_config_takes_its_defaults_from_the_schema():
    from dataclasses import fields

    from bif_lib.apps.config import AppsConfig

    cfg, defaults = AppsConfig(home="/x"), s.defaults()
    for f in fields(AppsConfig):
        if "setting" in f.metadata:
            section, name = f.metadata["setting"].split(".")
            default = defaults[section][name]
            assert getattr(cfg, f.name) == (tuple(default) if isinstance(default, list) else default), f.name
    assert cfg.hub_api_url == defaults.hub_api_url and cfg.base_url == defaults.base_url


def test_environment_variables_come_from_the_schema():
    assert s.ENV_OVERRIDES["BIF_HUB_PORT"] == ("hub", "port", int)
    assert s.ENV_OVERRIDES["BIF_APPS_OS_USER"] == ("apps", "os_user", str)
    assert s.ENV_OVERRIDES["BIF_TRAINING_PORT"] == ("training", "port", int)
    assert s.ENV_OVERRIDES["BIF_CATALOG_URL"] == ("catalog", "url", str)
    assert len(s.ENV_OVERRIDES) == 17


@pytest.mark.parametrize("catalog, message", [
    ({"backend": "postgresql"}, "catalog.backend ist postgresql, aber catalog.url fehlt"),
    ({"url": "postgresql://db/bif_catalog"}, "catalog.url ist gesetzt, catalog.backend aber sqlite"),
    ({"backend": "postgresql", "url": "postgresql://bif:geheim@db/bif_catalog"}, "ohne Benutzer und Passwort"),
    ({"backend": "postgresql", "url": "postgresql://db/bif_catalog?password=geheim"}, "ohne Benutzer und Passwort"),
    ({"backend": "postgresql", "url": "db:5432"}, "erwartet postgresql://server:5432/datenbank"),
    ({"backend": "mysql"}, "catalog.backend='mysql': erlaubt sind sqlite, postgresql"),
])
def test_catalog_settings_mistakes_are_german(tmp_path, raw, catalog, message):
    raw["catalog"].update(catalog)
    with pytest.raises(s.SettingsError, match=re.escape(message)):
        s.load_settings(write(tmp_path, raw), environ={})


def test_catalog_environment_gives_the_writers_password_to_writers_only(tmp_path, raw):
    raw["catalog"].update(backend="postgresql", url="postgresql://db.stadt.example:5432/bif_catalog")
    settings = s.load_settings(write(tmp_path, raw), environ={})
    environ = {"BIF_CATALOG_WRITER_PASSWORD": "schreiben", "BIF_CATALOG_READER_PASSWORD": "lesen"}
    reader = s.catalog_env(dict(environ), settings, environ=environ)
    assert reader == {"BIF_CATALOG_URL": "postgresql://db.stadt.example:5432/bif_catalog",
                      "BIF_CATALOG_USER": "bif_catalog_reader", "BIF_CATALOG_PASSWORD": "lesen",
                      "BIF_CATALOG_READER_PASSWORD": "lesen"}
    writer = s.catalog_env({}, settings, writer=True, environ=environ)
    assert writer["BIF_CATALOG_USER"] == "bif_catalog_writer" and writer["BIF_CATALOG_PASSWORD"] == "schreiben"
    sqlite = s.load_settings(environ={})
    assert s.catalog_env({"BIF_CATALOG_URL": "postgresql://alt/x", "BIF_CATALOG_PASSWORD": "p"}, sqlite) == {}


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(culer={"timeout": 5}), "unbekannte Abschnitte: culer"),
    (lambda d: d["apps"].update(watchdog_intervall=3), "apps: unbekannte Schlüssel watchdog_intervall"),
    (lambda d: d.update(hub=5), "hub: erwartet eine Zuordnung"),
    (lambda d: d["hub"].update(port=70000), "hub.port muss eine Portnummer sein"),
    (lambda d: d["apps"].update(pool_size="zwei"), "apps.pool_size: erwartet eine ganze Zahl, nicht 'zwei'"),
    (lambda d: d["groups"]["analysts"]["data_areas"].append("geheim"), "groups.analysts.data_areas[1]='geheim'"),
    (lambda d: d["roles"].update({"Chef Rolle": {"scopes": []}}), "Rollenname 'Chef Rolle' ungültig"),
    (lambda d: d["roles"]["bif-lab"].pop("scopes"), "roles.bif-lab: es fehlt scopes"),
    (lambda d: d["accounts"].update(user_prefix="BIF"), "accounts.user_prefix='BIF': nur Kleinbuchstaben"),
    (lambda d: d["groups"].pop("admins") and d["groups"].pop("trainers"), "fehlende Gruppen: trainers, admins"),
])
def test_schema_mistakes_name_the_key_in_german(tmp_path, raw, change, message):
    change(raw)
    with pytest.raises(s.SettingsError, match=re.escape(message)):
        s.load_settings(write(tmp_path, raw), environ={})


def test_the_shell_command_names_the_catalog_of_the_settings_file(tmp_path, monkeypatch):
    """`bif ingest` typed by root must write into the catalog the platform reads."""
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("catalog:\n  backend: postgresql\n  url: postgresql://db.example:5432/bif\n",
                             encoding="utf-8")
    monkeypatch.setenv("BIF_HUB_SETTINGS", str(settings_file))
    environ = {"BIF_CATALOG_WRITER_PASSWORD": "w", "BIF_CATALOG_READER_PASSWORD": "r"}
    s.catalog_env_for_shell(environ)
    role = "bif_catalog_writer" if os.geteuid() == 0 else "bif_catalog_reader"
    assert environ["BIF_CATALOG_URL"] == "postgresql://db.example:5432/bif" and environ["BIF_CATALOG_USER"] == role
    assert environ["BIF_CATALOG_PASSWORD"] == ("w" if os.geteuid() == 0 else "r")
    settings_file.write_text("platform:\n  name: Test\n", encoding="utf-8")  # SQLite: nothing named
    environ = {}
    s.catalog_env_for_shell(environ)
    assert environ == {}
    explicit = {"BIF_CATALOG_URL": "postgresql://other/bif"}  # the environment wins
    s.catalog_env_for_shell(explicit)
    assert explicit == {"BIF_CATALOG_URL": "postgresql://other/bif"}


def test_code_under_check_gets_the_readers_role_only(tmp_path, monkeypatch):
    """A notebook under its publication check runs untrusted code: whoever publishes (root's
    shell, the scheduler with the writers' role), it gets the readers' role and password."""
    from bif_lib.apps.publishing.execute import child_env

    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("catalog:\n  backend: postgresql\n  url: postgresql://db.example:5432/bif\n",
                             encoding="utf-8")
    monkeypatch.setenv("BIF_HUB_SETTINGS", str(settings_file))
    for name, value in {"BIF_CATALOG_URL": "postgresql://db.example:5432/bif", "BIF_CATALOG_USER": "bif_catalog_writer",
                        "BIF_CATALOG_PASSWORD": "geheim-w", "BIF_CATALOG_WRITER_PASSWORD": "geheim-w",
                        "BIF_CATALOG_READER_PASSWORD": "lesen"}.items():
        monkeypatch.setenv(name, value)
    env = child_env(str(tmp_path), str(tmp_path / "store"))
    assert env["BIF_CATALOG_USER"] == "bif_catalog_reader" and env["BIF_CATALOG_PASSWORD"] == "lesen"
    assert "geheim-w" not in repr(env)
    monkeypatch.delenv("BIF_CATALOG_URL")  # SQLite: nothing of the catalog
    assert not {k for k in child_env(str(tmp_path), str(tmp_path / "store")) if k.startswith("BIF_CATALOG")}
