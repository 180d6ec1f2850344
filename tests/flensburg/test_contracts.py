"""The Flensburg city profile's contracts against the real mirror files.

Every contract in data_contracts/flensburg loads (JSON Schema), and its mirror file
(BIF_MIRROR, default <repo>/../shared/data/flensburg) ingests into a temporary store in
dependency order. The expectations below come from ../shared/data/flensburg/SOURCES.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from bif_lib.contracts import Contract, load_contract, load_contracts
from bif_lib.contracts.model import contract_json_schema
from bif_lib.data.order import DependencyCycle, ingest_order
from bif_lib.ingest import ingest
from bif_lib.store import Store
from bif_lib.validation import referenced_datasets

PROFILE = Path(__file__).resolve().parents[2] / "data_contracts" / "flensburg"


# the files of the public sources (sources: in city.yaml); generated datasets (generated/) and a
# department's own files without a public source (schulkapazitaeten) are tested elsewhere
LISTED = {s["path"] for s in yaml.safe_load((PROFILE / "city.yaml").read_text(encoding="utf-8"))["sources"]}


def _is_public(path: Path) -> bool:
    """Contracts of files from the public sources (listed under sources: in city.yaml)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return str(raw.get("source", {}).get("path", "")) in LISTED


CONTRACT_FILES = sorted(p for p in PROFILE.glob("*.yaml") if p.name != "city.yaml" and _is_public(p))

ATTRIBUTION = ("Datenquellen: Stadt Flensburg (Sozialatlas 2022; Stadtteil- und Bezirksgeometrien der "
               "Stabsstelle Statistik), Land Schleswig-Holstein / Statistikamt Nord (Kita- und "
               "Schulverzeichnisse); aufbereitet von OK Lab Flensburg (CC0 1.0), github.com/oklabflensburg.")

# Rows per dataset as documented in SOURCES.md. Long forms: (wide rows, indicators) → wide rows × indicators.
EXPECTED_ROWS = {
    "stadtteile": 13,
    "statistische_bezirke": 41,
    "stadtteile_namen": 13,
    "einwohner_stadtteile": 91,
    "geburten_stadtteile": 104,
    "altersgruppen_stadt": (8, 6),
    "altenquotient_stadtteile": (104, 1),
    "altersgruppen_stadtteile": (26, 8),
    "kinder_jugendliche_stadtteile": (104, 1),
    "einwohner_18_bis_unter_65_stadtteile": (104, 1),
    "einwohner_ab_65_stadtteile": (104, 1),
    "migrationshintergrund_stadtteile": (26, 2),
    "aufenthaltsstatus_stadt": (6, 6),
    "sv_beschaeftigte_stadtteile": (78, 2),
    "arbeitslose_stadtteile": (78, 1),
    "arbeitslose_merkmale_stadtteile": (28, 7),
    "wohngeld_stadtteile": (104, 1),
    "wohnungshilfe_stadtteile": (26, 7),
    "wohnungslosigkeit_bedroht_stadtteile": (78, 1),
    "leistungsbezug_15_bis_unter_65_stadtteile": (28, 6),
    "sgb2_leistungsberechtigte_stadtteile": (65, 1),
    "sgb2_merkmale_stadtteile": (28, 5),
    "sgb2_nicht_erwerbsfaehige_stadtteile": (65, 1),
    "grundsicherung_stadtteile": (28, 4),
    "schuldnerberatung_stadt": 14,
    "haushaltstypen": 7,
    "hilfen_zur_erziehung_stadt": (6, 8),
    "sozialatlas_tabellen": 23,
    "sozialatlas_spalten": 130,
    "schulen": 30,
    "schulen_sh": 38,
    "kitas": 70,
}

# The four Sozialatlas tables with a "nicht zuordenbar" line (empty district_id, 2 rows each).
UNASSIGNABLE = {"arbeitslose_merkmale_stadtteile", "leistungsbezug_15_bis_unter_65_stadtteile",
                "sgb2_merkmale_stadtteile", "grundsicherung_stadtteile"}

