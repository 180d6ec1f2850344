"""Failure notices for the data stewards on the hub's start page.

A refresh that fails puts a notice for its dataset into ``$BIF_HOME/schedule/notices.json``
(one per dataset: the latest failure); the next successful refresh of the dataset removes it.
The hub reads the file on every request of its start page (``template_vars`` may be callables
of the user, ``hubconfig.configure``) and shows the notices to the people who steward data:
members of the groups in ``schedule.notice_groups`` (default: analysts and admins) — a notice of
an internal dataset only to those whose groups hold the internal data area, since its message
may quote values of the data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from bif_lib.fsutil import write_private
from bif_lib.schedule.history import schedule_dir

NOTICES_NAME = "notices.json"
SHOWN_DETAILS = 5
# the hub reads the notices: bif_lib.i18n (which imports pandas) stays out of its process
LOCAL_TZ = ZoneInfo("Europe/Berlin")
log = logging.getLogger("bif.schedule")


def _german_time(iso: str | None) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%d.%m.%Y %H:%M")
    except (TypeError, ValueError):
        return "–"


def read(home: Path | str | None = None) -> dict[str, dict]:
    """The open notices by dataset ({} without any, or when the file cannot be read)."""
    try:
        data = json.loads((schedule_dir(home) / NOTICES_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _changing(home: Path | str | None) -> Iterator[dict]:
    """The notices under a lock (runs of different datasets may end at the same time); written back
    atomically when the block ends."""
    folder = schedule_dir(home, create=True)
    fd = os.open(folder / ".notices.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        notices = read(home)
        before = json.dumps(notices, sort_keys=True)
        yield notices
        if json.dumps(notices, sort_keys=True) != before:
            write_private(folder / NOTICES_NAME, json.dumps(notices, ensure_ascii=False, indent=1) + "\n")
    finally:
        os.close(fd)


def put(home: Path | str | None, notice: dict) -> None:
    """Open (or replace) the notice of ``notice["dataset"]``."""
    with _changing(home) as notices:
        notices[notice["dataset"]] = notice


def clear(home: Path | str | None, dataset: str) -> bool:
    """Remove the dataset's notice (after a successful refresh); True if there was one."""
    with _changing(home) as notices:
        return notices.pop(dataset, None) is not None


def visible_to(settings, groups: set[str], home: Path | str | None = None) -> list[dict]:
    """The open notices a member of ``groups`` sees, newest first, ready for the template:
    ``dataset``, ``title``, ``when`` (German), ``message``, ``file`` (name), ``details``."""
    section = settings["schedule"]
    if not groups & set(section["notice_groups"]):
        return []
    areas = {"open"}
    for group in groups:
        areas.update((settings["groups"].get(group) or {}).get("data_areas") or [])
    shown = []
    for notice in read(home if home is not None else settings.home).values():
        if not isinstance(notice, dict) or notice.get("classification", "internal") not in areas:
            continue
        shown.append({
            "dataset": notice.get("dataset", ""),
            "title": notice.get("title") or notice.get("dataset", ""),
            "when": _german_time(notice.get("at")),
            "at": notice.get("at") or "",
            "message": notice.get("message", ""),
            "file": Path(notice["file"]).name if notice.get("file") else "",
            "details": list(notice.get("details") or [])[:SHOWN_DETAILS],
            "more": max(0, len(notice.get("details") or []) - SHOWN_DETAILS),
        })
    return sorted(shown, key=lambda n: n["at"], reverse=True)


def template_var(settings) -> Callable:
    """``c.JupyterHub.template_vars["bif_schedule_notices"]``: called by the hub with the current
    user on every page; never fails (a page without notices is better than no page)."""

    def notices_for(user) -> list[dict]:
        if user is None:
            return []
        try:
            return visible_to(settings, {g.name for g in user.groups})
        except Exception:  # noqa: BLE001
            log.exception("schedule notices could not be read")
            return []

    return notices_for


__all__ = ["NOTICES_NAME", "clear", "put", "read", "template_var", "visible_to"]
