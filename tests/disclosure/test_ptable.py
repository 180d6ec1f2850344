"""The perturbation table: the constraints of the maximum-entropy construction, checked numerically."""

from __future__ import annotations

import numpy as np
import pytest

from bif_lib.disclosure import PTable, build_ptable, default_ptable
from bif_lib.disclosure.ptable import DEFAULT_PARAMETERS

PARAMETER_SETS = [
    {"D": 5, "V": 3.0, "js": 2},
    {"D": 2, "V": 0.9, "js": 0},
    {"D": 3, "V": 2.5, "js": 2},
    {"D": 4, "V": 1.0, "js": 0, "pstay": 0.5},
    {"D": 6, "V": 4.5, "js": 3},
]


@pytest.mark.parametrize("parameters", PARAMETER_SETS, ids=lambda p: "-".join(f"{k}{v}" for k, v in p.items()))
def test_every_row_is_an_unbiased_bounded_distribution(parameters):
    table = build_ptable(**parameters)
    D, V, js = parameters["D"], parameters["V"], parameters["js"]
    assert table.ncat == (D if js == 0 else D + js + 1)
    for row in table.rows:
        p = row.probabilities
        targets = row.i + row.noise
        assert (p >= 0).all() and row.upper[-1] == 1.0
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (np.abs(row.noise) <= D).all() and (targets >= 0).all()
        if row.i > 0:
            assert not ((targets >= 1) & (targets <= js)).any(), "a blocked small value can be published"
            assert (p > 0).all(), "every allowed target keeps a positive probability (p >= 1e-8)"
        # mean 0 up to the rounding of the interval bounds to 8 decimals (at most len(p) * 5e-9 * D)
        assert abs(p @ row.noise) <= len(p) * 5e-9 * D
        assert p @ row.noise.astype(float) ** 2 <= V + 1e-6
    symmetric = table.rows[-1]
    assert symmetric.variance() == pytest.approx(V, abs=1e-6)
    assert np.array_equal(symmetric.noise, -symmetric.noise[::-1])
    np.testing.assert_allclose(symmetric.probabilities, symmetric.probabilities[::-1], atol=1e-7)


def test_zero_stays_zero(ptable):
    assert ptable.rows[0].noise.tolist() == [0] and ptable.rows[0].upper.tolist() == [1.0]
    keys = np.linspace(0, 1, 1001, endpoint=False)
    assert (ptable.lookup(np.zeros(len(keys), dtype=int), keys) == 0).all()


def test_reproduces_the_r_package_reference_values():
    # sdcTools/ptable vignette: create_cnt_ptable(D = 2, V = 1.08, js = 1, ...): "An original frequency
    # count i=1 changes with probability 0.5133 to j = 0 ... 0.46 ... j = 2 ... 0.0267 ... j = 3".
    row = build_ptable(2, 1.08, js=1).rows[1]
    assert (row.i + row.noise).tolist() == [0, 2, 3]
    np.testing.assert_allclose(row.probabilities, [0.5133, 0.46, 0.0267], atol=5e-5)
    # The vignette: with D = 2, V = 1 the variance of i = 1 stays below V (monotony), with V = 0.9 it holds.
    assert build_ptable(2, 1.0).rows[1].variance() < 0.95
    assert all(row.variance() == pytest.approx(0.9, abs=1e-6) for row in build_ptable(2, 0.9).rows[1:])