# Rules that warn on the real data – and nothing else may warn.
EXPECTED_WARNINGS = {
    "kitas": {"point_in_polygon_attribute:lage_im_angegebenen_stadtteil": 1},
    "grundsicherung_stadtteile": {"aggregate_equals:geschlecht_gleich_alter": 14},
}

# Empty value cells per Sozialatlas table, counted in the CSV files (suppressed values < 4, or not published,
# e.g. the shares of the "nicht zuordenbar" line). Every other table has none.
SUPPRESSED_CELLS = {"wohnungshilfe_stadtteile": 82, "wohnungslosigkeit_bedroht_stadtteile": 12,
                    "arbeitslose_merkmale_stadtteile": 10, "sgb2_merkmale_stadtteile": 3,
                    "leistungsbezug_15_bis_unter_65_stadtteile": 2, "hilfen_zur_erziehung_stadt": 2,
                    "schuldnerberatung_stadt": 1}

PERSONAL_COLUMNS = {"schulen": ["Schulleiter"], "kitas": ["director"], "schulen_sh": ["email"]}


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    """The profile's contracts of public source files (generated datasets are tested elsewhere)."""
    return {dataset: contract for dataset, contract in load_contracts(PROFILE).items()
            if contract.source["path"] in LISTED}


@pytest.fixture(scope="module")
def ingested(contracts, mirror_dir, tmp_path_factory):
    """Every contract's mirror file ingested into one temporary store, in dependency order."""
    root = tmp_path_factory.mktemp("flensburg-contracts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIF_HOME", str(root / "home"))
        mp.delenv("BIF_STORE", raising=False)
        store = Store(root / "store")
        outcomes = {}
        for dataset in ingest_order(contracts):
            contract = contracts[dataset]
            outcomes[dataset] = ingest(contract, mirror_dir / contract.source["path"], store=store)
    return store, outcomes


@pytest.fixture(scope="module")
def stored(ingested):
    store, outcomes = ingested
    cache: dict[str, pd.DataFrame] = {}

    def load(dataset: str) -> pd.DataFrame:
        if dataset not in cache:
            entry = store.catalog.latest(dataset)
            assert entry is not None, f"{dataset} is not in the store: {outcomes[dataset].report.to_text()}"
            cache[dataset] = store.read(entry)
        return cache[dataset]

    return load


# --- the contracts themselves ---------------------------------------------------------------------

def test_the_profile_has_one_contract_per_documented_dataset(contracts):
    assert set(contracts) == set(EXPECTED_ROWS)
    for contract in contracts.values():
        assert contract.path.name == f"{contract.id}.yaml"


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.stem)
def test_contract_is_valid_against_the_json_schema(path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(contract_json_schema()).validate(raw)
    load_contract(path)   # plus the semantic checks (names used in keys and rules exist)


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.stem)
def test_contract_metadata_is_complete(path, mirror_dir):
    contract = load_contract(path)
    raw = contract.raw
    assert contract.classification == "open"
    assert not contract.synthetic
    assert raw["licence"]["attribution"] == ATTRIBUTION
    assert "ungeprüft" in raw["licence"]["note"].lower()
    assert raw["steward"]["email"].endswith("@flensburg.example")
    assert "PLATZHALTER" in raw["notes"]
    assert raw["owner"].startswith("Stadt Flensburg")
    assert (mirror_dir / contract.source["path"]).is_file(), contract.source["path"]
    assert not Path(contract.source["path"]).is_absolute()
    for field in contract.fields:
        assert field.title, f"{contract.id}.{field.name} has no title"


def test_personal_name_columns_are_dropped_by_contract(contracts):
    for dataset, columns in PERSONAL_COLUMNS.items():
        contract = contracts[dataset]
        for column in columns:
            assert column in contract.source["drop_columns"]
        assert any(column in contract.raw["data_minimisation"] for column in columns)


# --- ingest order ---------------------------------------------------------------------------------

