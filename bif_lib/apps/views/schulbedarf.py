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

The model's city-specific values come from the profile (``apps.schulbedarf.model``:
school-entry cut-off, class size, headroom of estimated capacities, the Träger whose schools
are planned, distance decay of the assignment's start values); the capacities from the school
office's dataset (input ``capacities``, contract ``schulkapazitaeten``) where the store has it,
else estimated and labelled „geschätzte Kapazität“. Calibration (entry rate pooled over the
grade 1-4 cohorts, municipal share, assignment fitted to today's enrolment) runs once per
base-year population (docs/planning-models.md).
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
    ESTIMATE_LABEL,
    SOURCE_ESTIMATE,
    SOURCE_INPUT,
    STATUS_OVER,
    EntryCalibration,
    SchoolDemandResult,
    SchoolSettings,
    calibrate_entry_rate,
    cutoff_share,
    default_assignment,
    entrants_check,
    estimate_capacities,
    fit_assignment,
    municipal_flags,
    project_school_demand,
    pupils_in_grades,
    school_cohorts,
)

SOURCE_OFFICE = "Schulamt"  # capacity from the school office's dataset (contract schulkapazitaeten)
# defaults of apps.schulbedarf.model (a city profile states its own; docs/city-profiles.md)
MODEL_DEFAULTS = {"school_entry_cutoff": "31.12.", "class_size": 25, "capacity_headroom": 0.10,
                  "municipal_operators": None, "distance_decay_km": 1.5}


def model_settings(profile=None) -> dict:
    """``apps.schulbedarf.model`` of the city profile, defaults filled in; the school-entry cut-off
    from ``planning.school_entry_cutoff`` (shared with the day-care model) unless the section
    states its own; adds ``cutoff_share``."""
    if profile is None:
        from bif_lib.apps.views.common import city_profile

        profile = city_profile()
    own = (profile.app("schulbedarf") or {}).get("model") or {}
    unknown = set(own) - set(MODEL_DEFAULTS)
    if unknown:
        raise ValueError(f"Stadtprofil apps.schulbedarf.model: unbekannte Angaben {sorted(unknown)}; "
                         f"erlaubt: {', '.join(MODEL_DEFAULTS)}.")
    settings = {**MODEL_DEFAULTS, **own}
    if "school_entry_cutoff" not in own:  # one cut-off for schools and day care: planning.school_entry_cutoff
        settings["school_entry_cutoff"] = (profile.settings.get("planning") or {}).get(
            "school_entry_cutoff", MODEL_DEFAULTS["school_entry_cutoff"])
    settings["cutoff_share"] = cutoff_share(settings["school_entry_cutoff"])
    return settings

# --- view functions (pure) ------------------------------------------------------------------------

def primary_schools(schools: pd.DataFrame, districts, *, municipal_only: bool = True,
                    operators: Sequence[str] | None = None) -> pd.DataFrame:
    """The primary schools the model projects: school_id, name, district_id, pupils, grades, lat, lon.

    Default: the city's own Grundschulen - Schulträger in ``operators`` (the profile's
    ``municipal_operators``), without such a list the primary schools without private flag.
    Schools of other Träger are counted in the calibration (:func:`entry_calibration`): their
    share of the pupils lowers the municipal entry rate.
    """
    chosen = schools[schools["primary_school"].fillna(False).astype(bool)]
    if municipal_only:
        chosen = chosen[municipal_flags(chosen, operators).to_numpy()]
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


