"""What several planning apps share: the table people see, district geometry, the projection.

* :class:`ViewTable` — every table a person sees: numbers (not text) under German column
  headers plus the display format of each column, shown as an HTML table
  (``bif_lib.apps.widgets.formatting``) and exported to Excel/CSV (``bif_lib.apps.widgets.export``);
* district names, centroids and point-in-polygon;
* the population projection with scenario and planner assumptions (:class:`Projector`), its
  population tables and the assumptions as people read them.

Pure functions (no widgets, no I/O): the app modules beside this one and the analysts'
notebooks call them.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bif_lib import __version__
from bif_lib.i18n import format_number
from bif_lib.planning._common import title_de
from bif_lib.planning.projection import ProjectionResult, project_population
from bif_lib.planning.scenarios import BOUNDS, SCENARIO_LABELS_DE, Assumptions, scenario

CITY_LABEL = "Gesamtstadt"
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
    district or school. ``notes`` are shown under the table and exported with it. ``units``
    maps a column to the unit its header shows ("Prozentpunkte", "je 1.000 Frauen 15–45"); a
    pct column shows "%" without being told (see :meth:`headers`).
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
    units: dict[str, str] = field(default_factory=dict)

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

    def headers(self) -> list[str]:
        """The column headers people see (page, Excel, CSV): the column with its unit, e.g.
        "Versorgungsquote (%)", "Veränderung zu 2021 (Prozentpunkte)"; a header that already
        names its unit ("Veränderung in %") stays as it is."""
        return [header_with_unit(str(c), self.units.get(c) or ("%" if self.formats.get(c) == PCT else ""))
                for c in self.frame.columns]


def header_with_unit(header: str, unit: str) -> str:
    """'Versorgungsquote', '%' -> 'Versorgungsquote (%)'; no unit or already named: unchanged."""
    if not unit or unit in header:
        return header
    return f"{header} ({unit})"


def round_to_total(values, groups=None) -> np.ndarray:
    """Whole numbers for display that add up to the rounded total (per group): each value is
    rounded down, then the values with the largest remainders get one more until the sum is the
    total rounded half up (largest-remainder rounding). So the districts shown add up to the
    city shown, and a difference of two shown columns is their shown difference.

    ``groups``: one key per value (e.g. ``frame.groupby(["year", "band"]).ngroup()``). ``values``
    must not be negative (counts, places, demand); NaN counts as 0.
    """
    values = np.nan_to_num(np.asarray(values, dtype=float))
    keys = np.zeros(len(values), dtype=np.int64) if groups is None else pd.factorize(np.asarray(groups))[0]
    floor = np.floor(values + 1e-9)
    rest = values - floor
    target = np.floor(np.bincount(keys, weights=values) + 0.5 + 1e-9)
    missing = target - np.bincount(keys, weights=floor)
    order = np.lexsort((-rest, keys))  # per group, largest remainder first (ties: first row)
    ranked = keys[order]
    rank = np.arange(len(order)) - np.searchsorted(ranked, ranked, side="left")
    extra = np.zeros(len(values))
    extra[order] = rank < missing[ranked]
    return floor + extra


def slug(text: str) -> str:
    """A file name (without extension) for downloads: lower case ASCII, words joined by ``_``."""
    text = text.lower()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(old, new)
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:60] or "tabelle"


# --- projection -------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssumptionControl:
    """A planner control for one field of :class:`~bif_lib.planning.scenarios.Assumptions`: its
    German label and bounds come from ``scenarios.BOUNDS``, the rest from here."""

    key: str           # the field of Assumptions
    step: float        # slider step
    help_de: str       # tooltip: what the value means
    decimals: int = 2  # readout decimals
    suffix: str = ""   # readout unit (" Jahre")


# The one place that maps the fields of Assumptions to planner controls: ScenarioControls (every
# projection app), the prognosis app and the assumption texts of panel and export follow it. A new
# field of Assumptions (with its entry in scenarios.BOUNDS and values in the standard scenarios)
# becomes a slider by one line here.
ASSUMPTION_CONTROLS: tuple[AssumptionControl, ...] = (
    AssumptionControl("fertility_factor", 0.01,
                      "Geburten je Frau im Verhältnis zum Basiszeitraum (1 = wie geschätzt)"),
    AssumptionControl("mortality_factor", 0.01,
                      "Sterberisiko im Verhältnis zur Sterbetafel (unter 1 = längeres Leben)"),
    AssumptionControl("in_migration_factor", 0.01, "Zuzüge von außerhalb der Stadt pro Jahr (1 = Mittel des "
                                                   "Basiszeitraums)"),
    AssumptionControl("out_migration_factor", 0.01, "Fortzugsraten aus der Stadt (1 = wie geschätzt)"),
    AssumptionControl("internal_migration_factor", 0.01, "Umzüge zwischen den Stadtteilen (1 = wie geschätzt)"),
)
ADJUSTABLE = tuple(control.key for control in ASSUMPTION_CONTROLS)
CONTROLS_BY_KEY = {control.key: control for control in ASSUMPTION_CONTROLS}
SCENARIO_CHOICES = [(label, key) for key, label in SCENARIO_LABELS_DE.items()]  # [("niedrig", "low"), ...]


def assumptions_for(scenario_name: str, **values: float) -> Assumptions:
    """The standard scenario with the planner's values; changed values are validated and the
    name records the change (e.g. 'mittel (angepasst)')."""
    base = scenario(scenario_name)
    changes = {k: float(v) for k, v in values.items()
               if v is not None and (getattr(base, k) is None
                                     or not math.isclose(float(v), float(getattr(base, k)), abs_tol=1e-9))}
    if not changes:
        return base
    return base.adjusted(name=f"{base.label_de} (angepasst)", **changes)


def assumption_bounds() -> dict[str, tuple[str, float, float]]:
    """{assumption: (German label, low, high)} of the planner-adjustable factors."""
    return {key: (BOUNDS[key].label_de, BOUNDS[key].low, BOUNDS[key].high) for key in ADJUSTABLE}


def scenario_values(scenario_name: str) -> dict[str, float]:
    chosen = scenario(scenario_name)
    return {key: float(getattr(chosen, key)) for key in ADJUSTABLE if getattr(chosen, key) is not None}


HOUSING_COLUMNS = ["district_id", "year", "dwellings"]


def housing_key(housing: pd.DataFrame | None) -> tuple:
    """A hashable key of a housing pipeline (district_id, year, dwellings[, persons_per_dwelling])."""
    if housing is None or len(housing) == 0:
        return ()
    columns = [c for c in (*HOUSING_COLUMNS, "persons_per_dwelling") if c in housing.columns]
    return tuple(map(tuple, housing[columns].astype(float).itertuples(index=False, name=None)))


class Projector:
    """Runs the population projection for the apps and keeps the last few results."""

    def __init__(self, inputs, *, cache_size: int = 8):
        self.inputs = inputs  # bif_lib.planning.ProjectionInputs
        self._cache: OrderedDict[tuple, ProjectionResult] = OrderedDict()
        self._size = cache_size

    @property
    def base_year(self) -> int:
        return int(self.inputs.base_year)

    def project(self, assumptions: Assumptions, end_year: int, *,
                housing: pd.DataFrame | None = None, align_base_to=None) -> ProjectionResult:
        """The projection to ``end_year`` with ``assumptions``, an optional housing pipeline
        (district_id, year, dwellings[, persons_per_dwelling]) and an optional official count the
        base is aligned to (``project_population(align_base_to=…)``); the last results are kept."""
        years = int(end_year) - self.base_year
        key = (tuple(sorted(assumptions.to_dict().items(), key=lambda kv: kv[0])), years, housing_key(housing),
               repr(align_base_to))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        options = {} if align_base_to is None else {"align_base_to": align_base_to}
        result = project_population(self.inputs.base_population, self.inputs.parameters,
                                    base_year=self.base_year, years=years, assumptions=assumptions,
                                    housing=housing if housing is not None and len(housing) else None, **options)
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


# --- the city's districts (from the profile) ---------------------------------------------------

DEFAULT_LEVEL = ("Stadtteil", "Stadtteile")


def city_profile():
    """The profile of ``BIF_CITY`` (cached per process): the only place a city lives."""
    from bif_lib.city.profile import current_profile

    return current_profile()


def profile_districts():
    """The profile's districts (codes, names, label, boundaries), or None if the profile has none."""
    try:
        return city_profile().districts
    except Exception:  # noqa: BLE001 - pure view functions fall back to the generic labels
        return None


