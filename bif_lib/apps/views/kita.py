"""The app „Kita-Versorgung nach Stadtteilen“ (notebooks/apps/kita.ipynb).

What it loads: the districts (from the city profile; polygons if the city has boundaries) and
the Kita directory (open; input ``kitas`` of :mod:`bif_lib.apps.requirements`), and the
projection's inputs (internal) through :func:`bif_lib.loaders.load_projection_inputs`.

Optional: the children in Kindertagespflege (internal input ``kindertagespflege``, maintained by
the Jugendamt; without it the app says „Kindertagespflege: keine Daten“ and the Betreuungsquote
counts Kitas only). The school-entry cut-off comes from the profile (``planning.school_entry_cutoff``,
"30.06." or "06-30"): children who reach school age after it stay in the band „3 bis Schuleintritt“.

What it shows: children under 3, from 1 to 3 (legal claim) and from 3 to school entry against
Kita places per district, today and in the projection years, for a scenario and planner-set
demand rates: the supply ratio (Versorgungsquote = Kita places ÷ children) next to the official
Betreuungsquote (children in Kitas and Kindertagespflege ÷ children of „unter 3“ or „3 bis
unter 6“, 1 March; :mod:`bif_lib.planning.daycare`), coverage map with the Kitas (only with
boundaries), chart of the chosen district, table of the gaps. The view functions below are
pure and tested; :class:`KitaApp` holds the widgets, :func:`show` is the notebook's call.
"""

from __future__ import annotations

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
    city_profile,
    district_label,
    districts_dative,
    model_version,
    population_table,
    projection_model,
    round_to_total,
    slug,
)
from bif_lib.apps.views.projection_app import ProjectionApp
from bif_lib.apps.widgets import ChartView, DistrictMap, Status, TableView, charts
from bif_lib.apps.widgets import layout as ui
from bif_lib.apps.widgets.controls import ScenarioControls
from bif_lib.apps.widgets.export import export_filename
from bif_lib.apps.widgets.formatting import key_figures_html
from bif_lib.i18n import format_number, format_percent
from bif_lib.planning._common import title_de
from bif_lib.planning.daycare import (
    BAND_LABELS_DE,
    CARE_3_TO_6,
    CARE_GROUP_LABELS_DE,
    CARE_GROUP_OF_BAND,
    CLAIM_1_TO_3,
    STATUS_COVERED,
    STATUS_GAP,
    THREE_TO_SCHOOL,
    UNDER_3,
    DaycareResult,
    DemandRates,
    PlaceRule,
    cutoff_text_de,
    daycare_coverage,
)
from bif_lib.store import DatasetNotFound

# --- view functions (pure) ------------------------------------------------------------------------

BANDS = [(BAND_LABELS_DE[UNDER_3], UNDER_3), (BAND_LABELS_DE[CLAIM_1_TO_3], CLAIM_1_TO_3),
         (BAND_LABELS_DE[THREE_TO_SCHOOL], THREE_TO_SCHOOL)]
KTP_ROLE = "kindertagespflege"  # optional input (internal, Jugendamt)
NO_KTP_NOTE = "Kindertagespflege: keine Daten – die Betreuungsquote enthält nur Kitas."
POPULATION_DATE_NOTE = ("Kinderzahlen: Bevölkerung am 31.12. (Melderegister bzw. Prognose), Alter in vollendeten "
                        "Jahren.")


def kitas_with_district(kitas, districts) -> pd.DataFrame:
    """Kitas with district_id (point in polygon in the stored CRS) and lat/lon for the map.

    ``districts`` None (a city without boundaries): the Kitas' own ``district_id`` column
    (0 = not assignable), lat/lon from the geometry or the Kitas' lat/lon columns."""
    if districts is None:
        out = pd.DataFrame(kitas.drop(columns="geometry", errors="ignore"))
        out["district_id"] = pd.to_numeric(out["district_id"], errors="coerce").fillna(0).astype(int).to_numpy()
        if "geometry" in getattr(kitas, "columns", ()) and getattr(kitas, "crs", None) is not None:
            wgs = kitas.geometry.to_crs(4326)
            out["lat"], out["lon"] = wgs.y.to_numpy(), wgs.x.to_numpy()
        for column in ("lat", "lon"):
            if column not in out.columns:
                out[column] = np.nan
        out.attrs["bif"] = dict(kitas.attrs.get("bif", {}))
        return out
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
            kindertagespflege: pd.DataFrame | None = None,
            inputs: Mapping[str, Any] | None = None) -> DaycareResult:
    located = kitas[kitas["district_id"] > 0]
    return daycare_coverage(population, located, years=list(years), demand=demand, rule=rule,
                            kindertagespflege=kindertagespflege, inputs=inputs)


