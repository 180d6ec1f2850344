"""Plausibility rules: table rules (sums, completeness, change) and geodata rules, severity."""

from __future__ import annotations

import pytest


def csv(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def failures(report, rule=None):
    return [f for f in report.failures() if rule is None or f.rule == rule]


AGE = [("year", "year"), ("district_id", "integer"), ("u18", "integer"), ("a18_65", "integer"), ("ab65", "integer"),
       ("total", "integer")]
SUM = {"type": "sum_equals", "columns": ["u18", "a18_65", "ab65"], "total": "total"}


# --- sum_equals ----------------------------------------------------------------------------

def test_sum_equals(check, make_contract):
    text = csv("year;district_id;u18;a18_65;ab65;total",
               "2022;1;10;20;30;60",
               "2022;2;10;20;30;61",
               "2022;3;10;;30;40",      # a missing part: not judged
               "2022;4;1;1;1;3")
    _, report = check(make_contract(AGE, {"format": "csv", "delimiter": ";"}, rules=[SUM]), text)
    [failure] = failures(report)
    assert (failure.rule, failure.row, failure.column) == ("sum_equals", 3, "total")
    assert failure.value == "60 ≠ 61"
    assert "u18 + a18_65 + ab65" in failure.message and not report.ok


def test_sum_equals_tolerance(check, make_contract):
    text = csv("year;district_id;u18;a18_65;ab65;total", "2022;1;10;20;30;62", "2022;2;10;20;30;63")
    _, report = check(make_contract(AGE, {"format": "csv", "delimiter": ";"}, rules=[dict(SUM, tolerance=2)]), text)
    assert [f.row for f in failures(report)] == [3]


def test_severity_warning_reports_but_does_not_reject(check, make_contract):
    text = csv("year;district_id;u18;a18_65;ab65;total", "2022;1;10;20;30;61")
    _, report = check(make_contract(AGE, {"format": "csv", "delimiter": ";"},
                                    rules=[dict(SUM, severity="warning", id="altersgruppen")]), text)
    assert report.ok and report.errors == 0 and report.warnings == 1
    [failure] = failures(report)
    assert failure.severity == "warning" and failure.rule_id == "sum_equals:altersgruppen"
    assert report.counts() == {"sum_equals:altersgruppen": 1}
    assert "WARNUNG [sum_equals:altersgruppen] Zeile 2" in report.to_text()
    _, report = check(make_contract(AGE, {"format": "csv", "delimiter": ";"}, rules=[dict(SUM, severity="error")]), text)
    assert not report.ok and report.errors == 1


# --- aggregate_equals -----------------------------------------------------------------------

RES = [("year", "year"), ("district_id", "integer"), ("residents", "integer")]


def test_aggregate_equals_total_rows_in_file(check, make_contract):
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"],
            "parts": {"district_id": "notnull"}, "total": {"rows": {"district_id": "isnull"}}}
    text = csv("year;district_id;residents",
               "2021;1;100", "2021;2;200", "2021;;300",
               "2022;1;100", "2022;2;210", "2022;;300")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    [failure] = failures(report)
    assert failure.rule == "aggregate_equals" and failure.column == "residents"
    assert failure.value == "year=2022: Summe 310, Gesamtwert 300"


def test_aggregate_equals_tolerance(check, make_contract):
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"], "tolerance": 10,
            "parts": {"district_id": "notnull"}, "total": {"rows": {"district_id": "isnull"}}}
    text = csv("year;district_id;residents", "2022;1;100", "2022;2;210", "2022;;300")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert report.ok


def test_aggregate_equals_total_from_other_dataset(check, make_contract, put):
    put(make_contract([("year", "year"), ("einwohner", "integer")], {"format": "csv"}, id="stadt_gesamt"),
        csv("year,einwohner", "2021,300", "2022,300"))
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"],
            "total": {"dataset": "stadt_gesamt", "value": "einwohner"}}
    text = csv("year;district_id;residents", "2021;1;100", "2021;2;200", "2022;1;100", "2022;2;199")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert [f.value for f in failures(report)] == ["year=2022: Summe 299, Gesamtwert 300"]


