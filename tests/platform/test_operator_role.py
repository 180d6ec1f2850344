"""Operators run the platform without reaching the sealed Statistikstelle.

The group ``admins`` has the role ``bif-operator`` instead of JupyterHub's built-in
``admin``: admin page, people, servers' start/stop, hub health, group changes outside the
office — but no access to other people's servers, no tokens for them, no changes to the
office's membership and no way to make anyone a hub admin. Checked against JupyterHub's own
scope expansion, and against the real hub with the operator's cookie and its own token.

Admission to the office is break-glass only (``bif office``): an operator requests, a
different member approves from their own OS account (identity from the kernel via the audit
service), ``apply`` admits — every step in the audit trail. Run end to end with real OS
accounts (``runuser``).
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from bif_lib import audit, config
from bif_lib.cli import office as office_cli
from bif_lib.cli import training as training_cli
from bif_lib.cli import users as users_cli
from bif_lib.platform import accounts, auth, hubconfig, launcher, office
from bif_lib.platform import settings as settings_mod
from bif_lib.platform.settings import OFFICE_GROUP, load_settings

OPERATOR, OPERATOR_PW = "or-olga", "olga-passwort-123"
MEMBER, MEMBER_PW = "or-stella", "stella-passwort-123"
ANALYST, ANALYST_PW = "or-anton", "anton-passwort-123"
SECOND, SECOND_PW = "or-sven", "sven-passwort-123"
PLANNER, PLANNER_PW = "or-paula", "paula-passwort-123"


# --- the role itself, through JupyterHub's own scope expansion ------------------------------------

@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)
    # no OS accounts from these tests (an operator machine may have real bif-… accounts)
    return load_settings(environ={"BIF_ACCOUNT_MODE": "single"})


def expanded(settings, groups: list[str], name: str) -> set[str]:
    from jupyterhub import orm
    from jupyterhub import scopes as hub_scopes
    from jupyterhub.roles import get_default_roles

    hub_scopes.define_custom_scopes(hubconfig.custom_scopes(settings))
    defaults = {r["name"]: r for r in get_default_roles()}
    raw: set[str] = set()
    for role in hubconfig.load_roles(settings):
        if role["name"] == "user" or set(role.get("groups", [])) & set(groups) or name in role.get("users", []):
            raw.update(role.get("scopes") or defaults.get(role["name"], {}).get("scopes", []))
    return set(hub_scopes.expand_scopes(frozenset(raw), owner=orm.User(name=name)))


def test_operators_get_bif_operator_and_nobody_gets_admin(settings):
    roles = {r["name"]: r for r in hubconfig.load_roles(settings)}
    assert roles["bif-operator"]["groups"] == ["admins"]
    assert settings["groups"]["admins"]["roles"][0] == "bif-operator"
    # the built-in role is declared with empty member lists: the hub strips it from everyone
    assert {k: roles["admin"][k] for k in ("users", "groups", "services")} == {"users": [], "groups": [],
                                                                              "services": []}
    assert not any("admin" in spec["roles"] for spec in settings["groups"].values())

    got = expanded(settings, ["admins"], "olga")
    for scope in ("admin-ui", "list:users", "read:users", "read:hub", "start:servers", "delete:servers",
                  "read:servers", "delete:users", "list:groups", "groups!group=analysts",
                  "groups!group=planners", "groups!group=trainers"):
        assert scope in got, scope
    # own server and own tokens only
    assert {s for s in got if s.startswith("access:servers")} == {"access:servers!user=olga"}
    assert {s for s in got if s.startswith("tokens")} == {"tokens!user=olga"}
    assert not {s for s in got if s.startswith(("admin:users", "admin:servers", "admin:server_state",
                                                "admin:groups", "delete:groups", "shares", "admin:auth_state"))}
    groups_scopes = {s for s in got if s.split("!")[0] == "groups"}
    assert groups_scopes == {"groups!group=analysts", "groups!group=planners", "groups!group=trainers"}


def test_scope_reasoning_holds_for_the_installed_jupyterhub():
    """The comment at the default roles (settings_schema.yaml) reasons with JupyterHub's hierarchy;
    if it changes, this fails."""
    from jupyterhub.scopes import _expand_scope

    assert {"tokens", "groups", "admin:groups", "access:servers"}.isdisjoint(_expand_scope("admin:users"))
    assert "users" in _expand_scope("admin:users")  # admin:users writes user models (renames)
    servers = _expand_scope("servers")
    assert {"start:servers", "delete:servers", "read:servers"} <= servers
    assert {"access:servers", "admin:server_state", "tokens"}.isdisjoint(servers)
    assert "admin:server_state" in _expand_scope("admin:servers")
    assert "access:servers" in _expand_scope("shares")  # why `shares` is refused too
    assert "groups" in _expand_scope("admin:groups")


def write_settings(tmp_path, data: dict) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d["groups"]["admins"]["roles"].append("admin"), "admins dürfen nicht an JupyterHubs eingebaute"),
    (lambda d: d["groups"]["admins"]["roles"].__setitem__(0, "admin"), "bif-operator"),
    (lambda d: d["groups"]["trainers"]["roles"].append("admin"), "Gruppe trainers: JupyterHubs eingebaute"),
    (lambda d: d["roles"].update(admin={"scopes": ["admin:users"]}), "eingebaute Admin-Rolle"),
    (lambda d: d["groups"]["analysts"]["data_areas"].append("confidential"), "Gruppe analysts: den vertraulichen"),
    (lambda d: d["groups"]["admins"]["data_areas"].append("confidential"), "Statistikgeheimnis"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("access:servers"), "öffnet fremde JupyterLab-Server"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("access:servers!group=statistikstelle"),
     "öffnet fremde"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("shares"), "öffnet fremde"),  # implies access:servers
    (lambda d: d["roles"]["bif-lab"]["scopes"].append("tokens"), "Tokens für andere"),
    (lambda d: d["roles"]["user"]["scopes"].append("tokens!user=stella"), "Tokens für andere"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("admin:users"), "admin:users"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("groups"), "ohne Filter, der die Statistikstelle"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("admin:groups"), "ohne Filter"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("groups!group=statistikstelle"), "nie für"),
    (lambda d: d["roles"]["bif-operator"]["scopes"].append("delete:groups"), "ohne Filter"),
    (lambda d: d["roles"].update({"office-admin": {"scopes": ["groups"]}})
     or d["groups"]["statistikstelle"]["roles"].append("office-admin"), "ohne Filter"),  # not even members
    (lambda d: d["auth"]["ldap"].update(admin_users=["mmeier"]), "auth.ldap.admin_users"),
    (lambda d: d["auth"]["oidc"].update(admin_groups=["bif-admins"]), "auth.oidc.admin_groups"),
])
def test_settings_that_open_the_office_are_refused(tmp_path, change, message):
    data = settings_mod.with_defaults(settings_mod.read_yaml(settings_mod.DEFAULT_SETTINGS_FILE))
    load_settings(write_settings(tmp_path, data), environ={})  # the shipped file is fine
    broken = copy.deepcopy(data)
    change(broken)
    with pytest.raises(settings_mod.SettingsError, match=re.escape(message)):
        load_settings(write_settings(tmp_path, broken), environ={})


def test_allowed_filters_pass(tmp_path):
    data = settings_mod.with_defaults(settings_mod.read_yaml(settings_mod.DEFAULT_SETTINGS_FILE))
    data["roles"]["bif-operator"]["scopes"] += ["groups!group=admins", "admin:groups!group=planners"]
    data["roles"]["bif-lab"]["scopes"] += ["self"]
    load_settings(write_settings(tmp_path, data), environ={})


def test_nobody_becomes_hub_admin_through_the_authenticators(settings, monkeypatch):
    from traitlets.config import Config

    assert auth.auth_model("olga", ["admins"])["admin"] is False

    c = Config()
    hubconfig.configure(c, settings)
    assert c.Authenticator.admin_users == set()
    assert c.BIFLocalAuthenticator.admin_users == []
    admin = next(r for r in c.JupyterHub.load_roles if r["name"] == "admin")
    assert admin["users"] == admin["groups"] == admin["services"] == []

    monkeypatch.setenv("BIF_OIDC_CLIENT_SECRET", "x")
    oidc_settings = load_settings(environ={"BIF_AUTH_BACKEND": "oidc", "BIF_ACCOUNT_MODE": "single"})
    section = hubconfig.authenticator_config(oidc_settings)["BIFOIDCAuthenticator"]
    assert section["admin_users"] == [] and section["admin_groups"] == []
    cls = auth.authenticator_for(oidc_settings)
    authenticator = cls(config=Config({"BIFOIDCAuthenticator": section}))
    assert authenticator.admin_groups == set()
    from test_auth import run  # asyncio.run off the main thread (Playwright's loop may run there)

    state = {"oauth_user": {"preferred_username": "olga", "groups": ["bif-admins"]}}
    model = run(authenticator.update_auth_model({"name": "olga", "admin": True, "auth_state": state}))
    model = run(authenticator._apply_managed_groups(model))
    assert model["groups"] == ["admins"] and model["admin"] is False

    ldap_settings = load_settings(environ={"BIF_AUTH_BACKEND": "ldap", "BIF_ACCOUNT_MODE": "single"})
    assert hubconfig.authenticator_config(ldap_settings)["BIFLDAPAuthenticator"]["admin_users"] == []
    values = hubconfig.z2jh_values(settings)
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == []
    assert values["hub"]["loadRoles"]["admin"]["groups"] == []


# --- the ordinary account commands refuse the office --------------------------------------------------

@pytest.fixture
def bif(settings, cli_runner):
    return cli_runner((users_cli, training_cli, office_cli))


def test_users_and_training_never_put_anyone_into_the_office(bif, settings):
    store = auth.UserStore.from_settings(settings)
    code, _, err = bif("users", "add", "eve", "-g", "analysts", "-g", OFFICE_GROUP, "--generate")
    assert code == 1 and "Break-glass" in err and "bif office request" in err
    assert store.get("eve") is None

    assert bif("users", "add", "eve", "-g", "analysts", "--generate")[0] == 0
    code, _, err = bif("users", "set-groups", "eve", "-g", OFFICE_GROUP)
    assert code == 1 and "bif office request" in err
    assert store.get("eve")["groups"] == ["analysts"]

    with pytest.raises(SystemExit):  # cohorts are participants, no group to choose (tests/training)
        bif("training", "start", "kurs", "--size", "2", "--group", OFFICE_GROUP)
    assert not store.get("kurs-01")
    assert bif("training", "start", "kurs", "--size", "1")[0] == 0  # the ordinary way still works

    # the first member through `bif office init`; leaving only through `bif office remove`
    code, out, _ = bif("office", "init", "eve")
    assert code == 0 and "erste Mitglied" in out
    assert store.get("eve")["groups"] == ["analysts", OFFICE_GROUP]
    code, _, err = bif("users", "set-groups", "eve", "-g", "analysts")
    assert code == 1 and "bif office remove eve" in err
    assert bif("users", "set-groups", "eve", "-g", OFFICE_GROUP, "-g", "trainers")[0] == 0  # staying is fine
    assert store.get("eve")["groups"] == ["statistikstelle", "trainers"]


def office_entries(settings, event: str | None = None) -> list[dict]:
    entries = audit.entries(office.audit_directory(settings))
    return [e for e in entries if event is None or e["event"] == event]


def test_init_happens_once_and_every_step_is_logged(bif, settings):
    store = auth.UserStore.from_settings(settings)
    store.add("kim", ["analysts"], "kim-passwort-123")
    code, _, err = bif("office", "request", "kim", "--reason", "Vertretung im Sommer")
    assert code == 1 and "noch kein Mitglied" in err and "bif office init" in err

    code, out, _ = bif("office", "init", "erna", "--generate")  # a new account, directly in the office
    assert code == 0 and "Passwort: " in out
    assert store.get("erna")["groups"] == [OFFICE_GROUP]
    code, _, err = bif("office", "init", "kim")
    assert code == 1 and "bereits eingerichtet" in err and "nur einmal" in err
    assert OFFICE_GROUP not in store.get("kim")["groups"]

    code, _, err = bif("office", "request", "kim", "--reason", "kurz")
    assert code == 1 and "Begründung" in err
    bif("training", "start", "kurs", "--size", "1")
    code, _, err = bif("office", "request", "kurs-01", "--reason", "Schulungskonto zum Test")
    assert code == 1 and "Schulungskonto" in err
    code, out, _ = bif("office", "request", "kim", "--reason", "Vertretung im Sommer")
    assert code == 0
    request_id = re.search(r"Antrag ([0-9a-f]{6})", out).group(1)
    code, _, err = bif("office", "request", "kim", "--reason", "noch einmal beantragt")
    assert code == 1 and request_id in err
    if os.geteuid() == 0:  # as root: refused, an approval needs a person's own account
        code, _, err = bif("office", "approve", request_id)
        assert code == 1 and "nicht als root" in err
    code, out, _ = bif("office", "list")
    assert code == 0 and "erna" in out and "Ersteinrichtung" in out and request_id in out

    # leaving: the other groups stay; with none left the operator must say which
    code, _, err = bif("office", "remove", "erna")
    assert code == 1 and "keiner Gruppe" in err
    code, out, _ = bif("office", "remove", "erna", "--group", "analysts", "--reason", "Wechsel ins Bauamt")
    assert code == 0 and store.get("erna")["groups"] == ["analysts"]
    # an office member whose account is deleted leaves the office on record
    store.add("ulf", ["planners"], "ulf-passwort-123")
    store.set_groups("ulf", ["planners", OFFICE_GROUP])  # by hand, outside the procedure …
    code, out, _ = bif("office", "list")
    assert "WARNUNG" in out and "ulf" in out  # … which the overview reports
    assert bif("users", "remove", "ulf")[0] == 0

    events = [(e["event"], e["details"].get("name")) for e in office_entries(settings) if e["event"].startswith("office-")]
    assert events == [("office-init", "erna"), ("office-request", "kim"), ("office-remove", "erna"),
                      ("office-remove", "ulf")]
    request = office_entries(settings, "office-request")[0]["details"]
    assert request["reason"] == "Vertretung im Sommer" and request["request"] == request_id
    assert audit.verify(office.audit_directory(settings)) == []
    state_file = office.state_path(settings)
    assert state_file.stat().st_mode & 0o777 == 0o600
    state = json.loads(state_file.read_text())
    assert state["init"]["name"] == "erna" and state["requests"][request_id]["status"] == "open"


def test_demo_office_account_comes_through_office_init(settings):
    first = launcher.ensure_demo_users(settings)
    store = auth.UserStore.from_settings(settings)
    assert store.authenticate("demo-statistik", first["demo-statistik"]) == [OFFICE_GROUP]
    inits = office_entries(settings, "office-init")
    assert [e["details"]["name"] for e in inits] == ["demo-statistik"]
    assert office.load_state(settings)["init"]["name"] == "demo-statistik"
    assert launcher.ensure_demo_users(settings) == first  # kept, no second init
    assert len(office_entries(settings, "office-init")) == 1
    with pytest.raises(office.OfficeError, match="bereits eingerichtet"):
        office.init(settings, "demo-analyse")


# --- against the running hub ----------------------------------------------------------------------

def run_bif(hub, *argv, account: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The ``bif`` command as root, or with ``account`` as that real OS account (runuser)."""
    environment = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                   "BIF_HOME": str(hub.settings.home), "BIF_HUB_SETTINGS": str(hub.settings.source_file),
                   "PYTHONPATH": str(config.PROJECT_ROOT), **(env or {})}
    cmd = [sys.executable, "-m", "bif_lib.cli", *argv]
    if account:
        cmd = ["runuser", "-u", account, "--", "env", *[f"{k}={v}" for k, v in environment.items()], *cmd]
    return subprocess.run(cmd, env=environment, capture_output=True, text=True, cwd="/", timeout=180)