def default_capacities(schools: pd.DataFrame, class_size: float = 25, headroom: float = 0.0,
                       office: pd.DataFrame | None = None,
                       grade_weights: Sequence[float] | None = None) -> pd.DataFrame:
    """Editable capacity table: school_id, name, streams, class_size, classrooms, capacity_source.

    The school office's capacities (``office``: the dataset ``schulkapazitaeten``: school_id,
    streams, [classrooms], [class_size]) where given ('Schulamt'); every other school estimated
    with the stated headroom: streams = ceil(largest grade / class size x (1 + headroom))
    ('Schätzung', :func:`~bif_lib.planning.schools.estimate_capacities`; the app passes the
    profile's headroom).
    """
    estimate = estimate_capacities(schools, class_size=class_size, headroom=headroom, grade_weights=grade_weights)
    table = schools[["school_id", "name"]].merge(estimate, on="school_id", how="left")
    table["classrooms"] = np.nan
    if office is not None and len(office):
        given = office.drop_duplicates("school_id", keep="last").set_index("school_id")
        rows = table["school_id"].isin(given.index)
        ids = table.loc[rows, "school_id"]
        table.loc[rows, "streams"] = given.loc[ids, "streams"].astype(float).to_numpy()
        if "class_size" in given:
            sizes = given.loc[ids, "class_size"].astype(float)
            table.loc[rows, "class_size"] = sizes.fillna(class_size).to_numpy()
        if "classrooms" in given:
            table.loc[rows, "classrooms"] = given.loc[ids, "classrooms"].astype(float).to_numpy()
        table.loc[rows, "capacity_source"] = SOURCE_OFFICE
    return table[["school_id", "name", "streams", "class_size", "classrooms", "capacity_source"]]


def capacities_estimated(capacities: pd.DataFrame) -> bool:
    """True if any capacity is an estimate (then headline, chart and export say „geschätzte Kapazität“)."""
    return bool((capacities["capacity_source"] == SOURCE_ESTIMATE).any())


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
                  entry_rate: EntryCalibration | float | None = None, entry_cutoff_share: float = 1.0,
                  capacity_headroom: float | None = None, follow_cohorts: bool = False) -> SchoolDemandResult:
    """Primary-school demand with the planner's capacities (places = classrooms, else
    streams × 4, × class size). ``entry_rate``: the calibration (:func:`entry_calibration`)."""
    columns = [c for c in ("school_id", "streams", "class_size", "classrooms", "capacity_source")
               if c in capacities.columns]
    result = project_school_demand(population, schools, base_year=base_year, horizon_year=horizon_year,
                                   capacities=capacities[columns], assignment=assignment, entry_rate=entry_rate,
                                   settings=SchoolSettings(class_size_max=class_size, follow_cohorts=follow_cohorts,
                                                           entry_cutoff_share=entry_cutoff_share),
                                   inputs=inputs, assignment_note=(assignment.attrs.get("note")
                                                                   if assignment is not None else None))
    if capacity_headroom is not None:
        result.assumptions["capacity_headroom"] = float(capacity_headroom)
    return result


def gravity_note(decay_km: float = 1.5, fitted: Mapping[str, Any] | None = None) -> str:
    text = (f"Schwerkraftmodell: Anteil einer Schule ∝ exp(−Entfernung zum Mittelpunkt des Gebiets / "
            f"{format_number(decay_km, None)} km); Schuleinzugsbereiche sind nicht hinterlegt")
    if fitted:
        text += (f"; an die heutigen Schülerzahlen angepasst (iterative proportionale Anpassung, "
                 f"{fitted['iterations']} Schritte): jede Schule erhält im Basisjahr rechnerisch genau ihre "
                 f"Schülerzahl")
    return text


GRAVITY_NOTE = gravity_note()


def gravity_assignment(schools: pd.DataFrame, districts, *, decay_km: float = 1.5,
                       demand: Mapping[int, float] | pd.Series | None = None) -> pd.DataFrame:
    """District → school shares from distance (documented in docs/planning-models.md); with
    ``demand`` (pupils of these schools living in each district) fitted by IPF so that every
    school's modelled base-year pupils equal its actual pupils (grades 1–4)."""
    seed = default_assignment(schools, district_centroids(districts), distance_decay_km=decay_km,
                              district_ids=tuple(sorted(districts["district_id"].astype(int))))
    if demand is None:
        seed.attrs["note"] = gravity_note(decay_km)
        return seed
    pupils = pd.Series(pupils_in_grades(schools).fillna(0.0).to_numpy(), index=schools["school_id"].to_numpy())
    fitted = fit_assignment(seed, demand, pupils)
    fitted.attrs["note"] = gravity_note(decay_km, fitted.attrs["ipf"])
    return fitted


