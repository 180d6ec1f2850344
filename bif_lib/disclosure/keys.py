"""Record keys: one fixed random number in [0, 1) per microdata record.

A cell's key is the fractional part of the sum of its records' keys, so the same set of records
gets the same cell key in every table. That only holds while each record keeps its key: keys are
drawn once and then kept in a :class:`RecordKeys` store (a Parquet file in the statistics office's
confidential area). Whoever knows the keys can undo the protection; the file is never world-readable.

Keys are multiples of 2⁻⁵² (exact in float64). Cell keys are summed as 52-bit integers, so they do
not depend on the order in which records are added up (see :func:`cell_key_sums`).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bif_lib.fsutil import fsync_dir, write_private

KEY_BITS = 52
KEY_SCALE = float(2 ** KEY_BITS)
KEY_MASK = np.uint64(2 ** KEY_BITS - 1)
_HALF_BITS = KEY_BITS // 2
_HALF_MASK = np.int64(2 ** _HALF_BITS - 1)
MAX_RECORDS_PER_CELL = 2 ** _HALF_BITS  # float64 sums of 26-bit halves stay exact up to here
FILE_MODE = 0o640


def draw_record_keys(count: int, *, seed: int | None = None) -> np.ndarray:
    """``count`` new keys, uniform in [0, 1). Without ``seed`` from the OS's CSPRNG (``secrets``);
    a seed is for tests and hand-checked examples only."""
    entropy = secrets.randbits(128) if seed is None else seed
    generator = np.random.Generator(np.random.PCG64(entropy))
    return generator.integers(0, 2 ** KEY_BITS, size=count, dtype=np.int64) / KEY_SCALE


def keys_to_fixed(keys: np.ndarray) -> np.ndarray:
    """Record keys as 52-bit integers (int64)."""
    return np.floor(np.asarray(keys, dtype=np.float64) * KEY_SCALE).astype(np.int64)


def cell_key_sums(codes: np.ndarray, fixed_keys: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Record count and key sum (mod 2⁵², uint64) for each cell ``0 … cells-1``.

    ``np.bincount`` sums in float64; each 52-bit key is split into two 26-bit halves so that
    every partial sum is an integer below 2⁵³ and therefore exact, whatever the order.
    """
    counts = np.bincount(codes, minlength=cells)
    if len(counts) and counts.max() >= MAX_RECORDS_PER_CELL:
        raise ValueError("Zu viele Datensätze in einer Zelle für exakte Cell-Keys.")
    high = np.bincount(codes, weights=(fixed_keys >> _HALF_BITS).astype(np.float64), minlength=cells)
    low = np.bincount(codes, weights=(fixed_keys & _HALF_MASK).astype(np.float64), minlength=cells)
    sums = (high.astype(np.uint64) << np.uint64(_HALF_BITS)) + low.astype(np.uint64)
    return counts, sums & KEY_MASK


def cell_keys_from_sums(sums: np.ndarray) -> np.ndarray:
    """Cell keys in [0, 1) from key sums mod 2⁵²."""
    return (np.asarray(sums, dtype=np.uint64) & KEY_MASK).astype(np.float64) / KEY_SCALE


def validate_keys(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.float64)
    if np.isnan(keys).any():
        raise ValueError("Record-Keys fehlen für einzelne Datensätze.")
    if len(keys) and (keys.min() < 0 or keys.max() >= 1):
        raise ValueError("Record-Keys müssen zwischen 0 (einschließlich) und 1 (ausschließlich) liegen.")
    return keys


class RecordKeys:
    """The persistent record keys of one dataset, in a Parquet file at ``path`` (id, record_key).

    ``keys_for(ids)`` returns each id's key; ids seen for the first time get new keys, which are
    saved (atomically, under a lock) before they are returned. Existing keys never change.
    """

    def __init__(self, path: Path | str, *, seed: int | None = None):
        self.path = Path(path)
        self._seed = seed  # tests only; real stores draw from the OS

    def keys_for(self, ids: pd.Series) -> np.ndarray:
        ids = _normalise_ids(ids)
        with self._lock():
            stored = self._read()
            if len(stored) and stored.index.dtype.kind != ids.dtype.kind:
                raise ValueError(f"Die Kennungen passen nicht zum Typ der gespeicherten Record-Keys ({self.path}).")
            position = stored.index.get_indexer(ids)
            new_ids = pd.unique(ids[position < 0])
            if len(new_ids):
                seed = None if self._seed is None else [self._seed, len(stored)]
                added = pd.Series(draw_record_keys(len(new_ids), seed=seed), index=pd.Index(new_ids))
                stored = pd.concat([stored, added]) if len(stored) else added
                self._write(stored)
                position = stored.index.get_indexer(ids)
        return stored.to_numpy()[position]

    def __len__(self) -> int:
        return len(self._read())

    def _read(self) -> pd.Series:
        if not self.path.exists():
            return pd.Series([], dtype=np.float64)
        table = pq.read_table(self.path)
        ids = table.column("id").to_numpy()
        return pd.Series(table.column("record_key").to_numpy(), index=pd.Index(ids), dtype=np.float64)

    def _write(self, keys: pd.Series) -> None:
        ids = keys.index.to_numpy()
        table = pa.table({"id": pa.array(ids, type=pa.int64() if ids.dtype.kind == "i" else pa.string()),
                          "record_key": pa.array(keys.to_numpy(), type=pa.float64())})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_private(self.path, sink.getvalue().to_pybytes(), mode=FILE_MODE)
        fsync_dir(self.path.parent)

    @contextmanager
    def _lock(self):
        """One writer at a time: two sessions adding keys must not overwrite each other's."""
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _normalise_ids(ids) -> np.ndarray:
    ids = pd.Series(ids)
    if ids.isna().any():
        raise ValueError("Kennungen (ids) dürfen nicht fehlen.")
    if pd.api.types.is_integer_dtype(ids.dtype):
        return ids.to_numpy(dtype=np.int64)
    return ids.astype(str).to_numpy(dtype=object)
