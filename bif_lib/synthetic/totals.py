"""The published totals the synthetic register is calibrated to, as the city profile declares them.

``generated.synthetic_register.totals`` in city.yaml names verified store datasets (never raw
files) and which column holds which figure; age groups are declared as intervals
``[lower, upper)`` in whole years (``null`` = open-ended), so no city's column names live in code::

    totals:
      residents: {dataset: einwohner, value: residents}                     # required
      age_groups:                 # optional: district x age groups, reproduced exactly where published
        dataset: altersgruppen
        group: age_group
        value: residents
        bands: {unter_18: [0, 18], unter_7: [0, 7], ab_80: [80, null], ...}
      age_bands:                  # optional: coarse district bands (a partition of all ages) for other years
        - {dataset: einwohner_unter_18, group: indicator, value: value, bands: {unter_18: [0, 18]}}
        - ...
      city_age_groups: {dataset: altersgruppen_stadt, group: age_group, value: residents, bands: {...}}
      births: {dataset: geburten, value: births}                            # absent: estimated
      non_german: {dataset: staatsangehoerigkeit, value: value, filter: {indicator: nicht_deutsch}}
      non_german_city:            # optional: city-wide trend of non-Germans and the EU share
        {dataset: auslaender_stadt, group: indicator, value: value, total: [...], eu: [...]}
      non_german_share: 0.12      # only without non_german (default: Germany's share)
      subdistricts: teilgebiete   # or {dataset, id, weight: area|<column>|uniform}; default: the
                                  # profile's districts.subdistricts; absent: no lower level

Every table entry: ``dataset``, ``value`` (the number column), optional ``filter`` (column: value or
list of values); an age table instead of ``group`` + ``bands`` may name ``lower`` / ``upper``
columns holding the interval bounds. Values are summed over any other column (e.g. sex); a
missing (suppressed) value makes its sum missing, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Interval = tuple[int, "int | None"]

TABLE_KEYS = ("residents", "age_groups", "age_bands", "city_age_groups", "births", "non_german", "non_german_city")


class TotalsError(ValueError):
    """The declared totals cannot be read or do not fit together (German message for the steward)."""


@dataclass(frozen=True)
class AgeTable:
    """Published residents by age interval, long: dataset, year, [district_id,] group, value."""

    table: pd.DataFrame
    intervals: dict[str, Interval]  # group -> [lower, upper); upper None = open-ended

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(self.table["dataset"]))

    @property
    def years(self) -> list[int]:
        return sorted(int(y) for y in self.table["year"].unique())

    def boundaries(self) -> set[int]:
        return {b for interval in self.intervals.values() for b in interval if b is not None}

    def year_rows(self, year: int) -> pd.DataFrame:
        return self.table[self.table["year"] == year]


@dataclass(frozen=True)
class PublishedTotals:
    """Published figures the register is calibrated to (only ``residents`` is required)."""

    residents: pd.DataFrame  # year, district_id, residents
    age_groups: AgeTable | None = None  # per district; groups may overlap; exact where published
    age_bands: AgeTable | None = None  # per district; a partition of all ages; for other years
    city_age_groups: AgeTable | None = None  # city-wide partition (no district_id)
    births: pd.DataFrame | None = None  # year, district_id, births
    non_german: pd.DataFrame | None = None  # year, district_id, non_german
    non_german_city: pd.DataFrame | None = None  # year, non_german, eu (city-wide, may be missing)
    subdistricts: pd.DataFrame | None = None  # subdistrict_id, district_id, weight
    non_german_share: float | None = None  # share of non-Germans without a ``non_german`` table
    names: dict | None = None  # figure -> dataset id (for aggregate_check and messages)
    district_label: str = "Bezirk"  # German singular of the district level, for messages

    @classmethod
    def from_spec(cls, spec: dict, load: Callable[[str], pd.DataFrame], *,
                  district_label: str = "Bezirk", default_subdistricts: str | None = None) -> PublishedTotals:
        """Read the ``totals:`` section with ``load(dataset) -> DataFrame`` (verified store data)."""
        if not isinstance(spec, dict) or "residents" not in spec:
            raise TotalsError("city.yaml: generated.synthetic_register.totals muss mindestens "
                              "„residents: {dataset: …, value: …}“ nennen (Einwohner je "
                              f"{district_label} und Jahr).")
        unknown = set(spec) - set(TABLE_KEYS) - {"subdistricts", "non_german_share"}
        if unknown:
            raise TotalsError(f"city.yaml: generated.synthetic_register.totals kennt {', '.join(sorted(unknown))} "
                              f"nicht (erlaubt: {', '.join(TABLE_KEYS + ('subdistricts', 'non_german_share'))}).")
        reader = _Reader(load)
        names = {}
        residents = reader.measure("residents", spec["residents"], by_district=True, column="residents")
        names["residents"] = spec["residents"]["dataset"]
        tables: dict = {"residents": residents}
        for key in ("age_groups", "city_age_groups"):
            if spec.get(key):
                tables[key] = reader.age_table(key, [spec[key]], by_district=key == "age_groups")
        if spec.get("age_bands"):
            entries = spec["age_bands"] if isinstance(spec["age_bands"], list) else [spec["age_bands"]]
            tables["age_bands"] = reader.age_table("age_bands", entries, by_district=True)
            _require_partition("age_bands", tables["age_bands"])
        if spec.get("city_age_groups"):
            _require_partition("city_age_groups", tables["city_age_groups"])
        if spec.get("births"):
            tables["births"] = reader.measure("births", spec["births"], by_district=True, column="births")
            names["births"] = spec["births"]["dataset"]
        if spec.get("non_german"):
            tables["non_german"] = reader.measure("non_german", spec["non_german"], by_district=True,
                                                  column="non_german")
            names["non_german"] = spec["non_german"]["dataset"]
        if spec.get("non_german_city"):
            tables["non_german_city"] = reader.non_german_city(spec["non_german_city"])
        subdistricts = spec.get("subdistricts", default_subdistricts)
        if subdistricts:
            tables["subdistricts"] = reader.subdistricts(subdistricts)
        share = spec.get("non_german_share")
        if share is not None and not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise TotalsError(f"city.yaml: totals.non_german_share muss ein Anteil zwischen 0 und 1 sein, nicht {share!r}.")
        return cls(**tables, non_german_share=share, names=names, district_label=district_label)

    def name(self, figure: str) -> str:
        return (self.names or {}).get(figure, figure)


# ---------------------------------------------------------------------- reading the declared tables

class _Reader:
    def __init__(self, load: Callable[[str], pd.DataFrame]):
        self._load = load
        self._cache: dict[str, pd.DataFrame] = {}

    def frame(self, key: str, entry) -> tuple[str, pd.DataFrame]:
        if isinstance(entry, str):
            entry = {"dataset": entry}
        if not isinstance(entry, dict) or not entry.get("dataset"):
            raise TotalsError(f"city.yaml: generated.synthetic_register.totals.{key} braucht „dataset: <Datensatz>“.")
        dataset = str(entry["dataset"])
        if dataset not in self._cache:
            try:
                self._cache[dataset] = self._load(dataset)
            except LookupError as error:  # the catalog's DatasetNotFound
                raise TotalsError(f"Datensatz „{dataset}“ (totals.{key}) ist nicht im Speicher – erst "
                                  f"einspielen (bif data bootstrap) oder in city.yaml weglassen.") from error
        frame = self._cache[dataset]
        for column, allowed in (entry.get("filter") or {}).items():
            _require_columns(dataset, key, frame, [column])
            allowed = allowed if isinstance(allowed, list) else [allowed]
            frame = frame[frame[column].isin(allowed)]
            if frame.empty:
                raise TotalsError(f"Datensatz „{dataset}“ (totals.{key}): keine Zeile mit {column} = "
                                  f"{', '.join(map(str, allowed))}.")
        return dataset, frame

    def measure(self, key: str, entry: dict, *, by_district: bool, column: str) -> pd.DataFrame:
        dataset, frame = self.frame(key, entry)
        value = _value_column(dataset, key, entry)
        keys = ["year", "district_id"] if by_district else ["year"]
        _require_columns(dataset, key, frame, keys + [value])
        return _summed(frame, keys, value).rename(columns={value: column})

    def age_table(self, key: str, entries: list[dict], *, by_district: bool) -> AgeTable:
        parts, intervals = [], {}
        keys = ["year", "district_id"] if by_district else ["year"]
        for entry in entries:
            dataset, frame = self.frame(key, entry)
            value = _value_column(dataset, key, entry)
            if entry.get("group"):
                group = entry["group"]
                bands = entry.get("bands")
                if not isinstance(bands, dict) or not bands:
                    raise TotalsError(f"city.yaml: totals.{key} ({dataset}) mit „group: {group}“ braucht "
                                      "„bands: {<Wert>: [von, bis]}“ (Alter in vollendeten Jahren, bis = "
                                      "ausschließlich, null = offen).")
                _require_columns(dataset, key, frame, keys + [group, value])
                frame = frame[frame[group].isin(list(bands))]
                long = _summed(frame.assign(group=frame[group].astype(str)), keys + ["group"], value)
                declared = {str(label): _interval(dataset, key, label, bounds) for label, bounds in bands.items()}
            elif entry.get("lower"):
                lower, upper = entry["lower"], entry.get("upper")
                _require_columns(dataset, key, frame, keys + [lower, value] + ([upper] if upper else []))
                bounds = frame[[lower] + ([upper] if upper else [])].astype("Int64")
                labels = [_label(lo, None if not upper or pd.isna(hi) else hi)
                          for lo, hi in zip(bounds[lower], bounds[upper] if upper else [None] * len(bounds))]
                long = _summed(frame.assign(group=labels), keys + ["group"], value)
                declared = {label: _parse_label(label) for label in dict.fromkeys(labels)}
            elif entry.get("band"):
                long = _summed(frame, keys, value).assign(group=str(entry.get("label") or dataset))
                declared = {str(entry.get("label") or dataset): _interval(dataset, key, dataset, entry["band"])}
            else:
                raise TotalsError(f"city.yaml: totals.{key} ({dataset}) braucht entweder „group“ + „bands“, "
                                  "„lower“ (+ „upper“) oder „band: [von, bis]“.")
            overlap = set(declared) & set(intervals)
            if overlap:
                raise TotalsError(f"city.yaml: totals.{key}: Altersgruppe(n) {', '.join(sorted(overlap))} "
                                  "mehrfach angegeben.")
            intervals.update(declared)
            parts.append(long.rename(columns={value: "value"}).assign(dataset=dataset))
        table = pd.concat(parts, ignore_index=True)
        return AgeTable(table=table[["dataset"] + keys + ["group", "value"]], intervals=intervals)

    def non_german_city(self, entry: dict) -> pd.DataFrame:
        dataset, frame = self.frame("non_german_city", entry)
        value = _value_column(dataset, "non_german_city", entry)
        if entry.get("group"):
            group = entry["group"]
            _require_columns(dataset, "non_german_city", frame, ["year", group, value])
            wide = frame.pivot_table(index="year", columns=group, values=value, aggfunc="first", dropna=False)
        else:
            wide = frame.set_index("year")
        parts = {}
        for figure in ("total", "eu"):
            columns = entry.get(figure) or []
            columns = columns if isinstance(columns, list) else [columns]
            missing = [c for c in columns if c not in wide.columns]
            if not columns or missing:
                raise TotalsError(f"city.yaml: totals.non_german_city ({dataset}) braucht „{figure}: [...]“ mit "
                                  f"vorhandenen Werten{': fehlt ' + ', '.join(missing) if missing else ''}.")
            block = wide[columns].astype("Float64")
            parts[figure] = block.sum(axis=1, skipna=False).astype(float)
        return pd.DataFrame({"year": np.asarray(wide.index, dtype="int64"),
                             "non_german": parts["total"].to_numpy(), "eu": parts["eu"].to_numpy()})

    def subdistricts(self, entry) -> pd.DataFrame:
        entry = {"dataset": entry} if isinstance(entry, str) else dict(entry)
        dataset, frame = self.frame("subdistricts", entry)
        id_column = entry.get("id") or _id_column(dataset, frame)
        _require_columns(dataset, "subdistricts", frame, [id_column, "district_id"])
        weight = entry.get("weight", "area")
        if weight == "area" and "geometry" in frame.columns and hasattr(frame, "area"):
            weights, weight_name = np.asarray(frame.geometry.area / 1e6, dtype=float), "area_km2"
        elif weight in (None, "uniform", "area"):
            weights, weight_name = np.ones(len(frame)), "uniform"
        else:
            _require_columns(dataset, "subdistricts", frame, [weight])
            weights, weight_name = frame[weight].to_numpy(dtype=float), weight
        table = pd.DataFrame({"subdistrict_id": frame[id_column].astype(str).to_numpy(),
                              "district_id": frame["district_id"].astype("int64").to_numpy(),
                              "weight": weights})
        table.attrs["weight"] = weight_name
        table.attrs["dataset"] = dataset
        return table


def _value_column(dataset: str, key: str, entry: dict) -> str:
    if not entry.get("value"):
        raise TotalsError(f"city.yaml: totals.{key} ({dataset}) braucht „value: <Spalte mit der Anzahl>“.")
    return str(entry["value"])


def _require_columns(dataset: str, key: str, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TotalsError(f"Datensatz „{dataset}“ (totals.{key}) hat keine Spalte(n) {', '.join(missing)} "
                          f"(vorhanden: {', '.join(map(str, frame.columns))}).")


def _id_column(dataset: str, frame: pd.DataFrame) -> str:
    candidates = [c for c in frame.columns if str(c).endswith("_id") and c != "district_id"]
    if len(candidates) != 1:
        raise TotalsError(f"city.yaml: totals.subdistricts ({dataset}): die Schlüsselspalte ist nicht eindeutig "
                          "– „subdistricts: {dataset: …, id: <Spalte>}“ angeben.")
    return candidates[0]


def _summed(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Sum ``value`` per key; a group with a missing value stays missing (suppressed is not 0)."""
    numbers = frame[value].astype("Float64")
    grouped = numbers.groupby([frame[k] for k in keys], sort=True, dropna=True)
    sums = grouped.sum()
    sums[grouped.apply(lambda s: s.isna().any())] = pd.NA
    result = sums.rename(value).reset_index()
    for k in ("year", "district_id"):
        if k in result.columns:
            result[k] = result[k].astype("int64")
    if result[value].notna().all() and (result[value] == result[value].round()).all():
        result[value] = result[value].astype("int64")
    return result


