"""Editable input tables for planners.

:class:`CapacityEditor` shows the school capacities (Züge, Klassengröße) one row per school;
estimated values carry the badge „Schätzung“, values the planner changed turn into „Eingabe“.
:class:`HousingEditor` is the housing pipeline of a projection: new dwellings per district and
year of occupation. Inputs are bounded widgets with the model's documented bounds, so nothing
out of range can be entered. ``on_change`` callbacks receive the current table.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets
import pandas as pd

from bif_lib.planning.schools import SOURCE_ESTIMATE, SOURCE_INPUT

STREAMS_BOUNDS = (0, 10)
CLASS_SIZE_BOUNDS = (10, 35)
# column widths: header and rows use the same ones, so the heads stand above their inputs
NAME_WIDTH, STREAMS_WIDTH, SIZE_WIDTH, SOURCE_WIDTH = "190px", "70px", "104px", "90px"


def source_badge(source: str) -> str:
    css = "bif-badge-estimate" if source == SOURCE_ESTIMATE else "bif-badge-input"
    tip = ("aus der heutigen Schülerzahl geschätzt – bitte prüfen" if source == SOURCE_ESTIMATE
           else "von Ihnen eingegeben")
    return f'<span class="bif-badge {css}" title="{tip}">{html.escape(source)}</span>'


class CapacityEditor(widgets.VBox):
    """One row per school: name, Züge, Klassengröße, Quelle (Schätzung/Eingabe)."""

    def __init__(self, capacities: pd.DataFrame):
        self.original = capacities.reset_index(drop=True).copy()
        self.table = self.original.copy()
        self._callbacks: list[Callable[[pd.DataFrame], None]] = []
        self._rows = {}
        header = widgets.HBox([
            widgets.HTML(f'<span class="bif-cap-col">{text}</span>', layout=widgets.Layout(width=width))
            for text, width in (("Schule", NAME_WIDTH), ("Züge", STREAMS_WIDTH), ("Klassengröße", SIZE_WIDTH),
                                ("Quelle", SOURCE_WIDTH))])
        header.add_class("bif-cap-head")
        rows = [header]
        for row in self.table.itertuples(index=False):
            streams = widgets.BoundedIntText(value=int(row.streams), min=STREAMS_BOUNDS[0], max=STREAMS_BOUNDS[1],
                                             layout=widgets.Layout(width=STREAMS_WIDTH),
                                             tooltip=f"Züge der Schule {row.name} (0–10)")
            size = widgets.BoundedIntText(value=int(row.class_size), min=CLASS_SIZE_BOUNDS[0],
                                          max=CLASS_SIZE_BOUNDS[1], layout=widgets.Layout(width=SIZE_WIDTH),
                                          tooltip=f"Klassengröße (Klassenteiler) der Schule {row.name} (10–35)")
            badge = widgets.HTML(source_badge(row.capacity_source), layout=widgets.Layout(width=SOURCE_WIDTH))
            name = widgets.HTML(f'<span title="{html.escape(row.school_id)}">{html.escape(row.name)}</span>',
                                layout=widgets.Layout(width=NAME_WIDTH))
            for widget in (streams, size):
                widget.observe(lambda change, sid=row.school_id: self._edited(sid), "value")
            box = widgets.HBox([name, streams, size, badge], layout=widgets.Layout(align_items="center"))
            box.add_class("bif-capacity-row")
            self._rows[row.school_id] = (streams, size, badge)
            rows.append(box)
        self.reset_button = widgets.Button(description="Schätzungen wiederherstellen", icon="",
                                           tooltip="Alle Eingaben verwerfen und die geschätzten Kapazitäten nutzen",
                                           layout=widgets.Layout(width="auto"))
        self.reset_button.on_click(lambda _: self.reset())
        self._silent = False
        super().__init__(children=rows + [self.reset_button])
        self.add_class("bif-capacity-editor")

    def on_change(self, callback: Callable[[pd.DataFrame], None]) -> None:
        self._callbacks.append(callback)

    def _edited(self, school_id: str) -> None:
        if self._silent:
            return
        streams, size, badge = self._rows[school_id]
        row = self.table["school_id"] == school_id
        original = self.original[self.original["school_id"] == school_id].iloc[0]
        self.table.loc[row, "streams"] = float(streams.value)
        self.table.loc[row, "class_size"] = float(size.value)
        unchanged = (float(streams.value) == float(original["streams"])
                     and float(size.value) == float(original["class_size"]))
        source = original["capacity_source"] if unchanged else SOURCE_INPUT
        self.table.loc[row, "capacity_source"] = source
        badge.value = source_badge(source)
        self._notify()

    def _notify(self) -> None:
        for callback in self._callbacks:
            callback(self.table.copy())

    def set_value(self, school_id: str, *, streams: int | None = None, class_size: int | None = None) -> None:
        """Programmatic edit (as if typed)."""
        w_streams, w_size, _ = self._rows[school_id]
        if streams is not None:
            w_streams.value = int(streams)
        if class_size is not None:
            w_size.value = int(class_size)

    def reset(self) -> None:
        self._silent = True
        try:
            for row in self.original.itertuples(index=False):
                streams, size, badge = self._rows[row.school_id]
                streams.value, size.value = int(row.streams), int(row.class_size)
                badge.value = source_badge(row.capacity_source)
        finally:
            self._silent = False
        self.table = self.original.copy()
        self._notify()


DWELLINGS_BOUNDS = (1, 20_000)  # per entry
HOUSING_COLUMNS = ["district_id", "year", "dwellings"]


class HousingEditor(widgets.VBox):
    """The housing pipeline: rows of district, year of occupation and new dwellings.

    ``table`` (district_id, year, dwellings) is what :func:`bif_lib.planning.project_population`
    takes as ``housing``; several rows of one district and year add up. Years lie after the base
    year and up to ``last_year``.
    """

    def __init__(self, names: dict[int, str], *, first_year: int, last_year: int, label: str = "Stadtteil"):
        self.names = dict(names)
        self.table = pd.DataFrame({"district_id": pd.Series(dtype="int64"), "year": pd.Series(dtype="int64"),
                                   "dwellings": pd.Series(dtype="float64")})
        self._callbacks: list[Callable[[pd.DataFrame], None]] = []
        self.district = widgets.Dropdown(options=[(n, i) for i, n in self.names.items()], description=label,
                                         style={"description_width": "80px"}, layout=widgets.Layout(width="100%"))
        self.year = widgets.BoundedIntText(value=first_year, min=first_year, max=last_year, description="Bezugsjahr",
                                           style={"description_width": "80px"}, layout=widgets.Layout(width="100%"),
                                           tooltip=f"erstes Jahr, in dem die Wohnungen bezogen werden "
                                                   f"({first_year}–{last_year})")
        self.dwellings = widgets.BoundedIntText(value=100, min=DWELLINGS_BOUNDS[0], max=DWELLINGS_BOUNDS[1],
                                                description="Wohnungen", style={"description_width": "80px"},
                                                layout=widgets.Layout(width="100%"),
                                                tooltip=f"neue Wohnungen ({DWELLINGS_BOUNDS[0]}–"
                                                        f"{format_int(DWELLINGS_BOUNDS[1])})")
        self.add_button = widgets.Button(description="Hinzufügen", tooltip="Neubauvorhaben übernehmen",
                                         layout=widgets.Layout(width="auto"))
        self.add_button.on_click(self._add_clicked)
        self.message = widgets.HTML()
        self.listing = widgets.HTML()
        self.remove_choice = widgets.Dropdown(options=[], layout=widgets.Layout(width="auto"))
        self.remove_button = widgets.Button(description="Entfernen", layout=widgets.Layout(width="auto"),
                                            tooltip="das gewählte Vorhaben entfernen")
        self.remove_button.on_click(lambda _: self.remove(self.remove_choice.value))
        self.clear_button = widgets.Button(description="Alle entfernen", layout=widgets.Layout(width="auto"))
        self.clear_button.on_click(lambda _: self.clear())
        self.remove_row = widgets.HBox([self.remove_choice, self.remove_button, self.clear_button])
        for widget, css in ((self.district, "bif-housing-district"), (self.year, "bif-housing-year"),
                            (self.dwellings, "bif-housing-dwellings"), (self.add_button, "bif-housing-add")):
            widget.add_class(css)
        super().__init__(children=[self.district, self.year, self.dwellings, self.add_button, self.message,
                                   self.listing, self.remove_row])
        self.add_class("bif-housing-editor")
        self._show()

    def on_change(self, callback: Callable[[pd.DataFrame], None]) -> None:
        self._callbacks.append(callback)

    def set_years(self, first_year: int, last_year: int) -> None:
        """Another horizon: rows after ``last_year`` stay (they take effect once it is long enough)."""
        self.year.max = max(last_year, first_year)
        self.year.min = first_year

    def add(self, district_id: int, year: int, dwellings: float) -> None:
        """One more project (as if entered); values outside the bounds are refused in German."""
        district_id, year, dwellings = int(district_id), int(year), float(dwellings)
        if district_id not in self.names:
            raise ValueError(f"Neubau: unbekannter Teilraum {district_id}.")
        if not self.year.min <= year <= self.year.max:
            raise ValueError(f"Neubau: das Bezugsjahr muss zwischen {self.year.min} und {self.year.max} liegen "
                             f"(angegeben: {year}).")
        if not DWELLINGS_BOUNDS[0] <= dwellings <= DWELLINGS_BOUNDS[1]:
            raise ValueError(f"Neubau: die Zahl der Wohnungen muss zwischen {DWELLINGS_BOUNDS[0]} und "
                             f"{format_int(DWELLINGS_BOUNDS[1])} liegen (angegeben: {format_int(dwellings)}).")
        row = pd.DataFrame({"district_id": [district_id], "year": [year], "dwellings": [dwellings]})
        self.table = pd.concat([self.table, row], ignore_index=True) if len(self.table) else row
        self._changed()

    def _add_clicked(self, _button=None) -> None:
        try:
            self.add(self.district.value, self.year.value, self.dwellings.value)
        except ValueError as error:  # German already
            self.message.value = f'<span class="bif-status bif-error" role="alert">{html.escape(str(error))}</span>'
        else:
            self.message.value = ""

    def remove(self, index: int | None) -> None:
        if index is None or not 0 <= int(index) < len(self.table):
            return
        self.table = self.table.drop(index=int(index)).reset_index(drop=True)
        self._changed()

    def clear(self) -> None:
        if len(self.table):
            self.table = self.table.iloc[0:0].copy()
            self._changed()

    def _row_text(self, row) -> str:
        return (f"{self.names.get(int(row.district_id), row.district_id)}: {format_int(row.dwellings)} Wohnungen "
                f"ab {int(row.year)}")

    def _show(self) -> None:
        if not len(self.table):
            self.listing.value = '<div class="bif-help">Noch keine Neubauvorhaben eingetragen.</div>'
            self.remove_choice.options = []
            self.remove_row.layout.display = "none"
            return
        items = "".join(f"<li>{html.escape(self._row_text(row))}</li>" for row in self.table.itertuples(index=False))
        self.listing.value = f'<ul class="bif-housing-list">{items}</ul>'
        self.remove_choice.options = [(self._row_text(row), i) for i, row in enumerate(self.table.itertuples(index=False))]
        self.remove_row.layout.display = None

    def _changed(self) -> None:
        self._show()
        for callback in self._callbacks:
            callback(self.table.copy())


def format_int(value) -> str:
    from bif_lib.i18n import format_number

    return format_number(float(value), 0)
