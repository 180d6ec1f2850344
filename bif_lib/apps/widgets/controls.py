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

# steps and help texts: the one mapping of assumptions to controls, bif_lib.apps.views.common.ASSUMPTION_CONTROLS
STEPS = {c.key: c.step for c in common.ASSUMPTION_CONTROLS}
HELP = {c.key: c.help_de for c in common.ASSUMPTION_CONTROLS}


class ScenarioControls(widgets.VBox):
    def __init__(self, scenario: str = "medium", *, show: tuple[str, ...] = common.ADJUSTABLE):
        self._guard = Guard()
        self._callbacks: list[Callable[[], None]] = []
        self.scenario = widgets.ToggleButtons(options=common.SCENARIO_CHOICES, value=scenario,
                                              tooltips=["niedrige Geburten und Zuzüge, höhere Sterblichkeit",
                                                        "Raten wie im Basiszeitraum", "höhere Geburten und Zuzüge, "
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
            control = common.CONTROLS_BY_KEY[key]
            rows.append(german_readout(slider, control.decimals, suffix=control.suffix, label=label))
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


class LevelControls(widgets.VBox):
    """The planner's own levels: fields of ``Assumptions`` that are None in the scenarios (as
    estimated) and, when set, replace a factor or trend (e.g. a total fertility rate instead of the
    fertility factor). One checkbox „eigener Wert“ and a slider per level; only checked levels
    are returned by :meth:`values`. ``controls``: :class:`~bif_lib.apps.views.common.AssumptionControl`
    of fields with an entry in ``scenarios.BOUNDS``; ``initial``: the slider's starting value per
    field (e.g. today's level from the data), clipped to ``ranges`` ({field: (low, high)}, default
    the bounds)."""

    def __init__(self, controls, *, initial: dict | None = None, ranges: dict | None = None):
        from bif_lib.planning.scenarios import BOUNDS

        self._callbacks: list[Callable[[], None]] = []
        self._guard = Guard()
        self.checks: dict[str, widgets.Checkbox] = {}
        self.sliders: dict[str, widgets.FloatSlider] = {}
        rows = []
        for control in controls:
            bound = BOUNDS[control.key]
            low, high = (ranges or {}).get(control.key, (bound.low, bound.high))
            low, high = max(low, bound.low), min(high, bound.high)
            start = min(max(float((initial or {}).get(control.key, low)), low), high)
            check = widgets.Checkbox(value=False, description="eigener Wert", indent=False,
                                     layout=widgets.Layout(width="auto"))
            slider = widgets.FloatSlider(value=start, min=low, max=high, step=control.step, continuous_update=False,
                                         disabled=True, tooltip=f"{bound.label_de}: {control.help_de}")
            for item, css in ((check, "bif-level-check"), (slider, "bif-level")):
                item.add_class(f"{css}-{control.key.replace('_', '-')}")
            check.observe(self._toggled, "value")
            slider.observe(self._changed, "value")
            self.checks[control.key], self.sliders[control.key] = check, slider
            rows += [german_readout(slider, control.decimals, suffix=control.suffix, label=bound.label_de), check]
        super().__init__(children=rows)

    def on_change(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def values(self) -> dict[str, float]:
        """{field: value} of the levels the planner set."""
        return {key: float(self.sliders[key].value) for key, check in self.checks.items() if check.value}

    def clear(self) -> None:
        """Every level back to „as in the scenario“ (no callback)."""
        with self._guard:
            for check in self.checks.values():
                check.value = False

    def _toggled(self, change) -> None:
        for key, check in self.checks.items():
            self.sliders[key].disabled = not check.value
        self._changed(change)

    def _changed(self, change) -> None:
        if self._guard:
            return
        if change["owner"] in self.sliders.values() and not self.checks[self._key_of(change["owner"])].value:
            return
        for callback in self._callbacks:
            callback()

    def _key_of(self, slider) -> str:
        return next(key for key, item in self.sliders.items() if item is slider)
