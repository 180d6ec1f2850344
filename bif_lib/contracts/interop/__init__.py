"""Contracts from and to other standards, so that a city that already keeps one can start from
it: the Open Data Contract Standard (ODCS v3, ``odcs``) and Frictionless Table Schema
(``tableschema``). The mapping and what each format loses are in docs/contracts.md, "Import and
export".

    export_contract(contract, "odcs").text          # ODCS v3.0.2 YAML
    import_contract("x.odcs.yaml", "odcs").text     # a BIF contract with TODO comments
"""

from __future__ import annotations

from pathlib import Path

from bif_lib.contracts.interop.common import ExportResult, ImportResult, InteropError
from bif_lib.contracts.interop.odcs import export_odcs, import_odcs
from bif_lib.contracts.interop.tableschema import export_tableschema, import_tableschema
from bif_lib.contracts.model import Contract

FORMATS = ("odcs", "tableschema")
LABELS = {"odcs": "ODCS", "tableschema": "Table Schema"}


def export_contract(contract: Contract, fmt: str) -> ExportResult:
    """``contract`` in format ``fmt`` (one of FORMATS)."""
    if fmt == "odcs":
        return export_odcs(contract)
    if fmt == "tableschema":
        return export_tableschema(contract)
    raise ValueError(f"unbekanntes Format {fmt!r} (möglich: {', '.join(FORMATS)})")


def import_contract(path: Path | str, fmt: str, dataset_id: str | None = None, object_name: str | None = None,
                    target: Path | str | None = None) -> ImportResult:
    """The BIF contract a file of format ``fmt`` describes; raises InteropError (German, naming
    the file and the key path) for a file that cannot be imported."""
    if fmt == "odcs":
        return import_odcs(path, dataset_id=dataset_id, object_name=object_name, target=target)
    if fmt == "tableschema":
        if object_name is not None:
            raise InteropError(path, [("--object", None,
                                       "gilt nur für ODCS (ein Table Schema beschreibt eine Tabelle)")])
        return import_tableschema(path, dataset_id=dataset_id, target=target)
    raise ValueError(f"unbekanntes Format {fmt!r} (möglich: {', '.join(FORMATS)})")


__all__ = [
    "FORMATS",
    "LABELS",
    "ExportResult",
    "ImportResult",
    "InteropError",
    "export_contract",
    "export_odcs",
    "export_tableschema",
    "import_contract",
    "import_odcs",
    "import_tableschema",
]
