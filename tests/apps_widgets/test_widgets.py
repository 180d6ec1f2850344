"""Widget building blocks without a browser: status line, controls, capacity editor, views."""

import threading

import pandas as pd
import pytest

from bif_lib.apps.views.common import ViewTable
from bif_lib.apps.widgets.controls import ScenarioControls
from bif_lib.apps.widgets.editors import CapacityEditor
from bif_lib.apps.widgets.layout import ChartView, Guard, TableView, german_readout, replace_options
from bif_lib.apps.widgets.loading import RAISE_ENV, Status


@pytest.fixture(autouse=True)
def no_raise(monkeypatch):
    monkeypatch.delenv(RAISE_ENV, raising=False)


def test_status_shows_german_errors_and_restores_controls():
    import ipywidgets as w

    status, button = Status(), w.Button()
    with status.working(disable=[button]):
        assert "Berechne" in status.value and button.disabled
    assert status.value == "" and not button.disabled and status.last_seconds is not None
    with status.working():
        raise ValueError("„Faktor Zuzüge“ muss zwischen 0 und 2 liegen (angegeben: 3).")
    assert "Eingabe nicht übernommen" in status.value and "Faktor Zuzüge" in status.value
    with status.working():
        raise KeyError("x")
    assert "fehlgeschlagen" in status.value and status.last_error


def test_status_reraises_for_tests(monkeypatch):
    monkeypatch.setenv(RAISE_ENV, "1")
    with pytest.raises(KeyError):
        with Status().working():
            raise KeyError("x")


def test_scenario_controls():
    controls = ScenarioControls("medium")
    calls = []
    controls.on_change(lambda: calls.append(controls.assumptions().name))
    assert controls.assumptions().name == "medium"
    controls.sliders["fertility_factor"].value = 1.2
    assert calls[-1] == "mittel (angepasst)" and "angepasst" in controls.label.value
    controls.scenario.value = "high"  # resets the sliders to the scenario, one notification
    assert calls[-1] == "high" and len(calls) == 2
    assert controls.sliders["fertility_factor"].value == pytest.approx(1.08)
    slider = controls.sliders["in_migration_factor"]
    assert (slider.min, slider.max) == (0.0, 2.0) and slider.tooltip.startswith("Faktor Zuzüge")
    assert "Faktor Zuzüge" in controls.details.children[0].children[2].children[0].value


def test_capacity_editor_marks_input_and_resets():
    caps = pd.DataFrame({"school_id": ["A", "B"], "name": ["Schule A", "Schule B"], "streams": [2.0, 3.0],
                         "class_size": [25.0, 25.0], "capacity_source": ["Schätzung", "Schätzung"]})
    editor = CapacityEditor(caps)
    seen = []
    editor.on_change(seen.append)
    editor.set_value("A", streams=3)
    assert seen[-1].set_index("school_id").loc["A", "streams"] == 3
    assert editor.table["capacity_source"].tolist() == ["Eingabe", "Schätzung"]
    assert "Eingabe" in editor._rows["A"][2].value
    editor.set_value("A", streams=2)  # back to the estimate
    assert editor.table["capacity_source"].tolist() == ["Schätzung", "Schätzung"]
    editor.set_value("B", class_size=20)
    editor.reset()
    assert editor.table.equals(caps) and len(seen) == 4
    streams = editor._rows["A"][0]
    assert (streams.min, streams.max) == (0, 10)


