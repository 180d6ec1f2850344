"""Benchmark: a wave of 30 simultaneous logins against BIF's local accounts (scrypt, N=2**16).

What is measured, on one asyncio event loop as in the hub:

* ``executor`` — ``BIFLocalAuthenticator.authenticate`` as the hub calls it: the password
  check runs in ``auth.login_executor()`` (threads; scrypt releases the GIL);
* ``on_loop`` — for comparison, the same check run directly on the event loop (what a
  synchronous authenticator would do).

For each: the time until all 30 logins are done, each login's time (p50/p95/max), and how
late a 10 ms ticker on the same loop got (max/p99) — the delay every other request of the
hub would have seen meanwhile. Reports, never asserts.

    .venv/bin/python -m bench.bench_logins [--logins 30] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record  # noqa: E402
from bif_lib.platform import auth  # noqa: E402

TICK = 0.010


def make_store(path: Path, n: int) -> list[tuple[str, str]]:
    """``n`` local accounts with real scrypt hashes (hashed in parallel to save time)."""
    accounts = [(f"planer-{i:02d}", f"passwort-{i:02d}-{os.urandom(4).hex()}") for i in range(n)]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        hashes = list(pool.map(auth.hash_password, [pw for _, pw in accounts]))
    store = auth.UserStore(path)
    with store._locked() as data:  # one write; the hashes are what `bif users add` stores
        for (name, _), hashed in zip(accounts, hashes):
            data["users"][name] = {"groups": ["planners"], "password": hashed, "created": "", "changed": ""}
    return accounts


async def wave(authenticator, accounts, mode: str) -> dict:
    lateness: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            lateness.append(max(0.0, loop.time() - due))

    async def one(name, password):
        started = time.perf_counter()
        if mode == "executor":
            model = await authenticator.authenticate(None, {"username": name, "password": password})
        else:  # the check on the event loop itself
            await asyncio.sleep(0)
            groups = auth.UserStore(authenticator.users_file).authenticate(name, password)
            model = auth.auth_model(name, groups) if groups else None
        assert model and model["name"] == name
        return time.perf_counter() - started

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    durations = await asyncio.gather(*(one(n, p) for n, p in accounts))
    total = time.perf_counter() - started
    stop.set()
    await tick
    durations = sorted(durations)
    lateness = sorted(lateness)
    return {
        "wave_s": round(total, 3),
        "login_p50_s": round(statistics.median(durations), 3),
        "login_p95_s": round(durations[int(0.95 * (len(durations) - 1))], 3),
        "login_max_s": round(durations[-1], 3),
        "loop_lag_max_ms": round(1000 * lateness[-1], 1) if lateness else None,
        "loop_lag_p99_ms": round(1000 * lateness[int(0.99 * (len(lateness) - 1))], 1) if lateness else None,
        "ticks": len(lateness),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bif-bench-logins-") as tmp:
        users = Path(tmp) / "users.json"
        accounts = make_store(users, args.logins)
        authenticator = auth.BIFLocalAuthenticator(users_file=str(users))
        one = time.perf_counter()
        auth.UserStore(users).authenticate(*accounts[0])
        single = time.perf_counter() - one
        results = {}
        for mode in ("executor", "on_loop", "executor"):  # executor twice: the first warms the pool
            results[mode] = asyncio.run(wave(authenticator, accounts, mode))
    ex, loop = results["executor"], results["on_loop"]
    data = {
        "logins": args.logins, "scrypt": {"n": auth.SCRYPT_N, "r": auth.SCRYPT_R, "p": auth.SCRYPT_P},
        "login_threads": auth.login_executor()._max_workers, "single_check_s": round(single, 3),
        "executor": ex, "on_loop": loop,
        "loop_lag_ratio_on_loop_vs_executor": round(loop["loop_lag_max_ms"] / max(ex["loop_lag_max_ms"], 0.1), 1),
        "load_avg_after": os.getloadavg()[0],
        "how": "one asyncio loop; all logins started at once with asyncio.gather; lag = lateness of a 10 ms "
               "asyncio.sleep ticker on the same loop; users.json with real scrypt hashes in a temp dir",
    }
    for key, value in data.items():
        print(f"{key}: {value}")
    if not args.no_record:
        print("recorded in", record("logins", data))


if __name__ == "__main__":
    main()
