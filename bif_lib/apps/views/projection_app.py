"""What the apps built on the population projection share (Kita, Schulbedarf): loading the
districts and the projection's inputs, the „Daten & Qualität“ panel, the order of building the
page, and what a download says about itself. A subclass loads its own facilities
(``load_own``), builds its controls, reactions and layout, and says what is selected.

The districts (codes, names, level label) come from the city profile; their polygons from
the profile's boundaries dataset, if the city has one (``self.districts`` is None without:
the app shows tables and charts and no map).

„Daten & Qualität“ shows the projection's back-test (:func:`load_backtest`), computed when the
panel is first opened."""

from __future__ import annotations

from typing import ClassVar

from bif_lib.apps.requirements import load_boundaries
from bif_lib.apps.views.common import (
    Projector,
    app_notes,
    backtest_lines,
    city_profile,
    district_names,
    first_year_lines,
)
from bif_lib.apps.widgets import DataQualityPanel
from bif_lib.apps.widgets.export import ExportInfo
from bif_lib.loaders import load_projection_inputs
from bif_lib.planning.scenarios import scenario


def load_backtest(*, store=None, age_bands=None):
    """The projection's back-test (:mod:`bif_lib.planning.backtest`) from the data the city's
    projection reads (``planning.population`` of the profile):

    * ``register_release``: the released single ages of every year; from the earliest year with
      the released parameters (estimated from the base period: a check in the sample);
    * ``stocks``: the published stocks; the parameters re-estimated from the stocks up to the
      base year (out of the sample), the base year two years after the first stock.

    Reads the store (the stocks, or the single ages, once more): apps call it when the back-test
    is first shown, not when they open."""
    from bif_lib.api import load
    from bif_lib.planning.backtest import backtest_single_ages, backtest_stocks

    profile = city_profile()
    planning = profile.planning
    if planning.get("population") == "stocks":
        spec = planning.get("stocks") or {}
        from bif_lib.loaders import load_stocks

        stocks, _ = load_stocks(planning, store=store)
        lifetable = load(planning["life_table"], store=store)
        births = load(spec["births"], store=store) if spec.get("births") else None
        return backtest_stocks(stocks, lifetable, births=births, fertility=planning.get("fertility"),
                               district_ids=profile.districts.codes, age_bands=age_bands)
    from bif_lib.loaders import load_projection_inputs, load_single_ages

    # the equal-weight variant of the released rates: the recency-weighted rates the projection
    # uses do not reproduce their own base period by design (docs/planning-models.md, back-test)
    pooled = load_projection_inputs(variant="pooled", store=store).parameters
    return backtest_single_ages(load_single_ages(store=store), pooled, age_bands=age_bands)


class ProjectionApp:
    """The widgets of an app and their reactions; ``widget`` is the page."""

    APP_ID: ClassVar[str] = ""
    APP_TITLE: ClassVar[str] = ""
    MODEL: ClassVar[str] = ""
    QUALITY_NOTES: ClassVar[list[str]] = []
    CACHE_SIZE: ClassVar[int] = 8  # projections kept (scenario × horizon × housing)

    def __init__(self, *, store=None):
        self.districts = load_boundaries(store=store)  # GeoDataFrame, or None: no map
        self.names = district_names()  # the profile's districts, in its order
        own = self.load_own(store)
        # internal: single ages + projection parameters (released register, or estimated from stocks)
        self.inputs = load_projection_inputs(store=store)
        self.projector = Projector(self.inputs, cache_size=self.CACHE_SIZE)
        if not self.names:  # a profile without districts: those of the projection
            self.names = {int(d): str(d) for d in self.projector.inputs.base_population["district_id"].unique()}
        shown = [self.districts] if self.districts is not None else []
        self.quality = DataQualityPanel([*shown, *own, *self.inputs.parameters.inputs.items()],
                                        notes=[*self.QUALITY_NOTES, *app_notes(self.APP_ID)])
        self._store = store
        self._backtest = None
        # the back-test is computed when „Daten & Qualität“ is first opened: opening the app stays as fast
        self.quality.set_backtest(lambda: [*backtest_lines(self.backtest()), *self.first_year_lines()])
        self._build_controls()
        self._connect()
        self.widget = self._layout()

    def backtest(self):
        """The back-test of the projection (computed once, on first use)."""
        if self._backtest is None:
            self._backtest = load_backtest(store=self._store)
        return self._backtest

    def first_year_lines(self) -> list[str]:
        """The first projected year of the medium scenario against the last observed year."""
        result = self.projector.project(scenario("medium"), self.projector.base_year + 1)
        return first_year_lines(result)

    def refresh(self, change=None, recompute: bool = True, overview: bool = True) -> None:
        """Recompute the projection (``compute``), redraw what shows every district
        (``show_overview``) and what shows the selection (``show_selection``), as needed."""
        with self.status.working():
            if recompute:
                self.compute()
            if recompute or overview:
                self.show_overview()
            self.show_selection()

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