def test_ingest_order_puts_every_reference_first(contracts):
    order = ingest_order(contracts)
    assert sorted(order) == sorted(contracts)
    position = {dataset: i for i, dataset in enumerate(order)}
    for dataset, contract in contracts.items():
        for reference in referenced_datasets(contract):
            assert position[reference] < position[dataset], f"{reference} must come before {dataset}"


def _contract(dataset: str, *references: str) -> Contract:
    fks = [{"fields": "key", "reference": {"resource": ref, "fields": "key"}} for ref in references]
    return Contract(raw={"id": dataset, "schema": {"fields": [{"name": "key", "type": "integer"}],
                                                   "foreignKeys": fks}, "rules": []})


def test_ingest_order_is_deterministic_and_ignores_unknown_references():
    contracts = {"c": _contract("c", "a"), "b": _contract("b"), "a": _contract("a", "elsewhere"),
                 "d": _contract("d", "c", "b")}
    assert ingest_order(contracts) == ["a", "b", "c", "d"]
    assert ingest_order(dict(reversed(list(contracts.items())))) == ["a", "b", "c", "d"]
    assert ingest_order({}) == []


def test_ingest_order_refuses_a_cycle():
    contracts = {"a": _contract("a", "c"), "b": _contract("b", "a"), "c": _contract("c", "b"),
                 "x": _contract("x")}
    with pytest.raises(DependencyCycle) as caught:
        ingest_order(contracts)
    assert set(caught.value.cycle) == {"a", "b", "c"}
    assert caught.value.cycle[0] == caught.value.cycle[-1]
    assert "im Kreis" in str(caught.value)


# --- ingest of the real files ----------------------------------------------------------------------

def test_every_file_ingests_without_errors(ingested):
    _, outcomes = ingested
    for dataset, outcome in outcomes.items():
        assert outcome.status == "created", outcome.report.to_text()
        assert outcome.report.errors == 0


@pytest.mark.parametrize("dataset", sorted(EXPECTED_ROWS))
def test_row_counts_match_sources_md(stored, dataset):
    expected = EXPECTED_ROWS[dataset]
    if isinstance(expected, tuple):
        wide_rows, indicators = expected
        expected = wide_rows * indicators
    assert len(stored(dataset)) == expected


def test_long_forms_are_wide_rows_times_indicators_of_the_source_file(contracts, stored, mirror_dir):
    for dataset, contract in contracts.items():
        reshape = contract.source.get("wide_to_long")
        if not reshape:
            continue
        header, rows = _read_csv(mirror_dir / contract.source["path"])
        value_columns = [c for c in header if c not in reshape["id_columns"]]
        frame = stored(dataset)
        assert len(frame) == len(rows) * len(value_columns), dataset
        names = frame[reshape["names_to"]].unique()
        renamed = {contract.source.get("rename", {}).get(c, c) for c in value_columns}
        assert set(names) == renamed, dataset


def test_only_the_known_rules_warn(ingested):
    _, outcomes = ingested
    for dataset, outcome in outcomes.items():
        assert outcome.report.counts() == EXPECTED_WARNINGS.get(dataset, {}), dataset


def test_kita_warning_is_exactly_waldkiga(ingested, stored):
    _, outcomes = ingested
    warnings = [f for f in outcomes["kitas"].report.failures() if f.severity == "warning"]
    assert len(warnings) == 1
    warning = warnings[0]
    kitas = stored("kitas")
    kita = kitas[kitas["facility"] == "Waldkiga"].iloc[0]
    assert warning.row == 18                                  # feature number in the GeoJSON
    assert kita["district"] == "Westliche Höhe"
    assert "Westliche Höhe" in warning.message and "Altstadt" in warning.message


def test_grundsicherung_warnings_are_the_shifted_2021_rows(ingested):
    _, outcomes = ingested
    messages = [f.message for f in outcomes["grundsicherung_stadtteile"].report.failures()]
    assert len(messages) == 14
    assert all("year=2021" in m for m in messages)


