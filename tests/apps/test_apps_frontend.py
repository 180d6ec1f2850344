"""Per-app choice of the front end: BIF's app front end where it suffices, else Voilà's
with only the extensions the app uses (plotly's 1.4 MB only where used)."""

from __future__ import annotations

import json
import re

import pytest

from bif_lib.apps.serving import frontend
from bif_lib.apps.serving.frontend import filter_page_config, frontend_for, needed_extensions, page_config_hook

PAGE = {"federated_extensions": [
    {"name": "@jupyter-widgets/jupyterlab-manager"}, {"name": "@voila-dashboards/widgets-manager8"},
    {"name": "jupyterlab-plotly"}, {"name": "jupyter-leaflet"}, {"name": "jupyterlab_pygments"},
]}


def names(page):
    return [e["name"] for e in page["federated_extensions"]]


def test_slider_app_needs_no_optional_extension():
    executed = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {}}}]}]}
    assert needed_extensions(executed, {"ipywidgets", "IPython", "json"}) == []


def test_needs_are_detected_from_modules_outputs_and_widgets():
    plotly_output = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": {}}}]}]}
    assert needed_extensions(plotly_output, set()) == ["jupyterlab-plotly"]
    assert needed_extensions({"cells": []}, {"ipyleaflet"}) == ["jupyter-leaflet"]
    widgets = {"cells": [], "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {
        "state": {"a": {"model_module": "jupyter-leaflet"}}}}}}
    assert needed_extensions(widgets, set()) == ["jupyter-leaflet"]
    # by hand in the notebook metadata (unknown names are ignored)
    assert needed_extensions({"cells": []}, set(), ["jupyterlab-plotly", "foo"]) == ["jupyterlab-plotly"]


def test_page_config_drops_only_unneeded_optional_extensions():
    page = filter_page_config(json.loads(json.dumps(PAGE)), {"frontend_extensions": ["jupyter-leaflet"]})
    assert names(page) == ["@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8",
                           "jupyter-leaflet", "jupyterlab_pygments"]
    # a version published before the needs were recorded: everything stays
    assert names(filter_page_config(json.loads(json.dumps(PAGE)), {"title": "alt"})) == names(PAGE)


def test_hook_reads_the_current_meta(registry):
    registry.add_version("karte", "{}", {"title": "Karte", "audience": ["planners"],
                                         "frontend_extensions": []}, None)
    hook = page_config_hook(registry)
    page = hook(json.loads(json.dumps(PAGE)), notebook_path="karte.ipynb")
    assert "jupyterlab-plotly" not in names(page) and "jupyter-leaflet" not in names(page)
    for unknown in ("unbekannt.ipynb", "../karte.ipynb/x", "Karte.ipynb", "karte", None):
        assert names(hook(json.loads(json.dumps(PAGE)), notebook_path=unknown)) == names(PAGE), unknown
    registry.withdraw("karte")  # a withdrawn app has no current meta: everything stays
    assert names(hook(json.loads(json.dumps(PAGE)), notebook_path="karte.ipynb")) == names(PAGE)


def test_voila_process_reads_the_registry_without_the_bif_lib_package(registry):
    """Voilà runs ``voila_server.py`` by its path: the hook reads the app's meta through the
    registry module loaded by path, and the process never imports bif_lib (pandas, pyarrow…)."""
    import subprocess
    import sys

    from bif_lib.apps.serving import voila_server

    registry.add_version("karte", "{}", {"title": "Karte", "audience": ["planners"], "frontend_extensions": []},
                         None)
    code = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bif_voila_server", {voila_server.__file__!r})
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
hook = server.page_config_hook(server.Registry({str(registry.root)!r}))
page = hook(json.loads({json.dumps(PAGE)!r}), notebook_path="karte.ipynb")
print(json.dumps({{"names": [e["name"] for e in page["federated_extensions"]],
                  "loaded": sorted(m for m in ("bif_lib", "pandas", "pyarrow") if m in sys.modules)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert "jupyterlab-plotly" not in answer["names"] and "jupyter-leaflet" not in answer["names"]
    assert answer["loaded"] == []


def _markdown(text):
    return {"cells": [{"cell_type": "markdown", "source": text}]}


def test_mathjax_is_needed_only_for_formulas():
    from bif_lib.apps.serving.frontend import needs_mathjax

    assert not needs_mathjax(_markdown("# Schulbedarf\n\nKosten: 5 $ je Platz, Stand **2024**"))
    assert needs_mathjax(_markdown("Quote $q = a / b$"))
    assert needs_mathjax(_markdown(["Summe:\n", "$$\\sum_i x_i$$"]))
    assert needs_mathjax(_markdown("\\(x^2\\)"))
    latex_output = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"text/latex": "$x$", "text/plain": "x"}}]}]}
    assert needs_mathjax(latex_output)
    widgets = {"cells": [], "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {
        "state": {"a": {"model_name": "HTMLModel", "state": {"value": "<b>Ergebnis: 6</b>"}}}}}}}
    assert not needs_mathjax(widgets)
    widgets["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["b"] = {
        "model_name": "HTMLMathModel", "state": {"value": "x"}}
    assert needs_mathjax(widgets)
    # by hand, for a formula that appears only after a click
    assert needs_mathjax({"cells": []}, ["mathjax"])