def school_entry_cutoff(profile=None) -> str | None:
    """The profile's school-entry cut-off ``planning.school_entry_cutoff`` ("30.06." or "06-30"), or None."""
    try:
        profile = profile or city_profile()
        value = (profile.settings.get("planning") or {}).get("school_entry_cutoff")
    except Exception:  # noqa: BLE001 - no profile: no cut-off (stated in the assumptions)
        return None
    return str(value) if value else None


def load_kindertagespflege(store=None) -> pd.DataFrame | None:
    """The children in Kindertagespflege (optional internal input), or None if the city has no such
    dataset (a department file that was not delivered) or it has no rows."""
    try:
        frame = load_input(APP_ID, KTP_ROLE, store=store)
    except DatasetNotFound:
        return None
    return None if frame.empty else frame


def kindertagespflege_text(result: DaycareResult) -> str:
    """„Kindertagespflege: …“ for key figures, notes and the assumptions."""
    if not result.has_kindertagespflege:
        return NO_KTP_NOTE
    used = sorted(set(result.assumptions["kindertagespflege"]["years_used"].values()))
    years = ", ".join(f"1.3.{y}" for y in used)
    return f"Kindertagespflege: Kinder laut Jugendamt (Stichtag {years}), in der Betreuungsquote enthalten."


def coverage_frame(result: DaycareResult, band: str, year: int) -> pd.DataFrame:
    """district_id, children, places, coverage_rate, demand, gap, status for one band and year."""
    table = result.coverage
    rows = table[(table["band"] == band) & (table["year"] == year)]
    return rows[["district_id", "children", "places", "coverage_rate", "demand_rate", "demand", "gap",
                 "status"]].reset_index(drop=True)


_SHOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CITY_ID = 0  # the city's rows in :func:`shown_coverage`
APP_ID = "kita"


def shown_coverage(result: DaycareResult) -> pd.DataFrame:
    """year, band, district_id (0 = Gesamtstadt), children, places, demand, demand_rate, gap,
    coverage_rate, status — as people see them.

    Children, places and demand are whole numbers, rounded per band and year so that the
    districts add up to the city's rounded total (:func:`~bif_lib.apps.views.common.round_to_total`);
    gap (Saldo), coverage rate and status are computed from these rounded numbers. So in every
    row and in the Gesamtstadt Saldo = Plätze − Bedarf as shown, and table, key figures and map
    agree. The Betreuungsquote (care_rate) is a rate of the unrounded numbers (children in Kitas
    and Kindertagespflege ÷ children of the official age group; NaN in the claim band). Built
    once per result.
    """
    if result in _SHOWN:
        return _SHOWN[result]
    rows = result.coverage[["year", "band", "district_id", "children", "places", "demand", "demand_rate"]].copy()
    rows["care_count"] = result.coverage["kita_children"] + result.coverage["ktp_children"]
    rows["care_children"] = result.coverage["care_children"]
    groups = rows.groupby(["year", "band"]).ngroup().to_numpy()
    for column in ("children", "places", "demand"):
        rows[column] = round_to_total(rows[column].to_numpy(float), groups)
    keys = ["year", "band"]
    city = rows.groupby(keys, as_index=False)[["children", "places", "demand", "care_count", "care_children"]].sum(
        min_count=1)
    city["demand_rate"] = city["band"].map(dict(zip(rows["band"], rows["demand_rate"])))
    city["district_id"] = CITY_ID
    shown = pd.concat([rows, city[rows.columns]], ignore_index=True)
    shown["gap"] = shown["places"] - shown["demand"]
    shown["coverage_rate"] = shown["places"] / shown["children"].where(shown["children"] > 0)
    shown["care_rate"] = shown["care_count"] / shown["care_children"].where(shown["care_children"] > 0)
    shown["status"] = np.where(shown["gap"] < 0, STATUS_GAP, STATUS_COVERED)
    shown = shown.sort_values(["year", "band", "district_id"], ignore_index=True)
    _SHOWN[result] = shown
    return shown