def district_label(plural: bool = False) -> str:
    """German name of the district level: "Stadtteil" / "Stadtteile" unless the profile says otherwise."""
    level = profile_districts()
    if level is None:
        return DEFAULT_LEVEL[plural]
    return level.label_plural if plural else level.label


def districts_dative() -> str:
    """The plural in the dative ("nach Stadtteilen", "nach Ortsteilen", "nach Vierteln")."""
    plural = district_label(plural=True)
    return plural if plural.endswith(("n", "s")) else plural + "n"


def districts_mean_label() -> str:
    """City label of a rate: "Mittelwert der Stadtteile"."""
    return f"Mittelwert der {district_label(plural=True)}"


def district_names(frame: pd.DataFrame | None = None) -> dict[int, str]:
    """{district_id: name}: from a frame with district_id and name, else the profile's districts
    (in the profile's order; codes need not be 1..N)."""
    if frame is None:
        level = profile_districts()
        return dict(level.names) if level is not None else {}
    return {int(d): str(n) for d, n in sorted(zip(frame["district_id"], frame["name"]))}


def app_text(app_id: str, key: str, default: str) -> str:
    """A text of an app from the profile (``apps.<app_id>.<key>``), else ``default``."""
    try:
        value = city_profile().app(app_id).get(key)
    except Exception:  # noqa: BLE001
        value = None
    return str(value) if value else default


