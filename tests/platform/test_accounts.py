"""OS accounts, OS groups and the permission areas of the store (real useradd as root)."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from bif_lib.platform import accounts
from bif_lib.platform.settings import load_settings

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (useradd, chgrp)")


@pytest.fixture
def settings(tmp_path, monkeypatch, shared_dir):
    monkeypatch.setenv("BIF_HOME", str(tmp_path / "home"))
    prefix = f"bu{secrets.token_hex(2)}"
    s = load_settings(environ={}, overrides={"accounts": {
        "user_prefix": f"{prefix}-", "home_root": str(shared_dir / "homes"),
        "internal_group": f"{prefix}-int", "confidential_group": f"{prefix}-stat"},
        "apps": {"os_user": f"{prefix}-apps"}})
    os.chmod(tmp_path, 0o755)
    yield s
    if os.geteuid() == 0:
        accounts.remove_test_accounts(f"{prefix}-", [f"{prefix}-int", f"{prefix}-stat"])


@pytest.fixture
def shared_dir():
    """A folder the test's OS accounts can reach (pytest's own temp folders are root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="bif-accounts-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_account_names(settings):
    prefix = settings.accounts.user_prefix
    assert accounts.os_account_name("mmeier", settings) == f"{prefix}mmeier"
    with pytest.raises(accounts.AccountError, match="Dienstkonto"):
        accounts.os_account_name("apps", settings)  # would be the apps service's account
    with pytest.raises(accounts.AccountError):
        accounts.os_account_name("x" * 40, settings)


def test_data_areas_per_group(settings):
    int_, stat_ = settings.accounts.internal_group, settings.accounts.confidential_group
    assert accounts.os_groups_for(["analysts"], settings) == {int_}
    assert accounts.os_groups_for(["statistikstelle"], settings) == {int_, stat_}
    assert accounts.os_groups_for(["admins", "trainers"], settings) == {int_}
    assert accounts.os_groups_for(["planners"], settings) == set()


def test_single_account_mode(settings, monkeypatch, caplog):
    settings["accounts"]["mode"] = "single"
    assert accounts.can_separate_accounts(settings) is False
    settings["accounts"]["mode"] = "auto"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert accounts.can_separate_accounts(settings) is False
    settings["accounts"]["mode"] = "separate"
    with pytest.raises(accounts.AccountError, match="Root-Rechte"):
        accounts.can_separate_accounts(settings)
    message = accounts.single_mode_message()
    assert "Einzelkonto-Modus" in message and "Single-account mode" in message
    assert "vertrauliche Daten werden nicht geladen" in message


def test_blocked_directories(tmp_path):
    locked = tmp_path / "locked"
    (locked / "inner").mkdir(parents=True)
    os.chmod(locked, 0o700)
    assert locked in accounts.blocked_directories([locked / "inner"])
    os.chmod(locked, 0o711)
    assert locked not in accounts.blocked_directories([locked / "inner"])


def _seed(store: Path) -> None:
    for area in accounts.STORE_AREAS:
        (store / area / "ds").mkdir(parents=True)
        (store / area / "ds" / "v1.parquet").write_text(area)
    (store / "catalog.sqlite").write_text("catalog")


@root_only
def test_store_permissions(settings, tmp_path):
    store = tmp_path / "store"
    _seed(store)
    accounts.apply_store_permissions(store, settings)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    group = lambda p: grp.getgrgid(p.stat().st_gid).gr_name  # noqa: E731
    assert mode(store / "open") == 0o755 and mode(store / "open" / "ds" / "v1.parquet") == 0o644
    assert mode(store / "catalog.sqlite") == 0o644
    assert mode(store / "internal") == 0o2750 and group(store / "internal") == settings.accounts.internal_group
    assert mode(store / "internal" / "ds" / "v1.parquet") == 0o640
    assert group(store / "internal" / "ds" / "v1.parquet") == settings.accounts.internal_group
    assert mode(store / "confidential") == 0o2750
    assert group(store / "confidential" / "ds") == settings.accounts.confidential_group


