"""The corrected school model on the bootstrapped Flensburg store (issue #15): the entry rate
counts the Danish and private schools, the first projected year's entrants stay within ±10 % of
the base year's, no school is over its estimated capacity in the first projected year, the
assignment reproduces each school's pupils, and the app says „geschätzte Kapazität“."""

import pytest

from bif_lib.apps.views import schulbedarf
from bif_lib.planning.schools import ENTRANTS_BAND, entrants_check


@pytest.fixture(scope="module")
def app(flensburg_home):
    from bif_lib.store import Store

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIF_HOME", str(flensburg_home))
        mp.delenv("BIF_STORE", raising=False)
        yield schulbedarf.SchulbedarfApp(store=Store(flensburg_home / "store"))


def test_entry_rate_counts_other_traeger_and_is_pooled(app):
    assert app.model["school_entry_cutoff"] == "30.06." and app.model["cutoff_share"] == pytest.approx(181 / 365)
    result = app.result
    calibration = result.assumptions["entry_calibration"]
    # municipal Grundschulen: 2.728 pupils in grades 1-4; Danish schools, Waldorf and Ostseeschule counted
    assert calibration["municipal_pupils"] == pytest.approx(2728)
    assert calibration["other_pupils"] > 500
    assert any("Skole" in name for name in calibration["other_schools"])
    assert 0.6 < calibration["municipal_share"] < 0.9
    rate = calibration["rate"]
    assert rate == pytest.approx(calibration["coverage"] * calibration["municipal_share"])
    assert rate < 0.9  # the one-cohort rule gave 682 / 701 = 0.973
    assert "gepoolt über 4 Jahrgänge" in result.assumptions["entry_rate_source"]
    assert calibration["not_counted"]  # Förderzentren without grade range are named, not silently dropped


def test_first_projected_entrants_within_the_band_of_the_base_year(app):
    check = entrants_check(app.result)
    assert check["band"] == ENTRANTS_BAND == 0.10
    assert check["within"], check
    text = schulbedarf.school_assumptions_text(app.result, app.capacities.table)
    assert "innerhalb des Bands ±10 %" in text["Plausibilität Einschulungen"]


def test_no_school_over_estimated_capacity_in_the_first_projected_year(app):
    schools = app.result.schools
    base_year = int(schools["year"].min())
    first = schools[schools["year"] == base_year + 1]
    assert (first["capacity_source"] == "Schätzung").all()
    assert not first["over_capacity"].fillna(False).astype(bool).any(), first[["name", "pupils", "capacity_places"]]
    base = schools[schools["year"] == base_year]
    assert (base["capacity_places"] >= 1.1 * base["pupils"] - 1e-9).all()  # the stated 10 % headroom


def test_assignment_reproduces_base_year_enrolment(app):
    assignment = app.assignment
    assert assignment.attrs["ipf"]["converged"]
    _, demand = schulbedarf.entry_calibration(
        app.schools_open, schulbedarf.population_table(
            app.projector.project(app.scenario.assumptions(), app.horizon.value), ages=schulbedarf.CALIBRATION_AGES),
        app.projector.base_year, app.model)
    flows = assignment.assign(flow=assignment["share"] * assignment["district_id"].map(demand).fillna(0.0))
    modelled = flows.groupby("school_id")["flow"].sum()
    actual = app.schools.set_index("school_id")["pupils"]
    assert modelled.reindex(actual.index).to_numpy() == pytest.approx(actual.to_numpy(), rel=1e-6)


def test_app_labels_estimated_capacity_in_headline_chart_and_export(app):
    assert "geschätzte Kapazität" in app.figures.value
    assert "geschätzte Kapazität" in app.table.html.value  # the table's title, also the export's
    headers = [text for text in _html_values(app.widget) if 'class="bif-header"' in text]
    assert headers and "geschätzte Kapazität" in headers[0]  # the headline under the title


def _html_values(widget):
    value = getattr(widget, "value", None)
    if isinstance(value, str):
        yield value
    for child in getattr(widget, "children", ()):
        yield from _html_values(child)
