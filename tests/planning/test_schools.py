import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import (
    SchoolSettings,
    base_pupils_by_grade,
    default_assignment,
    estimate_capacities,
    project_school_demand,
)
from bif_lib.planning.schools import STATUS_OK, STATUS_OVER, STATUS_UNKNOWN


@pytest.fixture
def schools() -> pd.DataFrame:
    return pd.DataFrame({
        "school_id": ["0700001", "0700002"],
        "name": ["Schule A", "Schule B"],
        "pupils": [100, 200],
        "district_id": [1, 2],
        "grades": ["1-4", "1-10"],  # B: 20 pupils per grade
        "lat": [54.78, 54.80],
        "lon": [9.43, 9.46],
    })


@pytest.fixture
def population() -> pd.DataFrame:
    six_year_olds = {2022: (50, 50), 2023: (60, 40), 2024: (80, 40)}
    rows = [(year, district, sex, 6, count / 2)
            for year, counts in six_year_olds.items()
            for district, count in zip((1, 2), counts) for sex in ("m", "w")]
    rows += [(year, district, "m", 5, 999.0) for year in six_year_olds for district in (1, 2)]  # ignored
    return pd.DataFrame(rows, columns=["year", "district_id", "sex", "age", "population"])


@pytest.fixture
def assignment() -> pd.DataFrame:
    return pd.DataFrame({"district_id": [1, 2, 2], "school_id": ["0700001", "0700001", "0700002"],
                         "share": [1.0, 0.5, 0.5]})


SETTINGS = SchoolSettings(class_size_max=25, progression=(1.0, 0.9, 1.0), repetition=(0.1, 0.0, 0.0, 0.0))


def _demand(population, schools, assignment, **options):
    options.setdefault("settings", SETTINGS)
    options.setdefault("entry_rate", 0.5)
    return project_school_demand(population, schools, base_year=2022, horizon_year=2024,
                                 assignment=assignment, **options)


def test_base_pupils_spread_over_offered_grades(schools):
    base = base_pupils_by_grade(schools).set_index(["school_id", "grade"])["pupils"]
    assert base.loc["0700001"].tolist() == [25.0] * 4
    assert base.loc["0700002"].tolist() == [20.0] * 4


def test_hand_computed_pupils_and_classes(population, schools, assignment):
    # 2023: entrants d1 60*0.5 = 30 -> A; d2 40*0.5 = 20 -> 10 A, 10 B.
    #   A: g1 = 40 + 0.1*25 = 42.5, g2 = 0.9*25 = 22.5, g3 = 0.9*25 = 22.5, g4 = 25 -> classes 2+1+1+1
    #   B: g1 = 10 + 0.1*20 = 12,   g2 = 18, g3 = 18, g4 = 20
    # 2024: entrants A 40 + 10 = 50, B 10.
    #   A: g1 = 50 + 4.25 = 54.25, g2 = 0.9*42.5 = 38.25, g3 = 0.9*22.5 = 20.25, g4 = 22.5 -> 3+2+1+1
    #   B: g1 = 10 + 1.2 = 11.2,   g2 = 10.8, g3 = 16.2, g4 = 18
    result = _demand(population, schools, assignment)
    grades = result.grades.set_index(["year", "school_id"])
    np.testing.assert_allclose(grades.loc[(2023, "0700001"), "pupils"], [42.5, 22.5, 22.5, 25.0])
    np.testing.assert_allclose(grades.loc[(2023, "0700002"), "pupils"], [12.0, 18.0, 18.0, 20.0])
    np.testing.assert_allclose(grades.loc[(2024, "0700001"), "pupils"], [54.25, 38.25, 20.25, 22.5])
    np.testing.assert_allclose(grades.loc[(2024, "0700002"), "pupils"], [11.2, 10.8, 16.2, 18.0])
    assert grades.loc[(2024, "0700001"), "classes"].tolist() == [3, 2, 1, 1]

    by_school = result.schools.set_index(["year", "school_id"])
    assert by_school.loc[(2023, "0700001"), "pupils"] == pytest.approx(112.5)
    assert by_school.loc[(2023, "0700001"), "classes"] == 5
    assert by_school.loc[(2024, "0700001"), "classes"] == 7
    entrants = result.entrants.set_index(["year", "district_id"])["entrants"]
    assert entrants.loc[(2024, 1)] == pytest.approx(40.0)


def test_unknown_capacity_is_a_status_not_a_flag(population, schools, assignment):
    result = _demand(population, schools, assignment)
    assert set(result.schools["status"]) == {STATUS_UNKNOWN}
    assert result.schools["over_capacity"].isna().all()
    assert result.over_capacity.empty
    assert result.assumptions["capacities_unknown"] == ["0700001", "0700002"]