def _shown_rows(result: DaycareResult, band: str, year: int | None = None,
                district_id: int | None = None) -> pd.DataFrame:
    shown = shown_coverage(result)
    mask = shown["band"] == band
    if year is not None:
        mask &= shown["year"] == year
    if district_id is not None:
        mask &= shown["district_id"] == district_id
    return shown[mask]


def kita_gap_table(result: DaycareResult, band: str, year: int, names: Mapping[int, str],
                   selected: int | None = None) -> ViewTable:
    """Per district and the city: children, places, coverage, demand, gap (places − demand),
    as whole numbers that add up (:func:`shown_coverage`)."""
    label, plural, dative = district_label(), district_label(plural=True), districts_dative()
    shown = _shown_rows(result, band, year)
    rows = shown[shown["district_id"] != CITY_ID]
    city = shown[shown["district_id"] == CITY_ID].iloc[0]
    frame = pd.DataFrame({
        "Nr.": pd.array(list(rows["district_id"].astype(int)) + [pd.NA], dtype="Int64"),
        label: [names.get(int(d), str(d)) for d in rows["district_id"]] + [CITY_LABEL],
        "Kinder": list(rows["children"]) + [city["children"]],
        "Plätze": list(rows["places"]) + [city["places"]],
        "Versorgungsquote": [v * 100 for v in rows["coverage_rate"]] + [city["coverage_rate"] * 100],
        "Betreuungsquote": [v * 100 for v in rows["care_rate"]] + [city["care_rate"] * 100],
        "Bedarf": list(rows["demand"]) + [city["demand"]],
        "Saldo (Plätze − Bedarf)": list(rows["gap"]) + [city["gap"]],
        "Status": list(rows["status"]) + [city["status"]],
    })
    formats = {"Nr.": INT, label: TEXT, "Kinder": INT, "Plätze": INT, "Versorgungsquote": PCT,
               "Betreuungsquote": PCT, "Bedarf": INT, "Saldo (Plätze − Bedarf)": INT, "Status": TEXT}
    band_label = BAND_LABELS_DE[band]
    rate = float(rows["demand_rate"].iloc[0]) if len(rows) else float("nan")
    notes = [f"Altersgruppe {band_label}: {band_definition(result, band)}; Bedarf = Kinder × Bedarfsquote "
             f"({_pct_text(rate)}).",
             f"Ganze Zahlen, so gerundet, dass die {plural} die Gesamtstadt ergeben; Saldo und "
             "Versorgungsquote aus den gezeigten Zahlen.",
             f"Versorgungsquote = Kita-Plätze ÷ Kinder der Altersgruppe (Plätze je Altersgruppe aus den Gruppenarten "
             f"geschätzt, ohne Kindertagespflege). Kinder besuchen auch Kitas in anderen {dative}: Werte je "
             f"{label} sind Richtwerte, die Gesamtstadt ist exakt.",
             care_rate_note(result, band, year),
             kindertagespflege_text(result),
             POPULATION_DATE_NOTE]
    if result.synthetic:
        notes.append(SYNTHETIC_NOTE)
    highlight = [gap < 0 for gap in frame["Saldo (Plätze − Bedarf)"]]
    selected_flags = [bool(selected is not None and nr == selected) for nr in frame["Nr."].fillna(-1)]
    return ViewTable(frame, formats, title_de(f"Kita-Versorgung {year}, {band_label}", result.synthetic),
                     notes=notes, highlight=highlight, selected=selected_flags, synthetic=result.synthetic,
                     filename=slug(f"kita versorgung {year} {band_label}"))


def _pct_text(share: float) -> str:
    return format_percent(share, 0)


