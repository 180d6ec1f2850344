"""Which front end an app page loads.

Opening an app is dominated by the browser starting the page's JavaScript, so an app page
loads only what the app uses:

* BIF's own app front end (``app_frontend/``, built into the BIF template's static files
  by ``scripts/setup``): the Jupyter widget manager on the app's kernel, with the standard
  widgets, ipyleaflet and JupyterLab's standard output renderers in one file, without
  Voilà's JupyterLab application. An app gets it when the headless run at publication
  shows it needs nothing else (``light_frontend``; ``meta["frontend"] == "bif"``).
  Everything below applies to apps served with Voilà's front end.

* Voilà loads every installed widget extension into every page. Plotly's alone is about
  1.4 MB of JavaScript that the browser parses on each open, even for an app with a slider
  and a table. At publication we record which of the *optional* extensions the app needs;
  the Voilà page-config hook then leaves the others out of that app's pages. An optional
  extension is needed when the headless run imported one of its Python modules, produced
  its output type, or created one of its widgets.
* MathJax: Voilà's page typesets every page on load, which pulls in and starts MathJax 3
  (about 0.9 MB of JavaScript, 0.1–0.2 s of the browser's time) even when there is no
  formula. At publication we record whether the app shows LaTeX (``meta["mathjax"]``); if
  not, the page gets Voilà's other typesetter (MathJax 2, chosen when ``fullMathjaxUrl``
  is set), pointed at a no-op stand-in for MathJax in the BIF template's static files.

Versions published before a need was recorded load everything. ``metadata.bif.
frontend_extensions`` in the notebook adds extensions by hand (for an app that imports
e.g. plotly only after a click, or shows a formula only after a click: ``"mathjax"``;
``"voila"`` always gives Voilà's front end, for anything else shown only after a click).
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable

log = logging.getLogger("bif.apps.frontend")

# extension name -> (python modules, output mime types) that show it is needed
OPTIONAL_EXTENSIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "jupyterlab-plotly": (frozenset({"plotly"}), frozenset({"application/vnd.plotly.v1+json"})),
    "jupyter-leaflet": (frozenset({"ipyleaflet"}), frozenset()),
}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX = "mathjax"
# $…$, $$…$$, \(…\), \[…\], \begin{…}: what Voilà's typesetter would turn into a formula
LATEX = re.compile(r"\$\$|\$[^$\s][^$\n]*\$|\\\(|\\\[|\\begin\{")
LATEX_TEXT_MIMES = ("text/markdown", "text/html")  # what the page typesets
# Voilà's front end takes the MathJax 2 typesetter when a MathJax URL is configured; it
# loads "<fullMathjaxUrl>?config=<mathjaxConfig>…" on first use. The stand-in is served
# (and cached for good) like the template's other static files.
MATHJAX_OFF_URL = "voila/templates/bif/static/no-mathjax.js"

# What BIF's app front end bundles (keep in step with app_frontend/src/index.js): widget
# libraries (model modules), optional extensions, and the output types that JupyterLab's
# standard renderers show.
LIGHT_BUNDLE = Path(__file__).parent / "share" / "voila" / "templates" / "bif" / "static" / "bif-app.js"
LIGHT_STATIC = "voila/templates/bif/static/"  # the bundle's URL below Voilà's (and the gateway's assets/<key>/)
# the chunks bif-app.js imports statically (written by app_frontend/build.mjs)
LIGHT_PRELOAD = LIGHT_BUNDLE.with_name("bif-app.preload.json")
LIGHT_WIDGET_MODULES = frozenset({"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output",
                                  "jupyter-leaflet"})
LIGHT_EXTENSIONS = frozenset({"jupyter-leaflet"})
# (no text/markdown: the bundle has no markdown parser; markdown cells are rendered on the server)
LIGHT_MIMES = frozenset({
    "application/vnd.jupyter.widget-view+json", "text/html", "image/svg+xml", "image/png", "image/jpeg",
    "image/gif", "image/webp", "image/bmp", "text/plain"})
# Python modules of widget and chart libraries whose front-end parts the bundle lacks: an app
# importing one gets Voilà's front end even if its first render shows none of their output
VOILA_MODULES = frozenset({"altair", "bqplot", "ipycytoscape", "ipydatagrid", "ipympl", "ipyvolume", "ipyvuetify",
                           "plotly", "pythreejs", "vega"})
LIGHT, VOILA = "bif", "voila"


def _widget_state(executed: dict) -> dict:
    """The widget models the headless run left in the notebook metadata, by model id."""
    return ((executed.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE, {}).get("state", {})


def _widget_modules(executed: dict) -> set[str]:
    state = _widget_state(executed)
    return {m.get("model_module") for m in state.values() if isinstance(m, dict)} - {None}


def _output_mimes(executed: dict) -> set[str]:
    mimes = set()
    for cell in executed.get("cells", []):
        for output in cell.get("outputs", []) or []:
            mimes.update((output.get("data") or {}).keys())
    return mimes


def _texts(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def needs_mathjax(executed: dict, requested: Iterable[str] = ()) -> bool:
    """Does the app show LaTeX: in markdown cells, outputs or (initial) widget values?"""
    if MATHJAX in set(requested):
        return True
    for cell in executed.get("cells", []):
        if cell.get("cell_type") == "markdown" and any(LATEX.search(t) for t in _texts(cell.get("source", ""))):
            return True
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if "text/latex" in data or any(LATEX.search(t) for mime in LATEX_TEXT_MIMES
                                           for t in _texts(data.get(mime, ""))):
                return True
    state = _widget_state(executed)
    for model in state.values():
        if not isinstance(model, dict):
            continue
        if model.get("model_name") == "HTMLMathModel":
            return True
        if any(LATEX.search(t) for t in _texts(model.get("state", {}))):
            return True
    return False


def needed_extensions(executed: dict, modules: Iterable[str], requested: Iterable[str] = ()) -> list[str]:
    """The optional extensions this app needs (sorted)."""
    modules, mimes, widgets = set(modules), _output_mimes(executed), _widget_modules(executed)
    needed = {name for name, (mods, types) in OPTIONAL_EXTENSIONS.items()
              if mods & modules or types & mimes or name in widgets}
    return sorted(needed | (set(requested) & set(OPTIONAL_EXTENSIONS)))


def light_frontend(executed: dict, extensions: Iterable[str], mathjax: bool, modules: Iterable[str] = (),
                   requested: Iterable[str] = ()) -> bool:
    """Can BIF's app front end show this app? No formulas, no ``"voila"`` requested by hand,
    no module of a library it lacks, all widgets and extensions among what it bundles, and
    every output only of types it renders (an Altair chart's ``text/plain`` copy would show
    as text)."""
    if mathjax or VOILA in set(requested) or VOILA_MODULES & {m.split(".")[0] for m in modules}:
        return False
    if not set(extensions) <= LIGHT_EXTENSIONS or not _widget_modules(executed) <= LIGHT_WIDGET_MODULES:
        return False
    # cell outputs and what Output widgets show; streams and errors have no mime bundle (the
    # page shows them as HTML rendered on the server, an Output widget as text)
    state = _widget_state(executed)
    outputs = [output for cell in executed.get("cells", []) for output in cell.get("outputs", []) or []]
    output_widgets = [m for m in state.values() if isinstance(m, dict) and m.get("model_name") == "OutputModel"]
    outputs += [output for model in output_widgets for output in (model.get("state") or {}).get("outputs", []) or []]
    return all(set(output.get("data") or {}) <= LIGHT_MIMES for output in outputs)


def frontend_for(executed: dict, extensions: Iterable[str], mathjax: bool, modules: Iterable[str] = (),
                 requested: Iterable[str] = ()) -> str:
    """Which front end the app's pages load: ``"bif"`` or ``"voila"`` (recorded at publication)."""
    return LIGHT if light_frontend(executed, extensions, mathjax, modules, requested) else VOILA