def test_aggregate_equals_with_where_on_other_dataset(check, make_contract, put):
    put(make_contract([("year", "year"), ("ebene", "string"), ("einwohner", "integer")], {"format": "csv"},
                      id="gesamt"), csv("year,ebene,einwohner", "2022,Stadt,300", "2022,Land,9000"))
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"],
            "total": {"dataset": "gesamt", "value": "einwohner", "where": {"ebene": "Stadt"}}}
    text = csv("year;district_id;residents", "2022;1;100", "2022;2;200")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert report.ok, report.to_text()


def test_aggregate_equals_reference_missing(check, make_contract):
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"],
            "total": {"dataset": "stadt_gesamt", "value": "einwohner"}}
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), csv("year;district_id;residents", "2022;1;1"))
    [failure] = failures(report)
    assert "stadt_gesamt" in failure.message and "nicht im Datenbestand" in failure.message and not report.ok


# --- complete_keys ---------------------------------------------------------------------------

def test_complete_keys_values(check, make_contract):
    rule = {"type": "complete_keys", "keys": {"year": {"values": [2021, 2022]}, "district_id": {"values": [1, 2, 3]}}}
    text = csv("year;district_id;residents", "2021;1;1", "2021;2;1", "2021;3;1", "2022;1;1", "2022;3;1")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert [f.value for f in failures(report)] == ["year=2022, district_id=2"]


def test_complete_keys_from_data(check, make_contract):
    rule = {"type": "complete_keys", "keys": {"year": {"from_data": True}, "district_id": {"values": [1, 2]}}}
    text = csv("year;district_id;residents", "2020;1;1", "2020;2;1", "2021;1;1", "2022;2;1")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert sorted(f.value for f in failures(report)) == ["year=2021, district_id=2", "year=2022, district_id=1"]


def test_complete_keys_from_dataset(check, make_contract, put):
    put(make_contract([("id", "integer"), ("name", "string")], {"format": "csv"}, id="stadtteile"),
        csv("id,name", "1,Altstadt", "2,Neustadt", "3,Nordstadt"))
    rule = {"type": "complete_keys", "keys": {"district_id": {"dataset": "stadtteile", "column": "id"}}}
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]),
                      csv("year;district_id;residents", "2022;1;1", "2022;3;1"))
    assert [f.value for f in failures(report)] == ["district_id=2"]
    assert report.failures()[0].message == "Schlüssel fehlt: district_id=2"


def test_complete_keys_dataset_missing(check, make_contract):
    rule = {"type": "complete_keys", "keys": {"district_id": {"dataset": "stadtteile"}}}
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]),
                      csv("year;district_id;residents", "2022;1;1"))
    assert "stadtteile" in failures(report)[0].message and not report.ok


# --- change_bounds ---------------------------------------------------------------------------

def test_change_bounds(check, make_contract):
    rule = {"type": "change_bounds", "column": "residents", "key": ["district_id"], "order_by": "year",
            "max_relative_change": 0.1}
    text = csv("year;district_id;residents",
               "2020;1;100", "2021;1;109", "2022;1;130",    # +9 % ok, +19.3 % too much
               "2020;2;100", "2022;2;150",                  # gap 2020 → 2022: not consecutive, not judged
               "2021;3;100", "2020;3;50")                   # unsorted: 2020 → 2021 is +100 %
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    got = sorted((f.row, f.value) for f in failures(report))
    assert got == [(4, "109 → 130 (+19,3 %)"), (7, "50 → 100 (+100,0 %)")]
    assert "10 %" in failures(report)[0].message