def in_own_thread(function):
    """Run ``function`` in a thread of its own, without an event loop unless it starts one. The
    session's Playwright browser keeps an asyncio loop running in the main thread, and with a
    running loop the views defer their downloads as they do in a kernel."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_table_and_chart_views():
    """Without an event loop (scripts, tests) the downloads are built at once."""
    def check():
        table = ViewTable(pd.DataFrame({"Jahr": [2022], "Wert": [1234.5]}), {"Jahr": "year", "Wert": "dec1"}, "T",
                          filename="t")
        view = TableView(export_info=lambda: {"Lizenz 1": "CC0"})
        view.show(table)
        assert "1.234,5" in view.html.value and "vorbereitet" in view.downloads.value
        view.update_downloads()
        assert "t.xlsx" in view.downloads.value
        chart = ChartView()
        chart.show(b"\x89PNG\r\n", "bild")
        assert chart.image.value == b"\x89PNG\r\n" and 'download="bild.png"' in chart.link.value

    in_own_thread(check)


def test_guard_replace_options_and_german_readout():
    import ipywidgets as w

    guard = Guard()
    assert not guard
    with guard:
        assert guard
    dropdown = w.Dropdown(options=[("a", 1), ("b", 2)], value=2)
    replace_options(dropdown, [("b", 2), ("c", 3)])
    assert dropdown.value == 2
    replace_options(dropdown, [("d", 4)], value=9)
    assert dropdown.value == 4
    slider = w.FloatSlider(value=0.93, min=0, max=2)
    box = german_readout(slider, 2)
    assert "0,93" in box.children[1].value
    slider.value = 1.5
    assert "1,50" in box.children[1].value
    labelled = german_readout(w.FloatSlider(value=0.5, min=0, max=1), 2, label="Bedarfsquote unter 3 Jahre")
    assert "Bedarfsquote unter 3 Jahre" in labelled.children[0].value and "0,50" in labelled.children[1].children[1].value


def test_downloads_follow_once_the_planner_pauses():
    """In a running kernel (event loop) export files and PNG links are built after the change,
    for the last table and chart only; a quick second change cancels the first build."""
    import asyncio

    from bif_lib.apps.widgets.layout import DOWNLOAD_DELAY_S

    def table(name: str) -> ViewTable:
        return ViewTable(pd.DataFrame({"Wert": [1.0]}), {"Wert": "dec1"}, name, filename=name)

    async def changes():
        view, chart = TableView(), ChartView()
        view.show(table("erste"))
        view.update_downloads()
        chart.show(b"\x89PNG1", "erstes")
        assert "vorbereitet" in view.downloads.value and "vorbereitet" in chart.link.value
        view.show(table("zweite"))
        view.update_downloads()
        chart.show(b"\x89PNG2", "zweites")
        await asyncio.sleep(DOWNLOAD_DELAY_S + 0.2)
        assert "zweite.xlsx" in view.downloads.value and "erste" not in view.downloads.value
        assert 'download="zweites.png"' in chart.link.value

    in_own_thread(lambda: asyncio.run(changes()))


def test_a_waiting_download_link_can_be_finished_at_once():
    """Where a loop runs that nobody turns (a script, a test beside a browser), ``finish`` builds
    the chart's link now instead of when the planner pauses."""
    import asyncio
    import threading

    from bif_lib.apps.widgets.layout import PNG_PREPARING, ChartView

    async def inside_a_loop():
        chart = ChartView()
        chart.show(b"\x89PNG fake", "diagramm")
        assert chart.link.value == PNG_PREPARING
        chart.finish()
        assert 'download="diagramm.png"' in chart.link.value

    # in a thread of its own: a browser test before this one may leave the main thread's loop running
    failures = []

    def run() -> None:
        try:
            asyncio.run(inside_a_loop())
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


def test_deferred_work_runs_once_when_run_before_its_timer():
    """``run_deferred`` runs what waits for a timer now (a kernel about to be forked), and the
    timer then does not run it again."""
    import asyncio

    from bif_lib.apps.widgets.layout import Later, run_deferred

    runs = []

    async def scenario():
        later, cancelled = Later(0.05), Later(0.05)
        later(lambda: runs.append("links"))
        cancelled(lambda: runs.append("never"))
        cancelled.cancel()
        run_deferred()
        ran_at_once = list(runs)
        await asyncio.sleep(0.15)
        return ran_at_once

    # on a thread of its own: Playwright's sync API, used by browser tests earlier in the
    # session, leaves a loop running on the main thread
    seen = []
    worker = threading.Thread(target=lambda: seen.append(asyncio.run(scenario())))
    worker.start()
    worker.join(10)
    assert seen == [["links"]] and runs == ["links"]
