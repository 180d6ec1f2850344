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



def test_a_prepared_page_frees_its_slot_but_still_counts_for_its_person():
    async def scenario():
        queue = StartQueue(1)
        first = queue.join("planerin")
        again, other = queue.join("planerin"), queue.join("kollege")
        queue.prepared(first)  # ready and sent; not yet connected
        assert other.granted.done() and not again.granted.done()  # the slot to somebody else
        assert queue.active == 1 and queue.holding["planerin"] == 1
        queue.prepared(first)  # once only
        assert queue.active == 1
        queue.leave(other)
        assert not again.granted.done() and queue.active == 0  # a free slot, but her turn is held
        queue.leave(first)  # connected
        assert again.granted.done() and queue.active == 1
        queue.leave(first)  # given back once only
        queue.leave(again)
        assert queue.active == 0 and not queue.holding
    run_async(scenario())


def _gateway(grace: float):
    """What leave_once_connected uses of the gateway's context: the line, the kernels' bindings,
    the setting."""
    import types

    from bif_lib.apps.serving.gateway import KernelBindings

    return types.SimpleNamespace(start_queue=StartQueue(2), bindings=KernelBindings(),
                                 cfg=types.SimpleNamespace(connect_grace=grace))


def test_a_persons_next_page_is_prepared_once_their_last_one_has_connected():
    from bif_lib.apps.serving.service import leave_once_connected

    async def scenario():
        ctx = _gateway(grace=60)
        queue, bindings = ctx.start_queue, ctx.bindings
        first = queue.join("planerin")
        bindings.bind("k1", "app", "planerin")  # the page was sent: its kernel bound
        queue.prepared(first)
        holding = asyncio.ensure_future(leave_once_connected(ctx, first, "k1"))
        second = queue.join("planerin")
        await asyncio.sleep(0.05)
        assert not second.granted.done() and queue.holding["planerin"] == 1  # not connected yet
        others = [queue.join(f"kollege-{i}") for i in range(2)]  # nobody else is held up by it
        assert all(p.granted.done() for p in others)
        for place in others:
            queue.leave(place)
        bindings.opened("k1")  # the page's WebSocket
        assert await queue.wait(second, 5) and holding.done()
        queue.leave(second)
        assert queue.active == 0 and not queue.holding
    run_async(scenario())


def test_a_page_that_never_connects_holds_its_persons_turn_only_for_the_grace_or_until_its_kernel_goes():
    from bif_lib.apps.serving.service import leave_once_connected

    async def scenario():
        ctx = _gateway(grace=0.3)
        queue, bindings = ctx.start_queue, ctx.bindings
        first = queue.join("skript")
        bindings.bind("k1", "app", "skript")
        queue.prepared(first)
        asyncio.ensure_future(leave_once_connected(ctx, first, "k1"))
        second = queue.join("skript")
        assert await queue.wait(second, 5)  # after the grace, without any connection
        assert bindings.sockets("k1") == 0
        bindings.bind("k2", "app", "skript")
        ctx.cfg.connect_grace = 60
        queue.prepared(second)
        held = asyncio.ensure_future(leave_once_connected(ctx, second, "k2"))
        third = queue.join("skript")
        await asyncio.sleep(0.05)
        assert not third.granted.done()
        bindings.unbind("k2")  # shut down (its beacon, the orphan check): nothing to wait for
        assert await queue.wait(third, 5) and held.done()
        queue.leave(third)
        # a kernel the gateway never bound (gone already) does not hold anybody up
        fourth = queue.join("skript")
        queue.prepared(fourth)
        await leave_once_connected(ctx, fourth, "unbekannt")
        assert queue.active == 0 and not queue.holding
    run_async(scenario())