def test_store_without_root_keeps_areas_private(settings, tmp_path, monkeypatch, caplog):
    store = tmp_path / "store"
    _seed(store)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with caplog.at_level(logging.WARNING):
        accounts.apply_store_permissions(store, settings)
    assert stat.S_IMODE((store / "confidential").stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "open").stat().st_mode) == 0o755
    assert "Einzelkonto-Modus" in caplog.text


@root_only
def test_user_accounts_follow_groups(settings):
    account = accounts.ensure_user_account("ana", ["analysts"], settings)
    entry = pwd.getpwnam(account.name)
    assert entry.pw_gecos.startswith("BIF") and account.home.is_dir()
    assert stat.S_IMODE(account.home.stat().st_mode) == 0o700
    members = lambda g: grp.getgrnam(g).gr_mem  # noqa: E731
    assert account.name in members(settings.accounts.internal_group)
    assert account.name not in members(settings.accounts.confidential_group)

    accounts.ensure_user_account("ana", ["statistikstelle"], settings)  # promoted
    assert account.name in members(settings.accounts.confidential_group)
    accounts.ensure_user_account("ana", ["planners"], settings)  # demoted
    assert account.name not in members(settings.accounts.internal_group)
    assert account.name not in members(settings.accounts.confidential_group)

    assert accounts.remove_user_account("ana", settings, delete_home=True)
    assert not account.home.exists()
    assert accounts.remove_user_account("ana", settings) is False


@root_only
def test_service_account_is_internal_only(settings):
    apps = accounts.ensure_service_account(settings)
    assert apps.name == settings.apps.os_user and apps.shell.endswith("nologin")
    assert apps.name in grp.getgrnam(settings.accounts.internal_group).gr_mem
    assert apps.name not in grp.getgrnam(settings.accounts.confidential_group).gr_mem
    assert accounts.ensure_service_account(settings) == apps  # idempotent


@root_only
def test_templates_are_copied_once(settings, shared_dir):
    account = accounts.ensure_user_account("tim", ["trainers"], settings)
    source = shared_dir / "training"
    (source / "sub").mkdir(parents=True)
    (source / "01_start.ipynb").write_text("original")
    (source / "sub" / "daten.csv").write_text("a,b")
    (source / ".ipynb_checkpoints").mkdir()
    accounts.prepare_home(account, {"Schulung": source}, "Vorlagen")
    target = account.home / "Vorlagen" / "Schulung"
    assert (target / "01_start.ipynb").read_text() == "original"
    assert (target / "sub" / "daten.csv").stat().st_uid == account.uid
    assert not (target / ".ipynb_checkpoints").exists()
    (target / "01_start.ipynb").write_text("edited by the trainee")
    accounts.prepare_home(account, {"Schulung": source}, "Vorlagen")
    assert (target / "01_start.ipynb").read_text() == "edited by the trainee"


@root_only
def test_links_planted_in_a_home_lead_nowhere(settings, shared_dir):
    """The home is set up as its owner, not as root: ~/Vorlagen or ~/.tmp pointing at a
    folder of root's neither copies files there nor hands it over (chown/chmod)."""
    account = accounts.ensure_user_account("mallory", ["analysts"], settings)
    source = shared_dir / "training"
    source.mkdir()
    (source / "01_start.ipynb").write_text("{}")
    targets = {}
    for link in ("Vorlagen", ".tmp"):
        target = shared_dir / f"root-{link.strip('.')}"
        target.mkdir(mode=0o755)
        os.chmod(target, 0o755)
        (account.home / link).symlink_to(target)
        os.lchown(account.home / link, account.uid, account.gid)
        targets[link] = target
    with pytest.raises(accounts.AccountError, match="nicht eingerichtet"):
        accounts.prepare_home(account, {"Schulung": source}, "Vorlagen")
    for target in targets.values():
        info = target.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (0, 0o755) and list(target.iterdir()) == []
