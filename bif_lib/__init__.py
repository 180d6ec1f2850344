"""BIF – Business Intelligence für Kommunen: verified data for notebooks and planning apps.

Analysts load verified datasets with one call::

    import bif_lib as bif
    bif.list_datasets()
    residents = bif.load("einwohner_stadtteile")
"""

from bif_lib.api import describe, history, list_datasets, load, search
from bif_lib.contracts import Contract, ContractError, load_contract
from bif_lib.store import AccessDenied, DatasetNotFound, SnapshotCorrupted

__version__ = "0.1.0"

__all__ = ["AccessDenied", "Contract", "ContractError", "DatasetNotFound", "SnapshotCorrupted", "describe",
           "history", "list_datasets", "load", "load_contract", "search"]