def _interval(dataset: str, key: str, label, bounds) -> Interval:
    if (not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or bounds[0] is None
            or (bounds[1] is not None and int(bounds[1]) <= int(bounds[0])) or int(bounds[0]) < 0):
        raise TotalsError(f"city.yaml: totals.{key} ({dataset}), Altersgruppe {label}: erwartet [von, bis] in "
                          f"vollendeten Jahren mit 0 ≤ von < bis (bis = null: offen), nicht {bounds!r}.")
    return int(bounds[0]), None if bounds[1] is None else int(bounds[1])


def _label(lower, upper) -> str:
    return f"{int(lower)}-" + ("" if upper is None else f"{int(upper)}")


def _parse_label(label: str) -> Interval:
    lower, upper = label.split("-")
    return int(lower), int(upper) if upper else None


def _require_partition(key: str, table: AgeTable) -> None:
    """The intervals must cover every age exactly once (bands, city-wide groups)."""
    ordered = sorted(table.intervals.values(), key=lambda iv: iv[0])
    position = 0
    for lower, upper in ordered:
        if lower != position or position is None:
            raise TotalsError(f"city.yaml: totals.{key}: die Altersgruppen müssen alle Alter genau einmal abdecken "
                              f"(Lücke oder Überschneidung bei {position} Jahren).")
        position = upper
    if position is not None:
        raise TotalsError(f"city.yaml: totals.{key}: die letzte Altersgruppe muss offen sein (bis = null).")


def district_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that belong to a district: drops persons not assignable to one (empty district_id)."""
    rows = table[table["district_id"].notna()].copy()
    rows["district_id"] = rows["district_id"].astype("int64")
    return rows