def band_definition(result: DaycareResult, band: str) -> str:
    """Which children a band counts, in German (ages at 31.12.; the school-entry share)."""
    if band == UNDER_3:
        return "Kinder von 0 bis 2 Jahren"
    if band == CLAIM_1_TO_3:
        return "Kinder von 1 bis 2 Jahren (Rechtsanspruch auf einen Platz ab dem 1. Geburtstag)"
    entry = result.assumptions["school_entry"]
    age = int(entry["age"])
    text = f"Kinder von 3 bis {age - 1} Jahren"
    if entry["cutoff"] is None:
        return text + f" (kein Einschulungsstichtag im Stadtprofil: alle {age}-Jährigen gelten als eingeschult)"
    return (text + f" und {format_percent(entry['share_in_kita'], 1)} der {age}-Jährigen: Wer nach dem "
            f"Einschulungsstichtag {cutoff_text_de(entry['cutoff'])} {age} wird, geht noch ein Jahr in die Kita "
            "(Geburtstage gleich über das Jahr verteilt angenommen)")


def care_rate_note(result: DaycareResult, band: str, year: int) -> str:
    """What the Betreuungsquote column means for this band and year."""
    group = CARE_GROUP_OF_BAND.get(band)
    if group is None:
        return ("Betreuungsquote: amtlich nur für „unter 3 Jahre“ und „3 bis unter 6 Jahre“ definiert, hier daher "
                "„–“.")
    with_ktp = ("Kitas und Kindertagespflege" if result.has_kindertagespflege
                else "Kitas (ohne Kindertagespflege – keine Daten)")
    estimate = ("Kinder in Kitas = Kita-Plätze" if group != CARE_3_TO_6 else
                "Kinder in Kitas = Kita-Plätze 3 bis Schuleintritt, anteilig auf die 3- bis 5-Jährigen")
    return (f"Betreuungsquote (amtliche Abgrenzung, geschätzt) = Kinder in {with_ktp} ÷ Kinder "
            f"{CARE_GROUP_LABELS_DE[group]}, Stichtag 1.3.{year + 1}; {estimate} (volle Belegung angenommen); "
            f"Kinderzahl vom 31.12.{year} (wie in der amtlichen Statistik: Bevölkerung am 31.12. des Vorjahres).")


def kita_chart_data(result: DaycareResult, band: str, district_id: int | None = None) -> pd.DataFrame:
    """year, children, demand, places for a district (or the city)."""
    if district_id is None:
        rows = result.city[result.city["band"] == band]
    else:
        rows = result.coverage[(result.coverage["band"] == band) & (result.coverage["district_id"] == district_id)]
    return rows[["year", "children", "demand", "places"]].sort_values("year").reset_index(drop=True)


def kita_years_table(result: DaycareResult, band: str, district_id: int | None, place: str) -> ViewTable:
    """Year by year for a district (or the city), with the numbers of :func:`kita_gap_table`."""
    data = _shown_rows(result, band, district_id=district_id or CITY_ID).sort_values("year")
    frame = pd.DataFrame({"Jahr": data["year"].astype(int).to_numpy(), "Kinder": data["children"].to_numpy(),
                          "Bedarf": data["demand"].to_numpy(), "Plätze": data["places"].to_numpy()})
    frame["Saldo (Plätze − Bedarf)"] = frame["Plätze"] - frame["Bedarf"]
    formats = {"Jahr": YEAR, "Kinder": INT, "Bedarf": INT, "Plätze": INT, "Saldo (Plätze − Bedarf)": INT}
    return ViewTable(frame, formats, title_de(f"Kita-Versorgung {place}, {BAND_LABELS_DE[band]}", result.synthetic),
                     highlight=[g < 0 for g in frame["Saldo (Plätze − Bedarf)"]], synthetic=result.synthetic,
                     notes=[SYNTHETIC_NOTE] if result.synthetic else [],
                     filename=slug(f"kita {place} {BAND_LABELS_DE[band]}"))


KITA_POINT_LEGEND = {"#ffd92f": "Kita mit Plätzen dieser Altersgruppe", "#bdbdbd": "Kita ohne solche Plätze"}


