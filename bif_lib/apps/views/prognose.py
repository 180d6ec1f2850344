"""The app „Bevölkerungsprognose“ (notebooks/apps/bevoelkerungsprognose.ipynb).

What it loads: the districts (from the city profile; polygons if the city has boundaries) and
the projection's inputs (internal) through :func:`bif_lib.loaders.load_projection_inputs` —
the released register parameters or the parameters estimated from published stocks.

What it shows, per district and for the city: the three standard scenarios and the planner's
own assumptions (the factors of :data:`bif_lib.apps.views.common.ASSUMPTION_CONTROLS`, new
dwellings per district and year, persons per dwelling), the population by the profile's age
groups over time, the age pyramid of any year, the components (births, deaths, moves), a
table per district, the back-test of the projection, and Excel/CSV exports with every
assumption on a sheet of its own. Every projected number is an estimate and labelled so.

The view functions below are pure (numpy on the result's arrays: no store reads per
interaction); :class:`PrognoseApp` holds the widgets, :func:`show` is the notebook's call.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.display import display

from bif_lib.apps.views.common import (
    CITY_LABEL,
    DEC1,
    INT,
    SYNTHETIC_NOTE,
    TEXT,
    YEAR,
    AssumptionControl,
    ViewTable,
    assumptions_text,
    backtest_table,
    backtest_years_table,
    city_profile,
    district_label,
    districts_dative,
    model_version,
    projection_model,
    round_to_total,
    slug,
    source_line,
)
from bif_lib.apps.views.projection_app import ProjectionApp
from bif_lib.apps.widgets import ChartView, DistrictMap, HousingEditor, Status, TableView, charts
from bif_lib.apps.widgets import layout as ui
from bif_lib.apps.widgets.controls import LevelControls, ScenarioControls
from bif_lib.apps.widgets.export import export_filename
from bif_lib.apps.widgets.formatting import html_table, key_figures_html
from bif_lib.i18n import format_number
from bif_lib.planning._common import title_de
from bif_lib.planning.backtest import band_label, band_limits
from bif_lib.planning.projection import ProjectionResult
from bif_lib.planning.scenarios import BOUNDS, SCENARIO_LABELS_DE, SCENARIOS, Assumptions

APP_ID = "bevoelkerungsprognose"
HORIZONS = (10, 15, 20, 25, 30)  # years after the base year the planner can choose
DEFAULT_HORIZON = 20
STANDARD = ("low", "medium", "high")
OWN_LABEL = "eigene Annahmen"
ESTIMATE = "Vorausberechnung (Schätzung)"
OBSERVED = "Bestand 31.12."
DEFAULT_AGE_BANDS = (0, 3, 6, 10, 16, 18, 25, 30, 45, 65, 80)

# The planner's own assumptions of this app besides the factors of ScenarioControls (those follow
# common.ASSUMPTION_CONTROLS, shared by every projection app): fields of Assumptions shown with the
# housing pipeline. A further housing field of Assumptions is wired by one line here.
HOUSING_CONTROLS: tuple[AssumptionControl, ...] = (
    AssumptionControl("persons_per_dwelling", 0.1, "Personen, die je neuer Wohnung einziehen", 1),
    AssumptionControl("new_housing_share", 0.05, "Anteil der Neubürger, die zu den ohnehin erwarteten Zuzügen "
                                                 "gehören (1 = Neubau verteilt die Zuzüge nur um)", 2),
)
# The planner's own levels: fields of Assumptions that are None in the scenarios and replace a factor or a
# trend when set (LevelControls: „eigener Wert“). Initial slider values come from the data (levels_initial).
LEVEL_CONTROLS: tuple[AssumptionControl, ...] = (
    AssumptionControl("tfr", 0.01, "Kinder je Frau; ersetzt den Faktor Geburtenhäufigkeit", 2),
    AssumptionControl("life_expectancy_gain", 0.1, "Jahre Lebenserwartung je Jahrzehnt; ersetzt den Trend des "
                                                   "Szenarios", 1, " J."),
    AssumptionControl("in_migration_per_year", 10, "Zuzüge von außerhalb je Jahr; ersetzt den Faktor Zuzüge", 0),
)


def available(controls: Sequence[AssumptionControl]) -> tuple[AssumptionControl, ...]:
    """The controls whose field the current Assumptions has (with bounds): new fields appear by themselves."""
    names = set(Assumptions.__dataclass_fields__)
    return tuple(c for c in controls if c.key in names and c.key in BOUNDS)

CHARTS = [("Szenarien", "scenarios"), ("Altersgruppen", "bands"), ("Komponenten", "components")]
TABLES = [("Altersgruppen", "bands"), ("Komponenten", "components"), ("Szenarien", "scenarios"),
          ("Teilräume", "districts")]


# --- view functions (pure) ------------------------------------------------------------------------

def age_bands() -> list[tuple[int, int | None]]:
    """The profile's age groups as (from, to) in completed years; the last one open."""
    try:
        bounds = city_profile().age_bands
    except Exception:  # noqa: BLE001 - pure view functions fall back to the default groups
        bounds = DEFAULT_AGE_BANDS
    return band_limits(bounds)


