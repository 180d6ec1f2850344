import numpy as np
import pytest

from bif_lib.planning import CALIBRATION_TARGETS, LIFETABLE_COLUMNS, life_table
from bif_lib.planning.lifetable import LifeExpectancyTarget


def test_columns_and_shape(sh_life_table):
    assert list(sh_life_table.columns) == LIFETABLE_COLUMNS
    assert len(sh_life_table) == 2 * 101
    assert sh_life_table.groupby("sex")["age"].agg(["min", "max"]).to_numpy().tolist() == [[0, 100]] * 2


@pytest.mark.parametrize("sex", ["m", "w"])
def test_reproduces_published_life_expectancy(sh_life_table, sex):
    target = CALIBRATION_TARGETS["sh_2019"][sex]
    by_age = sh_life_table[sh_life_table["sex"] == sex].set_index("age")
    assert by_age.loc[0, "ex"] == pytest.approx(target.e0, abs=1e-3)
    assert by_age.loc[65, "ex"] == pytest.approx(target.e65, abs=1e-3)
    assert by_age.loc[0, "qx"] == pytest.approx(target.q0)


@pytest.mark.parametrize("sex", ["m", "w"])
def test_life_table_identities(sh_life_table, sex):
    t = sh_life_table[sh_life_table["sex"] == sex].reset_index(drop=True)
    assert t.loc[0, "lx"] == 100_000
    assert ((t["qx"] >= 0) & (t["qx"] <= 1)).all() and t["qx"].iloc[-1] == 1.0
    assert (np.diff(t["lx"]) < 0).all()
    assert t["dx"].sum() == pytest.approx(100_000)
    np.testing.assert_allclose(t["ex"], t["Tx"] / t["lx"])
    np.testing.assert_allclose(t["px"], 1 - t["qx"])
    Lx = t["Lx"].to_numpy()
    np.testing.assert_allclose(t["sx"].iloc[1:100], Lx[1:100] / Lx[:99])
    assert (t["mx"] >= t["qx"].where(t["age"] < 100, 0)).all()  # central rate >= probability
    assert (t["qx"].iloc[30:100].diff().dropna() > 0).all()  # mortality rises with age


def test_women_live_longer_and_older_people_die_more(sh_life_table):
    e0 = sh_life_table[sh_life_table["age"] == 0].set_index("sex")["ex"]
    assert e0["w"] > e0["m"]
    q = sh_life_table.set_index(["sex", "age"])["qx"]
    assert 0.03 < q[("m", 80)] < 0.09  # order of magnitude of German period tables


def test_other_targets_and_e0_only_calibration():
    older = life_table("sh_2010_2012")
    assert older.query("sex == 'm' and age == 0")["ex"].item() == pytest.approx(77.8, abs=1e-3)
    custom = {sex: LifeExpectancyTarget(e0=80.0, e65=None, q0=0.003, makeham=0.0002, source="test",
                                        approximate=True) for sex in ("m", "w")}
    table = life_table(custom, max_age=90)
    assert len(table) == 2 * 91
    assert table.query("age == 0")["ex"].tolist() == [pytest.approx(80.0, abs=1e-3)] * 2
    assert table.attrs["bif"]["lifetable"]["targets"] == "custom"
