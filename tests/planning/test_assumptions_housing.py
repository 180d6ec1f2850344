"""New housing as a share of in-migration, not on top of it (issue #15, hand-computed)."""

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import ProjectionParameters
from bif_lib.planning.projection import project_population
from bif_lib.planning.scenarios import Assumptions


@pytest.fixture
def two_districts():
    """Two districts, ages 0-2, no births, deaths or moves out; 100 in-movers a year, 60 % to district 1."""
    profile = np.zeros((2, 2, 3))
    profile[0, :, 1] = 0.3
    profile[1, :, 1] = 0.2
    parameters = ProjectionParameters(
        district_ids=(1, 2), survival=np.ones((2, 3)), mortality_factor=np.ones((2, 2)), fertility=np.zeros((2, 3)),
        share_boys=0.5, out_rate=np.zeros((2, 2, 3)), internal_rate=np.zeros((2, 2, 3)), destination=np.zeros((2, 2)),
        in_volume=100.0, in_profile=profile)
    base = pd.DataFrame([(d, s, a, 10.0) for d in (1, 2) for s in ("m", "w") for a in range(3)],
                        columns=["district_id", "sex", "age", "population"])
    return parameters, base


# 15 dwellings x 2 persons = 30 newcomers into district 2 in 2023, in-migration volume 100:
#   share 1   -> 100 - 30 = 70 other in-movers (42 to district 1, 28 to 2) + 30 newcomers = 100 in all
#   share 0.5 -> 100 - 15 = 85 (51 / 34) + 30 = 115;   share 0 -> 100 (60 / 40) + 30 = 130 (all on top)
@pytest.mark.parametrize(("share", "external", "by_district"), [
    (1.0, 70.0, {1: 42.0, 2: 28.0 + 30.0}),
    (0.5, 85.0, {1: 51.0, 2: 34.0 + 30.0}),
    (0.0, 100.0, {1: 60.0, 2: 40.0 + 30.0}),
])
def test_newcomers_are_taken_out_of_the_in_migration_volume(two_districts, share, external, by_district):
    parameters, base = two_districts
    housing = pd.DataFrame({"district_id": [2], "year": [2023], "dwellings": [15]})
    result = project_population(base, parameters, base_year=2022, years=2, housing=housing,
                                assumptions=Assumptions(new_housing_share=share))
    first = result.components[result.components["year"] == 2023].set_index("district_id")
    assert first["moves_in_external"].sum() == pytest.approx(external)
    assert first["moves_in_housing"].sum() == pytest.approx(30.0)
    for district, moves_in in by_district.items():
        assert first.loc[district, "moves_in"] == pytest.approx(moves_in)
    assert result.assumptions["housing_taken_from_in_migration"] == pytest.approx(30.0 * share)
    # the year without new housing has the full volume
    second = result.components[result.components["year"] == 2024]
    assert second["moves_in"].sum() == pytest.approx(100.0)
    assert result.balance_residual() < 1e-9


def test_newcomers_beyond_the_volume_come_on_top(two_districts):
    parameters, base = two_districts
    housing = pd.DataFrame({"district_id": [1], "year": [2023], "dwellings": [75], "persons_per_dwelling": [2.0]})
    result = project_population(base, parameters, base_year=2022, years=1, housing=housing,
                                assumptions=Assumptions(new_housing_share=1.0))
    # 150 newcomers, volume 100: the other in-migration drops to 0, 50 come on top
    assert result.components["moves_in_external"].sum() == pytest.approx(0.0)
    assert result.components["moves_in"].sum() == pytest.approx(150.0)
    assert result.assumptions["housing_beyond_in_migration_volume"] == pytest.approx(50.0)


def test_housing_share_bounds():
    with pytest.raises(ValueError, match="Anteil der Neubau-Bewohner"):
        Assumptions(new_housing_share=1.5)
