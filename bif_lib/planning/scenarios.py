"""Scenario assumptions: documented multipliers on the estimated rates, within planner bounds.

The low / high scenarios carry the spread of the variants of the 15th coordinated population
projection of Destatis (2022) over to the city:

* fertility: G1 / G2 / G3 = 1.44 / 1.55 / 1.67 children per woman -> factors 0.93 / 1 / 1.08;
* migration: W1 / W2 / W3 = net 150 000 / 250 000 / 350 000 a year, i.e. +-100 000 on a gross
  immigration of roughly 1.4 million (+-7 %) -> the city's gross in-migration volume x 0.93 / 1.07;
  out-migration rates stay as estimated (the national variants also vary immigration);
* mortality: L1 / L3 about -+2 years of life expectancy in 2070, about -+1 year within a 30-year
  horizon -> death hazard x 1.1 / 0.9 (about -+1 year of e0 at today's level).

Multipliers are constant over the horizon. They are assumptions for comparison, not estimates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bif_lib.planning._common import check_range


@dataclass(frozen=True)
class Bound:
    label_de: str
    low: float
    high: float


# Planner-adjustable assumptions, their German labels (shown in messages) and allowed ranges.
BOUNDS: dict[str, Bound] = {
    "fertility_factor": Bound("Faktor Geburtenhäufigkeit", 0.5, 1.5),
    "mortality_factor": Bound("Faktor Sterblichkeit", 0.5, 1.5),
    "in_migration_factor": Bound("Faktor Zuzüge", 0.0, 2.0),
    "out_migration_factor": Bound("Faktor Fortzüge", 0.0, 2.0),
    "internal_migration_factor": Bound("Faktor Umzüge zwischen Stadtteilen", 0.0, 2.0),
    "persons_per_dwelling": Bound("Personen je Neubauwohnung", 1.0, 4.0),
    "boys_per_100_girls": Bound("Jungen je 100 Mädchen bei Geburt", 100.0, 110.0),
}

SCENARIO_LABELS_DE = {"low": "niedrig", "medium": "mittel", "high": "hoch"}


@dataclass(frozen=True)
class Assumptions:
    """Multipliers applied to the estimated parameters (1.0 = as estimated).

    mortality_factor multiplies the death hazard (-ln of the survival ratio), so survival stays in
    [0, 1]; migration factors multiply out/internal rates and the in-migration volume.
    ``boys_per_100_girls`` None keeps the estimated sex ratio at birth.
    """

    name: str = "benutzerdefiniert"
    fertility_factor: float = 1.0
    mortality_factor: float = 1.0
    in_migration_factor: float = 1.0
    out_migration_factor: float = 1.0
    internal_migration_factor: float = 1.0
    persons_per_dwelling: float = 2.0
    boys_per_100_girls: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in BOUNDS and value is not None:
                bound = BOUNDS[item.name]
                object.__setattr__(self, item.name, check_range(bound.label_de, value, bound.low, bound.high))

    def adjusted(self, **changes: Any) -> Assumptions:
        """Copy with planner changes (validated); the name records that it was adjusted."""
        name = changes.pop("name", f"{self.name} (angepasst)")
        unknown = set(changes) - {item.name for item in fields(self)}
        if unknown:
            raise ValueError(f"Unbekannte Annahme(n): {', '.join(sorted(unknown))}.")
        return replace(self, name=name, **changes)

    @property
    def label_de(self) -> str:
        return SCENARIO_LABELS_DE.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SCENARIOS: dict[str, Assumptions] = {
    "low": Assumptions(name="low", fertility_factor=0.93, mortality_factor=1.1, in_migration_factor=0.93),
    "medium": Assumptions(name="medium"),
    "high": Assumptions(name="high", fertility_factor=1.08, mortality_factor=0.9, in_migration_factor=1.07),
}


def scenario(name: str | Assumptions) -> Assumptions:
    """The standard scenario ``name`` ('low', 'medium', 'high'; German labels accepted)."""
    if isinstance(name, Assumptions):
        return name
    by_german_label = {label: key for key, label in SCENARIO_LABELS_DE.items()}
    key = by_german_label.get(name, name)
    if key not in SCENARIOS:
        raise ValueError(
            f"Unbekanntes Szenario „{name}“; möglich sind: niedrig (low), mittel (medium), hoch (high)."
        )
    return SCENARIOS[key]
