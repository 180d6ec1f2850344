"""BIF – Business Intelligence für Kommunen: verified data for notebooks and planning apps.

Analysts load verified datasets with one call::

    import bif_lib as bif
    bif.list_datasets()
    residents = bif.load("einwohner_stadtteile")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Exported lazily (PEP 562): `import bif_lib.planning` or `bif --help` must not load the store,
# pandas and pyarrow, and the planning models stay free of the data API (tests/test_layers.py).
_EXPORTS = {
    "describe": "bif_lib.api", "history": "bif_lib.api", "list_datasets": "bif_lib.api", "load": "bif_lib.api",
    "search": "bif_lib.api",
    "Contract": "bif_lib.contracts", "ContractError": "bif_lib.contracts", "load_contract": "bif_lib.contracts",
    "AccessDenied": "bif_lib.store", "DatasetNotFound": "bif_lib.store", "SnapshotCorrupted": "bif_lib.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'bif_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
