"""Releasing open datasets: the static site, its Data Packages, accumulation, idempotence, new
versions, and atomicity (a failed release leaves the previous site byte for byte)."""

from __future__ import annotations

import csv
import io
import json
import os

import pandas as pd
import pytest
from opendata_helpers import BASE_URL, ingest_small, small_contract, small_delivery, tree_digests
from rdflib import URIRef
from rdflib.compare import isomorphic

from bif_lib.opendata import dcat, package, release, site

OPEN = ["einwohner_stadtteile", "kitas", "stadtteile"]


@pytest.fixture(scope="module")
def published(flensburg_home, tmp_path_factory, standards_mirror):
    """One site with three real Flensburg datasets (tabular, points, polygons), released once."""
    from bif_lib.store import Store

    home = tmp_path_factory.mktemp("published-home")
    output = home / "opendata"
    saved = {k: os.environ.get(k) for k in ("BIF_HOME", "BIF_STANDARDS_MIRROR")}
    os.environ.update(BIF_HOME=str(home), BIF_STANDARDS_MIRROR=str(standards_mirror))
    try:
        result = release.release(OPEN, output=output, base_url=BASE_URL, store=Store(flensburg_home / "store"))
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return result, output


def test_the_site_holds_a_package_per_dataset_and_validates(published, store):
    result, output = published
    assert result.released == {d: 1 for d in OPEN} and result.datasets_in_site == 3
    assert {p.name for p in output.iterdir()} == {"index.html", "catalog.ttl", "catalog.jsonld", site.MANIFEST,
                                                  "datasets"}
    assert sorted(p.name for p in (output / "datasets" / "kitas").iterdir()) == [
        "datapackage.json", "kitas.csv", "kitas.geojson", "kitas.parquet"]
    assert not (output / "datasets" / "einwohner_stadtteile" / "einwohner_stadtteile.geojson").exists()
    # everything checks out: checksums, frictionless, SHACL, catalog page
    assert release.validate_site(output) == []
    # nothing beside the site but its lock file: no staging folder left behind
    assert sorted(p.name for p in output.parent.iterdir() if p.name.startswith(".")) == [".opendata.lock"]
    assert oct(output.stat().st_mode & 0o777) == "0o755"
    assert oct((output / "catalog.ttl").stat().st_mode & 0o777) == "0o644"