def test_geodata_is_valid_and_in_epsg_25832(stored):
    expected_types = {"stadtteile": {"Polygon", "MultiPolygon"}, "statistische_bezirke": {"Polygon", "MultiPolygon"},
                      "kitas": {"Point"}}
    for dataset, types in expected_types.items():
        frame = stored(dataset)
        assert frame.crs.to_epsg() == 25832, dataset
        assert frame.geometry.is_valid.all(), dataset
        assert set(frame.geometry.geom_type) <= types, dataset
    assert stored("stadtteile").geometry.area.sum() / 1e6 == pytest.approx(48.99, abs=0.05)


def test_stadtteile_keys_follow_the_conventions(stored):
    stadtteile = stored("stadtteile").sort_values("district_id")
    assert stadtteile["district_id"].tolist() == list(range(1, 14))
    assert stadtteile["stadtteil_code"].tolist() == [f"STGT{n:02d}" for n in range(1, 14)]
    assert stadtteile["name"].tolist() == ["Altstadt", "Neustadt", "Nordstadt", "Westliche Höhe", "Friesischer Berg",
                                           "Weiche", "Südstadt", "Sandberg", "Jürgensby", "Fruerlund", "Mürwik",
                                           "Engelsby", "Tarup"]
    assert (stadtteile["area_name"] == stadtteile["district_id"].map("{:02d}".format) + " " + stadtteile["name"]).all()
    areas = stadtteile.set_index("name").geometry.area / 1e6
    assert areas["Friesischer Berg"] == pytest.approx(4.23, abs=0.01)
    assert areas["Weiche"] == pytest.approx(8.03, abs=0.01)


def test_bezirke_belong_to_their_stadtteile(stored):
    bezirke = stored("statistische_bezirke")
    assert bezirke["bezirk_id"].str.fullmatch(r"STBZ\d{3}").all()
    children = bezirke.groupby("district_id").size().sort_index().tolist()
    assert children == [3, 2, 3, 4, 3, 2, 3, 3, 4, 3, 6, 3, 2]
    # STBZnnk: the first two digits are the Stadtteil
    assert (bezirke["bezirk_id"].str[4:6].astype(int) == bezirke["district_id"]).all()


def test_bezirke_repair_is_recorded(ingested, stored):
    store, outcomes = ingested
    note = "Geometrie repariert (shapely make_valid) für Objekt-Nr. 20, 38"
    assert note in outcomes["statistische_bezirke"].report.notes
    entry = store.catalog.latest("statistische_bezirke")
    assert note in entry.report["notes"]
    assert note in entry.lineage["transformations"]
    bezirke = stored("statistische_bezirke").set_index("bezirk_id")
    assert bezirke.loc[["STBZ073", "STBZ122"]].geometry.is_valid.all()
    assert "make_valid" in load_contract(PROFILE / "statistische_bezirke.yaml").description


def test_every_foreign_key_resolves(contracts, stored):
    for contract in contracts.values():
        frame = stored(contract.id)
        for fk in contract.foreign_keys:
            reference = stored(fk.resource)
            local = frame[list(fk.fields)].dropna().astype(str).drop_duplicates()
            known = reference[list(fk.reference_fields)].astype(str).drop_duplicates()
            known.columns = list(fk.fields)
            merged = local.merge(known, how="left", on=list(fk.fields), indicator=True)
            assert (merged["_merge"] == "both").all(), f"{contract.id} → {fk.resource}"


def test_personal_name_columns_are_absent_from_the_stored_snapshots(ingested):
    store, _ = ingested
    for dataset, columns in PERSONAL_COLUMNS.items():
        entry = store.catalog.latest(dataset)
        snapshot = pq.read_schema(store.root / entry.path)
        assert not set(columns) & set(snapshot.names), dataset
        assert not set(columns) & set(entry.columns), dataset
        assert "leiter" not in " ".join(snapshot.names).lower() and "director" not in snapshot.names
        text = (store.root / entry.path).read_bytes()
        assert b"Frau Saar" not in text and b"Frau Droemert" not in text and b"jens_salomonsen" not in text