def test_page_config_switches_mathjax_off_only_when_recorded():
    base = {"baseUrl": "/services/bif-apps/app/__BIF_APP__/", "fullMathjaxUrl": "https://cdn.example/mathjax.js",
            "federated_extensions": []}
    off = filter_page_config(dict(base), {"frontend_extensions": [], "mathjax": False})
    assert off["fullMathjaxUrl"] == "/services/bif-apps/app/__BIF_APP__/voila/templates/bif/static/no-mathjax.js"
    for meta in ({"frontend_extensions": [], "mathjax": True}, {"frontend_extensions": []}, None):
        assert filter_page_config(dict(base), meta)["fullMathjaxUrl"] == base["fullMathjaxUrl"]


def _outputs(*bundles):
    return {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": bundle} for bundle in bundles]}]}


def _with_widgets(executed, *modules):
    executed["metadata"] = {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {
        str(i): {"model_module": m, "model_name": "X"} for i, m in enumerate(modules)}}}}
    return executed


WIDGET = {"application/vnd.jupyter.widget-view+json": {"model_id": "1"}, "text/plain": "VBox()"}


def _output_widget_showing(bundle):
    executed = _with_widgets(_outputs(WIDGET), "@jupyter-widgets/output")
    executed["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]["0"].update(
        model_name="OutputModel", state={"outputs": [{"output_type": "display_data", "data": bundle}]})
    return executed


def test_bif_front_end_for_apps_with_standard_widgets_leaflet_and_plain_outputs():
    app = _with_widgets(_outputs(WIDGET, {"image/png": "..."}, {"text/html": "<b>x</b>", "text/plain": "x"}),
                        "@jupyter-widgets/controls", "@jupyter-widgets/base", "jupyter-leaflet")
    assert frontend_for(app, ["jupyter-leaflet"], mathjax=False) == "bif"
    # streams and errors carry no mime bundle (the page shows them as server-rendered HTML)
    streams = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": "hallo"}]}]}
    assert frontend_for(streams, [], mathjax=False) == "bif"
    assert frontend_for(_output_widget_showing({"image/png": "...", "text/plain": "<Figure>"}), [], False) == "bif"


@pytest.mark.parametrize("executed, extensions, mathjax", [
    (_outputs(WIDGET), [], True),                                             # a formula
    (_outputs(WIDGET), ["jupyterlab-plotly"], False),                         # another extension
    (_with_widgets(_outputs(WIDGET), "bqplot"), [], False),                   # another widget library
    (_outputs({"application/vnd.plotly.v1+json": {}}), [], False),            # an output it cannot show,
    (_outputs({"application/vnd.vegalite.v5+json": {}, "text/plain": "alt.Chart(...)"}), [], False),  # not even
    (_outputs({"application/json": {}, "text/plain": "<IPython.core.display.JSON object>"}), [], False),  # as text
    (_outputs({"text/markdown": "**12** Kitas", "text/plain": "<IPython.core.display.Markdown object>"}), [], False),
    (_output_widget_showing({"application/vnd.vegalite.v5+json": {}}), [], False),  # ... in an Output widget
])
def test_voila_front_end_for_everything_else(executed, extensions, mathjax):
    assert frontend_for(executed, extensions, mathjax) == "voila"


def test_voila_front_end_for_libraries_used_after_a_click_and_by_hand():
    plain = _outputs(WIDGET)
    assert frontend_for(plain, [], False) == "bif"
    assert frontend_for(plain, [], False, modules={"altair.vegalite.v5", "pandas"}) == "voila"
    assert frontend_for(plain, [], False, modules={"bqplot"}) == "voila"
    assert frontend_for(plain, [], False, requested=["voila"]) == "voila"  # bif.frontend_extensions


