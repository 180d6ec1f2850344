"""A differencing attack on overlapping CKM tables: district totals and district × sex.

Each of 3,000 districts has 5–40 men and 1 or 2 women. The office publishes the district totals
and the district × sex table, both with the Cell Key Method. The attacker subtracts: women ≈
total − men. Because the two noises are independent draws from the ptable, the difference is
right only when they happen to cancel; and no combination of published values pins the true
count down, even for an attacker who knows the whole ptable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bif_lib.disclosure import draw_record_keys, protect

DISTRICTS = 3000


@pytest.fixture(scope="module")
def published():
    rng = np.random.default_rng(77)
    men = rng.integers(5, 41, DISTRICTS)
    women = rng.integers(1, 3, DISTRICTS)
    district = np.concatenate([np.repeat(np.arange(DISTRICTS), men), np.repeat(np.arange(DISTRICTS), women)])
    sex = np.concatenate([np.full(men.sum(), "m"), np.full(women.sum(), "w")])
    records = pd.DataFrame({"district_id": district, "sex": sex})
    records["record_key"] = draw_record_keys(len(records), seed=78)
    totals, _ = protect(records, ["district_id"], record_keys="record_key")
    parts, _ = protect(records, ["district_id", "sex"], record_keys="record_key")
    by_sex = parts.pivot(index="district_id", columns="sex", values="anzahl")
    return {"men": men, "women": women, "T": totals["anzahl"].to_numpy(dtype=int),
            "M": by_sex["m"].to_numpy(dtype=int), "W": by_sex["w"].to_numpy(dtype=int)}


def test_published_small_counts_are_never_the_true_ones(published, ptable):
    assert not np.isin(published["W"], np.arange(1, ptable.js + 1)).any()
    assert (published["W"] != published["women"]).all()


def test_differencing_hits_no_more_often_than_two_noises_cancel_by_chance(published, ptable):
    estimate = published["T"] - published["M"]
    hits = (estimate == published["women"]).sum()
    # P(hit) for one district = P(noise of total == noise of men) = Σ_v p_t(v)·p_m(v), the two cell
    # keys being independent; the number of hits is a sum of independent Bernoulli variables.
    totals = published["men"] + published["women"]
    chance = np.array([_same_noise_probability(ptable, t, m) for t, m in zip(totals, published["men"])])
    bound = chance.sum() + 4 * np.sqrt((chance * (1 - chance)).sum())
    assert hits <= bound
    assert chance.mean() < 0.5  # worse than guessing between 1 and 2 women
    assert hits / DISTRICTS < 0.25


def test_no_published_combination_makes_the_attacker_certain(published, ptable):
    # The attacker knows the ptable's supports: which original counts can produce a published value.
    # Candidates for the number of women: every w with some m such that W, M and T are all reachable.
    def origins(j: int) -> set[int]:
        return {i for i in range(max(j - ptable.D, 0), j + ptable.D + ptable.js + 2)
                if (j - i) in set(ptable.row_for(i).noise.tolist())}

    for T, M, W, women in zip(published["T"], published["M"], published["W"], published["women"]):
        men_options = origins(M)
        total_options = origins(T)
        candidates = {w for w in origins(W) if any(m + w in total_options for m in men_options)}
        assert women in candidates
        assert len(candidates) >= 2


def _same_noise_probability(ptable, total: int, men: int) -> float:
    a, b = ptable.row_for(total), ptable.row_for(men)
    pa = dict(zip(a.noise.tolist(), a.probabilities))
    return float(sum(pa.get(v, 0.0) * p for v, p in zip(b.noise.tolist(), b.probabilities)))
