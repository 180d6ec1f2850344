"""``bif schedule run``: real Flensburg sources from the mirror, a changed source that becomes a new
version and makes the app that uses it publish again, and a pinned file that changed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import yaml
from schedule_paths import RESIDENTS

from bif_lib.cli import main
from bif_lib.schedule import history


def bif(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_real_source_from_the_mirror_is_unchanged_against_the_bootstrapped_store(
        flensburg_store, flensburg_home, mirror_dir, tmp_path, monkeypatch, capsys):
    """The bootstrapped store itself (read-only): a refresh of a pinned source from the mirror finds
    the file of version 1 and writes nothing to the store; the run goes into another home's history."""
    home = tmp_path / "home"
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(yaml.safe_dump({"paths": {"home": str(home), "store": str(flensburg_home / "store")}}))
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.setenv("BIF_HUB_SETTINGS", str(settings_file))
    monkeypatch.setenv("BIF_MIRROR", str(mirror_dir))
    before = sorted((e.dataset_id, e.version, e.sha256) for e in flensburg_store.catalog.latest_versions())
    catalog = (flensburg_home / "store" / "catalog.sqlite").read_bytes()

    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")

    assert code == 0, err
    assert "einwohner_stadtteile: unverändert" in out and "Version 1" in out
    [record] = history.entries(home)
    expected = hashlib.sha256((mirror_dir / RESIDENTS).read_bytes()).hexdigest()
    assert (record["outcome"], record["version"], record["trigger"]) == ("unverändert", 1, "manuell")
    assert record["source_sha256"] == expected and record["pinned"] is True and record["file"] is None
    assert record["start"] <= record["end"]
    assert sorted((e.dataset_id, e.version, e.sha256) for e in flensburg_store.catalog.latest_versions()) == before
    assert (flensburg_home / "store" / "catalog.sqlite").read_bytes() == catalog
    assert os.stat(home / "schedule").st_mode & 0o777 == 0o700
    assert os.stat(home / "schedule" / "history.jsonl").st_mode & 0o777 == 0o600


def test_datasets_without_a_public_source_are_refused(env, capsys):
    code, out, err = bif(capsys, "schedule", "run", "melderegister_personen")
    assert code == 1 and "vertrauliche Daten werden nie planmäßig aktualisiert" in err, err
    code, out, err = bif(capsys, "schedule", "run", "gibt_es_nicht")
    assert code == 1 and "hat keinen Vertrag" in err
    assert history.entries(env.home) == []


def test_a_changed_pinned_file_is_refused_with_its_checksum(env, capsys):
    env.change_source(RESIDENTS, "2011,1,3323", "2011,1,3333")
    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")
    assert code == 1
    [record] = history.entries(env.home)
    assert record["outcome"] == "fehlgeschlagen" and "Prüfsumme" in record["message"]
    assert "pin: false" in record["message"]  # how to accept a file that is meant to change
    assert env.store.catalog.latest("einwohner_stadtteile").version == 1


