"""The district indicator catalogue: every open dataset with ``year`` and ``district_id``.

Indicators (a value column of a dataset, or one category of it) with German labels and units
from the contracts; values per district, city values, time series, the comparison table and the
map values. :func:`load_atlas` reads the datasets through ``bif_lib.load``. Used by the app
„Bevölkerung nach Stadtteilen“ (:mod:`bif_lib.apps.views.bevoelkerung`) and the analysts'
notebooks.

The categories of a long table (its *dimensions*) are declared in the city profile
(``apps.bevoelkerung.dimensions: {dataset: [field, …]}``) or derived from contract and data
(:func:`dataset_dimensions`): every text field with a code list (``enum``), plus the fewest
integer fields that make a row unique per year and district (e.g. the lower bound of an age
band); integer fields fixed by those (the upper bound) are attributes, not values.
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
    INT,
    PCT,
    SUPPRESSED_NOTE,
    TEXT,
    YEAR,
    ViewTable,
    city_profile,
    district_label,
    district_names,
    districts_dative,
    districts_mean_label,
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
    dimension: str | None = None  # the one category of a table with one dimension
    code: str | None = None
    additive: bool = True  # counts: city = sum of districts; rates/shares: not additive
    decimals: int = 0
    years: tuple[int, ...] = ()
    filters: tuple[tuple[str, str], ...] = ()  # (field, code) pairs the rows must have
    aggregate: bool = False  # sum the rows of a year and district (other categories of the table)

    @property
    def full_label(self) -> str:
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    @property
    def city_label(self) -> str:
        return CITY_LABEL if self.additive else districts_mean_label()

    @property
    def conditions(self) -> tuple[tuple[str, str], ...]:
        return self.filters or (((self.dimension, self.code),) if self.dimension else ())


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


def as_codes(values: pd.Series) -> pd.Series:
    """Category values as the codes indicators name: text, whole numbers without ".0"."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.dropna().eq(numbers.dropna().round()).all():
            return numbers.astype("Int64").astype(str)
    return values.astype(str)


def _unique_by(frame: pd.DataFrame, columns: Sequence[str]) -> bool:
    rows = frame[frame["district_id"].notna()] if "district_id" in frame else frame
    return not rows.duplicated(subset=list(columns)).any()


