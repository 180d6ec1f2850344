"""Hand-computed cases of the corrected school rules (issue #15; docs/planning-models.md, "Schulbedarf"):
the entry rate pooled over several cohorts and years with other Träger counted, the cut-off
cohorts, the assignment fitted to today's enrolment by IPF, and the headroom of estimated
capacities. Each case is a worked example of the documentation."""

import numpy as np
import pandas as pd
import pytest

from bif_lib.apps.views import schulbedarf
from bif_lib.planning.schools import (
    STATUS_OK,
    STATUS_OVER,
    SchoolSettings,
    base_pupils_by_grade,
    calibrate_entry_rate,
    calibrate_progression,
    cutoff_share,
    entrants_check,
    estimate_capacities,
    fit_assignment,
    project_school_demand,
    school_cohorts,
)

# children at 31.12.2022 of one city with one district: ages 6..10
AGES_2022 = {6: 100, 7: 120, 8: 110, 9: 90, 10: 100}


def _population(ages_by_year: dict[int, dict[int, float]], district: int = 1) -> pd.DataFrame:
    rows = [(year, district, "m", age, count) for year, ages in ages_by_year.items() for age, count in ages.items()]
    return pd.DataFrame(rows, columns=["year", "district_id", "sex", "age", "population"])


@pytest.fixture
def directory() -> pd.DataFrame:
    """Every school of the directory: two municipal primary schools, a private 1-10 school, a
    Förderzentrum without grade range and a Gymnasium."""
    return pd.DataFrame({
        "school_id": ["A", "B", "P", "F", "G"],
        "name": ["Schule A", "Schule B", "Privatschule P", "Förderzentrum F", "Gymnasium G"],
        "pupils": [200, 136, 150, 30, 900],
        "grades": ["1-4", "1-4", "1-10", None, "5-13"],
        "operator": ["Stadt", "Stadt", "Verein", "Stadt", "Stadt"],
    })


# --- cut-off and cohorts ---------------------------------------------------------------------------

def test_cutoff_share_is_the_part_of_a_birth_year_up_to_the_cutoff():
    assert cutoff_share("30.06.") == pytest.approx(181 / 365)  # 31+28+31+30+31+30 days
    assert cutoff_share("06-30") == pytest.approx(181 / 365)
    assert cutoff_share("31.12.") == 1.0
    with pytest.raises(ValueError, match="Einschulungsstichtag"):
        cutoff_share("31.02.")


def test_grade_cohorts_mix_two_ages_by_the_cutoff():
    # grade g = f x age (5+g) + (1-f) x age (6+g), f = 0.5:
    # g1 = (100+120)/2 = 110, g2 = (120+110)/2 = 115, g3 = (110+90)/2 = 100, g4 = (90+100)/2 = 95
    cohorts = school_cohorts(_population({2022: AGES_2022}), [2022], cutoff_share=0.5)
    assert cohorts["children"].tolist() == pytest.approx([110, 115, 100, 95])
    # f = 1 (cut-off 31.12.): grade g = age 5+g
    plain = school_cohorts(_population({2022: AGES_2022}), [2022], cutoff_share=1.0)
    assert plain["children"].tolist() == [100, 120, 110, 90]
    with pytest.raises(ValueError, match="fehlen die Alter"):
        school_cohorts(_population({2022: {6: 1, 7: 1}}), [2022], cutoff_share=0.5)


# --- entry rate from several cohorts and years ---------------------------------------------------

def test_entry_rate_pooled_over_four_cohorts_with_other_traeger_counted(directory):
    # municipal pupils in grades 1-4: A 200 + B 136 = 336 (F has no grade range: not counted, named)
    # other Träger: P 150 x 4/10 = 60; Gymnasium: no grade 1-4
    # children of the four cohorts: 110 + 115 + 100 + 95 = 420
    # rate = 336 / 420 = 0.8 = coverage 396/420 (0.942857) x municipal share 336/396 (0.848485)
    calibration = calibrate_entry_rate(directory, _population({2022: AGES_2022}), base_year=2022,
                                       operators=["Stadt"], cutoff_share=0.5)
    assert calibration.rate == pytest.approx(0.8)
    assert calibration.coverage == pytest.approx(396 / 420)
    assert calibration.municipal_share == pytest.approx(336 / 396)
    assert calibration.rate == pytest.approx(calibration.coverage * calibration.municipal_share)
    assert (calibration.municipal_pupils, calibration.other_pupils, calibration.children) == (336, 60, 420)
    assert calibration.other_schools == ("Privatschule P",)
    assert calibration.excluded == ("Förderzentrum F",)
    assert calibration.grade_weights == pytest.approx((110, 115, 100, 95))
    assert calibration.cohorts == 4 and "gepoolt über 4 Jahrgänge" in calibration.source_de()
    # the old rule - grade 1 (336 / 4 = 84) over the six-year-olds (100) - gave 0.84, and ignored P


