"""The foundation on the real Flensburg mirror (BIF_MIRROR; skipped when absent)."""

from __future__ import annotations

import pandas as pd
import pytest

import bif_lib
from bif_lib.ingest import ingest

AGE_COLUMNS = ["age_under_18", "age_18_to_under_30", "age_30_to_under_45", "age_45_to_under_65",
               "age_65_to_under_80", "age_80_and_above"]
DISTRICT = {"name": "district_id", "type": "integer", "constraints": {"required": True, "minimum": 1, "maximum": 13}}
TO_STADTTEILE = [{"fields": "district_id", "reference": {"resource": "stadtteile", "fields": "district_id"}}]


@pytest.fixture
def flensburg(mirror, tmp_path, store, make_contract, write_contract):
    """ingest(raw, relative path or Path) into the test store; returns the outcome."""
    def run(raw, path):
        path = path if hasattr(path, "is_file") and path.is_absolute() else mirror / path
        return ingest(write_contract(tmp_path, raw), path, store=store)

    run.make = make_contract
    return run


def stadtteile(flensburg):
    raw = flensburg.make(
        [("stadtteil_code", "string"), ("name", "string"), DISTRICT,
         {"name": "geometry", "type": "geometry", "geometry_type": ["Polygon", "MultiPolygon"], "crs": "EPSG:25832"}],
        {"format": "geojson", "crs": "OGC:CRS84", "rename": {"AREA_ID": "stadtteil_code"},
         "derive": {"district_id": {"from": "stadtteil_code", "pattern": r"^STGT(\d+)$"},
                    "name": {"from": "AREA_NAME", "pattern": r"^\d+ (.+)$"}},
         "drop_columns": ["AREA_NAME", "PARENT_ARE", "LIFECYCLE_", "CLASS_ID", "CLASS_NAME", "LEVEL_ID", "LEVEL_NAME"]},
        id="stadtteile", primary_key="district_id", spatial_unit="Stadtteil",
        rules=[{"type": "complete_keys", "keys": {"district_id": {"values": list(range(1, 14))}}}])
    outcome = flensburg(raw, "geo/flensburg_stadtteile.geojson")
    assert outcome.status == "created", outcome.report.to_text()
    return outcome


def test_stadtteile_geodata(flensburg, store):
    stadtteile(flensburg)
    frame = bif_lib.load("stadtteile", store=store)
    assert sorted(frame["district_id"]) == list(range(1, 14))
    assert frame.set_index("district_id").loc[9, "name"] == "Jürgensby"
    assert frame.crs.to_epsg() == 25832
    area_km2 = frame.geometry.area.sum() / 1e6
    assert 45 < area_km2 < 57  # Flensburg: 56,7 km² incl. the water of the Förde


def test_bezirke_repaired_and_dissolve_into_stadtteile(flensburg, store):
    stadtteile(flensburg)
    fields = [("bezirk_id", "string"), DISTRICT,
              {"name": "geometry", "type": "geometry", "geometry_type": ["Polygon", "MultiPolygon"]}]
    source = {"format": "geojson", "crs": "OGC:CRS84", "rename": {"AREA_ID": "bezirk_id"},
              "derive": {"district_id": {"from": "PARENT_ARE", "pattern": r"^STGT(\d+)$"}},
              "drop_columns": ["AREA_NAME", "PARENT_ARE", "LIFECYCLE_", "CLASS_ID", "CLASS_NAME", "LEVEL_ID",
                               "LEVEL_NAME"]}
    rules = [{"type": "dissolves_into", "dataset": "stadtteile", "key": "district_id", "dataset_key": "district_id",
              "max_mismatch_share": 0.01}]
    raw = flensburg.make(fields, source, rules=rules, id="bezirke", foreign_keys=TO_STADTTEILE)
    # the real file has invalid polygons: refused without repair …
    outcome = flensburg(raw, "geo/flensburg_statistische_bezirke.geojson")
    assert outcome.status == "rejected"
    assert {f.rule for f in outcome.report.failures()} == {"valid_geometry"}
    # … and accepted with make_valid, which is recorded
    raw["source"]["repair_geometry"] = "make_valid"
    outcome = flensburg(raw, "geo/flensburg_statistische_bezirke.geojson")
    assert outcome.status == "created", outcome.report.to_text()
    assert outcome.entry.rows == 41
    assert any("make_valid" in t for t in outcome.entry.lineage["transformations"])
    assert outcome.entry.lineage["references"] == {"stadtteile": 1}


def test_kitas_lie_in_their_stadtteil(flensburg, store, mirror):
    import geopandas as gpd

    stadtteile(flensburg)
    fields = [("district", "string"), ("facility", "string"),
              {"name": "childcare_places", "type": "integer", "constraints": {"minimum": 0}},
              {"name": "geometry", "type": "geometry", "geometry_type": ["Point"]}]
    keep = ["district", "facility", "childcare_places", "geometry"]
    columns = [c for c in gpd.read_file(mirror / "kitas" / "kitas_in_flensburg.geojson").columns if c not in keep]
    rules = [{"type": "point_in_polygon_attribute", "column": "district", "dataset": "stadtteile",
              "dataset_column": "name", "severity": "warning", "tolerance_m": 25},
             {"type": "within_boundary", "dataset": "stadtteile", "tolerance_m": 100}]
    raw = flensburg.make(fields, {"format": "geojson", "crs": "OGC:CRS84", "drop_columns": columns}, rules=rules,
                         id="kitas")
    outcome = flensburg(raw, "kitas/kitas_in_flensburg.geojson")
    assert outcome.status == "created", outcome.report.to_text()
    assert outcome.entry.rows == 70
    # a handful of real addresses sit in a neighbouring Stadtteil: warned, with the source feature number
    warned = [f for f in outcome.report.failures() if f.rule == "point_in_polygon_attribute"]
    assert len(warned) < 10
    assert all(f.severity == "warning" and 1 <= f.row <= 70 and "liegt in" in f.value for f in warned)


