"""Which JupyterLab front-end extensions an app page loads.

Voilà loads every installed widget extension into every page. Plotly's alone is about
1.4 MB of JavaScript that the browser parses on each open, even for an app with a slider
and a table. At publication we record which of the *optional* extensions the app needs;
the Voilà page-config hook then leaves the others out of that app's pages.

An optional extension is needed when the headless run imported one of its Python
modules, produced its output type, or created one of its widgets. Extensions not listed
here are always loaded; versions published before this was recorded load everything.
``metadata.bif.frontend_extensions`` in the notebook adds extensions by hand (for an app
that imports e.g. plotly only after a click).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

log = logging.getLogger("bif.apps.frontend")

# extension name -> (python modules, output mime types) that show it is needed
OPTIONAL_EXTENSIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "jupyterlab-plotly": (frozenset({"plotly"}), frozenset({"application/vnd.plotly.v1+json"})),
    "jupyter-leaflet": (frozenset({"ipyleaflet"}), frozenset()),
}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _widget_modules(executed: dict) -> set[str]:
    state = ((executed.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE, {}).get("state", {})
    return {m.get("model_module") for m in state.values() if isinstance(m, dict)} - {None}


def _output_mimes(executed: dict) -> set[str]:
    mimes = set()
    for cell in executed.get("cells", []):
        for output in cell.get("outputs", []) or []:
            mimes.update((output.get("data") or {}).keys())
    return mimes


def needed_extensions(executed: dict, modules: Iterable[str], requested: Iterable[str] = ()) -> list[str]:
    """The optional extensions this app needs (sorted)."""
    modules, mimes, widgets = set(modules), _output_mimes(executed), _widget_modules(executed)
    needed = {name for name, (mods, types) in OPTIONAL_EXTENSIONS.items()
              if mods & modules or types & mimes or name in widgets}
    return sorted(needed | (set(requested) & set(OPTIONAL_EXTENSIONS)))


def filter_page_config(page_config: dict, meta: dict | None) -> dict:
    """Drop the optional extensions the app does not need from Voilà's page config."""
    if not meta or "frontend_extensions" not in meta:
        return page_config  # unknown: load everything
    keep = set(meta["frontend_extensions"])
    drop = set(OPTIONAL_EXTENSIONS) - keep
    page_config["federated_extensions"] = [
        ext for ext in page_config.get("federated_extensions", []) if ext.get("name") not in drop]
    return page_config


def page_config_hook(apps_dir: str):
    """A ``VoilaConfiguration.page_config_hook`` that reads the app's meta.json per render."""
    root = Path(apps_dir)

    def hook(page_config, base_url=None, settings=None, log=None, voila_configuration=None,
             notebook_path=None, **_):
        app_id = Path(str(notebook_path or "")).stem
        try:
            meta = json.loads((root / app_id / "current" / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        return filter_page_config(page_config, meta)

    return hook