def kita_points(kitas: pd.DataFrame, result: DaycareResult, band: str) -> pd.DataFrame:
    """Map points of the Kitas: id, lat, lon, label (name, places in the band), color, radius."""
    column = "places_under_3" if band in (UNDER_3, CLAIM_1_TO_3) else "places_3_to_school"
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
    row = _shown_rows(result, band, year, district_id or CITY_ID).iloc[0]  # the numbers of the table
    figures = {f"{place} {year}: Kinder": format_number(row["children"]), "Plätze": format_number(row["places"]),
               "Versorgungsquote": format_number(row["coverage_rate"] * 100, 1) + " %"}
    if band in CARE_GROUP_OF_BAND:
        figures[f"Betreuungsquote 1.3.{year + 1} (geschätzt"
                + (")" if result.has_kindertagespflege else ", ohne Kindertagespflege)")] = (
            format_number(row["care_rate"] * 100, 1) + " %")
    figures["Saldo (Plätze − Bedarf)"] = format_number(row["gap"])
    return figures


def kita_map_values(result: DaycareResult, band: str, year: int, names: Mapping[int, str],
                    measure: str = "coverage") -> tuple[dict[int, float], dict[int, str]]:
    """({district_id: value}, {district_id: hover text}); measure "coverage" (in %) or "gap"
    (the numbers of the table, :func:`shown_coverage`)."""
    rows = _shown_rows(result, band, year)
    rows = rows[rows["district_id"] != CITY_ID]
    values, labels = {}, {}
    for row in rows.itertuples(index=False):
        d = int(row.district_id)
        values[d] = row.coverage_rate * 100 if measure == "coverage" else row.gap
        labels[d] = (f"{names.get(d, d)}: {format_number(row.children)} Kinder, {format_number(row.places)} Plätze, "
                     f"Versorgung {format_number(row.coverage_rate * 100, 1)} %, Saldo {format_number(row.gap)}")
    return values, labels


def daycare_assumptions_text(demand: DemandRates, rule: PlaceRule = PlaceRule(),
                             kindertagespflege: bool | None = None) -> dict[str, str]:
    age = demand.school_entry_age
    if demand.school_entry_cutoff is None:
        school = f"3 bis Schuleintritt = 3–{age - 1} Jahre (kein Einschulungsstichtag angegeben)"
    else:
        school = (f"3 bis Schuleintritt = 3–{age - 1} Jahre und {format_percent(demand.share_in_kita, 1)} der "
                  f"{age}-Jährigen (nach dem Einschulungsstichtag {cutoff_text_de(demand.school_entry_cutoff)} "
                  f"{age} geworden; Anteil = Tage vom Stichtag bis 31.12. ÷ 365)")
    texts = {
        "Bedarfsquote unter 3 Jahre": format_percent(demand.under_3, 0),
        "Bedarfsquote 1 bis unter 3 Jahre (Rechtsanspruch)": format_percent(demand.claim_1_to_3, 0),
        "Bedarfsquote 3 Jahre bis Schuleintritt": format_percent(demand.three_to_school, 0),
        "Altersgruppen": f"unter 3 = 0–2 Jahre; 1 bis unter 3 = 1–2 Jahre (Rechtsanspruch ab 1 Jahr); {school} "
                         "(vollendete Jahre am 31.12.)",
        "Betreuungsquote": ("Kinder in Kitas und Kindertagespflege ÷ Kinder unter 3 bzw. 3 bis unter 6 Jahre, "
                            "Stichtag 1.3. des Folgejahres; Kinder in Kitas aus den Plätzen geschätzt (volle "
                            "Belegung); Kinder der Altersgruppe am 31.12. des Vorjahres (wie die amtliche Statistik)"),
        "Versorgungsquote": "Kita-Plätze ÷ Kinder der Altersgruppe (ohne Kindertagespflege)",
        "Plätze je Altersgruppe": (f"aus Gruppenarten: Krippe {format_number(rule.krippe_group_size)}, Elementar "
                                   f"{format_number(rule.elementary_group_size)}, altersgemischt "
                                   f"{format_number(rule.mixed_group_size)} (davon "
                                   f"{format_percent(rule.mixed_under3_share, 0)} unter 3), Natur "
                                   f"{format_number(rule.nature_group_size)}, Hort "
                                   f"{format_number(rule.hort_group_size)}; auf die Gesamtplätze der Kita skaliert"),
        "Plätze im Zeitverlauf": "heutiger Bestand, ohne geplante Änderungen",
    }
    if kindertagespflege is not None:
        texts["Kindertagespflege"] = ("Kinder laut Jugendamt; in die Prognosejahre mit dem letzten Stand "
                                      "fortgeschrieben" if kindertagespflege else "keine Daten (nicht enthalten)")
    return texts