def test_symmetric_row_is_the_maximum_entropy_solution():
    # With only sum, mean and variance constraints active, maximum entropy means p ∝ exp(a·v + b·v²):
    # log p is exactly quadratic in v (and, by symmetry, without linear term).
    row = build_ptable(5, 3.0, js=2).rows[-1]
    v = row.noise.astype(float)
    coefficients, residuals, *_ = np.polyfit(v, np.log(row.probabilities), 2, full=True)
    assert residuals[0] < 1e-9
    assert abs(coefficients[1]) < 1e-5 and coefficients[0] < 0
    # ... and any other distribution with the same constraints has lower entropy
    rng = np.random.default_rng(0)
    entropy = -(row.probabilities @ np.log(row.probabilities))
    constraints = np.vstack([np.ones_like(v), v, v ** 2])
    null_space = np.linalg.svd(constraints)[2][3:]
    for _ in range(200):
        other = row.probabilities + 1e-3 * (rng.normal(size=len(null_space)) @ null_space)
        if (other > 0).all():
            assert -(other @ np.log(other)) < entropy


def test_the_default_is_the_frozen_rebuild_of_its_parameters():
    frozen = default_ptable()
    rebuilt = build_ptable(**DEFAULT_PARAMETERS)
    assert frozen.parameters == rebuilt.parameters and frozen.version == rebuilt.version
    for a, b in zip(frozen.rows, rebuilt.rows, strict=True):
        assert a.noise.tolist() == b.noise.tolist()
        np.testing.assert_allclose(a.upper, b.upper, atol=2e-8)
    assert (frozen.D, frozen.V, frozen.js, frozen.pstay) == (5, 3.0, 2, None)


def test_version_depends_on_every_parameter():
    base = build_ptable(5, 3.0, 2)
    others = [build_ptable(4, 3.0, 2), build_ptable(5, 2.5, 2), build_ptable(5, 3.0, 1),
              build_ptable(5, 3.0, 2, pstay=0.3), build_ptable(5, 3.0, 2, mono=False)]
    versions = {base.version} | {t.version for t in others}
    assert len(versions) == 6 and all(v.startswith("pt-") for v in versions)
    assert base.parameters == {"D": 5, "V": 3.0, "js": 2, "pstay": None, "mono": True,
                               "method": "bif-ptable-maxent-1"}


def test_pstay_is_kept_where_the_variance_allows_it():
    table = build_ptable(4, 1.0, pstay=0.5)
    for row in table.rows[1:]:
        assert row.probabilities[row.noise == 0][0] >= 0.5 - 1e-7


def test_a_variance_too_small_for_the_blocked_values_is_refused_in_german():
    # blocking 1 and 2 forces an original 1 to 0 or >= 3: variance at least 2
    with pytest.raises(ValueError, match="Die Varianz V = 2 ist für die Originalzahl 1 zu klein"):
        build_ptable(5, 2.0, js=2)


def test_round_trip_and_tampering():
    table = build_ptable(3, 2.5, js=2)
    again = PTable.from_dict(table.to_dict())
    assert again.version == table.version and again.intervals_sha256 == table.intervals_sha256
    data = table.to_dict()
    data["parameters"]["V"] = 2.0
    with pytest.raises(ValueError, match="passt nicht"):
        PTable.from_dict(data)


def test_lookup_uses_half_open_intervals(ptable):
    row = ptable.rows[3]
    for k, (low, high) in enumerate(zip(row.lower, row.upper)):
        counts = np.full(3, 3)
        keys = np.array([low, (low + high) / 2, np.nextafter(high, 0)])
        assert (ptable.lookup(counts, keys) == row.noise[k]).all()
    # every count from ncat on uses the symmetric row
    keys = np.linspace(0, 1, 997, endpoint=False)
    for count in (ptable.ncat, ptable.ncat + 1, 10_000):
        assert (ptable.lookup(np.full(len(keys), count), keys)
                == ptable.lookup(np.full(len(keys), ptable.ncat), keys)).all()


def test_uniform_cell_keys_give_the_row_probabilities(ptable):
    keys = (np.arange(200_000) + 0.5) / 200_000
    for row in ptable.rows[1:]:
        noise = ptable.lookup(np.full(len(keys), row.i), keys)
        shares = np.array([(noise == v).mean() for v in row.noise])
        np.testing.assert_allclose(shares, row.probabilities, atol=1e-5)
