"""Verified store, catalog and the analysts' API: versions, checksums, classification areas, lineage."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

import geopandas as gpd
import pandas as pd
import pytest

import bif_lib
from bif_lib import api
from bif_lib.ingest import ingest
from bif_lib.store import DatasetNotFound, SnapshotCorrupted, Store, sha256_file

FIELDS = [("year", "year"), ("district_id", "integer"), ("name", "string"), ("residents", "integer")]
V1 = "year;district_id;name;residents\n2022;1;Altstadt;3907\n2022;2;Neustadt;5052\n"
V2 = "year;district_id;name;residents\n2022;1;Altstadt;3907\n2022;2;Neustadt;5053\n"
BAD = "year;district_id;name;residents\n2022;1;Altstadt;3907\n2022;zwei;Neustadt;5052\n"


@pytest.fixture
def raw(make_contract):
    return make_contract(FIELDS, {"format": "csv", "delimiter": ";"}, primary_key=["year", "district_id"],
                         id="einwohner", title="Einwohner je Stadtteil",
                         description="Einwohner mit Hauptwohnsitz nach Stadtteilen")


@pytest.fixture
def run(tmp_path, store, write_contract):
    """run(raw, text) writes the contract and the file and ingests them into the test store."""
    counter = iter(range(1000))

    def go(raw, text, name=None):
        contract = write_contract(tmp_path, raw)
        path = tmp_path / (name or f"lieferung{next(counter)}.csv")
        path.write_text(text, encoding="utf-8")
        return ingest(contract, path, store=store)

    return go


def test_first_ingest_creates_version_1(run, raw, store):
    outcome = run(raw, V1)
    assert outcome.status == "created" and outcome.ok
    entry = outcome.entry
    assert entry.version == 1 and entry.rows == 2 and entry.dataset_id == "einwohner"
    path = store.root / entry.path
    assert path.parent == store.root / "open" / "einwohner"
    assert path.name.startswith("v0001-") and path.suffix == ".parquet"
    assert sha256_file(path) == entry.sha256
    assert entry.ingested_by == "testerin"
    assert "Version 1 gespeichert" in outcome.summary()
    assert store.verify() == []


def test_identical_data_again_is_a_no_op(run, raw, store, tree_digest):
    first = run(raw, V1)
    before = tree_digest(store.root)
    again = run(raw, V1)
    assert again.status == "unchanged" and again.ok
    assert again.entry.version == 1 and again.entry.sha256 == first.entry.sha256
    assert "unverändert" in again.summary() and "Version 1" in again.summary()
    assert len(store.catalog.versions("einwohner")) == 1
    assert tree_digest(store.root) == before


def test_same_data_in_another_encoding_is_unchanged(run, raw, store, tmp_path):
    run(raw, V1)
    # re-exported with a BOM and Windows line ends: different file, same data
    path = tmp_path / "neu.csv"
    path.write_bytes(b"\xef\xbb\xbf" + V1.replace("\n", "\r\n").encode())
    outcome = ingest(tmp_path / "einwohner.yaml", path, store=store)
    assert outcome.status == "unchanged"


def test_changed_data_makes_version_2_and_old_versions_stay_loadable(run, raw, store):
    v1 = run(raw, V1).entry
    time.sleep(0.01)
    between = datetime.now(timezone.utc)
    time.sleep(0.01)
    v2 = run(raw, V2).entry
    assert v2.version == 2 and v2.sha256 != v1.sha256
    assert (store.root / v1.path).exists() and (store.root / v2.path).exists()

    latest = bif_lib.load("einwohner", store=store)
    assert latest["residents"].tolist() == [3907, 5053]
    assert bif_lib.load("einwohner", version=1, store=store)["residents"].tolist() == [3907, 5052]
    assert bif_lib.load("einwohner", as_of=between, store=store).attrs["bif"]["version"] == 1
    assert bif_lib.load("einwohner", as_of=between.isoformat(), store=store).attrs["bif"]["version"] == 1
    assert bif_lib.load("einwohner", as_of=datetime.now(timezone.utc), store=store).attrs["bif"]["version"] == 2
    with pytest.raises(DatasetNotFound, match="Version 3"):
        bif_lib.load("einwohner", version=3, store=store)
    with pytest.raises(DatasetNotFound, match="zum Stand"):
        bif_lib.load("einwohner", as_of="2000-01-01", store=store)
    with pytest.raises(DatasetNotFound, match="nicht im Katalog"):
        bif_lib.load("gibt_es_nicht", store=store)


def test_changed_contract_with_same_data_is_a_new_version(run, raw):
    run(raw, V1)
    raw = dict(raw, version="1.1", description="Einwohner, Hauptwohnsitz (neu beschrieben)")
    outcome = run(raw, V1)
    assert outcome.status == "created" and outcome.entry.version == 2
    assert outcome.entry.contract_version == "1.1"


def test_load_attrs_metadata_and_types(run, raw, store):
    entry = run(raw, V1).entry
    frame = bif_lib.load("einwohner", store=store)
    meta = frame.attrs["bif"]
    assert meta["dataset"] == "einwohner" and meta["version"] == 1
    assert meta["sha256"] == entry.sha256 == sha256_file(store.root / entry.path)
    assert meta["source"] == "Testsystem" and meta["source_file"] == "lieferung0.csv"
    assert meta["licence"] == "CC0-1.0" and meta["attribution"] == "Stadt Testhausen"
    assert meta["classification"] == "open" and meta["synthetic"] is False
    assert list(frame.columns) == ["year", "district_id", "name", "residents"]
    assert str(frame["residents"].dtype) == "Int64" and frame["name"].tolist() == ["Altstadt", "Neustadt"]


@pytest.mark.parametrize("which", ["path", "read_copy"])  # the Parquet snapshot, its Arrow read copy
def test_corrupted_snapshot_fails_loudly(run, raw, store, which):
    entry = run(raw, V1).entry
    damaged = getattr(entry, which)
    path = store.root / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the data: Arrow and Parquet readers would not notice
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupted, match="beschädigt"):
        bif_lib.load("einwohner", store=store)
    assert store.verify() == [f"einwohner v1: Prüfsumme stimmt nicht ({damaged})"]


def test_truncated_read_copy_fails_loudly_not_with_a_decoder_error(run, raw, store):
    entry = run(raw, V1).entry
    copy = store.root / entry.read_copy
    copy.write_bytes(copy.read_bytes()[:100])
    with pytest.raises(SnapshotCorrupted, match="beschädigt"):
        bif_lib.load("einwohner", store=store)


def test_read_copy_holds_the_same_table_as_the_snapshot(run, raw, store):
    entry = run(raw, V1).entry
    snapshot = pd.read_parquet(store.root / entry.path)
    loaded = bif_lib.load("einwohner", store=store)
    pd.testing.assert_frame_equal(loaded, snapshot)
    assert loaded.dtypes.to_dict() == snapshot.dtypes.to_dict()


def test_catalog_from_before_read_copies_still_loads(run, raw, store):
    """A store written before read copies existed: no read_copy column, Parquet only (and, being
    older still than the sidecars, no metadata file beside the snapshot)."""
    import sqlite3

    from bif_lib.store.snapshots import sidecar_of
    entry = run(raw, V1).entry
    (store.root / entry.read_copy).unlink()
    sidecar_of(store.root / entry.path).unlink()
    con = sqlite3.connect(store.catalog.path)
    con.execute("ALTER TABLE versions DROP COLUMN read_copy")
    con.execute("ALTER TABLE versions DROP COLUMN read_copy_xxh3")
    con.commit()
    con.close()
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 1
    assert store.verify() == []
    run(raw, V2)  # the next write adds the columns, and the old version's sidecar from its catalog row
    assert store.catalog.latest("einwohner").read_copy.endswith(".arrow")
    assert json.loads(sidecar_of(store.root / entry.path).read_text())["entry"]["sha256"] == entry.sha256
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 2


def test_missing_snapshot_fails_loudly(run, raw, store):
    entry = run(raw, V1).entry
    (store.root / entry.path).unlink()
    with pytest.raises(SnapshotCorrupted, match="fehlt"):
        bif_lib.load("einwohner", store=store)
    assert "Datei fehlt" in store.verify()[0]


def test_rejected_ingest_leaves_store_byte_for_byte_unchanged(run, raw, store, tree_digest):
    run(raw, V1)
    run(raw, V2)
    before = tree_digest(store.root)
    outcome = run(raw, BAD)
    assert outcome.status == "rejected" and not outcome.ok and outcome.entry is None
    assert "abgelehnt" in outcome.summary() and "nichts wurde gespeichert" in outcome.summary()
    assert tree_digest(store.root) == before


def test_rejected_first_ingest_does_not_create_the_store(run, raw, store, tree_digest):
    assert not store.root.exists()
    outcome = run(raw, BAD)
    assert outcome.status == "rejected"
    assert tree_digest(store.root) is None
    assert not store.root.parent.exists()  # not even BIF_HOME


def test_rejected_ingest_with_references_leaves_store_unchanged(run, make_contract, store, tree_digest):
    run(make_contract([("district_id", "integer")], {"format": "csv"}, id="stadtteile"), "district_id\n1\n2\n")
    raw = make_contract([("district_id", "integer")], {"format": "csv"}, id="kitas",
                        foreign_keys=[{"fields": "district_id",
                                       "reference": {"resource": "stadtteile", "fields": "district_id"}}])
    before = tree_digest(store.root)
    assert run(raw, "district_id\n1\n3\n").status == "rejected"
    assert tree_digest(store.root) == before
    outcome = run(raw, "district_id\n1\n2\n")
    assert outcome.status == "created"
    assert outcome.entry.lineage["references"] == {"stadtteile": 1}


def test_classification_areas(run, make_contract, store):
    for classification in ("open", "internal", "confidential"):
        raw = make_contract([("n", "integer")], {"format": "csv"}, id=f"daten_{classification}",
                            classification=classification)
        entry = run(raw, "n\n1\n").entry
        assert (store.root / entry.path).parent == store.root / classification / f"daten_{classification}"
    assert sorted(p.name for p in store.root.iterdir() if p.is_dir()) == ["confidential", "internal", "open"]
    assert api.list_datasets("internal", store=store)["dataset"].tolist() == ["daten_internal"]
    assert len(api.list_datasets(store=store)) == 3


def test_list_search_describe_history(run, raw, make_contract, store):
    run(raw, V1)
    run(raw, V2)
    other = make_contract([("kita", "string")], {"format": "csv"}, id="kitas", title="Kindertagesstätten",
                          description="Kitas mit Plätzen", owner="Jugendamt", classification="internal")
    other["schema"]["fields"][0]["title"] = "Name der Einrichtung"
    run(other, "kita\nSonnenschein\n")

    listing = api.list_datasets(store=store)
    assert listing.set_index("dataset")["version"].to_dict() == {"einwohner": 2, "kitas": 1}
    assert api.search("EINRICHTUNG", store=store)["dataset"].tolist() == ["kitas"]   # field title, any case
    assert api.search("jugendamt", store=store)["dataset"].tolist() == ["kitas"]     # owner
    assert api.search("Stadtteil", store=store)["dataset"].tolist() == ["einwohner"]
    assert api.search("gibtsnicht", store=store).empty

    history = api.history("einwohner", store=store)
    assert history["version"].tolist() == [1, 2] and history["source_file"].tolist() == ["lieferung0.csv",
                                                                                       "lieferung1.csv"]
    with pytest.raises(DatasetNotFound):
        api.history("gibtsnicht", store=store)

    description = api.describe("einwohner", store=store)
    assert description.entry.version == 2 and len(description.versions) == 2
    text = description.to_text()
    assert "Version 2 von 2" in text and "Einstufung: offen" in text and "Namensnennung: Stadt Testhausen" in text
    assert "residents" in text and description.fields()["Feld"].tolist() == ["year", "district_id", "name", "residents"]
    assert api.describe("einwohner", version=1, store=store).entry.version == 1
    assert description.report["ok"] is True and description.lineage["contract"]["id"] == "einwohner"


def test_lineage_records_transformations(run, make_contract, store):
    raw = make_contract([("name", "string"), ("n", "integer")], {"format": "csv", "delimiter": ";",
                        "drop_rows": [{"column": "name", "pattern": "^Summe$"}]}, id="mit_summe")
    entry = run(raw, "name;n\nA;1\nB;2\nSumme;3\n").entry
    assert entry.rows == 2
    assert any("Zeile 4" in t for t in entry.lineage["transformations"])
    assert entry.lineage["source_sha256"] == entry.source_sha256 and len(entry.source_sha256) == 64
    assert "Umformung:" in api.describe("mit_summe", store=store).to_text()


def test_default_store_follows_bif_store(run, raw, store, monkeypatch, tmp_path):
    run(raw, V1)
    assert bif_lib.load("einwohner")["residents"].tolist() == [3907, 5052]  # BIF_STORE → the test store
    monkeypatch.setenv("BIF_STORE", str(tmp_path / "anderer"))
    with pytest.raises(DatasetNotFound):
        bif_lib.load("einwohner")


def test_load_trace(run, raw, store, monkeypatch, tmp_path):
    run(raw, V1)
    run(raw, V2)
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("BIF_LOAD_TRACE", str(trace))
    bif_lib.load("einwohner", store=store)
    bif_lib.load("einwohner", version=1, store=store)
    records = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    assert [(r["dataset"], r["version"], r["classification"], r["synthetic"]) for r in records] == [
        ("einwohner", 2, "open", False), ("einwohner", 1, "open", False)]
    monkeypatch.delenv("BIF_LOAD_TRACE")
    bif_lib.load("einwohner", store=store)
    assert len(trace.read_text(encoding="utf-8").splitlines()) == 2


def test_synthetic_flag_travels_to_attrs(run, make_contract, store):
    raw = make_contract([("n", "integer")], {"format": "csv"}, id="register_synthetisch", synthetic=True,
                        classification="confidential", title="Melderegister (synthetisch)")
    run(raw, "n\n1\n")
    frame = bif_lib.load("register_synthetisch", purpose="Test der Kennzeichnung", store=store)
    assert frame.attrs["bif"]["synthetic"] is True
    assert "SYNTHETISCHE DATEN" in api.describe("register_synthetisch", store=store).to_text()


def test_geodata_round_trip(tmp_path, make_contract, write_contract, store):
    from shapely.geometry import box

    path = tmp_path / "flaechen.geojson"
    gpd.GeoDataFrame({"district_id": [1, 2]}, geometry=[box(9.40, 54.77, 9.41, 54.78), box(9.41, 54.77, 9.42, 54.78)],
                     crs="OGC:CRS84").to_file(path, driver="GeoJSON")
    raw = make_contract([("district_id", "integer"), {"name": "geom", "type": "geometry", "crs": "EPSG:25832",
                                                       "geometry_type": ["Polygon"]}],
                        {"format": "geojson", "crs": "OGC:CRS84"}, id="flaechen")
    outcome = ingest(write_contract(tmp_path, raw), path, store=store)
    assert outcome.status == "created", outcome.report.to_text()
    frame = bif_lib.load("flaechen", store=store)
    assert isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name == "geom"
    assert frame.crs.to_epsg() == 25832 and frame.geometry.iloc[0].bounds[0] > 100_000
    assert ingest(write_contract(tmp_path, raw), path, store=store).status == "unchanged"


def test_unreadable_area_is_access_denied(run, make_contract, store, monkeypatch):
    from bif_lib.store import AccessDenied, snapshots

    raw = make_contract([("n", "integer")], {"format": "csv"}, id="geheim", classification="confidential")
    entry = run(raw, "n\n1\n").entry
    os.chmod(store.root / "confidential", 0o700)  # what the platform sets up: only the statistics office
    if os.geteuid() == 0:  # root reads every file: simulate the refusal of the OS
        def refuse(path, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))
        monkeypatch.setattr(snapshots, "sha256_file", refuse)
    else:
        os.chmod(store.root / entry.path, 0)
    try:
        with pytest.raises(AccessDenied, match="Statistikstelle"):
            bif_lib.load("geheim", purpose="Test der Zugriffsrechte", store=store)
    finally:
        os.chmod(store.root / entry.path, 0o644)


def test_recover_removes_own_leftovers_and_quarantines_unknown_files(run, raw, store):
    """A killed writer's own temporaries (named by the store) go; files the store does not recognise
    are moved to the area's quarantine with their bytes, reported, never deleted."""
    entry = run(raw, V1).entry
    staging = store.root / "open" / ".staging"
    own = staging / f"einwohner-{'a' * 32}.parquet"
    own.write_bytes(b"PAR1 halb")
    unknown = staging / "einwohner-halb.parquet"
    unknown.write_bytes(b"PAR1 fremd")
    orphan = store.root / "open" / "einwohner" / "v0002-000000000000.parquet"
    orphan.write_bytes(b"PAR1 ohne Katalogeintrag")
    problems = store.verify()  # reported, but invisible to readers
    assert len(problems) == 2 and all("Quarantäne" in p for p in problems)
    assert any("v0002-000000000000.parquet" in p for p in problems)
    assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == 1
    outcome = run(raw, V2)
    assert outcome.status == "created"
    assert not own.exists() and not unknown.exists() and not orphan.exists()
    quarantined = {p.name: p.read_bytes() for p in (store.root / "open" / ".quarantine").rglob("*") if p.is_file()}
    assert quarantined == {"einwohner-halb.parquet": b"PAR1 fremd", "v0002-000000000000.parquet": b"PAR1 ohne Katalogeintrag"}
    warnings = [f.message for f in outcome.report.failures() if f.rule == "store"]
    assert len(warnings) == 2 and all("Quarantäne" in w for w in warnings)
    files = {str(p.relative_to(store.root)) for suffix in (".parquet", ".arrow")
             for p in store.root.rglob(f"*{suffix}") if ".quarantine" not in p.parts}
    assert files == store.catalog.snapshot_paths() and len(files) == 4  # two versions, each with its read copy
    assert entry.path in files
    assert store.verify() == []


