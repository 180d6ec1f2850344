"""Record keys: drawn once, kept for good, never world-readable; cell keys exact in any order."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bif_lib.disclosure import RecordKeys, draw_record_keys
from bif_lib.disclosure.keys import cell_key_sums, cell_keys_from_sums, keys_to_fixed


def test_existing_ids_keep_their_keys_and_new_ids_get_new_ones(tmp_path):
    store = RecordKeys(tmp_path / "keys.parquet")
    first = store.keys_for(pd.Series([10, 11, 12]))
    again = RecordKeys(tmp_path / "keys.parquet").keys_for(pd.Series([12, 99, 10, 11]))
    assert again[[0, 2, 3]].tolist() == [first[2], first[0], first[1]]
    assert again[1] not in first
    assert len(store) == 4
    # asking again adds nothing and changes nothing
    assert RecordKeys(tmp_path / "keys.parquet").keys_for(pd.Series([99]))[0] == again[1]
    assert len(store) == 4


def test_string_ids_and_duplicates(tmp_path):
    store = RecordKeys(tmp_path / "keys.parquet")
    keys = store.keys_for(pd.Series(["a", "b", "a"]))
    assert keys[0] == keys[2] != keys[1]
    with pytest.raises(ValueError, match="Typ"):
        store.keys_for(pd.Series([1, 2]))


def test_the_key_file_is_never_world_readable_and_written_atomically(tmp_path):
    path = tmp_path / "keys.parquet"
    previous = os.umask(0)  # even with the most permissive umask
    try:
        RecordKeys(path).keys_for(pd.Series(np.arange(100)))
        RecordKeys(path).keys_for(pd.Series(np.arange(50, 200)))
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o640 and not mode & stat.S_IROTH
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.parquet", "keys.parquet.lock"]


def test_keys_are_uniform_and_seeded_keys_reproducible():
    keys = draw_record_keys(50_000, seed=12)  # seeded: a fixed sample, so the test cannot flake
    assert stats.kstest(keys, "uniform").pvalue > 1e-4
    fresh = draw_record_keys(50_000)
    assert fresh.min() >= 0 and fresh.max() < 1 and 0.49 < fresh.mean() < 0.51
    assert np.array_equal(draw_record_keys(10, seed=3), draw_record_keys(10, seed=3))
    assert not np.array_equal(draw_record_keys(10), draw_record_keys(10))  # from the OS, not a fixed seed
    assert np.array_equal(keys_to_fixed(keys) / 2 ** 52, keys)  # exact in float64


def test_seeded_store_is_reproducible(tmp_path):
    a = RecordKeys(tmp_path / "a.parquet", seed=7).keys_for(pd.Series([1, 2, 3]))
    b = RecordKeys(tmp_path / "b.parquet", seed=7).keys_for(pd.Series([1, 2, 3]))
    assert np.array_equal(a, b)


def test_cell_keys_are_exact_and_independent_of_record_order():
    rng = np.random.default_rng(5)
    keys = draw_record_keys(200_000, seed=5)
    codes = rng.integers(0, 50, len(keys))
    counts, sums = cell_key_sums(codes, keys_to_fixed(keys), 50)
    order = rng.permutation(len(keys))
    counts2, sums2 = cell_key_sums(codes[order], keys_to_fixed(keys[order]), 50)
    assert np.array_equal(counts, counts2) and np.array_equal(sums, sums2)
    # the reference: exact integer arithmetic in Python
    fixed = keys_to_fixed(keys)
    for cell in (0, 17, 49):
        exact = int(sum(int(k) for k in fixed[codes == cell])) % 2 ** 52
        assert int(sums[cell]) == exact
    cell_keys = cell_keys_from_sums(sums)
    assert ((cell_keys >= 0) & (cell_keys < 1)).all()