def test_entry_rate_pooled_over_several_years_is_a_ratio_of_sums(directory):
    # 2021: A 180 + B 120 = 300 municipal, children 4 x 100 = 400 (rate 0.75); 2022: 336 / 420 (0.8)
    # pooled: (300 + 336) / (400 + 420) = 636 / 820 = 0.77561 - not the mean of the rates (0.775)
    earlier = directory.assign(pupils=[180, 120, 150, 30, 900], year=2021)
    both = pd.concat([earlier, directory.assign(year=2022)], ignore_index=True)
    population = _population({2021: dict.fromkeys(AGES_2022, 100), 2022: AGES_2022})
    calibration = calibrate_entry_rate(both, population, base_year=2022, operators=["Stadt"], cutoff_share=0.5)
    assert calibration.years == (2021, 2022) and calibration.cohorts == 8
    assert calibration.rate == pytest.approx(636 / 820)
    assert calibration.grade_weights == pytest.approx((110, 115, 100, 95))  # the last year's cohorts


def test_without_operator_list_the_private_flag_decides(directory):
    flagged = directory.drop(columns="operator").assign(private_school=[False, False, True, False, False])
    calibration = calibrate_entry_rate(flagged, _population({2022: AGES_2022}), base_year=2022, cutoff_share=0.5)
    assert calibration.rate == pytest.approx(0.8) and calibration.other_pupils == 60


def test_base_grades_follow_the_cohorts_and_first_entrants_follow_the_entry_cohort(directory):
    # base grade 1 = pupils / 4 x 110 / mean(110, 115, 100, 95) = pupils / 4 x 110 / 105:
    #   A 52.381, B 35.619 -> 88 = 0.8 x 110 (rate x entry cohort): no jump from the calibration itself
    # 2023: entry cohort 0.5 x 100 + 0.5 x 120 = 110 (ages 6, 7 in 2023) -> entrants 0.8 x 110 = 88
    population = _population({2022: AGES_2022, 2023: {6: 100, 7: 120, 8: 1, 9: 1, 10: 1}})
    calibration = calibrate_entry_rate(directory, population, base_year=2022, operators=["Stadt"], cutoff_share=0.5)
    schools = directory.iloc[:2].assign(name=["Schule A", "Schule B"])
    base = base_pupils_by_grade(schools, calibration.grade_weights).set_index(["school_id", "grade"])["pupils"]
    assert base.loc["A"].tolist() == pytest.approx([200 / 4 * w / 105 for w in (110, 115, 100, 95)])
    assert base.loc["A"].sum() == pytest.approx(200)
    assignment = pd.DataFrame({"district_id": [1, 1], "school_id": ["A", "B"], "share": [200 / 336, 136 / 336]})
    result = project_school_demand(population, schools, base_year=2022, horizon_year=2023, assignment=assignment,
                                   entry_rate=calibration, settings=SchoolSettings(entry_cutoff_share=0.5))
    check = entrants_check(result)
    assert check["observed"] == pytest.approx(88) and check["projected"] == pytest.approx(88)
    assert check["change"] == pytest.approx(0.0) and check["within"]
    assert "Einschulungsstichtag" in result.assumptions["children_at_entry_age"]
    assert result.assumptions["entry_calibration"]["other_schools"] == ["Privatschule P"]


# --- progression --------------------------------------------------------------------------------

def test_progression_pooled_over_years_where_grades_exist():
    # 2021: grades 100, 90, 80, 70; 2022: 105, 98, 88, 80; 2023: 110, 100, 97, 86
    # 1->2: (98 + 100) / (100 + 105) = 0.965854; 2->3: (88 + 97) / (90 + 98) = 0.984043;
    # 3->4: (80 + 86) / (80 + 88) = 0.988095
    rows = [(y, g, v) for y, values in {2021: (100, 90, 80, 70), 2022: (105, 98, 88, 80),
                                        2023: (110, 100, 97, 86)}.items() for g, v in zip((1, 2, 3, 4), values)]
    history = pd.DataFrame(rows, columns=["year", "grade", "pupils"])
    assert calibrate_progression(history) == pytest.approx((198 / 205, 185 / 188, 166 / 168))
    assert calibrate_progression(history[history["year"] == 2022]) is None  # one year: not estimable


