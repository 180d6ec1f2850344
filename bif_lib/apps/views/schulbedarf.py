"""The app „Schulbedarfsprognose Grundschulen“ (notebooks/apps/schulbedarf.ipynb).

What it loads: the districts (names from the city profile, polygons from its boundaries
dataset: required here, schools are located in and assigned to districts by distance) and the
school directory (open; input ``schools`` of :mod:`bif_lib.apps.requirements`), and the
projection's inputs (internal) through :func:`bif_lib.loaders.load_projection_inputs`.

What it shows: pupils, classes and capacity of the city's primary schools until the target
year, for a scenario and planner-edited capacities: key figures, the map with the schools,
chart and table of the chosen school, district or the whole city. The view functions below
are pure and tested; :class:`SchulbedarfApp` holds the widgets, :func:`show` is the
notebook's call.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.display import display

from bif_lib.apps.requirements import load_input
from bif_lib.apps.views.common import (
    CITY_LABEL,
    INT,
    PCT,
    SYNTHETIC_NOTE,
    TEXT,
    YEAR,
    ViewTable,
    assumptions_text,
    district_centroids,
    district_label,
    locate_points,
    model_version,
    population_table,
    projection_model,
    round_to_total,
    slug,
)
from bif_lib.apps.views.projection_app import ProjectionApp
from bif_lib.apps.widgets import CapacityEditor, ChartView, DistrictMap, Status, TableView, charts
from bif_lib.apps.widgets import layout as ui
from bif_lib.apps.widgets.controls import ScenarioControls
from bif_lib.apps.widgets.export import export_filename
from bif_lib.apps.widgets.formatting import key_figures_html
from bif_lib.i18n import format_number, format_percent
from bif_lib.planning._common import title_de
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

# --- view functions (pure) ------------------------------------------------------------------------

def primary_schools(schools: pd.DataFrame, districts, *, municipal_only: bool = True) -> pd.DataFrame:
    """The primary schools the model projects: school_id, name, district_id, pupils, grades, lat, lon.

    Default: primary schools without private flag (the city's own Grundschulen); schools in
    private ownership enter through the calibrated entry rate instead.
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
                "Mittelpunkt des Gebiets / 1,5 km); Schuleinzugsbereiche sind nicht hinterlegt")


def gravity_assignment(schools: pd.DataFrame, districts) -> pd.DataFrame:
    """Default district → school shares from distance (documented in docs/planning-models.md)."""
    table = default_assignment(schools, district_centroids(districts),
                               district_ids=tuple(sorted(districts["district_id"].astype(int))))
    table.attrs["note"] = GRAVITY_NOTE
    return table


_SHOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shown_schools(result: SchoolDemandResult) -> pd.DataFrame:
    """``result.schools`` with ``pupils`` as the whole numbers people see: rounded per year so
    that the schools add up to the rounded total of all schools
    (:func:`~bif_lib.apps.views.common.round_to_total`); ``pupils_exact`` keeps the model's
    value (utilisation and status stay the model's). Built once per result."""
    if result in _SHOWN:
        return _SHOWN[result]
    table = result.schools.copy()
    table["pupils_exact"] = table["pupils"]
    table["pupils"] = round_to_total(table["pupils"].to_numpy(float), table["year"].to_numpy())
    _SHOWN[result] = table
    return table


def _first_over(table: pd.DataFrame) -> pd.Series:
    over = table[table["over_capacity"].fillna(False).astype(bool)]
    return over.groupby("school_id")["year"].min()