def test_reading_does_not_write(run, raw, store, tree_digest):
    run(raw, V1)
    before = tree_digest(store.root)
    bif_lib.load("einwohner", store=store)
    api.list_datasets(store=store)
    api.describe("einwohner", store=store)
    store.verify()
    assert tree_digest(store.root) == before


def test_store_write_is_exclusive_per_version(run, raw, store):
    # the catalog refuses a second row for the same (dataset, version)
    entry = run(raw, V1).entry
    with pytest.raises(Exception):
        store.catalog.add_version(entry)
    assert len(store.catalog.versions("einwohner")) == 1


def test_list_on_empty_store(store):
    assert api.list_datasets(store=store).empty
    assert Store(store.root).verify() == []
    assert not store.root.exists()


def test_read_copy_round_trip_keeps_every_dtype_and_is_writable(tmp_path):
    """The read copy's own Arrow-to-pandas conversion against pandas' (all contract types, gaps)."""
    from bif_lib.store.snapshots import _read_copy, _write_read_copy

    text = pd.array(["a", None, "c"] * 50_000, dtype="str")
    frame = pd.DataFrame({
        "ganzzahl": pd.array([1, None, 3] * 50_000, dtype="Int64"),
        "ohne_luecke": pd.array(range(150_000), dtype="Int64"),
        "zahl": [0.5, float("nan"), 2.5] * 50_000,
        "ja_nein": pd.array([True, None, False] * 50_000, dtype="boolean"),
        "datum": pd.to_datetime(["2024-01-31", None, "2024-12-31"] * 50_000).astype("datetime64[us]"),
        "text": pd.concat([pd.Series(text[:70_000]), pd.Series(text[70_000:])], ignore_index=True),
    })
    _write_read_copy(frame, tmp_path / "kopie.arrow")
    loaded = _read_copy(tmp_path / "kopie.arrow", None)
    pd.testing.assert_frame_equal(loaded, frame)
    for column in loaded.columns:  # not a read-only view of the memory-mapped file
        loaded.loc[0, column] = loaded[column].iloc[2]
    assert loaded["ganzzahl"].iloc[0] == 3 and loaded["datum"].iloc[0].year == 2024