def test_schulen_sh_keeps_only_flensburg(stored):
    schools = stored("schulen_sh")
    assert set(schools["city"]) == {"Flensburg"}
    # known inconsistency documented in the contract: Grundschule Adelby
    adelby = schools[schools["name"] == "Grundschule Adelby"]["agency_number"].tolist()
    assert adelby == ["0702235"]
    assert "0702035" in stored("schulen")["school_id"].tolist()


def test_school_numbers_and_flags(stored):
    schools = stored("schulen")
    assert schools["school_id"].str.fullmatch(r"\d{7}").all()
    assert schools["school_id"].str.startswith("0").all()
    primary = schools[schools["primary_school"].fillna(False)]
    assert len(primary) == 16
    assert (primary["operator"] == "Stadt Flensburg").sum() == 10   # the 10 municipal Grundschulen
    assert set(schools["private_school"].dropna()) == {True}        # flags: 1 = True, empty = missing
    assert int(schools["private_school"].sum()) == 8
    assert schools["pupils"].notna().all()
    assert schools["teachers"].notna().sum() == 6 and schools["staff"].notna().sum() == 10


def test_kita_places_total(stored):
    assert int(stored("kitas")["childcare_places"].sum()) == 4475


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ",")
        return list(reader.fieldnames), list(reader)


def _source_cells(contract: Contract, path: Path) -> dict[tuple, str]:
    """(year, district or '', indicator) -> raw cell text, melted independently of the BIF reader."""
    reshape = contract.source["wide_to_long"]
    rename = contract.source.get("rename", {})
    header, rows = _read_csv(path)
    cells = {}
    for row in rows:
        key = tuple(row[c] for c in reshape["id_columns"])
        for column in header:
            if column not in reshape["id_columns"]:
                cells[key + (rename.get(column, column),)] = row[column]
    return cells


def test_suppressed_cells_stay_missing_with_the_flag_set(contracts, stored, mirror_dir):
    """Empty source cells are missing (never 0) and flagged; every other value equals the source."""
    checked = 0
    suppressed: dict[str, int] = {}
    for contract in contracts.values():
        reshape = contract.source.get("wide_to_long")
        if not reshape or "value_suppressed" not in stored(contract.id).columns:
            continue
        frame = stored(contract.id)
        cells = _source_cells(contract, mirror_dir / contract.source["path"])
        for record in frame.itertuples(index=False):
            key = tuple("" if pd.isna(getattr(record, c)) else str(getattr(record, c))
                        for c in reshape["id_columns"]) + (record.indicator,)
            raw = cells[key].strip()
            if raw == "":
                assert pd.isna(record.value) and bool(record.value_suppressed), (contract.id, key)
                suppressed[contract.id] = suppressed.get(contract.id, 0) + 1
            else:
                assert not bool(record.value_suppressed) and float(record.value) == float(raw), (contract.id, key)
            checked += 1
    long_forms = {d: n for d, n in EXPECTED_ROWS.items()
                  if isinstance(n, tuple) and d not in ("altersgruppen_stadt", "altersgruppen_stadtteile")}
    assert checked == sum(rows * indicators for rows, indicators in long_forms.values())
    assert suppressed == {d: n for d, n in SUPPRESSED_CELLS.items() if d != "schuldnerberatung_stadt"}


def test_suppression_flags_match_the_source_counts(contracts, stored):
    for dataset in contracts:
        frame = stored(dataset)
        flags = [c for c in frame.columns if c.endswith("_suppressed")]
        flagged = sum(int(frame[c].sum()) for c in flags)
        assert flagged == SUPPRESSED_CELLS.get(dataset, 0), dataset
        for flag in flags:
            values = frame[flag.removesuffix("_suppressed")]
            assert values[frame[flag]].isna().all() and values[~frame[flag]].notna().all(), dataset


