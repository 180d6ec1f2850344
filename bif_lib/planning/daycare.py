"""Day-care coverage: children by age band per Stadtteil against Kita places, now and projected.

Kita places by age band are not published, only ``childcare_places`` per Kita and the number of
groups by type. Rule (:class:`PlaceRule`, all parameters are inputs):

    nominal places   = sum over group types of groups x standard group size
    mixed groups     (group_1_6) are split: ``mixed_under3_share`` of their places to under 3
    scale            = childcare_places / nominal places   (if scale_to_childcare_places)
    places by band   = nominal places by band x scale

so the places of a Kita always add up to its official ``childcare_places``; school-age (Hort)
places count in the scaling but not in the under-6 bands. A Kita without any group counts keeps
its places as "unassigned" (reported, not guessed).

With the default group sizes the nominal places equal ``childcare_places`` exactly for most
Kitas of the first city profile (see docs/planning-models.md), which supports the defaults.

Age bands (population in completed years at 31.12. of the year, :class:`DemandRates`):

    unter 3                    ages 0-2
    1 bis unter 3              ages 1-2: the legal claim (Rechtsanspruch, § 24 Abs. 2 SGB VIII)
                               starts at age 1; same places as "unter 3", own demand rate
    3 bis Schuleintritt        ages 3 .. school_entry_age-1, plus the share of the children aged
                               school_entry_age at 31.12. who turned that age after the
                               school-entry cut-off and therefore are still in Kita:
                               share = days from the cut-off to 31.12. / 365 (birthdays spread
                               evenly over the year; cut-off 30 June -> 184/365 = 0.504)

Coverage per band and district: coverage_rate (Versorgungsquote) = Kita places / children;
demand = children x demand rate (a planning target); gap = places - demand (negative =
shortfall). Children attend Kitas outside their Stadtteil, so district figures are indicative;
the city total is exact.

Betreuungsquote (the official definition of the child and youth services statistics): children in
day care (Kitas and Kindertagespflege) per child of the age group "unter 3" (0-2) or "3 bis
unter 6" (3-5), reference date 1 March. BIF knows Kita places, not the children in Kitas, and the
population at 31.12.; so, per table year Y:

    Kinder in Kitas (geschätzt)  = Kita places of the band (full occupancy); for "3 bis unter 6"
                                   the places of "3 bis Schuleintritt" x children 3-5 / children
                                   of that band (places filled evenly over the band)
    Kindertagespflege            = children of the optional input for 1 March Y+1 (the latest
                                   year <= Y+1 of the input, else its first year); 0 without input
    Betreuungsquote (1.3. Y+1)   = (Kinder in Kitas + Kindertagespflege) / children of the group
                                   at 31.12. Y (the official statistics, too, divide by the
                                   population at 31.12. of the previous year)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.planning._common import (
    PlanningResult,
    check_columns,
    check_range,
    is_synthetic,
    population_by_district_age,
)

UNDER_3 = "unter_3"
CLAIM_1_TO_3 = "1_bis_unter_3"
THREE_TO_SCHOOL = "3_bis_schuleintritt"
BAND_LABELS_DE = {UNDER_3: "unter 3 Jahre", CLAIM_1_TO_3: "1 bis unter 3 Jahre (Rechtsanspruch)",
                  THREE_TO_SCHOOL: "3 Jahre bis Schuleintritt"}
PLACE_BANDS = (UNDER_3, THREE_TO_SCHOOL)  # bands with places of their own (planned changes name these)
PLACES_OF_BAND = {UNDER_3: UNDER_3, CLAIM_1_TO_3: UNDER_3, THREE_TO_SCHOOL: THREE_TO_SCHOOL}

# age groups of the official Betreuungsquote (Kinder- und Jugendhilfestatistik, Stichtag 1. März)
CARE_UNDER_3 = "unter_3"
CARE_3_TO_6 = "3_bis_unter_6"
CARE_GROUP_AGES = {CARE_UNDER_3: range(3), CARE_3_TO_6: range(3, 6)}
CARE_GROUP_LABELS_DE = {CARE_UNDER_3: "unter 3 Jahre", CARE_3_TO_6: "3 bis unter 6 Jahre"}
CARE_GROUP_OF_BAND = {UNDER_3: CARE_UNDER_3, THREE_TO_SCHOOL: CARE_3_TO_6}  # none for the claim band
CARE_REFERENCE_DAY = "01.03."
KINDERTAGESPFLEGE_COLUMNS = ("year", "district_id", "age_group", "children")

STATUS_GAP = "Unterdeckung"
STATUS_COVERED = "gedeckt"
KITA_GROUP_COLUMNS = ("group_0_3", "group_3_6", "group_1_6", "group_6_14", "nature_3_6")


@dataclass(frozen=True)
class PlaceRule:
    """Standard group sizes used to split a Kita's places over age bands.

    Defaults follow the usual group sizes in Schleswig-Holstein (Krippe 10, Elementar 20,
    altersgemischt 15 with up to 5 under 3, Naturgruppe 15, Hort 20); to be confirmed by the
    Jugendamt. They reproduce most published ``childcare_places`` exactly.
    """

    krippe_group_size: float = 10  # group_0_3
    elementary_group_size: float = 20  # group_3_6
    mixed_group_size: float = 15  # group_1_6
    mixed_under3_share: float = 1 / 3  # of the places of a mixed group
    nature_group_size: float = 15  # nature_3_6
    hort_group_size: float = 20  # group_6_14
    scale_to_childcare_places: bool = True

    def __post_init__(self) -> None:
        for name, label in (
            ("krippe_group_size", "Gruppengröße Krippe"),
            ("elementary_group_size", "Gruppengröße Elementargruppe"),
            ("mixed_group_size", "Gruppengröße altersgemischte Gruppe"),
            ("nature_group_size", "Gruppengröße Naturgruppe"),
            ("hort_group_size", "Gruppengröße Hort"),
        ):
            check_range(label, getattr(self, name), 1, 30)
        check_range("Anteil unter 3 in altersgemischten Gruppen", self.mixed_under3_share, 0, 1)


def parse_cutoff(cutoff: str) -> tuple[int, int]:
    """'06-30' (month-day) or '30.06.' (German day.month.) -> (6, 30); German error otherwise."""
    text = str(cutoff).strip()
    try:
        if "." in text:
            day, month = (int(part) for part in text.rstrip(".").split("."))
        else:
            month, day = (int(part) for part in text.split("-"))
        date(2001, month, day)  # a year without 29 February
    except ValueError:
        raise ValueError(f"Einschulungsstichtag {cutoff!r}: erwartet wird Tag.Monat. wie \"30.06.\" oder "
                         "Monat-Tag wie \"06-30\" (kein 29. Februar).") from None
    return month, day


def share_after_cutoff(cutoff: str | None) -> float:
    """Share of a birth cohort whose birthday falls after the school-entry cut-off: the days from
    the cut-off to 31.12. over 365, birthdays spread evenly over the year. These children reach
    school-entry age after the cut-off and start school one year later. None (no cut-off known):
    0 (every child of school-entry age at 31.12. counts as at school).

    >>> round(share_after_cutoff("06-30"), 4)  # 184 days: 1 July .. 31 December
    0.5041
    """
    if cutoff is None:
        return 0.0
    month, day = parse_cutoff(cutoff)
    return (date(2001, 12, 31) - date(2001, month, day)).days / 365


def cutoff_text_de(cutoff: str | None) -> str:
    """'06-30' -> '30.06.'; None -> 'nicht angegeben'."""
    if cutoff is None:
        return "nicht angegeben"
    month, day = parse_cutoff(cutoff)
    return f"{day:02d}.{month:02d}."


@dataclass(frozen=True)
class DemandRates:
    """Planning targets: share of the children of a band who need a place (Bedarfsquote), and the
    age definition of the bands (school-entry age and cut-off from the city profile)."""

    under_3: float = 0.5
    three_to_school: float = 0.95
    # ages 1-2 (legal claim); 0.75 asks for as many places as 0.5 of ages 0-2 if children under 1
    # are cared for at home (parental leave) and the cohorts are of equal size
    claim_1_to_3: float = 0.75
    school_entry_age: int = 6  # band "3 to school entry" = ages 3 .. school_entry_age - 1 (+ share)
    school_entry_cutoff: str | None = None  # "30.06." or "06-30"; None: no child of school-entry age in Kita

    def __post_init__(self) -> None:
        check_range("Bedarfsquote unter 3 Jahre", self.under_3, 0, 1)
        check_range("Bedarfsquote 3 Jahre bis Schuleintritt", self.three_to_school, 0, 1)
        check_range("Bedarfsquote 1 bis unter 3 Jahre", self.claim_1_to_3, 0, 1)
        check_range("Einschulungsalter", self.school_entry_age, 5, 7)
        share_after_cutoff(self.school_entry_cutoff)  # validates the date

    @property
    def share_in_kita(self) -> float:
        """Share of the children aged school_entry_age at 31.12. still in Kita (after the cut-off)."""
        return share_after_cutoff(self.school_entry_cutoff)

    def band_weights(self) -> dict[str, dict[int, float]]:
        """{band: {age: weight}}: which children (ages at 31.12.) a band counts, and how much."""
        three = {age: 1.0 for age in range(3, self.school_entry_age)}
        if self.share_in_kita > 0:
            three[self.school_entry_age] = self.share_in_kita
        return {UNDER_3: {0: 1.0, 1: 1.0, 2: 1.0}, CLAIM_1_TO_3: {1: 1.0, 2: 1.0}, THREE_TO_SCHOOL: three}

    def rate(self, band: str) -> float:
        return {UNDER_3: self.under_3, CLAIM_1_TO_3: self.claim_1_to_3}.get(band, self.three_to_school)


def places_by_band(kitas: pd.DataFrame, rule: PlaceRule = PlaceRule()) -> pd.DataFrame:
    """Per Kita: kita_id, district_id, childcare_places, nominal_places, scale,
    places_under_3, places_3_to_school, places_school_age, places_unassigned."""
    check_columns(kitas, ["kita_id", "district_id", "childcare_places", *KITA_GROUP_COLUMNS], "Kitas")
    groups = {column: kitas[column].fillna(0).astype(float) for column in KITA_GROUP_COLUMNS}
    if any((values < 0).any() for values in groups.values()) or (kitas["childcare_places"] < 0).any():
        raise ValueError("Kitas: Gruppen- und Platzzahlen dürfen nicht negativ sein.")
    mixed = groups["group_1_6"] * rule.mixed_group_size
    under_3 = groups["group_0_3"] * rule.krippe_group_size + mixed * rule.mixed_under3_share
    three_to_school = (
        groups["group_3_6"] * rule.elementary_group_size
        + mixed * (1 - rule.mixed_under3_share)
        + groups["nature_3_6"] * rule.nature_group_size
    )
    school_age = groups["group_6_14"] * rule.hort_group_size
    nominal = under_3 + three_to_school + school_age
    places = kitas["childcare_places"].astype(float)
    if rule.scale_to_childcare_places:
        scale = (places / nominal.where(nominal > 0)).fillna(0.0)
        unassigned = places.where(nominal == 0, 0.0)
    else:
        scale = pd.Series(1.0, index=kitas.index)
        unassigned = pd.Series(0.0, index=kitas.index)
    return pd.DataFrame({
        "kita_id": kitas["kita_id"],
        "district_id": kitas["district_id"].astype(int),
        "childcare_places": places,
        "nominal_places": nominal,
        "scale": scale,
        "places_under_3": under_3 * scale,
        "places_3_to_school": three_to_school * scale,
        "places_school_age": school_age * scale,
        "places_unassigned": unassigned,
    })


@dataclass(frozen=True, eq=False)
class DaycareResult(PlanningResult):
    """Tables:
    coverage  year, district_id, band, band_label, children, places, coverage_rate,
              demand_rate, demand, gap, status ('Unterdeckung' | 'gedeckt'), and the
              Betreuungsquote: care_group, care_reference (1 March of the next year),
              care_children (children of the official age group at 31.12.), kita_children
              (estimated from places), ktp_children (Kindertagespflege; 0 without input),
              care_rate ((kita_children + ktp_children) / care_children); NaN in the claim band
    city      the same summed over districts (without district_id)
    kitas     places per Kita and band (see :func:`places_by_band`)
    """

    coverage: pd.DataFrame
    city: pd.DataFrame
    kitas: pd.DataFrame

    TITLE = "Kita-Versorgung"

    @property
    def has_kindertagespflege(self) -> bool:
        return bool(self.assumptions.get("kindertagespflege", {}).get("included"))


BANDS_SORTED = tuple(sorted(BAND_LABELS_DE))  # row order of the result tables within a year and district
CARE_GROUPS = tuple(CARE_GROUP_AGES)


def _places_array(kita_places, place_changes, district_ids, years) -> np.ndarray:
    """places[year, district, band] (bands in BANDS_SORTED order): current places plus planned
    changes from their year on; the claim band has the places of "unter 3"."""
    current = kita_places.groupby("district_id")[["places_under_3", "places_3_to_school"]].sum()
    current = current.reindex(list(district_ids), fill_value=0.0)
    own = {UNDER_3: current["places_under_3"].to_numpy(float),
           THREE_TO_SCHOOL: current["places_3_to_school"].to_numpy(float)}
    places = {band: np.tile(values, (len(years), 1)) for band, values in own.items()}  # (year, district)
    if place_changes is not None and not place_changes.empty:
        check_columns(place_changes, ["district_id", "year", "band", "places"], "Platzänderungen")
        unknown_bands = set(place_changes["band"]) - set(PLACE_BANDS)
        if unknown_bands:
            raise ValueError(f"Platzänderungen: unbekannte Altersgruppen {sorted(unknown_bands)}; "
                             f"möglich: {', '.join(PLACE_BANDS)} (Plätze für 1 bis unter 3 Jahre sind "
                             f"die Plätze unter 3 Jahren).")
        position = {int(d): i for i, d in enumerate(district_ids)}
        year_values = np.asarray(years)
        for change in place_changes.itertuples(index=False):
            if int(change.district_id) in position:
                district = position[int(change.district_id)]
                places[change.band][year_values >= change.year, district] += float(change.places)
        if any((values < 0).any() for values in places.values()):
            raise ValueError("Platzänderungen: mehr Plätze abgebaut als vorhanden.")
    places[CLAIM_1_TO_3] = places[UNDER_3]
    return np.stack([places[band] for band in BANDS_SORTED], axis=-1)


def _kindertagespflege_array(ktp: pd.DataFrame, district_ids, years) -> tuple[np.ndarray, dict[int, int]]:
    """ktp[year, district, care group] (CARE_GROUPS order) for the Betreuungsquote of each table
    year Y (1 March Y+1) and {table year: input year used}; see :func:`kindertagespflege_by_year`."""
    check_columns(ktp, list(KINDERTAGESPFLEGE_COLUMNS), "Kindertagespflege")
    if ktp.empty:
        raise ValueError("Kindertagespflege: die Tabelle hat keine Zeilen (ohne Daten None übergeben).")
    unknown_groups = set(ktp["age_group"]) - set(CARE_GROUPS)
    if unknown_groups:
        raise ValueError(f"Kindertagespflege: unbekannte Altersgruppen {sorted(unknown_groups)}; "
                         f"möglich: {', '.join(CARE_GROUPS)}.")
    district = ktp["district_id"].astype(int).to_numpy()
    unknown = set(district) - set(district_ids)
    if unknown:
        raise ValueError(f"Kindertagespflege in Stadtteilen ohne Bevölkerungszahlen: {sorted(unknown)}.")
    children = ktp["children"].astype(float).to_numpy()
    if (children < 0).any():
        raise ValueError("Kindertagespflege: Kinderzahlen dürfen nicht negativ sein.")
    input_years = ktp["year"].astype(int).to_numpy()
    available = np.unique(input_years)
    counts = np.zeros((len(available), len(district_ids), len(CARE_GROUPS)))
    np.add.at(counts, (np.searchsorted(available, input_years),
                       np.searchsorted(np.asarray(district_ids), district),
                       ktp["age_group"].map({g: i for i, g in enumerate(CARE_GROUPS)}).to_numpy(int)), children)
    used, rows = {}, []
    for year in years:
        earlier = np.flatnonzero(available <= int(year) + 1)
        chosen = int(earlier[-1]) if len(earlier) else 0
        used[int(year)] = int(available[chosen])
        rows.append(chosen)
    return counts[rows], used


def kindertagespflege_by_year(ktp: pd.DataFrame, district_ids, years) -> tuple[pd.DataFrame, dict[int, int]]:
    """Children in Kindertagespflege for the Betreuungsquote of each table year Y (reference date
    1 March Y+1): the input's year Y+1, else its latest earlier year, else its first year.

    Returns (year, district_id, care_group, ktp_children) and {table year: input year used}."""
    district_ids = tuple(sorted(int(d) for d in district_ids))
    array, used = _kindertagespflege_array(ktp, district_ids, list(years))
    n_years, n_districts, n_groups = array.shape
    return pd.DataFrame({
        "year": np.repeat(np.asarray(list(years)), n_districts * n_groups),
        "district_id": np.tile(np.repeat(np.asarray(district_ids), n_groups), n_years),
        "care_group": np.tile(np.asarray(CARE_GROUPS, dtype=object), n_years * n_districts),
        "ktp_children": array.reshape(-1),
    }), used


def _with_rates(table: pd.DataFrame, demand: DemandRates) -> pd.DataFrame:
    table["band_label"] = table["band"].map(BAND_LABELS_DE)
    table["coverage_rate"] = table["places"] / table["children"].where(table["children"] > 0)
    table["demand_rate"] = table["band"].map({band: demand.rate(band) for band in BANDS_SORTED})
    table["demand"] = table["children"] * table["demand_rate"]
    table["gap"] = table["places"] - table["demand"]
    table["status"] = np.where(table["gap"] < 0, STATUS_GAP, STATUS_COVERED)
    table["care_rate"] = ((table["kita_children"] + table["ktp_children"])
                          / table["care_children"].where(table["care_children"] > 0))
    keys = [column for column in ("year", "district_id", "band", "band_label") if column in table]
    return table[keys + [column for column in table.columns if column not in keys]]


def _population_array(by_age: pd.DataFrame, district_ids, years, max_age: int) -> np.ndarray:
    """population[year, district, age] for ages 0..max_age."""
    rows = by_age[(by_age["age"] <= max_age) & by_age["year"].isin(years) & (by_age["age"] >= 0)]
    array = np.zeros((len(years), len(district_ids), max_age + 1))
    np.add.at(array, (np.searchsorted(np.asarray(years), rows["year"].to_numpy()),
                      np.searchsorted(np.asarray(district_ids), rows["district_id"].astype(int).to_numpy()),
                      rows["age"].astype(int).to_numpy()), rows["population"].to_numpy(float))
    return array


def _table(arrays: dict[str, np.ndarray], years, district_ids) -> pd.DataFrame:
    """Rows year × district × band (BANDS_SORTED) from arrays [year, district, band]; district_ids
    None: rows year × band from arrays [year, band]."""
    n_bands = len(BANDS_SORTED)
    if district_ids is None:
        keys = {"year": np.repeat(np.asarray(years), n_bands)}
        n = len(years)
    else:
        keys = {"year": np.repeat(np.asarray(years), len(district_ids) * n_bands),
                "district_id": np.tile(np.repeat(np.asarray(district_ids), n_bands), len(years))}
        n = len(years) * len(district_ids)
    bands = np.tile(np.asarray(BANDS_SORTED, dtype=object), n)
    care_group = pd.Series(bands).map(CARE_GROUP_OF_BAND)
    year = keys["year"]
    references = [None if pd.isna(group) else f"{CARE_REFERENCE_DAY}{int(y) + 1}" for group, y in zip(care_group, year)]
    return pd.DataFrame({
        **keys, "band": bands, "children": arrays["children"].reshape(-1), "places": arrays["places"].reshape(-1),
        "care_group": care_group.to_numpy(object), "care_reference": references,
        **{name: arrays[name].reshape(-1) for name in ("care_children", "kita_children", "ktp_children")},
    })


def daycare_coverage(
    population: pd.DataFrame,
    kitas: pd.DataFrame,
    *,
    years: list[int] | None = None,
    rule: PlaceRule = PlaceRule(),
    demand: DemandRates = DemandRates(),
    place_changes: pd.DataFrame | None = None,
    kindertagespflege: pd.DataFrame | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> DaycareResult:
    """Coverage of the bands "unter 3", "1 bis unter 3" (legal claim) and "3 bis Schuleintritt" per
    district and year, with the Betreuungsquote of "unter 3" and "3 bis unter 6".

    population:    year, district_id, [sex], age, population (one scenario; current or projected;
                   age in completed years at 31.12.; with the age of school entry)
    kitas:         kita_id, district_id, childcare_places, group_0_3, group_3_6, group_1_6,
                   group_6_14, nature_3_6
    place_changes: optional planned changes: district_id, year, band ('unter_3' |
                   '3_bis_schuleintritt'), places (+ new, - closed), effective from that year on.
    kindertagespflege: optional: year (of the reference date 1 March), district_id, age_group
                   ('unter_3' | '3_bis_unter_6'), children. None: the Betreuungsquote counts
                   Kitas only (recorded in the assumptions).
    """
    by_age = population_by_district_age(population, years)
    years = sorted(by_age["year"].unique().tolist()) if years is None else sorted(int(y) for y in years)
    district_ids = tuple(sorted(by_age["district_id"].astype(int).unique()))
    kita_places = places_by_band(kitas, rule)
    unknown = set(kita_places["district_id"]) - set(district_ids)
    if unknown:
        raise ValueError(f"Kitas in Stadtteilen ohne Bevölkerungszahlen: {sorted(unknown)}.")

    weights = demand.band_weights()
    max_age = max(max(ages) for ages in weights.values())
    people = _population_array(by_age, district_ids, years, max(max_age, 5))  # [year, district, age]
    weight_matrix = np.zeros((people.shape[-1], len(BANDS_SORTED)))
    for j, band in enumerate(BANDS_SORTED):
        for age, weight in weights[band].items():
            weight_matrix[age, j] = weight
    children = people @ weight_matrix  # [year, district, band]
    places = _places_array(kita_places, place_changes, district_ids, years)

    # Betreuungsquote: children of the official age groups, estimated Kita children, Kindertagespflege
    group_children = np.stack([people[..., list(CARE_GROUP_AGES[g])].sum(axis=-1) for g in CARE_GROUPS], axis=-1)
    if kindertagespflege is not None:
        ktp_groups, ktp_years = _kindertagespflege_array(kindertagespflege, district_ids, years)
    else:
        ktp_groups, ktp_years = np.zeros_like(group_children), {}
    care_children = np.full(children.shape, np.nan)
    kita_children = np.full(children.shape, np.nan)
    ktp_children = np.full(children.shape, np.nan)
    for j, band in enumerate(BANDS_SORTED):
        group = CARE_GROUP_OF_BAND.get(band)
        if group is None:
            continue
        g = CARE_GROUPS.index(group)
        care_children[..., j] = group_children[..., g]
        ktp_children[..., j] = ktp_groups[..., g]
        if group == CARE_3_TO_6:  # the band's places go to the children 3-5 in proportion
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(children[..., j] > 0, group_children[..., g] / children[..., j], 0.0)
            kita_children[..., j] = places[..., j] * share
        else:
            kita_children[..., j] = places[..., j]
    arrays = {"children": children, "places": places, "care_children": care_children,
              "kita_children": kita_children, "ktp_children": ktp_children}
    coverage = _with_rates(_table(arrays, years, district_ids), demand)
    city = _with_rates(_table({name: values.sum(axis=1) for name, values in arrays.items()}, years, None), demand)

    synthetic = is_synthetic(population, kitas, kindertagespflege)
    recorded = {
        "place_rule": asdict(rule),
        "demand_rates": asdict(demand),
        "bands": {band: {int(age): float(w) for age, w in ages.items()} for band, ages in weights.items()},
        "age_definition": "Alter in vollendeten Jahren am 31.12.",
        "school_entry": {
            "age": demand.school_entry_age,
            "cutoff": demand.school_entry_cutoff,
            "share_in_kita": demand.share_in_kita,
            "rule": "Kinder, die nach dem Einschulungsstichtag das Einschulungsalter erreichen, bleiben ein Jahr "
                    "länger in der Kita; Anteil = Tage vom Stichtag bis 31.12. ÷ 365 (Geburtstage gleich verteilt).",
        },
        "care_rate": {
            "groups": {group: [ages.start, ages.stop - 1] for group, ages in CARE_GROUP_AGES.items()},
            "reference": "1. März des Folgejahres; Kinder der Altersgruppe am 31.12. des Tabellenjahres (wie die "
                         "amtliche Statistik: Bevölkerung am 31.12. des Vorjahres)",
            "kita_children": "aus den Kita-Plätzen geschätzt (volle Belegung; Plätze 3 bis Schuleintritt anteilig "
                             "auf die 3- bis 5-Jährigen)",
        },
        "kindertagespflege": {
            "included": kindertagespflege is not None,
            "years_used": ktp_years,
            "note": ("Kindertagespflege: Kinder laut Jugendamt, in der Betreuungsquote enthalten."
                     if kindertagespflege is not None else
                     "Kindertagespflege: keine Daten – die Betreuungsquote enthält nur Kitas."),
        },
        "places_unassigned_total": float(kita_places["places_unassigned"].sum()),
        "place_changes": [] if place_changes is None else place_changes.to_dict("records"),
        "note": "Kinder besuchen auch Kitas in anderen Stadtteilen; Stadtteilwerte sind Richtwerte. "
                "Versorgungsquote und Saldo: nur Kita-Plätze (ohne Kindertagespflege).",
    }
    return DaycareResult.labelled(coverage=coverage, city=city, kitas=kita_places, assumptions=recorded,
                                  inputs=inputs, synthetic=synthetic)