def test_change_bounds_all_years_and_min_base(check, make_contract):
    rule = {"type": "change_bounds", "column": "residents", "key": ["district_id"], "order_by": "year",
            "max_relative_change": 0.1, "consecutive_only": False, "min_base": 10}
    text = csv("year;district_id;residents", "2020;2;100", "2022;2;150", "2020;3;5", "2021;3;9")
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert [f.row for f in failures(report)] == [3]  # the small base 5 → 9 is not judged


# --- geodata rules ---------------------------------------------------------------------------

def geo_contract(make_contract, dataset_id, fields, rules=None, geometry_types=("Polygon", "MultiPolygon"), **kw):
    return make_contract([*fields, {"name": "geometry", "type": "geometry", "geometry_type": list(geometry_types),
                                    "crs": "EPSG:25832"}],
                         {"format": "gpkg", "crs": "EPSG:25832"}, rules=rules, id=dataset_id, **kw)


def gpkg(tmp_path, name, records, geometries):
    import geopandas as gpd

    path = tmp_path / f"{name}.gpkg"
    gpd.GeoDataFrame(records, geometry=list(geometries), crs="EPSG:25832").to_file(path, driver="GPKG")
    return path


def box(x0, y0, x1, y1):
    from shapely.geometry import box as shapely_box
    return shapely_box(x0, y0, x1, y1)


@pytest.fixture
def districts(tmp_path, make_contract, put):
    """Reference 'stadtteile': district 1 = [0,100]x[0,100], district 2 = [100,200]x[0,100]; 'stadtgrenze' = both."""
    path = gpkg(tmp_path, "stadtteile", {"district_id": [1, 2]}, [box(0, 0, 100, 100), box(100, 0, 200, 100)])
    put(geo_contract(make_contract, "stadtteile", [("district_id", "integer")]), path)
    path = gpkg(tmp_path, "stadtgrenze", {"name": ["Stadt"]}, [box(0, 0, 200, 100)])
    put(geo_contract(make_contract, "stadtgrenze", [("name", "string")]), path)


def test_geometry_type(check, make_contract, tmp_path):
    from shapely.geometry import LineString, Point

    path = gpkg(tmp_path, "mixed", {"n": [1, 2, 3]}, [Point(1, 1), LineString([(0, 0), (1, 1)]), Point(2, 2)])
    frame, report = check(geo_contract(make_contract, "punkte", [("n", "integer")], geometry_types=["Point"]), path)
    [failure] = failures(report)
    assert (failure.rule, failure.row, failure.value) == ("geometry_type", 2, "LineString")


def test_valid_geometry_rule(check, make_contract, tmp_path):
    from shapely.geometry import Polygon

    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    path = gpkg(tmp_path, "flaechen", {"n": [1, 2]}, [box(0, 0, 1, 1), bowtie])
    _, report = check(geo_contract(make_contract, "flaechen", [("n", "integer")], rules=[{"type": "valid_geometry"}]), path)
    assert [(f.rule, f.row) for f in failures(report)] == [("valid_geometry", 2)]
    assert "valid_geometry" in report.rules_checked


def test_geometry_required(check, make_contract, tmp_path):
    from shapely.geometry import Point

    path = gpkg(tmp_path, "punkte", {"n": [1, 2]}, [Point(1, 1), None])
    contract = geo_contract(make_contract, "punkte", [("n", "integer")], geometry_types=["Point"])
    contract["schema"]["fields"][-1]["constraints"] = {"required": True}
    _, report = check(contract, path)
    assert [(f.rule, f.row) for f in failures(report)] == [("required", 2)]


def test_within_boundary(check, make_contract, tmp_path, districts):
    from shapely.geometry import Point

    path = gpkg(tmp_path, "kitas", {"n": [1, 2, 3]}, [Point(50, 50), Point(250, 50), Point(199, 101)])
    rule = {"type": "within_boundary", "dataset": "stadtgrenze"}
    contract = geo_contract(make_contract, "kitas", [("n", "integer")], rules=[rule], geometry_types=["Point"])
    _, report = check(contract, path)
    assert [f.row for f in failures(report)] == [2, 3]
    contract["rules"][0]["tolerance_m"] = 5
    _, report = check(contract, path)
    assert [f.row for f in failures(report)] == [2]


