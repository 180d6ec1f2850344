"""The bundled apps (notebooks/apps) for this city: their texts from the city profile, and only
those whose data the city has.

* :func:`fill_metadata` — a notebook's ``metadata.bif`` texts (title, description, owner) may
  name placeholders that the city profile fills when it is published, so that no notebook names
  a city: ``{city}``, ``{organisation}``, ``{platform_title}``, ``{district}`` / ``{districts}``
  / ``{districts_dative}`` (the profile's district level: Stadtteil / Stadtteile / Stadtteilen),
  ``{district_count}``, ``{owner}``. The profile's ``apps.<app_id>`` may replace title,
  description and owner; the owner defaults to "<organisation> / Team BIF".
* :func:`publish_bundled` — ``bif publish --bundled``: every bundled notebook whose required
  inputs the city has (:mod:`bif_lib.apps.requirements`); each skipped app is named with the
  data it lacks, and skipping is no failure.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

TEXT_KEYS = ("title", "description", "owner")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def profile_values(app_id: str | None, profile=None) -> dict[str, str]:
    """The placeholders' values for ``app_id`` from the city profile ({} without a profile)."""
    try:
        if profile is None:
            from bif_lib.city.profile import current_profile

            profile = current_profile()
        organisation = profile.organisation
        values = {"city": profile.name, "organisation": organisation, "platform_title": profile.platform_title}
        section = profile.app(app_id) if app_id else {}
    except Exception:  # noqa: BLE001 - a notebook is published with its own texts then
        return {}
    try:
        level = profile.districts
        plural = level.label_plural
        values.update(district=level.label, districts=plural, district_count=str(len(level.names)),
                      districts_dative=plural if plural.endswith(("n", "s")) else plural + "n")
    except Exception:  # noqa: BLE001, S110 - no districts in the profile: those placeholders stay
        pass
    values["owner"] = str(section.get("owner") or f"{organisation} / Team BIF")
    for key in ("title", "description"):
        if section.get(key):
            values[f"_{key}"] = str(section[key])
    return values


def fill_text(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the known ``{placeholders}`` filled; other braces stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)) if not m.group(1).startswith("_")
                            else m.group(0), text)


def fill_metadata(nb, app_id: str | None, profile=None):
    """A copy of the notebook with its ``metadata.bif`` texts filled from the city profile
    (the notebook itself if it has no such block)."""
    raw = (nb.get("metadata") or {}).get("bif")
    if not isinstance(raw, dict):
        return nb
    values = profile_values(raw.get("id") or app_id, profile)
    if not values:
        return nb
    filled = copy.deepcopy(nb)
    bif = filled["metadata"]["bif"]
    for key in ("title", "description"):
        if values.get(f"_{key}"):
            bif[key] = values[f"_{key}"]
    for key in TEXT_KEYS:
        if isinstance(bif.get(key), str):
            bif[key] = fill_text(bif[key], values)
    return filled


def bundled_notebooks(root: Path | None = None) -> list[Path]:
    from bif_lib import config

    return sorted(((root or config.PROJECT_ROOT) / "notebooks" / "apps").glob("*.ipynb"))


def publish_bundled(cfg, registry, user: str, *, notebooks: list[Path] | None = None,
                    say: Callable[[str], None] = print,
                    warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)) -> int:
    """Publish the bundled notebooks this city has the data for; an app whose live version is
    identical is left alone. Returns 1 if a publication was refused, else 0 (skipped apps —
    data the city does not have — are no failure)."""
    from bif_lib.apps.publishing.publish import PublishError, is_live, publish_notebook
    from bif_lib.apps.requirements import APPS, resolve, skipped_message

    store = cfg.store or str(Path(cfg.home) / "store")
    catalog = None
    failed = 0
    for notebook in notebooks if notebooks is not None else bundled_notebooks():
        app_id = notebook.stem
        if app_id in APPS:
            if catalog is None:
                from bif_lib.apps.requirements import _catalog

                catalog = _catalog(store)
            resolution = resolve(app_id, catalog=catalog)
            if not resolution.ok:
                say(f"{notebook.name}: übersprungen – {skipped_message(app_id, resolution.missing)}")
                continue
            for what, lacking in resolution.disabled.items():
                say(f"{notebook.name}: ohne {what} (es fehlt: {', '.join(lacking)}).")
        if is_live(notebook, cfg=cfg, registry=registry):
            say(f"{notebook.name}: unverändert veröffentlicht – nichts zu tun.")
            continue
        warn(f"… prüfe und veröffentliche {notebook.name}")
        try:
            result = publish_notebook(notebook, published_by=user, cfg=cfg, registry=registry)
        except PublishError as e:
            warn(e.german())
            failed += 1
            continue
        say(f"{notebook.name}: App {result.app_id!r} Version {result.version} veröffentlicht.")
    return 1 if failed else 0
