"""Shared pieces of the planning models: keys, bound checks, provenance and the synthetic label."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bif_lib.i18n import format_number

SEXES: tuple[str, str] = ("m", "w")
MAX_AGE = 100  # open age class: 100 = 100 and older


def district_ids_from(*frames: pd.DataFrame | None, column: str = "district_id") -> tuple[int, ...]:
    """The district codes found in the data: sorted union of ``column`` over the given frames.

    District codes are integers, not necessarily 1..N; they come from the data (or from the city
    profile, which the caller passes in) - never from a constant here.
    """
    found: set[int] = set()
    for frame in frames:
        if frame is not None and column in frame.columns:
            found.update(int(code) for code in pd.unique(frame[column].dropna()))
    return tuple(sorted(found))


def check_range(label_de: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise a ValueError a planner can read."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"„{label_de}“ muss eine Zahl sein (angegeben: {value!r}).") from None
    if not np.isfinite(number) or not low <= number <= high:
        raise ValueError(
            f"„{label_de}“ muss zwischen {_de(low)} und {_de(high)} liegen "
            f"(angegeben: {_de(number)})."
        )
    return number


def check_columns(frame: pd.DataFrame, required: Iterable[str], what_de: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"{what_de}: Spalte(n) fehlen: {', '.join(missing)}.")


def _de(number: float) -> str:
    return format_number(float(number), decimals=None)


# --- provenance -------------------------------------------------------------------------------

def merge_inputs(*mappings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Union of {dataset_id: version} mappings; later mappings win on conflicts."""
    merged: dict[str, Any] = {}
    for mapping in mappings:
        merged.update(mapping or {})
    return merged


def is_synthetic(*frames: pd.DataFrame | None) -> bool:
    """True if any frame carries the BIF synthetic label (``attrs["bif"]["synthetic"]``)."""
    return any(
        frame is not None and bool(frame.attrs.get("bif", {}).get("synthetic", False))
        for frame in frames
    )


def label_frame(frame: pd.DataFrame, synthetic: bool) -> pd.DataFrame:
    """Stamp the synthetic label on a result table (conventions: derived data stays labelled)."""
    frame.attrs["bif"] = {**frame.attrs.get("bif", {}), "synthetic": bool(synthetic)}
    return frame


def title_de(title: str, synthetic: bool) -> str:
    return f"{title} (synthetische Daten)" if synthetic else title


def population_by_district_age(
    population: pd.DataFrame, years: Iterable[int] | None = None
) -> pd.DataFrame:
    """Sum a projection table (year, district_id, [sex], age, population) over sex.

    Accepts one scenario only, so that results of different scenarios are never added up.
    """
    check_columns(population, ["year", "district_id", "age", "population"], "Bevölkerungstabelle")
    if "scenario" in population.columns and population["scenario"].nunique() > 1:
        raise ValueError(
            "Die Bevölkerungstabelle enthält mehrere Szenarien; bitte zuerst ein Szenario auswählen."
        )
    frame = population if years is None else population[population["year"].isin(list(years))]
    return frame.groupby(["year", "district_id", "age"], as_index=False)["population"].sum()


@dataclass(frozen=True, eq=False, kw_only=True)
class PlanningResult:
    """What every model result carries besides its tables: the assumptions it was computed with,
    the versions of its inputs, and whether anything synthetic went in (then every table is
    labelled). Subclasses declare their tables as DataFrame fields, ``table`` (the main one,
    with a ``year`` column) and ``TITLE``."""

    assumptions: dict[str, Any]
    inputs: dict[str, Any]
    synthetic: bool

    TITLE: ClassVar[str] = ""

    @classmethod
    def labelled(cls, *, assumptions: dict[str, Any], inputs: Mapping[str, Any] | None, synthetic: bool,
                 **tables: pd.DataFrame):
        """The result with every table stamped with the synthetic label and the inputs merged."""
        return cls(**{name: label_frame(frame, synthetic) for name, frame in tables.items()},
                   assumptions=assumptions, inputs=merge_inputs(inputs), synthetic=synthetic)

    @property
    def table(self) -> pd.DataFrame:
        own = [f.name for f in fields(self) if f.name not in _RESULT_FIELDS]
        return getattr(self, own[0])  # a subclass's first own field is its main table

    @property
    def title(self) -> str:
        years = self.table["year"]
        return title_de(f"{self.TITLE} {years.min()}–{years.max()}", self.synthetic)


_RESULT_FIELDS = {f.name for f in fields(PlanningResult)}