def test_within_boundary_in_a_wrong_crs_is_one_failure_not_one_per_feature(check, make_contract, tmp_path, districts):
    import geopandas as gpd
    from shapely.geometry import Point

    path = tmp_path / "kitas.gpkg"
    gpd.GeoDataFrame({"n": [1, 2, 3]}, geometry=[Point(9.43, 54.78)] * 3, crs="EPSG:4326").to_file(path)
    rule = {"type": "within_boundary", "dataset": "stadtgrenze"}
    contract = geo_contract(make_contract, "kitas", [("n", "integer")], rules=[rule], geometry_types=["Point"])
    _, report = check(contract, path)
    by_rule = {}
    for f in failures(report):
        by_rule.setdefault(f.rule, []).append(f)
    assert set(by_rule) == {"crs", "within_boundary"} and len(by_rule["within_boundary"]) == 1
    assert "EPSG:4326" in by_rule["within_boundary"][0].message and "nicht prüfbar" in by_rule["within_boundary"][0].message


def test_within_boundary_reference_missing(check, make_contract, tmp_path):
    from shapely.geometry import Point

    path = gpkg(tmp_path, "kitas", {"n": [1]}, [Point(50, 50)])
    contract = geo_contract(make_contract, "kitas", [("n", "integer")], geometry_types=["Point"],
                            rules=[{"type": "within_boundary", "dataset": "stadtgrenze"}])
    _, report = check(contract, path)
    assert not report.ok and "stadtgrenze" in failures(report)[0].message


def test_point_in_polygon_attribute(check, make_contract, tmp_path, districts):
    from shapely.geometry import Point

    path = gpkg(tmp_path, "kitas", {"district_id": [1, 2, 1, 2]},
                [Point(50, 50), Point(150, 50), Point(150, 50), Point(500, 500)])
    rule = {"type": "point_in_polygon_attribute", "column": "district_id", "dataset": "stadtteile",
            "dataset_column": "district_id"}
    contract = geo_contract(make_contract, "kitas", [("district_id", "integer")], rules=[rule], geometry_types=["Point"])
    _, report = check(contract, path)
    got = [(f.row, f.value) for f in failures(report)]
    assert got == [(3, "angegeben „1“, liegt in 2"), (4, "angegeben „2“, liegt in keinem Gebiet")]


def test_dissolves_into(check, make_contract, tmp_path, districts):
    # Bezirke: two halves per Stadtteil; a steward's slip assigns bezirk 4 to district 1.
    records = {"bezirk_id": ["STBZ011", "STBZ012", "STBZ021", "STBZ022"], "district_id": [1, 1, 2, 2]}
    parts = [box(0, 0, 50, 100), box(50, 0, 100, 100), box(100, 0, 150, 100), box(150, 0, 200, 100)]
    rule = {"type": "dissolves_into", "dataset": "stadtteile", "key": "district_id", "dataset_key": "district_id"}
    contract = geo_contract(make_contract, "bezirke", [("bezirk_id", "string"), ("district_id", "integer")],
                            rules=[rule])
    _, report = check(contract, gpkg(tmp_path, "bezirke", records, parts))
    assert report.ok, report.to_text()
    records["district_id"] = [1, 1, 2, 1]
    _, report = check(contract, gpkg(tmp_path, "bezirke_falsch", records, parts))
    values = sorted(f.value for f in failures(report))
    assert values == ["district_id=1: Abweichung 50,00 % der Fläche", "district_id=2: Abweichung 50,00 % der Fläche"]


