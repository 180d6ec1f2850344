"""The German catalog page (escaped, self-contained) and the ``bif opendata`` commands."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from opendata_helpers import BASE_URL

from bif_lib.cli import main
from bif_lib.opendata import release, site

EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def _record(**changes) -> dict:
    record = {
        "dataset": "einwohner_stadtteile", "version": 3, "store_sha256": "0" * 64, "rows": 15756,
        "classification": "open", "synthetic": False, "title": "Einwohner je Stadtteil",
        "description": "Einwohner mit Hauptwohnsitz.", "keywords": ["Flensburg"], "themes": ["SOCI", "REGI"],
        "contact": {"name": "Statistik", "email": "statistik@flensburg.example"},
        "temporal": {"start": "2011-01-01", "end": "2022-12-31"}, "reference_date": "31.12.2022",
        "frequency": "ANNUAL", "spatial_unit": "Stadtteil",
        "licence": {"key": "dl-by-de/2.0", "uri": "http://dcat-ap.de/def/licenses/dl-by-de/2.0",
                    "label": "Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0)",
                    "url": "https://www.govdata.de/dl-de/by-2-0", "attribution": "Stadt Flensburg"},
        "protection": None, "geo": False, "fields": [{"name": "residents", "title": "Einwohner", "unit": "Personen"}],
        "modified": "2026-12-01T09:30:00+00:00", "issued": "2026-12-02T10:00:00+00:00",
        "released_at": "2026-12-02T10:00:00+00:00",
        "files": [{"kind": "csv", "name": "einwohner_stadtteile.csv", "bytes": 1253, "sha256": "a" * 64},
                  {"kind": "parquet", "name": "einwohner_stadtteile.parquet", "bytes": 2_345_678, "sha256": "b" * 64},
                  {"kind": "datapackage", "name": "datapackage.json", "bytes": 512, "sha256": "c" * 64}],
    }
    record.update(changes)
    return record


def _manifest(*records) -> dict:
    manifest = site.empty_manifest({"key": "flensburg", "name": "Flensburg", "official_name": "Stadt Flensburg",
                                    "ags": "01001000"}, BASE_URL)
    manifest["updated_at"] = "2026-12-02T10:00:00+00:00"
    manifest["datasets"] = {r["dataset"]: r for r in records}
    return manifest


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def test_the_catalog_page_is_german_and_formats_numbers_and_dates_german():
    page = site.catalog_page(_manifest(_record()))
    assert '<html lang="de">' in page and "<title>Offene Daten – Stadt Flensburg</title>" in page
    for german in ("Herausgeber", "Kontakt", "Lizenz", "Namensnennung", "Stand", "Zeitraum", "Aktualisierung",
                   "Downloads", "Größe", "Kategorien", "Bevölkerung und Gesellschaft", "jährlich"):
        assert german in page, german
    assert "01.01.2011 bis 31.12.2022" in page and "02.12.2026 11:00 Uhr" in page  # Europe/Berlin
    assert "15.756" in page and "1,3 kB" in page and "2,3 MB" in page
    assert 'href="https://www.govdata.de/dl-de/by-2-0"' in page
    assert 'href="datasets/einwohner_stadtteile/einwohner_stadtteile.csv"' in page and "a" * 64 in page
    assert 'href="catalog.ttl"' in page and 'href="catalog.jsonld"' in page


def test_the_catalog_page_escapes_every_value_and_loads_nothing_from_outside():
    evil = _record(title=EVIL, description=EVIL, keywords=[EVIL], spatial_unit=EVIL,
                   contact={"name": EVIL, "email": 'a"b<c>@x.example'},
                   licence={**_record()["licence"], "attribution": EVIL},
                   fields=[{"name": "x", "title": EVIL, "unit": EVIL}], synthetic=True,
                   protection={"method": EVIL, "released_at": "2026-12-02T10:00:00+00:00"})
    page = site.catalog_page(_manifest(evil))
    assert "<script" not in page and "<img" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page
    collector = _Collector()
    collector.feed(page)
    assert "script" not in collector.tags and "img" not in collector.tags and "link" not in collector.tags
    sources = [value for name, value in collector.attrs if name in ("src", "srcset", "data")]
    assert sources == []
    external = [value for name, value in collector.attrs if name == "href" and re.match(r"https?:", value or "")]
    assert external == ["https://www.govdata.de/dl-de/by-2-0"]  # only the licence text is linked outside
    assert "Synthetische Daten:" in page
    mailto = [value for name, value in collector.attrs if name == "href" and value.startswith("mailto:")]
    assert mailto == ["mailto:a%22b%3Cc%3E@x.example"]


def test_an_empty_site_says_so():
    assert "Noch keine Datensätze veröffentlicht." in site.catalog_page(_manifest())


# --- the command line -------------------------------------------------------------------------------

@pytest.fixture
def cli_env(flensburg_home, monkeypatch):
    monkeypatch.setenv("BIF_STORE", str(flensburg_home / "store"))


def test_bif_opendata_release_list_and_validate(cli_env, out, capsys):
    assert main(["opendata", "release", "einwohner_stadtteile", "kitas", "--output", str(out),
                 "--base-url", BASE_URL]) == 0
    printed = capsys.readouterr()
    assert "veröffentlicht: einwohner_stadtteile Version 1" in printed.out
    assert "veröffentlicht: kitas Version 1" in printed.out and "WARNUNG" in printed.out
    assert "prüfe das Data Package (frictionless)" in printed.err  # progress on stderr

    assert main(["opendata", "release", "kitas", "-o", str(out)]) == 0
    assert "unverändert: kitas Version 1 ist schon veröffentlicht" in capsys.readouterr().out

    assert main(["opendata", "list", "--output", str(out)]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"kitas\s+offen\s+1\s+Version 1\s+freigebbar", listing)
    assert re.search(r"melderegister_personen\s+vertraulich\s+1\s+–\s+nicht freigebbar: .*nie", listing)
    assert main(["opendata", "list", "--json", "-o", str(out)]) == 0
    rows = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["kitas"]["published_version"] == 1 and not rows["bevoelkerung_einzelalter"]["releasable"]

    assert main(["opendata", "validate", str(out)]) == 0
    assert "ist gültig" in capsys.readouterr().out
    (out / "index.html").write_text((out / "index.html").read_text(encoding="utf-8").replace(
        "Kindertagesstätten", "Kitas"), encoding="utf-8")
    assert main(["opendata", "validate", str(out)]) == 1
    assert "FEHLER index.html weicht von der Katalogseite ab" in capsys.readouterr().out


def test_bif_opendata_refusals_are_german_without_traceback(cli_env, out, capsys):
    assert main(["opendata", "release", "melderegister_personen", "-o", str(out), "--base-url", BASE_URL]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FEHLER: „melderegister_personen“ ist als „vertraulich“ eingestuft")
    assert "Traceback" not in err
    assert main(["opendata", "release", "einwohner_stadtteile", "-o", str(out)]) == 1
    assert "Keine Basis-URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["opendata", "release"])
    assert usage.value.code == 2 and "es fehlen Angaben" in capsys.readouterr().err
    assert main(["opendata", "validate", str(out)]) == 1
    assert "kein Ordner" in capsys.readouterr().out
    assert not out.exists()


def test_release_reports_a_changed_base_url(store, out):
    release.release("stadtteile_namen", output=out, base_url=BASE_URL, store=store)
    moved = release.release("haushaltstypen", output=out, base_url="https://daten.flensburg.example/", store=store)
    assert any("Basis-URL geändert" in w for w in moved.warnings)
    assert "https://daten.flensburg.example/datasets/stadtteile_namen/" in (out / "catalog.ttl").read_text("utf-8")
    assert release.validate_site(out) == []
