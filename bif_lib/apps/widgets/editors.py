"""Editable input tables for planners.

:class:`CapacityEditor` shows the school capacities (Züge, Klassengröße) one row per school;
estimated values carry the badge „Schätzung“, values the planner changed turn into „Eingabe“.
Inputs are bounded widgets with the model's documented bounds, so nothing out of range can be
entered. ``on_change`` callbacks receive the current table.
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
