"""The onboarding course's notebooks (notebooks/training): committed unsolved and without
outputs, every exercise of COURSE in exactly one notebook — and each notebook, run with the
solutions below put into its exercise cells, passes all its checks and records them as passed.

Exercise cells carry the cell tag ``aufgabe`` and ``metadata.bif.aufgabe`` = the exercise id;
the solutions are written the way a participant would, using what the notebook defined before.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from bif_lib.training import COURSE, read_results

REPO = Path(__file__).resolve().parents[2]
COURSE_DIR = REPO / "notebooks" / "training"
NOTEBOOKS = {
    1: "01_jupyter_grundlagen.ipynb",
    2: "02_daten_laden.ipynb",
    3: "03_karte_und_diagramm.ipynb",
    4: "04_widgets_zur_app.ipynb",
    5: "05_veroeffentlichen_und_datenschutz.ipynb",
}
PLACEHOLDER = "antwort = ...  # Ihre Lösung"
TIMEOUT = 240

SOLUTIONS = {
    "1.1": """
einwohner = 4213
unter_18 = 682
antwort = round(unter_18 / einwohner * 100, 1)
""",
    "1.2": """
zahl = 1234567.891
antwort = format_number(zahl, 2)
""",
    "2.1": """
bif.search("Kita")
antwort = bif.load("kitas")
""",
    "2.2": """
felder = bif.describe("kitas").fields()
antwort = felder.loc[felder["Feld"] == "childcare_places", "Einheit"].iloc[0]
""",
    "2.3": """
antwort = bif.load("kitas")["childcare_places"].sum()
""",
    "3.1": """
antwort = tabelle.sort_values("residents", ascending=False).iloc[0]["name"]
""",
    "3.2": """
antwort = stadtteile.merge(aktuell, on="district_id")
antwort.plot(column="residents", legend=True)
""",
    "3.3": """
ax = tabelle.sort_values("residents").plot.barh(x="name", y="residents", legend=False, figsize=(7, 5))
ax.xaxis.set_major_formatter(german_formatter(0))
ax.set_title(f"Einwohnerinnen und Einwohner {letztes_jahr}")
antwort = ax
""",
    "4.1": """
antwort = widgets.Dropdown(options=sorted(stadtteile["name"]), description="Stadtteil")
antwort
""",
    "4.2": """
def einwohner_text(name):
    nummer = stadtteile.loc[stadtteile["name"] == name, "district_id"].iloc[0]
    zeile = einwohner[(einwohner["year"] == letztes_jahr) & (einwohner["district_id"] == nummer)]
    return f"{name}: {format_number(zeile['residents'].iloc[0])} Einwohnerinnen und Einwohner"

antwort = einwohner_text
""",
    "4.3": """
auswahl = widgets.Dropdown(options=sorted(stadtteile["name"]), description="Stadtteil")
text = widgets.HTML(einwohner_text(auswahl.value))

def zeigen(change):
    text.value = einwohner_text(change["new"])

auswahl.observe(zeigen, names="value")
antwort = widgets.VBox([auswahl, text])
antwort
""",
    "5.1": 'antwort = "internal"',
    "5.2": 'antwort = "B"',
    "5.3": 'antwort = bif.list_datasets(classification="open")["dataset"].tolist()',
}


def _exercise_id(cell) -> str | None:
    return ((cell.get("metadata") or {}).get("bif") or {}).get("aufgabe")


def _read(number: int):
    return nbformat.read(COURSE_DIR / NOTEBOOKS[number], as_version=4)


def test_the_course_is_these_five_notebooks():
    present = sorted(p.name for p in COURSE_DIR.glob("*.ipynb"))
    assert present == sorted(NOTEBOOKS.values())
    assert set(SOLUTIONS) == {e.id for e in COURSE}


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_committed_unsolved_and_without_outputs(number):
    nb = _read(number)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# Schulung {number}:")
    assert "lernen Sie" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{NOTEBOOKS[number]}: outputs not cleared"
    for index, cell in enumerate(nb.cells):
        exercise_id = _exercise_id(cell)
        if exercise_id is None:
            assert cell.cell_type == "markdown" or "antwort = ..." not in cell.source, "an untagged exercise cell"
            continue
        assert cell.cell_type == "code" and "aufgabe" in cell.metadata.get("tags", [])
        assert cell.source.rstrip().endswith(PLACEHOLDER), "the exercise cell is committed unsolved"
        following = nb.cells[index + 1]
        assert following.cell_type == "code" and following.source.strip() == f'pruefe("{exercise_id}", antwort)'
        heading = nb.cells[index - 1]
        assert heading.cell_type == "markdown" and heading.source.startswith(f"### Aufgabe {exercise_id} – ")


def test_every_exercise_is_in_exactly_one_notebook():
    found: dict[str, list[int]] = {}
    for number in NOTEBOOKS:
        for cell in _read(number).cells:
            if (exercise_id := _exercise_id(cell)) is not None:
                found.setdefault(exercise_id, []).append(number)
            for called in re.findall(r'pruefe\("([^"]+)"', cell.source):
                assert called in {e.id for e in COURSE}, f"unknown exercise {called} in notebook {number}"
    assert found == {e.id: [e.notebook] for e in COURSE}


def _run(nb, env: dict) -> None:
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(COURSE_DIR)}})
    client.execute(env={**os.environ, **env})


def _check_outputs(nb) -> list[tuple[str, str]]:
    """(exercise id, the value pruefe returned) of every check cell."""
    seen = []
    for cell in nb.cells:
        match = re.fullmatch(r'pruefe\("([^"]+)", antwort\)', cell.source.strip())
        if cell.cell_type == "code" and match:
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            feedback = [o for o in cell.outputs if o.output_type == "display_data"
                        and "bif-training-feedback" in o.data.get("text/html", "")]
            assert len(results) == 1 and len(feedback) == 1, cell.outputs
            seen.append((match.group(1), results[0].data["text/plain"], feedback[0].data["text/plain"]))
    return seen


@pytest.mark.parametrize("number", sorted(NOTEBOOKS))
def test_the_notebook_solved_passes_every_check(number, flensburg_home, tmp_path):
    nb = _read(number)
    for cell in nb.cells:
        if (exercise_id := _exercise_id(cell)) is not None:
            cell.source = SOLUTIONS[exercise_id].strip()
    home = tmp_path / "teilnehmer"
    results = home / ".bif" / "schulung" / "ergebnisse.json"
    _run(nb, {"BIF_HOME": str(flensburg_home), "BIF_TRAINING_RESULTS": str(results), "BIF_UI_RAISE": "1"})

    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    expected = [e.id for e in COURSE if e.notebook == number]
    checks = _check_outputs(nb)
    assert [c[0] for c in checks] == expected
    for exercise_id, returned, feedback in checks:
        assert returned == "True", f"{exercise_id}: {feedback}"
        assert "Richtig!" in feedback
    recorded = read_results(home)
    assert sorted(recorded) == expected
    assert all(entry["passed"] and entry["attempts"] == 1 for entry in recorded.values())
    assert json.loads(results.read_text())["version"] == 1


def test_the_notebook_unsolved_records_nothing(flensburg_home, tmp_path):
    nb = _read(1)
    results = tmp_path / "teilnehmer" / ".bif" / "schulung" / "ergebnisse.json"
    _run(nb, {"BIF_HOME": str(flensburg_home), "BIF_TRAINING_RESULTS": str(results)})
    checks = _check_outputs(nb)
    assert [c[1] for c in checks] == ["False", "False"]
    assert all("Noch keine Antwort eingetragen" in c[2] for c in checks)
    assert not results.exists()
