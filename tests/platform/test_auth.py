"""Passwords, the local user store, group mapping and the three authenticators (unit level;
the real logins are in test_hub.py and test_ldap.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading

import pytest
from traitlets.config import Config

from bif_lib.platform import auth, hubconfig
from bif_lib.platform.settings import load_settings


def run(coroutine):
    """asyncio.run in a worker thread: the session's Playwright browser keeps an event loop
    running on the main thread, where asyncio.run is not allowed."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def fast_hashing(monkeypatch):
    """Cheaper scrypt for tests that are not about the hash parameters (read from each hash)."""
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)


# --- passwords -------------------------------------------------------------------------------

def test_scrypt_hash_roundtrip():
    hashed = auth.hash_password("Kiel-Flensburg-2024")
    assert hashed.startswith("scrypt$65536$8$2$") and "Kiel" not in hashed
    assert auth.verify_password("Kiel-Flensburg-2024", hashed)
    assert not auth.verify_password("kiel-flensburg-2024", hashed)
    assert auth.hash_password("Kiel-Flensburg-2024") != hashed  # salted


@pytest.mark.parametrize("stored", ["", "plain", "md5$abc", "scrypt$x$8$1$AAAA$BBBB"])
def test_broken_hashes_never_verify(stored):
    assert not auth.verify_password("egal", stored)


def test_generated_passwords_are_random_and_unambiguous():
    passwords = {auth.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 16 and not set(p) & set("0O1lI") for p in passwords)


# --- user store --------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, fast_hashing):
    return auth.UserStore(tmp_path / "hub" / "users.json", min_password_length=12)


def test_store_lifecycle(store):
    store.add("MMeier", ["analysts", "trainers"], "sehr-geheim-123")
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.authenticate("mmeier", "sehr-geheim-123") == ["analysts", "trainers"]
    assert store.authenticate("mmeier", "falsch-falsch-1") is None
    assert store.authenticate("niemand", "sehr-geheim-123") is None
    store.set_groups("mmeier", ["planners"])
    assert store.get("mmeier")["groups"] == ["planners"]
    store.set_password("mmeier", "noch-geheimer-456")
    assert store.authenticate("mmeier", "sehr-geheim-123") is None
    assert store.authenticate("mmeier", "noch-geheimer-456") == ["planners"]
    store.remove("mmeier")
    assert store.users() == {}
    assert "sehr-geheim" not in store.path.read_text()


@pytest.mark.parametrize("call, message", [
    (lambda st: st.add("root user", ["analysts"], "x" * 12), "Ungültiger Benutzername"),
    (lambda st: st.add("anna", ["chefs"], "x" * 12), "Unbekannte Gruppe"),
    (lambda st: st.add("anna", [], "x" * 12), "Mindestens eine Gruppe"),
    (lambda st: st.add("anna", ["analysts"], "kurz"), "zu kurz"),
    (lambda st: st.set_groups("niemand", ["analysts"]), "existiert nicht"),
    (lambda st: st.remove("niemand"), "existiert nicht"),
])
def test_store_refusals(store, call, message):
    with pytest.raises(auth.UserStoreError, match=message):
        call(store)


def test_duplicate_user_refused(store):
    store.add("anna", ["analysts"], "x" * 12)
    with pytest.raises(auth.UserStoreError, match="existiert bereits"):
        store.add("Anna", ["planners"], "y" * 12)


def test_concurrent_writers_do_not_lose_users(store):
    names = [f"nutzer{i}" for i in range(8)]
    threads = [threading.Thread(target=store.add, args=(n, ["planners"], "passwort-1234")) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.users()) == sorted(names)


# --- group mapping -------------------------------------------------------------------------------

def test_map_groups_is_case_insensitive_and_ignores_unknown():
    mapping = {"CN=BIF-Analyse,OU=Gruppen,DC=stadt,DC=de": "analysts", "cn=stat,dc=de": "statistikstelle"}
    found = ["cn=bif-analyse,ou=gruppen,dc=stadt,dc=de", "cn=kantine,dc=de"]
    assert auth.map_groups(found, mapping) == ["analysts"]
    assert auth.map_groups([], mapping) == []


# --- authenticators ----------------------------------------------------------------------------

def authenticator(settings, cls=None):
    c = Config()
    for section, values in hubconfig.authenticator_config(settings).items():
        for key, value in values.items():
            setattr(c[section], key, value)
    c.Authenticator.manage_groups = True
    return (cls or auth.authenticator_for(settings))(config=c)