# --- the app ------------------------------------------------------------------------------------

YEARS_AHEAD = 15  # the slider reaches base year + 15


def app_title() -> str:
    """„Kita-Versorgung nach Stadtteilen“ (the profile's district level)."""
    return f"Kita-Versorgung nach {districts_dative()}"


def app_model() -> str:
    return model_version(projection_model(), "Kita-Versorgung (Bedarf = Kinder × Bedarfsquote, Plätze je "
                                             "Altersgruppe aus den Gruppenarten, Altersgruppen nach dem "
                                             "Einschulungsstichtag, Betreuungsquote in amtlicher Abgrenzung; "
                                             "docs/planning-models.md)")


def quality_notes(kindertagespflege: bool = False, cutoff: str | None = None) -> list[str]:
    ktp = ("Kindertagespflege (Tagesmütter/-väter): Kinder laut Jugendamt, in der Betreuungsquote enthalten; "
           "Versorgungsquote und Saldo zählen nur Kita-Plätze." if kindertagespflege else
           "Kindertagespflege: keine Daten – die Betreuungsquote enthält nur Kitas und ist daher unterschätzt, "
           "vor allem unter 3 Jahren.")
    entry = (f"Einschulungsstichtag {cutoff_text_de(cutoff)}: Kinder, die danach 6 werden, zählen noch zur "
             "Altersgruppe 3 bis Schuleintritt." if cutoff else
             "Kein Einschulungsstichtag im Stadtprofil (planning.school_entry_cutoff): 3 bis Schuleintritt = 3–5 "
             "Jahre; Kinder, die nach dem Stichtag 6 werden, fehlen im Bedarf.")
    return [
        "Kita-Plätze: Kita-Verzeichnis (Gesamtplätze je Einrichtung); die Aufteilung auf Altersgruppen ist "
        "aus den Gruppenarten geschätzt.",
        ktp,
        entry,
        "Betreuungsquote: amtliche Abgrenzung (Stichtag 1. März), Kinder in Kitas aus den Plätzen geschätzt; die "
        "Bevölkerung des Melderegisters und der Prognose steht auf dem 31.12. – wie die amtliche Statistik teilt BIF "
        "durch die Kinder am 31.12. des Vorjahres.",
        f"Kinder besuchen auch Kitas in anderen {districts_dative()}: Werte je {district_label()} sind Richtwerte."]


