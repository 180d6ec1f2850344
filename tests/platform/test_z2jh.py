"""hub_config/z2jh/values.yaml (Zero to JupyterHub) stays consistent with the local hub."""

from __future__ import annotations

import pytest
import yaml

from bif_lib.platform import hubconfig
from bif_lib.platform.settings import APPS_SERVICE, PUBLISH_SCOPE, load_settings

VALUES = hubconfig.config.PROJECT_ROOT / "hub_config" / "z2jh" / "values.yaml"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    return load_settings(environ={})


@pytest.fixture
def values() -> dict:
    return yaml.safe_load(VALUES.read_text(encoding="utf-8"))


def test_committed_values_are_generated_from_settings(settings):
    assert VALUES.read_text(encoding="utf-8") == hubconfig.write_z2jh_values(settings), (
        "hub_config/z2jh/values.yaml is out of date: "
        "run `bif platform z2jh-values -o hub_config/z2jh/values.yaml`")


def test_same_roles_scopes_and_groups_as_the_local_hub(settings, values):
    local = {r["name"]: r for r in hubconfig.load_roles(settings)
             if r["name"] not in ("idle-culler-service", "bif-training-service")}
    remote = values["hub"]["loadRoles"]
    assert set(remote) == set(local)
    for name, role in local.items():
        assert sorted(remote[name].get("scopes", [])) == sorted(role.get("scopes", [])), name
        assert sorted(remote[name].get("groups", [])) == sorted(role.get("groups", [])), name
        assert remote[name].get("services", []) == role.get("services", []), name
    groups = {g for r in remote.values() for g in r.get("groups", [])}
    assert groups == set(settings["groups"])
    assert values["hub"]["config"]["JupyterHub"]["custom_scopes"] == hubconfig.custom_scopes(settings)
    assert PUBLISH_SCOPE in values["hub"]["config"]["JupyterHub"]["custom_scopes"]


def test_same_services_and_culler(settings, values):
    local = {s["name"]: s for s in hubconfig.services(settings, with_tokens=False)}
    remote = values["hub"]["services"]
    # the idle culler is built into the chart (cull:); training cohorts need local accounts,
    # which Kubernetes does not have; the rest are the same services
    assert set(remote) == set(local) - {"idle-culler", "bif-training"}
    assert remote[APPS_SERVICE]["oauth_client_allowed_scopes"] == local[APPS_SERVICE]["oauth_client_allowed_scopes"]
    assert "api_token" not in remote[APPS_SERVICE]  # from a Kubernetes secret, never in values
    cull = values["cull"]
    assert cull["enabled"] and cull["users"] is False
    assert cull["timeout"] == settings["culler"]["timeout"] and cull["every"] == settings["culler"]["every"]


def test_groups_and_lab_defaults(settings, values):
    hub = values["hub"]["config"]
    assert hub["Authenticator"]["manage_groups"] is True
    assert hub["JupyterHub"]["authenticator_class"].startswith("bif_lib.platform.auth.BIF")
    assert values["singleuser"]["defaultUrl"] == "/lab"
    assert "make_default_url" in values["hub"]["extraConfig"]["bif"]


def test_store_areas_become_pod_mounts(settings):
    mounts = lambda groups: {m["subPath"] for m in hubconfig.z2jh_store_mounts(groups, settings)}  # noqa: E731
    assert mounts(["analysts"]) == {"catalog", "open", "internal"}
    assert mounts(["statistikstelle"]) == {"catalog", "open", "internal", "confidential"}
    assert mounts(["admins"]) == {"catalog", "open", "internal"}
    assert mounts([]) == {"catalog", "open"}


def test_hub_and_catalog_in_postgresql_read_with_the_readers_role(settings, values):
    assert values["hub"]["db"]["type"] == "postgres" and "@" in values["hub"]["db"]["url"]
    assert ":" not in values["hub"]["db"]["url"].split("://", 1)[1].split("@")[0]  # no password in the values
    env = values["singleuser"]["extraEnv"]
    assert env["BIF_CATALOG_URL"].startswith("postgresql://")
    assert env["BIF_CATALOG_USER"] == settings["catalog"]["reader_role"]
    assert env["BIF_CATALOG_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "reader-password"
    assert "writer" not in str(values["singleuser"])  # the writers' role never reaches a pod of a person
