"""Helpers of the store tests (a module of its own: ``conftest`` is ambiguous when several test
folders run in one session)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from contract_metadata import METADATA

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "id": "einwohner",
    "title": "Einwohner je Stadtteil",
    "description": "Einwohner mit Hauptwohnsitz nach Stadtteilen",
    **METADATA,
    "source": {"format": "csv", "delimiter": ";", "decimal": ","},
    "schema": {"fields": [{"name": "district_id", "type": "integer"}, {"name": "name", "type": "string"},
                          {"name": "residents", "type": "integer"}, {"name": "share", "type": "number"}],
               "primaryKey": ["district_id"]},
}


def contract_dict(**changes) -> dict:
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


def delivery(residents: int, rows: int = 3) -> str:
    lines = ["district_id;name;residents;share"]
    lines += [f"{i};Stadtteil {i};{residents + i};{i},5" for i in range(1, rows + 1)]
    return "\n".join(lines) + "\n"


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file in the store's areas (the snapshots and their companions)."""
    out = {}
    for area in ("open", "internal", "confidential"):
        for path in sorted((root / area).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