def test_local_authenticator_returns_groups_and_admin(tmp_path, monkeypatch, fast_hashing):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    settings = load_settings(environ={})
    store = auth.UserStore.from_settings(settings)
    store.add("ida", ["admins", "analysts"], "ida-passwort-1")
    store.add("paul", ["planners"], "paul-passwort-1")
    a = authenticator(settings)
    assert isinstance(a, auth.BIFLocalAuthenticator) and a.manage_groups

    model = run(a.authenticate(None, {"username": " IDA ", "password": "ida-passwort-1"}))
    assert model == {"name": "ida", "groups": ["admins", "analysts"], "admin": False}
    assert a.check_allowed("ida", model)
    model = run(a.authenticate(None, {"username": "paul", "password": "paul-passwort-1"}))
    assert model["admin"] is False and model["groups"] == ["planners"]
    assert run(a.authenticate(None, {"username": "paul", "password": "falsch"})) is None
    assert run(a.authenticate(None, {"username": "../etc", "password": "x"})) is None
    assert not a.check_allowed("x", {"name": "x", "groups": []})


def test_ldap_configuration_from_settings(monkeypatch):
    monkeypatch.setenv("BIF_LDAP_BIND_PASSWORD", "bind-geheim")
    settings = load_settings(environ={"BIF_AUTH_BACKEND": "ldap"})
    a = authenticator(settings)
    assert type(a).__name__ == "BIFLDAPAuthenticator"
    assert a.server_address == "ldap.example.org" and a.lookup_dn
    assert a.tls_strategy.name == "before_bind"  # StartTLS before the password is sent
    assert a.tls_kwargs["validate"] == ssl.CERT_REQUIRED  # ldap3 would not check certificates
    assert a.lookup_dn_search_password == "bind-geheim"
    assert a.lookup_dn_user_dn_attribute == "uid"
    assert sorted(a.allowed_groups) == sorted(settings.auth.ldap.group_mapping)
    assert a.manage_groups


def test_oidc_configuration_and_group_claims(monkeypatch):
    """No Keycloak here: the configuration and the claim -> group mapping are checked."""
    monkeypatch.setenv("BIF_OIDC_CLIENT_SECRET", "client-geheim")
    settings = load_settings(environ={"BIF_AUTH_BACKEND": "oidc", "BIF_HUB_PUBLIC_URL": "https://bif.flensburg.de"})
    a = authenticator(settings)
    assert type(a).__name__ == "BIFOIDCAuthenticator"
    issuer = "https://keycloak.example.org/realms/stadt/protocol/openid-connect"
    assert (a.authorize_url, a.token_url, a.userdata_url) == (f"{issuer}/auth", f"{issuer}/token",
                                                              f"{issuer}/userinfo")
    assert a.client_id == "bif" and a.client_secret == "client-geheim"
    assert a.oauth_callback_url == "https://bif.flensburg.de/hub/oauth_callback"
    assert a.username_claim == "preferred_username" and "openid" in a.scope
    assert a.manage_groups and a.admin_groups == set()  # operators are no hub admins
    assert a.allowed_groups == set(auth.BIF_GROUPS)

    state = {"oauth_user": {"preferred_username": "mmeier", "groups": ["/bif-analyse", "bif-admins", "kantine"]}}
    assert a.get_user_groups(state) == {"analysts", "admins"}
    assert a.get_user_groups({"oauth_user": {"groups": "statistikstelle"}}) == {"statistikstelle"}
    assert a.get_user_groups({"oauth_user": {}}) == set()

    # the full oauthenticator path: groups, admin flag, allowed
    model = {"name": "mmeier", "admin": None, "auth_state": state}  # as oauthenticator builds it
    model = run(a._apply_managed_groups(run(a.update_auth_model(model))))
    assert model["groups"] == ["admins", "analysts"] and model["admin"] is False
    assert run(a.check_allowed("mmeier", model))
    outsider = run(a._apply_managed_groups({"name": "k", "admin": None, "auth_state": {"oauth_user": {"groups": ["kantine"]}}}))
    assert not run(a.check_allowed("k", outsider))


def test_bif_authenticators_manage_groups_without_being_told():
    # the hub config sets it too; any other configuration must not get users without groups
    from bif_lib.platform.auth import BIFLDAPAuthenticator, BIFLocalAuthenticator

    assert BIFLocalAuthenticator().manage_groups is True
    assert BIFLDAPAuthenticator().manage_groups is True
