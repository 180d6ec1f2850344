"""Training cohorts as the user store holds them: end dates, expiry at login, ownership,
the credentials kept for the sheet, and the end (archive first, nothing deleted if it fails)."""

from __future__ import annotations

import datetime as dt
import os
import zipfile

import pytest

from bif_lib.platform import auth, cohorts
from bif_lib.platform.auth import UserStore, UserStoreError
from bif_lib.platform.settings import load_settings
from bif_lib.training import lifecycle

TODAY = dt.date(2026, 12, 5)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BIF_HOME", str(tmp_path))
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)
    # single-account mode: homes below BIF_HOME, no OS accounts touched
    monkeypatch.setenv("BIF_ACCOUNT_MODE", "single")
    return load_settings(environ=dict(os.environ))


@pytest.fixture
def store(settings):
    return UserStore.from_settings(settings)


def test_end_dates_are_checked_in_german():
    check = dict(default_days=14, max_days=90, today=TODAY)
    assert cohorts.check_end_date(None, **check) == dt.date(2026, 12, 19)
    assert cohorts.check_end_date(TODAY, **check) == TODAY  # valid through today
    with pytest.raises(UserStoreError, match="liegt in der Vergangenheit"):
        cohorts.check_end_date(dt.date(2026, 12, 4), **check)
    with pytest.raises(UserStoreError, match="höchstens 90 Tage, also bis 05.03.2027"):
        cohorts.check_end_date(dt.date(2027, 3, 6), **check)
    assert cohorts.parse_end_date("19.12.2026") == cohorts.parse_end_date("2026-12-19") == dt.date(2026, 12, 19)
    for bad in ("31.02.2026", "morgen", "19/12/2026"):
        with pytest.raises(UserStoreError, match="Ungültiges Datum"):
            cohorts.parse_end_date(bad)


@pytest.mark.parametrize("name", ["", "Kurs mit Leerzeichen", "../etc", "1kurs", "x" * 21, "kurs_a", "kürs"])
def test_cohort_names_are_checked(store, name):
    with pytest.raises(UserStoreError):
        cohorts.create_cohort(store, name, 2, expires=TODAY)
    assert store.users() == {}


def test_an_account_past_its_end_date_cannot_log_in(store, monkeypatch):
    created = cohorts.create_cohort(store, "kurs", 2, expires=dt.date(2026, 12, 10), trainer="tina")
    first = created[0]
    monkeypatch.setattr(auth, "local_today", lambda: dt.date(2026, 12, 10))
    assert store.authenticate(first.name, first.password) == ["participants"]  # the last day still counts
    monkeypatch.setattr(auth, "local_today", lambda: dt.date(2026, 12, 11))
    assert store.authenticate(first.name, first.password) is None
    # an end date nobody can read locks the account (fail closed)
    store.update_all([first.name], expires="bald")
    monkeypatch.setattr(auth, "local_today", lambda: dt.date(2026, 12, 1))
    assert store.authenticate(first.name, first.password) is None
    assert store.authenticate(created[1].name, created[1].password) == ["participants"]


def test_a_trainer_sees_only_own_cohorts(store):
    cohorts.create_cohort(store, "kurs-a", 2, expires=TODAY, trainer="tina")
    cohorts.create_cohort(store, "kurs-b", 1, expires=TODAY, trainer="tom")
    assert [c.name for c in cohorts.cohorts_of(store, "tina")] == ["kurs-a"]
    assert [c.name for c in cohorts.cohorts_of(store, None)] == ["kurs-a", "kurs-b"]
    assert cohorts.get_cohort(store, "kurs-a", "tina").accounts == ("kurs-a-01", "kurs-a-02")
    with pytest.raises(UserStoreError) as other:
        cohorts.get_cohort(store, "kurs-b", "tina")
    with pytest.raises(UserStoreError) as missing:
        cohorts.get_cohort(store, "kurs-x", "tina")
    assert str(other.value).replace("kurs-b", "?") == str(missing.value).replace("kurs-x", "?")  # no hint


def test_a_cohort_is_never_in_the_statistics_office(store):
    with pytest.raises(Exception, match="Statistikstelle"):
        cohorts.create_cohort(store, "kurs", 2, expires=TODAY, groups=["statistikstelle"])
    assert store.users() == {}


def test_start_keeps_credentials_for_the_sheet_only_for_root(settings, store):
    cohort, created = lifecycle.start_cohort(settings, store, "grundkurs", 3, expires=None, trainer="tina")
    assert cohort.expires == auth.local_today() + dt.timedelta(days=settings["training"]["default_days"])
    assert lifecycle.load_credentials(settings, cohort) == created
    folder = settings.training_dir / "cohorts"
    assert os.stat(settings.training_dir).st_mode & 0o777 == 0o700
    assert os.stat(folder / "grundkurs.json").st_mode & 0o777 == 0o600