def test_csv_and_parquet_are_the_stored_table(published, store):
    _, output = published
    folder = output / "datasets" / "einwohner_stadtteile"
    raw = (folder / "einwohner_stadtteile.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    stored = store.read(store.catalog.latest("einwohner_stadtteile"))
    assert len(rows) == len(stored) == 91
    assert sum(int(r["residents"]) for r in rows) == int(stored["residents"].sum())
    parquet = pd.read_parquet(folder / "einwohner_stadtteile.parquet")
    assert parquet["residents"].sum() == stored["residents"].sum()

    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor["$schema"] == package.DATAPACKAGE_SCHEMA
    assert descriptor["licenses"][0]["name"] == "CC0-1.0"
    csv_resource = next(r for r in descriptor["resources"] if r["format"] == "csv")
    assert csv_resource["hash"] == f"sha256:{package.sha256_file(folder / 'einwohner_stadtteile.csv')}"
    assert csv_resource["bytes"] == len(raw)
    fields = {f["name"]: f for f in csv_resource["schema"]["fields"]}
    assert fields["residents"]["type"] == "integer" and "Einheit: Personen" in fields["residents"]["description"]
    assert fields["district_id"]["constraints"] == {"required": True, "minimum": 1, "maximum": 13}
    assert csv_resource["schema"]["primaryKey"] == ["year", "district_id"]
    assert "foreignKeys" not in csv_resource["schema"]


def test_geodata_leave_in_wgs84(published):
    _, output = published
    geojson = json.loads((output / "datasets" / "kitas" / "kitas.geojson").read_text(encoding="utf-8"))
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 70
    assert "crs" not in geojson  # RFC 7946: WGS 84 longitude/latitude, no crs member
    lon, lat = geojson["features"][0]["geometry"]["coordinates"]
    assert 9.3 < lon < 9.6 and 54.7 < lat < 54.9  # Flensburg, not UTM metres
    assert "director" not in geojson["features"][0]["properties"]  # dropped on ingest, stays dropped
    rows = list(csv.DictReader(io.StringIO((output / "datasets" / "stadtteile" / "stadtteile.csv").read_text("utf-8"))))
    assert rows[0]["geometry"].startswith(("POLYGON ((9.", "MULTIPOLYGON (((9."))
    import geopandas as gpd

    parquet = gpd.read_parquet(output / "datasets" / "stadtteile" / "stadtteile.parquet")
    assert parquet.crs.to_epsg() == 4326 and len(parquet) == 13
    descriptor = json.loads((output / "datasets" / "stadtteile" / "datapackage.json").read_text(encoding="utf-8"))
    geometry = {r["format"]: next((f for f in r.get("schema", {}).get("fields", []) if f["name"] == "geometry"), None)
                for r in descriptor["resources"]}
    assert geometry["csv"]["type"] == "string" and "WKT in WGS 84" in geometry["csv"]["description"]
    assert geometry["parquet"]["type"] == "any" and "EPSG:4326" in geometry["parquet"]["description"]
    assert geometry["geojson"] is None


def test_dcat_describes_every_file_and_json_ld_is_the_same_graph(published):
    _, output = published
    graph = dcat.from_turtle((output / "catalog.ttl").read_bytes())
    assert isomorphic(graph, dcat.from_jsonld((output / "catalog.jsonld").read_bytes()))
    manifest = json.loads((output / site.MANIFEST).read_text(encoding="utf-8"))
    assert isomorphic(graph, dcat.catalog_graph(manifest))
    datasets = set(graph.objects(URIRef(f"{BASE_URL}catalog.ttl#katalog"), dcat.DCAT.dataset))
    assert datasets == {URIRef(f"{BASE_URL}catalog.ttl#{d}") for d in OPEN}
    for dataset_id in OPEN:
        for item in manifest["datasets"][dataset_id]["files"]:
            url = URIRef(f"{BASE_URL}datasets/{dataset_id}/{item['name']}")
            distribution = graph.value(predicate=dcat.DCAT.downloadURL, object=url)
            assert distribution is not None, url
            assert str(graph.value(distribution, dcat.DCTERMS.license)) == "http://dcat-ap.de/def/licenses/cc-zero"
            checksum = graph.value(distribution, dcat.SPDX.checksum)
            assert str(graph.value(checksum, dcat.SPDX.checksumValue)) == item["sha256"]
            assert int(graph.value(distribution, dcat.DCAT.byteSize)) == item["bytes"]
    kitas = URIRef(f"{BASE_URL}catalog.ttl#kitas")
    assert str(graph.value(kitas, dcat.DCTERMS.spatial)) == "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/01001000"
    period = graph.value(URIRef(f"{BASE_URL}catalog.ttl#einwohner_stadtteile"), dcat.DCTERMS.temporal)
    assert (str(graph.value(period, dcat.DCAT.startDate)), str(graph.value(period, dcat.DCAT.endDate))) == (
        "2011-01-01", "2022-12-31")


def test_releases_accumulate_and_the_same_version_is_idempotent(store, out):
    first = release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    assert first.released == {"einwohner_stadtteile": 1}
    second = release.release(["geburten_stadtteile"], output=out, store=store)  # the folder remembers its base URL
    assert second.released == {"geburten_stadtteile": 1} and second.datasets_in_site == 2
    manifest = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["datasets"]) == ["einwohner_stadtteile", "geburten_stadtteile"]
    assert "Einwohnerinnen und Einwohner je Stadtteil" in (out / "index.html").read_text(encoding="utf-8")
    before, inode = tree_digests(out), out.stat().st_ino
    again = release.release(["einwohner_stadtteile", "geburten_stadtteile"], output=out, store=store)
    assert again.released == {} and again.unchanged == {"einwohner_stadtteile": 1, "geburten_stadtteile": 1}
    assert tree_digests(out) == before and out.stat().st_ino == inode  # not even swapped


