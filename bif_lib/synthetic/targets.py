"""Turn the published tables into exact per-year targets: residents per Stadtteil and age class.

The generator hits ``YearTargets.cells`` exactly in every extract. How the cells relate to the
published figures:

* Years with published Stadtteil age groups (2021, 2022): the eight overlapping columns
  (incl. 0–<7 and 60+) are turned into eight disjoint age classes
  0–6, 7–17, 18–29, 30–44, 45–59, 60–64, 65–79, 80+; every published column is a sum of classes,
  so all of them are reproduced exactly.
* Other years (2017–2020): only the bands <18 / 18–64 / 65+ per Stadtteil and the six age groups
  city-wide are published. Where a Stadtteil's bands do not add up to its residents (the
  Sozialatlas notes persons not assignable to a Stadtteil), the bands are adjusted minimally so
  that rows add up to the residents and columns to the city-wide groups; the 18–64 and 65+ bands
  are split into 18–29/30–44/45–64 and 65–79/80+ with each Stadtteil's proportions of the nearest
  year with published Stadtteil age groups, raked to the city-wide groups and rounded with both
  margins kept. Published figures that differ from the resulting cells are approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bif_lib.synthetic.totals import DISTRICT_AGE_GROUPS, SIX_AGE_GROUPS, PublishedTotals, district_rows

DISTRICT_AGE_GROUP_CLASSES = np.array([0, 7, 18, 30, 45, 60, 65, 80])
BAND_YEAR_CLASSES = np.array([0, 18, 30, 45, 65, 80])
DEFAULT_EU_SHARE = 0.5  # share of EU citizens among non-Germans when T10 is not available


@dataclass(frozen=True)
class YearTargets:
    """Exact and calibration targets of one extract year (Stichtag 31.12.)."""

    year: int
    class_lower: np.ndarray  # (K,) lower bounds of the disjoint age classes; the last is open
    cells: np.ndarray  # (D, K) residents per Stadtteil and age class, reproduced exactly
    births: np.ndarray  # (D,) live births in the year, reproduced exactly
    foreigners: np.ndarray  # (D,) non-German residents, calibration target (approximate)
    eu_share: float  # share of EU citizens among non-Germans
    basis: str  # where the cells come from

    def age_class(self, age: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.class_lower, age, side="right") - 1

    def class_bounds(self, k: int) -> tuple[int, int | None]:
        upper = int(self.class_lower[k + 1]) if k + 1 < len(self.class_lower) else None
        return int(self.class_lower[k]), upper

    def interval_total(self, lower: int, upper: int | None) -> np.ndarray:
        """Target residents per Stadtteil aged [lower, upper); the interval must be a union of classes."""
        if lower not in self.class_lower or (upper is not None and upper not in self.class_lower):
            raise ValueError(f"age interval [{lower}, {upper}) is not a union of the {self.year} age classes")
        inside = (self.class_lower >= lower) & (self.class_lower < (np.inf if upper is None else upper))
        return self.cells[:, inside].sum(axis=1)


@dataclass(frozen=True)
class CalibrationTargets:
    district_ids: np.ndarray  # (D,) Stadtteil ids, ascending
    by_year: dict[int, YearTargets]


def derive_targets(totals: PublishedTotals, years: range) -> CalibrationTargets:
    residents = district_rows(totals.residents)
    district_ids = np.sort(residents["district_id"].unique())
    age_groups = district_rows(totals.age_groups)
    age_group_years = sorted(age_groups["year"].unique())
    by_year = {}
    for year in years:
        resident_counts = _district_vector(residents, year, "residents", district_ids)
        if year in age_group_years:
            class_lower = DISTRICT_AGE_GROUP_CLASSES
            cells = _cells_from_district_age_groups(age_groups, year, district_ids)
            if not np.array_equal(cells.sum(axis=1), resident_counts):
                raise ValueError(f"Stadtteil age groups {year} do not add up to the residents")
            basis = "Stadtteil age groups (T5)"
        else:
            class_lower = BAND_YEAR_CLASSES
            cells = _cells_from_bands(totals, year, district_ids, resident_counts, age_groups, age_group_years)
            basis = "Stadtteil bands <18/18-64/65+ (T6-T8) reconciled with city age groups (T3)"
        by_year[year] = YearTargets(
            year=year,
            class_lower=class_lower,
            cells=cells,
            births=_district_vector(district_rows(totals.births), year, "births", district_ids),
            foreigners=_foreigner_targets(totals, year, district_ids, residents),
            eu_share=_eu_share(totals.residence_status, year),
            basis=basis,
        )
    return CalibrationTargets(district_ids=district_ids, by_year=by_year)


def _district_vector(table: pd.DataFrame, year: int, column: str, district_ids: np.ndarray) -> np.ndarray:
    values = table[table["year"] == year].set_index("district_id")[column].reindex(district_ids)
    if values.isna().any():
        missing = [int(d) for d in values.index[values.isna()]]
        raise ValueError(f"'{column}' for {year} is not published for Stadtteile {missing}")
    return values.to_numpy(dtype="int64")


def _cells_from_district_age_groups(age_groups: pd.DataFrame, year: int, district_ids: np.ndarray) -> np.ndarray:
    group = {column: _district_vector(age_groups, year, column, district_ids) for column in DISTRICT_AGE_GROUPS}
    aged_60_to_64 = group["age_60_and_above"] - group["age_65_to_under_80"] - group["age_80_and_above"]
    cells = np.column_stack([
        group["age_0_to_under_7"],
        group["age_under_18"] - group["age_0_to_under_7"],
        group["age_18_to_under_30"],
        group["age_30_to_under_45"],
        group["age_45_to_under_65"] - aged_60_to_64,
        aged_60_to_64,
        group["age_65_to_under_80"],
        group["age_80_and_above"],
    ])
    if (cells < 0).any():
        raise ValueError(f"Stadtteil age groups {year} are inconsistent (0-<7 > <18 or 60+ > 45-<65 + 65+)")
    return cells


def _cells_from_bands(totals: PublishedTotals, year: int, district_ids: np.ndarray, residents: np.ndarray,
                      age_groups: pd.DataFrame, age_group_years: list[int]) -> np.ndarray:
    bands = np.column_stack([
        _district_vector(district_rows(table), year, "residents", district_ids)
        for table in (totals.band_under_18, totals.band_18_to_under_65, totals.band_65_and_above)
    ])
    city = _city_age_groups(totals.city_age_groups, year)
    if city is not None and city.sum() != residents.sum():
        city = None  # city figures include persons not assignable to a Stadtteil: no column margins
    band_totals = None if city is None else np.array([city[0], city[1:4].sum(), city[4:6].sum()])
    reconciled = reconcile_to_margins(bands, residents, band_totals)

    if age_group_years:
        nearest = min(age_group_years, key=lambda y: (abs(y - year), y))
        reference = _cells_from_district_age_groups(age_groups, nearest, district_ids)
        working_age_reference = np.column_stack([reference[:, 2], reference[:, 3], reference[:, 4] + reference[:, 5]])
        old_age_reference = reference[:, 6:8]
    elif city is not None:
        working_age_reference = np.tile(city[1:4], (len(district_ids), 1))
        old_age_reference = np.tile(city[4:6], (len(district_ids), 1))
    else:
        raise ValueError(f"no age structure published to split the {year} bands into age groups")

    working_age = split_with_margins(reconciled[:, 1], _row_shares(working_age_reference),
                                     None if city is None else city[1:4])
    old_age = split_with_margins(reconciled[:, 2], _row_shares(old_age_reference),
                                 None if city is None else city[4:6])
    return np.column_stack([reconciled[:, 0], working_age, old_age])


def _city_age_groups(city_age_groups: pd.DataFrame, year: int) -> np.ndarray | None:
    rows = city_age_groups[city_age_groups["year"] == year]
    if len(rows) != 1 or rows[list(SIX_AGE_GROUPS)].isna().any(axis=None):
        return None
    return rows[list(SIX_AGE_GROUPS)].to_numpy(dtype="int64")[0]


def _row_shares(reference: np.ndarray) -> np.ndarray:
    reference = reference.astype(float) + 0.5  # no zero shares: every class stays possible
    return reference / reference.sum(axis=1, keepdims=True)


def reconcile_to_margins(seed: np.ndarray, row_totals: np.ndarray, column_totals: np.ndarray | None) -> np.ndarray:
    """Adjust an integer table minimally so rows (and columns, if given) add up to the totals.

    Rows that already add up are only touched if the column totals cannot be met otherwise.
    Same-sign row and column gaps are paired first (largest columns first); remaining row gaps
    (which then cancel out) are moved within the largest column, remaining column gaps within the
    largest row.
    """
    table = seed.astype("int64").copy()
    row_gap = row_totals - table.sum(axis=1)
    if column_totals is None:
        table[np.arange(len(table)), table.argmax(axis=1)] += row_gap
        return _non_negative(table)
    if row_totals.sum() != column_totals.sum():
        raise ValueError("row and column totals differ")
    column_gap = column_totals - table.sum(axis=0)
    columns_largest_first = np.argsort(-table.sum(axis=0), kind="stable")
    for sign in (1, -1):
        for row in np.flatnonzero(sign * row_gap > 0):
            for column in columns_largest_first:
                step = min(sign * row_gap[row], max(sign * column_gap[column], 0))
                table[row, column] += sign * step
                row_gap[row] -= sign * step
                column_gap[column] -= sign * step
    if row_gap.any():  # column gaps are all zero now and the row gaps cancel out
        table[:, columns_largest_first[0]] += row_gap
    while column_gap.any():  # row gaps are all zero now and the column gaps cancel out
        short, surplus = int(column_gap.argmax()), int(column_gap.argmin())
        row = int(table[:, surplus].argmax())
        table[row, short] += 1
        table[row, surplus] -= 1
        column_gap[short] -= 1
        column_gap[surplus] += 1
    return _non_negative(table)


def split_with_margins(row_totals: np.ndarray, shares: np.ndarray, column_totals: np.ndarray | None) -> np.ndarray:
    """Integer split of each row total by shares; columns add up to ``column_totals`` if given."""
    expected = row_totals[:, None] * shares
    if column_totals is not None:
        expected = _rake(expected, row_totals, column_totals)
    table = _round_rows(expected, row_totals)
    if column_totals is not None:
        table = _round_columns(table, expected, column_totals)
    return _non_negative(table)


def _rake(table: np.ndarray, row_totals: np.ndarray, column_totals: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Iterative proportional fitting of a non-negative table to both margins."""
    table = table.astype(float).copy()
    for _ in range(iterations):
        table *= _safe_ratio(column_totals, table.sum(axis=0))[None, :]
        table *= _safe_ratio(row_totals, table.sum(axis=1))[:, None]
        if np.abs(table.sum(axis=0) - column_totals).max() < 1e-9:
            break
    return table