def test_extend_moves_the_end_date(settings, store):
    cohort, _ = lifecycle.start_cohort(settings, store, "kurs", 2, expires=None, trainer="tina")
    later = auth.local_today() + dt.timedelta(days=30)
    assert lifecycle.extend(settings, store, cohort, later.strftime("%d.%m.%Y")).expires == later
    assert {e["expires"] for e in store.users().values()} == {later.isoformat()}
    with pytest.raises(UserStoreError, match="höchstens"):
        lifecycle.extend(settings, store, cohort, auth.local_today() + dt.timedelta(days=365))


def _home_with_work(settings, name: str) -> None:
    home = settings.single_homes_dir / name
    (home / "Vorlagen" / "Schulung").mkdir(parents=True)
    (home / "Vorlagen" / "Schulung" / "01_jupyter_grundlagen.ipynb").write_text('{"cells": []}')
    (home / "meine_analyse.ipynb").write_text('{"cells": ["eigene Arbeit"]}')


def test_end_archives_the_work_then_removes_everything(settings, store):
    cohort, created = lifecycle.start_cohort(settings, store, "kurs", 2, expires=None, trainer="tina")
    for account in created:
        _home_with_work(settings, account.name)
    cohorts.create_cohort(store, "andere", 1, expires=TODAY + dt.timedelta(days=3), trainer="tom")

    report = lifecycle.end_cohort(settings, store, cohort, hub=None)

    with zipfile.ZipFile(report.archive) as archive:
        names = set(archive.namelist())
    assert {"kurs-01/meine_analyse.ipynb", "kurs-02/meine_analyse.ipynb"} <= names
    assert os.stat(report.archive).st_mode & 0o777 == 0o600
    assert [a.file for a in lifecycle.archives(settings, "tina")] == [report.archive.name]
    assert lifecycle.archives(settings, "tom") == []
    assert lifecycle.archive_file(settings, "tina", report.archive.name) == report.archive
    with pytest.raises(UserStoreError):
        lifecycle.archive_file(settings, "tom", report.archive.name)
    assert not any((settings.single_homes_dir / a.name).exists() for a in created)
    assert set(store.users()) == {"andere-01"}
    assert not (settings.training_dir / "cohorts" / "kurs.json").exists()


def test_nothing_is_deleted_when_the_archive_cannot_be_written(settings, store, monkeypatch):
    cohort, created = lifecycle.start_cohort(settings, store, "kurs", 2, expires=None, trainer="tina")
    for account in created:
        _home_with_work(settings, account.name)

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bif_lib.training.archive.archive_homes", disk_full)
    with pytest.raises(lifecycle.TrainingError, match="nichts gelöscht"):
        lifecycle.end_cohort(settings, store, cohort, hub=None)
    assert all((settings.single_homes_dir / a.name / "meine_analyse.ipynb").exists() for a in created)
    assert set(store.users()) == {a.name for a in created}
    # but nobody can log in any more
    assert all(store.authenticate(a.name, a.password) is None for a in created)


def test_expired_cohorts_are_ended(settings, store, monkeypatch):
    lifecycle.start_cohort(settings, store, "alt", 1, expires=None, trainer="tina")
    lifecycle.start_cohort(settings, store, "neu", 1, expires=auth.local_today() + dt.timedelta(days=20),
                           trainer="tina")
    later = auth.local_today() + dt.timedelta(days=settings["training"]["default_days"] + 1)
    reports = lifecycle.end_expired(settings, store, hub=None, today=later)
    assert [r.cohort for r in reports] == ["alt"]
    assert set(store.users()) == {"neu-01"}


def test_cohorts_need_local_accounts(settings, store):
    directory = settings.__class__({**settings, "auth": {**settings["auth"], "backend": "ldap"}})
    with pytest.raises(lifecycle.TrainingError, match="LDAP"):
        lifecycle.start_cohort(directory, store, "kurs", 2, expires=None, trainer="tina")
    assert store.users() == {}


def test_a_cohort_never_inherits_an_earlier_home(settings, store):
    """`bif users remove` keeps a person's home; a cohort account of the same name must not get it."""
    old_home = settings.single_homes_dir / "kurs-02"
    (old_home / "Exporte").mkdir(parents=True)
    (old_home / "Exporte" / "intern.xlsx").write_text("interne Zahlen")
    with pytest.raises(lifecycle.TrainingError, match="kurs-02"):
        lifecycle.start_cohort(settings, store, "kurs", 3, expires=None, trainer="tina")
    assert store.users() == {} and (old_home / "Exporte" / "intern.xlsx").exists()
