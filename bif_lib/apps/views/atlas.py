"""The Sozialatlas indicator catalogue: every open dataset with ``year`` and ``district_id``.

Indicators (a value column of a dataset, or one category of it) with German labels and units
from the contracts; values per district, city values, time series, the comparison table and the
map values. :func:`load_atlas` reads the datasets through ``bif_lib.load``. Used by the app
„Bevölkerung nach Stadtteilen“ (:mod:`bif_lib.apps.views.bevoelkerung`) and the analysts'
notebooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.api import describe, list_datasets, load
from bif_lib.apps.views.common import (
    CITY_LABEL,
    DEC1,
    DEC2,
    DISTRICTS_MEAN_LABEL,
    INT,
    PCT,
    SUPPRESSED_NOTE,
    TEXT,
    YEAR,
    ViewTable,
    district_names,
    slug,
)
from bif_lib.i18n import format_number

KEY_FIELDS = ("year", "district_id")
_NUMERIC_TYPES = ("integer", "number")
_CODE_LINE = re.compile(r"^\s*-\s*([A-Za-z0-9_]+)\s*:\s*(.+?)\s*$")
_UNIT = re.compile(r"\[([^\]]+)\]\s*$")
_SOURCE_REMARK = re.compile(r"\s*\(Quellspalte [^)]*\)")
_RATE_WORDS = ("prozent", "%", "je ", "quote", "anteil")


@dataclass(frozen=True)
class Indicator:
    """One selectable indicator: a value column of a dataset, optionally one category of it."""

    key: str
    dataset: str
    topic: str  # the dataset's title (first selection level in the app)
    label: str
    unit: str
    value_column: str
    dimension: str | None = None
    code: str | None = None
    additive: bool = True  # counts: city = sum of districts; rates/shares: not additive
    decimals: int = 0
    years: tuple[int, ...] = ()

    @property
    def full_label(self) -> str:
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    @property
    def city_label(self) -> str:
        return CITY_LABEL if self.additive else DISTRICTS_MEAN_LABEL


def parse_code_labels(description: str | None) -> dict[str, tuple[str, str | None]]:
    """Contract field descriptions list their codes as ``- code: Label (remark) [unit]``.

    Returns {code: (label without source remark, unit or None)}.
    """
    labels: dict[str, tuple[str, str | None]] = {}
    for line in (description or "").splitlines():
        match = _CODE_LINE.match(line)
        if not match:
            continue
        code, text = match.groups()
        unit_match = _UNIT.search(text)
        unit = unit_match.group(1).strip() if unit_match else None
        label = _UNIT.sub("", text).strip()
        label = _SOURCE_REMARK.sub("", label).strip()
        labels[code] = (label, unit)
    return labels


def is_rate_unit(unit: str | None) -> bool:
    text = (unit or "").lower()
    return any(word in text for word in _RATE_WORDS)


def header_unit(unit: str | None) -> str:
    """A unit for a column header: "Prozent …" → "% …" ("Prozent der Arbeitslosen" → "% der Arbeitslosen")."""
    text = (unit or "").strip()
    if text.lower().startswith("prozent") and not text.lower().startswith("prozentpunkt"):
        return "%" + text[len("prozent"):]
    return text


def change_unit(unit: str | None) -> str:
    """The unit of a difference of two values: percent → "Prozentpunkte", else the unit itself."""
    text = header_unit(unit)
    return "Prozentpunkte" if text.startswith("%") else text


def _decimals(values: pd.Series, rate: bool) -> int:
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if len(numbers) == 0:
        return 1 if rate else 0
    for decimals in (0, 1, 2):
        if np.allclose(numbers, np.round(numbers, decimals), atol=1e-9):
            return max(decimals, 1) if rate else decimals
    return 2


def _fields(contract: Mapping) -> list[dict]:
    return list(contract.get("schema", {}).get("fields", []))


def indicator_catalogue(frames: Mapping[str, pd.DataFrame], contracts: Mapping[str, Mapping]) -> list[Indicator]:
    """All indicators of the datasets that have ``year`` and ``district_id``.

    Long-form datasets (a categorical field with an ``enum``, e.g. ``indicator`` or
    ``age_group``) give one indicator per category and numeric field; wide datasets one per
    numeric field. Labels and units come from the contract (field title/unit, or the code list
    in the categorical field's description).
    """
    catalogue: list[Indicator] = []
    for dataset, frame in frames.items():
        contract = contracts[dataset]
        fields = _fields(contract)
        names = {f["name"] for f in fields}
        if not set(KEY_FIELDS) <= names or not set(KEY_FIELDS) <= set(frame.columns):
            continue
        topic = str(contract.get("title") or dataset)
        numeric = [f for f in fields if f.get("type") in _NUMERIC_TYPES and f["name"] not in KEY_FIELDS
                   and f["name"] in frame.columns]
        dimensions = [f for f in fields if f.get("type") == "string" and f["name"] not in KEY_FIELDS
                      and (f.get("constraints") or {}).get("enum") and f["name"] in frame.columns]
        dimension = dimensions[0] if dimensions else None
        for value_field in numeric:
            column = value_field["name"]
            if dimension is None:
                unit = value_field.get("unit") or ""
                rate = is_rate_unit(unit) or is_rate_unit(value_field.get("title"))
                values = frame[column]
                catalogue.append(Indicator(
                    key=f"{dataset}|{column}", dataset=dataset, topic=topic,
                    label=str(value_field.get("title") or column), unit=unit, value_column=column,
                    additive=not rate, decimals=_decimals(values, rate),
                    years=tuple(sorted(int(y) for y in frame.loc[values.notna(), "year"].dropna().unique()))))
                continue
            labels = parse_code_labels(dimension.get("description"))
            present = set(frame[dimension["name"]].dropna().astype(str))
            for code in dimension["constraints"]["enum"]:
                if code not in present:
                    continue
                label, unit = labels.get(code, (code, None))
                unit = unit or value_field.get("unit") or ""
                rate = is_rate_unit(unit)
                rows = frame[frame[dimension["name"]].astype(str) == code]
                catalogue.append(Indicator(
                    key=f"{dataset}|{column}|{code}", dataset=dataset, topic=topic, label=label, unit=unit,
                    value_column=column, dimension=dimension["name"], code=code, additive=not rate,
                    decimals=_decimals(rows[column], rate),
                    years=tuple(sorted(int(y) for y in rows["year"].dropna().unique()))))
    return catalogue


def topics(catalogue: Sequence[Indicator]) -> list[str]:
    """Topics (dataset titles) in catalogue order, without duplicates."""
    return list(dict.fromkeys(ind.topic for ind in catalogue))


def indicators_of_topic(catalogue: Sequence[Indicator], topic: str) -> list[Indicator]:
    return [ind for ind in catalogue if ind.topic == topic]


def find_indicator(catalogue: Sequence[Indicator], key: str) -> Indicator:
    for ind in catalogue:
        if ind.key == key:
            return ind
    raise KeyError(f"Indikator {key!r} nicht im Katalog")


def indicator_values(frame: pd.DataFrame, indicator: Indicator) -> pd.DataFrame:
    """year, district_id (<NA> = not assignable to a district), value, suppressed."""
    rows = frame
    if indicator.dimension:
        rows = frame[frame[indicator.dimension].astype(str) == indicator.code]
    flag = f"{indicator.value_column}_suppressed"
    suppressed = rows[flag].fillna(False).astype(bool) if flag in rows else pd.Series(False, index=rows.index)
    out = pd.DataFrame({
        "year": rows["year"].astype("int64").to_numpy(),
        "district_id": pd.array(rows["district_id"], dtype="Int64"),
        "value": pd.to_numeric(rows[indicator.value_column], errors="coerce").astype("float64").to_numpy(),
        "suppressed": suppressed.to_numpy() | rows[indicator.value_column].isna().to_numpy(),
    })
    return out.sort_values(["year", "district_id"], na_position="last", ignore_index=True)


def city_values(values: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """City value per year.

    Counts: sum of all rows (districts and "not assignable"); <NA> where a district value is
    suppressed (the sum would be too small). Rates/shares: unweighted mean of the districts
    (no weights are published) — labelled "Mittelwert der Stadtteile" wherever shown.
    """
    result = {}
    for year, rows in values.groupby("year"):
        districts = rows[rows["district_id"].notna()]
        if indicator.additive:
            result[int(year)] = np.nan if districts["suppressed"].any() else float(rows["value"].sum(min_count=1))
        else:
            result[int(year)] = float(districts["value"].mean()) if districts["value"].notna().any() else np.nan
    return pd.Series(result, name="city", dtype="float64").rename_axis("year")


def district_frame(values: pd.DataFrame, year: int, names: Mapping[int, str]) -> pd.DataFrame:
    """district_id, name, value, suppressed for one year: all districts of ``names``, in order."""
    rows = values[(values["year"] == year) & values["district_id"].notna()]
    rows = rows.assign(district_id=rows["district_id"].astype(int)).set_index("district_id")
    ids = sorted(names)
    out = pd.DataFrame({"district_id": ids, "name": [names[i] for i in ids]})
    out["value"] = rows["value"].reindex(ids).to_numpy(float)
    out["suppressed"] = rows["suppressed"].reindex(ids).fillna(True).astype(bool).to_numpy()
    return out


def default_year(indicator: Indicator, wanted: int | None = None) -> int:
    """``wanted`` if the indicator has it, else its latest year."""
    if wanted is not None and wanted in indicator.years:
        return int(wanted)
    return int(max(indicator.years))


def time_series(values: pd.DataFrame, indicator: Indicator, district_id: int | None) -> pd.DataFrame:
    """year, district, city, district_index, city_index (first year with both values = 100).

    ``district_id`` None: the district columns are <NA> (city only).
    """
    city = city_values(values, indicator)
    years = city.index.to_list()
    out = pd.DataFrame({"year": years, "city": city.to_numpy(float)})
    if district_id is None:
        out["district"] = np.nan
    else:
        rows = values[values["district_id"] == district_id].set_index("year")["value"]
        out["district"] = rows.reindex(years).to_numpy(float)
    both = out["district"].notna() & out["city"].notna() if district_id is not None else out["city"].notna()
    base = out[both].iloc[0] if both.any() else None
    for column in ("district", "city"):
        if base is None or not base[column] or pd.isna(base[column]):
            out[f"{column}_index"] = np.nan
        else:
            out[f"{column}_index"] = out[column] / base[column] * 100
    out.attrs["index_base_year"] = int(base["year"]) if base is not None else None
    return out[["year", "district", "city", "district_index", "city_index"]]


def time_series_table(series: pd.DataFrame, indicator: Indicator, district_name: str | None) -> ViewTable:
    value_format = DEC2 if indicator.decimals >= 2 else DEC1 if indicator.decimals == 1 else INT
    frame = pd.DataFrame({"Jahr": series["year"].astype(int)})
    formats = {"Jahr": YEAR}
    if district_name:
        frame[district_name] = series["district"]
        formats[district_name] = value_format
    frame[indicator.city_label] = series["city"]
    formats[indicator.city_label] = value_format if indicator.additive else DEC1
    title = f"{indicator.label} – Zeitreihe" + (f" {district_name}" if district_name else "")
    units = {} if indicator.additive else {c: header_unit(indicator.unit) for c in frame.columns if c != "Jahr"}
    return ViewTable(frame, formats, title, notes=[f"Einheit: {indicator.unit}" if indicator.unit else "",
                                                   SUPPRESSED_NOTE],
                     filename=slug(f"zeitreihe {indicator.label} {district_name or ''}"), units=units)


def comparison_table(values: pd.DataFrame, indicator: Indicator, year: int, names: Mapping[int, str],
                     selected: int | None = None) -> ViewTable:
    """One row per district (and the city): value of ``year``, change to the previous
    available year (absolute; for counts also in percent), rank (1 = highest value).

    The headers of a rate carry its unit: "Wert 2022 (%)", and a change of a percentage is in
    "Prozentpunkte" (never "%", which the change of a count is)."""
    current = district_frame(values, year, names)
    earlier = [y for y in indicator.years if y < year]
    previous_year = max(earlier) if earlier else None
    value_format = DEC2 if indicator.decimals >= 2 else DEC1 if indicator.decimals == 1 else INT
    value_col = f"Wert {year}"
    frame = pd.DataFrame({"Nr.": current["district_id"].astype(int), "Stadtteil": current["name"],
                          value_col: current["value"]})
    formats = {"Nr.": INT, "Stadtteil": TEXT, value_col: value_format}
    units = {} if indicator.additive else {value_col: header_unit(indicator.unit)}
    city = city_values(values, indicator)
    city_row = {"Nr.": pd.NA, "Stadtteil": indicator.city_label, value_col: city.get(year, np.nan)}
    if previous_year is not None:
        digits = {INT: 0, DEC1: 1, DEC2: 2}[value_format]  # changes from the values as shown
        before = np.round(district_frame(values, previous_year, names)["value"].to_numpy(float), digits)
        change_col = f"Veränderung zu {previous_year}"
        frame[change_col] = np.round(frame[value_col].to_numpy(float), digits) - before
        formats[change_col] = value_format
        if not indicator.additive:
            units[change_col] = change_unit(indicator.unit)
        city_row[change_col] = (np.round(city.get(year, np.nan), digits)
                                - np.round(city.get(previous_year, np.nan), digits))
        if indicator.additive:
            pct_col = "Veränderung in %"
            frame[pct_col] = np.where(before > 0, frame[change_col] / np.where(before > 0, before, 1) * 100, np.nan)
            formats[pct_col] = PCT
            previous_city = city.get(previous_year, np.nan)
            city_row[pct_col] = (city_row[change_col] / previous_city * 100
                                 if previous_city and not pd.isna(previous_city) else np.nan)
    frame["Rang"] = frame[value_col].rank(ascending=False, method="min")
    formats["Rang"] = INT
    city_row["Rang"] = np.nan
    frame = pd.concat([frame, pd.DataFrame([city_row])], ignore_index=True)
    frame["Nr."] = frame["Nr."].astype("Int64")
    notes = [f"Indikator: {indicator.full_label}", SUPPRESSED_NOTE]
    if not indicator.additive:
        notes.append(f"{DISTRICTS_MEAN_LABEL}: ungewichtet; ein Wert der Gesamtstadt ist nicht veröffentlicht.")
    elif city_row[value_col] is np.nan or pd.isna(city_row[value_col]):
        notes.append("Gesamtstadt: keine Summe, weil Werte einzelner Stadtteile unterdrückt sind.")
    selected_flags = [bool(selected is not None and nr == selected) for nr in frame["Nr."].fillna(-1)]
    return ViewTable(frame, formats, f"{indicator.label} {year} nach Stadtteilen", notes=notes,
                     selected=selected_flags, filename=slug(f"{indicator.label} {year}"),
                     sources=[indicator.dataset], units=units)


def indicator_map_values(values: pd.DataFrame, indicator: Indicator, year: int,
                         names: Mapping[int, str]) -> tuple[dict[int, float], dict[int, str]]:
    """({district_id: value}, {district_id: hover text}) for the map; suppressed values say so."""
    frame = district_frame(values, year, names)
    labels = {int(r.district_id): f"{r.name}: " + ("unterdrückt" if r.suppressed else
                                                   f"{format_number(r.value, indicator.decimals)} {indicator.unit}")
              for r in frame.itertuples()}
    return dict(zip(frame["district_id"].astype(int), frame["value"])), labels


# --- loading ---------------------------------------------------------------------------------

@dataclass
class AtlasData:
    """Everything the population app shows: indicator data, catalogue, districts, names."""

    frames: dict[str, pd.DataFrame]
    catalogue: list[Indicator]
    districts: Any  # GeoDataFrame (stored CRS)
    names: dict[int, str]
    _memo: dict = field(default_factory=dict, repr=False)  # the data never changes while an app runs

    def _cached(self, key: tuple, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def values(self, indicator: Indicator) -> pd.DataFrame:
        return self._cached(("values", indicator.key),
                            lambda: indicator_values(self.frames[indicator.dataset], indicator))

    def comparison(self, indicator: Indicator, year: int, selected: int | None = None) -> ViewTable:
        """:func:`comparison_table`, built once per indicator and year; the selection is moved."""
        table = self._cached(("comparison", indicator.key, year),
                             lambda: comparison_table(self.values(indicator), indicator, year, self.names))
        return table.select("Nr.", selected)

    def time_series(self, indicator: Indicator, district_id: int | None) -> pd.DataFrame:
        return self._cached(("series", indicator.key, district_id),
                            lambda: time_series(self.values(indicator), indicator, district_id))

    @property
    def datasets(self) -> list[str]:
        return ["stadtteile", *self.frames]


def load_atlas(*, store=None, classification: str = "open") -> AtlasData:
    """Load every ``classification`` dataset with year and district_id, plus the districts."""
    frames, contracts = {}, {}
    for dataset in list_datasets(classification, store=store)["dataset"]:
        contract = describe(dataset, store=store).contract
        names = {f["name"] for f in _fields(contract)}
        if set(KEY_FIELDS) <= names:
            frames[dataset] = load(dataset, store=store)
            contracts[dataset] = contract
    districts = load("stadtteile", store=store)
    catalogue = indicator_catalogue(frames, contracts)
    return AtlasData(frames, catalogue, districts, district_names(districts))


def default_indicator_key(catalogue: Sequence[Indicator]) -> str:
    """Residents per district if present, else the first indicator."""
    for ind in catalogue:
        if ind.dataset == "einwohner_stadtteile":
            return ind.key
    return catalogue[0].key
