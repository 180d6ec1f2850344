"""Turn the published totals into exact per-year targets: residents per district and age class.

The generator hits ``YearTargets.cells`` exactly in every extract. How the cells relate to the
published figures (which tables exist is the city profile's choice, see ``totals.py``):

* Years with published district age groups (``totals.age_groups``; the groups may overlap): the
  disjoint age classes are the intervals between all group bounds, and the cells are the unique
  integer solution of "every published group and the residents are sums of classes" – so every
  published group is reproduced exactly. Groups that do not determine the classes uniquely, or
  do not add up to the residents, are refused with a German message.
* Other years: the district bands (``totals.age_bands``, a partition of all ages; without them
  the residents as one band) are adjusted minimally so that rows add up to the residents and
  columns to the city-wide groups (``totals.city_age_groups``, where they add up to the sum of
  the districts). The bands are split further at the city-wide group bounds (those that the
  nearest year with district age groups also has; without city-wide groups: at all of that
  year's bounds) with each district's proportions of that nearest year, raked to the city-wide
  groups and rounded with both margins kept. Without district age groups the city-wide shares
  are used. Published figures that differ from the resulting cells are approximate.
* Births: published per district where the profile declares a births table for the year, else
  estimated as the residents of the youngest age class divided by its width in years.
* Non-German residents: published per district (nearest year, trend-scaled with the city-wide
  non-German total if declared), else a constant share of the residents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bif_lib.synthetic.totals import AgeTable, PublishedTotals, TotalsError, district_rows

DEFAULT_EU_SHARE = 0.5  # share of EU citizens among non-Germans when no city-wide figure is declared
# Share of non-German residents when the profile declares no table of them: Germany, 31.12.2022
# (Destatis, Ausländerzentralregister: 13.4 of 84.4 million).
DEFAULT_NON_GERMAN_SHARE = 0.159
# Live births per resident when the age structure gives no youngest class (Germany 2022: 739k / 84.4m).
DEFAULT_CRUDE_BIRTH_RATE = 0.0088


@dataclass(frozen=True)
class YearTargets:
    """Exact and calibration targets of one extract year (Stichtag 31.12.)."""

    year: int
    class_lower: np.ndarray  # (K,) lower bounds of the disjoint age classes; the last is open
    cells: np.ndarray  # (D, K) residents per district and age class, reproduced exactly
    births: np.ndarray  # (D,) live births in the year, reproduced exactly
    foreigners: np.ndarray  # (D,) non-German residents, calibration target (approximate)
    eu_share: float  # share of EU citizens among non-Germans
    basis: str  # where the cells come from
    births_basis: str = "published"  # "published" or how they were estimated

    def age_class(self, age: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.class_lower, age, side="right") - 1

    def class_bounds(self, k: int) -> tuple[int, int | None]:
        upper = int(self.class_lower[k + 1]) if k + 1 < len(self.class_lower) else None
        return int(self.class_lower[k]), upper

    def interval_total(self, lower: int, upper: int | None) -> np.ndarray:
        """Target residents per district aged [lower, upper); the interval must be a union of classes."""
        if lower not in self.class_lower or (upper is not None and upper not in self.class_lower):
            raise ValueError(f"age interval [{lower}, {upper}) is not a union of the {self.year} age classes")
        inside = (self.class_lower >= lower) & (self.class_lower < (np.inf if upper is None else upper))
        return self.cells[:, inside].sum(axis=1)

    def is_union_of_classes(self, lower: int, upper: int | None) -> bool:
        return lower in self.class_lower and (upper is None or upper in self.class_lower)


@dataclass(frozen=True)
class CalibrationTargets:
    district_ids: np.ndarray  # (D,) district codes, ascending
    by_year: dict[int, YearTargets]


def derive_targets(totals: PublishedTotals, years: range) -> CalibrationTargets:
    residents = district_rows(totals.residents)
    district_ids = np.sort(residents["district_id"].unique())
    context = _Context(totals, residents, district_ids)
    by_year = {}
    for year in years:
        resident_counts = context.vector(residents, year, "residents", totals.name("residents"))
        if totals.age_groups is not None and year in totals.age_groups.years:
            class_lower, cells = context.exact_cells(year, resident_counts)
            basis = f"district age groups ({', '.join(totals.age_groups.datasets)})"
        else:
            class_lower, cells, basis = context.band_cells(year, resident_counts)
        births, births_basis = context.births(year, class_lower, cells, resident_counts)
        by_year[year] = YearTargets(
            year=year,
            class_lower=class_lower,
            cells=cells,
            births=births,
            foreigners=context.foreigners(year, resident_counts),
            eu_share=_eu_share(totals.non_german_city, year),
            basis=basis,
            births_basis=births_basis,
        )
    return CalibrationTargets(district_ids=district_ids, by_year=by_year)


class _Context:
    def __init__(self, totals: PublishedTotals, residents: pd.DataFrame, district_ids: np.ndarray):
        self.totals = totals
        self.residents = residents
        self.district_ids = district_ids
        self.label = totals.district_label

    def vector(self, table: pd.DataFrame, year: int, column: str, dataset: str) -> np.ndarray:
        values = table[table["year"] == year].set_index("district_id")[column].reindex(self.district_ids)
        if values.isna().any():
            missing = [int(d) for d in values.index[values.isna()]]
            raise TotalsError(f"Datensatz „{dataset}“: „{column}“ für {year} fehlt (oder ist gesperrt) für "
                              f"{self.label} {', '.join(map(str, missing))}.")
        return values.to_numpy(dtype="int64")

    def group_vectors(self, ages: AgeTable, year: int, groups: list[str]) -> dict[str, np.ndarray]:
        rows = ages.year_rows(year)
        out = {}
        for group in groups:
            part = rows[rows["group"] == group]
            dataset = part["dataset"].iloc[0] if len(part) else ", ".join(ages.datasets)
            out[group] = self.vector(part, year, "value", f"{dataset}, Altersgruppe {group}")
        return out

    # ------------------------------------------------------------------ exact cells

    def exact_cells(self, year: int, residents: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ages = self.totals.age_groups
        groups = [g for g in ages.intervals if g in set(ages.year_rows(year)["group"])]
        values = self.group_vectors(ages, year, groups)
        bounds = {0} | {b for g in groups for b in ages.intervals[g] if b is not None}
        class_lower = np.array(sorted(bounds), dtype=np.int64)
        upper = np.append(class_lower[1:], np.iinfo(np.int64).max)
        design, published = [], []
        for group in groups:
            lower, group_upper = ages.intervals[group]
            group_upper = np.iinfo(np.int64).max if group_upper is None else group_upper
            design.append((class_lower >= lower) & (upper <= group_upper))
            published.append(values[group])
        if residents is not None:
            design.append(np.ones(len(class_lower), dtype=bool))
            published.append(residents)
        design = np.array(design, dtype=float)
        published = np.array(published, dtype=float)
        datasets = ", ".join(ages.datasets)
        if np.linalg.matrix_rank(design) < len(class_lower):
            raise TotalsError(
                f"Datensatz „{datasets}“, {year}: die Altersgruppen legen die überschneidungsfreien Altersklassen "
                f"(Grenzen {', '.join(map(str, class_lower))}) nicht eindeutig fest – in city.yaml "
                "(totals.age_groups.bands) Gruppen ergänzen oder weglassen.")
        solution, *_ = np.linalg.lstsq(design, published, rcond=None)
        cells = np.rint(solution).astype("int64").T
        if not np.array_equal(design.astype("int64") @ cells.T, published.astype("int64")):
            if residents is not None and not np.array_equal(
                    np.rint(np.linalg.lstsq(design[:-1], published[:-1], rcond=None)[0]).astype("int64").sum(axis=0),
                    residents):
                raise TotalsError(f"Datensatz „{datasets}“, {year}: die Altersgruppen ergeben nicht die Einwohnerzahl "
                                  f"je {self.label} ({self.totals.name('residents')}).")
            raise TotalsError(f"Datensatz „{datasets}“, {year}: die Altersgruppen widersprechen einander.")
        if (cells < 0).any():
            raise TotalsError(f"Datensatz „{datasets}“, {year}: die Altersgruppen widersprechen einander "
                              "(eine Teilgruppe ist größer als die Gruppe, die sie enthält).")
        return class_lower, cells

    def _reference(self, year: int) -> tuple[np.ndarray, np.ndarray] | None:
        ages = self.totals.age_groups
        if ages is None or not ages.years:
            return None
        nearest = min(ages.years, key=lambda y: (abs(y - year), y))
        residents = self.residents[self.residents["year"] == nearest]
        own = None
        if len(residents):
            own = self.vector(self.residents, nearest, "residents", self.totals.name("residents"))
        return self.exact_cells(nearest, own)

    # ------------------------------------------------------------------ cells from bands

    def band_cells(self, year: int, residents: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
        bands_table = self.totals.age_bands
        if bands_table is not None and year in bands_table.years:
            order = sorted(bands_table.intervals, key=lambda g: bands_table.intervals[g][0])
            values = self.group_vectors(bands_table, year, order)
            bands = np.column_stack([values[g] for g in order])
            band_lower = [bands_table.intervals[g][0] for g in order]
            basis = f"district bands ({', '.join(bands_table.datasets)})"
        else:
            bands = residents[:, None]
            band_lower = [0]
            basis = "residents per district"

        city_table = self.totals.city_age_groups
        city, city_lower = None, []
        if city_table is not None:
            city_order = sorted(city_table.intervals, key=lambda g: city_table.intervals[g][0])
            city_lower = [city_table.intervals[g][0] for g in city_order]
            city = _city_vector(city_table, year, city_order)
            if city is not None and city.sum() != residents.sum():
                city = None  # city figures include persons not assignable to a district: no column margins

        reference = self._reference(year)
        if reference is not None:
            extra = set(reference[0].tolist())
            if city_table is not None:
                extra &= set(city_lower)
        elif city is not None and set(band_lower) <= set(city_lower):
            extra = set(city_lower)
        else:
            extra = set()
        class_lower = np.array(sorted(set(band_lower) | extra), dtype=np.int64)
        margins = city is not None and set(class_lower.tolist()) <= set(city_lower)
        class_totals = _aggregate(city[None, :], np.array(city_lower), class_lower)[0] if margins else None
        band_of_class = np.searchsorted(band_lower, class_lower, side="right") - 1
        band_totals = None
        if margins:
            band_totals = np.array([class_totals[band_of_class == b].sum() for b in range(len(band_lower))])
        reconciled = reconcile_to_margins(bands, residents, band_totals)

        if reference is not None:
            shares_source = _aggregate(reference[1], reference[0], class_lower)
            basis += f", split with the district structure of {self._nearest_reference_year(year)}"
        elif len(class_lower) > len(band_lower):
            shares_source = np.tile(class_totals, (len(self.district_ids), 1))
            basis += ", split with the city-wide age groups"
        else:
            shares_source = None
        if city_table is not None:
            basis += " reconciled with city-wide age groups" if margins else ""
        columns = []
        for band in range(len(band_lower)):
            inside = np.flatnonzero(band_of_class == band)
            if len(inside) == 1:
                columns.append(reconciled[:, [band]])
                continue
            columns.append(split_with_margins(reconciled[:, band], _row_shares(shares_source[:, inside]),
                                              None if not margins else class_totals[inside]))
        return class_lower, np.column_stack(columns), basis

    def _nearest_reference_year(self, year: int) -> int:
        return min(self.totals.age_groups.years, key=lambda y: (abs(y - year), y))

    # ------------------------------------------------------------------ births, non-Germans

    def births(self, year: int, class_lower: np.ndarray, cells: np.ndarray,
               residents: np.ndarray) -> tuple[np.ndarray, str]:
        births = self.totals.births
        if births is not None and year in set(births["year"]):
            return self.vector(district_rows(births), year, "births", self.totals.name("births")), "published"
        if len(class_lower) > 1:
            width = int(class_lower[1] - class_lower[0])
            return (np.floor(cells[:, 0] / width + 0.5).astype("int64"),
                    f"estimated: residents aged {class_lower[0]}-{class_lower[1] - 1} / {width}")
        return (np.floor(residents * DEFAULT_CRUDE_BIRTH_RATE + 0.5).astype("int64"),
                f"estimated: {DEFAULT_CRUDE_BIRTH_RATE} births per resident")

    def foreigners(self, year: int, own_residents: np.ndarray) -> np.ndarray:
        """Non-German residents per district: published where available, else trend-scaled.

        For years without a published figure the nearest published year is scaled with the
        city-wide trend of non-German residents (``non_german_city``), or kept as a constant share
        of the residents if that does not cover both years. Without any published figure: a
        constant share (``non_german_share`` in the profile, default ``DEFAULT_NON_GERMAN_SHARE``).
        """
        if self.totals.non_german is None:
            share = self.totals.non_german_share
            share = DEFAULT_NON_GERMAN_SHARE if share is None else float(share)
            return np.minimum(np.rint(own_residents * share).astype("int64"), own_residents)
        published = district_rows(self.totals.non_german)
        published_years = sorted(published["year"].unique())
        if not published_years:
            raise TotalsError(f"Datensatz „{self.totals.name('non_german')}“ hat keine Zeilen je {self.label}.")
        nearest = min(published_years, key=lambda y: (abs(y - year), y))
        base = self.vector(published, nearest, "non_german", self.totals.name("non_german")).astype(float)
        if nearest != year:
            trend = _non_german_city_totals(self.totals.non_german_city)
            if year in trend and nearest in trend:
                base *= trend[year] / trend[nearest]
            else:
                base *= own_residents / self.vector(self.residents, nearest, "residents",
                                                    self.totals.name("residents"))
        return np.minimum(np.rint(base).astype("int64"), own_residents)


def _city_vector(city_table: AgeTable, year: int, order: list[str]) -> np.ndarray | None:
    rows = city_table.year_rows(year).set_index("group")["value"].reindex(order)
    if rows.isna().any():
        return None
    return rows.to_numpy(dtype="int64")


def _aggregate(cells: np.ndarray, lower: np.ndarray, target_lower: np.ndarray) -> np.ndarray:
    """Sum the columns of ``cells`` (classes starting at ``lower``) into the classes ``target_lower``
    (each a union of the given classes)."""
    target = np.searchsorted(target_lower, lower, side="right") - 1
    out = np.zeros((cells.shape[0], len(target_lower)), dtype=cells.dtype)
    for column, index in enumerate(target):
        out[:, index] += cells[:, column]
    return out


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




def _non_german_city_totals(non_german_city: pd.DataFrame | None) -> dict[int, float]:
    if non_german_city is None:
        return {}
    complete = non_german_city.dropna(subset=["non_german"])
    return dict(zip(complete["year"].astype(int), complete["non_german"].astype(float), strict=True))


def _eu_share(non_german_city: pd.DataFrame | None, year: int) -> float:
    totals = _non_german_city_totals(non_german_city)
    if not totals:
        return DEFAULT_EU_SHARE
    nearest = min(totals, key=lambda y: (abs(y - year), y))
    row = non_german_city[non_german_city["year"] == nearest].iloc[0]
    if pd.isna(row["eu"]) or totals[nearest] <= 0:
        return DEFAULT_EU_SHARE
    return float(row["eu"] / totals[nearest])
