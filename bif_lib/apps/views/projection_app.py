"""What the apps built on the population projection share (Kita, Schulbedarf): loading the
districts and the projection's inputs, the „Daten & Qualität“ panel, the order of building the
page, and what a download says about itself. A subclass loads its own facilities
(``load_own``), builds its controls, reactions and layout, and says what is selected.

The districts (codes, names, level label) come from the city profile; their polygons from
the profile's boundaries dataset, if the city has one (``self.districts`` is None without:
the app shows tables and charts and no map)."""

from __future__ import annotations

from typing import ClassVar

from bif_lib.apps.requirements import load_boundaries
from bif_lib.apps.views.common import Projector, app_notes, district_names
from bif_lib.apps.widgets import DataQualityPanel
from bif_lib.apps.widgets.export import ExportInfo
from bif_lib.loaders import load_projection_inputs


class ProjectionApp:
    """The widgets of an app and their reactions; ``widget`` is the page."""

    APP_ID: ClassVar[str] = ""
    APP_TITLE: ClassVar[str] = ""
    MODEL: ClassVar[str] = ""
    QUALITY_NOTES: ClassVar[list[str]] = []

    def __init__(self, *, store=None):
        self.districts = load_boundaries(store=store)  # GeoDataFrame, or None: no map
        self.names = district_names()  # the profile's districts, in its order
        own = self.load_own(store)
        # internal: single ages + projection parameters (released register, or estimated from stocks)
        self.inputs = load_projection_inputs(store=store)
        self.projector = Projector(self.inputs)
        if not self.names:  # a profile without districts: those of the projection
            self.names = {int(d): str(d) for d in self.projector.inputs.base_population["district_id"].unique()}
        shown = [self.districts] if self.districts is not None else []
        self.quality = DataQualityPanel([*shown, *own, *self.inputs.parameters.inputs.items()],
                                        notes=[*self.QUALITY_NOTES, *app_notes(self.APP_ID)])
        self._build_controls()
        self._connect()
        self.widget = self._layout()

    @property
    def has_map(self) -> bool:
        return self.districts is not None

    def load_own(self, store) -> list:
        """Load the app's own datasets (after the districts); returns those the panel lists."""
        return []

    def selection(self) -> str:
        """What is selected, in German (for the export's file name and sheet)."""
        raise NotImplementedError

    def export_info(self) -> ExportInfo:
        """What a download says about itself: app, selection, scenario, every assumption, data, model."""
        return self.quality.export_info(app=self.APP_TITLE, app_id=self.APP_ID, selection=self.selection(),
                                        scenario=self.scenario.assumptions().label_de, model=self.MODEL)

    def _build_controls(self) -> None:
        raise NotImplementedError

    def _connect(self) -> None:
        raise NotImplementedError

    def _layout(self):
        raise NotImplementedError
