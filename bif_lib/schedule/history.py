"""The scheduler's state below ``$BIF_HOME/schedule/`` (root only: folder 0700, files 0600).

::

    schedule/
        history.jsonl       one line per refresh: dataset, start, end, outcome, version, message …
        notices.json        open failure notices, shown on the hub's start page (notices.py)
        received/<id>/      source files fetched for a new version (the version's lineage names them)
        locks/<id>.lock     held while a refresh of the dataset runs (never two at once)
        service.json        the scheduler process: pid, start, its jobs and their next runs

The files are root's alone: messages quote values of internal datasets, and the people who may
read those see the open notices on the hub's start page (notices.py decides who).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Iterator

from bif_lib import config
from bif_lib.fsutil import write_private

HISTORY_NAME = "history.jsonl"
SERVICE_NAME = "service.json"
# the outcomes of a refresh, as people read them
NEW, UNCHANGED, FAILED = "neu", "unverändert", "fehlgeschlagen"
OUTCOMES = (NEW, UNCHANGED, FAILED)
EXIT_BUSY = 75  # `bif schedule run` when a refresh of the dataset runs already: nothing done (EX_TEMPFAIL)


class AlreadyRunning(RuntimeError):
    """A refresh of this dataset is running already (German message)."""


def schedule_dir(home: Path | str | None = None, *, create: bool = False) -> Path:
    path = Path(home or config.bif_home()) / "schedule"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    return path


def append(home: Path | str | None, record: dict) -> dict:
    """Add one run to the history (a line, appended; the file is 0600)."""
    path = schedule_dir(home, create=True) / HISTORY_NAME
    write_private(path, json.dumps(record, ensure_ascii=False, default=str) + "\n", append=True)
    return record


def entries(home: Path | str | None = None, dataset: str | None = None) -> list[dict]:
    """The runs, oldest first (of ``dataset`` only, if given); a damaged line is skipped."""
    path = schedule_dir(home) / HISTORY_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and (dataset is None or record.get("dataset") == dataset):
                found.append(record)
    return found


def last_runs(home: Path | str | None = None) -> dict[str, dict]:
    """The latest run of every dataset in the history."""
    latest: dict[str, dict] = {}
    for record in entries(home):
        latest[record.get("dataset")] = record
    return latest


@contextlib.contextmanager
def dataset_lock(home: Path | str | None, dataset: str) -> Iterator[None]:
    """Held while ``dataset`` is refreshed, across processes (the scheduler, ``bif schedule run``);
    ``AlreadyRunning`` if another refresh of it holds the lock. The kernel drops the lock with
    the process that held it, so a killed run leaves nothing to clean up."""
    folder = schedule_dir(home, create=True) / "locks"
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder / f"{dataset}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"Eine Aktualisierung von „{dataset}“ läuft bereits (Zeitplandienst oder ein anderes "
                                 f"„bif schedule run“); es wurde nichts getan.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_service_state(home: Path | str | None, state: dict) -> None:
    write_private(schedule_dir(home, create=True) / SERVICE_NAME,
                  json.dumps(state, ensure_ascii=False, indent=1, default=str) + "\n", durable=False)


def service_state(home: Path | str | None = None) -> dict | None:
    try:
        return json.loads((schedule_dir(home) / SERVICE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


__all__ = ["EXIT_BUSY", "FAILED", "NEW", "OUTCOMES", "UNCHANGED", "AlreadyRunning", "append", "dataset_lock", "entries",
           "last_runs", "schedule_dir", "service_state", "write_service_state"]
