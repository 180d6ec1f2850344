"""The order in which a city's contracts must be ingested.

A contract's checks read other datasets from the store (foreign keys, reference
boundaries, totals from another table — see ``validation.referenced_datasets``), so every
referenced dataset has to be ingested before the datasets that reference it.
"""

from __future__ import annotations

import heapq

from bif_lib.contracts import Contract
from bif_lib.validation import referenced_datasets


class DependencyCycle(ValueError):
    """Contracts reference each other in a circle; no ingest order exists."""

    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__("Verträge verweisen im Kreis aufeinander: " + " → ".join(cycle))


def ingest_order(contracts: dict[str, Contract]) -> list[str]:
    """Dataset ids in an order where each dataset comes after every dataset it references.

    Topological sort (Kahn) by ``referenced_datasets``; among datasets that are
    ready at the same time the alphabetically first comes first, so the order is
    deterministic. References to datasets that are not among ``contracts`` (already in
    the store, or missing – the ingest then reports it) do not constrain the order.
    Raises :class:`DependencyCycle` if the references form a cycle.
    """
    depends_on = {dataset: {ref for ref in referenced_datasets(contract) if ref in contracts and ref != dataset}
                  for dataset, contract in contracts.items()}
    dependents: dict[str, set[str]] = {dataset: set() for dataset in contracts}
    for dataset, refs in depends_on.items():
        for ref in refs:
            dependents[ref].add(dataset)
    waiting = {dataset: len(refs) for dataset, refs in depends_on.items()}
    ready = [dataset for dataset, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        dataset = heapq.heappop(ready)
        order.append(dataset)
        for dependent in dependents[dataset]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(order) < len(contracts):
        raise DependencyCycle(_find_cycle({d: refs for d, refs in depends_on.items() if d not in order}))
    return order


def _find_cycle(depends_on: dict[str, set[str]]) -> list[str]:
    """One cycle among the datasets left over by the sort (each has a dependency left)."""
    start = min(depends_on)
    path, seen = [start], {start: 0}
    while True:
        current = path[-1]
        following = min(ref for ref in depends_on[current] if ref in depends_on)
        if following in seen:
            return path[seen[following]:] + [following]
        seen[following] = len(path)
        path.append(following)


__all__ = ["DependencyCycle", "ingest_order"]