def test_residents_by_district(flensburg, store, mirror):
    stadtteile(flensburg)
    raw = flensburg.make(
        [("year", "year"), DISTRICT, {"name": "residents", "type": "integer", "constraints": {"minimum": 0}}],
        {"format": "csv"}, id="einwohner_stadtteile", primary_key=["year", "district_id"], foreign_keys=TO_STADTTEILE,
        rules=[{"type": "complete_keys", "keys": {"year": {"from_data": True},
                                                  "district_id": {"dataset": "stadtteile"}}},
               {"type": "change_bounds", "column": "residents", "key": ["district_id"], "order_by": "year",
                "max_relative_change": 0.15, "severity": "warning"}])
    outcome = flensburg(raw, "sozialatlas_2022/fl_residents_by_district.csv")
    assert outcome.status == "created", outcome.report.to_text()
    assert outcome.entry.rows == 91 and outcome.report.errors == 0
    frame = bif_lib.load("einwohner_stadtteile", store=store)
    source = pd.read_csv(mirror / "sozialatlas_2022" / "fl_residents_by_district.csv")
    pd.testing.assert_frame_equal(frame.astype("int64"), source.astype("int64"))


def test_age_groups_sum_equals_residents(flensburg, mirror, tmp_path):
    """A department file with the age groups and the total per row (age groups + residents of the mirror)."""
    ages = pd.read_csv(mirror / "sozialatlas_2022" / "fl_age_groups_by_district.csv")
    residents = pd.read_csv(mirror / "sozialatlas_2022" / "fl_residents_by_district.csv")
    merged = ages.merge(residents, on=["year", "district_id"], validate="1:1")
    assert len(merged) == len(ages) == 26
    # exported the German way: semicolon, thousands dot
    path = tmp_path / "altersgruppen.csv"

    def export(frame):
        text = frame.astype(object).map(lambda v: f"{v:,}".replace(",", ".")).to_csv(sep=";", index=False)
        path.write_text(text, encoding="utf-8")
        return path

    fields = [("year", "year"), DISTRICT] + [(c, "integer") for c in AGE_COLUMNS + ["age_0_to_under_7",
                                                                                   "age_60_and_above", "residents"]]
    rule = {"type": "sum_equals", "id": "altersgruppen", "columns": AGE_COLUMNS, "total": "residents"}
    raw = flensburg.make(fields, {"format": "csv", "delimiter": ";", "thousands": ".", "decimal": ","},
                         id="altersgruppen", rules=[rule], primary_key=["year", "district_id"])
    raw["schema"]["fields"][0]["constraints"] = {"enum": [2021, 2022]}
    outcome = flensburg(raw, export(merged))
    assert outcome.status == "created", outcome.report.to_text()
    assert outcome.report.counts() == {}

    broken = merged.copy()
    broken.loc[5, "age_80_and_above"] += 10   # data line 6 → file line 7
    outcome = flensburg(raw, export(broken))
    assert outcome.status == "rejected"
    [failure] = outcome.report.failures()
    assert (failure.rule_id, failure.row, failure.column) == ("sum_equals:altersgruppen", 7, "residents")
    total = int(broken.loc[5, "residents"])
    assert failure.value == f"{total + 10:,} ≠ {total:,}".replace(",", ".")


def test_age_groups_add_up_to_city_totals(flensburg, store):
    city = flensburg.make([("year", "year")] + [(c, "integer") for c in AGE_COLUMNS], {"format": "csv"},
                          id="altersgruppen_stadt", primary_key="year")
    assert flensburg(city, "sozialatlas_2022/fl_age_groups_of_residents.csv").status == "created"
    stadtteile(flensburg)

    fields = [("year", "year"), DISTRICT] + [(c, "integer") for c in AGE_COLUMNS + ["age_0_to_under_7",
                                                                                   "age_60_and_above"]]
    rules = [{"type": "aggregate_equals", "id": c, "value": c, "group_by": ["year"],
              "total": {"dataset": "altersgruppen_stadt", "value": c}} for c in AGE_COLUMNS]
    raw = flensburg.make(fields, {"format": "csv"}, id="altersgruppen_stadtteile", rules=rules,
                         primary_key=["year", "district_id"], foreign_keys=TO_STADTTEILE)
    outcome = flensburg(raw, "sozialatlas_2022/fl_age_groups_by_district.csv")
    # The published Sozialatlas itself: in 2021 the districts' under-18s add up to 14.944, the city total is
    # 14.947 (30 to under 45: 2 fewer).
    assert outcome.status == "rejected"
    assert outcome.report.counts() == {"aggregate_equals:age_under_18": 1, "aggregate_equals:age_30_to_under_45": 1}
    values = {f.rule_id: f.value for f in outcome.report.failures()}
    assert values["aggregate_equals:age_under_18"] == "year=2021: Summe 14.944, Gesamtwert 14.947"
    for rule in raw["rules"]:
        rule["tolerance"] = 5
    outcome = flensburg(raw, "sozialatlas_2022/fl_age_groups_by_district.csv")
    assert outcome.status == "created", outcome.report.to_text()
    assert outcome.entry.lineage["references"] == {"altersgruppen_stadt": 1, "stadtteile": 1}