class KitaApp(ProjectionApp):
    """The widgets of the app and their reactions. ``widget`` is the page (shown by :func:`show`)."""

    APP_ID = APP_ID

    def __init__(self, *, store=None):
        self.cutoff = school_entry_cutoff()
        self.APP_TITLE, self.MODEL = app_title(), app_model()
        self.QUALITY_NOTES = quality_notes(False, self.cutoff)  # completed in load_own
        super().__init__(store=store)

    def load_own(self, store) -> list:
        self.kitas_open = load_input(APP_ID, "kitas", store=store)
        self.kitas = kitas_with_district(self.kitas_open, self.districts)
        self.kindertagespflege = load_kindertagespflege(store)  # None: keine Daten
        self.QUALITY_NOTES = quality_notes(self.kindertagespflege is not None, self.cutoff)
        return [self.kitas_open] + ([self.kindertagespflege] if self.kindertagespflege is not None else [])

    @property
    def last_year(self) -> int:
        return self.projector.base_year + YEARS_AHEAD

    # controls ------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        base_year = self.projector.base_year
        self.scenario = ScenarioControls("medium")
        self.band = w.ToggleButtons(options=BANDS, value=BANDS[0][1], style={"button_width": "auto"})
        self.year = w.IntSlider(value=base_year, min=base_year, max=self.last_year, description="Jahr",
                                continuous_update=False, style={"description_width": "60px"},
                                layout=w.Layout(width="100%"))
        self.measure = w.ToggleButtons(options=[("Versorgungsquote", "coverage"), ("Saldo", "gap")], value="coverage",
                                       style={"button_width": "auto"})
        self.rate_under_3 = w.FloatSlider(value=DemandRates().under_3, min=0, max=1, step=0.01,
                                          continuous_update=False)
        self.rate_3_6 = w.FloatSlider(value=DemandRates().three_to_school, min=0, max=1, step=0.01,
                                      continuous_update=False)
        self.rate_claim = w.FloatSlider(value=DemandRates().claim_1_to_3, min=0, max=1, step=0.01,
                                        continuous_update=False)
        self.district = ui.dropdown(district_label(), [("– Gesamtstadt –", 0)] + [(n, i) for i, n in self.names.items()])
        for widget, css in ((self.band, "bif-band"), (self.year, "bif-year"), (self.district, "bif-district-select"),
                            (self.measure, "bif-measure")):
            widget.add_class(css)
        self.status = Status()
        self.kita_map = DistrictMap(self.districts, height="380px", names=self.names, label=district_label(),
                                    label_plural=district_label(plural=True)) if self.has_map else None
        self.chart = ChartView()
        self.figures = w.HTML()
        self.table = TableView(table_id="bif-kitatabelle", export_info=self.export_info)
        self.result: DaycareResult | None = None
        self.version = 0  # the chart of a district is redrawn only for a new result
        self.gap_table: ViewTable | None = None

    # reactions -----------------------------------------------------------------------------------

    def selection(self) -> str:
        """The chosen district's name, or „Gesamtstadt“."""
        chosen = self.district.value or None
        return self.names[chosen] if chosen else CITY_LABEL

    def compute(self) -> None:
        assumptions = self.scenario.assumptions()
        demand = DemandRates(under_3=self.rate_under_3.value, three_to_school=self.rate_3_6.value,
                             claim_1_to_3=self.rate_claim.value, school_entry_cutoff=self.cutoff)
        base_year = self.projector.base_year
        ages = range(0, demand.school_entry_age + 1)
        population = population_table(self.projector.project(assumptions, self.last_year), ages=ages)
        self.version += 1
        self.result = daycare(population, self.kitas, years=range(base_year, self.last_year + 1), demand=demand,
                              kindertagespflege=self.kindertagespflege, inputs=self.inputs.parameters.inputs)
        self.quality.set_assumptions({**assumptions_text(assumptions, base_year=base_year, end_year=self.last_year),
                                      **daycare_assumptions_text(demand, kindertagespflege=(
                                          self.kindertagespflege is not None))})

    def show_overview(self) -> None:
        """Map and table of all districts: independent of the chosen district."""
        result, band, year, measure = self.result, self.band.value, self.year.value, self.measure.value
        band_label = dict((b, label) for label, b in BANDS)[band]
        self.gap_table = kita_gap_table(result, band, year, self.names)
        if self.kita_map is None:
            return
        values, labels = kita_map_values(result, band, year, self.names, measure)
        self.kita_map.set_values(values, labels=labels, diverging=measure == "gap", decimals=0,
                                 suffix=" %" if measure == "coverage" else "",
                                 title=(f"Versorgungsquote {band_label} {year}" if measure == "coverage"
                                        else f"Saldo Plätze − Bedarf {band_label} {year}"), missing_label=None,
                                 points=KITA_POINT_LEGEND)
        self.kita_map.set_points(kita_points(self.kitas[self.kitas["district_id"] > 0], result, band), name="Kitas")

    def show_selection(self) -> None:
        """What depends on the chosen district: the marked row, the chart (all years), key figures."""
        result, chosen, band = self.result, self.district.value or None, self.band.value
        place = self.names[chosen] if chosen else "Gesamtstadt"
        band_label = dict((b, label) for label, b in BANDS)[band]
        self.table.show(self.gap_table.select("Nr.", chosen))
        chart = self.chart
        chart.update(
            (self.version, band, chosen),
            lambda: charts.coverage_png(kita_chart_data(result, band, chosen), synthetic=result.synthetic,
                                        title=f"{place}, {band_label}: Kinder, Bedarf und Plätze",
                                        source=("Kinder: synthetisch abgeleitet" if result.synthetic
                                                else "Kinder: Bevölkerungsvorausberechnung")
                                        + "; Plätze: Kita-Verzeichnis",
                                        canvas=chart.canvas),
            export_filename(APP_ID, "entwicklung", band_label, place, self.scenario.assumptions().label_de))
        self.figures.value = key_figures_html(kita_key_figures(result, band, self.year.value, chosen, place))
        self.table.update_downloads()

    def _on_district(self, change) -> None:
        if self.kita_map is not None and self.kita_map.selected != (self.district.value or None):
            self.kita_map.selected = self.district.value or None
        self.refresh(recompute=False, overview=False)

    def _on_map_click(self, change) -> None:
        self.district.value = change["new"] or 0

    def _connect(self) -> None:
        self.scenario.on_change(self.refresh)
        for widget in (self.rate_under_3, self.rate_claim, self.rate_3_6):
            widget.observe(self.refresh, "value")
        for widget in (self.band, self.year, self.measure):
            widget.observe(lambda change: self.refresh(recompute=False), "value")
        self.district.observe(self._on_district, "value")
        if self.kita_map is not None:
            self.kita_map.observe(self._on_map_click, "selected")
        self.refresh()

    # layout --------------------------------------------------------------------------------------

    def _layout(self) -> w.VBox:
        demand_box = w.Accordion(children=[w.VBox([
            ui.german_readout(self.rate_under_3, 2, label="Bedarfsquote unter 3 Jahre"),
            ui.german_readout(self.rate_claim, 2, label="Bedarfsquote 1 bis unter 3 Jahre (Rechtsanspruch)"),
            ui.german_readout(self.rate_3_6, 2, label="Bedarfsquote 3 Jahre bis Schuleintritt"),
            ui.help_text("Anteil der Kinder, die einen Platz brauchen (Planungsziel).")])],
            selected_index=None)
        demand_box.set_title(0, "Bedarfsquoten anpassen")
        with_map = self.kita_map is not None
        controls = w.VBox([ui.section_title("Altersgruppe"), self.band, ui.section_title("Jahr"), self.year,
                           ui.section_title("Szenario der Kinderzahlen"), self.scenario, demand_box,
                           self.district,
                           *([ui.help_text("oder in der Karte anklicken"),
                              ui.section_title("Karte zeigt"), self.measure] if with_map else []),
                           self.status])
        controls.add_class("bif-controls")
        label = district_label()
        synthetic = self.quality.synthetic
        return ui.app(
            ui.header(self.APP_TITLE,
                      f"Kinder gegen Kita-Plätze je {label}, heute und in den Prognosejahren: Versorgungsquote "
                      "(Kita-Plätze ÷ Kinder) und amtliche Betreuungsquote (Kinder in Kitas und "
                      "Kindertagespflege ÷ Kinder, Stichtag 1. März, geschätzt)."
                      + ("" if self.kindertagespflege is not None else " Kindertagespflege: keine Daten.")
                      + (" Die Kinderzahlen beruhen auf synthetisch abgeleiteten Daten." if synthetic else ""),
                      synthetic=synthetic),
            ui.two_columns(controls, w.VBox([self.figures, self.kita_map] if with_map else [self.figures])),
            ui.side_by_side(w.VBox([ui.section_title("Entwicklung"), self.chart]),
                            w.VBox([ui.section_title(f"Lücken je {label}"), self.table]), basis=("420px", "560px")),
            self.quality)


def show(*, store=None) -> None:
    """Build the app and display it: the whole code of notebooks/apps/kita.ipynb."""
    display(KitaApp(store=store).widget)