def app_notes(app_id: str) -> list[str]:
    """The city's own notes for an app's „Daten & Qualität“ panel (``apps.<app_id>.notes``)."""
    try:
        notes = city_profile().app(app_id).get("notes") or []
    except Exception:  # noqa: BLE001
        notes = []
    return [str(n) for n in ([notes] if isinstance(notes, str) else notes)]


def source_line(app_id: str) -> str:
    """The source line under an app's charts: ``apps.<app_id>.source``, else "Quelle: <organisation>"."""
    try:
        organisation = city_profile().organisation
    except Exception:  # noqa: BLE001
        organisation = ""
    return app_text(app_id, "source", f"Quelle: {organisation}" if organisation else "")


# --- geometry helpers -------------------------------------------------------------------------


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


# --- assumptions as people read them -------------------------------------------------------------

def projection_model() -> str:
    """The projection as an export names it (the district level from the profile)."""
    return f"Bevölkerungsvorausberechnung (Kohorten-Komponenten-Modell je {district_label()}, Geschlecht und Alter)"


def model_version(*models: str) -> str:
    """The model version an export names: BIF's version and the models the app ran."""
    return f"BIF {__version__}" + (": " + "; ".join(models) if models else "")


def assumptions_text(assumptions: Assumptions, *, base_year: int, end_year: int) -> dict[str, str]:
    """The projection's scenario and factors as German label → text (for the quality panel)."""
    out = {"Szenario": assumptions.label_de, "Basisjahr (Bestand 31.12.)": str(base_year),
           "Vorausberechnung bis": str(end_year)}
    for control in ASSUMPTION_CONTROLS:
        value = getattr(assumptions, control.key)
        out[BOUNDS[control.key].label_de] = ("–" if value is None else
                                             format_number(float(value), control.decimals) + control.suffix)
    describe = getattr(assumptions, "describe_de", None)  # every other assumption that is set (trends, levels)
    if callable(describe):
        for label, text in describe().items():
            out.setdefault(label, text)
    out["Methode"] = (f"Kohorten-Komponenten-Modell je {district_label()}, Geschlecht und Alter (docs/planning-models.md); "
                      "Faktoren wirken auf die geschätzten Raten (1 = wie geschätzt).")
    return out


# --- back-test as people read it ----------------------------------------------------------------

