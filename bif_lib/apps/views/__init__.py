"""View-models of the planning apps: pure functions that prepare what each view shows.

The Voilà apps (notebooks/apps) and the analysts' notebooks call these; they hold no widgets.
Every table a person sees is a :class:`ViewTable`: numbers (not text) under German column
headers plus the display format of each column, so the same object is shown as an HTML table
(``bif_lib.apps.widgets.formatting``) and exported to Excel/CSV (``bif_lib.apps.widgets.export``).

Sections:

* indicator catalogue of the Sozialatlas (every open dataset with ``year`` and ``district_id``),
  values per district, city values, time series, comparison table;
* age pyramid from the internal single-age dataset ``bevoelkerung_einzelalter`` (derived from
  the synthetic register, hence labelled synthetic);
* population projection with scenario and planner assumptions (:class:`Projector`);
* primary schools: schools per Stadtteil, capacity table, overview and per-year tables;
* day care: Kitas per Stadtteil, coverage and gap tables, chart data;
* ``load_*``: read the datasets through ``bif_lib.load`` (the only functions here with I/O).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bif_lib.planning._common import title_de
from bif_lib.planning.daycare import (
    BAND_LABELS_DE,
    THREE_TO_SCHOOL,
    UNDER_3,
    DaycareResult,
    DemandRates,
    PlaceRule,
    daycare_coverage,
)
from bif_lib.planning.projection import ProjectionResult, project_population
from bif_lib.planning.scenarios import BOUNDS, SCENARIO_LABELS_DE, Assumptions, scenario
from bif_lib.planning.schools import (
    SOURCE_ESTIMATE,
    SOURCE_INPUT,
    STATUS_OVER,
    SchoolDemandResult,
    SchoolSettings,
    default_assignment,
    estimate_capacities,
    project_school_demand,
)

CITY_LABEL = "Gesamtstadt"
DISTRICTS_MEAN_LABEL = "Mittelwert der Stadtteile"
SYNTHETIC_NOTE = ("synthetisch: abgeleitet aus dem synthetischen Melderegister (keine echten Personen); "
                  "Zahlen zeigen Größenordnungen, keine amtlichen Werte.")
SUPPRESSED_NOTE = "– = in der Quelle unterdrückt (Datenschutz) oder nicht veröffentlicht"

# Display formats of table columns (see bif_lib.apps.widgets.formatting): numbers stay numbers.
INT, DEC1, DEC2, PCT, YEAR, TEXT = "int", "dec1", "dec2", "pct", "year", "text"


# --- tables -----------------------------------------------------------------------------------

@dataclass
class ViewTable:
    """A table as people see it: numeric values under German headers, with display formats.

    ``formats`` maps a column to int | dec1 | dec2 | pct (value in percent points) | year | text.
    ``highlight`` marks rows to emphasise (e.g. over capacity), ``selected`` the selected
    district or school. ``notes`` are shown under the table and exported with it.
    """

    frame: pd.DataFrame
    formats: dict[str, str]
    title: str
    notes: list[str] = field(default_factory=list)
    highlight: list[bool] | None = None
    selected: list[bool] | None = None
    synthetic: bool = False
    filename: str = "tabelle"
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.frame)
        for name in ("highlight", "selected"):
            flags = getattr(self, name)
            if flags is not None and len(flags) != n:
                raise ValueError(f"{name}: {len(flags)} flags for {n} rows")

    def select(self, column: str, value) -> ViewTable:
        """This table with the rows whose ``column`` equals ``value`` marked as selected (None:
        no row). Cheap: an app builds a table once and only moves the selection."""
        flags = [bool(value is not None and not pd.isna(v) and v == value) for v in self.frame[column]]
        return replace(self, selected=flags)


def _slug(text: str) -> str:
    text = text.lower()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(old, new)
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:60] or "tabelle"


# --- Sozialatlas indicator catalogue ----------------------------------------------------------

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
    return ViewTable(frame, formats, title, notes=[f"Einheit: {indicator.unit}" if indicator.unit else "",
                                                   SUPPRESSED_NOTE],
                     filename=_slug(f"zeitreihe {indicator.label} {district_name or ''}"))


def comparison_table(values: pd.DataFrame, indicator: Indicator, year: int, names: Mapping[int, str],
                     selected: int | None = None) -> ViewTable:
    """One row per district (and the city): value of ``year``, change to the previous
    available year (absolute; for counts also in percent), rank (1 = highest value)."""
    current = district_frame(values, year, names)
    earlier = [y for y in indicator.years if y < year]
    previous_year = max(earlier) if earlier else None
    value_format = DEC2 if indicator.decimals >= 2 else DEC1 if indicator.decimals == 1 else INT
    value_col = f"Wert {year}"
    frame = pd.DataFrame({"Nr.": current["district_id"].astype(int), "Stadtteil": current["name"],
                          value_col: current["value"]})
    formats = {"Nr.": INT, "Stadtteil": TEXT, value_col: value_format}
    city = city_values(values, indicator)
    city_row = {"Nr.": pd.NA, "Stadtteil": indicator.city_label, value_col: city.get(year, np.nan)}
    if previous_year is not None:
        before = district_frame(values, previous_year, names)["value"].to_numpy(float)
        change_col = f"Veränderung zu {previous_year}"
        frame[change_col] = frame[value_col].to_numpy(float) - before
        formats[change_col] = value_format
        city_row[change_col] = city.get(year, np.nan) - city.get(previous_year, np.nan)
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
                     selected=selected_flags, filename=_slug(f"{indicator.label} {year}"),
                     sources=[indicator.dataset])


# --- age pyramid ------------------------------------------------------------------------------

def pyramid_years(population: pd.DataFrame) -> list[int]:
    return sorted(int(y) for y in population["year"].unique())


def age_pyramid(population: pd.DataFrame, year: int, district_id: int | None = None) -> pd.DataFrame:
    """age, m, w for ``year`` (district or whole city) and city_m, city_w: the city's age
    structure scaled to the district's total (for an outline comparison; equal to m, w for the city)."""
    in_year = (population["year"] == year).to_numpy()
    if not in_year.any():
        raise ValueError(f"Für {year} gibt es keine Einzelaltersangaben.")
    ages = population["age"].to_numpy()[in_year].astype(int)
    sexes = population["sex"].to_numpy()[in_year]
    counts = population["population"].to_numpy(float)[in_year]
    districts = population["district_id"].to_numpy()[in_year]
    size = int(ages.max()) + 1

    def by_age(mask: np.ndarray) -> np.ndarray:  # numpy instead of pivot_table: < 1 ms per view
        return np.bincount(ages[mask], weights=counts[mask], minlength=size)

    is_m, is_w = sexes == "m", sexes == "w"
    city_m, city_w = by_age(is_m), by_age(is_w)
    if district_id is None:
        own_m, own_w = city_m, city_w
    else:
        own = districts == district_id
        own_m, own_w = by_age(is_m & own), by_age(is_w & own)
    total_city = city_m.sum() + city_w.sum()
    scale = (own_m.sum() + own_w.sum()) / total_city if total_city else 0.0
    out = pd.DataFrame({"age": np.arange(size), "m": own_m, "w": own_w, "city_m": city_m * scale,
                        "city_w": city_w * scale})
    out.attrs["bif"] = {"synthetic": bool(population.attrs.get("bif", {}).get("synthetic", False))}
    return out


