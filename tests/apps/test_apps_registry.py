"""The app registry: versions, current pointer, rollback, atomicity, failure safety."""

from __future__ import annotations

import json
import os
import threading

import pytest

from bif_lib.apps.registry import Registry, RegistryError, slugify, validate_app_id

NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def publish(registry: Registry, app_id: str = "schulbedarf", title: str = "Schulbedarf", **extra):
    return registry.add_version(app_id, NB, {"title": title, "audience": ["planners"], **extra}, b"\x89PNG",
                                by="tester")


def test_versions_are_numbered_and_kept(registry):
    first = publish(registry, title="v1")
    second = publish(registry, title="v2")
    assert (first.version, second.version) == (1, 2)
    assert registry.versions("schulbedarf") == [1, 2]
    assert registry.current_version("schulbedarf") == 2
    assert registry.current("schulbedarf").meta["title"] == "v2"
    # the earlier version is untouched on disk
    assert registry.get("schulbedarf", 1).meta["title"] == "v1"
    assert (registry.app_dir("schulbedarf") / "1" / "app.ipynb").exists()
    assert registry.app_ids() == ["schulbedarf"]


def test_meta_gets_id_version_and_timestamp(registry):
    app = publish(registry)
    assert app.meta["app_id"] == "schulbedarf"
    assert app.meta["version"] == 1
    assert app.meta["published_at"].endswith("+00:00")
    assert app.thumbnail is not None and app.thumbnail.read_bytes() == b"\x89PNG"


def test_served_link_follows_current(registry):
    publish(registry, title="v1")
    link = registry.served_notebook("schulbedarf")
    assert link.is_symlink()
    before = os.path.realpath(link)
    publish(registry, title="v2")
    assert os.path.realpath(link) != before
    assert os.path.realpath(link) == os.path.realpath(registry.app_dir("schulbedarf") / "2" / "app.ipynb")


def test_rollback_to_previous_and_to_given_version(registry):
    for title in ("v1", "v2", "v3"):
        publish(registry, title=title)
    assert registry.rollback("schulbedarf", by="tester").version == 2
    assert registry.rollback("schulbedarf", by="tester").version == 1
    with pytest.raises(RegistryError, match="älteste"):
        registry.rollback("schulbedarf")
    assert registry.rollback("schulbedarf", to=3).version == 3
    with pytest.raises(RegistryError, match="keine Version 7"):
        registry.rollback("schulbedarf", to=7)
    actions = [(h["action"], h["version"]) for h in registry.history("schulbedarf")]
    assert actions == [("publish", 1), ("publish", 2), ("publish", 3), ("rollback", 2), ("rollback", 1),
                       ("rollback", 3)]


def test_rollback_of_unknown_app_is_refused(registry):
    with pytest.raises(RegistryError, match="nicht veröffentlicht"):
        registry.rollback("gibt-es-nicht")


def test_failed_write_leaves_current_version_untouched(registry, monkeypatch):
    publish(registry, title="v1")
    original = os.rename

    def broken_rename(src, dst):
        raise OSError("Datenträger voll")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError):
        publish(registry, title="v2")
    monkeypatch.setattr(os, "rename", original)
    assert registry.versions("schulbedarf") == [1]
    assert registry.current("schulbedarf").meta["title"] == "v1"
    # no half-written staging directory is left behind
    leftovers = [p.name for p in registry.app_dir("schulbedarf").iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def test_switch_is_atomic_for_concurrent_readers(registry):
    publish(registry, title="v1")
    publish(registry, title="v2")
    stop = threading.Event()
    seen, errors = set(), []

    def reader():
        while not stop.is_set():
            try:
                seen.add(registry.current("schulbedarf").meta["title"])
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        registry.activate("schulbedarf", 1 + i % 2)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert seen == {"v1", "v2"}


def test_switch_replaces_symlink_with_rename(registry, monkeypatch):
    """The pointer is swapped by os.replace of a new symlink, never unlink + create."""
    publish(registry)
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((str(a), str(b))), real_replace(a, b)))
    monkeypatch.setattr(os, "unlink", lambda *a, **k: pytest.fail("current must not be unlinked"))
    registry.activate("schulbedarf", 1)
    assert any(dst.endswith("/current") for _, dst in calls)


