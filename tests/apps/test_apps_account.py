"""The OS account app kernels run under."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from bif_lib.apps import account
from bif_lib.apps.account import AccountProblem, RunAs, service_account
from bif_lib.apps.config import AppsConfig


def test_current_user_needs_no_switch():
    me = account.current_user()
    assert not me.switches and me.popen_kwargs() == {}


def test_switching_identity_for_popen():
    other = RunAs("bif-apps", uid=os.geteuid() + 12345, gid=4242, groups=(4242, 4343))
    assert other.popen_kwargs() == {"user": os.geteuid() + 12345, "group": 4242, "extra_groups": [4242, 4343]}


@pytest.mark.skipif(os.geteuid() != 0, reason="as non-root the current user is used")
def test_account_in_confidential_group_is_refused(monkeypatch):
    cfg = AppsConfig(home="/tmp", os_user="bif-apps-test", confidential_group="bif-statistik-test")
    fake = pwd.struct_passwd(("bif-apps-test", "x", 4321, 4321, "BIF apps", "/nonexistent", "/usr/sbin/nologin"))
    monkeypatch.setattr(account.pwd, "getpwnam", lambda name: fake)
    monkeypatch.setattr(account.os, "getgrouplist", lambda name, gid: [4321, 4322])
    names = {4321: "bif-apps-test", 4322: "bif-statistik-test"}
    monkeypatch.setattr(account.grp, "getgrgid",
                        lambda gid: grp.struct_group((names[gid], "x", gid, [])))
    with pytest.raises(AccountProblem, match="vertrauliche Daten"):
        service_account(cfg, create=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="only without root")
def test_without_root_kernels_run_as_current_user(caplog):
    assert service_account(AppsConfig(home="/tmp")).uid is None
    assert "aktuellen Konto" in caplog.text