def place_array(result: ProjectionResult, district_id: int | None) -> np.ndarray:
    """(year, sex, age) of a district, or of the city (None)."""
    if district_id is None:
        return result.population_array.sum(axis=1)
    index = list(result.district_ids).index(int(district_id))
    return result.population_array[:, index]


def band_frame(result: ProjectionResult, district_id: int | None,
               bands: Sequence[tuple[int, int | None]]) -> pd.DataFrame:
    """year and one column per age band (label '0–2', '80 und älter'): population at 31.12."""
    by_age = place_array(result, district_id).sum(axis=1)  # (year, age)
    top = by_age.shape[1] - 1
    data = {"year": np.asarray(result.years, dtype=int)}
    for lo, hi in bands:
        data[band_label(lo, hi)] = by_age[:, lo:(top if hi is None else min(hi, top)) + 1].sum(axis=1)
    return pd.DataFrame(data)


def _kind_column(years: Sequence[int], base_year: int) -> list[str]:
    """The column „Art“: „Bestand“ (observed, 31.12. of the base year) or „Schätzung“ (projected)."""
    return ["Bestand" if int(y) == base_year else "Schätzung" for y in years]


def bands_table(result: ProjectionResult, district_id: int | None, place: str,
                bands: Sequence[tuple[int, int | None]]) -> ViewTable:
    """Population by age band and year (whole numbers that add up to the shown total)."""
    frame = band_frame(result, district_id, bands)
    columns = [c for c in frame.columns if c != "year"]
    values = frame[columns].to_numpy(float)
    rounded = round_to_total(values.ravel(), np.repeat(np.arange(len(frame)), len(columns))).reshape(values.shape)
    shown = pd.DataFrame(rounded, columns=columns)
    shown.insert(0, "Jahr", frame["year"].to_numpy())
    shown.insert(1, "Art", _kind_column(frame["year"], result.base_year))
    shown["Insgesamt"] = rounded.sum(axis=1)
    formats = {"Jahr": YEAR, "Art": TEXT, **{c: INT for c in columns}, "Insgesamt": INT}
    notes = [f"Alter in vollendeten Jahren am 31.12.; {result.base_year} = Bestand, ab {result.base_year + 1} "
             "Vorausberechnung (Schätzung).",
             "Ganze Zahlen, so gerundet, dass die Altersgruppen die Summe ergeben."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(shown, formats, title_de(f"Bevölkerung {place} nach Altersgruppen – {ESTIMATE}",
                                              result.synthetic),
                     notes=notes, synthetic=result.synthetic, units={c: "Jahre" for c in columns},
                     filename=slug(f"altersgruppen {place}"))


def components_frame(result: ProjectionResult, district_id: int | None) -> pd.DataFrame:
    """year, population_start, births, deaths, moves_in, moves_in_housing, moves_out, population_end
    of a district (moves include those between districts) or the city (only across the city's
    boundary: the moves between districts cancel)."""
    arrays = result.component_arrays

    def total(name: str) -> np.ndarray:
        summed = arrays[name].sum(axis=(2, 3))  # (year, district)
        if district_id is None:
            return summed.sum(axis=1)
        return summed[:, list(result.district_ids).index(int(district_id))]

    internal = district_id is not None
    moves_in = total("moves_in_external") + total("moves_in_housing") + total("moves_in_alignment")
    moves_out = total("moves_out_external") + total("moves_out_alignment")
    if internal:
        moves_in = moves_in + total("moves_in_internal")
        moves_out = moves_out + total("moves_out_internal")
    population = place_array(result, district_id).sum(axis=(1, 2))
    return pd.DataFrame({"year": np.asarray(result.years[1:], dtype=int), "population_start": population[:-1],
                         "births": total("births"), "deaths": total("deaths"), "moves_in": moves_in,
                         "moves_in_housing": total("moves_in_housing"), "moves_out": moves_out,
                         "population_end": population[1:]})


def components_table(result: ProjectionResult, district_id: int | None, place: str) -> ViewTable:
    data = components_frame(result, district_id)
    frame = pd.DataFrame({
        "Jahr": data["year"], "Bevölkerung am Jahresanfang": data["population_start"], "Geburten": data["births"],
        "Sterbefälle": data["deaths"], "Zuzüge": data["moves_in"], "davon in Neubau": data["moves_in_housing"],
        "Fortzüge": data["moves_out"],
        "Veränderung": data["births"] - data["deaths"] + data["moves_in"] - data["moves_out"],
        "Bevölkerung am Jahresende": data["population_end"]})
    formats = {c: INT for c in frame.columns} | {"Jahr": YEAR}
    notes = [f"{ESTIMATE}: alle Werte sind geschätzt; Rundungsdifferenzen möglich.",
             ("Zuzüge und Fortzüge einschließlich der Umzüge zwischen den "
              f"{districts_dative()}." if district_id is not None
              else "Gesamtstadt: Zuzüge und Fortzüge über die Stadtgrenze (Umzüge innerhalb der Stadt heben sich auf)."),
             "Bevölkerung am Jahresende = Anfang + Geburten − Sterbefälle + Zuzüge − Fortzüge."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, formats, title_de(f"Bevölkerungsbewegung {place} – {ESTIMATE}", result.synthetic),
                     notes=notes, synthetic=result.synthetic, filename=slug(f"komponenten {place}"))


def totals(result: ProjectionResult, district_id: int | None) -> np.ndarray:
    """Population per year (31.12.) of a district or the city."""
    return place_array(result, district_id).sum(axis=(1, 2))


def scenario_frame(results: Mapping[str, ProjectionResult], district_id: int | None) -> pd.DataFrame:
    """year and the population of each result (keys: German labels)."""
    first = next(iter(results.values()))
    return pd.DataFrame({"year": np.asarray(first.years, dtype=int),
                         **{label: totals(result, district_id) for label, result in results.items()}})


def scenarios_table(results: Mapping[str, ProjectionResult], district_id: int | None, place: str) -> ViewTable:
    frame = scenario_frame(results, district_id).rename(columns={"year": "Jahr"})
    first = next(iter(results.values()))
    frame.insert(1, "Art", _kind_column(frame["Jahr"], first.base_year))
    formats = {c: INT for c in frame.columns} | {"Jahr": YEAR, "Art": TEXT}
    synthetic = any(r.synthetic for r in results.values())
    notes = ["niedrig / mittel / hoch: Standardszenarien (Faktoren siehe Blatt „Szenarien“); "
             f"„{OWN_LABEL}“: Ihre Einstellungen (nur wenn sie vom Szenario abweichen).",
             "Neubauvorhaben wirken in allen Szenarien."]
    if synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, formats, title_de(f"Einwohner {place} nach Szenario – {ESTIMATE}", synthetic),
                     notes=notes, synthetic=synthetic, filename=slug(f"szenarien {place}"))


