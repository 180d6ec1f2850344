"""Names the scheduled-refresh tests share (a module of its own: `from conftest import` would find
whichever conftest.py pytest imported first)."""

from __future__ import annotations

import socket
from contextlib import closing

RESIDENTS = "sozialatlas_2022/fl_residents_by_district.csv"


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
