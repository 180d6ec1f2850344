"""„Daten & Qualität“ of the projection apps shows the first projected year against the last
observed one (issue #15: a visible check), computed with the back-test when the panel opens."""

from __future__ import annotations

import re


def test_the_panel_shows_the_first_year_check(flensburg_store):
    from bif_lib.apps.views.kita import KitaApp
    from bif_lib.planning.projection import first_year_check
    from bif_lib.planning.scenarios import scenario

    app = KitaApp(store=flensburg_store)
    assert app.quality.backtest_lines == []  # not computed while the app opens
    lines = app.quality.compute_backtest()
    start = next(i for i, line in enumerate(lines) if line.startswith("Plausibilität: erstes Prognosejahr"))
    assert "2023 gegen das letzte beobachtete Jahr 2022" in lines[start]
    shown = lines[start + 1:start + 6]
    check = first_year_check(app.projector.project(scenario("medium"), 2023))
    assert [line.lstrip("⚠ ").split(":")[0] for line in shown] == list(check["label_de"])
    # births as the model projects them, and within the stated band of the last observed year
    births = check.set_index("component").loc["births"]
    assert not births["outside_band"] and abs(births["change"]) < births["band"]
    assert re.search(r"Geburten: [\d.]+ → [\d.]+ \([+-]?\d+,\d %; innerhalb ±10 %\)", shown[0]), shown[0]
