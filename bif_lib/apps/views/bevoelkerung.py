"""The app „Bevölkerung nach Stadtteilen“ (notebooks/apps/bevoelkerung.ipynb).

What it loads: every open dataset with ``year`` and ``district_id`` (the Sozialatlas indicators,
:mod:`bif_lib.apps.views.atlas`), the districts, and the internal single-age population
``bevoelkerung_einzelalter`` (released by the statistics office, derived from the synthetic
register, hence labelled synthetic).

What it shows: map, time series and comparison table of the chosen indicator for the 13
Stadtteile; the age pyramid of the chosen Stadtteil. The age pyramid's view functions are
pure and tested; :class:`BevoelkerungApp` holds the widgets, :func:`show` is the notebook's call.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.display import display

from bif_lib.api import load
from bif_lib.apps.views.atlas import (
    default_indicator_key,
    default_year,
    find_indicator,
    indicator_map_values,
    indicators_of_topic,
    load_atlas,
    topics,
)
from bif_lib.apps.views.common import CITY_LABEL, INT, SYNTHETIC_NOTE, ViewTable, model_version, slug
from bif_lib.apps.widgets import ChartView, DataQualityPanel, DistrictMap, Status, TableView, charts
from bif_lib.apps.widgets import layout as ui
from bif_lib.apps.widgets.export import ExportInfo, export_filename
from bif_lib.apps.widgets.formatting import key_figures_html
from bif_lib.i18n import format_number
from bif_lib.planning._common import title_de
from bif_lib.planning.release import POPULATION_DATASET

# --- view functions (pure) ------------------------------------------------------------------------

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
                     notes=notes, synthetic=synthetic, filename=slug(f"altersaufbau {place} {year}"))


def pyramid_key_figures(pyramid: pd.DataFrame) -> dict[str, str]:
    """Residents, mean age, shares under 18 / 65+ as German text."""
    figures = pyramid_summary(pyramid)
    return {"Einwohner": format_number(figures["Einwohner"]),
            "Durchschnittsalter": format_number(figures["Durchschnittsalter"], 1),
            "unter 18": format_number(figures["unter 18 (%)"], 1) + " %",
            "ab 65": format_number(figures["ab 65 (%)"], 1) + " %"}


# --- loading ------------------------------------------------------------------------------------

def load_single_ages(*, store=None) -> pd.DataFrame:
    """The internal single-age population (year × Stadtteil × sex × age), as released."""
    return load(POPULATION_DATASET, store=store)


# --- the app ------------------------------------------------------------------------------------

APP_ID, APP_TITLE = "bevoelkerung", "Bevölkerung nach Stadtteilen"
MODEL = model_version("Sozialatlas-Kennzahlen wie veröffentlicht (Gesamtstadt: Summe, bei Quoten ungewichteter "
                      "Mittelwert der Stadtteile); Altersaufbau aus den freigegebenen Einzelaltersangaben")
QUALITY_NOTES = [
    "Zahlen des Sozialatlas 2022 (Stadt Flensburg), veröffentlichte Werte; unterdrückte Werte bleiben leer.",
    "Der Altersaufbau nach Einzelaltern ist aus dem synthetischen Melderegister abgeleitet (synthetisch)."]


class BevoelkerungApp:
    """The widgets of the app and their reactions. ``widget`` is the page (shown by :func:`show`)."""

    def __init__(self, *, store=None):
        self.atlas = load_atlas(store=store)  # every open dataset with year × Stadtteil, verified
        self.single_ages = load_single_ages(store=store)  # internal, derived from the synthetic register
        self.pyramid_years = pyramid_years(self.single_ages)
        self.quality = DataQualityPanel([self.atlas.districts, *self.atlas.frames.values(), self.single_ages],
                                        notes=QUALITY_NOTES)
        self._build_controls()
        self._connect()
        self.widget = self._layout()

    # controls ------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        atlas = self.atlas
        self.topic = ui.dropdown("Thema", topics(atlas.catalogue))
        self.indicator = ui.dropdown("Kennzahl", [("–", "")])
        self.year = ui.dropdown("Jahr", [("–", 0)])
        self.district = ui.dropdown("Stadtteil",
                                    [("– Gesamtstadt –", 0)] + [(n, i) for i, n in atlas.names.items()])
        self.mode = w.ToggleButtons(options=[("Werte", "werte"), ("Index", "index")], value="werte",
                                    tooltips=["Werte des Stadtteils und der Gesamtstadt",
                                              "Entwicklung, erstes Jahr = 100"], style={"button_width": "110px"})
        for widget, css in ((self.topic, "bif-topic"), (self.indicator, "bif-indicator"), (self.year, "bif-year"),
                            (self.district, "bif-district-select"), (self.mode, "bif-mode")):
            widget.add_class(css)
        self.status = Status()
        self.district_map = DistrictMap(atlas.districts, height="390px")
        self.series_chart, self.pyramid_chart = ChartView(), ChartView(size=charts.PYRAMID_SIZE)
        self.pyramid_figures = w.HTML()
        self.table = TableView(table_id="bif-vergleich", export_info=self.export_info)
        self.quiet = ui.Guard()

    # reactions -----------------------------------------------------------------------------------

    def chosen_district(self) -> int | None:
        return self.district.value or None

    def export_info(self) -> ExportInfo:
        """What a download says about itself: app, Stadtteil, the data with reference dates, model."""
        chosen = self.chosen_district()
        return self.quality.export_info(app=APP_TITLE, app_id=APP_ID,
                                        selection=self.atlas.names[chosen] if chosen else CITY_LABEL, model=MODEL)

    def fill_choices(self, key=None) -> None:
        """The indicators of the topic and the years of the indicator (without computing in between)."""
        catalogue = self.atlas.catalogue
        with self.quiet:
            ui.replace_options(self.indicator,
                               [(i.label, i.key) for i in indicators_of_topic(catalogue, self.topic.value)], key)
            ind = find_indicator(catalogue, self.indicator.value)
            ui.replace_options(self.year, [(str(y), y) for y in reversed(ind.years)],
                               default_year(ind, self.year.value))

    def show_map(self, ind, values) -> None:
        year = self.year.value
        by_district, labels = indicator_map_values(values, ind, year, self.atlas.names)
        self.district_map.set_values(by_district, title=f"{ind.label} {year}", decimals=ind.decimals, labels=labels,
                                     missing_label="unterdrückt / keine Angabe")

    def show_views(self, ind, values, with_map: bool = False) -> None:
        atlas, mode = self.atlas, self.mode.value
        chosen = self.chosen_district()
        name = atlas.names.get(chosen) if chosen else None
        if with_map:
            self.show_map(ind, values)
        self.table.show(atlas.comparison(ind, self.year.value, chosen))
        title = f"{ind.label}: {name or 'Gesamtstadt'}" + (" und " + ind.city_label if name else "")
        series_chart = self.series_chart
        series_chart.update(
            (ind.key, chosen, mode),
            lambda: charts.time_series_png(atlas.time_series(ind, chosen), title=title, unit=ind.unit,
                                           district_name=name, city_label=ind.city_label, additive=ind.additive,
                                           mode=mode, decimals=ind.decimals, canvas=series_chart.canvas,
                                           source="Quelle: Stadt Flensburg, Sozialatlas 2022"),
            export_filename(APP_ID, "zeitreihe", ind.label, name or CITY_LABEL, "index" if mode == "index" else ""))
        shown_year = self.year.value if self.year.value in self.pyramid_years else self.pyramid_years[-1]
        pyramid = age_pyramid(self.single_ages, shown_year, chosen)
        place = name or "Gesamtstadt"
        pyramid_chart = self.pyramid_chart
        pyramid_chart.update(
            (shown_year, chosen),
            lambda: charts.pyramid_png(pyramid, title=f"Altersaufbau {place} {shown_year} (synthetische Daten)",
                                       compare_label="Gesamtstadt, auf den Stadtteil skaliert" if chosen else None,
                                       synthetic=True, source="Quelle: synthetisches Melderegister (abgeleitet)",
                                       canvas=pyramid_chart.canvas),
            export_filename(APP_ID, "altersaufbau", place, str(shown_year)))
        self.pyramid_figures.value = key_figures_html(pyramid_key_figures(pyramid))
        self.table.update_downloads()

    def refresh(self, change=None, with_map: bool = True) -> None:
        if self.quiet:
            return
        with self.status.working():
            ind = find_indicator(self.atlas.catalogue, self.indicator.value)
            self.show_views(ind, self.atlas.values(ind), with_map=with_map)

    def _on_choice(self, change) -> None:
        if not self.quiet:
            self.fill_choices()
            self.refresh()

    def _on_district(self, change) -> None:
        if self.district_map.selected != self.chosen_district():
            self.district_map.selected = self.chosen_district()
        self.refresh(with_map=False)

    def _on_map_click(self, change) -> None:
        self.district.value = change["new"] or 0

    def _connect(self) -> None:
        self.topic.observe(self._on_choice, "value")
        self.indicator.observe(self._on_choice, "value")
        self.year.observe(lambda change: self.refresh(), "value")
        self.district.observe(self._on_district, "value")
        self.mode.observe(lambda change: self.refresh(with_map=False), "value")
        self.district_map.observe(self._on_map_click, "selected")
        first = find_indicator(self.atlas.catalogue, default_indicator_key(self.atlas.catalogue))
        with self.quiet:
            self.topic.value = first.topic
        self.fill_choices(first.key)
        self.refresh()

    # layout --------------------------------------------------------------------------------------

    def _layout(self) -> w.VBox:
        controls = w.VBox([self.district,
                           ui.help_text("oder in der Karte anklicken (nochmals klicken hebt die Auswahl auf)"),
                           ui.section_title("Zeitreihe"), self.mode, self.status])
        controls.add_class("bif-controls")
        charts_row = ui.side_by_side(w.VBox([ui.section_title("Zeitreihe"), self.series_chart]),
                                     w.VBox([ui.section_title("Altersaufbau (Einzelalter, synthetisch)"),
                                             self.pyramid_figures, self.pyramid_chart]))
        return ui.app(
            ui.header("Bevölkerung nach Stadtteilen",
                      "Kennzahlen des Sozialatlas für die 13 Stadtteile Flensburgs: Karte, Entwicklung und Vergleich. "
                      "Der Altersaufbau ist aus synthetischen Daten abgeleitet.", synthetic=True),
            ui.choice_bar(self.topic, self.indicator, self.year),  # topic names are too long for the column
            ui.two_columns(controls, self.district_map),
            charts_row,
            ui.section_title("Vergleich der Stadtteile"), self.table,
            self.quality)


def show(*, store=None) -> None:
    """Build the app and display it: the whole code of notebooks/apps/bevoelkerung.ipynb."""
    display(BevoelkerungApp(store=store).widget)
