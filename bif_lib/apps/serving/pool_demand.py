"""Pools that grow with demand: an app opened often gets more preheated kernels for a while.

A pool of ``pool_size`` kernels covers a few opens; a training room or a department meeting
opens the same app many times within minutes. The gateway counts the people who opened each
app over the last ``apps.pool_demand_window`` seconds (one person's tabs count once: a client
asking for 50 pages must not make the service start kernels for all of them); while they
exceed the app's own pool size, the app's pool is raised towards that count, one kernel per
look (every few seconds), at most ``apps.pool_max``, and it returns to its own size when the
opens have aged out. Voilà resizes a pool without touching the kernels already
in it (``voila_server.PoolHandler.patch``). An app published with ``pool_size: 0`` (no
preheating, on purpose) never grows.
"""

from __future__ import annotations

import time
from collections import deque


class PoolDemand:
    def __init__(self, window: float, maximum: int, clock=time.monotonic):
        self.window = window
        self.maximum = maximum
        self.clock = clock
        self._opens: dict[str, deque[tuple[float, str]]] = {}  # per app: (when, who)
        self._applied: dict[str, int] = {}  # the size last set in Voilà, per app

    def opened(self, app_id: str, person: str) -> None:
        self._opens.setdefault(app_id, deque()).append((self.clock(), person))

    def recent(self, app_id: str) -> int:
        """How many people opened ``app_id`` within the window."""
        opens = self._opens.get(app_id)
        if not opens:
            return 0
        horizon = self.clock() - self.window
        while opens and opens[0][0] < horizon:
            opens.popleft()
        return len({person for _, person in opens})

    def target(self, app_id: str, own: int) -> int:
        """The pool size ``app_id`` should have now; ``own`` is its configured size."""
        if own <= 0:
            return own
        return max(own, min(self.maximum, self.recent(app_id)))

    def changes(self, own_sizes: dict[str, int]) -> dict[str, int]:
        """Apps whose pool must be resized now, with their new size. An app seen for the first
        time counts as being at its own size."""
        changed = {}
        for app_id, own in own_sizes.items():
            size, now = self.target(app_id, own), self._applied.get(app_id, own)
            if size > now:
                # one kernel more at a time: a pool that grows in one step starts all its
                # kernels at once, just when the opens that caused it need the CPUs
                changed[app_id] = now + 1
            elif size < now:
                changed[app_id] = size
            elif size == own:
                self._applied.pop(app_id, None)  # back at its own size: nothing to remember
        for app_id in set(self._opens) - set(own_sizes):  # withdrawn meanwhile
            self._opens.pop(app_id, None)
            self._applied.pop(app_id, None)
        return changed

    @property
    def quiet(self) -> bool:
        """No opens counted and no pool changed: nothing to look at."""
        return not any(self._opens.values()) and not self._applied

    def applied(self, app_id: str, size: int) -> None:
        self._applied[app_id] = size

    def forget(self, app_id: str) -> None:
        """The app's pool was rebuilt at its own size (publish, rollback) or dropped."""
        self._applied.pop(app_id, None)