def pyramid_summary(pyramid: pd.DataFrame) -> dict[str, float]:
    """Residents, mean age (completed years + 0.5), shares under 18 and 65+ (in percent)."""
    total_by_age = pyramid["m"] + pyramid["w"]
    total = float(total_by_age.sum())
    if total == 0:
        return {"Einwohner": 0.0, "Durchschnittsalter": np.nan, "unter 18 (%)": np.nan, "ab 65 (%)": np.nan}
    return {
        "Einwohner": total,
        "Durchschnittsalter": float(((pyramid["age"] + 0.5) * total_by_age).sum() / total),
        "unter 18 (%)": float(total_by_age[pyramid["age"] < 18].sum() / total * 100),
        "ab 65 (%)": float(total_by_age[pyramid["age"] >= 65].sum() / total * 100),
    }


def pyramid_table(pyramid: pd.DataFrame, place: str, year: int) -> ViewTable:
    synthetic = bool(pyramid.attrs.get("bif", {}).get("synthetic", False))
    frame = pd.DataFrame({"Alter": pyramid["age"].astype(int), "männlich": pyramid["m"],
                          "weiblich": pyramid["w"], "zusammen": pyramid["m"] + pyramid["w"]})
    title = title_de(f"Altersaufbau {place} {year}", synthetic)
    notes = ["Alter in vollendeten Jahren am 31.12.; 100 = 100 Jahre und älter."]
    if synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, {"Alter": INT, "männlich": INT, "weiblich": INT, "zusammen": INT}, title,
                     notes=notes, synthetic=synthetic, filename=_slug(f"altersaufbau {place} {year}"))


# --- projection -------------------------------------------------------------------------------

ADJUSTABLE = ("fertility_factor", "mortality_factor", "in_migration_factor", "out_migration_factor",
              "internal_migration_factor")
SCENARIO_CHOICES = [(label, key) for key, label in SCENARIO_LABELS_DE.items()]  # [("niedrig", "low"), ...]


def assumptions_for(scenario_name: str, **values: float) -> Assumptions:
    """The standard scenario with the planner's values; changed values are validated and the
    name records the change (e.g. 'mittel (angepasst)')."""
    base = scenario(scenario_name)
    changes = {k: float(v) for k, v in values.items()
               if v is not None and not math.isclose(float(v), float(getattr(base, k)), abs_tol=1e-9)}
    if not changes:
        return base
    return base.adjusted(name=f"{base.label_de} (angepasst)", **changes)


def assumption_bounds() -> dict[str, tuple[str, float, float]]:
    """{assumption: (German label, low, high)} of the planner-adjustable factors."""
    return {key: (BOUNDS[key].label_de, BOUNDS[key].low, BOUNDS[key].high) for key in ADJUSTABLE}


