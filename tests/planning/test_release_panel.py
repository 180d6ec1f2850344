"""The released aggregates carry their disclosure-control certificate, and the apps' „Daten &
Qualität" panel says how they were protected."""

import bif_lib as bif
from bif_lib.apps.widgets.panels import dataset_html, dataset_summary
from bif_lib.releases import certificate_of


def test_released_population_is_protected_with_the_cell_key_method(flensburg_store):
    entry = flensburg_store.catalog.latest("bevoelkerung_einzelalter")
    certificate = certificate_of(entry)
    assert certificate.method == "cellkey" and certificate.passed and certificate.synthetic
    frame = bif.load("bevoelkerung_einzelalter", store=flensburg_store)
    assert certificate.matches(frame)
    assert not frame["population"].between(1, certificate.ptable_parameters["js"]).any()
    summary = dataset_summary(bif.describe("bevoelkerung_einzelalter", store=flensburg_store))
    assert summary["protection"].startswith("geschützt (Cell-Key-Verfahren)")
    assert "Geheimhaltung" in dataset_html(summary)


def test_projection_parameters_carry_an_output_check(flensburg_store):
    certificate = certificate_of(flensburg_store.catalog.latest("projektionsparameter"))
    assert certificate.method == "output_check" and certificate.passed
    summary = dataset_summary(bif.describe("projektionsparameter", store=flensburg_store))
    assert summary["protection"].startswith("geschützt (Ausgabeprüfung")


def test_public_datasets_need_no_protection_label(flensburg_store):
    assert dataset_summary(bif.describe("einwohner_stadtteile", store=flensburg_store))["protection"] == ""
