"""Types, field constraints and keys: each one accepts good values and reports bad ones by line."""

from __future__ import annotations

import pandas as pd
import pytest


def csv(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def failures(report, rule=None):
    return sorted(((f.row, f.column, f.value) for f in report.failures() if rule is None or f.rule == rule),
                  key=lambda t: (t[0] is None, t[0] or 0, t[1] or ""))


# --- types -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind, good, typed, bad", [
    ("integer", ["12", "-3", " 7 ", "+4"], [12, -3, 7, 4], ["1.5", "zwölf", "1e400x"]),
    ("number", ["12.5", "-0.25", "3", "1e3"], [12.5, -0.25, 3.0, 1000.0], ["1,5", "zwölf"]),
    ("year", ["2022", "1999"], [2022, 1999], ["2022.5", "'22"]),
    ("boolean", ["ja", "nein", "true", "0", "X"], [True, False, True, False, True], ["vielleicht", "2"]),
    ("date", ["2022-12-31", "2020-02-29"], [pd.Timestamp("2022-12-31"), pd.Timestamp("2020-02-29")],
     ["2022-02-30", "gestern"]),
    ("datetime", ["2022-12-31T23:59:00", "2022-01-01 08:00"],
     [pd.Timestamp("2022-12-31 23:59"), pd.Timestamp("2022-01-01 08:00")], ["2022-13-01T00:00", "abends"]),
    ("string", ["Altstadt", "  Neustadt  "], ["Altstadt", "Neustadt"], []),
])
def test_types(check, make_contract, kind, good, typed, bad):
    values = good + bad
    text = "id;wert\n" + "".join(f"{i};{v}\n" for i, v in enumerate(values))
    frame, report = check(make_contract([("id", "integer"), ("wert", kind)], {"format": "csv", "delimiter": ";"}), text)
    assert frame["wert"].iloc[:len(good)].tolist() == typed
    assert frame["wert"].iloc[len(good):].isna().all()  # unparsable values become missing
    assert failures(report) == [(len(good) + 2 + i, "wert", v) for i, v in enumerate(bad)]
    assert all(f.rule == "type" for f in report.failures())


def test_type_failure_message_is_german_and_shows_value(check, make_contract):
    _, report = check(make_contract([("anzahl", "integer")], {"format": "csv"}), "anzahl\nzwölf\n")
    [failure] = report.failures()
    assert failure.message == "Wert „zwölf“ ist keine ganze Zahl"


def test_empty_cells_are_missing_not_type_errors(check, make_contract):
    fields = [(n, t) for n, t in [("a", "integer"), ("b", "number"), ("c", "date"), ("d", "boolean"), ("e", "string")]]
    frame, report = check(make_contract(fields, {"format": "csv"}), "a,b,c,d,e\n,,,,x\n1,2,2022-01-01,ja,\n")
    assert report.ok, report.to_text()
    assert frame.iloc[0, :4].isna().all() and frame["e"].isna().tolist() == [False, True]


# --- constraints -------------------------------------------------------------------------

def field(name, kind, **constraints):
    return {"name": name, "type": kind, "constraints": constraints}


def test_required(check, make_contract):
    contract = make_contract([("id", "integer"), field("name", "string", required=True)], {"format": "csv"})
    _, report = check(contract, csv("id,name", "1,Altstadt", "2,", "3,  ", "4,Nordstadt"))
    assert failures(report, "required") == [(3, "name", None), (4, "name", None)]
    assert report.failures()[0].message == "Pflichtwert fehlt"


def test_required_and_type_failure_are_distinct(check, make_contract):
    contract = make_contract([("id", "integer"), field("n", "integer", required=True)], {"format": "csv"})
    _, report = check(contract, csv("id,n", "1,1", "2,", "3,x"))
    assert failures(report, "required") == [(3, "n", None)]
    assert failures(report, "type") == [(4, "n", "x")]


def test_unique(check, make_contract):
    contract = make_contract([("id", "integer"), field("code", "string", unique=True)], {"format": "csv"})
    _, report = check(contract, csv("id,code", "1,A", "2,B", "3,A", "4,", "5,"))
    assert failures(report, "unique") == [(2, "code", "A"), (4, "code", "A")]  # empty cells are not duplicates


