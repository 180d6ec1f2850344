"""Metadata and classification checks (no kernel needed)."""

from __future__ import annotations

import json

import pytest
from apps_helpers import notebook

from bif_lib.apps.publishing.checks import (
    AppMetadata,
    DatasetUse,
    allowed_classifications,
    check_classifications,
    check_metadata,
    check_synthetic_label,
    read_load_trace,
)


def test_complete_metadata_passes():
    result = check_metadata(notebook(audience=["planners", "trainers", "planners"], pool_size=3))
    assert result.problems == []
    meta = result.metadata
    assert meta.title == "Prüf-App"
    assert meta.audience == ("planners", "trainers")  # duplicates dropped, order kept
    assert meta.owner == "Team Test" and meta.pool_size == 3


def test_missing_bif_block_is_explained_in_german():
    nb = notebook()
    del nb["metadata"]["bif"]
    problems = check_metadata(nb).problems
    assert len(problems) == 1 and "title, description, audience" in problems[0]


@pytest.mark.parametrize("bif, expected", [
    ({"title": ""}, "Titel fehlt"),
    ({"title": "x" * 121}, "Titel ist zu lang"),
    ({"description": None}, "Beschreibung fehlt"),
    ({"audience": []}, "Zielgruppe fehlt"),
    ({"audience": ["planners", "buergermeister"]}, "Unbekannte Gruppe"),
    ({"owner": "  "}, "Verantwortliche Person"),
    ({"pool_size": 50}, "pool_size"),
])
def test_bad_metadata_is_refused(bif, expected):
    result = check_metadata(notebook(**bif))
    assert result.metadata is None
    assert any(expected in p for p in result.problems), result.problems


def test_all_problems_are_reported_at_once():
    result = check_metadata(notebook(title="", description="", audience=[]))
    assert len(result.problems) == 3


def test_audience_as_single_string_is_accepted():
    assert check_metadata(notebook(audience="planners")).metadata.audience == ("planners",)


@pytest.mark.parametrize("audience, allowed", [
    (["planners"], {"open", "internal"}),
    (["trainers"], {"open", "internal"}),
    (["analysts"], {"open", "internal"}),
    (["statistikstelle"], {"open", "internal", "confidential"}),
    (["admins"], {"open", "internal"}),  # Statistikgeheimnis: admins too
    (["statistikstelle", "planners"], {"open", "internal"}),  # everyone must be allowed
])
def test_allowed_classifications(audience, allowed):
    assert allowed_classifications(audience) == allowed


def use(classification, dataset="ds", synthetic=False):
    return DatasetUse(dataset, 1, classification, synthetic, "2024-12-31T00:00:00+00:00")


def test_confidential_data_refused_for_planners():
    problems = check_classifications(["planners"], [use("open"), use("confidential", "register")])
    assert len(problems) == 1
    assert "register" in problems[0] and "vertraulich" in problems[0] and "Planung" in problems[0]


def test_confidential_data_allowed_for_statistikstelle_only():
    assert check_classifications(["statistikstelle"], [use("confidential")]) == []
    problems = check_classifications(["statistikstelle", "planners"], [use("confidential")])
    assert len(problems) == 1 and "Planung" in problems[0] and "Statistikstelle" not in problems[0]


def test_unknown_classification_is_refused():
    assert check_classifications(["statistikstelle"], [use("geheim")])


def test_internal_data_fine_for_planners_and_trainers():
    assert check_classifications(["planners", "trainers"], [use("open"), use("internal")]) == []


def test_synthetic_data_must_be_labelled():
    meta = AppMetadata("Kita-Bedarf", "Bedarf an Kita-Plätzen", ("planners",))
    problems = check_synthetic_label(meta, [use("internal", "register_sim", synthetic=True)])
    assert problems and "synthetisch" in problems[0] and "register_sim" in problems[0]
    labelled = AppMetadata("Kita-Bedarf", "Rechnet mit synthetischen Registerdaten.", ("planners",))
    assert check_synthetic_label(labelled, [use("internal", synthetic=True)]) == []
    assert check_synthetic_label(meta, [use("internal")]) == []


def test_load_trace_is_read_and_deduplicated(tmp_path):
    trace = tmp_path / "loads.jsonl"
    lines = [
        {"dataset": "einwohner", "version": 2, "classification": "open", "synthetic": False,
         "created_at": "2025-01-01T00:00:00+00:00"},
        {"dataset": "einwohner", "version": 2, "classification": "open", "synthetic": False,
         "created_at": "2025-01-01T00:00:00+00:00"},
        {"dataset": "kitas", "version": 1, "classification": "internal", "synthetic": True, "created_at": None},
    ]
    trace.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    uses = read_load_trace(trace)
    assert [(u.dataset, u.version, u.classification, u.synthetic) for u in uses] == [
        ("einwohner", 2, "open", False), ("kitas", 1, "internal", True)]
    assert read_load_trace(tmp_path / "missing.jsonl") == []