def dataset_dimensions(frame: pd.DataFrame, fields: Sequence[Mapping],
                       declared: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(dimensions, attributes) of a table with year and district_id.

    ``declared`` (the profile's ``apps.bevoelkerung.dimensions.<dataset>``) wins. Else the
    dimensions are the text fields with a code list, then — while year × district × those is
    not unique — the integer field with the fewest distinct values that helps most. Integer
    fields that the dimensions fix (e.g. an age band's upper bound) are attributes: neither
    dimension nor value.
    """
    present = [f for f in fields if f["name"] in frame.columns and f["name"] not in KEY_FIELDS]
    if declared is not None:
        dims = [d for d in declared if d in frame.columns]
    else:
        dims = [f["name"] for f in present if f.get("type") == "string" and (f.get("constraints") or {}).get("enum")]
        candidates = sorted((f["name"] for f in present if f.get("type") == "integer"),
                            key=lambda c: frame[c].nunique(dropna=False))
        while candidates and not _unique_by(frame, [*KEY_FIELDS, *dims]):
            before = frame.duplicated(subset=[*KEY_FIELDS, *dims]).sum()
            best = min(candidates, key=lambda c: (frame.duplicated(subset=[*KEY_FIELDS, *dims, c]).sum(),
                                                  frame[c].nunique(dropna=False)))
            if frame.duplicated(subset=[*KEY_FIELDS, *dims, best]).sum() >= before:
                break
            dims.append(best)
            candidates.remove(best)
    numeric_dims = [d for d in dims if pd.api.types.is_numeric_dtype(frame[d])]
    attributes = []
    if numeric_dims and len(frame):
        for f in present:
            name = f["name"]
            if name in dims or f.get("type") not in _NUMERIC_TYPES:
                continue
            if frame.groupby(dims, dropna=False)[name].nunique(dropna=False).max() <= 1:
                attributes.append(name)
    return dims, attributes


# codes BIF's contracts share (docs/contracts.md): labels where a contract lists none
COMMON_CODES = {"sex": {"m": "männlich", "w": "weiblich", "d": "divers"}}


def _code_label(field: Mapping, code: str, labels: Mapping[str, tuple[str, str | None]],
                frame: pd.DataFrame, attributes: Sequence[str]) -> tuple[str, str | None]:
    """(label, unit or None) of one category: the code list's label, or for an integer
    category "Alter: 5 bis 9 Jahre" / "Alter: ab 95 Jahre" with its attribute (upper bound)."""
    if code in labels:
        return labels[code]
    if code in COMMON_CODES.get(field.get("name"), {}):
        return COMMON_CODES[field["name"]][code], None
    if field.get("type") != "integer":
        return code, None
    title, unit = str(field.get("title") or field["name"]), field.get("unit") or ""
    title = re.sub(r"\s+(von|ab)$", "", title)  # "Alter von" -> "Alter: 5 bis 9 Jahre"
    upper = None
    if len(attributes) == 1:
        rows = frame[as_codes(frame[field["name"]]) == code][attributes[0]].dropna()
        upper = rows.iloc[0] if len(rows) else None
        text = f"ab {code}" if upper is None else f"{code} bis {format_number(upper)}"
    else:
        text = code
    return f"{title}: {text}" + (f" {unit}" if unit else ""), None


def indicator_catalogue(frames: Mapping[str, pd.DataFrame], contracts: Mapping[str, Mapping],
                        dimensions: Mapping[str, Sequence[str]] | None = None) -> list[Indicator]:
    """All indicators of the datasets that have ``year`` and ``district_id``.

    Long-form datasets (categorical fields, :func:`dataset_dimensions`; e.g. ``indicator`` or
    ``age_group``) give one indicator per category and numeric field; with several categorical
    fields (e.g. sex × age band) a count gives its total and one indicator per category of each
    field (summed over the others). Wide datasets give one per numeric field. Labels and units
    come from the contract (field title/unit, or the code list in the categorical field's
    description). ``dimensions`` declares the categorical fields of a dataset.
    """
    catalogue: list[Indicator] = []
    for dataset, frame in frames.items():
        contract = contracts[dataset]
        fields = _fields(contract)
        names = {f["name"] for f in fields}
        if not set(KEY_FIELDS) <= names or not set(KEY_FIELDS) <= set(frame.columns):
            continue
        topic = str(contract.get("title") or dataset)
        dims, attributes = dataset_dimensions(frame, fields, (dimensions or {}).get(dataset))
        numeric = [f for f in fields if f.get("type") in _NUMERIC_TYPES and f["name"] not in KEY_FIELDS
                   and f["name"] in frame.columns and f["name"] not in dims and f["name"] not in attributes]
        by_name = {f["name"]: f for f in fields}
        if len(dims) > 1:
            catalogue.extend(_multi_dimension_indicators(dataset, topic, frame, numeric, dims, attributes, by_name))
            continue
        dimension = by_name.get(dims[0], {"name": dims[0], "type": "string"}) if dims else None
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
            codes = as_codes(frame[dimension["name"]])
            present = set(codes[frame[dimension["name"]].notna()])
            for code in _ordered_codes(dimension, present):
                label, unit = _code_label(dimension, code, labels, frame, attributes)
                unit = unit or value_field.get("unit") or ""
                rate = is_rate_unit(unit)
                rows = frame[codes == code]
                catalogue.append(Indicator(
                    key=f"{dataset}|{column}|{code}", dataset=dataset, topic=topic, label=label, unit=unit,
                    value_column=column, dimension=dimension["name"], code=code, additive=not rate,
                    decimals=_decimals(rows[column], rate),
                    years=tuple(sorted(int(y) for y in rows["year"].dropna().unique()))))
    return catalogue


def _ordered_codes(field: Mapping, present: set[str]) -> list[str]:
    """The codes with data: in the code list's order, else numerically / alphabetically."""
    enum = [str(c) for c in (field.get("constraints") or {}).get("enum") or []]
    if enum:
        return [c for c in enum if c in present]
    try:
        return sorted(present, key=lambda c: float(c))
    except ValueError:
        return sorted(present)


def _multi_dimension_indicators(dataset: str, topic: str, frame: pd.DataFrame, numeric: Sequence[Mapping],
                                dims: Sequence[str], attributes: Sequence[str],
                                fields: Mapping[str, Mapping]) -> list[Indicator]:
    """A table with several categorical fields: for a count its total and each category of each
    field summed over the others; for a rate every combination of categories."""
    out: list[Indicator] = []
    codes = {d: as_codes(frame[d]) for d in dims}
    for value_field in numeric:
        column = value_field["name"]
        unit = value_field.get("unit") or ""
        rate = is_rate_unit(unit) or is_rate_unit(value_field.get("title"))
        title = str(value_field.get("title") or column)

        def indicator(key_part: str, label: str, filters: tuple, mask, column=column, unit=unit,
                      rate=rate) -> Indicator:
            rows = frame[mask]
            return Indicator(key=f"{dataset}|{column}|{key_part}", dataset=dataset, topic=topic, label=label,
                             unit=unit, value_column=column, additive=not rate,
                             decimals=_decimals(rows[column], rate), filters=filters, aggregate=not rate,
                             years=tuple(sorted(int(y) for y in rows.loc[rows[column].notna(), "year"].unique())))

        if rate:
            combos = frame[list(dims)].assign(**{d: codes[d] for d in dims}).drop_duplicates()
            for combo in combos.itertuples(index=False):
                filters = tuple(zip(dims, map(str, combo)))
                mask = np.logical_and.reduce([codes[d] == c for d, c in filters])
                parts = [_code_label(fields.get(d, {"name": d}), c, parse_code_labels(fields.get(d, {}).get("description")),
                                     frame, attributes)[0] for d, c in filters]
                out.append(indicator(",".join(f"{d}={c}" for d, c in filters), f"{title}: {', '.join(parts)}",
                                     filters, mask))
            continue
        out.append(indicator("insgesamt", f"{title} insgesamt", (), np.ones(len(frame), dtype=bool)))
        for d in dims:
            field = fields.get(d, {"name": d})
            labels = parse_code_labels(field.get("description"))
            for code in _ordered_codes(field, set(codes[d][frame[d].notna()])):
                label = _code_label(field, code, labels, frame, attributes)[0]
                out.append(indicator(f"{d}={code}", f"{title}: {label}", ((d, code),), (codes[d] == code).to_numpy()))
    return out


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
    """year, district_id (<NA> = not assignable to a district), value, suppressed.

    An indicator over several categories (``aggregate``) sums its rows per year and district;
    the sum is suppressed if one of them is."""
    rows = frame
    for name, code in indicator.conditions:
        rows = rows[(as_codes(rows[name]) == code).to_numpy()]
    flag = f"{indicator.value_column}_suppressed"
    suppressed = rows[flag].fillna(False).astype(bool) if flag in rows else pd.Series(False, index=rows.index)
    out = pd.DataFrame({
        "year": rows["year"].astype("int64").to_numpy(),
        "district_id": pd.array(rows["district_id"], dtype="Int64"),
        "value": pd.to_numeric(rows[indicator.value_column], errors="coerce").astype("float64").to_numpy(),
        "suppressed": suppressed.to_numpy() | rows[indicator.value_column].isna().to_numpy(),
    })
    if indicator.aggregate:
        out = out.groupby(["year", "district_id"], dropna=False, as_index=False).agg(
            value=("value", lambda v: v.sum(min_count=1)), suppressed=("suppressed", "any"))
        out["value"] = out["value"].where(~out["suppressed"])
    return out.sort_values(["year", "district_id"], na_position="last", ignore_index=True)


def city_values(values: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """City value per year.

    Counts: sum of all rows (districts and "not assignable"); <NA> where a district value is
    suppressed (the sum would be too small). Rates/shares: unweighted mean of the districts
    (no weights are published) — labelled "Mittelwert der Stadtteile" (the profile's level) wherever shown.
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
    label = district_label()
    frame = pd.DataFrame({"Nr.": current["district_id"].astype(int), label: current["name"],
                          value_col: current["value"]})
    formats = {"Nr.": INT, label: TEXT, value_col: value_format}
    units = {} if indicator.additive else {value_col: header_unit(indicator.unit)}
    city = city_values(values, indicator)
    city_row = {"Nr.": pd.NA, label: indicator.city_label, value_col: city.get(year, np.nan)}
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
        notes.append(f"{districts_mean_label()}: ungewichtet; ein Wert der Gesamtstadt ist nicht veröffentlicht.")
    elif city_row[value_col] is np.nan or pd.isna(city_row[value_col]):
        notes.append(f"Gesamtstadt: keine Summe, weil Werte einzelner {district_label(plural=True)} unterdrückt sind.")
    selected_flags = [bool(selected is not None and nr == selected) for nr in frame["Nr."].fillna(-1)]
    return ViewTable(frame, formats, f"{indicator.label} {year} nach {districts_dative()}", notes=notes,
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
    districts: Any  # GeoDataFrame (stored CRS), or None: the city has no boundaries (no map)
    names: dict[int, str]
    boundaries: str | None = None  # the polygons' dataset
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
        return [*([self.boundaries] if self.boundaries else []), *self.frames]


def _profile_setting(app_id: str, key: str):
    try:
        return city_profile().app(app_id).get(key)
    except Exception:  # noqa: BLE001 - no profile: derived defaults
        return None


def load_atlas(*, store=None, classification: str = "open", app_id: str = "bevoelkerung") -> AtlasData:
    """Load every ``classification`` dataset with year and district_id (or those the profile
    lists under ``apps.<app_id>.inputs.indicators.datasets``), plus the districts: names from
    the profile, polygons from its boundaries dataset (None if the city has none)."""
    from bif_lib.apps.requirements import INDICATORS, boundaries_dataset, input_spec, load_boundaries

    listed = input_spec(app_id, INDICATORS).get("datasets") or None
    frames, contracts = {}, {}
    boundaries = boundaries_dataset()
    for dataset in list_datasets(classification, store=store)["dataset"]:
        if (listed is not None and dataset not in listed) or dataset == boundaries:
            continue
        contract = describe(dataset, store=store).contract
        names = {f["name"] for f in _fields(contract)}
        if set(KEY_FIELDS) <= names:
            frames[dataset] = load(dataset, store=store)
            contracts[dataset] = contract
    districts = load_boundaries(store=store)
    catalogue = indicator_catalogue(frames, contracts, _profile_setting(app_id, "dimensions"))
    names = district_names() or (district_names(districts) if districts is not None else {})
    return AtlasData(frames, catalogue, districts, names, boundaries if districts is not None else None)


def default_indicator_key(catalogue: Sequence[Indicator], preferred: str | None = None) -> str:
    """The indicator shown first: ``preferred`` (an indicator key or a dataset id; default the
    profile's ``apps.bevoelkerung.default_indicator``), else the first count of persons of a
    table without categories (residents), else the first indicator."""
    preferred = preferred or _profile_setting("bevoelkerung", "default_indicator")
    if preferred:
        for ind in catalogue:
            if preferred in (ind.key, ind.dataset):
                return ind.key
    for ind in catalogue:
        if ind.additive and not ind.conditions and ind.unit == "Personen":
            return ind.key
    return catalogue[0].key
