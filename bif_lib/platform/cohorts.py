"""Training cohorts: the accounts of one onboarding session, created and removed together.

A trainer runs ``bif training start grundkurs --size 12``: twelve local accounts
``grundkurs-01`` … ``grundkurs-12`` with generated passwords, in the group ``analysts``
(JupyterLab, the onboarding notebooks in ``~/Vorlagen/Schulung``, open and internal data).
The passwords are shown once and can be written to a handout (CSV for Excel). After the
session ``bif training end grundkurs`` removes all of them at once. Cohort accounts are
ordinary local accounts that carry a ``cohort`` attribute in the user store.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from bif_lib.fsutil import write_private
from bif_lib.platform.auth import UserStore, UserStoreError, check_username, generate_password

DEFAULT_GROUPS = ("analysts",)
MAX_SIZE = 99  # two-digit numbering


@dataclass(frozen=True)
class CohortAccount:
    name: str
    password: str


def account_names(cohort: str, size: int) -> list[str]:
    if not 1 <= size <= MAX_SIZE:
        raise UserStoreError(f"Eine Schulungsgruppe hat 1 bis {MAX_SIZE} Konten, nicht {size}")
    return [check_username(f"{cohort}-{number:02d}") for number in range(1, size + 1)]


def create_cohort(store: UserStore, cohort: str, size: int,
                  groups: Iterable[str] = DEFAULT_GROUPS) -> list[CohortAccount]:
    """Create the cohort's accounts with generated passwords: all of them or none."""
    from bif_lib.platform.office import check_group_change

    groups = list(groups)
    check_group_change(cohort, groups)  # never into the Statistikstelle (break-glass only)
    cohort = cohort.strip().lower()
    if cohort in cohorts(store):
        raise UserStoreError(f"Die Schulungsgruppe „{cohort}“ gibt es schon (beenden mit: bif training end {cohort})")
    accounts = [CohortAccount(name, generate_password()) for name in account_names(cohort, size)]
    store.add_all([(a.name, list(groups), a.password) for a in accounts], cohort=cohort)
    return accounts


def cohorts(store: UserStore) -> dict[str, list[str]]:
    """Each cohort with its account names."""
    found: dict[str, list[str]] = {}
    for name, entry in sorted(store.users().items()):
        if entry.get("cohort"):
            found.setdefault(entry["cohort"], []).append(name)
    return found


def remove_cohort(store: UserStore, cohort: str) -> list[str]:
    """Remove all accounts of the cohort; return their names."""
    names = cohorts(store).get(cohort.strip().lower())
    if not names:
        raise UserStoreError(f"Keine Schulungsgruppe „{cohort}“ (vorhanden: "
                             f"{', '.join(cohorts(store)) or 'keine'})")
    store.remove_all(names)
    return names


def write_handout(path: Path, accounts: list[CohortAccount], url: str) -> None:
    """Semicolon CSV with BOM, so that Excel opens it with the German umlauts intact.
    Readable by its owner only: it holds passwords."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=";")
    writer.writerow(["Konto", "Passwort", "Adresse"])
    writer.writerows([a.name, a.password, url] for a in accounts)
    write_private(path, text.getvalue().encode("utf-8-sig"))
