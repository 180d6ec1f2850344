"""Pools that grow with demand (bif_lib/apps/serving/pool_demand.py), with a clock of our own."""

from __future__ import annotations

from bif_lib.apps.serving.pool_demand import PoolDemand


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_within_the_window_raise_the_pool_up_to_the_maximum():
    clock = Clock()
    demand = PoolDemand(window=600, maximum=5, clock=clock)
    assert demand.quiet
    assert demand.changes({"kita": 2}) == {}  # nothing opened: its own size
    for i in range(3):
        demand.opened("kita", f"planer-{i}")
    assert demand.changes({"kita": 2}) == {"kita": 3}
    demand.applied("kita", 3)
    assert demand.changes({"kita": 2}) == {}  # already so
    for i in range(10):
        demand.opened("kita", f"planer-{i}")
    assert demand.target("kita", 2) == 5  # never beyond the maximum
    assert demand.changes({"kita": 2}) == {"kita": 4}  # one kernel more per look
    demand.applied("kita", 4)
    assert demand.changes({"kita": 2}) == {"kita": 5}
    demand.applied("kita", 5)
    assert demand.changes({"kita": 2}) == {}


def test_the_pool_returns_to_its_own_size_when_the_opens_age_out():
    clock = Clock()
    demand = PoolDemand(window=600, maximum=8, clock=clock)
    for i in range(4):
        demand.opened("kita", f"planer-{i}")
    demand.applied("kita", 4)
    clock.now += 300
    demand.opened("kita", "planer-9")
    assert demand.changes({"kita": 2}) == {"kita": 5}
    demand.applied("kita", 5)
    clock.now += 301  # the first four are older than the window now
    assert demand.recent("kita") == 1
    assert demand.changes({"kita": 2}) == {"kita": 2}
    demand.applied("kita", 2)
    clock.now += 601
    assert demand.changes({"kita": 2}) == {}
    assert demand.quiet  # all aged out and back at its own size: the gateway stops looking


def test_apps_without_preheating_never_grow_and_withdrawn_apps_are_forgotten():
    demand = PoolDemand(window=600, maximum=8, clock=Clock())
    for i in range(5):
        demand.opened("selten", f"planer-{i}")
        demand.opened("weg", f"planer-{i}")
    assert demand.changes({"selten": 0}) == {}
    assert demand.recent("weg") == 0  # not listed any more: its opens are dropped


def test_a_rebuilt_pool_counts_as_being_at_its_own_size():
    demand = PoolDemand(window=600, maximum=8, clock=Clock())
    for i in range(4):
        demand.opened("kita", f"planer-{i}")
    demand.applied("kita", 4)
    demand.forget("kita")  # published anew: Voilà rebuilt it with 2
    assert demand.changes({"kita": 2}) == {"kita": 3}  # and it grows again, one at a time
    demand.applied("kita", 3)
    assert demand.changes({"kita": 2}) == {"kita": 4}


def test_one_persons_many_opens_count_once():
    """A client asking for 50 pages (or a planner with many tabs) is one person: the pool does not
    start kernels for them (bench_many_planners --hostile)."""
    clock = Clock()
    demand = PoolDemand(window=600, maximum=8, clock=clock)
    for _ in range(50):
        demand.opened("kita", "gierig")
    assert demand.recent("kita") == 1
    assert demand.changes({"kita": 2}) == {}
    for i in range(3):
        demand.opened("kita", f"planer-{i}")
    assert demand.recent("kita") == 4
    assert demand.changes({"kita": 2}) == {"kita": 3}
    clock.now += 601  # everything aged out, the person's opens too
    assert demand.recent("kita") == 0
