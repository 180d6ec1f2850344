"""The Cell Key Method on many cells: the noise has the ptable's properties, and equal cells agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from disclosure_data import records_with_counts, register
from scipy import stats

from bif_lib.disclosure import DisclosureError, RecordKeys, build_ptable, content_digest, draw_record_keys, protect

CELLS_PER_COUNT = 3000
COUNTS = np.arange(0, 13)


@pytest.fixture(scope="module")
def perturbed_by_count():
    """3,000 cells for each original count 0 … 12, protected with the default ptable."""
    cell_counts = np.repeat(COUNTS, CELLS_PER_COUNT)
    records = records_with_counts(cell_counts, seed=11)
    table, certificate = protect(records, ["cell"], record_keys="record_key")
    original = cell_counts[table["cell"].to_numpy(dtype=int)]
    return original, table["anzahl"].to_numpy(dtype=int), certificate


def test_noise_is_bounded_zeros_stay_and_small_values_never_appear(perturbed_by_count, ptable):
    original, published, certificate = perturbed_by_count
    noise = published - original
    assert np.abs(noise).max() <= ptable.D
    assert (published[original == 0] == 0).all()
    assert not np.isin(published, np.arange(1, ptable.js + 1)).any()
    assert (published >= 0).all()
    assert certificate.passed and {c["id"] for c in certificate.checks} >= {
        "no_small_values", "max_deviation", "zeros_unchanged"}


@pytest.mark.parametrize("count", COUNTS[1:])
def test_noise_of_each_original_count_follows_its_ptable_row(perturbed_by_count, ptable, count):
    # Cell keys are fractional parts of sums of independent uniform keys, hence independent and
    # uniform, so the noise of n cells with the same count is an i.i.d. sample of the row:
    # mean 0 with standard error sqrt(var/n); sample variance with standard error
    # sqrt((mu4 - var²)/n) (mu4 = fourth moment of the row). We allow 4 standard errors.
    original, published, _ = perturbed_by_count
    noise = (published - original)[original == count]
    row = ptable.row_for(count)
    p, v = row.probabilities, row.noise.astype(float)
    n = len(noise)
    variance, mu4 = p @ v ** 2, p @ v ** 4
    assert abs(noise.mean()) <= 4 * np.sqrt(variance / n)
    assert abs(noise.var() - variance) <= 4 * np.sqrt((mu4 - variance ** 2) / n)
    if count >= ptable.ncat:
        assert variance == pytest.approx(ptable.V, abs=1e-6)
    # and the whole distribution: chi-square, values expected fewer than 5 times pooled
    observed = np.array([(noise == value).sum() for value in row.noise])
    expected = p * n
    rare = expected < 5
    observed = np.append(observed[~rare], observed[rare].sum())
    expected = np.append(expected[~rare], expected[rare].sum())
    if expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    assert stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-4


def test_overall_noise_has_variance_v_and_mean_zero_above_the_symmetric_region(perturbed_by_count, ptable):
    original, published, _ = perturbed_by_count
    noise = (published - original)[original >= ptable.ncat]
    row = ptable.rows[-1]
    mu4 = row.probabilities @ row.noise.astype(float) ** 4
    assert abs(noise.mean()) <= 4 * np.sqrt(ptable.V / len(noise))
    assert abs(noise.var() - ptable.V) <= 4 * np.sqrt((mu4 - ptable.V ** 2) / len(noise))


@pytest.fixture(scope="module")
def persons():
    return register(40_000, seed=21)


def test_the_same_cell_gets_the_same_noise_in_every_table(persons):
    by_district, _ = protect(persons, ["district_id"], record_keys="record_key")
    by_sex, _ = protect(persons, ["district_id", "sex"], record_keys="record_key", margins=True)
    by_age, _ = protect(persons, ["district_id", "agegroup", "sex"], record_keys="record_key", margins=True)
    totals = by_district.set_index("district_id")["anzahl"]
    from_sex = by_sex[by_sex["sex"].isna() & by_sex["district_id"].notna()].set_index("district_id")["anzahl"]
    from_age = by_age[by_age["agegroup"].isna() & by_age["sex"].isna() & by_age["district_id"].notna()]
    assert totals.equals(from_sex) and totals.equals(from_age.set_index("district_id")["anzahl"])
    inner = by_sex.dropna().set_index(["district_id", "sex"])["anzahl"]
    margin = by_age[by_age["agegroup"].isna() & by_age["district_id"].notna() & by_age["sex"].notna()]
    assert inner.equals(margin.set_index(["district_id", "sex"])["anzahl"])
    # the noise is not trivially zero
    exact = persons.groupby("district_id").size()
    assert (totals.to_numpy() != exact.to_numpy()).any()


def test_record_order_and_index_do_not_matter(persons):
    table, certificate = protect(persons, ["district_id", "age", "sex"], record_keys="record_key")
    shuffled = persons.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again, again_certificate = protect(shuffled, ["district_id", "age", "sex"], record_keys="record_key")
    assert content_digest(table) == content_digest(again) == again_certificate.content_sha256
    assert table.equals(again)


def test_reproducible_with_the_same_keys_and_different_with_new_keys(persons):
    first, _ = protect(persons, ["district_id", "age", "sex"], record_keys="record_key")
    second, _ = protect(persons, ["district_id", "age", "sex"], record_keys=persons["record_key"])
    assert first.equals(second)
    new_keys = draw_record_keys(len(persons), seed=999)
    other, _ = protect(persons, ["district_id", "age", "sex"], record_keys=new_keys)
    big = first["anzahl"].to_numpy() >= 8
    changed = (first["anzahl"] != other["anzahl"]).to_numpy()[big].mean()
    # two independent draws from the symmetric row agree with probability sum(p²) ≈ 0.17
    assert changed > 0.7


def test_unperturbed_totals_are_exact(persons):
    table, certificate = protect(persons, ["district_id", "sex"], record_keys="record_key", margins=True,
                                 unperturbed=[[], "district_id"])
    exact = persons.groupby("district_id").size()
    districts = table[table["sex"].isna() & table["district_id"].notna()].set_index("district_id")["anzahl"]
    assert districts.to_dict() == exact.to_dict()
    assert table.loc[table["district_id"].isna() & table["sex"].isna(), "anzahl"].item() == len(persons)
    inner = table.dropna()["anzahl"].to_numpy()  # sorted by district, sex like groupby
    assert (inner != persons.groupby(["district_id", "sex"]).size().to_numpy()).any()
    one, _ = protect(persons, ["district_id", "sex"], record_keys="record_key", margins=True,
                     unperturbed=[{"district_id": 4}])
    assert one.loc[(one["district_id"] == 4) & one["sex"].isna(), "anzahl"].item() == exact[4]


def test_zero_cells_follow_full_and_categories():
    records = pd.DataFrame({"district_id": [1, 1, 2], "sex": ["m", "m", "w"],
                            "record_key": draw_record_keys(3, seed=1)})
    full, _ = protect(records, ["district_id", "sex"], record_keys="record_key")
    assert len(full) == 4 and (full.loc[(full["district_id"] == 1) & (full["sex"] == "w"), "anzahl"] == 0).all()
    observed, _ = protect(records, ["district_id", "sex"], record_keys="record_key", full=False)
    assert len(observed) == 2
    more, _ = protect(records, ["district_id", "sex"], record_keys="record_key",
                      categories={"district_id": [1, 2, 3]})
    assert len(more) == 6


def test_other_ptables_are_used_and_recorded(persons):
    small = build_ptable(2, 0.9)
    table, certificate = protect(persons, ["district_id", "age"], record_keys="record_key", ptable=small)
    exact = persons.groupby(["district_id", "age"]).size().reindex(
        pd.MultiIndex.from_frame(table[["district_id", "age"]].astype("int64")), fill_value=0)
    assert np.abs(table["anzahl"].to_numpy(dtype=int) - exact.to_numpy()).max() <= 2
    assert certificate.ptable_version == small.version and certificate.ptable_parameters["D"] == 2


@pytest.mark.parametrize("arguments, message", [
    ({}, "Record-Keys"),
    ({"record_keys": "fehlt"}, "fehlt"),
    ({"record_keys": np.full(4, 1.5)}, "zwischen 0"),
    ({"record_keys": np.zeros(3)}, "genau einen"),
    ({"record_keys": "record_key", "value": "x"}, "Fallzahlen"),
    ({"record_keys": "record_key", "unperturbed": ["district_id"]}, "margins=True"),
    ({"record_keys": "record_key", "method": "rounding"}, "Unbekanntes Verfahren"),
])
def test_refusals_are_german(arguments, message):
    records = pd.DataFrame({"district_id": [1, 1, 2, 2], "sex": ["m", "w", "w", "m"], "x": [1, 2, 3, 4],
                            "record_key": draw_record_keys(4, seed=2)})
    arguments = dict(arguments)
    method = arguments.pop("method", "cellkey")
    with pytest.raises(DisclosureError, match=message):
        protect(records, ["district_id", "sex"], method, **arguments)


def test_missing_categories_and_small_unperturbed_cells_are_refused():
    records = pd.DataFrame({"district_id": [1, None, 2], "record_key": draw_record_keys(3, seed=4)})
    with pytest.raises(ValueError, match="fehlende Werte"):
        protect(records, ["district_id"], record_keys="record_key")
    records = pd.DataFrame({"district_id": [1, 2, 2, 2, 2], "record_key": draw_record_keys(5, seed=4)})
    with pytest.raises(DisclosureError, match="1 bis 2"):
        protect(records, ["district_id"], record_keys="record_key", unperturbed=[{"district_id": 1}])


def test_next_years_release_keeps_the_noise_of_unchanged_cells(tmp_path, persons):
    store = RecordKeys(tmp_path / "keys.parquet")
    this_year = persons.drop(columns="record_key")
    table, _ = protect(this_year, ["district_id", "sex"], record_keys=store.keys_for(this_year["person_id"]))
    # next year: three people move into district 5, nobody else changes
    newcomers = this_year.head(3).assign(person_id=[10**6, 10**6 + 1, 10**6 + 2], district_id=5, sex="w")
    next_year = pd.concat([this_year, newcomers], ignore_index=True)
    again, _ = protect(next_year, ["district_id", "sex"], record_keys=store.keys_for(next_year["person_id"]))
    unchanged = ~((table["district_id"] == 5) & (table["sex"] == "w")).to_numpy()
    assert again["anzahl"].to_numpy()[unchanged].tolist() == table["anzahl"].to_numpy()[unchanged].tolist()
    assert len(store) == len(next_year)
