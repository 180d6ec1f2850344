"""Version times never go backwards, and ``as_of`` has one meaning for dates, datetimes and text.

``as_of``: a date (``date``, ``"2026-12-05"``, ``"05.12.2026"``) is the end of that day in
Europe/Berlin; a datetime or text with a time but without zone is Europe/Berlin wall time;
with a zone it is that instant. The old code read ``"2026-12-05"`` as midnight UTC (the start
of the day) but ``date(2026, 12, 5)`` as the end of the day in UTC, naive datetimes as UTC,
and raised an English ``ValueError`` for German dates.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest
from store_helpers import BACKENDS, contract_dict, delivery

import bif_lib
from bif_lib.store import DatasetNotFound, InvalidAsOf, VersionEntry, moment_of, snapshots


@pytest.fixture(params=BACKENDS)
def catalog_backend(request):
    return request.param


def test_clock_set_back_never_stamps_a_version_before_its_predecessor(put, store, monkeypatch):
    first = put(contract_dict(), delivery(100))
    assert first.status == "created"

    class ClockSetBack(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2020, 1, 1, 12, 0, tzinfo=timezone.utc)

    monkeypatch.setattr(snapshots, "datetime", ClockSetBack)
    second = put(contract_dict(), delivery(200))
    monkeypatch.undo()
    assert second.status == "created"
    v1, v2 = store.catalog.versions("einwohner")
    assert v2.ingested > v1.ingested
    assert (v2.ingested - v1.ingested).total_seconds() == pytest.approx(1e-6)
    warnings = [f for f in second.report.failures() if f.rule == "clock"]
    assert len(warnings) == 1 and warnings[0].severity == "warning"
    assert "Uhr des Servers" in warnings[0].message and "NTP" in warnings[0].message
    assert v2.report["warnings"] == 1  # the warning is stored with the version
    # as_of at v1's moment is v1 (with v2 stamped in 2020 the old code answered v2 here)
    assert bif_lib.load("einwohner", as_of=v1.ingested, store=store).attrs["bif"]["version"] == 1
    assert bif_lib.load("einwohner", as_of=datetime.now(timezone.utc), store=store).attrs["bif"]["version"] == 2
    with pytest.raises(DatasetNotFound):  # nothing existed in 2020
        bif_lib.load("einwohner", as_of="01.01.2020", store=store)


def _entry(version: int, ingested_at: str) -> VersionEntry:
    return VersionEntry(
        dataset_id="stichtag", version=version, classification="open", title="Stichtagstest", description="",
        path=f"open/stichtag/v{version:04d}-{version:012x}.parquet", sha256=f"{version:064x}", rows=1,
        columns=["n"], contract_version="1.0", contract_sha256="0" * 64, contract={"schema": {"fields": []}},
        source_file="n.csv", source_sha256="0" * 64, ingested_by="testerin", ingested_at=ingested_at)


@pytest.fixture
def around_midnight(store):
    """v1 at 23:30 and v2 at 00:30 Berlin time, either side of midnight from 5 to 6 December 2026."""
    store.catalog.add_version(_entry(1, "2026-12-05T22:30:00+00:00"))
    store.catalog.add_version(_entry(2, "2026-12-05T23:30:00+00:00"))
    return store.catalog


@pytest.mark.parametrize("as_of, version", [
    (date(2026, 12, 5), 1),                       # a date: the end of that day in Berlin
    ("2026-12-05", 1),                            # the same date as ISO text (old code: start of day, UTC)
    ("05.12.2026", 1),                            # the same date, German (old code: English ValueError)
    (" 5.12.2026 ", 1),
    (date(2026, 12, 6), 2),
    ("06.12.2026", 2),
    (datetime(2026, 12, 5, 23, 45), 1),           # naive: Berlin wall time (old code: UTC, answered 2)
    ("2026-12-05T23:45", 1),
    ("05.12.2026 23:45", 1),
    ("2026-12-06T00:45:00+01:00", 2),             # with zone: that instant
    ("2026-12-05T23:45:00Z", 2),
    (datetime(2026, 12, 5, 23, 45, tzinfo=timezone.utc), 2),
    (pd.Timestamp("2026-12-06 00:15"), 1),        # a Timestamp is a moment (Berlin), not a date
])
def test_as_of_has_one_meaning(around_midnight, as_of, version):
    assert around_midnight.get("stichtag", as_of=as_of).version == version


def test_as_of_before_the_first_version_names_it_in_german(around_midnight):
    with pytest.raises(DatasetNotFound, match=r"zum Stand 04\.12\.2026 23:59:59 \(Europe/Berlin\).*erste Version "
                                              r"vom 05\.12\.2026 23:30:00"):
        around_midnight.get("stichtag", as_of="04.12.2026")


@pytest.mark.parametrize("bad", ["35.12.2026", "2026-13-01", "gestern", "12/05/2026", "x" * 10_000, 20261205, 3.5])
def test_unreadable_as_of_is_a_german_error(around_midnight, bad):
    with pytest.raises(InvalidAsOf) as raised:
        around_midnight.get("stichtag", as_of=bad)
    message = str(raised.value)
    assert "Stichtag as_of" in message and len(message) < 400
    if isinstance(bad, str):
        assert "TT.MM.JJJJ" in message
    assert isinstance(raised.value, ValueError)


def test_moment_of_is_utc_and_aware():
    assert moment_of("05.12.2026") == datetime(2026, 12, 5, 22, 59, 59, 999999, tzinfo=timezone.utc)
    assert moment_of("2026-07-01") == datetime(2026, 7, 1, 21, 59, 59, 999999, tzinfo=timezone.utc)  # summer time
    assert moment_of(datetime(2026, 7, 1, 12, 0)) == datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)
