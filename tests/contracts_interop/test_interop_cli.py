"""``bif contract export|import`` on the command line: German output, files never overwritten,
failures named with file and key path, and an imported contract that ``bif validate`` uses."""

from __future__ import annotations

import json

import pytest
import yaml
from interop_samples import FLENSBURG, FOREIGN_TABLESCHEMA

from bif_lib.cli import main

KITAS = next(p for p in FLENSBURG if p.stem == "kitas")

# an ODCS contract as another tool might write it, for a small CSV file of the department
ODCS_FOR_CSV = """\
apiVersion: v3.0.2
kind: DataContract
id: spielplaetze
name: Spielplätze
version: 1.0.0
status: active
description: {purpose: Spielplätze der Stadt mit Fläche.}
team: [{name: Fachbereich Grün, role: owner}, {name: Grünflächenamt, username: gruen@stadt.example, role: steward}]
servers:
  - {server: ablage, type: local, format: csv, path: gruen/spielplaetze.csv}
customProperties:
  - {property: license, value: dl-de/zero-2.0}
  - {property: licenseAttribution, value: Stadt Testhausen}
schema:
  - name: spielplaetze
    properties:
      - {name: nr, logicalType: integer, required: true, unique: true, primaryKey: true, classification: public}
      - {name: Fläche m², logicalType: number, logicalTypeOptions: {minimum: 0}, classification: public,
         customProperties: [{property: unit, value: m²}]}
      - name: art
        logicalType: string
        classification: public
        quality: [{rule: validValues, validValues: [Sand, Wasser]}]
"""


def bif(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_to_stdout_and_file(capsys, tmp_path):
    code, out, err = bif(capsys, "contract", "export", KITAS, "--format", "odcs")
    assert code == 0 and err == ""
    assert yaml.safe_load(out)["id"] == "kitas"
    target = tmp_path / "kitas.schema.json"
    code, out, err = bif(capsys, "contract", "export", KITAS, "--format", "tableschema", "-o", target)
    assert code == 0 and err == ""
    assert out.startswith(f"Table Schema geschrieben: {target} (Datensatz kitas, 20 Felder).")
    assert "Nicht übertragen – Table Schema hat dafür keinen Platz:" in out and "Plausibilitätsregeln" in out
    assert json.loads(target.read_text(encoding="utf-8"))["fields"][0]["name"] == "kita_id"
    code, _, err = bif(capsys, "contract", "export", KITAS, "--format", "tableschema", "-o", target)
    assert code == 1 and "existiert schon – nichts überschrieben" in err


def test_export_of_a_broken_contract(capsys, tmp_path):
    broken = tmp_path / "kaputt.yaml"
    broken.write_text(KITAS.read_text(encoding="utf-8").replace("classification: open", "classification: geheim"),
                      encoding="utf-8")
    code, out, err = bif(capsys, "contract", "export", broken, "--format", "odcs")
    assert code == 1 and out == ""
    assert f"Vertrag {broken} ist fehlerhaft" in err and "geheim" in err


def test_import_writes_a_contract_bif_validate_uses(capsys, tmp_path, bif_home):
    source = tmp_path / "spielplaetze.odcs.yaml"
    source.write_text(ODCS_FOR_CSV, encoding="utf-8")
    target = tmp_path / "spielplaetze.yaml"
    code, out, err = bif(capsys, "contract", "import", source, "--format", "odcs", "-o", target)
    assert code == 0 and err == ""
    assert out.startswith(f"Vertrag geschrieben: {target} (Datensatz spielplaetze, 3 Felder, 0 Regeln).")
    assert "Hinweise – im Vertrag als „TODO (Import)“ vermerkt:" in out
    assert "Spalte 'Fläche m²' heißt in BIF „flaeche_m2“ (source.rename)" in out
    assert f"bif contract check {target}" in out
    assert "# TODO (Import) " in target.read_text(encoding="utf-8")
    code, out, _ = bif(capsys, "contract", "check", target)
    assert code == 0 and out.startswith(f"OK  {target}: spielplaetze 1.0.0 (3 Felder")

    good = tmp_path / "spielplaetze.csv"
    good.write_text("nr,Fläche m²,art\n1,120.5,Sand\n2,80,Wasser\n", encoding="utf-8")
    code, out, _ = bif(capsys, "validate", target, good)
    assert code == 0, out
    bad = tmp_path / "falsch.csv"
    bad.write_text("nr,Fläche m²,art\n1,120.5,Sand\n1,-3,Rasen\n", encoding="utf-8")
    code, out, _ = bif(capsys, "validate", target, bad)
    assert code == 1 and "Rasen" in out and "flaeche_m2" in out
    code, _, err = bif(capsys, "contract", "import", source, "--format", "odcs", "-o", target)
    assert code == 1 and "existiert schon – nichts überschrieben" in err


def test_import_to_stdout_puts_hints_on_stderr(capsys, tmp_path):
    source = tmp_path / "anteile.json"
    source.write_text(json.dumps(FOREIGN_TABLESCHEMA), encoding="utf-8")
    code, out, err = bif(capsys, "contract", "import", source, "--format", "tableschema", "--id", "anteile")
    assert code == 0
    assert yaml.safe_load(out)["id"] == "anteile"
    assert "Hinweise – im Vertrag als „TODO (Import)“ vermerkt:" in err
    assert "  - fields[3].type: Typ „time“ gibt es in BIF nicht" in err


def test_import_failures_name_file_and_key_path(capsys, tmp_path):
    source = tmp_path / "schema.json"
    source.write_text(json.dumps(FOREIGN_TABLESCHEMA), encoding="utf-8")
    code, out, err = bif(capsys, "contract", "import", source, "--format", "tableschema")
    assert (code, out) == (1, "")
    assert err.startswith(f"Datei {source} kann nicht importiert werden:\n  - --id: ein Table Schema hat keine")
    hostile = tmp_path / "boese.yaml"
    hostile.write_text(ODCS_FOR_CSV.replace("name: nr,", "name: ../../etc/passwd,"), encoding="utf-8")
    code, out, err = bif(capsys, "contract", "import", hostile, "--format", "odcs")
    assert (code, out) == (1, "")
    assert f"Datei {hostile} kann nicht importiert werden:" in err
    assert "schema[0].properties[0].name (Zeile 17): Name '../../etc/passwd' sieht wie ein Dateipfad aus" in err
    assert "Traceback" not in err
    code, _, err = bif(capsys, "contract", "import", source, "--format", "tableschema", "--id", "x_y",
                       "--object", "t")
    assert code == 1 and "--object: gilt nur für ODCS" in err


def test_usage_errors_are_german(capsys, tmp_path):
    for args, message in ((["contract", "import", tmp_path / "x.yaml"], "es fehlen Angaben: --format"),
                          (["contract", "export", KITAS, "--format", "csv"], "ungültige Auswahl 'csv'")):
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
        assert info.value.code == 2 and message in capsys.readouterr().err
