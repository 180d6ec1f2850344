"""„Daten & Qualität“: versions, dates, sources, licence, checks and the synthetic label."""

from types import SimpleNamespace

from bif_lib.apps.widgets.panels import DataQualityPanel, dataset_summary, quality_html


def fake_description(synthetic: bool = False, warnings: int = 0, release: dict | None = None):
    entry = SimpleNamespace(dataset_id="einwohner_stadtteile", title="Einwohner je Stadtteil", version=2,
                            ingested_at="2024-01-31T23:30:00+00:00", rows=91, classification="open",
                            synthetic=synthetic, sha256="ab" * 32, lineage={"release": release} if release else {})
    contract = {"owner": "Stadt Flensburg", "source_system": "Sozialatlas 2022",
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
    assert "bif-badge-synthetic" not in plain and "2 von 2 – Stand 31.01.2024" not in plain and "2 von 2 – Stand 01.02.2024" in plain and "bestanden" in plain
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
    info = panel.export_info()
    assert info["Datensatz 2"].startswith(ages.attrs["bif"]["title"]) and "(synthetisch)" in info["Datensatz 2"]
    assert "Quellenvermerk 1" in info and "Lizenz 1" in info