def _safe_ratio(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    return np.divide(target, current, out=np.ones_like(current, dtype=float), where=current > 0)


def _round_rows(expected: np.ndarray, row_totals: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of every row to its integer total."""
    table = np.floor(expected).astype("int64")
    remainder = expected - table
    for row in range(len(table)):
        missing = int(row_totals[row] - table[row].sum())
        if missing > 0:
            table[row, np.argsort(-remainder[row], kind="stable")[:missing]] += 1
    return table


def _round_columns(table: np.ndarray, expected: np.ndarray, column_totals: np.ndarray) -> np.ndarray:
    """Move single units within rows until the columns add up, where rounding hurt least."""
    table = table.copy()
    column_gap = column_totals - table.sum(axis=0)
    while column_gap.any():
        short, surplus = int(column_gap.argmax()), int(column_gap.argmin())
        cost = (table[:, short] - expected[:, short]) - (table[:, surplus] - expected[:, surplus])
        cost = np.where(table[:, surplus] > 0, cost, np.inf)
        row = int(cost.argmin())
        table[row, short] += 1
        table[row, surplus] -= 1
        column_gap[short] -= 1
        column_gap[surplus] += 1
    return table


def _non_negative(table: np.ndarray) -> np.ndarray:
    if (table < 0).any():
        raise ValueError("published totals cannot be reconciled without negative counts")
    return table


def _foreigner_targets(totals: PublishedTotals, year: int, district_ids: np.ndarray,
                       residents: pd.DataFrame) -> np.ndarray:
    """Non-German residents per Stadtteil: published (T9) where available, else trend-scaled.

    T9 ``foreign_citizenship`` counts persons with migration background and foreign citizenship,
    i.e. all non-Germans. For other years the nearest published year is scaled with the
    city-wide trend of non-German nationals (T10, Ausländerbehörde), or kept as a constant share
    of the residents if T10 does not cover both years.
    """
    published = district_rows(totals.migration_background)
    published_years = sorted(published["year"].unique())
    if not published_years:
        raise ValueError("migration_background has no Stadtteil rows")
    nearest = min(published_years, key=lambda y: (abs(y - year), y))
    base = _district_vector(published, nearest, "foreign_citizenship", district_ids).astype(float)
    own_residents = _district_vector(residents, year, "residents", district_ids)
    if nearest != year:
        trend = _non_german_city_totals(totals.residence_status)
        if year in trend and nearest in trend:
            base *= trend[year] / trend[nearest]
        else:
            base *= own_residents / _district_vector(residents, nearest, "residents", district_ids)
    return np.minimum(np.rint(base).astype("int64"), own_residents)


def _non_german_city_totals(residence_status: pd.DataFrame | None) -> dict[int, float]:
    if residence_status is None:
        return {}
    # permanent_residency already contains the EU and third-country permanent residents.
    parts = ["permanent_residency", "without_permanent_residency", "asylum_seeker", "suspension_of_deportation"]
    complete = residence_status.dropna(subset=parts)
    return dict(zip(complete["year"].astype(int), complete[parts].sum(axis=1).astype(float), strict=True))


def _eu_share(residence_status: pd.DataFrame | None, year: int) -> float:
    totals = _non_german_city_totals(residence_status)
    if not totals:
        return DEFAULT_EU_SHARE
    nearest = min(totals, key=lambda y: (abs(y - year), y))
    row = residence_status[residence_status["year"] == nearest].iloc[0]
    return float(row["permanent_residency_according_eu_freedom_movement_act"] / totals[nearest])