def xsrf(session) -> str:
    return session.cookies.get("_xsrf", path="/hub/")


def wait_stopped(hub, user: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (hub.api("GET", f"/users/{user}").json().get("servers") or {}):
            return
        time.sleep(0.5)
    raise AssertionError(f"server of {user} still there after {timeout} s")


@pytest.fixture(scope="module")
def ohub(running_hub):
    """The running hub with an operator, an analyst, a planner, and the Statistikstelle set up
    through `bif office init` (its first member). Real OS accounts for the people who run
    commands themselves; the audit service of the platform."""
    hub = running_hub
    store = auth.UserStore.from_settings(hub.settings)
    state = office.load_state(hub.settings)
    assert state["init"] is None and not office.store_members(store), (
        "the office of the shared test hub was already set up by another test module", state["init"])
    for name, groups, password in ((OPERATOR, ["admins"], OPERATOR_PW), (ANALYST, ["analysts"], ANALYST_PW),
                                   (SECOND, ["analysts"], SECOND_PW), (PLANNER, ["planners"], PLANNER_PW),
                                   (MEMBER, ["analysts"], MEMBER_PW)):
        hub.add_user(name, groups, password)
    result = run_bif(hub, "office", "init", MEMBER)
    assert result.returncode == 0, result.stderr
    for name in (OPERATOR, ANALYST, SECOND, MEMBER):
        accounts.ensure_user_account(name, store.get(name)["groups"], hub.settings)
    for name, password in ((OPERATOR, OPERATOR_PW), (ANALYST, ANALYST_PW), (SECOND, SECOND_PW),
                           (PLANNER, PLANNER_PW), (MEMBER, MEMBER_PW)):
        assert hub.session(name, password).login_status == 302, name  # the hub knows them and their groups
    socket_path = office.audit_directory(hub.settings) / audit.SOCKET_NAME
    serve = None
    if not socket_path.exists():  # the launcher starts it with separate accounts; else start one here
        serve = subprocess.Popen([sys.executable, "-m", "bif_lib.cli", "audit", "serve", "--group",
                                  hub.settings["accounts"]["confidential_group"]],
                                 env={**os.environ, "BIF_HOME": str(hub.settings.home),
                                      "PYTHONPATH": str(config.PROJECT_ROOT)})
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert time.monotonic() < deadline and serve.poll() is None, "audit service did not start"
            time.sleep(0.1)
    try:
        yield hub
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(10)


@pytest.fixture(scope="module")
def operator(ohub):
    """The operator's browser-like session (cookie) and an API token it minted for itself."""
    s = ohub.session(OPERATOR, OPERATOR_PW)
    assert s.login_status == 302, s.login_status
    r = s.post(f"{ohub.url}hub/api/users/{OPERATOR}/tokens", json={"note": "eigenes Token", "expires_in": 3600},
               headers={"X-XSRFToken": xsrf(s)})
    assert r.status_code == 201, r.text
    return s, r.json()["token"]


def as_operator(ohub, operator, how: str):
    """A request function acting as the operator, by cookie (+ XSRF) or by its own token."""
    session, token = operator

    def call(method: str, path: str, **kwargs) -> requests.Response:
        if how == "cookie":
            return session.request(method, f"{ohub.url}hub/api{path}", headers={"X-XSRFToken": xsrf(session)},
                                   timeout=60, **kwargs)
        return requests.request(method, f"{ohub.url}hub/api{path}", headers={"Authorization": f"token {token}"},
                                timeout=60, **kwargs)
    return call


# JupyterHub refuses with 403 when the scope is not held at all and with 404 "No access to
# resources or resources not found" when it is held only with a filter that does not cover the
# resource (so as not to reveal it). The tests check that the resource exists where it matters.


def refused(r: requests.Response) -> bool:
    return r.status_code == 403 or (r.status_code == 404 and "No access" in r.text)


def hub_groups(ohub, user: str) -> list[str]:
    return sorted(ohub.api("GET", f"/users/{user}").json()["groups"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_operator_uses_the_admin_page_and_reads_the_hub(ohub, operator):
    session, token = operator
    page = session.get(f"{ohub.url}hub/admin", timeout=30)
    assert page.status_code == 200 and "react-admin-hook" in page.text
    assert 'href="/hub/admin"' in session.get(f"{ohub.url}hub/home", timeout=30).text  # "Verwaltung"
    for how in ("cookie", "token"):
        call = as_operator(ohub, operator, how)
        names = {u["name"] for u in call("GET", "/users").json()}
        assert {OPERATOR, MEMBER, ANALYST} <= names, how
        assert call("GET", "/info").status_code == 200, how  # read:hub
        assert call("GET", "/groups").status_code == 200, how
    me = ohub.api("GET", f"/users/{OPERATOR}").json()
    assert me["admin"] is False and "admins" in me["groups"]
    # an analyst does not see the admin page: the scope decides, not a template
    analyst = ohub.session(ANALYST, ANALYST_PW)
    assert analyst.get(f"{ohub.url}hub/admin", timeout=30).status_code == 403


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["cookie", "token"])
def test_operator_cannot_change_the_office_or_make_admins(ohub, operator, how):
    call = as_operator(ohub, operator, how)
    before = hub_groups(ohub, MEMBER)
    assert OFFICE_GROUP in before
    office_group = call("GET", f"/groups/{OFFICE_GROUP}")  # it exists, and the operator may read it
    assert office_group.status_code == 200 and MEMBER in office_group.json()["users"]
    for body in ({"users": [OPERATOR]}, {"users": [ANALYST]}):
        r = call("POST", f"/groups/{OFFICE_GROUP}/users", json=body)
        assert refused(r), (body, r.status_code, r.text)
    r = call("DELETE", f"/groups/{OFFICE_GROUP}/users", json={"users": [MEMBER]})
    assert refused(r), r.text
    assert refused(call("DELETE", f"/groups/{OFFICE_GROUP}"))
    assert refused(call("POST", "/groups/neue-statistik", json={"users": [OPERATOR]}))
    assert refused(call("PUT", f"/groups/{OFFICE_GROUP}/properties", json={"x": 1}))
    assert refused(call("POST", "/groups/admins/users", json={"users": [ANALYST]}))
    assert call("GET", f"/groups/{OFFICE_GROUP}").json()["users"] == office_group.json()["users"]
    assert OFFICE_GROUP not in hub_groups(ohub, OPERATOR) and OFFICE_GROUP not in hub_groups(ohub, ANALYST)
    assert hub_groups(ohub, MEMBER) == before

    # nobody becomes a hub admin, and nobody is renamed (admin:users)
    assert refused(call("PATCH", f"/users/{ANALYST}", json={"admin": True}))
    assert refused(call("PATCH", f"/users/{OPERATOR}", json={"name": MEMBER + "2"}))
    assert refused(call("POST", "/users/or-neu", json={"admin": True}))
    assert refused(call("POST", "/users", json={"usernames": ["or-neu"], "admin": True}))
    users = ohub.api("GET", "/users").json()
    assert not any(u["admin"] for u in users) and "or-neu" not in {u["name"] for u in users}

    # no tokens for other people (they would carry their access), none beyond the own scopes
    for other in (MEMBER, ANALYST):
        r = call("POST", f"/users/{other}/tokens", json={"expires_in": 60})
        assert refused(r), (other, r.status_code, r.text)
        assert refused(call("GET", f"/users/{other}/tokens"))
    r = call("POST", f"/users/{OPERATOR}/tokens", json={"expires_in": 60, "scopes": [f"groups!group={OFFICE_GROUP}"]})
    assert r.status_code in (400, 403) and "token" not in r.json(), r.text
    r = call("POST", f"/users/{OPERATOR}/tokens", json={"expires_in": 60, "scopes": [f"access:servers!user={MEMBER}"]})
    assert r.status_code in (400, 403), r.text


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_operator_starts_and_stops_servers_but_never_opens_the_offices(ohub, operator):
    session, token = operator
    call = as_operator(ohub, operator, "cookie")
    # positive control: the member herself opens her server (so the refusals below are real)
    member = ohub.session(MEMBER, MEMBER_PW)
    assert member.login_status == 302
    assert OFFICE_GROUP in hub_groups(ohub, MEMBER)
    r = call("POST", f"/users/{MEMBER}/server")  # starting is operations …
    assert r.status_code in (201, 202), r.text
    ohub.wait_for_server(MEMBER)
    r = member.post(f"{ohub.url}hub/api/users/{MEMBER}/tokens", json={"expires_in": 600},
                    headers={"X-XSRFToken": xsrf(member)})
    member_token = r.json()["token"]
    assert requests.get(f"{ohub.url}user/{MEMBER}/api/status", headers={"Authorization": f"token {member_token}"},
                        timeout=30).status_code == 200
    # … opening it is not: with the cookie the server's OAuth flow is refused by the hub
    r = session.get(f"{ohub.url}user/{MEMBER}/lab", timeout=60)
    assert r.status_code == 403, (r.status_code, r.url)
    assert "/hub/api/oauth2/authorize" in r.url
    assert "jupyter-config-data" not in r.text and "jp-LabShell" not in r.text
    r = session.get(f"{ohub.url}user/{MEMBER}/api/contents", timeout=60)
    assert r.status_code >= 400 and r.status_code != 200
    # with the operator's own token the server refuses too
    r = requests.get(f"{ohub.url}user/{MEMBER}/api/contents", headers={"Authorization": f"token {token}"},
                     timeout=30)
    assert r.status_code in (403, 404), r.status_code
    # the hub's own /user/ page does not hand out access either
    assert session.get(f"{ohub.url}hub/user/{MEMBER}/lab", timeout=30, allow_redirects=False).status_code in (
        403, 404)
    r = call("DELETE", f"/users/{MEMBER}/server")  # stopping is operations
    assert r.status_code in (202, 204), r.text
    wait_stopped(ohub, MEMBER)

    # an analyst's server: start and stop, yes; open, no
    r = call("POST", f"/users/{ANALYST}/server")
    assert r.status_code in (201, 202), r.text
    ohub.wait_for_server(ANALYST)
    r = requests.get(f"{ohub.url}user/{ANALYST}/api/status", headers={"Authorization": f"token {token}"},
                     timeout=30)
    assert r.status_code in (403, 404)
    r = as_operator(ohub, operator, "token")("DELETE", f"/users/{ANALYST}/server")
    assert r.status_code in (202, 204), r.text
    wait_stopped(ohub, ANALYST)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_operator_manages_groups_outside_the_office(ohub, operator):
    for how in ("cookie", "token"):
        call = as_operator(ohub, operator, how)
        ohub.session(PLANNER, PLANNER_PW)  # the planner exists in the hub after logging in
        r = call("POST", "/groups/analysts/users", json={"users": [PLANNER]})
        assert r.status_code == 200, (how, r.text)
        assert "analysts" in hub_groups(ohub, PLANNER)
        r = call("DELETE", "/groups/analysts/users", json={"users": [PLANNER]})
        assert r.status_code == 200, (how, r.text)
        assert hub_groups(ohub, PLANNER) == ["planners"]


# --- break-glass, end to end -------------------------------------------------------------------------

def request_id_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return re.search(r"Antrag ([0-9a-f]{6})", result.stdout).group(1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_break_glass_admission_needs_a_second_person_and_is_logged(ohub):
    settings = ohub.settings
    store = auth.UserStore.from_settings(settings)
    account = {name: ohub.os_account(name) for name in (OPERATOR, ANALYST, SECOND, MEMBER)}
    confidential = settings["accounts"]["confidential_group"]

    def in_office(name: str) -> bool:
        import grp

        return OFFICE_GROUP in store.get(name)["groups"] or account[name] in grp.getgrnam(confidential).gr_mem

    # 1. the operator olga requests anton's admission (root, BIF_USER names the operator)
    first = request_id_of(run_bif(ohub, "office", "request", ANALYST, "--reason", "Vertretung Sommer 2026",
                                  env={"BIF_USER": OPERATOR}))
    # approvals that do not count: root, the person to be admitted, the operator (no members)
    r = run_bif(ohub, "office", "approve", first)
    assert r.returncode == 1 and "nicht als root" in r.stderr
    for who in (ANALYST, OPERATOR):
        r = run_bif(ohub, "office", "approve", first, account=account[who])
        assert r.returncode == 1 and "kein Mitglied der Statistikstelle" in r.stderr, (who, r.stdout, r.stderr)
    assert not in_office(ANALYST)

    # 2. stella, a member who also operates, requests sven's admission and approves it herself
    second = request_id_of(run_bif(ohub, "office", "request", SECOND, "--reason", "Neue Kollegin im Sachgebiet",
                                   env={"BIF_USER": MEMBER}))
    r = run_bif(ohub, "office", "approve", second, "--name", SECOND, account=account[MEMBER])
    assert r.returncode == 0, r.stderr  # recorded under her kernel-verified uid …
    r = run_bif(ohub, "office", "apply")
    assert r.returncode == 0 and "Vier-Augen-Prinzip" in r.stderr, (r.stdout, r.stderr)  # … and refused
    assert not in_office(SECOND)

    # 3. stella approves olga's request for anton: a different person, a member -> admitted
    r = run_bif(ohub, "office", "approve", first, "--name", ANALYST, account=account[MEMBER])
    assert r.returncode == 0, r.stderr
    assert not in_office(ANALYST)  # nothing happens before the root-side check
    r = run_bif(ohub, "office", "apply")
    assert r.returncode == 0 and f"{ANALYST} ist in die Statistikstelle aufgenommen" in r.stdout, r.stderr
    assert store.get(ANALYST)["groups"] == ["analysts", OFFICE_GROUP]
    import grp

    assert account[ANALYST] in grp.getgrnam(confidential).gr_mem  # the data area, at once
    assert ohub.session(ANALYST, ANALYST_PW).login_status == 302
    assert OFFICE_GROUP in hub_groups(ohub, ANALYST)  # and the hub follows at the next login

    # 4. anton, now a member admitted through the procedure, approves stella's request for sven
    r = run_bif(ohub, "office", "approve", second, account=account[ANALYST])
    assert r.returncode == 0, r.stderr
    r = run_bif(ohub, "office", "request", PLANNER, "--reason", "nur um apply auszulösen")  # a later request applies
    assert r.returncode == 0, r.stderr
    assert OFFICE_GROUP in store.get(SECOND)["groups"]

    r = run_bif(ohub, "office", "list")
    assert r.returncode == 0, r.stderr
    assert "Ersteinrichtung" in r.stdout and f"Zustimmung {MEMBER}" in r.stdout and f"Zustimmung {ANALYST}" in r.stdout
    assert "WARNUNG" not in r.stdout
    # a member reads the open requests from the audit trail (its readers are the office)
    r = run_bif(ohub, "office", "list", account=account[MEMBER])
    assert r.returncode == 0 and PLANNER in r.stdout and SECOND not in r.stdout, (r.stdout, r.stderr)

    # 5. removing is an operator's step, without a second person, on record
    r = run_bif(ohub, "office", "remove", ANALYST, "--reason", "Vertretung beendet")
    assert r.returncode == 0, r.stderr
    assert store.get(ANALYST)["groups"] == ["analysts"]
    assert account[ANALYST] not in grp.getgrnam(confidential).gr_mem

    # every step is in the audit trail, unaltered, approvals under the approvers' own uids
    trail = [e for e in audit.entries(office.audit_directory(settings)) if e["event"].startswith("office-")]
    steps = [(e["event"], e["details"].get("name"), e["user"]) for e in trail]
    assert steps == [
        ("office-init", MEMBER, "root"),
        ("office-request", ANALYST, OPERATOR),
        ("office-request", SECOND, MEMBER),
        ("office-approve", SECOND, MEMBER),
        ("office-approve", ANALYST, MEMBER),
        ("office-grant", ANALYST, "root"),
        ("office-approve", None, ANALYST),
        ("office-grant", SECOND, "root"),
        ("office-request", PLANNER, "root"),
        ("office-remove", ANALYST, "root"),
    ], steps
    for entry in (e for e in trail if e["event"] == "office-approve"):
        assert entry["uid"] == pwd.getpwnam(account[entry["user"]]).pw_uid and entry["account"] == account[entry["user"]]
    grants = {e["details"]["name"]: e["details"] for e in trail if e["event"] == "office-grant"}
    assert (grants[ANALYST]["approver"], grants[ANALYST]["requested_by"]) == (MEMBER, OPERATOR)
    assert (grants[SECOND]["approver"], grants[SECOND]["requested_by"]) == (ANALYST, MEMBER)
    assert audit.verify(office.audit_directory(settings)) == []
    shown = run_bif(ohub, "audit", "show", "--event", "office-grant",
                    env={"BIF_AUDIT_DIR": str(office.audit_directory(settings))})
    assert shown.returncode == 0 and shown.stdout.count("office-grant") == 2, shown.stdout + shown.stderr
    state_file = office.state_path(settings)
    assert state_file.stat().st_uid == 0 and state_file.stat().st_mode & 0o777 == 0o600
