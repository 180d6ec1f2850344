"""Record keys of the Cell Key Method, fixed when confidential microdata enter the store.

Every statistical unit of microdata with a ``record_id`` gets a random key once, on ingest
(new units get new keys, known ones keep theirs), kept in the confidential area beside the
dataset's snapshots. Releases (``bif_lib.releases``) read them; the office's members cannot and
need not write them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bif_lib.contracts import Contract
from bif_lib.disclosure import RecordKeys
from bif_lib.store.snapshots import Store

KEYS_FILE = "record_keys.parquet"


class RecordKeysMissing(LookupError):
    """The keys of a dataset (or of some of its units) are not there (message in German)."""


def record_keys_path(store: Store, dataset: str) -> Path:
    return store.area("confidential") / dataset / KEYS_FILE


def ensure_record_keys(store: Store, contract: Contract, frame: pd.DataFrame) -> int:
    """Give every unit of confidential microdata its fixed record key. Returns the number of units."""
    column = contract.raw.get("record_id")
    if contract.classification != "confidential" or not column or column not in frame.columns:
        return 0
    path = record_keys_path(store, contract.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = pd.Series(frame[column].dropna().unique())
    RecordKeys(path).keys_for(ids)
    return len(ids)


def record_keys_for(store: Store, dataset: str, ids: pd.Series) -> np.ndarray:
    """The stored keys of ``ids``, in their order (read only)."""
    path = record_keys_path(store, dataset)
    if not path.exists():
        raise RecordKeysMissing(f"Für „{dataset}“ gibt es keine Record-Keys ({path}); sie entstehen beim Einspielen "
                                "der Einzeldaten (bif ingest). Bitte den Datensatz erneut einspielen.")
    table = pq.read_table(path)
    stored = pd.Series(table.column("record_key").to_numpy(), index=pd.Index(table.column("id").to_numpy()))
    position = stored.index.get_indexer(pd.Series(ids).to_numpy())
    missing = int((position < 0).sum())
    if missing:
        raise RecordKeysMissing(f"{missing} Datensätze von „{dataset}“ haben keinen Record-Key; die Einzeldaten "
                                "wurden nicht über BIF eingespielt. Bitte erneut einspielen (bif ingest).")
    return stored.to_numpy()[position]