def test_withdraw_keeps_versions_and_rollback_brings_the_app_back(registry):
    publish(registry, title="v1")
    publish(registry, title="v2")
    assert registry.withdraw("schulbedarf", by="tester").version == 2  # the version that was live
    assert registry.app_ids() == [] and registry.list_current() == []
    assert registry.current("schulbedarf") is None and registry.current_meta("schulbedarf") is None
    assert not registry.served_notebook("schulbedarf").exists()
    assert registry.withdrawn("schulbedarf") and registry.app_ids(withdrawn=True) == ["schulbedarf"]
    assert registry.versions("schulbedarf") == [1, 2]
    assert registry.withdrawal("schulbedarf")["version"] == 2
    with pytest.raises(RegistryError, match="bereits zurückgezogen"):
        registry.withdraw("schulbedarf")
    with pytest.raises(RegistryError, match="nicht veröffentlicht"):
        registry.withdraw("gibt-es-nicht")

    # back: the version that was withdrawn, with Voilà's link
    assert registry.rollback("schulbedarf", by="tester").version == 2
    assert registry.current("schulbedarf").meta["title"] == "v2" and registry.served_notebook("schulbedarf").exists()
    assert not registry.withdrawn("schulbedarf") and registry.withdrawal("schulbedarf") is None
    registry.withdraw("schulbedarf")
    assert registry.rollback("schulbedarf", to=1).version == 1
    actions = [(h["action"], h["version"]) for h in registry.history("schulbedarf")]
    assert actions[2:] == [("withdraw", 2), ("rollback", 2), ("withdraw", 2), ("rollback", 1)]
    # publishing again after a withdrawal goes on counting (thumbnail URLs stay unique)
    registry.withdraw("schulbedarf")
    assert publish(registry, title="v3").version == 3 and registry.exists("schulbedarf")


def test_readers_follow_no_symlink_inside_the_registry(registry, tmp_path):
    """An app that could write the registry (single-account mode) cannot make the gateway or
    Voilà read a file elsewhere through it."""
    publish(registry, title="echt")
    elsewhere = tmp_path / "fremd"
    (elsewhere / "1").mkdir(parents=True)
    (elsewhere / "1" / "meta.json").write_text(json.dumps({"title": "fremd", "audience": ["planners"]}))
    app_dir = registry.app_dir("schulbedarf")

    os.rename(app_dir / "1", app_dir / "1-echt")
    os.symlink(elsewhere / "1", app_dir / "1")  # the version directory is a link
    assert registry.current_meta("schulbedarf") is None
    os.unlink(app_dir / "1")
    os.rename(app_dir / "1-echt", app_dir / "1")
    os.rename(app_dir / "1" / "meta.json", app_dir / "1" / "meta.echt")
    os.symlink(elsewhere / "1" / "meta.json", app_dir / "1" / "meta.json")  # the file is a link
    assert registry.current_meta("schulbedarf") is None
    with pytest.raises(RegistryError):
        registry.get("schulbedarf", 1)
    os.unlink(app_dir / "1" / "meta.json")
    os.rename(app_dir / "1" / "meta.echt", app_dir / "1" / "meta.json")
    assert registry.current_meta("schulbedarf")["title"] == "echt"

    for target in (str(elsewhere / "1"), "../../fremd/1", "1/../1"):  # current may only name a version
        os.unlink(app_dir / "current")
        os.symlink(target, app_dir / "current")
        assert registry.current_version("schulbedarf") is None and registry.current_meta("schulbedarf") is None
    assert registry.current_meta("../schulbedarf") is None and registry.current_meta(None) is None


def test_served_names_are_the_apps_voila_knows():
    from bif_lib.apps.registry import app_id_of_served, served_name

    assert served_name("schulbedarf") == "schulbedarf.ipynb"
    assert app_id_of_served("schulbedarf.ipynb") == "schulbedarf"
    assert app_id_of_served("/srv/apps/_voila/schulbedarf.ipynb") == "schulbedarf"
    for other in ("Schulbedarf.ipynb", "schulbedarf", "_voila.ipynb", "", None):
        assert app_id_of_served(other) is None
    with pytest.raises(RegistryError):
        served_name("../x")


@pytest.mark.parametrize("name, slug", [
    ("Schulbedarf Süd.ipynb", "schulbedarf-sued"),
    ("Kita_Plätze 2025.ipynb", "kita-plaetze-2025"),
    ("__x__", "x"),
])
def test_slugify(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("bad", ["", "-x", "Gross", "a/b", "../etc", "_voila", "x" * 64])
def test_invalid_app_ids_are_refused(bad):
    with pytest.raises(RegistryError):
        validate_app_id(bad)


def test_registry_ignores_foreign_entries(registry):
    publish(registry)
    (registry.root / "notes.txt").write_text("x")
    (registry.root / "halb").mkdir()  # an app dir without current version
    assert registry.app_ids() == ["schulbedarf"]
