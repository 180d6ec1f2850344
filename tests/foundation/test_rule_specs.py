"""Typed rules from contract dicts: defaults live in the rule classes, columns and datasets they read."""

from __future__ import annotations

import pytest
import yaml

from bif_lib.contracts import ContractError, parse_contract
from bif_lib.validation import referenced_datasets
from bif_lib.validation.rules import (
    AggregateEquals,
    ChangeBounds,
    DissolvesInto,
    PointInPolygonAttribute,
    SumEquals,
    WithinBoundary,
    build_rule,
)


def test_from_spec_takes_defaults_from_the_dataclass_and_renames_keys():
    rule = build_rule({"type": "sum_equals", "columns": ["a", "b"], "total": "t"})
    assert rule == SumEquals(parts=("a", "b"), total="t", tolerance=0, severity="error", id=None)
    bounds = build_rule({"type": "change_bounds", "column": "n", "key": ["district_id"], "order_by": "year",
                         "max_relative_change": 0.2, "severity": "warning", "id": "x"})
    assert bounds == ChangeBounds(column="n", key=("district_id",), order_by="year", max_relative_change=0.2,
                                  min_base=1, consecutive_only=True, severity="warning", id="x")
    assert bounds.rule_id == "change_bounds:x"
    assert build_rule({"type": "within_boundary", "dataset": "stadt"}).tolerance_m == 0
    assert build_rule({"type": "point_in_polygon_attribute", "dataset": "s", "column": "c",
                       "dataset_column": "d"}) == PointInPolygonAttribute(dataset="s", column="c", dataset_column="d")
    assert build_rule({"type": "dissolves_into", "dataset": "s", "key": "k",
                       "dataset_key": "k"}).max_mismatch_share == 0.001


def test_rules_declare_the_datasets_they_read():
    total = AggregateEquals(value="v", group_by=("year",), total={"dataset": "gesamt", "value": "v"})
    assert total.datasets == ("gesamt",)
    assert AggregateEquals(value="v", group_by=("year",), total={"rows": {"d": 0}}).datasets == ()
    keys = build_rule({"type": "complete_keys", "keys": {"d": {"dataset": "stadtteile"}, "y": {"values": [1]},
                                                           "z": {"dataset": "stadtteile", "column": "z"}}})
    assert keys.datasets == ("stadtteile",)
    assert WithinBoundary(dataset="stadt").datasets == ("stadt",)
    assert DissolvesInto(dataset="s", key="k", dataset_key="k").datasets == ("s",)
    assert SumEquals(parts=("a",), total="t").datasets == ()


def test_contract_refuses_rules_on_unknown_columns_and_geometry_it_lacks(make_contract):
    raw = make_contract([("year", "integer"), ("sex", "string"), ("n", "integer")], {"format": "csv"})
    raw["rules"] = [{"type": "aggregate_equals", "value": "n", "group_by": ["year"], "parts": {"geschlecht": "m"},
                     "total": {"rows": {"sex": "gesamt"}}},
                    {"type": "within_boundary", "dataset": "stadt"}]
    with pytest.raises(ContractError) as raised:
        parse_contract(yaml.safe_dump(raw, sort_keys=False))
    problems = {(where, message) for where, _, message in raised.value.problems}
    assert problems == {("rules[0].parts", "Regel nennt unbekanntes Feld „geschlecht“"),
                        ("rules[1].type", "Regel „within_boundary“ braucht ein Geometriefeld")}
    assert all(line for _, line, _ in raised.value.problems)


def test_referenced_datasets_leaves_out_the_contract_itself(make_contract):
    raw = make_contract([("year", "integer"), ("n", "integer")], {"format": "csv"})
    raw["rules"] = [{"type": "complete_keys", "keys": {"year": {"dataset": raw["id"]}}}]
    assert referenced_datasets(parse_contract(yaml.safe_dump(raw, sort_keys=False))) == set()


def test_a_rule_naming_an_unknown_column_is_refused_by_the_validator_too(make_contract):
    """A contract object whose rules were changed after loading (or loaded before
    bif_lib.validation registered its check) is checked when it is compiled: no rule goes
    unjudged silently."""
    from bif_lib.validation import compile_contract

    raw = make_contract([("a", "integer"), ("b", "integer"), ("n", "integer")], {"format": "csv"},
                        rules=[{"type": "sum_equals", "columns": ["a", "b"], "total": "n"}])
    contract = parse_contract(yaml.safe_dump(raw, sort_keys=False))
    compile_contract(contract)  # fine as loaded
    contract.raw["rules"][0]["columns"] = ["a", "gibt_es_nicht"]
    with pytest.raises(ContractError, match="gibt_es_nicht"):
        compile_contract(contract)


def test_every_reference_area_rule_refuses_another_coordinate_system():
    """Areas in another CRS cannot be compared: one failure that says so — for every rule against
    reference areas, dissolves_into included (it compared them before)."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point, box

    from bif_lib.validation.rules import DissolvesInto, PointInPolygonAttribute, WithinBoundary

    ref = gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 10, 10)], crs="EPSG:25832")
    frame = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(5, 5).buffer(1)], crs="EPSG:4326")
    rules = [WithinBoundary(dataset="stadt"), DissolvesInto(dataset="stadt", key="id", dataset_key="id"),
             PointInPolygonAttribute(dataset="stadt", column="id", dataset_column="id")]
    for rule in rules:
        [batch] = rule.check(frame, np.array([2]), lambda name: ref)
        assert "Koordinatenreferenzsystem" in batch.message, rule