def districts_table(result: ProjectionResult, year: int, names: Mapping[int, str],
                    selected: int | None = None) -> ViewTable:
    """Every district and the city: population in the base year and in ``year``, change."""
    label = district_label()
    base_values = result.population_array[0].sum(axis=(1, 2))
    year_values = result.population_array[int(year) - result.base_year].sum(axis=(1, 2))
    base_shown, year_shown = round_to_total(base_values), round_to_total(year_values)
    ids = [int(d) for d in result.district_ids]
    change = [*(year_shown - base_shown), year_shown.sum() - base_shown.sum()]
    base_all = [*base_shown, base_shown.sum()]
    frame = pd.DataFrame({
        "Nr.": pd.array([*ids, pd.NA], dtype="Int64"),
        label: [names.get(d, str(d)) for d in ids] + [CITY_LABEL],
        f"Bestand {result.base_year}": base_all,
        f"{year}": [*year_shown, year_shown.sum()],
        "Veränderung": change,
        "Veränderung in %": [c / b * 100 if b else np.nan for c, b in zip(change, base_all)],
    })
    formats = {"Nr.": INT, label: TEXT, f"Bestand {result.base_year}": INT, f"{year}": INT, "Veränderung": INT,
               "Veränderung in %": DEC1}
    notes = [f"{year}: {ESTIMATE if year > result.base_year else OBSERVED}. Ganze Zahlen, so gerundet, dass die "
             f"{district_label(plural=True)} die Gesamtstadt ergeben."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    flags = [bool(selected is not None and d == selected) for d in ids] + [False]
    return ViewTable(frame, formats, title_de(f"Einwohner je {label} {result.base_year}–{year}"
                                              + (f" – {ESTIMATE}" if year > result.base_year else ""),
                                              result.synthetic),
                     notes=notes, synthetic=result.synthetic, selected=flags,
                     filename=slug(f"teilraeume {year}"))


def pyramid_frame(result: ProjectionResult, year: int, district_id: int | None) -> pd.DataFrame:
    """age, m, w of ``year`` and city_m, city_w: the same place in the base year (outline)."""
    array = place_array(result, district_id)
    shown, base = array[int(year) - result.base_year], array[0]
    return pd.DataFrame({"age": np.arange(array.shape[-1]), "m": shown[0], "w": shown[1], "city_m": base[0],
                         "city_w": base[1]})


def key_figures(result: ProjectionResult, district_id: int | None, year: int, place: str) -> dict[str, str]:
    series = totals(result, district_id)
    base, shown = series[0], series[int(year) - result.base_year]
    pyramid = pyramid_frame(result, year, district_id)
    people = pyramid["m"] + pyramid["w"]
    mean_age = float(((pyramid["age"] + 0.5) * people).sum() / people.sum()) if people.sum() else np.nan
    change = (shown / base - 1) * 100 if base else np.nan
    kind = "geschätzt" if year > result.base_year else "Bestand"
    return {f"{place} {result.base_year}": format_number(base),
            f"{year} ({kind})": format_number(shown),
            "Veränderung": ("+" if change > 0 else "") + format_number(change, 1) + " %",
            f"Durchschnittsalter {year}": format_number(mean_age, 1)}


def total_fertility(result_parameters, base_population: pd.DataFrame, factor: float) -> float:
    """The city's total fertility rate implied by the parameters × factor (districts weighted by
    their women aged 15–49 in the base year): children per woman."""
    rates = result_parameters.fertility.sum(axis=1) * factor  # (district,)
    women = base_population[(base_population["sex"] == "w") & base_population["age"].between(15, 49)]
    weights = women.groupby("district_id")["population"].sum().reindex(result_parameters.district_ids).fillna(0)
    total = float(weights.sum())
    return float((rates * weights.to_numpy()).sum() / total) if total else float(rates.mean())


def value_text(value) -> str:
    """An assumption's value in German: numbers with up to 6 decimals, pairs as 'Männer … / Frauen …',
    None (as estimated / as in the scenario) as 'wie geschätzt'."""
    if value is None:
        return "wie geschätzt"
    if isinstance(value, (tuple, list)):
        return " / ".join(f"{sex} {format_number(float(v), None)}" for sex, v in zip(("Männer", "Frauen"), value))
    return format_number(float(value), None)


def assumption_sheets(assumptions: Assumptions, result: ProjectionResult, housing: pd.DataFrame,
                      names: Mapping[int, str], *, base_population: pd.DataFrame, parameters,
                      own_changed: bool) -> list[tuple[str, ViewTable]]:
    """Every assumption of the projection as tables, one sheet each: „Annahmen“ (what this
    projection used), „Szenarien“ (the factors of the standard scenarios and of the planner's
    own), „Neubau“ (the housing pipeline)."""
    synthetic = result.synthetic
    rows = [("Szenario", assumptions.label_de, ""),
            ("Basisjahr (Bestand 31.12.)", str(result.base_year), "beobachtet"),
            ("Vorausberechnung bis", str(result.end_year), "")]
    for key, bound in BOUNDS.items():
        value = getattr(assumptions, key, None)
        rows.append((bound.label_de, value_text(value),
                     f"zulässig {format_number(bound.low, None)}–{format_number(bound.high, None)}"))
    tfr = total_fertility(parameters, base_population, assumptions.fertility_factor)
    rows += [("Geburten je Frau (zusammengefasste Geburtenziffer)", format_number(tfr, 2),
              "aus den geschätzten Raten × Faktor; Mittel der Teilräume nach Frauen 15–49"),
             ("Zuzüge von außerhalb je Jahr", format_number(result.assumptions.get("in_migration_per_year", np.nan)),
              "geschätztes Volumen × Faktor Zuzüge, ohne Neubau"),
             ("Neubürger in Neubauwohnungen insgesamt", format_number(result.assumptions.get("housing_newcomers_total",
                                                                                              0.0)),
              "Wohnungen × Personen je Wohnung, bis zum Ende der Vorausberechnung"),
             ("Altersprofil der Neubürger", str(result.assumptions.get("newcomer_profile", "")), "Annahme"),
             ("Basiszeitraum der Parameter", "–".join(map(str, parameters.base_period or ())) or "–", ""),
             ("Methode", projection_model(), "docs/planning-models.md")]
    annahmen = ViewTable(pd.DataFrame(rows, columns=["Annahme", "Wert", "Erläuterung"]),
                         {"Annahme": TEXT, "Wert": TEXT, "Erläuterung": TEXT},
                         title_de("Annahmen der Vorausberechnung", synthetic), synthetic=synthetic,
                         filename="annahmen")
    keys = [k for k in BOUNDS if k != "boys_per_100_girls"]
    scen = {"Annahme": [BOUNDS[k].label_de for k in keys]}
    for key in STANDARD:
        scen[SCENARIO_LABELS_DE[key]] = [value_text(getattr(SCENARIOS[key], k, None)) for k in keys]
    if own_changed:
        scen[OWN_LABEL] = [value_text(getattr(assumptions, k, None)) for k in keys]
    scen_frame = pd.DataFrame(scen)
    szenarien = ViewTable(scen_frame, {c: TEXT for c in scen_frame.columns},
                          title_de("Annahmen der Szenarien (Faktoren: 1 = wie geschätzt)", synthetic),
                          synthetic=synthetic,
                          notes=["Quelle der Spannweiten: Varianten der 15. koordinierten Bevölkerungsvorausberechnung "
                                 "(Destatis 2022), docs/planning-models.md."], filename="szenarien")
    label = district_label()
    if len(housing):
        persons = housing["dwellings"].to_numpy(float) * assumptions.persons_per_dwelling
        neubau_frame = pd.DataFrame({"Nr.": housing["district_id"].astype(int).to_numpy(),
                                     label: [names.get(int(d), str(d)) for d in housing["district_id"]],
                                     "Bezugsjahr": housing["year"].astype(int).to_numpy(),
                                     "Wohnungen": housing["dwellings"].to_numpy(float),
                                     "Personen je Wohnung": assumptions.persons_per_dwelling,
                                     "Neubürger": persons})
    else:
        neubau_frame = pd.DataFrame({"Nr.": pd.Series(dtype="Int64"), label: pd.Series(dtype=object),
                                     "Bezugsjahr": pd.Series(dtype="Int64"), "Wohnungen": pd.Series(dtype=float),
                                     "Personen je Wohnung": pd.Series(dtype=float),
                                     "Neubürger": pd.Series(dtype=float)})
    neubau = ViewTable(neubau_frame, {"Nr.": INT, label: TEXT, "Bezugsjahr": YEAR, "Wohnungen": INT,
                                      "Personen je Wohnung": DEC1, "Neubürger": INT},
                       title_de("Neubauvorhaben (Eingabe)", synthetic), synthetic=synthetic,
                       notes=["Neubürger = Wohnungen × Personen je Wohnung, im Bezugsjahr als Zuzüge gebucht, "
                              "verteilt nach dem Altersprofil der Neubürger (Annahme).", housing_note(assumptions)]
                       + ([] if len(housing) else ["Keine Neubauvorhaben eingetragen."]),
                       filename="neubau")
    return [("Annahmen", annahmen), ("Szenarien", szenarien), ("Neubau", neubau)]


# --- the app ------------------------------------------------------------------------------------

def app_title() -> str:
    return "Bevölkerungsprognose"


def app_model() -> str:
    return model_version(projection_model(), "Rückblick (Vorausberechnung ab einem früheren Basisjahr gegen den "
                                             "beobachteten Bestand; docs/planning-models.md)")


def quality_notes() -> list[str]:
    return ["Alle Werte nach dem Basisjahr sind Vorausberechnungen (Schätzungen) unter den gezeigten Annahmen, "
            "keine Vorhersage sicherer Zahlen.",
            f"Werte je {district_label()} sind unsicherer als die der Gesamtstadt.",
            housing_note()]


def official_count(base_year: int) -> dict | None:
    """The official count of the base year from the city profile (``planning.official_population``,
    :func:`bif_lib.loaders.official_population`), or None (none given, another year, or a loader
    without it)."""
    try:
        from bif_lib import loaders

        entry = getattr(loaders, "official_population", lambda: None)()
    except ValueError:  # an incomplete profile entry: no alignment offered
        return None
    return entry if entry and int(entry.get("year", -1)) == int(base_year) else None


def housing_note(assumptions: Assumptions | None = None) -> str:
    """How newcomers to new housing count (``new_housing_share`` where Assumptions has it)."""
    share = getattr(assumptions or SCENARIOS["medium"], "new_housing_share", None)
    if share is None or share == 0:
        how = "zusätzlich zu den Zuzügen von außerhalb"
    elif share < 1:
        how = (f"zu {format_number(100 * share, 0)} % Teil der ohnehin erwarteten Zuzüge (nicht zusätzlich), "
               "der Rest zusätzlich")
    else:
        how = "Teil der ohnehin erwarteten Zuzüge (nicht zusätzlich)"
    return (f"Neubauvorhaben: Neubürger (Wohnungen × Personen je Wohnung) sind {how}; Personen je Wohnung und "
            "Altersprofil der Neubürger sind Annahmen.")


class PrognoseApp(ProjectionApp):
    """The widgets of the app and their reactions. ``widget`` is the page (shown by :func:`show`)."""

    APP_ID = APP_ID
    CACHE_SIZE = 16  # 3 standard scenarios + the own assumptions, for a few horizons / housing inputs

    def __init__(self, *, store=None):
        self.APP_TITLE, self.MODEL, self.QUALITY_NOTES = app_title(), app_model(), quality_notes()
        self.bands = age_bands()
        super().__init__(store=store)

    # controls ------------------------------------------------------------------------------------

    @property
    def end_year(self) -> int:
        return self.projector.base_year + int(self.horizon.value)

    def _build_controls(self) -> None:
        base_year = self.projector.base_year
        self.scenario = ScenarioControls("medium")
        self.horizon = ui.dropdown("bis", [(str(base_year + h), h) for h in HORIZONS], DEFAULT_HORIZON)
        self.year = w.IntSlider(value=base_year + 10, min=base_year, max=base_year + DEFAULT_HORIZON,
                                description="Jahr", continuous_update=False, style={"description_width": "60px"},
                                layout=w.Layout(width="100%"))
        self.district = ui.dropdown(district_label(), [("– Gesamtstadt –", 0)] + [(n, i) for i, n in self.names.items()])
        self.chart_kind = w.ToggleButtons(options=CHARTS, value="scenarios", style={"button_width": "auto"})
        self.table_kind = w.ToggleButtons(options=[(district_label(plural=True) if v == "districts" else label, v)
                                                   for label, v in TABLES],
                                          value="bands", style={"button_width": "auto"})
        self.official = official_count(base_year)
        self.align = w.Checkbox(value=False, indent=False, layout=w.Layout(width="auto"),
                                description=(f"an die amtliche Einwohnerzahl {self.official['year']} angleichen"
                                             if self.official else "an die amtliche Einwohnerzahl angleichen"),
                                tooltip=(f"Quelle: {self.official['source']}" if self.official else ""))
        self.align.add_class("bif-align")
        self.levels = LevelControls(available(LEVEL_CONTROLS), initial=self.levels_initial(),
                                    ranges=self.level_ranges())
        self.housing_sliders: dict[str, w.FloatSlider] = {}
        medium = SCENARIOS["medium"]
        for control in available(HOUSING_CONTROLS):
            bound = BOUNDS[control.key]
            slider = w.FloatSlider(value=float(getattr(medium, control.key)), min=bound.low, max=bound.high,
                                   step=control.step, continuous_update=False,
                                   tooltip=f"{bound.label_de}: {control.help_de}")
            slider.add_class(f"bif-assumption-{control.key.replace('_', '-')}")
            self.housing_sliders[control.key] = slider
        self.housing = HousingEditor(self.names, first_year=base_year + 1, last_year=base_year + max(HORIZONS),
                                     label=district_label())
        for widget, css in ((self.horizon, "bif-horizon"), (self.year, "bif-year"),
                            (self.district, "bif-district-select"), (self.chart_kind, "bif-chart-kind"),
                            (self.table_kind, "bif-table-kind")):
            widget.add_class(css)
        self.status = Status()
        self.map = (DistrictMap(self.districts, height="360px", names=self.names, label=district_label(),
                                label_plural=district_label(plural=True)) if self.has_map else None)
        self.chart = ChartView()
        self.canvases = {kind: charts.Canvas() for _, kind in CHARTS}
        self.pyramid_chart = ChartView(size=charts.PYRAMID_SIZE)
        self.figures = w.HTML()
        self.table = TableView(table_id="bif-prognosetabelle", export_info=self.export_info,
                               extra_sheets=self.extra_sheets)
        self.backtest_view = w.HTML('<div class="bif-help">Wird beim Öffnen berechnet …</div>')
        self.backtest_box = w.Accordion(children=[self.backtest_view], selected_index=None)
        self.backtest_box.set_title(0, "Rückblick: Wie genau war die Vorausberechnung?")
        self.backtest_box.add_class("bif-backtest-box")
        self.result: ProjectionResult | None = None
        self.results: dict[str, ProjectionResult] = {}
        self.version = 0
        self.district_tables: dict[int, ViewTable] = {}
        self.quiet = ui.Guard()

    # what is selected ----------------------------------------------------------------------------

    def chosen(self) -> int | None:
        return self.district.value or None

    def selection(self) -> str:
        chosen = self.chosen()
        return self.names[chosen] if chosen else CITY_LABEL

    def housing_table(self) -> pd.DataFrame:
        return self.housing.table

    def align_base_to(self):
        """The official count the base is aligned to, if the planner chose it (else None)."""
        return self.official if self.official and self.align.value else None

    def levels_initial(self) -> dict[str, float]:
        """Where the level sliders start: today's levels from the data."""
        parameters = self.inputs.parameters
        return {"tfr": total_fertility(parameters, self.inputs.base_population, 1.0),
                "in_migration_per_year": float(parameters.in_volume), "life_expectancy_gain": 1.0}

    def level_ranges(self) -> dict[str, tuple[float, float]]:
        volume = float(self.inputs.parameters.in_volume)
        return {"in_migration_per_year": (0.0, max(round(3 * volume, -2), 1000.0))}

    def assumptions(self) -> Assumptions:
        """The scenario with the planner's factors, levels and housing values (validated)."""
        base = self.scenario.assumptions()
        changes = {key: float(slider.value) for key, slider in self.housing_sliders.items()
                   if not np.isclose(float(slider.value), float(getattr(base, key)))}
        changes.update(self.levels.values())
        if not changes:
            return base
        name = base.name if base.name not in SCENARIO_LABELS_DE else f"{base.label_de} (angepasst)"
        return base.adjusted(name=name, **changes)

    def own_changed(self, assumptions: Assumptions | None = None) -> bool:
        assumptions = assumptions or self.assumptions()
        return assumptions.name not in SCENARIO_LABELS_DE

    def export_info(self):
        return self.quality.export_info(app=self.APP_TITLE, app_id=self.APP_ID, selection=self.selection(),
                                        scenario=self.assumptions().label_de, model=self.MODEL)

    def extra_sheets(self) -> list[tuple[str, ViewTable]]:
        """The sheets beside the table in an Excel export: every assumption, and the back-test."""
        assumptions = self.assumptions()
        sheets = assumption_sheets(assumptions, self.result, self.housing_table(), self.names,
                                   base_population=self.inputs.base_population, parameters=self.inputs.parameters,
                                   own_changed=self.own_changed(assumptions))
        try:
            backtest = self.backtest()
        except ValueError:
            return sheets
        self.quality.compute_backtest()
        return [*sheets, ("Rückblick", backtest_table(backtest, self.names)),
                ("Rückblick Jahre", backtest_years_table(backtest))]

    # reactions -----------------------------------------------------------------------------------

    def compute(self) -> None:
        assumptions = self.assumptions()
        end_year = self.end_year
        housing = self.housing_table()
        align = self.align_base_to()
        self.result = self.projector.project(assumptions, end_year, housing=housing, align_base_to=align)
        results = {SCENARIO_LABELS_DE[key]: self.projector.project(SCENARIOS[key], end_year, housing=housing,
                                                                  align_base_to=align)
                   for key in STANDARD}
        if self.own_changed(assumptions):
            results[OWN_LABEL] = self.result
        self.results = results
        self.version += 1
        self.district_tables = {}
        with self.quiet:  # a shorter horizon moves the year: no second refresh inside this one
            self.year.max = end_year
        self.housing.set_years(self.projector.base_year + 1, end_year)
        texts = assumptions_text(assumptions, base_year=self.projector.base_year, end_year=end_year)
        for control in (*available(HOUSING_CONTROLS), *available(LEVEL_CONTROLS)):
            value = getattr(assumptions, control.key)
            texts.setdefault(BOUNDS[control.key].label_de, "wie im Szenario" if value is None
                             else format_number(float(value), control.decimals))
        texts["Neubauvorhaben"] = (f"{len(housing)} Vorhaben, {format_number(housing['dwellings'].sum())} Wohnungen"
                                   if len(housing) else "keine")
        alignment = self.result.assumptions.get("base_alignment")
        texts["Basisbevölkerung"] = (alignment.get("text_de", "an die amtliche Einwohnerzahl angepasst")
                                     if isinstance(alignment, dict) else
                                     "Bestand wie freigegeben bzw. veröffentlicht (nicht an eine amtliche Zahl angepasst)")
        self.quality.set_assumptions(texts)

    def show_overview(self) -> None:
        """Map and the table of all districts: depend on result and year, not on the district."""
        result, year = self.result, int(self.year.value)
        if self.map is None:
            return
        base = result.population_array[0].sum(axis=(1, 2))
        now = result.population_array[year - result.base_year].sum(axis=(1, 2))
        values, labels = {}, {}
        for d, b, n in zip(result.district_ids, base, now):
            change = (n / b - 1) * 100 if b else np.nan
            values[int(d)] = change
            labels[int(d)] = (f"{self.names.get(int(d), d)}: {format_number(b)} ({result.base_year}) → "
                              f"{format_number(n)} ({year}), {'+' if change > 0 else ''}{format_number(change, 1)} %")
        self.map.set_values(values, labels=labels, diverging=True, decimals=1, suffix=" %",
                            title=f"Veränderung {result.base_year}–{year} (Schätzung)", missing_label=None)

    def current_table(self) -> ViewTable:
        result, chosen, kind = self.result, self.chosen(), self.table_kind.value
        place = self.selection()
        if kind == "bands":
            return bands_table(result, chosen, place, self.bands)
        if kind == "components":
            return components_table(result, chosen, place)
        if kind == "scenarios":
            return scenarios_table(self.results, chosen, place)
        year = int(self.year.value)
        if year not in self.district_tables:
            self.district_tables[year] = districts_table(result, year, self.names)
        return self.district_tables[year].select("Nr.", chosen)

    def show_chart(self) -> None:
        result, chosen, kind = self.result, self.chosen(), self.chart_kind.value
        place, synthetic = self.selection(), result.synthetic
        canvas = self.canvases[kind]
        source = source_line(APP_ID) or None
        suffix = " (synthetische Daten)" if synthetic else ""
        if kind == "scenarios":
            own = OWN_LABEL if OWN_LABEL in self.results else None
            picked = own or SCENARIO_LABELS_DE.get(self.scenario.scenario.value)
            render = lambda: charts.scenario_lines_png(
                scenario_frame(self.results, chosen), title=f"{place}: Einwohner je Szenario, geschätzt{suffix}",
                own=own, chosen=picked, synthetic=synthetic, source=source, canvas=canvas)
        elif kind == "bands":
            render = lambda: charts.stacked_bands_png(
                band_frame(result, chosen, self.bands),
                title=f"{place}: Einwohner nach Altersgruppen, geschätzt{suffix}", synthetic=synthetic,
                source=source, canvas=canvas)
        else:
            render = lambda: charts.components_png(
                components_frame(result, chosen), title=f"{place}: Geburten, Sterbefälle, Zu- und Fortzüge, "
                                                        f"geschätzt{suffix}",
                synthetic=synthetic, source=source, canvas=canvas)
        self.chart.update((self.version, kind, chosen), render,
                          export_filename(APP_ID, kind, place, self.assumptions().label_de))

    def show_pyramid(self) -> None:
        result, chosen, year = self.result, self.chosen(), int(self.year.value)
        place, synthetic = self.selection(), result.synthetic
        kind = "geschätzt" if year > result.base_year else "Bestand"
        chart = self.pyramid_chart
        chart.update(
            (self.version, chosen, year),
            lambda: charts.pyramid_png(pyramid_frame(result, year, chosen),
                                       title=f"Altersaufbau {place} {year} ({kind})"
                                             + (" (synthetische Daten)" if synthetic else ""),
                                       compare_label=f"Bestand {result.base_year}" if year > result.base_year else None,
                                       synthetic=synthetic, source=source_line(APP_ID) or None,
                                       canvas=chart.canvas),
            export_filename(APP_ID, "altersaufbau", place, str(year)))

    def show_selection(self) -> None:
        """What depends on the chosen district and year: table, charts, key figures."""
        self.table.show(self.current_table())
        self.show_chart()
        self.show_pyramid()
        self.figures.value = key_figures_html(key_figures(self.result, self.chosen(), int(self.year.value),
                                                          self.selection()))
        self.table.update_downloads()

    def show_backtest(self, change=None) -> None:
        """The back-test section (first opened: computed from the observed years)."""
        if change is not None and change.get("new") != 0:
            return
        try:
            backtest = self.backtest()
        except ValueError as error:
            self.backtest_view.value = f'<div class="bif-help">Rückblick nicht möglich: {html.escape(str(error))}</div>'
            return
        lines = self.quality.compute_backtest() or []
        head = lines[0] if lines else backtest.headline
        self.backtest_view.value = (f"<p><b>{html.escape(head)}</b></p>"
                                    + html_table(backtest_years_table(backtest))
                                    + html_table(backtest_table(backtest, self.names)))

    def _on_district(self, change) -> None:
        if self.map is not None and self.map.selected != self.chosen():
            self.map.selected = self.chosen()
        self.refresh(recompute=False, overview=False)

    def _on_chart_kind(self, change) -> None:
        with self.status.working():
            self.show_chart()

    def _on_map_click(self, change) -> None:
        self.district.value = change["new"] or 0

    def _connect(self) -> None:
        self.scenario.on_change(self.refresh)
        self.levels.on_change(self.refresh)
        for slider in self.housing_sliders.values():
            slider.observe(self.refresh, "value")
        self.housing.on_change(lambda table: self.refresh())
        self.align.observe(self.refresh, "value")
        self.horizon.observe(self.refresh, "value")
        self.year.observe(lambda change: None if self.quiet else self.refresh(recompute=False), "value")
        self.district.observe(self._on_district, "value")
        self.chart_kind.observe(self._on_chart_kind, "value")
        self.table_kind.observe(lambda change: self.refresh(recompute=False, overview=False), "value")
        self.backtest_box.observe(self.show_backtest, "selected_index")
        if self.map is not None:
            self.map.observe(self._on_map_click, "selected")
        self.refresh()

    # layout --------------------------------------------------------------------------------------

    def _layout(self) -> w.VBox:
        label = district_label()
        housing_box = w.Accordion(children=[w.VBox([
            *[ui.german_readout(slider, control.decimals, label=BOUNDS[control.key].label_de)
              for control, slider in zip(available(HOUSING_CONTROLS), self.housing_sliders.values())],
            self.housing,
            ui.help_text(f"Neue Wohnungen je {label} und Bezugsjahr; Neubürger = Wohnungen × Personen je Wohnung.")])],
            selected_index=None)
        housing_box.set_title(0, "Neubauvorhaben")
        housing_box.add_class("bif-housing-box")
        levels_box = w.Accordion(children=[w.VBox([self.levels, ui.help_text(
            "Ein eigener Wert ersetzt den Faktor bzw. Trend des Szenarios.")])], selected_index=None)
        levels_box.set_title(0, "Eigene Werte statt Faktoren")
        levels_box.add_class("bif-levels-box")
        if not self.levels.sliders:
            levels_box.layout.display = "none"
        with_map = self.map is not None
        controls = w.VBox([self.district, *([ui.help_text("oder in der Karte anklicken")] if with_map else []),
                           ui.section_title("Vorausberechnung"), self.horizon,
                           *([self.align] if self.official else []),
                           ui.section_title("Szenario und eigene Annahmen"), self.scenario, levels_box,
                           housing_box,
                           ui.section_title("Jahr für Altersaufbau und Vergleich"), self.year, self.status])
        controls.add_class("bif-controls")
        synthetic = self.quality.synthetic
        right = w.VBox([self.figures, self.map] if with_map else [self.figures])
        return ui.app(
            ui.header(self.APP_TITLE,
                      f"Vorausberechnung der Einwohner je {label} und der Gesamtstadt nach Alter: drei Szenarien und "
                      "Ihre eigenen Annahmen (Geburten, Sterblichkeit, Wanderung, Neubau). Alle Werte nach dem "
                      "Basisjahr sind Schätzungen."
                      + (" Die Daten sind synthetisch abgeleitet." if synthetic else ""),
                      synthetic=synthetic),
            ui.two_columns(controls, right),
            ui.side_by_side(w.VBox([ui.section_title("Entwicklung"), self.chart_kind, self.chart]),
                            w.VBox([ui.section_title("Altersaufbau"), self.pyramid_chart])),
            ui.section_title("Tabelle"), self.table_kind, self.table,
            self.backtest_box,
            self.quality)


def show(*, store=None) -> None:
    """Build the app and display it: the whole code of notebooks/apps/bevoelkerungsprognose.ipynb."""
    display(PrognoseApp(store=store).widget)
