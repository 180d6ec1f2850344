"""The engine's shortcuts for large frames report exactly what the plain pandas checks report.

Keys are counted without hashing when they are integers (ascending or dense), patterns are
matched once per distinct value when a column repeats its values; both only change speed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bif_lib.validation import compile_contract
from bif_lib.validation.report import ROW


def field(name, kind, **constraints):
    return {"name": name, "type": kind, "constraints": constraints}


def validate(make_contract, contract_of, fields, frame, **schema):
    contract = contract_of(make_contract(fields, {"format": "csv"}, **schema))
    return compile_contract(contract).validate(frame.assign(**{ROW: np.arange(2, len(frame) + 2)}))


def rows_of(report, rule):
    return sorted(f.row for f in report.failures(limit_per_rule=None) if f.rule == rule)


@pytest.mark.parametrize("ids", [
    np.arange(1, 20_001),                                      # ascending: no counting needed
    np.r_[np.arange(1, 10_001), np.arange(5_000, 15_000)],      # dense range with duplicates: bincount
    np.random.default_rng(1).permutation(np.repeat(np.arange(-50, 9_950), 2))[:15_000],  # negative, shuffled
    np.r_[np.arange(0, 10**12, 10**8), 0],                      # sparse range: hashing
])
@pytest.mark.parametrize("typed", [True, False])
def test_integer_primary_key_matches_pandas_duplicated(make_contract, contract_of, ids, typed):
    column = pd.array(ids, dtype="Int64") if typed else pd.Series(ids).astype(str).astype("str").array
    frame = pd.DataFrame({"id": column})
    _, report = validate(make_contract, contract_of, [("id", "integer")], frame, primary_key="id")
    expected = np.flatnonzero(pd.Series(ids).duplicated(keep=False).to_numpy()) + 2
    assert rows_of(report, "primary_key") == expected.tolist()


def test_unique_integers_with_missing_values(make_contract, contract_of):
    frame = pd.DataFrame({"n": pd.array([3, None, 1, 3, None, 2] * 1000, dtype="Int64")})
    _, report = validate(make_contract, contract_of, [field("n", "integer", unique=True)], frame)
    assert len(rows_of(report, "unique")) == 4000  # every 1, 2 and 3 repeats; missing cells are no duplicates


@pytest.mark.parametrize("distinct", [3, 20_000])  # repeated codes (per distinct value) and ids (per cell)
def test_pattern_matches_pandas_fullmatch(make_contract, contract_of, distinct):
    rng = np.random.default_rng(2)
    pool = np.array([f"STBZ{i:03d}" for i in range(distinct)], dtype=object)
    values = pool[rng.integers(0, distinct, 20_000)]
    values[[5, 700, 19_999]] = ["STBZ1", "xSTBZ001", "STBZ0011"]
    values[[6, 8]] = None
    frame = pd.DataFrame({"code": pd.array(values, dtype="str")})
    _, report = validate(make_contract, contract_of, [field("code", "string", pattern="STBZ[0-9]{3}")], frame)
    text = frame["code"]
    expected = np.flatnonzero(~text.str.fullmatch("STBZ[0-9]{3}").fillna(False).to_numpy(bool) & text.notna().to_numpy())
    assert rows_of(report, "pattern") == (expected + 2).tolist()
    shown = {f.row: f.value for f in report.failures(limit_per_rule=None) if f.rule == "pattern"}
    assert (shown[7], shown[702], shown[20_001]) == ("STBZ1", "xSTBZ001", "STBZ0011")
