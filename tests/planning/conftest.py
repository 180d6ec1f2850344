"""Small, hand-built fixtures for the planning models (no dependency on the synthetic register)."""

import numpy as np
import pandas as pd
import pytest

from bif_lib.planning import ProjectionParameters, life_table
from bif_lib.planning.lifetable import survival_ratios

DISTRICTS = tuple(range(1, 14))
AGES = np.arange(101)


def _bell(center: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((AGES - center) / width) ** 2)


@pytest.fixture(scope="session")
def sh_life_table() -> pd.DataFrame:
    return life_table()


@pytest.fixture(scope="session")
def city_parameters(sh_life_table) -> ProjectionParameters:
    """Plausible rates for 13 districts: TFR ~1.4, student-town migration, uniform destinations."""
    n = len(DISTRICTS)
    district_level = np.linspace(0.8, 1.2, n)
    fertility = np.outer(district_level, 1.4 * _bell(31, 5) / _bell(31, 5)[15:50].sum())
    fertility[:, :15] = fertility[:, 50:] = 0.0
    moving_age = 0.02 + 0.10 * _bell(23, 4)
    out_rate = np.broadcast_to(moving_age, (n, 2, 101)) * district_level[:, None, None]
    internal_rate = 0.8 * out_rate
    destination = np.full((n, n), 1 / (n - 1))
    np.fill_diagonal(destination, 0.0)
    in_profile = np.broadcast_to(0.01 + _bell(21, 4), (n, 2, 101)) * district_level[:, None, None]
    return ProjectionParameters(
        district_ids=DISTRICTS,
        survival=survival_ratios(sh_life_table),
        mortality_factor=np.ones((n, 2)),
        fertility=fertility,
        share_boys=105 / 205,
        out_rate=np.array(out_rate),
        internal_rate=np.array(internal_rate),
        destination=destination,
        in_volume=6500.0,
        in_profile=in_profile / in_profile.sum(),
        base_period=(2018, 2022),
        inputs={"register_synthetisch": "test"},
    )


@pytest.fixture(scope="session")
def city_base_population() -> pd.DataFrame:
    """About 99 000 residents, younger in some districts than in others."""
    rows = []
    for district in DISTRICTS:
        shape = 1.0 + 0.6 * _bell(24, 6) - 0.9 * (AGES / 100) ** 2 + 0.05 * (district % 3)
        per_age = np.clip(shape, 0.01, None) * 7600 / shape.sum()
        for sex, factor in (("m", 0.98), ("w", 1.02)):
            rows += [(district, sex, age, factor * value / 2) for age, value in zip(AGES, per_age)]
    return pd.DataFrame(rows, columns=["district_id", "sex", "age", "population"])