def scenario_values(scenario_name: str) -> dict[str, float]:
    chosen = scenario(scenario_name)
    return {key: float(getattr(chosen, key)) for key in ADJUSTABLE}


class Projector:
    """Runs the population projection for the apps and keeps the last few results."""

    def __init__(self, inputs, *, cache_size: int = 8):
        self.inputs = inputs  # bif_lib.planning.ProjectionInputs
        self._cache: OrderedDict[tuple, ProjectionResult] = OrderedDict()
        self._size = cache_size

    @property
    def base_year(self) -> int:
        return int(self.inputs.base_year)

    def project(self, assumptions: Assumptions, end_year: int) -> ProjectionResult:
        years = int(end_year) - self.base_year
        key = (tuple(sorted(assumptions.to_dict().items(), key=lambda kv: kv[0])), years)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        result = project_population(self.inputs.base_population, self.inputs.parameters,
                                    base_year=self.base_year, years=years, assumptions=assumptions)
        self._cache[key] = result
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result


def population_table(result: ProjectionResult, ages: Iterable[int] | None = None) -> pd.DataFrame:
    """The single-scenario population table (year, district_id, sex, age, population).

    ``ages`` restricts it to those ages, built straight from the result's array: the school
    model needs age 6 only, the day-care model ages 0–6 — a few hundred rows instead of 40 000.
    """
    if ages is None:
        table = result.population.drop(columns=["scenario"], errors="ignore")
    else:
        chosen = np.asarray(sorted(set(int(a) for a in ages)))
        array = result.population_array[..., chosen]  # (year, district, sex, age)
        n_years, n_districts = array.shape[:2]
        table = pd.DataFrame({
            "year": np.repeat(np.asarray(result.years, dtype=int), n_districts * 2 * len(chosen)),
            "district_id": np.tile(np.repeat(result.district_ids, 2 * len(chosen)), n_years),
            "sex": np.tile(np.repeat(np.asarray(["m", "w"], dtype=object), len(chosen)), n_years * n_districts),
            "age": np.tile(chosen, n_years * n_districts * 2),
            "population": array.reshape(-1),
        })
    table.attrs["bif"] = {"synthetic": bool(result.synthetic)}
    return table


def scenario_summary(results: Mapping[str, ProjectionResult], years: Iterable[int] | None = None) -> ViewTable:
    """City population per scenario and year (for the analysts' scenario comparison)."""
    columns = {}
    synthetic = False
    for name, result in results.items():
        totals = result.population.groupby("year")["population"].sum()
        label = SCENARIO_LABELS_DE.get(name, name)
        columns[label] = totals
        synthetic |= bool(result.synthetic)
    frame = pd.DataFrame(columns)
    if years is not None:
        frame = frame.loc[[y for y in years if y in frame.index]]
    frame = frame.rename_axis("Jahr").reset_index()
    formats = {"Jahr": YEAR, **{c: INT for c in frame.columns if c != "Jahr"}}
    return ViewTable(frame, formats, title_de("Einwohner der Gesamtstadt nach Szenario", synthetic),
                     synthetic=synthetic, notes=[SYNTHETIC_NOTE] if synthetic else [],
                     filename="szenarienvergleich")


# --- geometry helpers -------------------------------------------------------------------------

def district_names(frame: pd.DataFrame) -> dict[int, str]:
    """{district_id: name} from ``stadtteile`` or ``stadtteile_namen``."""
    return {int(d): str(n) for d, n in sorted(zip(frame["district_id"], frame["name"]))}


def district_centroids(districts) -> pd.DataFrame:
    """district_id, lat, lon of the polygons' centroids (computed in the stored metric CRS)."""
    centroids = districts.geometry.centroid.to_crs(4326)
    return pd.DataFrame({"district_id": districts["district_id"].astype(int).to_numpy(),
                         "lat": centroids.y.to_numpy(), "lon": centroids.x.to_numpy()})


