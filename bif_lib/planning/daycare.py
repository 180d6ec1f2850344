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

Coverage per band and district: coverage_rate = places / children; demand = children x demand
rate (a planning target); gap = places - demand (negative = shortfall). Children attend Kitas
outside their Stadtteil, so district figures are indicative; the city total is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
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
THREE_TO_SCHOOL = "3_bis_schuleintritt"
BAND_LABELS_DE = {UNDER_3: "unter 3 Jahre", THREE_TO_SCHOOL: "3 Jahre bis Schuleintritt"}
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


@dataclass(frozen=True)
class DemandRates:
    """Planning targets: share of the children of a band who need a place (Bedarfsquote)."""

    under_3: float = 0.5
    three_to_school: float = 0.95
    school_entry_age: int = 6  # band "3 to school entry" = ages 3 .. school_entry_age - 1

    def __post_init__(self) -> None:
        check_range("Bedarfsquote unter 3 Jahre", self.under_3, 0, 1)
        check_range("Bedarfsquote 3 Jahre bis Schuleintritt", self.three_to_school, 0, 1)
        check_range("Einschulungsalter", self.school_entry_age, 5, 7)

    def band_ages(self) -> dict[str, range]:
        return {UNDER_3: range(0, 3), THREE_TO_SCHOOL: range(3, self.school_entry_age)}

    def rate(self, band: str) -> float:
        return self.under_3 if band == UNDER_3 else self.three_to_school


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
              demand_rate, demand, gap, status ('Unterdeckung' | 'gedeckt')
    city      the same summed over districts (without district_id)
    kitas     places per Kita and band (see :func:`places_by_band`)
    """

    coverage: pd.DataFrame
    city: pd.DataFrame
    kitas: pd.DataFrame

    TITLE = "Kita-Versorgung"


def _places_per_district_year(kita_places, place_changes, district_ids, years) -> pd.DataFrame:
    """district_id, year, band, places: current places plus planned changes from their year on."""
    current = kita_places.groupby("district_id")[["places_under_3", "places_3_to_school"]].sum()
    current = current.reindex(list(district_ids), fill_value=0.0)
    rows = []
    for band, column in ((UNDER_3, "places_under_3"), (THREE_TO_SCHOOL, "places_3_to_school")):
        for year in years:
            rows += [(district, year, band, places) for district, places in current[column].items()]
    table = pd.DataFrame(rows, columns=["district_id", "year", "band", "places"])
    if place_changes is None or place_changes.empty:
        return table
    check_columns(place_changes, ["district_id", "year", "band", "places"], "Platzänderungen")
    unknown_bands = set(place_changes["band"]) - set(BAND_LABELS_DE)
    if unknown_bands:
        raise ValueError(f"Platzänderungen: unbekannte Altersgruppen {sorted(unknown_bands)}; "
                         f"möglich: {', '.join(BAND_LABELS_DE)}.")
    for change in place_changes.itertuples(index=False):
        affected = (
            (table["district_id"] == change.district_id) & (table["band"] == change.band)
            & (table["year"] >= change.year)
        )
        table.loc[affected, "places"] += float(change.places)
    if (table["places"] < 0).any():
        raise ValueError("Platzänderungen: mehr Plätze abgebaut als vorhanden.")
    return table


def _with_rates(table: pd.DataFrame, demand: DemandRates) -> pd.DataFrame:
    table = table.copy()
    table["band_label"] = table["band"].map(BAND_LABELS_DE)
    table["coverage_rate"] = table["places"] / table["children"].where(table["children"] > 0)
    table["demand_rate"] = table["band"].map(demand.rate)
    table["demand"] = table["children"] * table["demand_rate"]
    table["gap"] = table["places"] - table["demand"]
    table["status"] = np.where(table["gap"] < 0, STATUS_GAP, STATUS_COVERED)
    keys = [column for column in ("year", "district_id", "band", "band_label") if column in table]
    return table[keys + [column for column in table.columns if column not in keys]]


def daycare_coverage(
    population: pd.DataFrame,
    kitas: pd.DataFrame,
    *,
    years: list[int] | None = None,
    rule: PlaceRule = PlaceRule(),
    demand: DemandRates = DemandRates(),
    place_changes: pd.DataFrame | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> DaycareResult:
    """Coverage of the under-3 and 3-to-school-entry bands per district and year.

    population:    year, district_id, [sex], age, population (one scenario; current or projected;
                   age in completed years at 31.12.)
    kitas:         kita_id, district_id, childcare_places, group_0_3, group_3_6, group_1_6,
                   group_6_14, nature_3_6
    place_changes: optional planned changes: district_id, year, band ('unter_3' |
                   '3_bis_schuleintritt'), places (+ new, - closed), effective from that year on.
    """
    by_age = population_by_district_age(population, years)
    years = sorted(by_age["year"].unique().tolist()) if years is None else list(years)
    district_ids = tuple(sorted(by_age["district_id"].astype(int).unique()))
    kita_places = places_by_band(kitas, rule)
    unknown = set(kita_places["district_id"]) - set(district_ids)
    if unknown:
        raise ValueError(f"Kitas in Stadtteilen ohne Bevölkerungszahlen: {sorted(unknown)}.")

    children = []
    for band, ages in demand.band_ages().items():
        in_band = by_age[by_age["age"].isin(list(ages))]
        counts = in_band.groupby(["district_id", "year"])["population"].sum()
        counts = counts.reindex(pd.MultiIndex.from_product([district_ids, years]), fill_value=0.0)
        children.append(counts.rename("children").rename_axis(["district_id", "year"])
                        .reset_index().assign(band=band))
    children = pd.concat(children, ignore_index=True)
    places = _places_per_district_year(kita_places, place_changes, district_ids, years)
    merged = children.merge(places, on=["district_id", "year", "band"], how="left")
    merged = merged[["year", "district_id", "band", "children", "places"]]
    merged = merged.sort_values(["year", "district_id", "band"], ignore_index=True)
    coverage = _with_rates(merged, demand)
    city = _with_rates(merged.groupby(["year", "band"], as_index=False)[["children", "places"]].sum(), demand)

    synthetic = is_synthetic(population, kitas)
    recorded = {
        "place_rule": asdict(rule),
        "demand_rates": asdict(demand),
        "bands": {band: [ages.start, ages.stop - 1] for band, ages in demand.band_ages().items()},
        "age_definition": "Alter in vollendeten Jahren am 31.12.",
        "places_unassigned_total": float(kita_places["places_unassigned"].sum()),
        "place_changes": [] if place_changes is None else place_changes.to_dict("records"),
        "note": "Kinder besuchen auch Kitas in anderen Stadtteilen; Stadtteilwerte sind Richtwerte. "
                "Kindertagespflege ist in den Kita-Plätzen nicht enthalten.",
    }
    return DaycareResult.labelled(coverage=coverage, city=city, kitas=kita_places, assumptions=recorded,
                                  inputs=inputs, synthetic=synthetic)
