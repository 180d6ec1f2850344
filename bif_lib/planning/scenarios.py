"""Scenario assumptions: documented multipliers, trends and levels on the estimated rates, within
planner bounds.

The low / medium / high scenarios carry the variants of the 15th coordinated population
projection of Destatis (2022) over to the city:

* fertility: G1 / G2 / G3 = 1.44 / 1.55 / 1.67 children per woman -> factors 0.93 / 1 / 1.08;
* migration: W1 / W2 / W3 = net 150 000 / 250 000 / 350 000 a year, i.e. +-100 000 on a gross
  immigration of roughly 1.4 million (+-7 %) -> the city's gross in-migration volume x 0.93 / 1.07;
  out-migration rates stay as estimated (the national variants also vary immigration);
* mortality: L1 / L2 / L3 = life expectancy at birth in 2070 of men 82.6 / 84.6 / 86.4 and women
  86.1 / 88.2 / 90.1 years, from 78.5 / 83.2 in 2021 (gains over 49 years: men +4.1 / +6.1 / +7.9,
  women +2.9 / +5.0 / +6.9). Each gain is translated into a constant yearly reduction r of all
  death hazards: k = the hazard multiplier that raises e0 of the model life table by the gain
  (:func:`~bif_lib.planning.lifetable.hazard_multiplier_for_gain`), r = 1 - k ** (1/49)
  (:func:`~bif_lib.planning.lifetable.yearly_hazard_reduction`); see :data:`DESTATIS_MORTALITY`.
  The hazard of projection year base_year + n is multiplied by (1 - r) ** n.

Planners may set levels instead of factors (their own assumptions): a total fertility rate
``tfr``, a gain of life expectancy per decade ``life_expectancy_gain``, an in-migration volume
``in_migration_per_year``; a level replaces the corresponding factor / trend (setting both is
refused). ``new_housing_share`` says how much of the newcomers to new housing is part of the
in-migration volume (1 = all: new housing redistributes in-migration, it does not add to it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bif_lib.i18n import format_number
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
    "mortality_improvement": Bound("Jährlicher Rückgang der Sterblichkeit", 0.0, 0.05),
    "tfr": Bound("Geburtenziffer (Kinder je Frau)", 0.8, 2.5),
    "life_expectancy_gain": Bound("Zunahme der Lebenserwartung (Jahre je Jahrzehnt)", 0.0, 3.0),
    "in_migration_per_year": Bound("Zuzüge je Jahr", 0.0, 1_000_000.0),
    "new_housing_share": Bound("Anteil der Neubau-Bewohner innerhalb der Zuzüge", 0.0, 1.0),
}

SCENARIO_LABELS_DE = {"low": "niedrig", "medium": "mittel", "high": "hoch"}

# Destatis, 15. koordinierte Bevölkerungsvorausberechnung (2022), variants of life expectancy at
# birth: e0 2021 (base) and 2070 per sex, and the yearly hazard reduction r (men, women) that
# reproduces the gain 2021 -> 2070 on the default model life table (sh_2019, e0 78.33 / 83.14):
#   r = 1 - k ** (1 / 49),  e0(sx ** k) = e0(sx) + gain   (tests/planning/test_assumptions_mortality.py)
DESTATIS_MORTALITY = {
    "source": "Statistisches Bundesamt (Destatis), 15. koordinierte Bevölkerungsvorausberechnung (2022), "
              "Varianten L1/L2/L3 der Lebenserwartung bei Geburt",
    "e0_2021": {"m": 78.5, "w": 83.2},
    "e0_2070": {"L1": {"m": 82.6, "w": 86.1}, "L2": {"m": 84.6, "w": 88.2}, "L3": {"m": 86.4, "w": 90.1}},
    "years": 49,
    "yearly_hazard_reduction": {"L1": (0.00775, 0.00583), "L2": (0.01154, 0.01000), "L3": (0.01492, 0.01369)},
}

# a level set by the planner replaces this factor / trend
_LEVEL_REPLACES = {"tfr": ("fertility_factor", 1.0), "in_migration_per_year": ("in_migration_factor", 1.0),
                   "life_expectancy_gain": ("mortality_improvement", (0.0, 0.0))}


def _pair(value: Any) -> tuple[float, float]:
    """(men, women) from one number or a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError("„Jährlicher Rückgang der Sterblichkeit“: ein Wert oder zwei (Männer, Frauen).")
        return (value[0], value[1])
    return (value, value)