def test_known_suppressed_cells(stored):
    wohnungshilfe = stored("wohnungshilfe_stadtteile")
    assert int(wohnungshilfe["value_suppressed"].sum()) == 82
    assert (wohnungshilfe["value"].dropna() > 0).all()     # no suppressed cell became 0
    debt = stored("schuldnerberatung_stadt").set_index(["year", "household_type_id"])
    assert pd.isna(debt.loc[(2021, 3), "value"]) and debt.loc[(2021, 3), "value_suppressed"]
    assert debt.loc[(2022, 3), "value"] == 4
    hze = stored("hilfen_zur_erziehung_stadt").set_index(["year", "indicator"])
    assert hze.loc[(2021, "educational_assistance"), "value_suppressed"]
    assert pd.isna(hze.loc[(2022, "educational_assistance"), "value"])
    births = stored("geburten_stadtteile")
    assert not births["births_suppressed"].any() and not births["birth_rate_suppressed"].any()


def test_unassignable_rows_are_kept_for_city_totals(contracts, stored):
    for dataset, contract in contracts.items():
        frame = stored(dataset)
        if "district_id" not in frame.columns:
            continue
        unassigned = frame[frame["district_id"].isna()]
        if dataset in UNASSIGNABLE:
            indicators = frame["indicator"].nunique()
            assert len(unassigned) == 2 * indicators, dataset
            assert set(unassigned["year"]) == {2021, 2022}
            assert not contract.field("district_id").required
        else:
            assert unassigned.empty, dataset


def test_published_totals(stored):
    residents = stored("einwohner_stadtteile")
    assert int(residents[residents["year"] == 2022]["residents"].sum()) == 99341
    city = stored("altersgruppen_stadt").groupby("year")["residents"].sum()
    districts = residents.groupby("year")["residents"].sum()
    difference = (city - districts).dropna().astype(int).to_dict()
    assert difference == {2011: 65, 2017: 0, 2018: 0, 2019: 0, 2020: 0, 2021: 5, 2022: 0}
    groups = stored("altersgruppen_stadtteile")
    six = groups[~groups["age_group"].isin(["age_0_to_under_7", "age_60_and_above"])]
    merged = six.groupby(["year", "district_id"])["residents"].sum().reset_index().merge(
        residents, on=["year", "district_id"], suffixes=("_groups", ""))
    assert len(merged) == 26 and (merged["residents_groups"] == merged["residents"]).all()


# --- the rules bite: a tampered copy is refused -----------------------------------------------------

def test_a_tampered_residents_file_is_rejected(contracts, ingested, mirror_dir, tmp_path):
    store, _ = ingested
    source = (mirror_dir / contracts["einwohner_stadtteile"].source["path"]).read_text(encoding="utf-8")
    tampered = tmp_path / "fl_residents_by_district.csv"
    tampered.write_text(source.replace("2022,13,5675", "2022,13,7675"), encoding="utf-8")
    outcome = ingest(contracts["einwohner_stadtteile"], tampered, store=store)
    assert outcome.status == "rejected"
    counts = outcome.report.counts()
    assert counts["aggregate_equals:stadtteile_gleich_stadt_exakt"] == 1
    assert counts["aggregate_equals:stadtteile_gleich_stadt"] == 1
    assert counts["change_bounds:veraenderung_vorjahr"] == 1
    assert store.catalog.latest("einwohner_stadtteile").version == 1


def test_reingest_is_recognised_as_unchanged(contracts, ingested, mirror_dir):
    store, _ = ingested
    for dataset in ("stadtteile", "altersgruppen_stadtteile", "kitas"):
        contract = contracts[dataset]
        outcome = ingest(contract, mirror_dir / contract.source["path"], store=store)
        assert outcome.status == "unchanged", dataset


def test_indicator_descriptions_name_every_indicator(contracts):
    for contract in contracts.values():
        if "indicator" not in contract.field_names:
            continue
        field = contract.field("indicator")
        for name in field.constraints["enum"]:
            assert f"- {name}:" in field.description, (contract.id, name)
        value = contract.field("value")
        assert value.missing_means == "suppressed"
        units = {line.rsplit("[", 1)[1].rstrip("]") for line in field.description.splitlines() if "[" in line}
        if len(units) == 1:
            assert value.unit, f"{contract.id}: all indicators share one unit, so value needs a unit"
        else:
            assert not value.unit, f"{contract.id}: indicators have different units, so value has none"
        json.dumps(contract.raw)   # serialisable for the catalog
