"""Shared planner controls: scenario choice with adjustable assumptions.

:class:`ScenarioControls` offers the standard scenarios (niedrig / mittel / hoch) and the
planner-adjustable factors as sliders limited to their documented bounds
(``bif_lib.planning.scenarios.BOUNDS``), labelled in German with German readouts. Choosing a
scenario resets the sliders to its values; moving a slider turns it into
„<Szenario> (angepasst)“. :meth:`assumptions` returns the validated ``Assumptions``.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from bif_lib.apps.views import common
from bif_lib.apps.widgets.layout import Guard, german_readout

STEPS = {"fertility_factor": 0.01, "mortality_factor": 0.01, "in_migration_factor": 0.01,
         "out_migration_factor": 0.01, "internal_migration_factor": 0.01}
HELP = {
    "fertility_factor": "Geburten je Frau im Verhältnis zu 2018–2022 (1 = wie geschätzt)",
    "mortality_factor": "Sterberisiko im Verhältnis zur Sterbetafel (unter 1 = längeres Leben)",
    "in_migration_factor": "Zuzüge von außerhalb der Stadt pro Jahr (1 = Mittel 2018–2022)",
    "out_migration_factor": "Fortzugsraten aus der Stadt (1 = wie geschätzt)",
    "internal_migration_factor": "Umzüge zwischen den Stadtteilen (1 = wie geschätzt)",
}


class ScenarioControls(widgets.VBox):
    def __init__(self, scenario: str = "medium", *, show: tuple[str, ...] = common.ADJUSTABLE):
        self._guard = Guard()
        self._callbacks: list[Callable[[], None]] = []
        self.scenario = widgets.ToggleButtons(options=common.SCENARIO_CHOICES, value=scenario,
                                              tooltips=["niedrige Geburten und Zuzüge, höhere Sterblichkeit",
                                                        "Raten wie 2018–2022", "höhere Geburten und Zuzüge, "
                                                        "geringere Sterblichkeit"],
                                              style={"button_width": "86px"})
        self.scenario.add_class("bif-scenario")
        self.sliders: dict[str, widgets.FloatSlider] = {}
        rows = []
        values = common.scenario_values(scenario)
        for key, (label, low, high) in common.assumption_bounds().items():
            if key not in show:
                continue
            slider = widgets.FloatSlider(value=values[key], min=low, max=high, step=STEPS[key], description=label,
                                         continuous_update=False, tooltip=f"{label}: {HELP[key]} ({low}–{high})")
            slider.add_class(f"bif-assumption-{key.replace('_', '-')}")
            slider.observe(self._slider_changed, "value")
            self.sliders[key] = slider
            rows.append(german_readout(slider, 2, label=label))
        self.label = widgets.HTML()
        self.reset = widgets.Button(description="Szenariowerte", tooltip="Regler auf die Werte des Szenarios setzen",
                                    layout=widgets.Layout(width="auto"))
        self.reset.on_click(lambda _: self._apply_scenario())
        details = widgets.Accordion(children=[widgets.VBox(rows + [self.reset])], selected_index=None)
        details.set_title(0, "Annahmen anpassen")
        self.details = details
        self.scenario.observe(lambda change: self._apply_scenario(), "value")
        super().__init__(children=[self.scenario, self.label, details])
        self._update_label()

    def on_change(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def assumptions(self):
        return common.assumptions_for(self.scenario.value, **{k: s.value for k, s in self.sliders.items()})

    def _update_label(self) -> None:
        label = self.assumptions().label_de
        self.label.value = f'<span class="bif-muted">Annahmen: <b>{label}</b></span>'

    def _apply_scenario(self) -> None:
        values = common.scenario_values(self.scenario.value)
        with self._guard:
            for key, slider in self.sliders.items():
                slider.value = values[key]
        self._changed()

    def _slider_changed(self, change) -> None:
        if not self._guard:
            self._changed()

    def _changed(self) -> None:
        self._update_label()
        for callback in self._callbacks:
            callback()
