"""Fetching the pinned public sources: local mirror, HTTP mirror on 127.0.0.1, checksums, SQL dumps."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from dataclasses import replace

import pytest

from bif_lib.city.profile import load_profile
from bif_lib.cli import main
from bif_lib.data.fetch import fetch_sources
from bif_lib.data.sqldump import extract_table


@pytest.fixture
def profile():
    return load_profile("flensburg")


@pytest.fixture
def http_mirror(mirror_dir):
    """Serve the mirror's files over HTTP on 127.0.0.1 (no test depends on the internet)."""
    handler = functools.partial(_QuietHandler, directory=str(mirror_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str] = []

    def log_message(self, *args):
        _QuietHandler.requests_seen.append(self.path)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_profile_lists_every_file_of_the_mirror(profile, mirror_dir):
    listed = {s.path for s in profile.sources}
    on_disk = {str(p.relative_to(mirror_dir)) for p in mirror_dir.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert listed == on_disk
    for source in profile.sources:
        assert source.url or source.upstream, source.path


def test_fetch_from_local_mirror_verifies_and_is_idempotent(profile, mirror_dir, tmp_path):
    report = fetch_sources(profile, tmp_path, mirror_dir)
    assert report.ok and len(report.fetched) == len(profile.sources)
    for source in profile.sources:
        assert _sha(tmp_path / source.path) == source.sha256
    again = fetch_sources(profile, tmp_path, mirror_dir)
    assert again.fetched == [] and len(again.unchanged) == len(profile.sources)


def test_fetch_over_http_from_127_0_0_1(profile, http_mirror, tmp_path):
    _QuietHandler.requests_seen.clear()
    report = fetch_sources(profile, tmp_path, http_mirror)
    assert report.ok, report.refused
    assert len(report.fetched) == len(profile.sources)
    assert len(_QuietHandler.requests_seen) == len(profile.sources)
    assert _sha(tmp_path / "kitas/kitas_in_flensburg.geojson") == next(
        s.sha256 for s in profile.sources if s.path == "kitas/kitas_in_flensburg.geojson")


def test_corrupted_mirror_file_is_refused_and_not_saved(profile, mirror_dir, tmp_path):
    bad_mirror = tmp_path / "mirror"
    shutil.copytree(mirror_dir, bad_mirror)
    target = bad_mirror / "sozialatlas_2022/fl_residents_by_district.csv"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("3323", "3324"))
    destination = tmp_path / "dest"
    report = fetch_sources(profile, destination, bad_mirror)
    assert not report.ok
    assert len(report.refused) == 1
    assert "fl_residents_by_district.csv" in report.refused[0] and "Prüfsumme" in report.refused[0]
    assert not (destination / "sozialatlas_2022/fl_residents_by_district.csv").exists()


def test_bootstrap_ingests_nothing_from_a_corrupted_mirror(mirror_dir, tmp_path, bif_home, capsys):
    bad_mirror = tmp_path / "mirror"
    shutil.copytree(mirror_dir, bad_mirror)
    target = bad_mirror / "geo/flensburg_stadtteile.geojson"
    target.chmod(0o644)
    with open(target, "ab") as fh:
        fh.write(b" ")
    assert main(["data", "bootstrap", "flensburg", "--mirror", str(bad_mirror)]) == 1
    err = capsys.readouterr().err
    assert "flensburg_stadtteile.geojson" in err and "nichts eingespielt" in err
    assert not (bif_home / "store").exists()


def test_checksum_mismatch_on_download_is_refused(profile, http_mirror, tmp_path):
    tampered = replace(profile, sources=tuple(
        replace(s, sha256="0" * 64) if s.path.endswith("fl_district.csv") else s for s in profile.sources))
    report = fetch_sources(tampered, tmp_path, http_mirror)
    assert len(report.refused) == 1 and "fl_district.csv" in report.refused[0]
    assert not (tmp_path / "sozialatlas_2022/fl_district.csv").exists()


def test_sql_dump_table_extraction():
    sql = """
    CREATE TABLE fl_district (id int, name text);
    INSERT INTO fl_district (id, name) VALUES (1, 'Altstadt'), (2, 'Friesischer Berg'),
      (3, 'O''Brien'), (4, NULL);
    INSERT INTO public.fl_other (a) VALUES (9);
    INSERT INTO fl_district (id, name) VALUES (5, 'a,b');
    """
    assert extract_table(sql, "fl_district") == (
        "id,name\n1,Altstadt\n2,Friesischer Berg\n3,O'Brien\n4,\n5,\"a,b\"\n")
    assert extract_table(sql, "fl_other") == "a\n9\n"
    with pytest.raises(ValueError, match="not found"):
        extract_table(sql, "missing")
