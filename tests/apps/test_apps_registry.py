"""The app registry: versions, current pointer, rollback, atomicity, failure safety."""

from __future__ import annotations

import json
import os
import threading

import pytest

from bif_lib.apps.registry import (Registry, RegistryError, slugify, validate_app_id)

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


def test_withdraw_keeps_versions_but_leaves_gallery(registry):
    publish(registry)
    registry.remove_app("schulbedarf")
    assert registry.app_ids() == []
    assert not registry.served_notebook("schulbedarf").exists()
    kept = [p for p in registry.root.iterdir() if p.name.startswith(".schulbedarf.withdrawn-")]
    assert len(kept) == 1 and (kept[0] / "1" / "meta.json").exists()


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
