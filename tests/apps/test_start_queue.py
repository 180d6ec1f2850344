"""The line for app pages (bif_lib/apps/serving/start_queue.py): first come, first served,
positions that move, people who leave."""

from __future__ import annotations

import asyncio

import pytest
from apps_helpers import run_async

from bif_lib.apps.serving.start_queue import StartQueue


def test_free_slots_are_taken_at_once_then_people_queue_in_order():
    async def scenario():
        queue = StartQueue(2)
        a, b, c, d = (queue.join() for _ in range(4))
        assert a.granted.done() and b.granted.done()
        assert [queue.position(p) for p in (a, b, c, d)] == [0, 0, 1, 2]
        queue.leave(a)  # a's page is ready: the first in line gets the slot
        assert c.granted.done() and not d.granted.done()
        assert queue.position(d) == 1 and len(queue) == 1
        queue.leave(b)
        assert d.granted.done() and len(queue) == 0
        for p in (c, d):
            queue.leave(p)
        assert queue.active == 0
        assert queue.join().granted.done()
    run_async(scenario())


def test_somebody_who_leaves_the_line_moves_the_others_up_and_frees_nothing():
    async def scenario():
        queue = StartQueue(1)
        first, second, third = queue.join(), queue.join(), queue.join()
        third.moved.clear()
        queue.leave(second)  # closed the tab while waiting
        assert queue.position(third) == 1 and third.moved.is_set()
        assert queue.active == 1 and not third.granted.done()
        queue.leave(second)  # leaving twice changes nothing
        queue.leave(first)
        assert third.granted.done()
        queue.leave(third)
        queue.leave(third)  # a slot is given back once only
        assert queue.active == 0
    run_async(scenario())


def test_waiting_returns_when_granted_or_after_the_timeout():
    async def scenario():
        queue = StartQueue(1)
        holder, waiter = queue.join(), queue.join()
        assert await queue.wait(waiter, 0.05) is False
        assert queue.position(waiter) == 1  # still in line after a timeout
        asyncio.get_running_loop().call_later(0.05, queue.leave, holder)
        assert await queue.wait(waiter, 5) is True
        # moved_or_granted wakes on a position change and on the slot
        late = queue.join()
        asyncio.get_running_loop().call_later(0.05, queue.leave, waiter)
        await asyncio.wait_for(queue.moved_or_granted(late, 5), 2)
        assert late.granted.done()
    run_async(scenario())


def test_arrival_order_is_kept_under_load():
    async def scenario():
        queue = StartQueue(2)
        served: list[int] = []

        async def person(i: int):
            place = queue.join()
            try:
                await queue.wait(place, 10)
                served.append(i)
                await asyncio.sleep(0.01)
            finally:
                queue.leave(place)

        await asyncio.gather(*(person(i) for i in range(30)))
        assert served == list(range(30)) and queue.active == 0
    run_async(scenario())


def test_at_least_one_slot():
    with pytest.raises(ValueError):
        StartQueue(0)
    with pytest.raises(ValueError):
        StartQueue(2, per_person=0)


def test_one_person_asking_for_many_pages_gets_them_one_after_another_beside_the_others():
    async def scenario():
        queue = StartQueue(2)  # one slot per person (the default)
        greedy = [queue.join("greedy") for _ in range(5)]
        assert [p.granted.done() for p in greedy] == [True, False, False, False, False]
        assert queue.active == 1  # the second slot stays free for somebody else
        planner = queue.join("planerin")  # behind greedy's four waiting pages, and served at once
        assert planner.granted.done() and queue.active == 2
        colleague = queue.join("kollege")  # both slots taken: waits, behind greedy's pages
        assert not colleague.granted.done() and queue.position(colleague) == 5
        queue.leave(planner)  # a free slot goes to the first in line who may have it
        assert colleague.granted.done() and not any(p.granted.done() for p in greedy[1:])
        queue.leave(greedy[0])
        assert greedy[1].granted.done() and not greedy[2].granted.done()
        for place in (colleague, *greedy[1:]):
            queue.leave(place)
        assert queue.active == 0 and not queue.holding and len(queue) == 0
    run_async(scenario())


def test_several_slots_per_person_and_requests_without_a_person():
    async def scenario():
        queue = StartQueue(3, per_person=2)
        a1, a2, a3 = (queue.join("a") for _ in range(3))
        assert a1.granted.done() and a2.granted.done() and not a3.granted.done()
        anonymous = queue.join()  # counted by nobody: only the slots limit it
        assert anonymous.granted.done() and queue.active == 3
        queue.leave(anonymous)
        assert not a3.granted.done() and queue.active == 2  # "a" holds two already
        queue.leave(a1)
        assert a3.granted.done() and queue.holding["a"] == 2
    run_async(scenario())


def test_someone_joining_the_line_wakes_nobody():
    async def scenario():
        queue = StartQueue(1)
        holder, waiting = queue.join("a"), queue.join("b")
        waiting.moved.clear()
        queue.join("c")  # behind: no position changed
        assert not waiting.moved.is_set()
        queue.leave(holder)  # the slot goes on: positions move
        assert waiting.granted.done()
    run_async(scenario())