@dataclass(frozen=True)
class Assumptions:
    """Multipliers, trends and levels applied to the estimated parameters (defaults: as estimated).

    fertility_factor       multiplies the fertility rates (or ``tfr``: city TFR set to this level);
    mortality_factor       multiplies the death hazard (-ln of the survival ratio), so survival stays
                           in [0, 1];
    mortality_improvement  yearly reduction of all death hazards (men, women); the hazard of year
                           base_year + n is multiplied by (1 - r) ** n (or ``life_expectancy_gain``:
                           years of e0 per decade, translated per sex on the parameters' life table);
    in/out/internal        migration factors multiply the in-migration volume (or
                           ``in_migration_per_year`` replaces it) and the out/internal rates;
    persons_per_dwelling   occupancy of new housing (default for rows without their own);
    new_housing_share      share of the newcomers to new housing that is part of the in-migration
                           volume (taken out of it, not added on top); 0 = all on top;
    boys_per_100_girls     None keeps the estimated sex ratio at birth.
    """

    name: str = "benutzerdefiniert"
    fertility_factor: float = 1.0
    mortality_factor: float = 1.0
    in_migration_factor: float = 1.0
    out_migration_factor: float = 1.0
    internal_migration_factor: float = 1.0
    persons_per_dwelling: float = 2.0
    boys_per_100_girls: float | None = None
    mortality_improvement: tuple[float, float] = (0.0, 0.0)
    tfr: float | None = None
    life_expectancy_gain: float | None = None
    in_migration_per_year: float | None = None
    new_housing_share: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mortality_improvement", _pair(self.mortality_improvement))
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in BOUNDS and value is not None:
                bound = BOUNDS[item.name]
                if isinstance(value, tuple):
                    checked = tuple(check_range(bound.label_de, v, bound.low, bound.high) for v in value)
                else:
                    checked = check_range(bound.label_de, value, bound.low, bound.high)
                object.__setattr__(self, item.name, checked)
        for level, (replaced, neutral) in _LEVEL_REPLACES.items():
            if getattr(self, level) is not None and getattr(self, replaced) != neutral:
                raise ValueError(
                    f"„{BOUNDS[level].label_de}“ ersetzt „{BOUNDS[replaced].label_de}“: bitte nur eines von "
                    "beiden angeben.")

    def adjusted(self, **changes: Any) -> Assumptions:
        """Copy with planner changes (validated); the name records that it was adjusted.

        Setting a level (``tfr``, ``life_expectancy_gain``, ``in_migration_per_year``) resets the
        factor or trend it replaces, unless that is changed in the same call.
        """
        name = changes.pop("name", f"{self.name} (angepasst)")
        unknown = set(changes) - {item.name for item in fields(self)}
        if unknown:
            raise ValueError(f"Unbekannte Annahme(n): {', '.join(sorted(unknown))}.")
        for level, (replaced, neutral) in _LEVEL_REPLACES.items():
            if changes.get(level) is not None and replaced not in changes:
                changes[replaced] = neutral
        return replace(self, name=name, **changes)

    @property
    def label_de(self) -> str:
        return SCENARIO_LABELS_DE.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe_de(self) -> dict[str, str]:
        """German label -> formatted value of every assumption (for panels and export sheets)."""
        out = {"Szenario": self.label_de}
        for key, bound in BOUNDS.items():
            value = getattr(self, key)
            if value is None:
                continue
            if key == "mortality_improvement":
                out[bound.label_de] = (f"Männer {format_number(100 * value[0], 2)} %, "
                                       f"Frauen {format_number(100 * value[1], 2)} % je Jahr")
            elif key == "new_housing_share":
                out[bound.label_de] = f"{format_number(100 * value, 0)} %"
            elif key == "in_migration_per_year":
                out[bound.label_de] = format_number(value, 0)
            else:
                out[bound.label_de] = format_number(float(value), 2)
        return out


_L = DESTATIS_MORTALITY["yearly_hazard_reduction"]
SCENARIOS: dict[str, Assumptions] = {
    "low": Assumptions(name="low", fertility_factor=0.93, in_migration_factor=0.93, mortality_improvement=_L["L1"]),
    "medium": Assumptions(name="medium", mortality_improvement=_L["L2"]),
    "high": Assumptions(name="high", fertility_factor=1.08, in_migration_factor=1.07, mortality_improvement=_L["L3"]),
}

# the rates as estimated, without any trend: for back-tests over observed years (the observed
# mortality is already in the parameters) and for checking the engine
AS_ESTIMATED = Assumptions(name="wie geschätzt")


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