def school_overview(result: SchoolDemandResult, schools: pd.DataFrame, names: Mapping[int, str],
                    year: int, school_ids: Sequence[str] | None = None,
                    selected: str | None = None) -> ViewTable:
    """One row per school: pupils in the base and the chosen year, classes, capacity,
    utilisation, first year over capacity, capacity source ('Schätzung' / 'Eingabe').
    Pupils as shown: whole numbers that add up over the schools (:func:`shown_schools`)."""
    table = shown_schools(result)
    base_year = int(table["year"].min())
    horizon = int(table["year"].max())
    ids = list(schools["school_id"] if school_ids is None else school_ids)
    now = table[table["year"] == year].set_index("school_id").reindex(ids)
    base = table[table["year"] == base_year].set_index("school_id")["pupils"].reindex(ids)
    first_over = _first_over(table).reindex(ids)
    peak = table.loc[table["school_id"].isin(ids)].sort_values("utilisation", ascending=False)
    peak = peak.drop_duplicates("school_id").set_index("school_id").reindex(ids)
    district = schools.set_index("school_id")["district_id"].reindex(ids)
    label = district_label()
    frame = pd.DataFrame({
        "Schule": now["name"].to_numpy(),
        label: [names.get(int(d), "–") for d in district],
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
    formats = {"Schule": TEXT, label: TEXT, f"Schüler {base_year}": INT, f"Schüler {year}": INT,
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
        notes.insert(0, "In der Auswahl liegt keine städtische Grundschule; die Kinder dieses Gebiets "
                        "werden den Schulen der Umgebung zugeordnet (siehe „Daten & Qualität“).")
    return ViewTable(frame, formats, title_de(f"Grundschulen {year}: Schüler und Kapazität", result.synthetic),
                     notes=notes, highlight=highlight, selected=[i == selected for i in ids],
                     synthetic=result.synthetic, filename=slug(f"grundschulen {year}"))


def school_years(result: SchoolDemandResult, school_ids: Sequence[str], label: str) -> ViewTable:
    """Year by year for one school or the sum of several: pupils (as in :func:`school_overview`),
    classes, capacity; utilisation from the model's pupils (as the status)."""
    shown = shown_schools(result)
    table = shown[shown["school_id"].isin(list(school_ids))]
    grouped = table.groupby("year").agg(pupils=("pupils", "sum"), pupils_exact=("pupils_exact", "sum"),
                                        classes=("classes", "sum"),
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
    places = frame["Plätze"].where(frame["Plätze"] > 0).to_numpy(float)
    frame["Auslastung"] = grouped["pupils_exact"].to_numpy(float) / places * 100
    frame["über Kapazität"] = np.where(over.reindex(grouped.index).to_numpy(), "ja", "nein")
    formats = {"Jahr": YEAR, "Schüler": INT, "Klassen": INT, "Klassenräume": INT, "Plätze": INT,
               "Auslastung": PCT, "über Kapazität": TEXT}
    notes = ["Schuljahr ab August des Jahres; Kinder im Alter von 6 Jahren am 31.12. als Einschulungsjahrgang."]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    return ViewTable(frame, formats, title_de(f"{label}: Schüler und Kapazität je Jahr", result.synthetic),
                     notes=notes, highlight=(frame["über Kapazität"] == "ja").tolist(), synthetic=result.synthetic,
                     filename=slug(f"schulbedarf {label}"))


def school_chart_data(result: SchoolDemandResult, school_ids: Sequence[str],
                      years: ViewTable | None = None) -> pd.DataFrame:
    """year, pupils, capacity_places, classes, capacity_classes summed over ``school_ids``
    (``years``: their :func:`school_years` table, if already built)."""
    years = (years or school_years(result, school_ids, "")).frame
    return pd.DataFrame({"year": years["Jahr"], "pupils": years["Schüler"], "capacity_places": years["Plätze"],
                         "classes": years["Klassen"], "capacity_classes": years["Klassenräume"]})


def school_assumptions_text(result: SchoolDemandResult, capacities: pd.DataFrame) -> dict[str, str]:
    rates = sorted(set(result.assumptions["entry_rate"].values()))
    estimated = int((capacities["capacity_source"] == SOURCE_ESTIMATE).sum())
    entered = int((capacities["capacity_source"] == SOURCE_INPUT).sum())
    out = {
        "Einschulungsquote": ", ".join(format_percent(r, 1) for r in rates)
                             + f" ({result.assumptions['entry_rate_source']})",
        "Einschulungsjahrgang": result.assumptions["children_at_entry_age"],
        f"Zuordnung {district_label()} → Schule": (GRAVITY_NOTE if result.assumptions["assignment_source"] == "vorgegeben"
                                          else result.assumptions["assignment_source"]),
        "Schüler im Basisjahr": result.assumptions["base_pupils"],
        "Kapazitäten": f"{estimated} geschätzt („Schätzung“), {entered} eingegeben („Eingabe“)",
    }
    for row in capacities[capacities["capacity_source"] == SOURCE_INPUT].itertuples(index=False):
        out[f"Kapazität {row.name}"] = (f"{format_number(float(row.streams), None)} Züge × "
                                        f"{format_number(float(row.class_size), None)} Kinder je Klasse (Eingabe)")
    return out


def school_points(result: SchoolDemandResult, schools: pd.DataFrame, year: int,
                  selected: str | None = None) -> pd.DataFrame:
    """Map points: id, lat, lon, label (German), over (over capacity in any year until ``year``),
    radius (selected school larger)."""
    shown = shown_schools(result)
    table = shown[shown["year"] <= year]
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
    table = shown_schools(result)  # totals = sums of the rows people see
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


# --- the app ------------------------------------------------------------------------------------

# the city's own remarks (school year of the directory, which schools are not municipal …):
# apps.schulbedarf.notes of the city profile, shown after these
QUALITY_NOTES = [
    "Modelliert werden die Grundschulen in kommunaler Trägerschaft; Schulen in freier Trägerschaft gehen "
    "über die Einschulungsquote ein.",
    "Schülerzahlen des Basisjahres: Schulverzeichnis.",
    "Kapazitäten sind nicht veröffentlicht: „Schätzung“ aus heutigen Schülerzahlen, bitte durch die "
    "tatsächliche Zügigkeit ersetzen (Tabelle „Kapazitäten“)."]
MAP_LEGEND = {True: "über Kapazität", False: "ausreichend", None: "Kapazität unbekannt"}
APP_ID, APP_TITLE = "schulbedarf", "Schulbedarfsprognose Grundschulen"


def app_model() -> str:
    return model_version(projection_model(), "Schulbedarf (Einschulung, Jahrgänge, Klassen und Kapazität je "
                                             "Grundschule; docs/planning-models.md)")


class SchulbedarfApp(ProjectionApp):
    """The widgets of the app and their reactions. ``widget`` is the page (shown by :func:`show`)."""

    APP_ID, APP_TITLE, QUALITY_NOTES = APP_ID, APP_TITLE, QUALITY_NOTES

    def __init__(self, *, store=None):
        self.MODEL = app_model()
        super().__init__(store=store)

    def load_own(self, store) -> list:
        if self.districts is None:
            raise ValueError(f"Die Schulbedarfsprognose braucht die Grenzen der {district_label(plural=True)} "
                             "(districts.boundaries im Stadtprofil): ohne sie lassen sich die Schulen keinem Gebiet "
                             "zuordnen.")
        self.schools_open = load_input(APP_ID, "schools", store=store)
        self.schools = primary_schools(self.schools_open, self.districts)
        self.assignment = gravity_assignment(self.schools, self.districts)
        return [self.schools_open]

    # controls ------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        base_year = self.projector.base_year
        self.scenario = ScenarioControls("medium")
        self.horizon = w.IntSlider(value=base_year + 10, min=base_year + 1, max=base_year + 20,
                                   description="Zieljahr", continuous_update=False,
                                   style={"description_width": "80px"}, layout=w.Layout(width="100%"))
        self.district = ui.dropdown(district_label(),
                                    [(f"– alle {district_label(plural=True)} –", 0)]
                                    + [(n, i) for i, n in self.names.items()])
        self.school = ui.dropdown("Schule", [("– alle Schulen –", "")])
        for widget, css in ((self.horizon, "bif-horizon"), (self.district, "bif-district-select"),
                            (self.school, "bif-school-select")):
            widget.add_class(css)
        self.capacities = CapacityEditor(default_capacities(self.schools))
        self.status = Status()
        self.school_map = DistrictMap(self.districts, height="360px", names=self.names, label=district_label(),
                                      label_plural=district_label(plural=True))
        self.chart = ChartView()
        self.figures = w.HTML()
        self.table = TableView(table_id="bif-schultabelle", export_info=self.export_info)
        self.quiet = ui.Guard()
        self.result: SchoolDemandResult | None = None
        self.version = 0  # charts of a selection are redrawn only for a new result

    # reactions -----------------------------------------------------------------------------------

    def selection(self) -> str:
        """The chosen school's name, else the chosen district's, else „Gesamtstadt“."""
        if self.school.value:
            return str(self.schools.set_index("school_id").loc[self.school.value, "name"])
        return self.names[self.district.value] if self.district.value else CITY_LABEL

    def selected_schools(self) -> list[str]:
        if self.school.value:
            return [self.school.value]
        return list(schools_in(self.schools, self.district.value)["school_id"])

    def fill_school_choices(self) -> None:
        first = f"– alle Schulen im {district_label()} –" if self.district.value else "– alle Schulen –"
        with self.quiet:
            ui.replace_options(self.school, [(first, "")] + [
                (r.name, r.school_id) for r in schools_in(self.schools, self.district.value).itertuples()])

    def compute(self) -> None:
        assumptions = self.scenario.assumptions()
        horizon, base_year = self.horizon.value, self.projector.base_year
        population = population_table(self.projector.project(assumptions, horizon), ages=[6])
        result = school_demand(population, self.schools, self.capacities.table, base_year=base_year,
                               horizon_year=horizon, assignment=self.assignment,
                               inputs=self.inputs.parameters.inputs)
        self.result = result
        self.version += 1
        self.figures.value = key_figures_html(school_key_figures(result, horizon))
        self.quality.set_assumptions({**assumptions_text(assumptions, base_year=base_year, end_year=horizon),
                                      **school_assumptions_text(result, self.capacities.table)})

    def show_results(self) -> None:
        """Table, chart and map points of the chosen school, district or the whole city."""
        result, ids = self.result, self.selected_schools()
        school, horizon = self.school.value, self.horizon.value
        label = selection_label(self.schools, self.names, self.district.value, school)
        years = school_years(result, ids, label)
        self.table.show(years if school else school_overview(result, self.schools, self.names, horizon, ids))
        chart = self.chart
        chart.update(
            (self.version, tuple(ids), label),
            lambda: charts.capacity_png(school_chart_data(result, ids, years), synthetic=result.synthetic,
                                        title=f"{label}: Schüler und Plätze bis {horizon}" if ids else
                                        f"{label}: keine städtische Grundschule im {district_label()}",
                                        source=("Bevölkerung: synthetisch abgeleitet" if result.synthetic
                                                else "Bevölkerung: Vorausberechnung") + "; Schulen: Schulverzeichnis",
                                        canvas=chart.canvas),
            export_filename(APP_ID, label, f"bis {horizon}", self.scenario.assumptions().label_de))
        self.school_map.set_points(school_points(result, self.schools, horizon, school), name="Grundschulen")
        self.table.update_downloads()

    def refresh(self, change=None, recompute: bool = True) -> None:
        if self.quiet:
            return
        with self.status.working():
            if recompute:
                self.compute()
            self.show_results()

    def _on_district(self, change) -> None:
        if self.quiet:
            return
        self.fill_school_choices()
        with self.quiet:
            self.school_map.selected = self.district.value or None
        self.refresh(recompute=False)

    def _on_map_district(self, change) -> None:
        if not self.quiet:
            self.district.value = change["new"] or 0

    def _on_map_school(self, change) -> None:
        if self.quiet or change["new"] is None:
            return
        row = self.schools.set_index("school_id").loc[change["new"]]
        with self.quiet:
            self.district.value = int(row["district_id"])
            self.school_map.selected = int(row["district_id"])
        self.fill_school_choices()
        self.school.value = change["new"]

    def _connect(self) -> None:
        self.scenario.on_change(self.refresh)
        self.horizon.observe(self.refresh, "value")
        self.capacities.on_change(lambda table: self.refresh())
        self.district.observe(self._on_district, "value")
        self.school.observe(lambda change: self.refresh(recompute=False), "value")
        self.school_map.observe(self._on_map_district, "selected")
        self.school_map.observe(self._on_map_school, "selected_point")
        self.school_map.set_plain()
        self.school_map.point_legend("Grundschulen bis zum Zieljahr", MAP_LEGEND)
        self.fill_school_choices()
        self.refresh()

    # layout --------------------------------------------------------------------------------------

    def _layout(self) -> w.VBox:
        controls = w.VBox([ui.section_title("Szenario"), self.scenario, ui.section_title("Zeitraum"), self.horizon,
                           self.district, self.school,
                           ui.help_text(f"Schule oder {district_label()} auch in der Karte anklicken."), self.status])
        controls.add_class("bif-controls")
        return ui.app(
            ui.header(APP_TITLE,
                      "Schülerinnen und Schüler, Klassen und Kapazität der städtischen Grundschulen bis zum Zieljahr."
                      + (" Die Bevölkerungsvorausberechnung beruht auf synthetisch abgeleiteten Daten."
                         if self.quality.synthetic else ""),
                      synthetic=self.quality.synthetic),
            ui.two_columns(controls, w.VBox([self.figures, self.school_map])),
            ui.side_by_side(w.VBox([ui.section_title("Schüler und Kapazität"), self.chart]),
                            w.VBox([ui.section_title("Kapazitäten (bearbeitbar)"),
                                    ui.help_text("Züge und Klassengröße je Schule; Änderungen werden sofort berechnet."),
                                    self.capacities]), basis=("440px", "480px")),
            ui.section_title("Tabelle"), self.table,
            self.quality)


def show(*, store=None) -> None:
    """Build the app and display it: the whole code of notebooks/apps/schulbedarf.ipynb."""
    display(SchulbedarfApp(store=store).widget)
