"""Single ages from age groups (bif_lib.planning.age_split): exact group totals, never negative,
sensible on hand cases."""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning.age_split import check_age_groups, split_age_groups, split_counts

FIVE_YEAR_LOWER = list(range(0, 100, 5))
FIVE_YEAR_UPPER = [a + 4 for a in FIVE_YEAR_LOWER[:-1]] + [None]  # 0–4 … 90–94, 95+


def _band_sums(single: np.ndarray, lower, max_age: int = 100) -> np.ndarray:
    edges = list(lower) + [max_age + 1]
    return np.stack([single[:, a:b].sum(axis=1) for a, b in pairwise(edges)], axis=1)


def test_uniform_population_gives_uniform_single_ages():
    """Hand case: 500 persons in every 5-year band -> exactly 100 per single age (the monotone
    interpolant of a straight cumulative line is that line); the open band 95+ (500 persons) is
    spread over 95..100 by the tail weights (equal weights: 500 / 6 each)."""
    counts = np.full((1, 20), 500.0)
    single = split_counts(FIVE_YEAR_LOWER, FIVE_YEAR_UPPER, counts, max_age=100)
    np.testing.assert_allclose(single[0, :95], 100.0, rtol=1e-12)
    np.testing.assert_allclose(single[0, 95:], 500.0 / 6, rtol=1e-12)


def test_linear_density_is_reproduced_closely():
    """Hand case: single ages n(a) = 10 + a for ages 0..59 grouped in 5-year bands (60+ open,
    empty) come back within 0.3 persons of the truth; each band total exactly."""
    truth = 10.0 + np.arange(60)
    lower, upper = list(range(0, 60, 5)) + [60], [a + 4 for a in range(0, 60, 5)] + [None]
    counts = np.append(truth.reshape(12, 5).sum(axis=1), 0.0)[None]
    single = split_counts(lower, upper, counts, max_age=100)
    assert np.abs(single[0, :60] - truth).max() < 0.3
    assert (single[0, 60:] == 0).all()
    np.testing.assert_allclose(_band_sums(single, lower), counts, rtol=1e-12)


@pytest.mark.parametrize("lower, upper", [
    (FIVE_YEAR_LOWER, FIVE_YEAR_UPPER),
    ([0, 3, 6, 10, 16, 18, 25, 30, 45, 65, 80], [2, 5, 9, 15, 17, 24, 29, 44, 64, 79, None]),  # uneven bands
    ([0, 1, 2, 5, 10], [0, 1, 4, 9, 14]),  # no open band: nobody older than 14
    ([0, 50], [49, 120]),  # a band beyond max_age folds into the open class 100
])
def test_every_group_total_is_kept_and_nothing_is_negative(lower, upper):
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 3000, (40, len(lower))).astype(float)
    counts[0] = 0.0  # an empty series
    counts[1, ::2] = 0.0  # zeros between populated bands
    single = split_counts(lower, upper, counts, max_age=100)
    assert single.shape == (40, 101)
    assert (single >= 0).all()
    np.testing.assert_allclose(single.sum(axis=1), counts.sum(axis=1), rtol=1e-12, atol=1e-9)
    ends = [101 if b is None else min(b + 1, 101) for b in upper]
    ends[-1] = 101  # the last band (open, or reaching beyond max_age) ends in the open class
    sums = np.stack([single[:, a:b].sum(axis=1) for a, b in zip(lower, ends)], axis=1)
    np.testing.assert_allclose(sums, counts, rtol=1e-12, atol=1e-9)


def test_single_years_pass_through_unchanged():
    counts = np.array([[5.0, 7.0, 0.0, 3.0, 11.0]])
    single = split_counts([0, 1, 2, 3, 4], [0, 1, 2, 3, None], counts, max_age=4)
    np.testing.assert_allclose(single, counts, atol=1e-12)


def test_open_band_follows_the_life_table(sh_life_table):
    """The persons of 95+ are spread over 95..100+ in proportion to L(x) of the row's sex."""
    groups = pd.DataFrame({"sex": ["m", "m", "w", "w"], "age_from": [0, 95, 0, 95], "age_to": [94, None, 94, None],
                           "population": [9500.0, 600.0, 9500.0, 600.0]})
    single = split_age_groups(groups, lifetable=sh_life_table)
    for sex in ("m", "w"):
        tail = single[(single["sex"] == sex) & (single["age"] >= 95)]["population"].to_numpy()
        lx = sh_life_table[(sh_life_table["sex"] == sex) & (sh_life_table["age"] >= 95)]["Lx"].to_numpy()
        np.testing.assert_allclose(tail, 600.0 * lx / lx.sum(), rtol=1e-12)
    women, men = (single[(single["sex"] == s) & (single["age"] >= 95)]["population"].to_numpy() for s in "wm")
    assert women[-1] / women.sum() > men[-1] / men.sum()  # women live longer: more of them at 100+


def test_split_age_groups_keeps_keys_and_allows_different_layouts(sh_life_table):
    fine = pd.DataFrame({"year": 2020, "district_id": 93, "sex": "w", "age_from": FIVE_YEAR_LOWER,
                         "age_to": FIVE_YEAR_UPPER, "population": np.arange(20, 0, -1) * 10.0})
    coarse = pd.DataFrame({"year": 2021, "district_id": 11, "sex": "m", "age_from": [0, 18, 65],
                           "age_to": [17, 64, None], "population": [1800.0, 4700.0, 1500.0]})
    single = split_age_groups(pd.concat([coarse, fine], ignore_index=True), lifetable=sh_life_table)
    assert list(single.columns) == ["year", "district_id", "sex", "age", "population"]
    assert len(single) == 2 * 101
    totals = single.groupby(["year", "district_id", "sex"])["population"].sum()
    assert totals[(2020, 93, "w")] == pytest.approx(2100.0) and totals[(2021, 11, "m")] == pytest.approx(8000.0)
    coarse_single = single[single["year"] == 2021].set_index("age")["population"]
    assert coarse_single.loc[18:64].sum() == pytest.approx(4700.0)
    assert (single["population"] >= 0).all()


@pytest.mark.parametrize("lower, upper, message", [
    ([1, 5], [4, None], "muss bei 0 beginnen"),
    ([0, 6], [4, None], "Lücke oder Überschneidung zwischen 0–4"),
    ([0, 4], [4, None], "Lücke oder Überschneidung"),
    ([0, 5, 10], [4, None, 14], "nur die letzte Altersgruppe darf offen sein"),
    ([0, 5], [4, 3], "Obergrenze liegt unter der Untergrenze"),
])
def test_invalid_bands_are_reported_in_german(lower, upper, message):
    with pytest.raises(ValueError, match=message):
        check_age_groups(lower, upper)


def test_invalid_bands_name_the_series(sh_life_table):
    groups = pd.DataFrame({"year": 2020, "district_id": 21, "sex": "m", "age_from": [0, 6], "age_to": [4, None],
                           "population": [1.0, 2.0]})
    with pytest.raises(ValueError, match="year 2020, district_id 21, sex m"):
        split_age_groups(groups, lifetable=sh_life_table)
    with pytest.raises(ValueError, match="nicht negativ"):
        split_age_groups(groups.assign(age_to=[5, None], population=[-1.0, 2.0]), lifetable=sh_life_table)
