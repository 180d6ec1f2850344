"""Training cohorts: the accounts of one onboarding course, created and removed together.

A trainer creates a cohort on the trainer page ("Schulungen") or with
``bif training start grundkurs --size 12 --bis 19.12.2026``: twelve local accounts
``grundkurs-01`` … ``grundkurs-12`` with generated passwords, in the group ``participants``
(JupyterLab with the course in ``~/Vorlagen/Schulung``, open data only). Every account
carries its cohort, its trainer and its end date in the user store; the authenticator
refuses an account past its end date (``auth.account_expired``), so a cohort expires even
if nobody ends it, and the training service then archives and removes it
(``bif_lib/training/lifecycle.py``).

This module is the model only (the user store); removing servers, OS accounts and homes
is the lifecycle's job.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bif_lib.fsutil import write_private
from bif_lib.i18n import format_date
from bif_lib.platform.auth import (
    UserStore,
    UserStoreError,
    check_username,
    generate_password,
    local_today,
)
from bif_lib.platform.settings import PARTICIPANTS_GROUP

DEFAULT_GROUPS = (PARTICIPANTS_GROUP,)
MAX_SIZE = 99  # two-digit numbering
# account names are "<cohort>-NN" and must stay valid user names (24 characters)
COHORT_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


@dataclass(frozen=True)
class CohortAccount:
    name: str
    password: str


@dataclass(frozen=True)
class Cohort:
    """One cohort as the user store holds it."""

    name: str
    accounts: tuple[str, ...]
    trainer: str | None  # who created it on the trainer page (None: created by root)
    expires: dt.date | None
    created: str
    groups: tuple[str, ...]

    def expired(self, today: dt.date | None = None) -> bool:
        return self.expires is not None and self.expires < (today or local_today())

    def to_json(self) -> dict:
        return {"name": self.name, "accounts": list(self.accounts), "size": len(self.accounts),
                "trainer": self.trainer, "expires": self.expires.isoformat() if self.expires else None,
                "expires_de": format_date(self.expires) if self.expires else None,
                "created": self.created, "groups": list(self.groups), "expired": self.expired()}


def check_cohort_name(cohort: str) -> str:
    name = (cohort or "").strip().lower()
    if not COHORT_RE.match(name):
        raise UserStoreError(f"Ungültiger Name der Schulungsgruppe: „{cohort}“ (Kleinbuchstaben, Ziffern und "
                             "Bindestrich, mit einem Buchstaben beginnend, höchstens 20 Zeichen)")
    return name


def account_names(cohort: str, size: int) -> list[str]:
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise UserStoreError(f"Eine Schulungsgruppe hat 1 bis {MAX_SIZE} Konten, nicht {size}")
    return [check_username(f"{cohort}-{number:02d}") for number in range(1, size + 1)]


def parse_end_date(text: str | dt.date | None) -> dt.date | None:
    """``TT.MM.JJJJ`` (as people write it) or ISO ``JJJJ-MM-TT``; None stays None."""
    if text is None or isinstance(text, dt.date):
        return text
    text = str(text).strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise UserStoreError(f"Ungültiges Datum „{text}“ (erwartet TT.MM.JJJJ, z. B. 19.12.2026)")


def check_end_date(expires: dt.date | None, *, default_days: int, max_days: int,
                   today: dt.date | None = None) -> dt.date:
    """The cohort's last valid day: today … today + ``max_days``; None means the default."""
    today = today or local_today()
    if expires is None:
        return today + dt.timedelta(days=default_days)
    if expires < today:
        raise UserStoreError(f"Das Enddatum {format_date(expires)} liegt in der Vergangenheit")
    if expires > today + dt.timedelta(days=max_days):
        raise UserStoreError(f"Eine Schulungsgruppe gilt höchstens {max_days} Tage, also bis "
                             f"{format_date(today + dt.timedelta(days=max_days))}, nicht bis {format_date(expires)}")
    return expires


def create_cohort(store: UserStore, cohort: str, size: int, *, expires: dt.date,
                  trainer: str | None = None, groups: Iterable[str] = DEFAULT_GROUPS) -> list[CohortAccount]:
    """Create the cohort's accounts with generated passwords: all of them or none."""
    from bif_lib.platform.office import check_group_change

    cohort = check_cohort_name(cohort)
    groups = list(groups)
    check_group_change(cohort, groups)  # never into the Statistikstelle (break-glass only)
    if cohort in cohorts(store):
        raise UserStoreError(f"Die Schulungsgruppe „{cohort}“ gibt es schon (beenden mit: bif training end {cohort})")
    accounts = [CohortAccount(name, generate_password()) for name in account_names(cohort, size)]
    store.add_all([(a.name, list(groups), a.password) for a in accounts], cohort=cohort,
                  trainer=trainer, expires=expires.isoformat())
    return accounts


def cohorts(store: UserStore) -> dict[str, Cohort]:
    """Every cohort in the user store, by name."""
    members: dict[str, list[tuple[str, dict]]] = {}
    for name, entry in sorted(store.users().items()):
        if entry.get("cohort"):
            members.setdefault(entry["cohort"], []).append((name, entry))
    found = {}
    for cohort, entries in members.items():
        first = entries[0][1]
        try:
            expires = dt.date.fromisoformat(first["expires"]) if first.get("expires") else None
        except ValueError:
            expires = dt.date.min  # unreadable: treated as expired, like the authenticator does
        found[cohort] = Cohort(cohort, tuple(n for n, _ in entries), first.get("trainer"), expires,
                               first.get("created", ""), tuple(first.get("groups", ())))
    return found


def cohorts_of(store: UserStore, trainer: str | None) -> list[Cohort]:
    """The cohorts a trainer manages (``None``: all, for root)."""
    return [c for c in cohorts(store).values() if trainer is None or c.trainer == trainer]


def get_cohort(store: UserStore, cohort: str, trainer: str | None = None) -> Cohort:
    """The cohort, if it exists and (for a trainer) is theirs; the same German error either
    way, so that a trainer cannot learn which other cohorts exist."""
    name = (cohort or "").strip().lower()
    found = cohorts(store).get(name)
    if found is None or (trainer is not None and found.trainer != trainer):
        raise UserStoreError(f"Keine Schulungsgruppe „{cohort}“" + (
            "" if trainer is not None else f" (vorhanden: {', '.join(cohorts(store)) or 'keine'})"))
    return found


def extend_cohort(store: UserStore, cohort: Cohort, expires: dt.date) -> Cohort:
    """Move the cohort's end date (later or earlier, never into the past)."""
    store.update_all(cohort.accounts, expires=expires.isoformat())
    return get_cohort(store, cohort.name)


def expired_cohorts(store: UserStore, today: dt.date | None = None) -> list[Cohort]:
    today = today or local_today()
    return [c for c in cohorts(store).values() if c.expired(today)]


def remove_cohort(store: UserStore, cohort: str) -> list[str]:
    """Remove all accounts of the cohort from the user store; return their names."""
    found = get_cohort(store, cohort)
    store.remove_all(found.accounts)
    return list(found.accounts)


def write_handout(path: Path, accounts: list[CohortAccount], url: str) -> None:
    """Semicolon CSV with BOM, so that Excel opens it with the German umlauts intact.
    Readable by its owner only: it holds passwords."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=";")
    writer.writerow(["Konto", "Passwort", "Adresse"])
    writer.writerows([a.name, a.password, url] for a in accounts)
    write_private(path, text.getvalue().encode("utf-8-sig"))
