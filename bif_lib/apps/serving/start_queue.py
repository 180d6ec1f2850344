"""First come, first served: how many app pages are prepared at once, and who is next.

Preparing an app page means a kernel that has run the notebook. When many planners open apps
at the same moment (a training room, Monday morning), starting all their kernels together
makes everybody wait until the last one is done: the machine's CPUs are shared by all. The
gateway therefore lets ``slots`` page preparations run at once (``apps.concurrent_starts``;
default: the number of CPUs) and queues the others in arrival order. A person who waits in a
browser sees a German page with their position (``service.AppHandler``); the first in line
gets the next free slot, and whoever closes the tab leaves the queue.

One person holds at most ``per_person`` slots (``apps.concurrent_starts_per_person``, default
1): the next slot goes to the first in line whose person is not preparing a page already. One
person asking for many pages at once (many tabs, a script) gets them one after another and
never occupies every slot, so the others' pages are prepared beside theirs. Their position can
only get better than the one shown: those ahead of them may be waiting for their own. The
gateway gives a kernel page's slot to the next in line when the page is ready (``prepared``),
but its person counts it until the page has connected to its kernel
(``service.leave_once_connected``): one person's pages that are never connected come one per
``apps.connect_grace``.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class Place:
    """One page request's place: waiting (``position`` ≥ 1) or holding a slot (``granted``)."""

    granted: asyncio.Future
    owner: str | None = None  # the person (hub user) whose page this is; None: counted by nobody
    moved: asyncio.Event = field(default_factory=asyncio.Event)  # set when the position changed
    prepared: bool = False  # its page is ready: the slot is free, its person still counts it
    released: bool = False


class StartQueue:
    def __init__(self, slots: int, per_person: int = 1):
        if slots < 1 or per_person < 1:
            raise ValueError("slots and per_person must be at least 1")
        self.slots, self.per_person = slots, per_person
        self.active = 0
        self.waiting: deque[Place] = deque()
        self.holding: Counter[str] = Counter()  # slots held per person

    def join(self, owner: str | None = None) -> Place:
        """A place for a new request of ``owner``: a slot at once when one is free and nobody
        who may have it waits before."""
        place = Place(asyncio.get_running_loop().create_future(), owner)
        self.waiting.append(place)
        # everybody who could have a slot has one already: only the newcomer may get one, and
        # nobody's position changes (so nobody is woken: a rush would wake n waiters n times)
        self._grant()
        return place

    def position(self, place: Place) -> int:
        """1 for the first in line; 0 when the place holds a slot (or has left)."""
        try:
            return self.waiting.index(place) + 1
        except ValueError:
            return 0

    async def wait(self, place: Place, timeout: float) -> bool:
        """Until the place has a slot (True), or ``timeout`` seconds passed (False, still queued)."""
        try:
            await asyncio.wait_for(asyncio.shield(place.granted), timeout)
        except TimeoutError:
            return False
        return True

    async def moved_or_granted(self, place: Place, timeout: float) -> None:
        """Until the position changes, the slot is granted, or ``timeout`` seconds passed."""
        place.moved.clear()
        moved = asyncio.ensure_future(place.moved.wait())
        try:
            await asyncio.wait([moved, place.granted], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            moved.cancel()

    def prepared(self, place: Place) -> None:
        """The page is ready: its slot goes to the next in line, but its person still counts it
        (``per_person``) until ``leave``; the gateway calls that once the page has connected to
        its kernel (``service.leave_once_connected``)."""
        if place.granted.done() and not place.released and not place.prepared:
            place.prepared = True
            self.active -= 1
            if self._grant():
                self._moved()

    def leave(self, place: Place) -> None:
        """The request is done (its slot is free again) or gave up waiting (it leaves the line)."""
        if place in self.waiting:
            self.waiting.remove(place)
            self._moved()
        elif place.granted.done() and not place.released:
            place.released = True
            if not place.prepared:
                self.active -= 1
            if place.owner is not None:
                self.holding[place.owner] -= 1
                if not self.holding[place.owner]:
                    del self.holding[place.owner]
            if self._grant():
                self._moved()

    def _may_start(self, place: Place) -> bool:
        return place.owner is None or self.holding[place.owner] < self.per_person

    def _grant(self) -> int:
        """Give free slots to the first in line who may have them; how many were given."""
        granted = 0
        while self.active < self.slots:
            place = next((p for p in self.waiting if self._may_start(p)), None)
            if place is None:
                break
            self.waiting.remove(place)
            self.active += 1
            if place.owner is not None:
                self.holding[place.owner] += 1
            place.granted.set_result(True)
            granted += 1
        return granted

    def _moved(self) -> None:
        for place in self.waiting:
            place.moved.set()

    def __len__(self) -> int:
        return len(self.waiting)
