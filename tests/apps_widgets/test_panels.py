"""„Daten & Qualität“: versions, dates, sources, licence, checks and the synthetic label."""

from types import SimpleNamespace

import pytest

from bif_lib.apps.widgets.export import ExportInfo
from bif_lib.apps.widgets.panels import DataQualityPanel, dataset_summary, quality_html, reference_date
from bif_lib.i18n import format_local_datetime

SOZIALATLAS_2022 = {"start": 2011, "end": 2022, "reference_date": "31.12. des Jahres (Melderegister)"}


def fake_description(synthetic: bool = False, warnings: int = 0, release: dict | None = None,
                     coverage: dict | None = None, ingested_at: str = "2024-01-31T23:30:00+00:00"):
    entry = SimpleNamespace(dataset_id="einwohner_stadtteile", title="Einwohner je Stadtteil", version=2,
                            ingested_at=ingested_at, rows=91, classification="open",
                            synthetic=synthetic, sha256="ab" * 32, lineage={"release": release} if release else {})
    contract = {"owner": "Stadt Flensburg", "source_system": "Sozialatlas 2022",
                "temporal_coverage": SOZIALATLAS_2022 if coverage is None else coverage,
                "licence": {"name": "CC0-1.0", "attribution": "Stadt Flensburg; OK Lab Flensburg"},
                "rules": [{"id": "vollstaendig", "type": "complete_keys",
                           "description": "Jeder Stadtteil in jedem Jahr."},
                          {"id": "lage", "type": "point_in_polygon_attribute", "severity": "warning",
                           "description": "Lage stimmt."}]}
    failures = [{"severity": "warning", "message": f"Warnung {i}"} for i in range(warnings)]
    report = {"ok": True, "rows_checked": 91, "warnings": warnings, "failures": failures,
              "rules_checked": ["type", "primary_key", "complete_keys"]}
    return SimpleNamespace(entry=entry, contract=contract, report=report, versions=[1, 2])


def test_dataset_summary_in_german():
    summary = dataset_summary(fake_description())
    assert summary["version"] == 2 and summary["versions"] == 2
    assert summary["ingested_at"] == "01.02.2024 00:30"  # Europe/Berlin
    assert summary["classification"] == "offen"
    assert summary["checks"] == ["Datentyp", "Primärschlüssel eindeutig", "Vollständigkeit der Schlüssel"]
    assert summary["rules"][1] == ("lage", "Lage stimmt.", "warning")
    assert summary["licence"] == "CC0-1.0" and summary["attribution"].startswith("Stadt Flensburg")


def test_protection_of_a_release_is_stated_in_german():
    assert dataset_summary(fake_description())["protection"] == ""
    released = dataset_summary(fake_description(release={"method": "cellkey", "released_by": "sina",
                                                          "released_at": "2026-12-05T06:00:00+00:00"}))
    assert released["protection"] == "geschützt (Cell-Key-Verfahren) – freigegeben 05.12.2026 07:00, von sina"
    assert "<th>Geheimhaltung</th>" in quality_html([released])
    suppressed = dataset_summary(fake_description(release={"method": "suppression"}))
    assert suppressed["protection"] == "geschützt (Zellsperrung)"


def test_quality_html_synthetic_label_warnings_assumptions():
    plain = quality_html([dataset_summary(fake_description())])
    assert "bif-badge-synthetic" not in plain and "bestanden" in plain
    assert "Jeder Stadtteil in jedem Jahr." in plain and "Lage stimmt. (Warnung)" in plain
    assert plain.count("Stadt Flensburg; OK Lab Flensburg") == 2  # per dataset and once as Quellenvermerk
    synthetic = quality_html([dataset_summary(fake_description(synthetic=True, warnings=7))],
                             assumptions={"Szenario": "mittel"}, notes=["Hinweis X"])
    assert "synthetische Daten" in synthetic and "bif-badge-synthetic" in synthetic
    assert "7 Warnung(en)" in synthetic and "… und 2 weitere" in synthetic
    assert "Annahmen der Berechnung" in synthetic and "mittel" in synthetic and "Hinweis X" in synthetic


