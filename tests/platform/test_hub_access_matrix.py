"""The seal through the hub: every role × every hub way into the statistics office.

Each role logs in through the real login form (its cookie) and mints whatever token its roles
allow; with both it tries to join the office, to get a token for an office member, to make
itself admin and to open the office member's running JupyterLab. Only the member herself gets
in. (File reads, bif_lib and the audit trail per OS account: tests/seal; operators' admin page
and the break-glass procedure: test_operator_role.py.)
"""

from __future__ import annotations

import secrets
import time

import pytest
import requests

ROLES = {  # role -> BIF groups
    "analyst": ["analysts"],
    "planner": ["planners"],
    "trainer": ["trainers"],
    "participant": ["analysts"],  # training cohorts are analysts unless told otherwise
    "operator": ["admins"],
    "office2": ["statistikstelle"],  # another member of the office
}
REFUSED = (403, 404)  # JupyterHub answers 404 where a scope is held only for other resources


@pytest.fixture(scope="module")
def matrix(running_hub):
    tag = secrets.token_hex(2)
    people = {role: (f"m{tag}{role}", f"pw-{secrets.token_hex(8)}") for role in [*ROLES, "office"]}
    for role, (name, password) in people.items():
        running_hub.add_user(name, ROLES.get(role, ["statistikstelle"]), password)
    member, member_pw = people["office"]
    sessions = {role: running_hub.session(name, password) for role, (name, password) in people.items()}
    for session in sessions.values():  # the login syncs the groups into the hub
        assert session.login_status == 302
    started = running_hub.api("POST", f"/users/{member}/server")
    assert started.status_code in (201, 202), started.text
    deadline = time.monotonic() + 120
    while not running_hub.api("GET", f"/users/{member}").json()["servers"].get("", {}).get("ready"):
        assert time.monotonic() < deadline, "office member's server did not start"
        time.sleep(1)
    yield running_hub, people, sessions
    # leave the shared hub as found (test_operator_role.py sets up the office from scratch)
    from bif_lib.platform.auth import UserStore

    store = UserStore.from_settings(running_hub.settings)
    for name, _ in people.values():
        running_hub.api("DELETE", f"/users/{name}")
        store.remove(name)


def _cookie_call(hub, session, method, path, **kwargs):
    xsrf = session.cookies.get("_xsrf", path="/hub/") or ""
    return session.request(method, f"{hub.url}hub/api{path}", headers={"X-XSRFToken": xsrf},
                           timeout=30, **kwargs)


def _token_call(hub, token, method, path, **kwargs):
    return requests.request(method, f"{hub.url}hub/api{path}", headers={"Authorization": f"token {token}"},
                            timeout=30, **kwargs)


def _office_members(hub, people) -> set[str]:
    """Which of the test's people the hub has in the office group (read with the platform's token)."""
    return {name for name, _ in people.values()
            if "statistikstelle" in hub.api("GET", f"/users/{name}").json()["groups"]}


@pytest.mark.parametrize("role", list(ROLES))
def test_no_role_joins_the_office_or_reaches_its_data_through_the_hub(matrix, role):
    hub, people, sessions = matrix
    me, _ = people[role]
    member, _ = people["office"]
    session = sessions[role]
    members_before = _office_members(hub, people)

    # a token of its own: only roles with a JupyterLab may mint one (tokens!user)
    minted = _cookie_call(hub, session, "POST", f"/users/{me}/tokens", json={"note": "matrix"})
    lab_roles = {"analyst", "trainer", "participant", "operator", "office2"}
    assert (minted.status_code == 201) == (role in lab_roles), (role, minted.status_code, minted.text)
    calls = [lambda m, p, **kw: _cookie_call(hub, session, m, p, **kw)]
    if minted.status_code == 201:
        token = minted.json()["token"]
        calls.append(lambda m, p, **kw: _token_call(hub, token, m, p, **kw))

    for call in calls:
        joined = call("POST", "/groups/statistikstelle/users", json={"users": [me]})
        assert joined.status_code in REFUSED, (role, joined.status_code)
        for_member = call("POST", f"/users/{member}/tokens", json={"note": "fremd"})
        assert for_member.status_code in REFUSED, (role, for_member.status_code)
        admin = call("PATCH", f"/users/{me}", json={"admin": True})
        assert admin.status_code in REFUSED, (role, admin.status_code)
        groups = call("PATCH", f"/users/{member}", json={"groups": ["analysts"]})
        assert groups.status_code in REFUSED + (400,), (role, groups.status_code)
    assert _office_members(hub, people) == members_before
    assert not hub.api("GET", f"/users/{me}").json()["admin"]

    # the member's running JupyterLab: neither the cookie (OAuth) nor a token opens it
    lab = session.get(f"{hub.url}user/{member}/api/status", timeout=30, allow_redirects=True)
    assert lab.status_code in REFUSED, (role, lab.status_code)
    if minted.status_code == 201:
        direct = requests.get(f"{hub.url}user/{member}/api/status",
                              headers={"Authorization": f"token {token}"}, timeout=30)
        assert direct.status_code in REFUSED, (role, direct.status_code)


def test_the_member_herself_reaches_her_server(matrix):
    """Positive control: the refusals above are about who asks, not a broken server."""
    hub, people, sessions = matrix
    member, _ = people["office"]
    minted = _cookie_call(hub, sessions["office"], "POST", f"/users/{member}/tokens", json={"note": "selbst"})
    assert minted.status_code == 201
    status = requests.get(f"{hub.url}user/{member}/api/status",
                          headers={"Authorization": f"token {minted.json()['token']}"}, timeout=30)
    assert status.status_code == 200