@pytest.mark.parametrize("kind, values, low, high, bad_rows", [
    ("integer", ["0", "1", "13", "14"], 1, 13, [2, 5]),
    ("number", ["0.5", "0.99", "1.0", "99.9", "100.01"], 1.0, 99.9, [2, 3, 6]),
    ("year", ["1899", "1900", "2100", "2101"], 1900, 2100, [2, 5]),
    ("date", ["2019-12-31", "2020-01-01", "2022-12-31", "2023-01-01"], "2020-01-01", "2022-12-31", [2, 5]),
])
def test_minimum_and_maximum(check, make_contract, kind, values, low, high, bad_rows):
    contract = make_contract([field("v", kind, minimum=low, maximum=high)], {"format": "csv"})
    _, report = check(contract, csv("v", *values, ""))
    found = sorted(f.row for f in report.failures())
    assert found == bad_rows
    rules = {f.row: f.rule for f in report.failures()}
    assert rules[bad_rows[0]] == "minimum" and rules[bad_rows[-1]] == "maximum"


def test_minimum_message_is_german(check, make_contract):
    _, report = check(make_contract([field("v", "integer", minimum=1)], {"format": "csv"}), csv("v", "0"))
    assert report.failures()[0].message == "Wert 0 ist kleiner als das Minimum 1"


def test_min_and_max_length(check, make_contract):
    contract = make_contract([field("plz", "string", minLength=5, maxLength=5)], {"format": "csv"})
    _, report = check(contract, csv("plz", "24937", "2493", "249370", ""))
    assert [(f.row, f.rule) for f in report.failures()] == [(3, "minLength"), (4, "maxLength")]


def test_pattern_with_quantifier_braces(check, make_contract):
    contract = make_contract([field("plz", "string", pattern=r"\d{5}")], {"format": "csv"})
    _, report = check(contract, csv("plz", "24937", "2493", "24937a", ""))
    assert failures(report, "pattern") == [(3, "plz", "2493"), (4, "plz", "24937a")]
    assert report.failures()[0].message == r"Wert „2493“ entspricht nicht dem Muster \d{5}"
    assert "Muster" in report.to_text() and report.to_json()


def test_pattern_is_a_full_match(check, make_contract):
    contract = make_contract([field("id", "string", pattern="STBZ[0-9]+")], {"format": "csv"})
    _, report = check(contract, csv("id", "STBZ011", "xSTBZ011", "STBZ011x"))
    assert [f.row for f in report.failures()] == [3, 4]


def test_enum_for_text_and_numbers(check, make_contract):
    contract = make_contract([field("sex", "string", enum=["m", "w"]), field("district_id", "integer", enum=[1, 2, 3])],
                             {"format": "csv"})
    _, report = check(contract, csv("sex,district_id", "m,1", "w,3", "x,4", ",", "M,2"))
    assert failures(report, "enum") == [(4, "district_id", 4), (4, "sex", "x"), (6, "sex", "M")]
    assert "erlaubt: m, w" in [f for f in report.failures() if f.column == "sex"][0].message


def test_constraints_skip_values_that_failed_their_type(check, make_contract):
    contract = make_contract([field("v", "integer", minimum=1, enum=[1, 2])], {"format": "csv"})
    _, report = check(contract, csv("v", "eins"))
    assert [f.rule for f in report.failures()] == ["type"]


# --- keys --------------------------------------------------------------------------------

def test_primary_key_single_and_composite(check, make_contract):
    fields = [("year", "year"), ("district_id", "integer"), ("residents", "integer")]
    text = csv("year,district_id,residents", "2021,1,10", "2022,1,11", "2022,2,12", "2022,1,13")
    _, report = check(make_contract(fields, {"format": "csv"}, primary_key=["year", "district_id"]), text)
    assert failures(report, "primary_key") == [(3, "year, district_id", "2022 / 1"), (5, "year, district_id", "2022 / 1")]
    _, report = check(make_contract(fields, {"format": "csv"}, primary_key="district_id"), text)
    assert [f.row for f in report.failures()] == [2, 3, 5]
    _, report = check(make_contract(fields, {"format": "csv"}, primary_key=["year", "residents"]), text)
    assert report.ok


def test_primary_key_on_typed_values(check, make_contract):
    # " 1" and "1" are the same key once typed
    fields = [("district_id", "integer")]
    _, report = check(make_contract(fields, {"format": "csv"}, primary_key=["district_id"]), csv("district_id", "1", " 1"))
    assert [f.rule for f in report.failures()] == ["primary_key", "primary_key"]


STADTTEILE = {"id": "stadtteile", "fields": [("district_id", "integer"), ("name", "string")],
              "csv": csv("district_id,name", "1,Altstadt", "2,Neustadt", "3,Nordstadt")}


