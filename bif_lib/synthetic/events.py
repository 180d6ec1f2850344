"""Demographic events of the register (births, deaths, moves), collected column-wise."""

from __future__ import annotations

import numpy as np

from bif_lib.synthetic.population import People

OPEN_AGE_CLASS = 100  # ages are reported as completed years, 100 = 100 and older
EVENT_KINDS = ("birth", "death", "move_in", "move_out", "move_within")


class EventLog:
    """Collects the demographic events column-wise."""

    def __init__(self):
        self._parts: list[dict[str, np.ndarray]] = []

    def add(self, year: int, kind: str, people: People, *, district_id: np.ndarray | None = None,
            to_district_id: np.ndarray | None = None, mother_id: np.ndarray | None = None,
            mother_age: np.ndarray | None = None) -> None:
        n = len(people)
        if n == 0:
            return
        missing = np.full(n, -1, dtype=np.int64)
        self._parts.append({
            "year": np.full(n, year, dtype=np.int64),
            "event": np.full(n, EVENT_KINDS.index(kind), dtype=np.int8),
            "person_id": people.person_id,
            "district_id": people.district_id if district_id is None else district_id,
            "to_district_id": missing if to_district_id is None else to_district_id,
            "age": reported_age(year, people.birth_year),
            "is_female": people.is_female,
            "mother_id": missing if mother_id is None else mother_id,
            "mother_age": missing if mother_age is None else mother_age,
        })

    def columns(self) -> dict[str, np.ndarray]:
        if not self._parts:
            raise ValueError("no events recorded")
        return {name: np.concatenate([part[name] for part in self._parts]) for name in self._parts[0]}


def reported_age(year: int, birth_year: np.ndarray) -> np.ndarray:
    """Completed years at 31.12. of ``year``, with the open age class 100 (= 100+)."""
    return np.minimum(year - birth_year, OPEN_AGE_CLASS)