def entry_calibration(all_schools: pd.DataFrame, population: pd.DataFrame, base_year: int,
                      settings: Mapping[str, Any]) -> tuple[EntryCalibration, pd.Series]:
    """The entry rate pooled over the grade 1–4 cohorts (every school of the directory counted,
    municipal by the profile's Träger) and the pupils of the municipal schools per district
    (rate × the district's children of those cohorts: the row targets of the assignment)."""
    base = population[population["year"] == base_year]
    calibration = calibrate_entry_rate(all_schools, base, base_year=base_year,
                                       operators=settings.get("municipal_operators"),
                                       cutoff_share=settings["cutoff_share"])
    cohorts = school_cohorts(base, [base_year], cutoff_share=settings["cutoff_share"])
    demand = cohorts.groupby("district_id")["children"].sum() * calibration.rate
    return calibration, demand


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
    notes = ["Klassenräume = Angabe des Schulamts, sonst Züge × 4 Jahrgänge; Plätze = Klassenräume × Klassengröße.",
             "Rot markiert: Schule bis zum Zieljahr über Kapazität (Schüler > Plätze oder Klassen > Klassenräume)."]
    estimated = bool((now["capacity_source"] == SOURCE_ESTIMATE).any())
    if estimated:
        notes.append(estimate_note(result))
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    if not ids:
        notes.insert(0, "In der Auswahl liegt keine städtische Grundschule; die Kinder dieses Gebiets "
                        "werden den Schulen der Umgebung zugeordnet (siehe „Daten & Qualität“).")
    title = f"Grundschulen {year}: Schüler und Kapazität" + (f" ({ESTIMATE_LABEL})" if estimated else "")
    return ViewTable(frame, formats, title_de(title, result.synthetic),
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
    notes = [f"Schuljahr ab August des Jahres; Einschulungsjahrgang: {result.assumptions['children_at_entry_age']}."]
    estimated = bool((table["capacity_source"] == SOURCE_ESTIMATE).any())
    if estimated:
        notes.append(estimate_note(result))
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    title = f"{label}: Schüler und Kapazität je Jahr" + (f" ({ESTIMATE_LABEL})" if estimated else "")
    return ViewTable(frame, formats, title_de(title, result.synthetic),
                     notes=notes, highlight=(frame["über Kapazität"] == "ja").tolist(), synthetic=result.synthetic,
                     filename=slug(f"schulbedarf {label}"))


def school_chart_data(result: SchoolDemandResult, school_ids: Sequence[str],
                      years: ViewTable | None = None) -> pd.DataFrame:
    """year, pupils, capacity_places, classes, capacity_classes summed over ``school_ids``
    (``years``: their :func:`school_years` table, if already built)."""
    years = (years or school_years(result, school_ids, "")).frame
    return pd.DataFrame({"year": years["Jahr"], "pupils": years["Schüler"], "capacity_places": years["Plätze"],
                         "classes": years["Klassen"], "capacity_classes": years["Klassenräume"]})


def estimate_note(result: SchoolDemandResult | None = None, headroom: float | None = None) -> str:
    """What „geschätzte Kapazität“ means (the headroom rule the app used)."""
    if headroom is None and result is not None:
        headroom = result.assumptions.get("capacity_headroom")
    rule = ("Züge = größter Jahrgang ÷ Klassengröße"
            + (f" × {format_number(1 + headroom, 2)} (Reserve {format_percent(headroom, 0)})" if headroom else "")
            + ", aufgerundet")
    return (f"{ESTIMATE_LABEL[0].upper()}{ESTIMATE_LABEL[1:]} („Schätzung“): die Zügigkeit liegt nicht vor, sie ist aus der heutigen "
            f"Schülerzahl geschätzt ({rule}) – bitte durch die Züge des Schulamts ersetzen (Datensatz "
            f"schulkapazitaeten oder Tabelle „Kapazitäten“).")


def school_assumptions_text(result: SchoolDemandResult, capacities: pd.DataFrame) -> dict[str, str]:
    rates = sorted(set(result.assumptions["entry_rate"].values()))
    estimated = int((capacities["capacity_source"] == SOURCE_ESTIMATE).sum())
    entered = int((capacities["capacity_source"] == SOURCE_INPUT).sum())
    office = int((capacities["capacity_source"] == SOURCE_OFFICE).sum())
    out = {
        "Einschulungsquote": ", ".join(format_percent(r, 1) for r in rates)
                             + f" ({result.assumptions['entry_rate_source']})",
        "Einschulungsjahrgang": result.assumptions["children_at_entry_age"],
        f"Zuordnung {district_label()} → Schule": (GRAVITY_NOTE if result.assumptions["assignment_source"] == "vorgegeben"
                                          else result.assumptions["assignment_source"]),
        "Schüler im Basisjahr": result.assumptions["base_pupils"],
        "Übergang in die nächste Klasse": result.assumptions.get("progression_source", ""),
        "Kapazitäten": (f"{office} vom Schulamt, {estimated} geschätzt („Schätzung“, {ESTIMATE_LABEL}), "
                        f"{entered} eingegeben („Eingabe“)"),
    }
    calibration = result.assumptions.get("entry_calibration")
    if calibration:
        out["Schulen anderer Träger (mitgezählt)"] = (
            f"{format_number(calibration['other_pupils'])} Schüler der Klassen 1–4 in "
            f"{len(calibration['other_schools'])} Schulen ({', '.join(calibration['other_schools'])}); städtischer "
            f"Anteil {format_percent(calibration['municipal_share'], 1)}")
        if calibration["not_counted"]:
            out["Nicht gezählt (ohne Jahrgangsangabe)"] = ", ".join(calibration["not_counted"])
    if estimated and result.assumptions.get("capacity_headroom") is not None:
        out["Geschätzte Kapazität"] = estimate_note(result)
    check = entrants_check(result)
    if check["observed"] > 0:
        out["Plausibilität Einschulungen"] = (
            f"{check['year']}: {format_number(check['projected'])} gegenüber {format_number(check['observed'])} im "
            f"Basisjahr {check['base_year']} ({'+' if check['change'] >= 0 else '−'}"
            f"{format_percent(abs(check['change']), 1)}; "
            + ("innerhalb" if check["within"] else "AUSSERHALB")
            + f" des Bands ±{format_percent(check['band'], 0)})")
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
    figures = {f"Schüler {base_year}": format_number(table.loc[table["year"] == base_year, "pupils"].sum()),
               f"Schüler {year}": format_number(table.loc[table["year"] == year, "pupils"].sum()),
               f"Schulen über Kapazität bis {year}": f"{len(over)} von {table['school_id'].nunique()}"}
    estimated = table.loc[table["year"] == base_year, "capacity_source"].eq(SOURCE_ESTIMATE)
    if estimated.any():
        figures["Kapazität"] = f"{ESTIMATE_LABEL} ({int(estimated.sum())} von {len(estimated)} Schulen)"
    return figures


def selection_label(schools: pd.DataFrame, names: Mapping[int, str], district_id: int | None,
                    school_id: str | None) -> str:
    if school_id:
        return str(schools.set_index("school_id").loc[school_id, "name"])
    if district_id:
        return f"Grundschulen in {names[district_id]}"
    return "alle städtischen Grundschulen"


def schools_in(schools: pd.DataFrame, district_id: int | None) -> pd.DataFrame:
    return schools if not district_id else schools[schools["district_id"] == district_id]


CALIBRATION_AGES = tuple(range(6, 12))  # entry cohort (6, 7) and the grade 1-4 cohorts (6-10) at 31.12.


def load_office_capacities(store=None) -> pd.DataFrame | None:
    """The school office's capacities (input ``capacities``, contract schulkapazitaeten), or None
    if the store does not hold them (then the app estimates and says so)."""
    from bif_lib.store import DatasetNotFound

    try:
        return load_input(APP_ID, "capacities", store=store)
    except DatasetNotFound:
        return None


# --- the app ------------------------------------------------------------------------------------

# the city's own remarks (school year of the directory, which schools are not municipal …):
# apps.schulbedarf.notes of the city profile, shown after these
QUALITY_NOTES = [
    ("Modelliert werden die Grundschulen in kommunaler Trägerschaft. Schulen anderer Träger (freie und "
     "Minderheitenschulen) werden mitgezählt: ihr Anteil an den Schülern der Klassen 1–4 verringert die "
     "Einschulungsquote der städtischen Schulen."),
    ("Einschulungsquote: gepoolt über die vier Jahrgänge der Klassen 1–4 (Schüler ÷ Kinder der passenden "
     "Geburtsjahrgänge nach dem Einschulungsstichtag), nicht aus einem einzelnen Jahrgang."),
    ("Schülerzahlen des Basisjahres: Schulverzeichnis (Summe je Schule; nach der Größe der Jahrgänge auf die "
     "Klassen 1–4 verteilt).")]
CAPACITY_NOTE_OFFICE = "Kapazitäten: Züge und Klassenräume des Schulamts (Datensatz schulkapazitaeten)."
CAPACITY_NOTE_ESTIMATE = (f"Kapazitäten liegen nicht vor (Datensatz schulkapazitaeten fehlt): {ESTIMATE_LABEL} aus "
                          "heutigen Schülerzahlen mit Reserve, bitte durch die tatsächliche Zügigkeit ersetzen "
                          "(Tabelle „Kapazitäten“).")
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
        self.model = model_settings()
        self.schools_open = load_input(APP_ID, "schools", store=store)
        self.schools = primary_schools(self.schools_open, self.districts,
                                       operators=self.model["municipal_operators"])
        self.office = load_office_capacities(store)
        own = [self.schools_open] + ([self.office] if self.office is not None else [])
        self.QUALITY_NOTES = [*QUALITY_NOTES, CAPACITY_NOTE_OFFICE if self.office is not None else CAPACITY_NOTE_ESTIMATE]
        self._calibrated: dict[bytes, tuple] = {}  # per base-year population: (calibration, assignment)
        return own

    def calibrated(self, population: pd.DataFrame, base_year: int) -> tuple[EntryCalibration, pd.DataFrame]:
        """Entry rate and fitted assignment for this base-year population (computed once per base)."""
        base = population[population["year"] == base_year]
        key = base["population"].to_numpy(float).tobytes()
        if key not in self._calibrated:
            calibration, demand = entry_calibration(self.schools_open, base, base_year, self.model)
            assignment = gravity_assignment(self.schools, self.districts, decay_km=self.model["distance_decay_km"],
                                            demand=demand)
            self._calibrated[key] = (calibration, assignment)
        return self._calibrated[key]

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
        # the first projection (cached: the first compute() reuses it) gives the base-year cohorts
        first = population_table(self.projector.project(self.scenario.assumptions(), self.horizon.value),
                                 ages=CALIBRATION_AGES)
        calibration, self.assignment = self.calibrated(first, base_year)
        self.capacities = CapacityEditor(default_capacities(
            self.schools, class_size=self.model["class_size"], headroom=self.model["capacity_headroom"],
            office=self.office, grade_weights=calibration.grade_weights))
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
        population = population_table(self.projector.project(assumptions, horizon), ages=CALIBRATION_AGES)
        calibration, self.assignment = self.calibrated(population, base_year)
        result = school_demand(population, self.schools, self.capacities.table, base_year=base_year,
                               horizon_year=horizon, assignment=self.assignment, class_size=self.model["class_size"],
                               inputs=self.inputs.parameters.inputs, entry_rate=calibration,
                               entry_cutoff_share=self.model["cutoff_share"],
                               capacity_headroom=self.model["capacity_headroom"], follow_cohorts=True)
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
        caps = self.capacities.table
        estimated = capacities_estimated(caps[caps["school_id"].isin(ids)]) if ids else False
        suffix = f" ({ESTIMATE_LABEL})" if estimated else ""
        self.table.show(years if school else school_overview(result, self.schools, self.names, horizon, ids))
        chart = self.chart
        chart.update(
            (self.version, tuple(ids), label, estimated),
            lambda: charts.capacity_png(school_chart_data(result, ids, years), synthetic=result.synthetic,
                                        title=f"{label}: Schüler und Plätze bis {horizon}{suffix}" if ids else
                                        f"{label}: keine städtische Grundschule im {district_label()}",
                                        source=("Bevölkerung: synthetisch abgeleitet" if result.synthetic
                                                else "Bevölkerung: Vorausberechnung") + "; Schulen: Schulverzeichnis"
                                               + (f"; Plätze: {ESTIMATE_LABEL}" if estimated else ""),
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
                      + (f" Kapazitäten: {ESTIMATE_LABEL} aus heutigen Schülerzahlen (Reserve "
                         f"{format_percent(self.model['capacity_headroom'], 0)}), die Züge des Schulamts liegen "
                         f"nicht vor." if capacities_estimated(self.capacities.original) else "")
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
