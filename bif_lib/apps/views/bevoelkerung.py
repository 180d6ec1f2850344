"""The app „Bevölkerung nach Stadtteilen“ (notebooks/apps/bevoelkerung.ipynb).

What it loads: every open dataset with ``year`` and ``district_id`` (the city's published
district indicators, :mod:`bif_lib.apps.views.atlas`), the districts (names from the city
profile, polygons if the city has boundaries) and, if the city has it, the internal single-age
population (input ``single_ages``; released by the statistics office, derived from the
synthetic register, hence labelled synthetic).

What it shows: map (only with boundaries), time series and comparison table of the chosen
indicator for the city's districts; the age pyramid of the chosen district (only with single
ages). The age pyramid's view functions are pure and tested; :class:`BevoelkerungApp` holds the
widgets, :func:`show` is the notebook's call.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.display import display

from bif_lib.api import load
from bif_lib.apps.requirements import single_ages_dataset
from bif_lib.apps.views.atlas import (
    default_indicator_key,
    default_year,
    find_indicator,
    indicator_map_values,
    indicators_of_topic,
    load_atlas,
    topics,
)
from bif_lib.apps.views.common import (
    CITY_LABEL,
    INT,
    SYNTHETIC_NOTE,
    ViewTable,
    app_notes,
    app_text,
    district_label,
    districts_dative,
    model_version,
    slug,
    source_line,
)
from bif_lib.apps.widgets import ChartView, DataQualityPanel, DistrictMap, Status, TableView, charts
from bif_lib.apps.widgets import layout as ui
from bif_lib.apps.widgets.export import ExportInfo, export_filename
from bif_lib.apps.widgets.formatting import key_figures_html
from bif_lib.i18n import format_number
from bif_lib.planning._common import title_de
from bif_lib.store import DatasetNotFound

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

def load_single_ages(*, store=None) -> pd.DataFrame | None:
    """The internal single-age population (year × district × sex × age), as released; None if
    the city has none (then the app shows no age pyramid)."""
    from bif_lib.apps.requirements import SINGLE_AGES
    from bif_lib.city import current_profile
    from bif_lib.loaders import load_single_ages as released_or_split

    explicit = ((current_profile().app(APP_ID) or {}).get("inputs") or {}).get(SINGLE_AGES)
    try:
        if explicit:
            return load(single_ages_dataset(APP_ID), store=store)
        return released_or_split(store=store)  # released by the office, or split from the stocks
    except DatasetNotFound:
        return None


# --- the app ------------------------------------------------------------------------------------

APP_ID = "bevoelkerung"


def app_title() -> str:
    """„Bevölkerung nach Stadtteilen“ (the profile's district level)."""
    return f"Bevölkerung nach {districts_dative()}"


def app_model(with_pyramid: bool = True) -> str:
    return model_version(f"Kennzahlen wie veröffentlicht (Gesamtstadt: Summe, bei Quoten ungewichteter Mittelwert "
                         f"der {district_label(plural=True)})"
                         + ("; Altersaufbau aus den freigegebenen Einzelaltersangaben" if with_pyramid else ""))


def quality_notes(single_ages: pd.DataFrame | None) -> list[str]:
    """The panel's notes: generic ones, the pyramid's source, the city's own (``apps.bevoelkerung.notes``)."""
    notes = ["Kennzahlen wie veröffentlicht; unterdrückte Werte bleiben leer."]
    if single_ages is not None and single_ages.attrs.get("bif", {}).get("derived_de"):
        notes.append(f"Altersaufbau: {single_ages.attrs['bif']['derived_de']}.")
    elif single_ages is not None and single_ages.attrs.get("bif", {}).get("synthetic"):
        notes.append("Der Altersaufbau nach Einzelaltern ist aus dem synthetischen Melderegister abgeleitet "
                     "(synthetisch).")
    return [*notes, *app_notes(APP_ID)]


class BevoelkerungApp:
    """The widgets of the app and their reactions. ``widget`` is the page (shown by :func:`show`)."""

    def __init__(self, *, store=None):
        self.atlas = load_atlas(store=store)  # every open dataset with year × district, verified
        self.single_ages = load_single_ages(store=store)  # internal, derived from the synthetic register; or None
        self.pyramid_years = pyramid_years(self.single_ages) if self.single_ages is not None else []
        self.title, self.model = app_title(), app_model(self.single_ages is not None)
        self.pyramid_synthetic = bool(self.single_ages is not None
                                      and self.single_ages.attrs.get("bif", {}).get("synthetic"))
        shown = [f for f in (self.atlas.districts, *self.atlas.frames.values(), self.single_ages) if f is not None]
        self.quality = DataQualityPanel(shown, notes=quality_notes(self.single_ages))
        self._build_controls()
        self._connect()
        self.widget = self._layout()

    # controls ------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        atlas = self.atlas
        self.topic = ui.dropdown("Thema", topics(atlas.catalogue))
        self.indicator = ui.dropdown("Kennzahl", [("–", "")])
        self.year = ui.dropdown("Jahr", [("–", 0)])
        self.district = ui.dropdown(district_label(),
                                    [("– Gesamtstadt –", 0)] + [(n, i) for i, n in atlas.names.items()])
        self.mode = w.ToggleButtons(options=[("Werte", "werte"), ("Index", "index")], value="werte",
                                    tooltips=["Werte der Auswahl und der Gesamtstadt",
                                              "Entwicklung, erstes Jahr = 100"], style={"button_width": "110px"})
        for widget, css in ((self.topic, "bif-topic"), (self.indicator, "bif-indicator"), (self.year, "bif-year"),
                            (self.district, "bif-district-select"), (self.mode, "bif-mode")):
            widget.add_class(css)
        self.status = Status()
        self.district_map = (DistrictMap(atlas.districts, height="390px", names=atlas.names, label=district_label(),
                                         label_plural=district_label(plural=True))
                             if atlas.districts is not None else None)
        self.series_chart, self.pyramid_chart = ChartView(), ChartView(size=charts.PYRAMID_SIZE)
        self.pyramid_figures = w.HTML()
        self.table = TableView(table_id="bif-vergleich", export_info=self.export_info)
        self.quiet = ui.Guard()

    # reactions -----------------------------------------------------------------------------------

    def chosen_district(self) -> int | None:
        return self.district.value or None

    def export_info(self) -> ExportInfo:
        """What a download says about itself: app, district, the data with reference dates, model."""
        chosen = self.chosen_district()
        return self.quality.export_info(app=self.title, app_id=APP_ID,
                                        selection=self.atlas.names[chosen] if chosen else CITY_LABEL, model=self.model)

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
        if self.district_map is None:
            return
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
                                           source=source_line(APP_ID)),
            export_filename(APP_ID, "zeitreihe", ind.label, name or CITY_LABEL, "index" if mode == "index" else ""))
        if self.single_ages is not None:
            self.show_pyramid(chosen, name)
        self.table.update_downloads()

    def show_pyramid(self, chosen: int | None, name: str | None) -> None:
        synthetic = self.pyramid_synthetic
        shown_year = self.year.value if self.year.value in self.pyramid_years else self.pyramid_years[-1]
        pyramid = age_pyramid(self.single_ages, shown_year, chosen)
        place = name or "Gesamtstadt"
        pyramid_chart = self.pyramid_chart
        pyramid_chart.update(
            (shown_year, chosen),
            lambda: charts.pyramid_png(pyramid, title=f"Altersaufbau {place} {shown_year}"
                                                      + (" (synthetische Daten)" if synthetic else ""),
                                       compare_label=(f"Gesamtstadt, auf den {district_label()} skaliert"
                                                      if chosen else None),
                                       synthetic=synthetic,
                                       source=self.pyramid_source(synthetic),
                                       canvas=pyramid_chart.canvas),
            export_filename(APP_ID, "altersaufbau", place, str(shown_year)))
        self.pyramid_figures.value = key_figures_html(pyramid_key_figures(pyramid))

    def pyramid_source(self, synthetic: bool) -> str:
        """Where the single ages come from: split from published age groups, or the register."""
        derived = (self.single_ages.attrs.get("bif") or {}).get("derived_de") if self.single_ages is not None else None
        if derived:
            return f"{source_line(APP_ID)}; {derived}" + (" – synthetische Daten" if synthetic else "")
        return "Quelle: synthetisches Melderegister (abgeleitet)" if synthetic else source_line(APP_ID)

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
        if self.district_map is not None and self.district_map.selected != self.chosen_district():
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
        if self.district_map is not None:
            self.district_map.observe(self._on_map_click, "selected")
        first = find_indicator(self.atlas.catalogue, default_indicator_key(self.atlas.catalogue))
        with self.quiet:
            self.topic.value = first.topic
        self.fill_choices(first.key)
        self.refresh()

    # layout --------------------------------------------------------------------------------------

    def subtitle(self) -> str:
        """The header's line: ``apps.bevoelkerung.subtitle`` of the profile, else generic."""
        parts = ["Karte, Entwicklung und Vergleich" if self.district_map is not None else "Entwicklung und Vergleich"]
        default = f"Kennzahlen der {len(self.atlas.names)} {district_label(plural=True)}: {parts[0]}."
        if self.pyramid_synthetic:
            default += " Der Altersaufbau ist aus synthetischen Daten abgeleitet."
        return app_text(APP_ID, "subtitle", default)

    def _layout(self) -> w.VBox:
        with_map = self.district_map is not None
        controls = w.VBox([self.district,
                           *([ui.help_text("oder in der Karte anklicken (nochmals klicken hebt die Auswahl auf)")]
                             if with_map else []),
                           ui.section_title("Zeitreihe"), self.mode, self.status])
        controls.add_class("bif-controls")
        series = w.VBox([ui.section_title("Zeitreihe"), self.series_chart])
        if self.single_ages is not None:
            pyramid_title = "Altersaufbau (Einzelalter" + (", synthetisch)" if self.pyramid_synthetic else ")")
            charts_row = ui.side_by_side(series, w.VBox([ui.section_title(pyramid_title),
                                                         self.pyramid_figures, self.pyramid_chart]))
        else:
            charts_row = series
        synthetic = self.quality.synthetic
        return ui.app(
            ui.header(self.title, self.subtitle(), synthetic=synthetic),
            ui.choice_bar(self.topic, self.indicator, self.year),  # topic names are too long for the column
            ui.two_columns(controls, self.district_map) if with_map else controls,
            charts_row,
            ui.section_title(f"Vergleich der {district_label(plural=True)}"), self.table,
            self.quality)


def show(*, store=None) -> None:
    """Build the app and display it: the whole code of notebooks/apps/bevoelkerung.ipynb."""
    display(BevoelkerungApp(store=store).widget)