def backtest_lines(backtest) -> list[str]:
    """The back-test (:class:`bif_lib.planning.backtest.Backtest`) as German lines for the
    „Daten & Qualität“ panel and exports: headline first, then the detail and the error of
    every checked year."""
    lines = backtest.summary_de(district_label(plural=True))
    by_year = ", ".join(f"{int(row.year)}: {'+' if row.error_pct > 0 else ''}{format_number(row.error_pct, 2)} %"
                        for row in backtest.city.itertuples(index=False))
    lines.insert(3, f"Abweichung der Gesamtstadt je Jahr: {by_year}.")
    used = backtest.method.get("assumptions_de") or backtest.method.get("assumptions") or "mittel"
    lines.append(f"Geprüft mit den Annahmen „{used}“, ohne Neubau und ohne Anpassungen, ausgehend vom Bestand "
                 f"31.12.{backtest.base_year}.")
    return lines


def first_year_lines(result) -> list[str]:
    """The first projected year against the last observed one (:func:`first_year_check`), city-wide,
    as German lines for „Daten & Qualität“: a jump beyond the stated band is flagged."""
    from bif_lib.planning.projection import first_year_check
    from bif_lib.planning.scenarios import SCENARIO_LABELS_DE

    check = first_year_check(result)
    head = (f"Plausibilität: erstes Prognosejahr {result.base_year + 1} gegen das letzte beobachtete Jahr "
            f"{result.base_year} (Szenario „{SCENARIO_LABELS_DE.get(result.scenario, result.scenario)}“):")
    lines = [head]
    for row in check.itertuples(index=False):
        if not np.isfinite(row.observed):
            lines.append(f"{row.label_de}: {format_number(row.projected, 0)} – {row.note_de}.")
            continue
        sign = "+" if row.change > 0 else ""
        flag = "⚠ " if row.outside_band else ""
        lines.append(f"{flag}{row.label_de}: {format_number(row.observed, 0)} → {format_number(row.projected, 0)} "
                     f"({sign}{format_number(row.change * 100, 1)} %; {row.note_de}).")
    return lines


def backtest_table(backtest, names: Mapping[int, str]) -> ViewTable:
    """The back-test per district in its last year, and the city: projected, observed, error."""
    label = district_label()
    end = backtest.end_year
    rows = backtest.districts[backtest.districts["year"] == end]
    city = backtest.city[backtest.city["year"] == end].iloc[0]
    frame = pd.DataFrame({
        "Nr.": pd.array([*rows["district_id"].astype(int), pd.NA], dtype="Int64"),
        label: [names.get(int(d), str(d)) for d in rows["district_id"]] + [CITY_LABEL],
        f"Vorausberechnet {end} (ab {backtest.base_year})": [*rows["projected"], city["projected"]],
        f"Beobachtet {end}": [*rows["observed"], city["observed"]],
        "Abweichung": [*rows["error"], city["error"]],
        "Abweichung in %": [*rows["error_pct"], city["error_pct"]],
    })
    formats = {"Nr.": INT, label: TEXT, frame.columns[2]: INT, frame.columns[3]: INT, "Abweichung": INT,
               "Abweichung in %": DEC2}
    notes = backtest.summary_de(district_label(plural=True))[1:]
    if backtest.synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, formats, title_de(f"Rückblick: Vorausberechnung {backtest.base_year}→{end} gegen "
                                              "den beobachteten Bestand", backtest.synthetic),
                     notes=notes, synthetic=backtest.synthetic, filename=slug(f"rueckblick {backtest.base_year} {end}"),
                     highlight=[abs(v) > 2 if v == v else False for v in frame["Abweichung in %"]])


def backtest_years_table(backtest) -> ViewTable:
    """The back-test of the city per checked year (with the districts' mean absolute error)."""
    frame = backtest.table_by_year()
    frame = frame.rename(columns={"Mittlerer absoluter Fehler der Teilräume in %":
                                  f"Mittlerer absoluter Fehler der {district_label(plural=True)} in %"})
    formats = {"Jahr": YEAR, "Vorausberechnet": INT, "Beobachtet": INT, "Abweichung": INT,
               "Abweichung in %": DEC2, frame.columns[-1]: DEC2}
    return ViewTable(frame, formats, title_de(f"Rückblick Gesamtstadt {backtest.base_year}→{backtest.end_year}",
                                              backtest.synthetic),
                     notes=backtest.summary_de(district_label(plural=True))[3:], synthetic=backtest.synthetic,
                     filename=slug(f"rueckblick jahre {backtest.base_year} {backtest.end_year}"))