def test_a_new_version_replaces_the_files_of_its_dataset(tmp_path, out):
    from bif_lib.store import Store

    store = Store(tmp_path / "store")
    ingest_small(store, tmp_path / "lieferungen", small_contract(), small_delivery(100), "v1")
    release.release("testtabelle", output=out, base_url=BASE_URL, store=store)
    first = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))["datasets"]["testtabelle"]
    ingest_small(store, tmp_path / "lieferungen", small_contract(), small_delivery(200, rows=5), "v2")
    result = release.release("testtabelle", output=out, store=store)
    assert result.released == {"testtabelle": 2} and result.replaced == {"testtabelle": 1}
    record = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))["datasets"]["testtabelle"]
    assert record["version"] == 2 and record["rows"] == 5 and record["issued"] == first["issued"]
    text = (out / "datasets" / "testtabelle" / "testtabelle.csv").read_bytes().decode("utf-8")
    assert text.count("\r\n") == 6 and "205" in text and "101" not in text
    assert release.validate_site(out) == []
    graph = dcat.from_turtle((out / "catalog.ttl").read_bytes())
    assert str(graph.value(URIRef(f"{BASE_URL}catalog.ttl#testtabelle"), dcat.DCAT_VERSION)) == "2"


def test_a_failing_release_leaves_the_previous_site_intact(store, out, monkeypatch):
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    before = tree_digests(out)

    def broken(directory, expected_rows=None):
        return ["Ressource kaputt: Prüfsumme stimmt nicht (hash-count)"]

    monkeypatch.setattr(package, "validate_package", broken)
    with pytest.raises(package.PackageInvalid, match="frictionless"):
        release.release("kitas", output=out, store=store)
    assert tree_digests(out) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".opendata.neu-")] == []


def test_a_release_killed_before_its_swap_leaves_the_old_site(store, out, monkeypatch):
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    before = tree_digests(out)

    def killed(staging, output):
        raise KeyboardInterrupt  # the process dies right before the swap

    monkeypatch.setattr(site, "swap_into_place", killed)
    with pytest.raises(KeyboardInterrupt):
        release.release("kitas", output=out, store=store)
    assert tree_digests(out) == before
    monkeypatch.undo()
    # a leftover staging folder (from a process killed harder) is cleaned up by the next release
    leftover = out.parent / ".opendata.neu-abgestuerzt"
    leftover.mkdir()
    (leftover / "halb.csv").write_text("x", encoding="utf-8")
    release.release("kitas", output=out, store=store, base_url=BASE_URL)
    assert not leftover.exists() and release.validate_site(out) == []


def test_a_changed_published_file_stops_the_release_and_validate_names_it(store, out):
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    path = out / "datasets" / "einwohner_stadtteile" / "einwohner_stadtteile.csv"
    path.write_bytes(path.read_bytes().replace(b"2022,1,", b"2022,1,9", 1))
    before = tree_digests(out)
    problems = release.validate_site(out)
    assert any("verändert" in p for p in problems)
    assert any("Prüfsumme stimmt nicht (hash-count" in p for p in problems)  # frictionless' own finding
    with pytest.raises(release.ReleaseFailed, match="verändert"):
        release.release("kitas", output=out, store=store)
    assert tree_digests(out) == before