def _bundle_version() -> str:
    """Changes with every build of the bundle: its URLs carry it, so browsers may cache them for good."""
    stat = LIGHT_BUNDLE.stat()
    return f"{stat.st_mtime_ns:x}{stat.st_size:x}"


@lru_cache(maxsize=1)
def _bundle_preload(version: str) -> tuple[str, ...]:
    """File names of the chunks the bundle imports (read once per build: ``version``)."""
    try:
        names = json.loads(LIGHT_PRELOAD.read_text())
    except (OSError, ValueError) as e:
        log.warning("no preload list of the app front end (%s): its chunks load after bif-app.js", e)
        return ()
    return tuple(n for n in names if isinstance(n, str) and re.fullmatch(r"bif-[\w.-]+\.js", n))


def light_frontend_files() -> list[str]:
    """What every page with BIF's app front end loads at once, below :data:`LIGHT_STATIC`, as
    the BIF template links it (``index.html.j2``; the version query included): its two style
    sheets, ``bif-app.js`` and the chunks it imports. The gallery names them for the browser
    to fetch while a planner chooses an app (``templates/gallery.html``). Empty without a
    built bundle."""
    if not LIGHT_BUNDLE.is_file():
        return []
    version = _bundle_version()
    return [f"bif-page-base.css?v={version}", f"bif-app.css?v={version}", f"bif-app.js?v={version}",
            *_bundle_preload(version)]


def filter_page_config(page_config: dict, meta: dict | None) -> dict:
    """Choose the app's front end; for Voilà's, drop the optional extensions the app does
    not need from the page config. The BIF template reads ``bifFrontend``."""
    if meta and meta.get("frontend") == LIGHT and LIGHT_BUNDLE.is_file():
        page_config["bifFrontend"] = LIGHT
        page_config["bifFrontendVersion"] = _bundle_version()
        page_config["bifFrontendPreload"] = list(_bundle_preload(page_config["bifFrontendVersion"]))
        return page_config
    if meta and meta.get(MATHJAX) is False:
        page_config["fullMathjaxUrl"] = page_config.get("baseUrl", "/") + MATHJAX_OFF_URL
        page_config["mathjaxConfig"] = "none"
    if not meta or "frontend_extensions" not in meta:
        return page_config  # unknown: load everything
    keep = set(meta["frontend_extensions"])
    drop = set(OPTIONAL_EXTENSIONS) - keep
    page_config["federated_extensions"] = [
        ext for ext in page_config.get("federated_extensions", []) if ext.get("name") not in drop]
    return page_config


def page_config_hook(registry):
    """A ``VoilaConfiguration.page_config_hook`` that looks up the app's current ``meta.json``
    in the app registry on every render (``Registry.served_meta``). The registry is passed in
    rather than imported: Voilà loads this module by its path, without the ``bif_lib`` package."""

    def hook(page_config, base_url=None, settings=None, log=None, voila_configuration=None,
             notebook_path=None, **_):
        return filter_page_config(page_config, registry.served_meta(notebook_path))

    return hook
