"""The second city: Musterstadt (data_contracts/musterstadt), deliberately unlike Flensburg —
27 districts with non-consecutive codes, five-year age bands, a file naming districts only by
(ASCII) name, no boundaries, no schools, no Kitas, no births or moves — reaches its population
apps by configuration alone. Every model, app and notebook runs against it here: the bootstrap,
the projection from published stocks, ``bif publish --bundled`` (skipping the apps it has no
data for), every notebook, and the Bevölkerung app in a real Chromium through a real hub.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_runner import run_notebooks

REPO = Path(__file__).resolve().parents[2]
CITY = "musterstadt"
NOTEBOOKS = sorted(p for p in (REPO / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def city_env(home: Path):
    """BIF_HOME and BIF_CITY of the second city for this process, restored afterwards."""
    from bif_lib.city import city_environment

    return city_environment(CITY, home)


@pytest.fixture(scope="module")
def musterstadt_home(tmp_path_factory) -> Path:
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.store import Store

    home = tmp_path_factory.mktemp("musterstadt-home")
    with city_env(home):
        result = bootstrap(CITY, store=Store(home / "store"))
    assert result.ok, result.summary()
    return home


@pytest.fixture
def musterstadt(musterstadt_home):
    with city_env(musterstadt_home):
        yield musterstadt_home


def test_the_profile_is_unlike_flensburg():
    from bif_lib.city import load_profile

    second, first = load_profile(CITY), load_profile("flensburg")
    codes = second.districts.codes
    assert len(codes) == 27 and codes != tuple(range(1, 28)) and max(codes) > 27
    assert second.districts.boundaries is None and second.planning["population"] == "stocks"
    assert set(second.contracts()).isdisjoint({"stadtteile", "schulen", "kitas"})
    assert second.age_bands != first.age_bands


def test_bootstrap_takes_the_published_files_as_they_are(musterstadt):
    from bif_lib.api import load
    from bif_lib.city import current_profile
    from bif_lib.data.bootstrap import BootstrapError, bootstrap
    from bif_lib.store import Store

    store = Store(musterstadt / "store")
    profile = current_profile()
    assert {e.dataset_id for e in store.catalog.latest_versions()} == set(profile.contracts())
    stocks = load(profile.planning["stocks"]["dataset"])
    assert set(stocks["district_id"].astype(int)) == set(profile.districts.codes)
    assert len(stocks) == 27 * 5 * 20 * 2  # districts × years × bands × sexes
    entry = store.catalog.latest(profile.planning["stocks"]["dataset"])
    assert entry.report["warnings"] > 0  # the names-only file: each corrected name is reported
    # a second run changes nothing; another city's bootstrap into this store is refused
    again = bootstrap(CITY, store=store)
    assert all(o.status == "unchanged" for o in again.outcomes.values()), again.summary()
    with pytest.raises(BootstrapError, match="gehört zum Stadtprofil „musterstadt“"):
        bootstrap("flensburg", store=store)


def test_projection_runs_from_published_stocks(musterstadt):
    from bif_lib.api import load
    from bif_lib.city import current_profile
    from bif_lib.loaders import load_projection_inputs
    from bif_lib.planning import project_scenarios

    profile = current_profile()
    inputs = load_projection_inputs()
    stocks = load(profile.planning["stocks"]["dataset"])
    last = stocks[stocks["year"] == stocks["year"].max()]
    assert inputs.base_year == int(last["year"].iloc[0])
    assert tuple(inputs.parameters.district_ids) == profile.districts.codes
    assert inputs.base_population["population"].sum() == pytest.approx(last["population"].sum())
    results = project_scenarios(inputs.base_population, inputs.parameters, base_year=inputs.base_year, years=15)
    for name, result in results.items():
        table = result.population
        assert (table["population"] >= 0).all(), name
        assert set(table["district_id"]) == set(profile.districts.codes)
        first = table[table["year"] == inputs.base_year + 1]["population"].sum()
        # the first projected year continues the observed trend (2019→2023: −0.3 % a year)
        assert abs(first / last["population"].sum() - 1) < 0.02, (name, first)


def test_publish_bundled_skips_the_apps_without_data(musterstadt, capsys):
    from bif_lib.cli import main

    assert main(["publish", "--bundled"]) == 0
    out = capsys.readouterr().out
    assert "bevoelkerung" in out and "ohne Karte" in out
    assert "kita.ipynb: übersprungen" in out and "kitas" in out
    assert "schulbedarf.ipynb: übersprungen" in out and "schools" in out
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.registry import Registry

    live = set(Registry(AppsConfig.from_settings().apps_dir).app_ids())
    assert "bevoelkerung" in live and not live & {"kita", "schulbedarf"}


def _runnable(notebook: Path) -> bool:
    """App notebooks run where the city has their data (the others are skipped by publishing)."""
    from bif_lib.apps.requirements import missing_inputs

    return notebook.parent.name != "apps" or not missing_inputs(notebook.stem)


def test_every_notebook_runs_for_the_second_city(musterstadt, tmp_path):
    runnable = [p for p in NOTEBOOKS if _runnable(p)]
    assert {p.stem for p in NOTEBOOKS if p not in runnable} == {"kita", "schulbedarf"}
    results = run_notebooks(runnable, tmp_path, {"BIF_UI_RAISE": "1"})
    failed = {str(p.relative_to(REPO)): (r["error"] or r["errors"]) for p, r in results.items()
              if r["error"] or r["errors"]}
    assert not failed, failed
    for path, result in results.items():
        text = result["text"]
        assert "Flensburg" not in text and "Sozialatlas" not in text, path
    assert all(nbformat.read(p, as_version=4).cells for p in runnable)


@pytest.fixture(scope="module")
def musterstadt_platform(musterstadt_home, environment_access):
    sys.path.insert(0, str(REPO / "tests" / "apps"))
    sys.path.insert(0, str(REPO / "tests" / "planning_apps"))
    from apps_hub import TestPlatform, missing_prerequisites

    from bif_lib.apps.publishing.bundled import publish_bundled
    from bif_lib.platform import accounts

    missing = missing_prerequisites()
    if missing:
        pytest.fail("needs " + ", ".join(missing))
    with city_env(musterstadt_home):
        p = TestPlatform()
        shutil.copytree(musterstadt_home / "store", p.home / "store")
        p.activate_env()
        try:
            settings = p.settings()
            accounts.ensure_system_groups(settings)
            accounts.apply_store_permissions(p.home / "store", settings)
            said: list[str] = []
            assert publish_bundled(p.cfg(), None, "analyst", say=said.append, warn=said.append) == 0, said
            p.start_apps()
            p.start_hub()
            yield p
        finally:
            p.shutdown()
            p.restore_env()
            shutil.rmtree(p.root, ignore_errors=True)


def test_a_planner_opens_the_population_app_of_the_second_city(browser, musterstadt_platform):
    from app_server import wait_ready
    from apps_hub import login

    from bif_lib.city import load_profile

    names = load_profile(CITY).districts.names
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="de-DE")
    ctx.set_default_timeout(60_000)
    try:
        page = ctx.new_page()
        login(page, musterstadt_platform.hub_url, "planer")
        page.wait_for_url(musterstadt_platform.gallery_url)
        gallery = page.content()
        assert "Bevölkerung" in gallery and "Kita" not in gallery and "Flensburg" not in gallery
        page.goto(musterstadt_platform.gallery_url + "app/bevoelkerung/")
        wait_ready(page, "#bif-vergleich")  # the comparison table of every district
        table = page.inner_text("#bif-vergleich table")
        body = page.inner_text("body")
        assert "Flensburg" not in body and "Sozialatlas" not in body
        shown = [name for name in names.values() if name in table]
        assert len(shown) == 27, sorted(set(names.values()) - set(shown))
        assert page.locator(".leaflet-container").count() == 0  # no boundaries: no map
        assert "synthetisch" in body.lower()
    finally:
        ctx.close()