# --- assignment fitted to enrolment -------------------------------------------------------------

def test_ipf_assignment_reproduces_each_schools_pupils():
    # gravity shares d1: A 0.8, B 0.2; d2: A 0.3, B 0.7; pupils living in d1 150, d2 170; schools A 200, B 120.
    # IPF keeps the seed's odds ratio (0.8 x 0.7) / (0.2 x 0.3) = 28/3; with flows a = d1->A:
    # a (a - 30) / ((150 - a)(200 - a)) = 28/3  ->  a = 130.062, d1: A 0.867082, B 0.132918;
    # d2 -> A = 200 - a = 69.938, i.e. d2: A 0.411398, B 0.588602.
    seed = pd.DataFrame({"district_id": [1, 1, 2, 2], "school_id": ["A", "B", "A", "B"],
                         "share": [0.8, 0.2, 0.3, 0.7]})
    fitted = fit_assignment(seed, {1: 150, 2: 170}, {"A": 200, "B": 120})
    shares = fitted.set_index(["district_id", "school_id"])["share"]
    a = (3236.6667 - np.sqrt(3236.6667 ** 2 - 4 * 8.333333 * 280000)) / (2 * 8.333333)  # the quadratic's root
    assert a == pytest.approx(130.062, abs=1e-3)
    assert shares[(1, "A")] == pytest.approx(a / 150, abs=1e-5) and shares[(1, "A")] == pytest.approx(0.867082, abs=1e-6)
    assert shares[(2, "B")] == pytest.approx(0.588602, abs=1e-6)
    np.testing.assert_allclose(fitted.groupby("district_id")["share"].sum(), 1.0)
    modelled = (fitted.assign(flow=fitted["share"] * fitted["district_id"].map({1: 150, 2: 170}))
                .groupby("school_id")["flow"].sum())
    assert modelled["A"] == pytest.approx(200, rel=1e-8) and modelled["B"] == pytest.approx(120, rel=1e-8)
    assert fitted.attrs["ipf"]["converged"]
    # odds ratio of the seed kept
    odds = shares[(1, "A")] * shares[(2, "B")] / (shares[(1, "B")] * shares[(2, "A")])
    assert odds == pytest.approx(28 / 3)


def test_ipf_scales_demand_to_the_pupils_and_keeps_rows_without_children():
    seed = pd.DataFrame({"district_id": [1, 1, 2, 2, 3, 3], "school_id": ["A", "B"] * 3,
                         "share": [0.8, 0.2, 0.3, 0.7, 0.5, 0.5]})
    fitted = fit_assignment(seed, {1: 75, 2: 85, 3: 0}, {"A": 200, "B": 120})  # demand x 2 = pupils
    shares = fitted.set_index(["district_id", "school_id"])["share"]
    assert shares[(1, "A")] == pytest.approx(0.867082, abs=1e-6)  # same shares as with 150 / 170
    assert shares[(3, "A")] == 0.5  # no children: the seed row
    with pytest.raises(ValueError, match="Schülerzahl fehlt"):
        fit_assignment(seed, {1: 75, 2: 85}, {"A": 200})


# --- capacities with a stated headroom ------------------------------------------------------------

def test_estimated_capacity_has_the_stated_headroom():
    # 294 pupils in 1-4: 73.5 per grade / 25 = 2.94 -> x 1.10 = 3.234 -> 4 streams, 400 places
    #   (the old rule "fewest streams that fit" gave ceil(2.94) = 3 streams: 300 places, 2 % room)
    # 200 pupils: 50 / 25 = 2 -> x 1.10 = 2.2 -> 3 streams (old: 2 streams, 200 places, no room)
    # 330 pupils: 82.5 / 25 = 3.3 -> 3.63 -> 4 streams
    schools = pd.DataFrame({"school_id": ["X", "Y", "Z"], "pupils": [294, 200, 330], "grades": ["1-4"] * 3})
    estimate = estimate_capacities(schools, class_size=25, headroom=0.10).set_index("school_id")
    assert estimate["streams"].tolist() == [4, 3, 4]
    assert estimate["capacity_places"].tolist() == [400, 300, 400]
    assert (estimate["capacity_source"] == "Schätzung").all()
    assert estimate_capacities(schools, class_size=25, headroom=0.0)["streams"].tolist() == [3, 2, 4]
    with pytest.raises(ValueError, match="Reserve"):
        estimate_capacities(schools, headroom=2.0)


