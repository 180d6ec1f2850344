"""Every notebook under notebooks/ runs headless without error against the bootstrapped
Flensburg store, is committed without outputs, and the apps carry complete metadata.

The notebooks run in parallel (two kernels) once per session; the parametrised tests then
check each one. ``BIF_UI_RAISE`` makes app callbacks re-raise errors they would otherwise
only show in the page; ``BIF_LOAD_TRACE`` records which datasets each notebook loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from notebook_runner import run_notebooks

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
APPS = [p for p in NOTEBOOKS if p.parent.name == "apps"]
# the module of bif_lib/apps/views an app notebook calls (default: the notebook's name)
MODULES = {"bevoelkerungsprognose": "prognose"}


def _ids(paths):
    return [str(p.relative_to(REPO / "notebooks")) for p in paths]


@pytest.fixture(scope="session")
def executed(flensburg_home, tmp_path_factory):
    """Run all notebooks (2 at a time) with BIF_HOME at the bootstrapped store."""
    return run_notebooks(NOTEBOOKS, tmp_path_factory.mktemp("notebooks"),
                         {"BIF_HOME": str(flensburg_home), "BIF_STORE": None, "BIF_UI_RAISE": "1",
                          "BIF_CITY": "flensburg"})


def test_notebooks_exist():
    assert len(APPS) == 4 and {p.stem for p in APPS} == {"bevoelkerung", "schulbedarf", "kita",
                                                          "bevoelkerungsprognose"}
    assert len([p for p in NOTEBOOKS if p.parent.name == "analysis"]) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(executed, path):
    result = executed[path]
    assert result["error"] is None, result["error"]
    assert not result["errors"], result["errors"]
    tracebacks = [s for s in result["stderr"] if "Traceback" in s or "Error" in s]
    assert not tracebacks, tracebacks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", APPS, ids=_ids(APPS))
def test_app_metadata_complete(executed, path):
    from bif_lib.apps.publishing.bundled import fill_metadata
    from bif_lib.apps.publishing.checks import (
        check_classifications,
        check_metadata,
        check_synthetic_label,
        read_load_trace,
    )
    from bif_lib.city import load_profile

    # as published: the notebook's placeholders filled from the city profile
    nb = fill_metadata(json.loads(path.read_text(encoding="utf-8")), path.stem, load_profile("flensburg"))
    meta = nb["metadata"]["bif"]
    assert set(meta) >= {"title", "description", "audience", "owner"}
    result = check_metadata(nb)
    assert not result.problems, result.problems
    assert "planners" in result.metadata.audience
    used = read_load_trace(executed[path]["trace"])
    assert used, "the app loads its data through bif_lib.load"
    # planners' kernels read open and internal data only; synthetic data must be named in title/description
    assert not check_classifications(result.metadata.audience, used)
    assert not check_synthetic_label(result.metadata, used)
    assert {u.classification for u in used} <= {"open", "internal"}


def test_apps_use_no_confidential_or_register_data():
    """Neither an app notebook nor the app module it calls (with the shared view modules) names
    the register datasets or estimates from the register."""
    views = REPO / "bif_lib" / "apps" / "views"
    shared = [(views / f"{name}.py").read_text(encoding="utf-8") for name in ("common", "atlas", "projection_app")]
    for path in APPS:
        module = MODULES.get(path.stem, path.stem)
        source = "\n".join([c.source for c in nbformat.read(path, as_version=4).cells]
                           + [(views / f"{module}.py").read_text(encoding="utf-8"), *shared])
        assert f"from bif_lib.apps.views import {module}" in source
        assert "melderegister" not in source and "generate_register" not in source
        assert "projection_inputs_from_register" not in source