def test_page_config_names_the_chunks_to_preload(tmp_path, monkeypatch, caplog):
    bundle = tmp_path / "bif-app.js"
    bundle.write_text("/* built */")
    monkeypatch.setattr(frontend, "LIGHT_BUNDLE", bundle)
    monkeypatch.setattr(frontend, "LIGHT_PRELOAD", tmp_path / "bif-app.preload.json")
    meta = {"frontend": "bif", "mathjax": False}
    # no list (a bundle built before there were chunks): the page works, its chunks load later
    assert filter_page_config(json.loads(json.dumps(PAGE)), meta)["bifFrontendPreload"] == []
    assert "no preload list" in caplog.text
    # the list of the build that is in place; only the build's own file names reach the page
    frontend.LIGHT_PRELOAD.write_text(json.dumps(["bif-chunk-AB12.js", "../../etc/x.js", "bif-a.js\"><b", 3]))
    bundle.write_text("/* built again */")
    assert filter_page_config(json.loads(json.dumps(PAGE)), meta)["bifFrontendPreload"] == ["bif-chunk-AB12.js"]


def test_the_built_bundle_preloads_what_it_imports():
    """The build's list (bif-app.preload.json) names exactly the chunks bif-app.js imports
    statically, and they exist."""
    if not frontend.LIGHT_BUNDLE.is_file():
        pytest.skip("the app front end is not built (scripts/setup builds it)")
    static = frontend.LIGHT_BUNDLE.parent
    listed = json.loads(frontend.LIGHT_PRELOAD.read_text())
    imported = set(re.findall(r'(?:\bfrom|\bimport)\s*"\./(bif-[\w.-]+\.js)"', frontend.LIGHT_BUNDLE.read_text()))
    assert listed and set(listed) == imported
    assert all((static / name).is_file() for name in listed)


def test_page_config_for_bif_front_end(tmp_path, monkeypatch):
    bundle = tmp_path / "bif-app.js"
    bundle.write_text("/* built */")
    monkeypatch.setattr(frontend, "LIGHT_BUNDLE", bundle)
    meta = {"frontend": "bif", "frontend_extensions": ["jupyter-leaflet"], "mathjax": False}
    page = filter_page_config(json.loads(json.dumps(PAGE)), meta)
    assert page["bifFrontend"] == "bif"
    assert names(page) == names(PAGE)  # untouched: if the template ever fails to swap, Voilà's front end works
    version = page["bifFrontendVersion"]
    bundle.write_text("/* built again, longer */")
    assert filter_page_config(json.loads(json.dumps(PAGE)), meta)["bifFrontendVersion"] != version
    # Voilà's front end: for apps recorded so, and when the bundle was not built
    assert "bifFrontend" not in filter_page_config(json.loads(json.dumps(PAGE)), {**meta, "frontend": "voila"})
    bundle.unlink()
    fallback = filter_page_config(json.loads(json.dumps(PAGE)), meta)
    assert "bifFrontend" not in fallback
    assert names(fallback) == ["@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8",
                               "jupyter-leaflet", "jupyterlab_pygments"]


def test_app_front_end_bundles_the_widget_versions_of_the_python_environment():
    """app_frontend/ pins the npm packages of the widget libraries; they must be the versions
    the Python packages install for JupyterLab (otherwise the kernel's models may not match)."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pinned = json.loads((root / "bif_lib" / "apps" / "serving" / "app_frontend" / "package.json").read_text())["dependencies"]
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    for package in ("@jupyter-widgets/jupyterlab-manager", "jupyter-leaflet"):
        version = json.loads((installed / package / "package.json").read_text())["version"]
        assert pinned[package] == version, f"app_frontend/package.json: {package} {pinned[package]} != {version}"


def test_the_gallery_names_the_front_ends_files_when_an_app_uses_it(tmp_path, monkeypatch):
    from bif_lib.apps.serving.gallery import front_end_ahead

    bundle = tmp_path / "bif-app.js"
    bundle.write_text("/* built */")
    monkeypatch.setattr(frontend, "LIGHT_BUNDLE", bundle)
    monkeypatch.setattr(frontend, "LIGHT_PRELOAD", tmp_path / "bif-app.preload.json")
    frontend.LIGHT_PRELOAD.write_text(json.dumps(["bif-chunk-AB12.js"]))

    prefix = "/services/bif-apps/assets/k3y/"
    version = filter_page_config(json.loads(json.dumps(PAGE)), {"frontend": "bif"})["bifFrontendVersion"]
    static = prefix + "voila/templates/bif/static/"
    # as the handlers pass them; the scripts are also compiled ahead, the style sheets only fetched
    assert front_end_ahead((f for f in ("voila", "bif")), prefix) == [
        (f"{static}bif-page-base.css?v={version}", "prefetch"), (f"{static}bif-app.css?v={version}", "prefetch"),
        (f"{static}bif-app.js?v={version}", "modulepreload"), (f"{static}bif-chunk-AB12.js", "modulepreload")]
    # nothing to fetch for apps with Voilà's front end, for no apps, without a built bundle
    assert front_end_ahead(["voila", ""], prefix) == []
    assert front_end_ahead([], prefix) == []
    bundle.unlink()
    assert front_end_ahead(["bif"], prefix) == []
