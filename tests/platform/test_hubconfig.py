"""The traitlets configuration: RBAC, services, spawner, the whole jupyterhub_config.py."""

from __future__ import annotations

import runpy
from types import SimpleNamespace

import pytest
from jupyterhub import orm
from jupyterhub import scopes as hub_scopes
from jupyterhub.roles import get_default_roles
from traitlets.config import Config

from bif_lib.platform import hubconfig
from bif_lib.platform.settings import APPS_SERVICE, PUBLISH_SCOPE, load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    for var in ("BIF_APPS_API_TOKEN", "BIF_PLATFORM_API_TOKEN", "CONFIGPROXY_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return load_settings(environ={})


def scopes_of(settings, groups: list[str], name: str = "someone") -> set[str]:
    """The expanded scopes a member of ``groups`` gets, via JupyterHub's own expansion."""
    hub_scopes.define_custom_scopes(hubconfig.custom_scopes(settings))
    defaults = {r["name"]: r for r in get_default_roles()}
    raw: set[str] = set()
    for role in hubconfig.load_roles(settings):
        if role["name"] == "user" or set(role.get("groups", [])) & set(groups):
            raw.update(role.get("scopes") or defaults.get(role["name"], {}).get("scopes", []))
    return set(hub_scopes.expand_scopes(frozenset(raw), owner=orm.User(name=name)))


def test_planners_may_open_apps_and_nothing_else(settings):
    planner = scopes_of(settings, ["planners"], "pia")
    assert f"access:services!service={APPS_SERVICE}" in planner
    assert "read:users:groups!user=pia" in planner
    assert not any(s.startswith(("servers", "access:servers", "tokens")) for s in planner)
    assert not hubconfig.may_spawn(SimpleNamespace(name="pia"), planner)
    assert PUBLISH_SCOPE not in planner


def test_a_user_without_group_has_no_server_and_no_apps(settings):
    nobody = scopes_of(settings, [], "nn")
    assert not hubconfig.may_spawn(SimpleNamespace(name="nn"), nobody)
    assert not any("access:services" in s for s in nobody)


@pytest.mark.parametrize("group", ["analysts", "trainers", "statistikstelle", "admins"])
def test_lab_groups_get_their_own_server_apps_and_publishing(settings, group):
    got = scopes_of(settings, [group], "ana")
    assert hubconfig.may_spawn(SimpleNamespace(name="ana"), got)
    assert {"access:servers!user=ana", "access:servers"} & got
    assert {f"access:services!service={APPS_SERVICE}", "access:services"} & got  # admins: all services
    assert PUBLISH_SCOPE in got
    # only operators start and stop other people's servers, and nobody may enter them
    assert ("start:servers" in got) == (group == "admins")
    assert not {s for s in got if s.startswith(("admin:servers", "admin:server_state"))}
    assert {s for s in got if s.startswith("access:servers")} == {"access:servers!user=ana"}


def test_roles_are_bound_to_groups_and_services(settings):
    roles = {r["name"]: r for r in hubconfig.load_roles(settings)}
    assert "self" not in roles["user"]["scopes"] and "groups" not in roles["user"]
    assert roles["bif-apps-viewer"]["groups"] == ["admins", "analysts", "participants", "planners", "statistikstelle",
                                                  "trainers"]
    assert roles["bif-training-manager"]["groups"] == ["trainers"]
    # the training service sees and ends only cohort accounts
    assert all(s.endswith("!group=participants") for s in roles["bif-training-service"]["scopes"])
    assert "planners" not in roles["bif-lab"]["groups"]
    assert roles["admin"]["groups"] == [] and roles["admin"]["users"] == []  # nobody is a hub admin
    assert roles["bif-operator"]["groups"] == ["admins"]
    assert roles["idle-culler-service"]["services"] == ["idle-culler"]
    assert set(roles["idle-culler-service"]["scopes"]) == {"list:users", "read:users:activity", "read:servers",
                                                           "delete:servers"}


def test_services(settings):
    services = {s["name"]: s for s in hubconfig.services(settings)}
    apps = services[APPS_SERVICE]
    assert apps["url"] == "http://127.0.0.1:8010" and "command" not in apps  # external
    assert apps["oauth_client_allowed_scopes"] == ["read:users:groups!user", PUBLISH_SCOPE]
    assert len(apps["api_token"]) == 64 and apps["oauth_no_confirm"]
    culler = services["idle-culler"]["command"]
    assert culler[1:3] == ["-m", "jupyterhub_idle_culler"] and "--timeout=3600" in culler
    assert not any("--cull-users" in c for c in culler)  # servers only, apps are not culled
    settings["culler"]["enabled"] = False
    assert "idle-culler" not in {s["name"] for s in hubconfig.services(settings)}


def test_default_url_sends_planners_to_the_gallery(settings):
    default_url = hubconfig.make_default_url(settings)
    handler = lambda user: SimpleNamespace(current_user=user)  # noqa: E731
    pia = SimpleNamespace(name="pia")
    ana = SimpleNamespace(name="ana")
    planner, analyst = scopes_of(settings, ["planners"], "pia"), scopes_of(settings, ["analysts"], "ana")
    orig = hubconfig.may_spawn
    try:
        hubconfig.may_spawn = lambda user, scopes=None: orig(user, {"pia": planner, "ana": analyst}[user.name])
        assert default_url(handler(pia)) == "/services/bif-apps/"
        assert default_url(handler(ana)) == "/hub/home"
    finally:
        hubconfig.may_spawn = orig
    assert default_url(handler(None)) == "/hub/login"


def test_jupyterhub_config_file_builds_the_configuration(settings):
    c = Config()
    runpy.run_path(str(hubconfig.config.PROJECT_ROOT / "hub_config" / "jupyterhub_config.py"),
                   init_globals={"get_config": lambda: c})
    hub = c.JupyterHub
    assert hub.cleanup_servers is False and c.ConfigurableHTTPProxy.should_start is False
    assert hub.authenticator_class.__name__ == "BIFLocalAuthenticator"
    assert c.Authenticator.manage_groups is True
    assert hub.spawner_class is hubconfig.BIFSpawner and c.Spawner.default_url == "/lab"
    assert hub.bind_url == "http://127.0.0.1:8000/" and hub.hub_bind_url == "http://127.0.0.1:8081"
    assert list(hub.custom_scopes) == [PUBLISH_SCOPE]
    assert str(settings.hub_dir) in hub.db_url
    assert callable(hub.default_url)
    assert {s["name"] for s in hub.services} == {APPS_SERVICE, "bif-platform", "idle-culler", "bif-training"}


def test_spawner_refuses_to_start_without_an_account(settings):
    spawner = hubconfig.BIFSpawner(bif_settings=settings)
    assert spawner.cmd == [hubconfig.SINGLEUSER]
    with pytest.raises(RuntimeError, match="refusing"):
        spawner.make_preexec_fn("ana")  # never fall back to running a server as root


def test_spawner_in_single_account_mode(settings, tmp_path):
    """Without separate accounts the server runs as the hub's account, home under BIF_HOME."""
    import os
    import pwd

    settings["accounts"]["mode"] = "single"
    user = SimpleNamespace(name="ana", groups=[SimpleNamespace(name="analysts")])
    spawner = hubconfig.BIFSpawner(bif_settings=settings, user=user)
    account = spawner._prepare_account()
    assert account.name == pwd.getpwuid(os.getuid()).pw_name
    assert account.home == settings.single_homes_dir / "ana" and (account.home / "Vorlagen").is_dir()
    spawner.account = account
    env = spawner.user_env({})
    assert env["HOME"] == str(account.home) and env["USER"] == account.name
    assert spawner.make_preexec_fn("ana") is not None