def test_panel_from_store_uses_loaded_versions(flensburg_store):
    import bif_lib as bif

    residents = bif.load("einwohner_stadtteile")
    ages = bif.load("bevoelkerung_einzelalter")
    panel = DataQualityPanel([residents, ages, "stadtteile", residents, ("projektionsparameter", 1)])
    assert [s["dataset"] for s in panel.summaries] == ["einwohner_stadtteile", "bevoelkerung_einzelalter",
                                                       "stadtteile", "projektionsparameter"]
    assert panel.synthetic and "synthetische Daten" in panel.get_title(0)
    assert "Einwohnerinnen und Einwohner je Stadtteil" in panel.html.value
    panel.set_assumptions({"Szenario": "hoch"})
    assert "hoch" in panel.html.value
    info = panel.export_info(app="Test", selection="Mürwik")
    assert isinstance(info, ExportInfo) and info.assumptions == {"Szenario": "hoch"}
    second = info.datasets[1]
    assert (second.title, second.dataset, second.version) == (ages.attrs["bif"]["title"], "bevoelkerung_einzelalter",
                                                               ages.attrs["bif"]["version"])
    assert second.synthetic and second.protection.startswith("geschützt (Cell-Key-Verfahren)")
    assert "Quellenvermerk 1" in info.sources and "Lizenz 1" in info.sources
    # Sozialatlas 2022: the data's reference date, not the day it was read in
    first = info.datasets[0]
    entry = flensburg_store.catalog.latest("einwohner_stadtteile")
    assert first.reference == "31.12.2022" and first.imported == format_local_datetime(entry.ingested_at)
    assert "Stand 31.12.2022, eingelesen " + format_local_datetime(entry.ingested_at) in panel.html.value


def test_stand_is_the_reference_date_and_the_import_date_is_shown_apart():
    """Sozialatlas 2022 (31.12. of each year, last year 2022), read in on 01.02.2024 00:30 Berlin time."""
    summary = dataset_summary(fake_description())
    assert summary["reference"] == "31.12.2022"
    assert summary["reference_detail"] == "Stichtag: 31.12. des Jahres (Melderegister); Zeitraum 2011–2022"
    assert summary["ingested_at"] == "01.02.2024 00:30"
    html = quality_html([summary])
    assert "Version 2, Stand 31.12.2022, eingelesen 01.02.2024 00:30" in html  # the line of the dataset
    assert "<th>Stand der Daten</th><td>31.12.2022 " in html and "<th>Eingelesen</th><td>01.02.2024 00:30</td>" in html
    assert "Stand 01.02.2024" not in html
    summer = dataset_summary(fake_description(ingested_at="2024-07-01T10:00:00+00:00"))
    assert summer["ingested_at"] == "01.07.2024 12:00"  # CEST: UTC + 2
    unknown = quality_html([dataset_summary(fake_description(coverage={}))])
    assert "Stand nicht angegeben" in unknown


@pytest.mark.parametrize("coverage, stand", [
    ({"start": 2011, "end": 2022, "reference_date": "31.12. des Jahres (Melderegister)"}, "31.12.2022"),
    ({"start": 2017, "end": 2022, "reference_date": "30.06. des Jahres (Bundesagentur für Arbeit)"}, "30.06.2022"),
    ({"reference_date": "2024-01-17 (Stand der Kita-Datenbank SH)"}, "17.01.2024"),
    ({"start": "2018-01-01", "reference_date": "2018-01-01 (Beginn der Gültigkeit, LIFECYCLE_)"}, "01.01.2018"),
    ({"start": 2021, "end": 2022}, "2022"),
    ({"start": 2021, "end": 2022, "reference_date": "Jahressumme"}, "2022"),
    ({"start": "2022/23", "end": "2022/23", "reference_date": "Schuljahr 2022/23 (vermutet)"}, "2022/23"),
    ({"start": "2018-01-01", "reference_date": "Gliederung 2018"}, "Gliederung 2018"),
    ({}, ""),
])
def test_reference_date_from_the_contract(coverage, stand):
    assert reference_date(coverage) == stand
