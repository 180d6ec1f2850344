"""Helpers of the open data tests (a module of its own: ``conftest`` is ambiguous when several test
folders run in one session)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import yaml
from contract_metadata import METADATA

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "https://opendata.flensburg.example/bif/"

SMALL = {
    "id": "testtabelle",
    "title": "Testtabelle je Stadtteil",
    "description": "Kleine Tabelle für die Tests der Open-Data-Veröffentlichung.",
    **METADATA,
    "source": {"format": "csv", "delimiter": ";"},
    "schema": {"fields": [{"name": "district_id", "type": "integer", "title": "Stadtteil",
                           "constraints": {"required": True, "minimum": 1, "maximum": 13}},
                          {"name": "name", "type": "string", "title": "Name"},
                          {"name": "residents", "type": "integer", "title": "Einwohner", "unit": "Personen",
                           "constraints": {"minimum": 0}}],
               "primaryKey": ["district_id"]},
}


def small_contract(**changes) -> dict:
    raw = copy.deepcopy(SMALL)
    raw.update(changes)
    return raw


def small_delivery(residents: int, rows: int = 3) -> str:
    lines = ["district_id;name;residents"]
    lines += [f"{i};Stadtteil {i};{residents + i}" for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def ingest_small(store, folder: Path, raw: dict, text: str, name: str = "lieferung"):
    """Ingest a small contract and delivery into ``store``; the outcome."""
    from bif_lib.ingest import ingest

    folder.mkdir(parents=True, exist_ok=True)
    contract = folder / f"{raw['id']}-{name}.yaml"
    contract.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    delivery = folder / f"{name}.csv"
    delivery.write_text(text, encoding="utf-8")
    outcome = ingest(contract, delivery, store=store)
    assert outcome.ok, outcome.report.to_text()
    return outcome


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` (a site before and after a failed release)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
