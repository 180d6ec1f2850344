"""Contract options for real files: ``source.skip_lines`` and a field's ``on_invalid``."""

from __future__ import annotations

import pytest
import yaml
from contract_metadata import METADATA

from bif_lib.contracts import ContractError, parse_contract
from bif_lib.ingest import validate_file
from bif_lib.readers import parse_line_ranges
from bif_lib.store import Store


def contract(fields, **source):
    raw = {"id": "bestand", "title": "Bestand", "description": "Test", **METADATA,
           "source": {"format": "csv", "delimiter": ";", **source}, "schema": {"fields": fields}}
    return parse_contract(yaml.safe_dump(raw, allow_unicode=True))


FIELDS = [{"name": "stadtteil", "type": "integer"}, {"name": "einwohner", "type": "integer"}]


def test_skip_lines_drops_footnotes_and_reports_the_count(tmp_path):
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\n1;10\n2;20\nFußnote: vorläufig\n3;30\nQuelle: Melderegister;;\n"
                    "Stand: 31.12.\n", encoding="utf-8")
    spec = contract(FIELDS, skip_lines=["4", "6-7"])
    frame, report, _ = validate_file(spec, path, Store(tmp_path / "store"))
    assert report.ok, report.to_text()
    assert frame["stadtteil"].tolist() == [1, 2, 3]
    note = next(n for n in report.notes if "skip_lines" in n)
    assert note.startswith("3 Zeile(n)") and "4, 6–7" in note


def test_skip_lines_ranges():
    assert parse_line_ranges(["1-3", 7, " 250 - 260 "]) == [(1, 3), (7, 7), (250, 260)]
    with pytest.raises(ValueError):
        parse_line_ranges(["5-2"])


@pytest.mark.parametrize("bad", [["5-2"], ["0"], ["a-b"], ["1-"]])
def test_skip_lines_is_checked_in_the_contract(bad):
    with pytest.raises(ContractError, match="skip_lines"):
        contract(FIELDS, skip_lines=bad)


def test_on_invalid_missing_is_a_counted_warning(tmp_path):
    fields = [{"name": "stadtteil", "type": "integer"},
              {"name": "einwohner", "type": "integer", "on_invalid": "missing"}]
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\n1;10\n2;k.A.\n3;*\n4;40\n", encoding="utf-8")
    frame, report, _ = validate_file(contract(fields), path, Store(tmp_path / "store"))
    assert report.ok and report.warnings == 2
    assert [f.row for f in report.failures()] == [3, 4]
    assert all(f.severity == "warning" and "fehlender Wert" in f.message for f in report.failures())
    assert frame["einwohner"].isna().tolist() == [False, True, True, False]


def test_on_invalid_reject_is_the_default(tmp_path):
    path = tmp_path / "bestand.csv"
    path.write_text("stadtteil;einwohner\n1;k.A.\n", encoding="utf-8")
    _, report, _ = validate_file(contract(FIELDS), path, Store(tmp_path / "store"))
    assert not report.ok and report.counts() == {"type": 1}


def test_on_invalid_missing_contradicts_required():
    with pytest.raises(ContractError, match="on_invalid"):
        contract([{"name": "einwohner", "type": "integer", "on_invalid": "missing",
                   "constraints": {"required": True}}])
