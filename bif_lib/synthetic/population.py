"""In-memory population of the simulation (struct of numpy arrays) and pseudonymous ids."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

NATIONALITY_GROUPS = ("deutsch", "eu", "nicht_eu")
GERMAN, EU, NON_EU = range(3)

_ID_SPACE = 2**40


class PseudonymIssuer:
    """Unique pseudonymous ids: a seeded affine bijection of a running counter modulo 2**40.

    Ids are unique by construction (the multiplier is odd, hence invertible modulo a power of
    two), differ between seeds and do not reveal the order in which persons were created.
    """

    def __init__(self, seed: int, salt: int):
        rng = np.random.default_rng([seed, salt])
        self._multiplier = np.uint64(int(rng.integers(2**20, 2**39)) | 1)
        self._offset = np.uint64(int(rng.integers(0, _ID_SPACE)))
        self._issued = 0

    def issue(self, count: int) -> np.ndarray:
        counter = np.arange(self._issued, self._issued + count, dtype=np.uint64)
        self._issued += count
        # uint64 arithmetic wraps modulo 2**64, which 2**40 divides: the result is exact.
        scrambled = (counter * self._multiplier + self._offset) % np.uint64(_ID_SPACE)
        return scrambled.astype(np.int64) + 1  # ids start at 1


@dataclass(frozen=True)
class People:
    """One row per person; all arrays have the same length."""

    person_id: np.ndarray  # int64
    birth_year: np.ndarray  # int64
    is_female: np.ndarray  # bool
    district_id: np.ndarray  # int64, district code (city profile)
    bezirk: np.ndarray  # int64, row index into the Bezirke table
    household_id: np.ndarray  # int64
    nationality: np.ndarray  # int8, index into NATIONALITY_GROUPS
    moved_in: np.ndarray  # datetime64[D], date moved into the current address

    def __len__(self) -> int:
        return len(self.person_id)

    def take(self, selection: np.ndarray) -> People:
        return People(**{f.name: getattr(self, f.name)[selection] for f in fields(self)})

    def updated(self, **changes: np.ndarray) -> People:
        return replace(self, **changes)

    @staticmethod
    def concat(parts: list[People]) -> People:
        return People(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(People)})

    @staticmethod
    def empty() -> People:
        return People(
            person_id=np.empty(0, np.int64), birth_year=np.empty(0, np.int64), is_female=np.empty(0, bool),
            district_id=np.empty(0, np.int64), bezirk=np.empty(0, np.int64), household_id=np.empty(0, np.int64),
            nationality=np.empty(0, np.int8), moved_in=np.empty(0, "datetime64[D]"),
        )


def weighted_sample(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``count`` items drawn without replacement with probability proportional to weight.

    Efraimidis–Spirakis: keep the ``count`` largest keys log(U) / w. Items with weight 0 are only
    taken when there are not enough items with positive weight.
    """
    weights = np.asarray(weights, dtype=float)
    if count > len(weights):
        raise ValueError(f"cannot draw {count} of {len(weights)} items")
    if count == 0:
        return np.empty(0, np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(len(weights))) / weights
    keys = np.where(weights > 0, keys, -np.inf)
    # Ties among zero-weight items are broken by a second random key.
    order = np.lexsort((rng.random(len(weights)), keys))[::-1]
    return np.sort(order[:count])


def random_dates_in_year(year: int, count: int, rng: np.random.Generator) -> np.ndarray:
    start = np.datetime64(f"{year}-01-01", "D")
    days = (np.datetime64(f"{year + 1}-01-01", "D") - start).astype(int)
    return start + rng.integers(0, days, size=count).astype("timedelta64[D]")