def test_office_capacities_replace_estimates_and_classrooms_bound_the_classes():
    schools = pd.DataFrame({"school_id": ["X", "Y"], "name": ["X", "Y"], "pupils": [294, 200], "grades": ["1-4"] * 2})
    office = pd.DataFrame({"school_id": ["Y"], "streams": [2.0], "classrooms": [9.0], "class_size": [24.0]})
    caps = schulbedarf.default_capacities(schools, class_size=25, headroom=0.10, office=office).set_index("school_id")
    assert caps.loc["X", "capacity_source"] == "Schätzung" and caps.loc["X", "streams"] == 4
    assert caps.loc["Y", "capacity_source"] == "Schulamt" and caps.loc["Y", "streams"] == 2
    assert schulbedarf.capacities_estimated(caps.reset_index())
    population = pd.DataFrame({"year": [2022, 2023], "district_id": [1, 1], "sex": ["m", "m"], "age": [6, 6],
                               "population": [100.0, 100.0]})
    assignment = pd.DataFrame({"district_id": [1, 1], "school_id": ["X", "Y"], "share": [0.5, 0.5]})
    result = schulbedarf.school_demand(population, schools, caps.reset_index(), base_year=2022, horizon_year=2023,
                                       assignment=assignment, entry_rate=1.0, capacity_headroom=0.10)
    y = result.schools.set_index(["year", "school_id"]).loc[(2022, "Y")]
    assert y["capacity_classes"] == 9 and y["capacity_places"] == 9 * 24  # classrooms x class size
    # 200 pupils = 50 per grade -> ceil(50 / 24) = 3 classes x 4 = 12 > 9 classrooms: over, although 200 < 216 places
    assert y["classes"] == 12 and y["pupils"] < y["capacity_places"] and y["status"] == STATUS_OVER
    assert result.schools.set_index(["year", "school_id"]).loc[(2022, "X"), "status"] == STATUS_OK
    assert "Reserve 10 %" in schulbedarf.estimate_note(result) or "Reserve 10" in schulbedarf.estimate_note(result)
    assert "geschätzte Kapazität" in schulbedarf.school_key_figures(result, 2023)["Kapazität"]
    assert "geschätzte Kapazität" in schulbedarf.school_overview(result, schools.assign(district_id=1), {1: "Mitte"},
                                                                 2023).title


def test_progression_follows_the_catchment_cohort_when_asked():
    # cut-off 31.12. (grade g = age 5+g), one district, one school with 400 pupils (100 per grade), rate 1.
    # 2022 -> 2023: age 6: 110 (new entrants), 100 -> 105 at age 7 (+5 moved in), 100 -> 100, 100 -> 90 at age 9
    # grade 2 = 100 x 105/100 = 105, grade 3 = 100 x 100/100 = 100, grade 4 = 100 x 90/100 = 90; total 405
    population = _population({2022: {6: 100, 7: 100, 8: 100, 9: 100}, 2023: {6: 110, 7: 105, 8: 100, 9: 90}})
    school = pd.DataFrame({"school_id": ["A"], "name": ["A"], "pupils": [400], "grades": ["1-4"]})
    assignment = pd.DataFrame({"district_id": [1], "school_id": ["A"], "share": [1.0]})
    result = project_school_demand(population, school, base_year=2022, horizon_year=2023, assignment=assignment,
                                   entry_rate=1.0, settings=SchoolSettings(follow_cohorts=True))
    grades = result.grades[result.grades["year"] == 2023]["pupils"].tolist()
    assert grades == pytest.approx([110, 105, 100, 90])
    assert "Einzugsbereich" in result.assumptions["progression_source"]
    fixed = project_school_demand(population, school, base_year=2022, horizon_year=2023, assignment=assignment,
                                  entry_rate=1.0)
    assert fixed.grades[fixed.grades["year"] == 2023]["pupils"].tolist() == pytest.approx([110, 100, 100, 100])
