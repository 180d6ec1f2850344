"""docs/disclosure.md's hand-checked example, recomputed line by line so the page cannot drift."""

from __future__ import annotations

import io
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bif_lib.disclosure import default_ptable, protect

DOC = Path(__file__).resolve().parents[2] / "docs" / "disclosure.md"


def block_after(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"<!-- example:{marker} -->") + len(f"<!-- example:{marker} -->")
    body = text[start:].lstrip("\n")
    if body.startswith("```"):
        return body.split("```")[1].split("\n", 1)[1]
    return body.split("\n\n", 1)[0]


def markdown_rows(block: str) -> list[list[str]]:
    lines = [line for line in block.strip().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(block_after("records")), sep=";", dtype={"record_key": str, "altersgruppe": str})


@pytest.fixture(scope="module")
def results() -> list[list[str]]:
    rows = markdown_rows(block_after("results"))
    assert len(rows) == 16  # 9 cells, 3 + 3 margins, the grand total
    return rows


def test_cell_keys_are_the_fractional_parts_of_the_key_sums(records, results):
    for district, group, count, key_sum, cell_key, *_ in results:
        mask = np.ones(len(records), dtype=bool)
        if district != "Insgesamt":
            mask &= records["district_id"].to_numpy() == int(district)
        if group != "Insgesamt":
            mask &= records["altersgruppe"].to_numpy() == group
        keys = [Fraction(k) for k in records.loc[mask, "record_key"]]
        total = sum(keys, Fraction(0))
        assert int(count) == len(keys)
        assert total == Fraction(key_sum)
        assert total - int(total) == Fraction(cell_key)


def test_intervals_and_noise_come_from_the_ptable(results):
    ptable = default_ptable()
    for district, group, count, _, cell_key, row_i, interval, v, published in results:
        row = ptable.row_for(int(count))
        assert int(row_i) == row.i
        if interval == "unperturbed":
            assert (district, group, int(v)) == ("Insgesamt", "Insgesamt", 0)
        elif row.i == 0:
            assert (interval, int(v)) == ("[0, 1)", 0)
        else:
            low, high = (float(x) for x in re.fullmatch(r"\[(.*), (.*)\)", interval).groups())
            k = int(np.searchsorted(row.upper, float(Fraction(cell_key)), side="right"))
            assert (low, high) == (round(row.lower[k], 8), round(row.upper[k], 8))
            assert low <= float(Fraction(cell_key)) < high
            assert int(v) == row.noise[k]
        assert int(published) == int(count) + int(v)


def test_protect_publishes_what_the_page_says(records, results):
    frame = records.assign(record_key=records["record_key"].astype(float))
    table, certificate = protect(frame, ["district_id", "altersgruppe"], record_keys="record_key", margins=True,
                                 unperturbed=[[]], categories={"altersgruppe": ["0-17", "18-64", "65+"]})
    shown = [["Insgesamt" if pd.isna(d) else str(d), "Insgesamt" if pd.isna(g) else g, str(n)]
             for d, g, n in table[["district_id", "altersgruppe", "anzahl"]].itertuples(index=False)]
    assert shown == [[row[0], row[1], row[8]] for row in results]
    assert certificate.ptable_version == default_ptable().version


def test_the_printed_ptable_is_the_default(records):
    printed = markdown_rows(block_after("ptable"))
    frame = default_ptable().frame()
    assert len(printed) == len(frame)
    for (i, v, p, low, high), expected in zip(printed, frame.itertuples(index=False)):
        assert (int(i), int(v)) == (expected.i, expected.v)
        assert (p, low, high) == (f"{expected.p:.8f}", f"{expected.p_int_lb:.8f}", f"{expected.p_int_ub:.8f}")