def test_capacity_flags_and_edited_capacities(population, schools, assignment):
    one_stream = pd.DataFrame({"school_id": ["0700001"], "streams": [1]})  # 4 classes, 100 places
    result = _demand(population, schools, assignment, capacities=one_stream)
    a = result.schools[result.schools["school_id"] == "0700001"].set_index("year")
    assert a.loc[2022, "status"] == STATUS_OK  # 100 pupils, 4 classes
    assert a.loc[2023, "status"] == STATUS_OVER
    assert a.loc[2023, "capacity_places"] == 100 and a.loc[2023, "capacity_source"] == "Eingabe"
    b = result.schools[result.schools["school_id"] == "0700002"]
    assert (b["status"] == STATUS_UNKNOWN).all()
    assert set(result.over_capacity["year"]) == {2023, 2024}

    edited = one_stream.assign(streams=2)  # the planner adds a stream
    result = _demand(population, schools, assignment, capacities=edited)
    a = result.schools[result.schools["school_id"] == "0700001"]
    assert (a["status"] == STATUS_OK).all()
    assert a["capacity_places"].eq(200).all()


def test_too_many_classes_flagged_even_with_enough_places(population, schools, assignment):
    capacities = pd.DataFrame({"school_id": ["0700001"], "streams": [1], "capacity_places": [150]})
    a = _demand(population, schools, assignment, capacities=capacities).schools.set_index("year")
    row = a[a["school_id"] == "0700001"].loc[2023]
    assert row["pupils"] < 150 and row["classes"] == 5
    assert row["status"] == STATUS_OVER


def test_estimated_capacities_are_marked(population, schools, assignment):
    estimate = estimate_capacities(schools, class_size=25)
    assert estimate.set_index("school_id")["streams"].tolist() == [1.0, 1.0]  # 25/25 is one stream
    assert (estimate["capacity_source"] == "Schätzung").all()
    result = _demand(population, schools, assignment, capacities=estimate)
    assert (result.schools["capacity_source"] == "Schätzung").all()
    assert result.assumptions["capacities_estimated"] == ["0700001", "0700002"]


def test_entry_rate_calibrated_in_base_year_by_default(population, schools, assignment):
    result = _demand(population, schools, assignment, entry_rate=None)
    # base grade-1 pupils 25 + 20 = 45 over 100 six-year-olds
    assert result.entrants["entry_rate"].unique().tolist() == [pytest.approx(0.45)]
    assert "kalibriert" in result.assumptions["entry_rate_source"]


def test_default_assignment_shares_sum_to_one(schools):
    by_district = default_assignment(schools, district_ids=(1, 2, 3))
    sums = by_district.groupby("district_id")["share"].sum()
    np.testing.assert_allclose(sums, 1.0)
    shares = by_district.set_index(["district_id", "school_id"])["share"]
    assert shares[(1, "0700001")] == 1.0  # own school
    assert shares[(3, "0700001")] == pytest.approx(100 / 180)  # no school: by primary pupils 100 : 80

    centroids = pd.DataFrame({"district_id": [1, 2], "lat": [54.78, 54.80], "lon": [9.43, 9.46]})
    gravity = default_assignment(schools, centroids, district_ids=(1, 2)).set_index(
        ["district_id", "school_id"])["share"]
    assert gravity[(1, "0700001")] > 0.5 and gravity[(2, "0700002")] > 0.4


def test_inputs_are_validated(population, schools, assignment):
    with pytest.raises(ValueError, match="Klassengröße"):
        SchoolSettings(class_size_max=50)
    with pytest.raises(ValueError, match="Wiederholerquote Klasse 2"):
        SchoolSettings(repetition=(0.0, 0.5, 0.0, 0.0))
    with pytest.raises(ValueError, match="Einschulungsquote"):
        _demand(population, schools, assignment, entry_rate=2.0)
    with pytest.raises(ValueError, match="Züge der Schule 0700001"):
        _demand(population, schools, assignment,
                capacities=pd.DataFrame({"school_id": ["0700001"], "streams": [12]}))
    with pytest.raises(ValueError, match="unbekannte Schulen"):
        _demand(population, schools, assignment,
                capacities=pd.DataFrame({"school_id": ["0799999"], "streams": [2]}))
    with pytest.raises(ValueError, match="zu 1 summieren"):
        _demand(population, schools, assignment.assign(share=0.4))
    with pytest.raises(ValueError, match="nicht vollständig"):
        project_school_demand(population, schools, base_year=2022, horizon_year=2026, assignment=assignment)


def test_results_carry_provenance_and_synthetic_label(population, schools, assignment):
    population = population.copy()
    population.attrs["bif"] = {"synthetic": True}
    result = _demand(population, schools, assignment, inputs={"schulen": "v3", "bevoelkerung": "v7"})
    assert result.inputs == {"schulen": "v3", "bevoelkerung": "v7"}
    assert result.assumptions["class_size_max"] == 25
    assert result.schools.attrs["bif"]["synthetic"] is True
    assert "synthetisch" in result.title
