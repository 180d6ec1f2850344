"""The roles of the access matrix and their data areas.

The people's areas come from the BIF groups of the default settings, so that a changed
default changes the matrix; the apps and sandbox accounts and "nobody" are fixed.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GROUP_OF_ROLE = {"analyst": "analysts", "trainer": "trainers", "participant": "participants",
                 "operator": "admins", "office": "statistikstelle"}


def data_areas() -> dict[str, list[str]]:
    from bif_lib.platform.settings import load_settings

    groups = load_settings(REPO / "hub_config" / "settings.yaml", environ={})["groups"]
    areas = {role: list(groups[group]["data_areas"]) for role, group in GROUP_OF_ROLE.items()}
    return {**areas, "apps": ["internal"], "sandbox": [], "nobody": []}


ROLES = data_areas()
ROLES_WITH_INTERNAL = {role for role, areas in ROLES.items() if "internal" in areas}
