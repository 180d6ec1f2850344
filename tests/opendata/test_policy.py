"""What may leave: open data yes; internal tables only with a release certificate and the
contract's opt-in; confidential never. Every way around it is refused in German, naming the rule."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, replace

import pytest
from opendata_helpers import BASE_URL, ingest_small, small_contract, small_delivery, tree_digests

from bif_lib.opendata import release, site
from bif_lib.opendata.policy import OpenDataRefused, decide, verify_content
from bif_lib.opendata.vocabularies import LicenceError, licence_of

# --- through the real store ------------------------------------------------------------------------

def test_confidential_data_never_leave(store, out):
    with pytest.raises(OpenDataRefused, match="„melderegister_personen“ ist als „vertraulich“ eingestuft: "
                                              "vertrauliche Daten werden nie"):
        release.release("melderegister_personen", output=out, base_url=BASE_URL, store=store)
    assert not out.exists()


def test_an_internal_table_with_certificate_but_without_opt_in_stays(store, out):
    assert store.catalog.latest("bevoelkerung_einzelalter").lineage.get("release")  # it has a certificate
    with pytest.raises(OpenDataRefused) as refused:
        release.release("bevoelkerung_einzelalter", output=out, base_url=BASE_URL, store=store)
    message = str(refused.value)
    assert "ist als „intern“ eingestuft und trägt ein Freigabe-Zertifikat" in message
    assert "opendata: {release: true}" in message and "Cell-Key-Verfahren" in message


def test_an_internal_table_without_certificate_stays(tmp_path, out):
    from bif_lib.store import Store

    store = Store(tmp_path / "store")
    ingest_small(store, tmp_path / "in", small_contract(classification="internal",
                                                        opendata={"release": True}), small_delivery(10))
    with pytest.raises(OpenDataRefused, match="„testtabelle“ ist als „intern“ eingestuft und trägt kein "
                                              "Freigabe-Zertifikat der Statistikstelle"):
        release.release("testtabelle", output=out, base_url=BASE_URL, store=store)


def test_the_office_s_released_aggregate_leaves_with_its_opt_in(office_store, out):
    from bif_lib.store import Store

    store = Store(office_store)
    entry = store.catalog.latest("bevoelkerung_einzelalter")
    assert entry.version == 2 and entry.contract["opendata"]["release"] is True
    result = release.release("bevoelkerung_einzelalter", output=out, base_url=BASE_URL, store=store)
    assert result.released == {"bevoelkerung_einzelalter": 2}
    assert release.validate_site(out) == []
    record = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))["datasets"]["bevoelkerung_einzelalter"]
    assert record["synthetic"] and "synthetisch" in record["keywords"]
    assert record["description"].startswith("SYNTHETISCHE DATEN")
    assert record["protection"]["method"] == "Cell-Key-Verfahren"
    assert record["licence"]["uri"] == "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    assert record["themes"] == ["SOCI", "REGI"]
    turtle = (out / "catalog.ttl").read_text(encoding="utf-8")
    assert '"synthetisch"@de' in turtle and "SYNTHETISCHE DATEN" in turtle
    assert "Synthetische Daten:" in (out / "index.html").read_text(encoding="utf-8")
    # what the certificate says about the noise stays in the office: no parameter leaves
    everything = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.suffix in
                           (".json", ".ttl", ".jsonld", ".html", ".csv"))
    for secret in ("ptable", "intervals_sha256", "content_sha256", "released_by", '"js"'):
        assert secret not in everything


def test_a_protected_table_must_still_match_its_certificate(office_store):
    from bif_lib.store import Store

    store = Store(office_store)
    decision = decide(store, "bevoelkerung_einzelalter")
    frame = store.read(decision.entry)
    verify_content(decision, frame)  # the stored table is what was certified
    changed = frame.copy()
    changed.loc[changed.index[0], "population"] += 1
    with pytest.raises(OpenDataRefused, match="stimmt nicht mit dem Freigabe-Zertifikat überein"):
        verify_content(decision, changed)


def test_an_unknown_licence_is_refused(store, out):
    with pytest.raises(OpenDataRefused, match="Lizenz „Modellrechnung von BIF \\(EUPL-1.2\\)“ ist keine offene "
                                              "Datenlizenz"):
        release.release("sterbetafel_sh", output=out, base_url=BASE_URL, store=store)


def test_without_a_base_url_nothing_is_written(store, out):
    with pytest.raises(release.ReleaseFailed, match="Keine Basis-URL.*--base-url"):
        release.release("einwohner_stadtteile", output=out, store=store)
    assert not out.exists()
    for bad in ("ftp://x/", "opendata.flensburg.de", "https://x/?a=1", "javascript:alert(1)"):
        with pytest.raises(site.SiteError, match="keine gültige Basis-URL"):
            release.release("einwohner_stadtteile", output=out, store=store, base_url=bad)


@pytest.mark.parametrize("name", ["../melderegister_personen", "einwohner_stadtteile/../../etc", "Einwohner",
                                  "a", "", "einwohner stadtteile", "x" * 80])
def test_a_name_that_is_not_a_dataset_id_is_refused(store, out, name):
    with pytest.raises(OpenDataRefused, match="ist kein Datensatzname"):
        release.release(name, output=out, base_url=BASE_URL, store=store)


def test_all_or_nothing_when_one_of_several_is_refused(store, out):
    with pytest.raises(OpenDataRefused, match="melderegister_personen"):
        release.release(["einwohner_stadtteile", "melderegister_personen"], output=out, base_url=BASE_URL,
                        store=store)
    assert not out.exists()


def test_unusable_output_folders_are_refused(store, tmp_path):
    real = tmp_path / "echt"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(site.SiteError, match="symbolischer Link"):
        release.release("einwohner_stadtteile", output=link, base_url=BASE_URL, store=store)
    foreign = tmp_path / "fremd"
    foreign.mkdir()
    (foreign / "wichtig.txt").write_text("nicht überschreiben", encoding="utf-8")
    with pytest.raises(site.SiteError, match="nicht leer und kein Open-Data-Ordner von BIF"):
        release.release("einwohner_stadtteile", output=foreign, base_url=BASE_URL, store=store)
    assert (foreign / "wichtig.txt").read_text(encoding="utf-8") == "nicht überschreiben"
    a_file = tmp_path / "datei"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(site.SiteError, match="kein Ordner"):
        release.release("einwohner_stadtteile", output=a_file, base_url=BASE_URL, store=store)
    assert list(real.iterdir()) == []


def test_a_planted_symlink_in_the_site_is_not_followed(store, out, tmp_path):
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    secret = tmp_path / "geheim.csv"
    secret.write_text("vertraulich", encoding="utf-8")
    target = out / "datasets" / "einwohner_stadtteile" / "einwohner_stadtteile.csv"
    target.unlink()
    target.symlink_to(secret)
    before = tree_digests(out)
    assert any("keine gewöhnliche Datei" in p for p in release.validate_site(out))
    with pytest.raises(release.ReleaseFailed, match="keine gewöhnliche Datei"):
        release.release("kitas", output=out, store=store)
    assert tree_digests(out) == before and target.is_symlink()


def test_a_stricter_current_contract_wins_over_the_stored_version(store, out, tmp_path, monkeypatch):
    """A steward who reclassified a dataset but has not ingested it again is not overruled."""
    import shutil

    import yaml

    contracts = tmp_path / "contracts"
    shutil.copytree(release.config.contracts_root() / "flensburg", contracts / "flensburg")
    path = contracts / "flensburg" / "stadtteile_namen.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**raw, "classification": "internal"}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("BIF_CONTRACTS", str(contracts))
    with pytest.raises(OpenDataRefused, match="aktuelle Datenvertrag stuft den Datensatz als „intern“ ein"):
        release.release("stadtteile_namen", output=out, base_url=BASE_URL, store=store)
    path.write_text(yaml.safe_dump({**raw, "opendata": {"release": False}}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(OpenDataRefused, match="schließt die Veröffentlichung als offene Daten aus"):
        release.release("stadtteile_namen", output=out, base_url=BASE_URL, store=store)


# --- the rules on crafted catalog entries ----------------------------------------------------------

@dataclass
class FakeCatalog:
    entries: dict = field(default_factory=dict)   # dataset -> [VersionEntry]

    def versions(self, dataset):
        return list(self.entries.get(dataset, []))

    def latest(self, dataset):
        versions = self.entries.get(dataset)
        return versions[-1] if versions else None


@dataclass
class FakeStore:
    catalog: FakeCatalog


def _entry(dataset="tabelle", version=1, classification="open", contract=None, lineage=None):
    from bif_lib.store import VersionEntry

    raw = contract or small_contract(id=dataset, classification=classification)
    return VersionEntry(dataset_id=dataset, version=version, classification=classification, title="T", description="D",
                        path=f"{classification}/{dataset}/v{version:04d}.parquet", sha256="0" * 64, rows=1,
                        columns=["district_id"], contract_version="1.0", contract_sha256="1" * 64, contract=raw,
                        source_file="x", source_sha256="2" * 64, ingested_by="t", ingested_at="2026-01-01T00:00:00+00:00",
                        lineage=lineage or {})


CERTIFICATE = {"dataset": "tabelle", "method": "suppression", "parameters": {}, "released_by": "statistik",
               "released_at": "2026-01-01T00:00:00+00:00", "content_sha256": "3" * 64,
               "checks": [{"id": "min", "name": "Mindestfallzahl", "passed": True, "detail": ""}]}


def _store(*entries, **others):
    catalog = FakeCatalog({"tabelle": list(entries)})
    for name, classification in others.items():
        catalog.entries[name] = [_entry(name, classification=classification)]
    return FakeStore(catalog)


def test_an_open_dataset_without_history_leaves():
    decision = decide(_store(_entry()), "tabelle")
    assert not decision.protected


def test_an_open_version_after_a_confidential_one_needs_certificate_and_opt_in():
    older = _entry(classification="confidential")
    newer = _entry(version=2)
    with pytest.raises(OpenDataRefused, match="war in Version 1 als „vertraulich“ eingestuft und trägt kein "
                                              "Freigabe-Zertifikat"):
        decide(_store(older, newer), "tabelle")
    certified = replace(newer, lineage={"release": CERTIFICATE})
    with pytest.raises(OpenDataRefused, match="erlaubt die Veröffentlichung als offene Daten nicht ausdrücklich"):
        decide(_store(older, certified), "tabelle")
    opted_in = replace(certified, contract=small_contract(id="tabelle", opendata={"release": True}))
    decision = decide(_store(older, opted_in), "tabelle")
    assert decision.protected and decision.certificate.method == "suppression"


def test_derived_or_checked_against_non_open_data_is_protected():
    derived = _entry(contract=small_contract(id="tabelle", derived_from=["quelle"]))
    with pytest.raises(OpenDataRefused, match="ist aus „quelle“ abgeleitet \\(intern\\)"):
        decide(_store(derived, quelle="internal"), "tabelle")
    with pytest.raises(OpenDataRefused, match="nicht im Datenspeicher, gilt als vertraulich"):
        decide(_store(derived), "tabelle")
    assert not decide(_store(derived, quelle="open"), "tabelle").protected
    checked = _entry(lineage={"references": {"geheim": 1}})
    with pytest.raises(OpenDataRefused, match="gegen den nicht offenen Datensatz „geheim“ geprüft"):
        decide(_store(checked, geheim="confidential"), "tabelle")


def test_a_certificate_must_be_for_this_dataset_and_passed():
    opt_in = small_contract(id="tabelle", classification="internal", opendata={"release": True})
    other = _entry(classification="internal", contract=opt_in, lineage={"release": {**CERTIFICATE, "dataset": "x"}})
    with pytest.raises(OpenDataRefused, match="gilt für „x“"):
        decide(_store(other), "tabelle")
    checks = [{"id": "min", "name": "Mindestfallzahl", "passed": False, "detail": ""}]
    failed = _entry(classification="internal", contract=opt_in, lineage={"release": {**CERTIFICATE, "checks": checks}})
    with pytest.raises(OpenDataRefused, match="nicht bestandene Prüfungen \\(Mindestfallzahl\\)"):
        decide(_store(failed), "tabelle")
    broken = _entry(classification="internal", contract=opt_in, lineage={"release": {"method": "cellkey"}})
    with pytest.raises(OpenDataRefused, match="Zertifikat ist nicht lesbar"):
        decide(_store(broken), "tabelle")


def test_a_contradictory_catalog_entry_is_refused():
    """A row that says "open" for data in another area, or under a contract that says otherwise."""
    moved = replace(_entry(), path="confidential/tabelle/v0001.parquet")
    with pytest.raises(OpenDataRefused, match="Katalogeintrag von Version 1 ist widersprüchlich"):
        decide(_store(moved), "tabelle")
    relabelled = replace(_entry(), contract=small_contract(id="tabelle", classification="confidential"))
    with pytest.raises(OpenDataRefused, match="widersprüchlich"):
        decide(_store(relabelled), "tabelle")


def test_an_open_dataset_can_opt_out():
    entry = _entry(contract=small_contract(id="tabelle", opendata={"release": False}))
    with pytest.raises(OpenDataRefused, match="opendata: \\{release: false\\}"):
        decide(_store(entry), "tabelle")


# --- licences --------------------------------------------------------------------------------------

@pytest.mark.parametrize("licence, key", [
    ({"name": "CC0 1.0"}, "cc-zero"),
    ({"name": "CC0-1.0"}, "cc-zero"),
    ({"name": "Lizenz der Stadt ungeprüft; Aufbereitung: CC0-1.0",
      "url": "https://creativecommons.org/publicdomain/zero/1.0/"}, "cc-zero"),
    ({"name": "dl-de/by-2-0"}, "dl-by-de/2.0"),
    ({"name": "Datenlizenz Deutschland – Namensnennung – Version 2.0", "url": "https://www.govdata.de/dl-de/by-2-0"},
     "dl-by-de/2.0"),
    ({"name": "dl-de/zero-2-0"}, "dl-zero-de/2.0"),
    ({"name": "CC BY 4.0"}, "cc-by/4.0"),
    ({"name": "Namensnennung", "url": "https://creativecommons.org/licenses/by/4.0/"}, "cc-by/4.0"),
    ({"name": "CC BY-SA 4.0"}, "cc-by-sa/4.0"),
])
def test_licences_map_to_the_dcat_ap_de_list(licence, key):
    assert licence_of({"licence": {"attribution": "x", **licence}}).key == key


@pytest.mark.parametrize("licence, message", [
    ({"name": "CC BY-NC 4.0"}, "keine offene Datenlizenz"),
    ({"name": "CC BY-ND 4.0"}, "keine offene Datenlizenz"),
    ({"name": "EUPL-1.2"}, "keine offene Datenlizenz"),
    ({"name": "Alle Rechte vorbehalten"}, "Unbekannte Lizenz"),
    ({"name": "CC0 oder dl-de/by-2-0"}, "nicht eindeutig"),
])
def test_other_licences_are_refused(licence, message):
    with pytest.raises(LicenceError, match=message):
        licence_of({"licence": {"attribution": "x", **licence}})


def test_the_contract_can_state_the_open_data_licence():
    contract = {"licence": {"name": "EUPL-1.2", "attribution": "x"}, "opendata": {"licence": "dl-by-de/2.0"}}
    assert licence_of(contract).uri == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    uri = {**contract, "opendata": {"licence": "http://dcat-ap.de/def/licenses/cc-zero"}}
    assert licence_of(uri).key == "cc-zero"
    with pytest.raises(LicenceError, match="opendata.licence"):
        licence_of({**contract, "opendata": {"licence": "cc-by-nc/4.0"}})


def test_the_contract_schema_knows_the_opendata_block():
    import yaml

    from bif_lib.contracts import ContractError, parse_contract

    raw = small_contract(opendata={"release": True, "themes": ["SOCI"], "licence": "cc-zero",
                                   "contact_email": "opendata@stadt.de", "keywords": ["Test"]})
    raw["source"] = {"format": "csv"}
    parse_contract(yaml.safe_dump(raw, allow_unicode=True))
    for bad in ({"release": "ja"}, {"themes": ["BEVOELKERUNG"]}, {"unknown": 1}, {"contact_email": "kein mail"}):
        with pytest.raises(ContractError, match="opendata"):
            parse_contract(yaml.safe_dump({**copy.deepcopy(raw), "opendata": bad}, allow_unicode=True))
    assert os.path.exists(release.config.contracts_root())


def test_the_site_lies_outside_the_store_and_belongs_to_one_city(store, out, flensburg_home):
    with pytest.raises(site.SiteError, match="außerhalb des Datenspeichers"):
        release.release("einwohner_stadtteile", output=flensburg_home / "store" / "open" / "offen",
                        base_url=BASE_URL, store=store)
    assert not (flensburg_home / "store" / "open" / "offen").exists()
    assert not (flensburg_home / "store" / "open" / ".offen.lock").exists()  # not even the lock file
    assert not (flensburg_home / "store" / "open" / ".offen.lock").exists()  # not even the lock file
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    manifest = json.loads((out / site.MANIFEST).read_text(encoding="utf-8"))
    manifest["city"] = {**manifest["city"], "key": "husum", "name": "Husum"}
    (out / site.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(site.SiteError, match="Open-Data-Ordner von „Husum“, nicht von Flensburg"):
        release.release("kitas", output=out, store=store)
