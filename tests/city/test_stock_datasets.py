"""A city that publishes one population file per year names them all in
``planning.stocks.dataset`` (a list): the projection reads them as one table."""

from __future__ import annotations

import pandas as pd
import pytest

from bif_lib import loaders


def _stocks(year: int, synthetic: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({"year": [year] * 4, "district_id": [11, 11, 93, 93], "sex": ["m", "w"] * 2,
                          "age_from": [0] * 4, "age_to": [pd.NA] * 4, "population": [100, 110, 50, 55]})
    frame.attrs["bif"] = {"dataset": f"bestand_{year}", "version": year - 2000, "synthetic": synthetic}
    return frame


def test_several_stock_datasets_are_read_as_one(monkeypatch):
    tables = {f"bestand_{y}": _stocks(y, synthetic=(y == 2023)) for y in (2021, 2022, 2023)}
    monkeypatch.setattr(loaders, "load", lambda name, store=None: tables[name])
    planning = {"stocks": {"dataset": ["bestand_2021", "bestand_2022", "bestand_2023"]}}
    assert loaders.stock_datasets(planning) == ["bestand_2021", "bestand_2022", "bestand_2023"]
    stocks, versions = loaders.load_stocks(planning)
    assert sorted(stocks["year"].unique()) == [2021, 2022, 2023] and len(stocks) == 12
    assert versions == {"bestand_2021": 21, "bestand_2022": 22, "bestand_2023": 23}
    assert stocks.attrs["bif"]["synthetic"]  # one synthetic part labels the whole
    assert loaders.stock_datasets({"stocks": {"dataset": "bestand"}}) == ["bestand"]


def test_the_same_year_in_two_datasets_is_refused(monkeypatch):
    tables = {"a": _stocks(2022), "b": _stocks(2022)}
    monkeypatch.setattr(loaders, "load", lambda name, store=None: tables[name])
    with pytest.raises(ValueError, match="das Jahr 2022 steht in „a“ und in „b“"):
        loaders.load_stocks({"stocks": {"dataset": ["a", "b"]}})


def test_the_apps_need_every_stock_dataset():
    from bif_lib.apps.requirements import projection_datasets
    from bif_lib.city.profile import CityProfile

    settings = {"key": "t", "name": "T", "crs": "EPSG:25832", "sources": [], "districts": {"codes": {11: "A"}},
                "planning": {"population": "stocks", "stocks": {"dataset": ["b21", "b22"]}, "life_table": "st"}}
    profile = CityProfile("t", "T", None, "EPSG:25832", settings)
    assert projection_datasets(profile) == ["b21", "b22", "st"]
