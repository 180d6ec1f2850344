"""LDAP / Active Directory login against a real OpenLDAP server (slapd), through the real hub.

The directory holds users in groupOfNames groups; settings.yaml's ``group_mapping`` maps
the group DNs to BIF groups. The hub looks the user's DN up with a search account
(``lookup_dn``, as with Active Directory), binds as the user and maps the groups.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def groups_of(hub, name: str) -> list[str]:
    return sorted(hub.api("GET", f"/users/{name}").json()["groups"])


@pytest.fixture
def pw(slapd):
    return lambda uid: slapd.users[uid][0]


def test_directory_groups_become_bif_groups(ldap_hub, pw):
    anna = ldap_hub.session("anna", pw("anna"))
    assert anna.login_status == 302 and anna.login_location.endswith("/hub/home")
    assert groups_of(ldap_hub, "anna") == ["analysts"]

    paul = ldap_hub.session("paul", pw("paul"))
    assert paul.login_status == 302 and paul.login_location.endswith("/services/bif-apps/")
    assert groups_of(ldap_hub, "paul") == ["planners"]
    assert ldap_hub.api("GET", "/users/paul").json()["admin"] is False

    stella = ldap_hub.session("stella", pw("stella"))
    assert stella.login_status == 302
    assert groups_of(ldap_hub, "stella") == ["analysts", "statistikstelle"]


def test_wrong_password_and_outsiders_are_refused(ldap_hub, pw):
    assert ldap_hub.session("anna", "falsches-passwort").login_status == 403
    assert ldap_hub.session("anna", "").login_status == 403
    assert ldap_hub.session("niemand", "irgendwas-123").login_status == 403
    # nora exists in the directory but is in no mapped group
    assert ldap_hub.session("nora", pw("nora")).login_status == 403
    assert ldap_hub.api("GET", "/users/nora").status_code == 404


def test_planner_from_directory_cannot_spawn(ldap_hub, pw):
    paul = ldap_hub.session("paul", pw("paul"))
    r = paul.post(f"{ldap_hub.url}hub/api/users/paul/server",
                  headers={"X-XSRFToken": paul.cookies.get("_xsrf", path="/hub/")})
    assert r.status_code == 403