def locate_points(lat: Sequence[float], lon: Sequence[float], districts) -> np.ndarray:
    """district_id (0 = outside every district) of WGS84 points, by point in polygon."""
    import geopandas as gpd

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(districts.crs)
    joined = gpd.sjoin(points, districts[["district_id", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    return joined["district_id"].fillna(0).astype(int).to_numpy()


# --- primary schools ---------------------------------------------------------------------------

def primary_schools(schools: pd.DataFrame, districts, *, municipal_only: bool = True) -> pd.DataFrame:
    """The primary schools the model projects: school_id, name, district_id, pupils, grades, lat, lon.

    Default: primary schools without private flag (the city's own Grundschulen); schools in
    private or Danish-minority ownership enter through the calibrated entry rate instead.
    """
    chosen = schools[schools["primary_school"].fillna(False).astype(bool)]
    if municipal_only:
        chosen = chosen[~chosen["private_school"].fillna(False).astype(bool)]
    chosen = chosen[chosen["pupils"].notna() & chosen["lat"].notna()]
    out = pd.DataFrame({
        "school_id": chosen["school_id"].astype(str).to_numpy(),
        "name": chosen["name"].astype(str).to_numpy(),
        "pupils": chosen["pupils"].astype(float).to_numpy(),
        "grades": chosen["grades"].astype(object).where(chosen["grades"].notna(), "1-4").to_numpy(),
        "lat": chosen["lat"].astype(float).to_numpy(),
        "lon": chosen["lon"].astype(float).to_numpy(),
    })
    out.insert(2, "district_id", locate_points(out["lat"], out["lon"], districts))
    out.attrs["bif"] = dict(schools.attrs.get("bif", {}))
    return out


CAPACITY_LABELS = {"streams": "Züge", "class_size": "Klassengröße", "capacity_source": "Quelle"}


def default_capacities(schools: pd.DataFrame, class_size: float = 25) -> pd.DataFrame:
    """Editable capacity table: school_id, name, streams, class_size, capacity_source ('Schätzung')."""
    estimate = estimate_capacities(schools, class_size=class_size)
    table = schools[["school_id", "name"]].merge(estimate, on="school_id", how="left")
    return table[["school_id", "name", "streams", "class_size", "capacity_source"]]


def edited_capacities(capacities: pd.DataFrame, edits: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Apply planner edits {school_id: {"streams": .., "class_size": ..}}; edited rows become 'Eingabe'."""
    table = capacities.copy()
    for school_id, change in edits.items():
        row = table["school_id"] == school_id
        if not row.any():
            raise ValueError(f"Unbekannte Schule {school_id}.")
        changed = False
        for column, value in change.items():
            if column not in ("streams", "class_size"):
                raise ValueError(f"Unbekannte Kapazitätsangabe {column!r}.")
            if not math.isclose(float(table.loc[row, column].iloc[0]), float(value)):
                table.loc[row, column] = float(value)
                changed = True
        if changed:
            table.loc[row, "capacity_source"] = SOURCE_INPUT
    return table


def school_demand(population: pd.DataFrame, schools: pd.DataFrame, capacities: pd.DataFrame, *,
                  base_year: int, horizon_year: int, class_size: float = 25,
                  assignment: pd.DataFrame | None = None, inputs: Mapping[str, Any] | None = None,
                  ) -> SchoolDemandResult:
    """Primary-school demand with the planner's capacities (places = streams × 4 × class size)."""
    caps = capacities[["school_id", "streams", "class_size", "capacity_source"]]
    return project_school_demand(population, schools, base_year=base_year, horizon_year=horizon_year,
                                 capacities=caps, assignment=assignment,
                                 settings=SchoolSettings(class_size_max=class_size), inputs=inputs)


GRAVITY_NOTE = ("Schwerkraftmodell: Anteil einer Schule ∝ Schülerzahl × exp(−Entfernung zum "
                "Stadtteilmittelpunkt / 1,5 km); Flensburg veröffentlicht keine Schuleinzugsbereiche")


def gravity_assignment(schools: pd.DataFrame, districts) -> pd.DataFrame:
    """Default district → school shares from distance (documented in docs/planning-models.md)."""
    table = default_assignment(schools, district_centroids(districts),
                               district_ids=tuple(sorted(districts["district_id"].astype(int))))
    table.attrs["note"] = GRAVITY_NOTE
    return table


def _first_over(table: pd.DataFrame) -> pd.Series:
    over = table[table["over_capacity"].fillna(False).astype(bool)]
    return over.groupby("school_id")["year"].min()


def school_overview(result: SchoolDemandResult, schools: pd.DataFrame, names: Mapping[int, str],
                    year: int, school_ids: Sequence[str] | None = None,
                    selected: str | None = None) -> ViewTable:
    """One row per school: pupils in the base and the chosen year, classes, capacity,
    utilisation, first year over capacity, capacity source ('Schätzung' / 'Eingabe')."""
    table = result.schools
    base_year = int(table["year"].min())
    horizon = int(table["year"].max())
    ids = list(schools["school_id"] if school_ids is None else school_ids)
    now = table[table["year"] == year].set_index("school_id").reindex(ids)
    base = table[table["year"] == base_year].set_index("school_id")["pupils"].reindex(ids)
    first_over = _first_over(table).reindex(ids)
    peak = table.loc[table["school_id"].isin(ids)].sort_values("utilisation", ascending=False)
    peak = peak.drop_duplicates("school_id").set_index("school_id").reindex(ids)
    district = schools.set_index("school_id")["district_id"].reindex(ids)
    frame = pd.DataFrame({
        "Schule": now["name"].to_numpy(),
        "Stadtteil": [names.get(int(d), "–") for d in district],
        f"Schüler {base_year}": base.to_numpy(float),
        f"Schüler {year}": now["pupils"].to_numpy(float),
        f"Klassen {year}": now["classes"].to_numpy(float),
        "Klassenräume": now["capacity_classes"].to_numpy(float),
        "Plätze": now["capacity_places"].to_numpy(float),
        f"Auslastung {year}": now["utilisation"].to_numpy(float) * 100,
        f"höchste Auslastung bis {horizon}": peak["utilisation"].to_numpy(float) * 100,
        "erstmals über Kapazität": first_over.to_numpy(float),
        "Status": now["status"].to_numpy(),
        "Kapazität": now["capacity_source"].fillna("unbekannt").to_numpy(),
    })
    formats = {"Schule": TEXT, "Stadtteil": TEXT, f"Schüler {base_year}": INT, f"Schüler {year}": INT,
               f"Klassen {year}": INT, "Klassenräume": INT, "Plätze": INT, f"Auslastung {year}": PCT,
               f"höchste Auslastung bis {horizon}": PCT, "erstmals über Kapazität": YEAR, "Status": TEXT,
               "Kapazität": TEXT}
    highlight = (now["status"] == STATUS_OVER).fillna(False).tolist()
    over_until_horizon = first_over.notna().tolist()
    highlight = [a or b for a, b in zip(highlight, over_until_horizon)]
    notes = ["Klassenräume = Züge × 4 Jahrgänge; Plätze = Klassenräume × Klassengröße.",
             "Rot markiert: Schule bis zum Zieljahr über Kapazität (Schüler > Plätze oder Klassen > Klassenräume)."]
    if (now["capacity_source"] == SOURCE_ESTIMATE).any():
        notes.append("Kapazität „Schätzung“: aus der heutigen Schülerzahl geschätzt (Züge = Schüler je Jahrgang "
                     "÷ Klassengröße, aufgerundet) – bitte durch die tatsächlichen Züge ersetzen.")
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    if not ids:
        notes.insert(0, "In der Auswahl liegt keine städtische Grundschule; die Kinder des Stadtteils werden den "
                        "Schulen der Umgebung zugeordnet (siehe „Daten & Qualität“).")
    return ViewTable(frame, formats, title_de(f"Grundschulen {year}: Schüler und Kapazität", result.synthetic),
                     notes=notes, highlight=highlight, selected=[i == selected for i in ids],
                     synthetic=result.synthetic, filename=_slug(f"grundschulen {year}"))


def school_years(result: SchoolDemandResult, school_ids: Sequence[str], label: str) -> ViewTable:
    """Year by year for one school or the sum of several: pupils, classes, capacity."""
    table = result.schools[result.schools["school_id"].isin(list(school_ids))]
    grouped = table.groupby("year").agg(pupils=("pupils", "sum"), classes=("classes", "sum"),
                                        capacity_classes=("capacity_classes", lambda s: s.sum(min_count=len(s))),
                                        capacity_places=("capacity_places", lambda s: s.sum(min_count=len(s))))
    over = table.groupby("year")["over_capacity"].apply(lambda s: bool(s.fillna(False).any()))
    frame = pd.DataFrame({
        "Jahr": grouped.index.astype(int),
        "Schüler": grouped["pupils"].to_numpy(float),
        "Klassen": grouped["classes"].to_numpy(float),
        "Klassenräume": grouped["capacity_classes"].to_numpy(float),
        "Plätze": grouped["capacity_places"].to_numpy(float),
    })
    frame["Auslastung"] = frame["Schüler"] / frame["Plätze"].where(frame["Plätze"] > 0) * 100
    frame["über Kapazität"] = np.where(over.reindex(grouped.index).to_numpy(), "ja", "nein")
    formats = {"Jahr": YEAR, "Schüler": INT, "Klassen": INT, "Klassenräume": INT, "Plätze": INT,
               "Auslastung": PCT, "über Kapazität": TEXT}
    notes = ["Schuljahr ab August des Jahres; Kinder im Alter von 6 Jahren am 31.12. als Einschulungsjahrgang."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, formats, title_de(f"{label}: Schüler und Kapazität je Jahr", result.synthetic),
                     notes=notes, highlight=(frame["über Kapazität"] == "ja").tolist(), synthetic=result.synthetic,
                     filename=_slug(f"schulbedarf {label}"))


def school_chart_data(result: SchoolDemandResult, school_ids: Sequence[str],
                      years: ViewTable | None = None) -> pd.DataFrame:
    """year, pupils, capacity_places, classes, capacity_classes summed over ``school_ids``
    (``years``: their :func:`school_years` table, if already built)."""
    years = (years or school_years(result, school_ids, "")).frame
    return pd.DataFrame({"year": years["Jahr"], "pupils": years["Schüler"], "capacity_places": years["Plätze"],
                         "classes": years["Klassen"], "capacity_classes": years["Klassenräume"]})


def school_status(result: SchoolDemandResult, year: int | None = None) -> pd.DataFrame:
    """school_id, status of ``year`` and whether the school is over capacity in any year (map colours)."""
    table = result.schools
    year = int(table["year"].max()) if year is None else year
    now = table[table["year"] == year][["school_id", "pupils", "utilisation", "status"]]
    first = _first_over(table)
    now = now.assign(first_over=now["school_id"].map(first))
    return now.reset_index(drop=True)


# --- day care ---------------------------------------------------------------------------------

BANDS = [(BAND_LABELS_DE[UNDER_3], UNDER_3), (BAND_LABELS_DE[THREE_TO_SCHOOL], THREE_TO_SCHOOL)]


def kitas_with_district(kitas, districts) -> pd.DataFrame:
    """Kitas with district_id (point in polygon in the stored CRS) and lat/lon for the map."""
    import geopandas as gpd

    points = kitas.to_crs(districts.crs) if kitas.crs != districts.crs else kitas
    joined = gpd.sjoin(points, districts[["district_id", "geometry"]].rename(columns={"district_id": "_d"}),
                       how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    out = pd.DataFrame(kitas.drop(columns="geometry"))
    out["district_id"] = joined["_d"].reindex(kitas.index).fillna(0).astype(int).to_numpy()
    wgs = kitas.geometry.to_crs(4326)
    out["lat"], out["lon"] = wgs.y.to_numpy(), wgs.x.to_numpy()
    out.attrs["bif"] = dict(kitas.attrs.get("bif", {}))
    return out


def daycare(population: pd.DataFrame, kitas: pd.DataFrame, *, years: Sequence[int],
            demand: DemandRates = DemandRates(), rule: PlaceRule = PlaceRule(),
            inputs: Mapping[str, Any] | None = None) -> DaycareResult:
    located = kitas[kitas["district_id"] > 0]
    return daycare_coverage(population, located, years=list(years), demand=demand, rule=rule, inputs=inputs)


def coverage_frame(result: DaycareResult, band: str, year: int) -> pd.DataFrame:
    """district_id, children, places, coverage_rate, demand, gap, status for one band and year."""
    table = result.coverage
    rows = table[(table["band"] == band) & (table["year"] == year)]
    return rows[["district_id", "children", "places", "coverage_rate", "demand_rate", "demand", "gap",
                 "status"]].reset_index(drop=True)


def kita_gap_table(result: DaycareResult, band: str, year: int, names: Mapping[int, str],
                   selected: int | None = None) -> ViewTable:
    """Per Stadtteil and the city: children, places, coverage, demand, gap (places − demand)."""
    rows = coverage_frame(result, band, year)
    city = result.city[(result.city["band"] == band) & (result.city["year"] == year)].iloc[0]
    frame = pd.DataFrame({
        "Nr.": pd.array(list(rows["district_id"].astype(int)) + [pd.NA], dtype="Int64"),
        "Stadtteil": [names.get(int(d), str(d)) for d in rows["district_id"]] + [CITY_LABEL],
        "Kinder": list(rows["children"]) + [city["children"]],
        "Plätze": list(rows["places"]) + [city["places"]],
        "Versorgungsquote": [v * 100 for v in rows["coverage_rate"]] + [city["coverage_rate"] * 100],
        "Bedarf": list(rows["demand"]) + [city["demand"]],
        "Saldo (Plätze − Bedarf)": list(rows["gap"]) + [city["gap"]],
        "Status": list(rows["status"]) + [city["status"]],
    })
    formats = {"Nr.": INT, "Stadtteil": TEXT, "Kinder": INT, "Plätze": INT, "Versorgungsquote": PCT,
               "Bedarf": INT, "Saldo (Plätze − Bedarf)": INT, "Status": TEXT}
    band_label = BAND_LABELS_DE[band]
    rate = float(rows["demand_rate"].iloc[0]) if len(rows) else float("nan")
    notes = [f"Altersgruppe {band_label}; Bedarf = Kinder × Bedarfsquote ({_pct_text(rate)}).",
             "Versorgungsquote = Plätze ÷ Kinder. Kinder besuchen auch Kitas in anderen Stadtteilen: "
             "Stadtteilwerte sind Richtwerte, die Gesamtstadt ist exakt.",
             "Plätze nach Altersgruppe aus den Gruppenarten geschätzt; Kindertagespflege nicht enthalten."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    highlight = [gap < 0 for gap in frame["Saldo (Plätze − Bedarf)"]]
    selected_flags = [bool(selected is not None and nr == selected) for nr in frame["Nr."].fillna(-1)]
    return ViewTable(frame, formats, title_de(f"Kita-Versorgung {year}, {band_label}", result.synthetic),
                     notes=notes, highlight=highlight, selected=selected_flags, synthetic=result.synthetic,
                     filename=_slug(f"kita versorgung {year} {band_label}"))


def _pct_text(share: float) -> str:
    from bif_lib.i18n import format_percent

    return format_percent(share, 0)


def kita_chart_data(result: DaycareResult, band: str, district_id: int | None = None) -> pd.DataFrame:
    """year, children, demand, places for a district (or the city)."""
    if district_id is None:
        rows = result.city[result.city["band"] == band]
    else:
        rows = result.coverage[(result.coverage["band"] == band) & (result.coverage["district_id"] == district_id)]
    return rows[["year", "children", "demand", "places"]].sort_values("year").reset_index(drop=True)


def kita_years_table(result: DaycareResult, band: str, district_id: int | None, place: str) -> ViewTable:
    data = kita_chart_data(result, band, district_id)
    frame = pd.DataFrame({"Jahr": data["year"].astype(int), "Kinder": data["children"], "Bedarf": data["demand"],
                          "Plätze": data["places"]})
    frame["Saldo (Plätze − Bedarf)"] = frame["Plätze"] - frame["Bedarf"]
    formats = {"Jahr": YEAR, "Kinder": INT, "Bedarf": INT, "Plätze": INT, "Saldo (Plätze − Bedarf)": INT}
    return ViewTable(frame, formats, title_de(f"Kita-Versorgung {place}, {BAND_LABELS_DE[band]}", result.synthetic),
                     highlight=[g < 0 for g in frame["Saldo (Plätze − Bedarf)"]], synthetic=result.synthetic,
                     notes=[SYNTHETIC_NOTE] if result.synthetic else [],
                     filename=_slug(f"kita {place} {BAND_LABELS_DE[band]}"))


# --- loading (the only I/O in this module) ------------------------------------------------------

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
    from bif_lib.api import describe, list_datasets, load

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


def load_single_ages(*, store=None) -> pd.DataFrame:
    from bif_lib.api import load
    from bif_lib.planning.release import POPULATION_DATASET

    return load(POPULATION_DATASET, store=store)


# --- assumptions as people read them -------------------------------------------------------------

def assumptions_text(assumptions: Assumptions, *, base_year: int, end_year: int) -> dict[str, str]:
    """The projection's scenario and factors as German label → text (for the quality panel)."""
    from bif_lib.i18n import format_number

    out = {"Szenario": assumptions.label_de, "Basisjahr (Bestand 31.12.)": str(base_year),
           "Vorausberechnung bis": str(end_year)}
    for key in ADJUSTABLE:
        out[BOUNDS[key].label_de] = format_number(float(getattr(assumptions, key)), 2)
    out["Methode"] = ("Kohorten-Komponenten-Modell je Stadtteil, Geschlecht und Alter (docs/planning-models.md); "
                      "Faktoren wirken auf die geschätzten Raten (1 = wie geschätzt).")
    return out


def school_assumptions_text(result: SchoolDemandResult, capacities: pd.DataFrame) -> dict[str, str]:
    from bif_lib.i18n import format_percent

    rates = sorted(set(result.assumptions["entry_rate"].values()))
    estimated = int((capacities["capacity_source"] == SOURCE_ESTIMATE).sum())
    entered = int((capacities["capacity_source"] == SOURCE_INPUT).sum())
    return {
        "Einschulungsquote": ", ".join(format_percent(r, 1) for r in rates)
                             + f" ({result.assumptions['entry_rate_source']})",
        "Einschulungsjahrgang": result.assumptions["children_at_entry_age"],
        "Zuordnung Stadtteil → Schule": (GRAVITY_NOTE if result.assumptions["assignment_source"] == "vorgegeben"
                                          else result.assumptions["assignment_source"]),
        "Schüler im Basisjahr": result.assumptions["base_pupils"],
        "Kapazitäten": f"{estimated} geschätzt („Schätzung“), {entered} eingegeben („Eingabe“)",
    }


def school_points(result: SchoolDemandResult, schools: pd.DataFrame, year: int,
                  selected: str | None = None) -> pd.DataFrame:
    """Map points: id, lat, lon, label (German), over (over capacity in any year until ``year``),
    radius (selected school larger)."""
    from bif_lib.i18n import format_number

    table = result.schools[result.schools["year"] <= year]
    now = table[table["year"] == year].set_index("school_id")
    first = _first_over(table)
    rows = []
    for school in schools.itertuples(index=False):
        pupils = now.loc[school.school_id, "pupils"] if school.school_id in now.index else np.nan
        first_over = first.get(school.school_id)
        known = school.school_id in now.index and not pd.isna(now.loc[school.school_id, "capacity_places"])
        state = (f"über Kapazität ab {int(first_over)}" if first_over is not None and not pd.isna(first_over)
                 else "ausreichend" if known else "Kapazität unbekannt")
        rows.append({"id": school.school_id, "lat": school.lat, "lon": school.lon,
                     "label": f"{school.name}: {format_number(pupils)} Schüler {year}, {state}",
                     "over": (first_over is not None and not pd.isna(first_over)) if known else None,
                     "radius": 11 if school.school_id == selected else 8})
    return pd.DataFrame(rows)


def school_key_figures(result: SchoolDemandResult, year: int) -> dict[str, str]:
    from bif_lib.i18n import format_number

    table = result.schools
    base_year = int(table["year"].min())
    over = _first_over(table[table["year"] <= year])
    return {f"Schüler {base_year}": format_number(table.loc[table["year"] == base_year, "pupils"].sum()),
            f"Schüler {year}": format_number(table.loc[table["year"] == year, "pupils"].sum()),
            f"Schulen über Kapazität bis {year}": f"{len(over)} von {table['school_id'].nunique()}"}


def selection_label(schools: pd.DataFrame, names: Mapping[int, str], district_id: int | None,
                    school_id: str | None) -> str:
    if school_id:
        return str(schools.set_index("school_id").loc[school_id, "name"])
    if district_id:
        return f"Grundschulen in {names[district_id]}"
    return "alle städtischen Grundschulen"


def schools_in(schools: pd.DataFrame, district_id: int | None) -> pd.DataFrame:
    return schools if not district_id else schools[schools["district_id"] == district_id]


KITA_POINT_LEGEND = {"#ffd92f": "Kita mit Plätzen dieser Altersgruppe", "#bdbdbd": "Kita ohne solche Plätze"}


def kita_points(kitas: pd.DataFrame, result: DaycareResult, band: str) -> pd.DataFrame:
    """Map points of the Kitas: id, lat, lon, label (name, places in the band), color, radius."""
    from bif_lib.i18n import format_number

    column = "places_under_3" if band == UNDER_3 else "places_3_to_school"
    places = result.kitas.set_index("kita_id")[column]
    rows = []
    for kita in kitas.itertuples(index=False):
        value = places.get(kita.kita_id, np.nan)
        rows.append({"id": kita.kita_id, "lat": kita.lat, "lon": kita.lon,
                     "label": f"{kita.facility} ({kita.institution}): {format_number(value)} Plätze "
                              f"{BAND_LABELS_DE[band]}, {format_number(kita.childcare_places)} insgesamt",
                     "color": "#ffd92f" if value and value > 0 else "#bdbdbd",
                     "radius": 4 + min(float(value) if value == value else 0.0, 100.0) / 20})
    return pd.DataFrame(rows)


def kita_key_figures(result: DaycareResult, band: str, year: int, district_id: int | None = None,
                     place: str = CITY_LABEL) -> dict[str, str]:
    from bif_lib.i18n import format_number

    if district_id:
        rows = result.coverage[(result.coverage["district_id"] == district_id)]
    else:
        rows = result.city
    row = rows[(rows["band"] == band) & (rows["year"] == year)].iloc[0]
    return {f"{place} {year}: Kinder": format_number(row["children"]), "Plätze": format_number(row["places"]),
            "Versorgungsquote": format_number(row["coverage_rate"] * 100, 1) + " %",
            "Saldo (Plätze − Bedarf)": format_number(row["gap"])}


def kita_map_values(result: DaycareResult, band: str, year: int, names: Mapping[int, str],
                    measure: str = "coverage") -> tuple[dict[int, float], dict[int, str]]:
    """({district_id: value}, {district_id: hover text}); measure "coverage" (in %) or "gap"."""
    from bif_lib.i18n import format_number

    rows = coverage_frame(result, band, year)
    values, labels = {}, {}
    for row in rows.itertuples(index=False):
        d = int(row.district_id)
        values[d] = row.coverage_rate * 100 if measure == "coverage" else row.gap
        labels[d] = (f"{names.get(d, d)}: {format_number(row.children)} Kinder, {format_number(row.places)} Plätze, "
                     f"Versorgung {format_number(row.coverage_rate * 100, 1)} %, Saldo {format_number(row.gap)}")
    return values, labels


def daycare_assumptions_text(demand: DemandRates, rule: PlaceRule = PlaceRule()) -> dict[str, str]:
    from bif_lib.i18n import format_number, format_percent

    return {
        "Bedarfsquote unter 3 Jahre": format_percent(demand.under_3, 0),
        "Bedarfsquote 3 Jahre bis Schuleintritt": format_percent(demand.three_to_school, 0),
        "Altersgruppen": f"unter 3 = 0–2 Jahre; 3 bis Schuleintritt = 3–{demand.school_entry_age - 1} Jahre "
                         "(vollendete Jahre am 31.12.)",
        "Plätze je Altersgruppe": (f"aus Gruppenarten: Krippe {format_number(rule.krippe_group_size)}, Elementar "
                                   f"{format_number(rule.elementary_group_size)}, altersgemischt "
                                   f"{format_number(rule.mixed_group_size)} (davon "
                                   f"{format_percent(rule.mixed_under3_share, 0)} unter 3), Natur "
                                   f"{format_number(rule.nature_group_size)}, Hort "
                                   f"{format_number(rule.hort_group_size)}; auf die Gesamtplätze der Kita skaliert"),
        "Plätze im Zeitverlauf": "heutiger Bestand, ohne geplante Änderungen",
    }


def pyramid_key_figures(pyramid: pd.DataFrame) -> dict[str, str]:
    """Residents, mean age, shares under 18 / 65+ as German text."""
    from bif_lib.i18n import format_number

    figures = pyramid_summary(pyramid)
    return {"Einwohner": format_number(figures["Einwohner"]),
            "Durchschnittsalter": format_number(figures["Durchschnittsalter"], 1),
            "unter 18": format_number(figures["unter 18 (%)"], 1) + " %",
            "ab 65": format_number(figures["ab 65 (%)"], 1) + " %"}


def indicator_map_values(values: pd.DataFrame, indicator: Indicator, year: int,
                         names: Mapping[int, str]) -> tuple[dict[int, float], dict[int, str]]:
    """({district_id: value}, {district_id: hover text}) for the map; suppressed values say so."""
    from bif_lib.i18n import format_number

    frame = district_frame(values, year, names)
    labels = {int(r.district_id): f"{r.name}: " + ("unterdrückt" if r.suppressed else
                                                   f"{format_number(r.value, indicator.decimals)} {indicator.unit}")
              for r in frame.itertuples()}
    return dict(zip(frame["district_id"].astype(int), frame["value"])), labels
