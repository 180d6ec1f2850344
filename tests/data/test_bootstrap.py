"""The whole Flensburg bootstrap against the mirror: counts, totals, geodata, keys, idempotence."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

import bif_lib as bif
from bif_lib.city.profile import load_profile
from bif_lib.data.bootstrap import bootstrap

# Row counts documented in ../shared/data/flensburg/SOURCES.md
EXPECTED_ROWS = {"stadtteile": 13, "statistische_bezirke": 41, "schulen": 30, "kitas": 70,
                 "einwohner_stadtteile": 91, "geburten_stadtteile": 104}


def _store_digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_every_contract_is_in_the_store(flensburg_store):
    profile = load_profile("flensburg")
    contracts = profile.contracts()
    stored = set(bif.list_datasets(store=flensburg_store)["dataset"])
    # a department's own file without a public source is left out (with a note) until the department ingests it
    listed = {s.path for s in profile.sources}
    own = {d for d, c in contracts.items() if c.source["path"] not in listed and not c.source["path"].startswith("generated/")}
    assert own == {"schulkapazitaeten", "kindertagespflege"}
    assert set(contracts) - own == stored


@pytest.mark.parametrize("dataset,rows", sorted(EXPECTED_ROWS.items()))
def test_row_counts_match_sources_md(flensburg_store, dataset, rows):
    assert len(bif.load(dataset, store=flensburg_store)) == rows


def test_geodata_is_valid_and_in_epsg_25832(flensburg_store):
    for dataset in ("stadtteile", "statistische_bezirke", "kitas"):
        frame = bif.load(dataset, store=flensburg_store)
        assert frame.crs.to_epsg() == 25832, dataset
        assert frame.geometry.is_valid.all(), dataset
    areas = bif.load("stadtteile", store=flensburg_store).geometry.area.sum() / 1e6
    assert areas == pytest.approx(48.99, abs=0.05)   # SOURCES.md: total land area 48.99 km²


def test_every_foreign_key_resolves(flensburg_store):
    contracts = load_profile("flensburg").contracts()
    for contract in contracts.values():
        if not contract.foreign_keys or flensburg_store.catalog.latest(contract.id) is None:
            continue  # (a department's own dataset not ingested yet, e.g. schulkapazitaeten)
        frame = bif.load(contract.id, store=flensburg_store, purpose="Test: Fremdschlüssel prüfen")
        for fk in contract.foreign_keys:
            reference = bif.load(fk.resource, store=flensburg_store)
            local = frame[list(fk.fields)].dropna().astype(str).drop_duplicates()
            known = reference[list(fk.reference_fields)].astype(str).drop_duplicates()
            known.columns = list(fk.fields)
            merged = local.merge(known, how="left", on=list(fk.fields), indicator=True)
            assert (merged["_merge"] == "both").all(), f"{contract.id} → {fk.resource}"


def test_synthetic_register_reproduces_published_totals(flensburg_store):
    persons = bif.load("melderegister_personen", store=flensburg_store, purpose="Test: Kalibrierung prüfen")
    assert persons.attrs["bif"]["synthetic"] is True
    assert persons.attrs["bif"]["classification"] == "confidential"
    published = bif.load("einwohner_stadtteile", store=flensburg_store)
    counted = persons.groupby(["extract_year", "district_id"]).size().rename("synthetic").reset_index()
    merged = published.merge(counted, left_on=["year", "district_id"], right_on=["extract_year", "district_id"])
    assert len(merged) == 13 * 6          # every Stadtteil, 2017–2022
    assert (merged["residents"] == merged["synthetic"]).all()
    events = bif.load("melderegister_ereignisse", store=flensburg_store, purpose="Test: Kalibrierung prüfen")
    births = events[events["event"] == "birth"].groupby(["year", "district_id"]).size().rename("synthetic")
    published_births = bif.load("geburten_stadtteile", store=flensburg_store).set_index(["year", "district_id"])["births"]
    joined = pd.concat([published_births, births], axis=1, join="inner")
    assert len(joined) >= 13 * 5
    assert (joined["births"] == joined["synthetic"]).all()


def test_rerunning_the_bootstrap_changes_nothing(flensburg_home, flensburg_store, mirror_dir):
    before = _store_digest(flensburg_home / "store")
    result = bootstrap("flensburg", mirror=mirror_dir, store=flensburg_store)
    assert result.ok
    assert {o.status for o in result.outcomes.values()} == {"unchanged"}
    assert _store_digest(flensburg_home / "store") == before
    # the school office's capacities have no public source: left out with a note, not a failure
    assert "keine öffentliche Quelle" in result.skipped["schulkapazitaeten"]
    assert "schulkapazitaeten" not in result.outcomes
    assert "unverändert" in result.summary()
