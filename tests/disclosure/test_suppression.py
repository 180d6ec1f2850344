"""Cell suppression: primary rules, and secondary suppression checked by an independent attacker LP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from disclosure_data import register
from lp_audit import empty_cells, finest_cells, suppressed_intervals, true_values

from bif_lib.disclosure import DisclosureError, format_table, format_value, protect
from bif_lib.i18n import format_number


@pytest.fixture(scope="module")
def persons():
    return register(300, seed=41, districts=6)


def required(values: np.ndarray, minimum: float, share: float = 0.3) -> np.ndarray:
    return np.maximum(share * values, minimum)


@pytest.mark.parametrize("by", [["district_id", "agegroup"], ["district_id", "agegroup", "sex"]])
def test_no_primary_cell_can_be_narrowed_below_its_protection_range(persons, by):
    table, certificate = protect(persons, by, "suppression", margins=True)
    truth = true_values(table, persons, by, None)
    status = table["geheimhaltung"].to_numpy()
    primary = status == "primär"
    assert primary.any() and (status == "sekundär").any(), "the example must need secondary suppression"
    assert ((truth > 0) & (truth < 3) == primary).all(), "exactly the cells with 1 or 2 persons are primary"
    cells = finest_cells(persons, by)
    intervals = suppressed_intervals([table], "anzahl", by, cells)
    assert len(intervals) == (status != "").sum()
    for _, i, low, high in intervals:
        assert low - 1e-6 <= truth[i] <= high + 1e-6
        if primary[i]:
            assert high - low >= required(truth[i], 3) - 1e-6, table.loc[i].to_dict()
    # not vacuous: publishing the secondary cells would disclose some primary cell
    only_primary = table.copy()
    only_primary.loc[status == "sekundär", "anzahl"] = truth[status == "sekundär"].astype(int)
    narrow = [high - low < required(truth[i], 3) for _, i, low, high in
              suppressed_intervals([only_primary], "anzahl", by, cells)]
    assert any(narrow)
    check = next(c for c in certificate.checks if c["id"] == "protection_range")
    assert check["passed"] and check["name"] == "Intervallbreite ≥ Schutzbereich"


def test_protection_holds_across_released_tables(persons):
    # Table A: age groups 0-17, 18-64, 65-79, 80+. Table B cuts differently: 0-17, 18-79, 80+.
    # B's "18-79" minus A's "18-64" gives A's "65-79", typically A's secondary cell next to a
    # primary "80+" cell. Only when B knows A can it avoid publishing that difference.
    persons = persons.assign(broad=pd.array(np.select([persons["age"] < 18, persons["age"] < 80],
                                                      ["0-17", "18-79"], "80+"), dtype="str"))
    table_a, _ = protect(persons, ["district_id", "agegroup"], "suppression", margins=True)
    columns = ["district_id", "agegroup", "broad"]
    cells = finest_cells(persons, columns)
    known_empty = empty_cells(persons, columns, cells)  # the attacker knows 5-year-olds are not 80+

    def disclosed(table_b) -> int:
        tables = [table_a, table_b]
        truths = [true_values(table_a, persons, ["district_id", "agegroup"], None),
                  true_values(table_b, persons, ["district_id", "broad"], None)]
        return sum(high - low < required(truths[t][i], 3) - 1e-6
                   for t, i, low, high in suppressed_intervals(tables, "anzahl", columns, cells, known_empty)
                   if tables[t].loc[i, "geheimhaltung"] == "primär")

    naive, _ = protect(persons, ["district_id", "broad"], "suppression", margins=True)
    assert disclosed(naive) > 0, "the example must show the risk of ignoring released tables"
    aware, certificate = protect(persons, ["district_id", "broad"], "suppression", margins=True,
                                 other_tables=[table_a])
    assert disclosed(aware) == 0
    assert certificate.parameters["other_tables"] == 1


def test_magnitude_tables_apply_dominance_and_p_percent(persons):
    records = persons.copy()
    records.loc[records.index[:3], "benefit"] = 60_000.0  # three dominant recipients
    by = ["district_id", "agegroup"]
    table, certificate = protect(records, by, "suppression", value="benefit", margins=True,
                                 dominance=(1, 60.0), p_percent=15.0)
    status = table["geheimhaltung"].to_numpy()
    for i, row in table.iterrows():
        mask = np.ones(len(records), dtype=bool)
        for c in by:
            if not pd.isna(row[c]):
                mask &= (records[c] == row[c]).to_numpy()
        values = np.sort(records.loc[mask, "benefit"].to_numpy())[::-1]
        total, x1, x2 = values.sum(), (list(values) + [0, 0])[0], (list(values) + [0, 0])[1]
        sensitive = (0 < len(values) < 3) or (total > 0 and (x1 > 0.6 * total or total - x1 - x2 < 0.15 * x1))
        assert (status[i] == "primär") == sensitive, row.to_dict()
        assert pd.isna(row["benefit"]) == (status[i] != "")
    assert (status == "primär").sum() >= 3
    truth = true_values(table, records, by, "benefit")
    for _, i, low, high in suppressed_intervals([table], "benefit", by, finest_cells(records, by)):
        if status[i] == "primär":
            assert high - low >= required(truth[i], 1) - 1e-6
    names = [c["name"] for c in certificate.checks]
    assert "Dominanzregel (1, 60 %)" in names and "p-%-Regel (p = 15 %)" in names


def test_suppressed_cells_are_missing_and_shown_as_dot(persons):
    table, _ = protect(persons, ["district_id", "agegroup"], "suppression", margins=True)
    assert str(table["anzahl"].dtype) == "Int64"
    assert set(table["geheimhaltung"]) <= {"", "primär", "sekundär"}
    assert table["anzahl"].isna().equals(table["geheimhaltung"] != "")
    shown = format_table(table)
    assert (shown.loc[table["anzahl"].isna(), "anzahl"] == ".").all()
    assert (shown.loc[table["district_id"].isna(), "district_id"] == "Insgesamt").all()
    published = table["anzahl"].notna()
    assert (shown.loc[published, "anzahl"] == [format_number(v) for v in table.loc[published, "anzahl"]]).all()
    assert format_value(12345) == "12.345" and format_value(pd.NA) == "." and format_value(2.5, 1) == "2,5"


def test_margins_are_assumed_known_when_not_shown(persons):
    inner_only, _ = protect(persons, ["district_id", "agegroup"], "suppression")
    with_margins, _ = protect(persons, ["district_id", "agegroup"], "suppression", margins=True)
    assert inner_only["district_id"].notna().all()
    assert (inner_only["geheimhaltung"] != "").sum() >= 2 * (inner_only["geheimhaltung"] == "primär").sum() > 0
    merged = inner_only.merge(with_margins, on=["district_id", "agegroup"], suffixes=("", "_m"))
    assert (merged["geheimhaltung"] == "primär").equals(merged["geheimhaltung_m"] == "primär")


def test_refusals(persons):
    by_age, _ = protect(persons, ["district_id", "agegroup"], "suppression", margins=True)
    tampered = by_age.copy()
    tampered.loc[tampered["anzahl"].notna().idxmax(), "anzahl"] += 1
    with pytest.raises(DisclosureError, match="passen nicht zu den Einzeldaten"):
        protect(persons, ["district_id", "sex"], "suppression", other_tables=[tampered])
    # a released table that shows each person's cell exactly cannot be protected against
    open_table = by_age.copy()
    open_table["anzahl"] = true_values(open_table, persons, ["district_id", "agegroup"], None).astype(int)
    open_table = open_table.drop(columns="geheimhaltung")
    with pytest.raises(DisclosureError, match="lässt sich nicht schützen"):
        protect(persons, ["district_id", "agegroup", "sex"], "suppression", other_tables=[open_table])
    small = persons[persons["district_id"] == 1].head(2)
    with pytest.raises(DisclosureError, match="selbst gesperrt"):
        protect(small, ["sex"], "suppression", margins=True, unperturbed=[[]])
    negative = persons.assign(benefit=-persons["benefit"])
    with pytest.raises(DisclosureError, match="negative"):
        protect(negative, ["district_id"], "suppression", value="benefit")