def app_notebook(dataset: str, title: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["bif"] = {"title": title, "description": "Prüf-App für den Zeitplan.", "audience": ["planners"],
                          "owner": "Team Zeitplan"}
    nb.cells = [nbformat.v4.new_code_cell(f"import bif_lib as bif\nframe = bif.load({dataset!r})\nlen(frame)")]
    return json.loads(nbformat.writes(nb))


def test_a_changed_source_becomes_a_new_version_and_the_app_using_it_is_published_again(
        env, environment_access, capsys):
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.publishing.publish import publish_notebook
    from bif_lib.apps.registry import Registry

    env.unpin(RESIDENTS)
    env.schedule("einwohner_stadtteile", {"cron": "0 5 * * 1"})
    cfg = AppsConfig.from_settings(env.settings)
    registry = Registry(cfg.apps_dir)
    for app_id, dataset in (("einwohner-app", "einwohner_stadtteile"), ("stadtteile-app", "stadtteile")):
        published = publish_notebook(app_notebook(dataset, f"Test {dataset}"), published_by="analyst",
                                     app_id=app_id, filename=f"{app_id}.ipynb", cfg=cfg, registry=registry)
        assert [(d["dataset"], d["version"]) for d in published.app.meta["datasets"]] == [(dataset, 1)]
    env.change_source(RESIDENTS, "2011,1,3323", "2011,1,3333")

    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")

    assert code == 0, out + err
    [record] = history.entries(env.home)
    assert (record["outcome"], record["version"]) == ("neu", 2), record
    assert [(a["app_id"], a["ok"], a.get("version")) for a in record["apps"]] == [("einwohner-app", True, 2)]
    assert "App 'einwohner-app' als Version 2 neu veröffentlicht" in out
    # the gallery serves the app checked against the new data; the app not using it is left alone
    live = registry.current("einwohner-app")
    assert live.version == 2 and live.meta["published_by"] == "zeitplan"
    assert live.meta["source"] == "einwohner-app.ipynb"
    assert [(d["dataset"], d["version"]) for d in live.meta["datasets"]] == [("einwohner_stadtteile", 2)]
    assert registry.versions("stadtteile-app") == [1]
    # the new version: the changed value, the file and its checksum in the lineage
    entry = env.store.catalog.latest("einwohner_stadtteile")
    changed = (env.mirror / RESIDENTS).read_bytes()
    assert entry.version == 2 and entry.ingested_by == "zeitplan"
    assert entry.source_sha256 == entry.lineage["source_sha256"] == hashlib.sha256(changed).hexdigest()
    assert entry.lineage["source_file"] == record["file"]
    assert Path(record["file"]).parent == env.home / "schedule" / "received" / "einwohner_stadtteile"
    frame = env.store.read(entry)
    assert int(frame.query("year == 2011 and district_id == 1")["residents"].iloc[0]) == 3333
    # the city's data directory holds the newest file
    assert (env.home / "sources" / "flensburg" / RESIDENTS).read_bytes() == changed

    # again: nothing new, no app published
    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")
    assert code == 0 and "unverändert" in out
    assert history.entries(env.home)[-1]["outcome"] == "unverändert"
    assert registry.versions("einwohner-app") == [1, 2]

    # the list shows schedule, last run and next run in German, Europe/Berlin
    code, out, err = bif(capsys, "schedule", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("einwohner_stadtteile"))
    assert "montags 05:00 (cron 0 5 * * 1)" in row and "Vertrag" in row and "unverändert (v2)" in row
    assert "05:00" in row.split("unverändert (v2)")[1]  # the next Monday, 05:00
    code, out, err = bif(capsys, "schedule", "history", "--limit", "1")
    header, row = out.splitlines()
    assert header.split() == ["Beginn", "Ende", "Datensatz", "Ergebnis", "Version", "Anlass", "Meldung"]
    assert row.split()[4:8] == ["einwohner_stadtteile", "unverändert", "2", "manuell"], row


def test_apps_are_checked_with_the_catalogs_readers_role_never_the_writers(env, monkeypatch):
    """The scheduler ingests with the catalog's writers' role (PostgreSQL); the publication check runs
    an app's code and is handed the catalog's connection: it gets the readers' role, as in the apps
    service."""
    from bif_lib.schedule.republish import readers_role

    env.write_settings({"catalog": {"backend": "postgresql", "url": "postgresql://db.flensburg.example:5432/bif"}})
    monkeypatch.setenv("BIF_CATALOG_URL", "postgresql://db.flensburg.example:5432/bif")
    monkeypatch.setenv("BIF_CATALOG_USER", "bif_catalog_writer")
    monkeypatch.setenv("BIF_CATALOG_PASSWORD", "schreib-geheim")
    monkeypatch.setenv("BIF_CATALOG_READER_PASSWORD", "lese-geheim")
    with readers_role(env.settings):
        assert os.environ["BIF_CATALOG_USER"] == "bif_catalog_reader"
        assert os.environ["BIF_CATALOG_PASSWORD"] == "lese-geheim"
        assert "schreib-geheim" not in os.environ.values()
    assert (os.environ["BIF_CATALOG_USER"], os.environ["BIF_CATALOG_PASSWORD"]) == ("bif_catalog_writer",
                                                                                    "schreib-geheim")
