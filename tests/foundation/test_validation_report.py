"""The validation report: source line numbers, columns, rules, values, counts; German text and JSON."""

from __future__ import annotations

import json

from bif_lib.validation.report import MAX_LISTED_PER_RULE

FIELDS = [("year", "year"), {"name": "district_id", "type": "integer", "constraints": {"enum": list(range(1, 14))}},
          ("residents", "integer")]


def big_file(n_rows=1500, n_type_errors=250):
    lines = ["Einwohner", "Stand 31.12.2022", "year;district_id;residents"]  # header in line 3
    for i in range(n_rows):
        residents = "k.A." if i < n_type_errors else str(1000 + i)
        district = "14" if i in (300, 301, 302) else str(i % 13 + 1)
        lines.append(f"2022;{district};{residents}")
    return "\n".join(lines) + "\n"


def test_counts_listing_limit_and_json(check, make_contract):
    contract = make_contract(FIELDS, {"format": "csv", "delimiter": ";", "header_row": 3})
    _, report = check(contract, big_file())
    assert report.rows_checked == 1500
    assert report.counts() == {"type": 250, "enum": 3}
    assert report.errors == 253 and not report.ok

    data = json.loads(report.to_json())
    assert data["ok"] is False and data["dataset"] == "testdaten" and data["errors"] == 253
    assert data["counts_per_rule"] == {"type": 250, "enum": 3}
    assert data["contract_version"] == "1.0" and data["source_file"].endswith(".csv")
    assert {"type", "enum", "missing_column"} <= set(data["rules_checked"])
    listed = data["failures"]
    assert len([f for f in listed if f["rule"] == "type"]) == MAX_LISTED_PER_RULE
    enum = [f for f in listed if f["rule"] == "enum"]
    # data line i is file line i + 4 (header in line 3)
    assert [(f["row"], f["column"], f["value"]) for f in enum] == [(304, "district_id", 14), (305, "district_id", 14),
                                                                   (306, "district_id", 14)]
    first = min((f for f in listed if f["rule"] == "type"), key=lambda f: f["row"])
    assert first == {"rule": "type", "message": "Wert „k.A.“ ist keine ganze Zahl", "column": "residents",
                     "row": 4, "value": "k.A.", "severity": "error", "rule_id": None}
    json.dumps(data)  # plain JSON types only (no numpy)


def test_german_text(check, make_contract):
    contract = make_contract(FIELDS, {"format": "csv", "delimiter": ";", "header_row": 3})
    _, report = check(contract, big_file())
    text = report.to_text()
    assert "Prüfbericht für Datensatz „testdaten“ – abgelehnt" in text
    assert "Geprüfte Zeilen: 1.500; Fehler: 253; Warnungen: 0" in text
    assert "  type (Datentyp): 250" in text and "  enum (erlaubte Werte): 3" in text
    assert "FEHLER [type] Zeile 4, Spalte „residents“: Wert „k.A.“ ist keine ganze Zahl" in text
    assert "weitere (vollständig im JSON-Bericht)" in text


def test_passed_report(check, make_contract):
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}), "year;district_id;residents\n2022;1;5\n")
    assert report.ok and report.counts() == {}
    assert "bestanden" in report.to_text()
    assert json.loads(report.to_json())["failures"] == []


def test_failures_sorted_errors_first_then_by_row(check, make_contract):
    rules = [{"type": "change_bounds", "column": "residents", "key": ["district_id"], "order_by": "year",
              "max_relative_change": 0.1, "severity": "warning"}]
    text = "year;district_id;residents\n2021;1;100\n2022;1;200\n2022;2;x\n2022;99;1\n"
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}, rules=rules), text)
    order = [(f.severity, f.row) for f in report.failures()]
    assert order == [("error", 4), ("error", 5), ("warning", 3)]