def test_dissolves_into_missing_parent(check, make_contract, tmp_path, districts):
    records = {"bezirk_id": ["STBZ011", "STBZ031"], "district_id": [1, 3]}
    rule = {"type": "dissolves_into", "dataset": "stadtteile", "key": "district_id", "dataset_key": "district_id",
            "max_mismatch_share": 0.01}
    contract = geo_contract(make_contract, "bezirke", [("bezirk_id", "string"), ("district_id", "integer")],
                            rules=[rule])
    _, report = check(contract, gpkg(tmp_path, "bezirke", records, [box(0, 0, 100, 100), box(100, 0, 200, 100)]))
    assert sorted(f.value for f in failures(report)) == ["district_id=2: keine Teilgebiete",
                                                        "district_id=3: kein übergeordnetes Gebiet"]


def test_rule_that_cannot_run_is_a_failure_not_a_crash(check, make_contract, put):
    # the reference exists but lacks the named column
    put(make_contract([("year", "year")], {"format": "csv"}, id="stadt_gesamt"), csv("year", "2022"))
    rule = {"type": "aggregate_equals", "value": "residents", "group_by": ["year"], "severity": "warning",
            "total": {"dataset": "stadt_gesamt", "value": "einwohner"}}
    _, report = check(make_contract(RES, {"format": "csv", "delimiter": ";"}, rules=[rule]),
                      csv("year;district_id;residents", "2022;1;1"))
    [failure] = failures(report)
    assert "konnte nicht geprüft werden" in failure.message and failure.severity == "warning"


def test_sum_equals_with_decimal_fractions(check, make_contract):
    fields = [("id", "integer"), ("a", "number"), ("b", "number"), ("c", "number"), ("t", "number")]
    rule = {"type": "sum_equals", "columns": ["a", "b", "c"], "total": "t"}
    text = csv("id;a;b;c;t", "1;0,1;0,2;0,4;0,7", "2;33,3;33,3;33,4;100", "3;0,1;0,2;0;0,31")
    _, report = check(make_contract(fields, {"format": "csv", "delimiter": ";", "decimal": ","}, rules=[rule]), text)
    assert [(f.row, f.value) for f in failures(report)] == [(4, "0,3 ≠ 0,31")]


def test_aggregate_equals_with_decimal_fractions(check, make_contract):
    fields = [("year", "year"), ("district_id", "integer"), ("share", "number")]
    rule = {"type": "aggregate_equals", "value": "share", "group_by": ["year"],
            "parts": {"district_id": "notnull"}, "total": {"rows": {"district_id": "isnull"}}}
    text = csv("year;district_id;share", "2022;1;0.1", "2022;2;0.2", "2022;;0.3")
    _, report = check(make_contract(fields, {"format": "csv", "delimiter": ";"}, rules=[rule]), text)
    assert report.ok, report.to_text()


def test_complete_keys_on_number_keys(check, make_contract):
    fields = [("year", "year"), ("zone", "number"), ("v", "integer")]
    rule = {"type": "complete_keys", "keys": {"zone": {"values": [1, 2, 2.5]}, "year": {"values": [2022]}}}
    _, report = check(make_contract(fields, {"format": "csv"}, rules=[rule]), csv("year,zone,v", "2022,1,5", "2022,2.5,5"))
    assert [f.value for f in failures(report)] == ["zone=2, year=2022"]


def test_point_in_polygon_attribute_skips_points_without_geometry(check, make_contract, tmp_path, districts):
    from shapely.geometry import Point

    # the stated area typed as number (1.0) still matches the reference's integer 1
    path = gpkg(tmp_path, "kitas", {"district_id": [1.0, 2.0, 1.0]}, [Point(50, 50), None, Point(150, 50)])
    rule = {"type": "point_in_polygon_attribute", "column": "district_id", "dataset": "stadtteile",
            "dataset_column": "district_id"}
    contract = geo_contract(make_contract, "kitas", [("district_id", "number")], rules=[rule], geometry_types=["Point"])
    _, report = check(contract, path)
    assert [(f.rule, f.row) for f in failures(report)] == [("point_in_polygon_attribute", 3)]