def test_foreign_key_single(check, make_contract, put):
    put(make_contract(STADTTEILE["fields"], {"format": "csv"}, id="stadtteile"), STADTTEILE["csv"])
    contract = make_contract([("district_id", "integer"), ("residents", "integer")], {"format": "csv"},
                             foreign_keys=[{"fields": "district_id",
                                            "reference": {"resource": "stadtteile", "fields": "district_id"}}])
    _, report = check(contract, csv("district_id,residents", "1,5", "3,6", "4,7", ",8", "14,9"))
    assert failures(report, "foreign_key") == [(4, "district_id", 4), (6, "district_id", 14)]
    assert "stadtteile" in report.failures()[0].message


def test_foreign_key_composite(check, make_contract, put):
    bezirke = make_contract([("district_id", "integer"), ("bezirk_id", "string")], {"format": "csv"}, id="bezirke")
    put(bezirke, csv("district_id,bezirk_id", "1,STBZ011", "1,STBZ012", "2,STBZ021"))
    contract = make_contract([("d", "integer"), ("b", "string"), ("n", "integer")], {"format": "csv"},
                             foreign_keys=[{"fields": ["d", "b"],
                                            "reference": {"resource": "bezirke", "fields": ["district_id", "bezirk_id"]}}])
    _, report = check(contract, csv("d,b,n", "1,STBZ011,1", "2,STBZ011,2", "2,STBZ021,3", "1,STBZ099,4"))
    assert failures(report, "foreign_key") == [(3, "d, b", "2 / STBZ011"), (5, "d, b", "1 / STBZ099")]


def test_foreign_key_to_itself(check, make_contract):
    contract = make_contract([("bezirk", "string"), ("parent", "string")], {"format": "csv"},
                             foreign_keys=[{"fields": "parent", "reference": {"resource": "testdaten", "fields": "bezirk"}}])
    _, report = check(contract, csv("bezirk,parent", "A,", "B,A", "C,X"))
    assert failures(report, "foreign_key") == [(4, "parent", "X")]


def test_foreign_key_reference_missing(check, make_contract):
    contract = make_contract([("district_id", "integer")], {"format": "csv"},
                             foreign_keys=[{"fields": "district_id",
                                            "reference": {"resource": "stadtteile", "fields": "district_id"}}])
    _, report = check(contract, csv("district_id", "1"))
    [failure] = report.failures()
    assert failure.rule == "foreign_key" and failure.row is None
    assert "„stadtteile“ ist nicht im Datenbestand" in failure.message
    assert not report.ok


# --- columns ------------------------------------------------------------------------------

def test_missing_and_extra_columns(check, make_contract):
    contract = make_contract([("year", "year"), ("district_id", "integer")], {"format": "csv"})
    _, report = check(contract, csv("year,stadtteil", "2022,1"))
    got = {(f.rule, f.column) for f in report.failures()}
    assert got == {("missing_column", "district_id"), ("extra_column", "stadtteil")}
    assert "„stadtteil“" in [f for f in report.failures() if f.rule == "missing_column"][0].message


def test_datetimes_with_summer_and_winter_offsets(check, make_contract):
    # exports from specialist systems carry +01:00 in winter and +02:00 in summer
    text = csv("id,t", "1,2022-01-01T10:00:00+01:00", "2,2022-06-01T10:00:00+02:00", "3,2022-06-01T08:00:00Z",
               "4,2022-06-01T10:00:00", "5,kaputt")
    frame, report = check(make_contract([("id", "integer"), ("t", "datetime")], {"format": "csv"}), text)
    assert frame["t"].tolist()[:4] == [pd.Timestamp("2022-01-01 10:00"), pd.Timestamp("2022-06-01 10:00"),
                                       pd.Timestamp("2022-06-01 10:00"), pd.Timestamp("2022-06-01 10:00")]
    assert failures(report) == [(6, "t", "kaputt")]


def test_excel_date_cells_and_german_text_dates_together(check, make_contract, tmp_path):
    from datetime import datetime

    path = tmp_path / "termine.xlsx"
    pd.DataFrame({"id": [1, 2, 3], "stichtag": [datetime(2022, 12, 31), "30.06.2022", "2022-13-45"]}).to_excel(
        path, index=False)
    frame, report = check(make_contract([("id", "integer"), ("stichtag", "date")],
                                        {"format": "xlsx", "date_format": "%d.%m.%Y"}), path)
    assert frame["stichtag"].tolist()[:2] == [pd.Timestamp("2022-12-31"), pd.Timestamp("2022-06-30")]
    assert failures(report) == [(4, "stichtag", "2022-13-45")]