def test_frictionless_rejects_a_tampered_value_even_with_a_matching_hash(published, tmp_path):
    import shutil

    _, output = published
    folder = tmp_path / "einwohner_stadtteile"
    shutil.copytree(output / "datasets" / "einwohner_stadtteile", folder)
    assert package.validate_package(folder, expected_rows=91) == []
    path = folder / "einwohner_stadtteile.csv"
    path.write_bytes(path.read_bytes().replace(b"\r\n2011,1,", b"\r\n2011,x,", 1))
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(r for r in descriptor["resources"] if r["format"] == "csv")
    resource.update(hash=f"sha256:{package.sha256_file(path)}", bytes=path.stat().st_size)
    (folder / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    problems = package.validate_package(folder, expected_rows=91)
    assert problems and all("hash-count" not in p for p in problems)
    assert any("Wert passt nicht zum Feldtyp (type-error" in p and "Feld district_id" in p for p in problems)
    # the Parquet file is checked as a file (hash and size) as well as a table
    parquet = folder / "einwohner_stadtteile.parquet"
    parquet.write_bytes(parquet.read_bytes() + b"\0")
    assert any("einwohner_stadtteile-parquet" in p and "hash-count" in p for p in package.validate_package(folder))


def test_the_default_output_is_below_bif_home(store, opendata_home):
    result = release.release("stadtteile_namen", base_url=BASE_URL, store=store)
    assert result.output == opendata_home / "opendata" and (opendata_home / "opendata" / "index.html").is_file()


def test_a_reclassified_dataset_must_be_withdrawn_before_the_next_release(tmp_path, out):
    from bif_lib.store import Store

    store = Store(tmp_path / "store")
    ingest_small(store, tmp_path / "in", small_contract(), small_delivery(100), "v1")
    ingest_small(store, tmp_path / "in", small_contract(id="zweite", title="Zweite Tabelle"), small_delivery(5), "z")
    release.release(["testtabelle", "zweite"], output=out, base_url=BASE_URL, store=store)
    # the steward raises the classification: the published copy may not be carried along silently
    ingest_small(store, tmp_path / "in", small_contract(classification="internal"), small_delivery(100), "v2")
    before = tree_digests(out)
    with pytest.raises(release.ReleaseFailed, match="„testtabelle“ ist veröffentlicht \\(Version 1\\), darf nach "
                                                    "dem Datenspeicher aber nicht mehr.*bif opendata withdraw "
                                                    "testtabelle"):
        release.release("zweite", output=out, store=store, base_url="https://anders.example/")
    assert tree_digests(out) == before
    assert release.withdraw("testtabelle", output=out, store=store) == ["testtabelle"]
    assert not (out / "datasets" / "testtabelle").exists()
    manifest = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["datasets"]) == ["zweite"] and "testtabelle" not in (out / "catalog.ttl").read_text("utf-8")
    assert release.validate_site(out) == []
    release.withdraw(["zweite"], output=out, store=store)  # an empty catalog is a valid site too
    assert release.validate_site(out) == [] and "Noch keine Datensätze" in (out / "index.html").read_text("utf-8")
    with pytest.raises(release.ReleaseFailed, match="Nicht veröffentlicht: zweite"):
        release.withdraw("zweite", output=out, store=store)


def test_the_swap_without_renameat2_and_its_recovery(store, out, monkeypatch):
    """Where the kernel cannot exchange two folders, the old site is moved aside first; if the
    process dies right then, the next release puts the old site back."""
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    monkeypatch.setattr(site, "_exchange", lambda a, b: False)
    release.release("kitas", output=out, store=store)
    assert release.validate_site(out) == [] and _beside(out) == [".opendata.lock", "opendata"]
    before = tree_digests(out)
    original = os.rename

    def dies_between(src, dst):
        original(src, dst)
        if ".opendata.alt-" in str(dst):
            raise KeyboardInterrupt  # killed after moving the old site aside
    monkeypatch.setattr(os, "rename", dies_between)
    with pytest.raises(KeyboardInterrupt):
        release.release("stadtteile", output=out, store=store)
    monkeypatch.setattr(os, "rename", original)
    assert not out.exists()
    result = release.release("stadtteile", output=out, store=store)  # finds the old site and goes on
    assert result.released == {"stadtteile": 1} and result.datasets_in_site == 3
    kept = {k: v for k, v in tree_digests(out).items() if k.startswith("datasets/") and
            not k.startswith("datasets/stadtteile/")}
    assert kept == {k: v for k, v in before.items() if k.startswith("datasets/")} and len(kept) == 7
    assert _beside(out) == [".opendata.lock", "opendata"]


def _beside(out) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if "opendata" in p.name)
