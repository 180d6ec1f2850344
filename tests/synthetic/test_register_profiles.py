"""The synthetic register is generic: it calibrates to whatever totals a city profile declares.

A second, deliberately different city: 27 districts with non-consecutive codes, population by
sex and five-year age band (long, with age_from/age_to columns), no births, no non-German
figures, no lower level. And: missing inputs give German messages, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bif_lib.city.profile import CityProfile
from bif_lib.data import generated
from bif_lib.synthetic import PublishedTotals, TotalsError, aggregate_check, generate_register, totals_from_profile

CODES = [11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43, 51, 52, 53, 61, 62, 63, 71, 72, 73, 81, 82, 83, 91, 92, 93]
YEARS = range(2019, 2024)


def _stocks() -> pd.DataFrame:
    """Population by year, district, sex and five-year band 0-4 ... 95+ (the last open)."""
    rng = np.random.default_rng(5)
    profile = np.concatenate([np.full(4, 260.0), np.full(10, 300.0), np.linspace(280, 40, 6)])
    rows = []
    for district in CODES:
        size = rng.uniform(0.4, 2.0)
        for year in YEARS:
            for sex in ("m", "w"):
                counts = rng.poisson(profile * size * (1.1 if sex == "w" else 1.0) / 2)
                for band, count in enumerate(counts):
                    rows.append((year, district, sex, 5 * band, None if band == 19 else 5 * band + 5, int(count)))
    return pd.DataFrame(rows, columns=["year", "district_id", "sex", "age_from", "age_to", "population"]).astype(
        {"age_to": "Int64"})


STOCKS = _stocks()
RESIDENTS = STOCKS.groupby(["year", "district_id"], as_index=False)["population"].sum()
SPEC = {
    "residents": {"dataset": "bevoelkerung_altersgruppen", "value": "population"},
    "age_groups": {"dataset": "bevoelkerung_altersgruppen", "value": "population",
                   "lower": "age_from", "upper": "age_to"},
}


def _loader(frames: dict[str, pd.DataFrame]):
    def load(dataset: str) -> pd.DataFrame:
        if dataset not in frames:
            from bif_lib.store.catalog import DatasetNotFound

            raise DatasetNotFound(dataset, "")
        return frames[dataset]
    return load


@pytest.fixture(scope="module")
def totals() -> PublishedTotals:
    return PublishedTotals.from_spec(SPEC, _loader({"bevoelkerung_altersgruppen": STOCKS}), district_label="Ortsteil")


@pytest.fixture(scope="module")
def register(totals):
    return generate_register(totals, seed=3, years=YEARS)


def test_totals_from_a_long_table_by_sex_and_band(totals):
    assert sorted(totals.residents["district_id"].unique()) == CODES
    assert len(totals.age_groups.intervals) == 20 and totals.age_groups.intervals["95-"] == (95, None)
    assert totals.births is None and totals.subdistricts is None and totals.non_german is None
    merged = totals.residents.merge(RESIDENTS, on=["year", "district_id"])
    assert (merged["residents"] == merged["population"]).all()


def test_every_district_and_band_is_exact_in_every_year(register, totals):
    check = aggregate_check(register, totals)
    assert set(check["table"]) == {"bevoelkerung_altersgruppen"}
    assert len(check) == len(YEARS) * len(CODES) * 21  # residents + 20 bands
    assert check["must_be_exact"].all() and (check["difference"] == 0).all()
    assert sorted(register.persons["district_id"].unique()) == CODES


def test_without_a_lower_level_persons_have_no_subdistrict(register):
    assert register.persons["bezirk_id"].isna().all()
    assert register.assumptions["bezirke"]["weight"] == "none"


def test_births_without_a_births_table_are_estimated_from_the_youngest_band(register, totals):
    births = register.events[register.events["event"] == "birth"].groupby(["year", "district_id"]).size()
    youngest = STOCKS[STOCKS["age_from"] == 0].groupby(["year", "district_id"])["population"].sum()
    expected = np.floor(youngest / 5 + 0.5).astype(int)
    assert (births.reindex(expected.index, fill_value=0) == expected).all()
    assert register.assumptions["targets"]["2020"]["births"].startswith("estimated")


def test_non_germans_without_a_table_are_a_constant_share(register):
    extract = register.extract(2023)
    share = (extract["nationality_group"] != "deutsch").mean()
    assert 0.10 < share < 0.22


def test_groups_that_do_not_determine_the_classes_are_refused_in_german():
    spec = {"residents": SPEC["residents"],
            "age_groups": {"dataset": "gruppen", "group": "gruppe", "value": "n",
                           "bands": {"unter_10": [0, 10], "5_bis_20": [5, 20]}}}
    groups = RESIDENTS.assign(gruppe="unter_10", n=RESIDENTS["population"] // 10)
    groups = pd.concat([groups, groups.assign(gruppe="5_bis_20")], ignore_index=True)
    totals = PublishedTotals.from_spec(spec, _loader({"bevoelkerung_altersgruppen": STOCKS, "gruppen": groups}))
    with pytest.raises(TotalsError, match="nicht eindeutig"):
        generate_register(totals, seed=1, years=range(2019, 2020))


def test_missing_or_incomplete_declarations_give_german_messages():
    with pytest.raises(TotalsError, match="ist nicht im Speicher"):
        PublishedTotals.from_spec({**SPEC, "births": {"dataset": "geburten", "value": "births"}},
                                  _loader({"bevoelkerung_altersgruppen": STOCKS}))
    with pytest.raises(TotalsError, match="mindestens"):
        PublishedTotals.from_spec({"births": {"dataset": "geburten", "value": "births"}}, _loader({}))
    with pytest.raises(TotalsError, match="keine Spalte"):
        PublishedTotals.from_spec({"residents": {"dataset": "bevoelkerung_altersgruppen", "value": "residents"}},
                                  _loader({"bevoelkerung_altersgruppen": STOCKS}))
    with pytest.raises(TotalsError, match="letzte Altersgruppe muss offen"):
        PublishedTotals.from_spec({**SPEC, "age_bands": [{"dataset": "bevoelkerung_altersgruppen",
                                                          "value": "population", "band": [0, 18]}]},
                                  _loader({"bevoelkerung_altersgruppen": STOCKS}))


def test_suppressed_values_are_never_read_as_zero():
    stocks = STOCKS.astype({"population": "Int64"})
    stocks.loc[(stocks["year"] == 2019) & (stocks["district_id"] == 12) & (stocks["age_from"] == 90), "population"] = pd.NA
    totals = PublishedTotals.from_spec(SPEC, _loader({"bevoelkerung_altersgruppen": stocks}), district_label="Ortsteil")
    assert pd.isna(totals.residents.set_index(["year", "district_id"]).loc[(2019, 12), "residents"])
    with pytest.raises(TotalsError, match="Ortsteil 12"):
        generate_register(totals, seed=1, years=range(2019, 2020))


# ---------------------------------------------------------------- data/generated.py

def _profile(tmp_path: Path, generated_section: dict) -> CityProfile:
    settings = {"districts": {"label": "Ortsteil", "label_plural": "Ortsteile",
                              "codes": {code: f"Ortsteil {code}" for code in CODES}},
                "generated": generated_section}
    return CityProfile(key="teststadt", name="Teststadt", directory=tmp_path, crs="EPSG:25832", settings=settings)


LIFE_TABLE = {"contract": "sterbetafel_land",
              "targets": {"m": {"e0": 78.0, "e65": 17.5, "q0": 0.0035, "makeham": 0.0003},
                          "w": {"e0": 83.0, "e65": 21.0, "q0": 0.003, "makeham": 0.00012}}}
REGISTER = {"seed": 1, "first_year": 2019, "last_year": 2020, "persons_contract": "personen",
            "events_contract": "ereignisse", "totals": SPEC}


def test_a_profile_without_a_register_section_generates_only_the_life_table(tmp_path, bif_home):
    from bif_lib.store import Store

    profile = _profile(tmp_path, {"life_table": LIFE_TABLE})
    out = generated.build(profile, Store(bif_home / "store"), tmp_path / "sources", {"sterbetafel_land": None},
                          include_confidential=True, progress=lambda message: None)
    assert list(out) == ["sterbetafel_land"]
    assert out["sterbetafel_land"].name == "sterbetafel_land.parquet"
    table = pd.read_parquet(out["sterbetafel_land"])
    e0 = table[table["age"] == 0].set_index("sex")["ex"]
    assert e0["m"] == pytest.approx(78.0, abs=0.01) and e0["w"] == pytest.approx(83.0, abs=0.01)


def test_missing_totals_skip_the_register_with_a_german_reason(tmp_path, bif_home):
    from bif_lib.store import Store

    said = []
    profile = _profile(tmp_path, {"synthetic_register": REGISTER})
    out = generated.build(profile, Store(bif_home / "store"), tmp_path / "sources",
                          {"personen": None, "ereignisse": None}, include_confidential=True, progress=said.append)
    assert set(out) == {"personen", "ereignisse"}
    assert all(isinstance(reason, str) and "„bevoelkerung_altersgruppen“ (totals.residents) ist nicht im Speicher"
               in reason for reason in out.values())
    assert any("ausgelassen" in message for message in said)


def test_a_register_section_without_totals_is_skipped_with_a_german_reason(tmp_path, bif_home):
    from bif_lib.store import Store

    profile = _profile(tmp_path, {"synthetic_register": {k: v for k, v in REGISTER.items() if k != "totals"}})
    out = generated.build(profile, Store(bif_home / "store"), tmp_path / "sources",
                          {"personen": None, "ereignisse": None}, include_confidential=True, progress=lambda m: None)
    assert all("totals fehlt" in reason for reason in out.values())
    with pytest.raises(TotalsError):
        totals_from_profile(profile)
