"""Which OS account app kernels execute under.

Publication checks do not run under this account but in the sandbox (``sandbox.py``,
account ``bif-publish``); only without root do they run as the current user too.

App kernels run as the service account (``apps.os_user``, default ``bif-apps``): member of
the internal data group, never of the confidential one. The OS then decides what an app
can read, whatever its code does. The account is created by
``bif_lib.platform.accounts.ensure_service_account`` (root only). Without root, BIF runs
in single-account mode and the kernels run as the current user; this is logged.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from bif_lib.apps.config import AppsConfig

log = logging.getLogger("bif.apps.account")


class AccountProblem(RuntimeError):
    """The service account is unsafe or unusable (message in German)."""


@dataclass(frozen=True)
class RunAs:
    """An OS identity for child processes; ``uid is None`` means "the current user"."""

    name: str
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()

    @property
    def switches(self) -> bool:
        return self.uid is not None and self.uid != os.geteuid()

    def popen_kwargs(self) -> dict:
        """Arguments for ``subprocess.Popen`` that drop to this identity."""
        if not self.switches:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def chown(self, path: Path) -> None:
        if self.switches:
            os.chown(path, self.uid, self.gid)


def current_user() -> RunAs:
    return RunAs(pwd.getpwuid(os.geteuid()).pw_name)


def service_account(cfg: AppsConfig, settings=None, *, create: bool = True) -> RunAs:
    """The identity app kernels run under (see module docstring)."""
    if os.geteuid() != 0:
        me = current_user()
        log.warning("Nicht als root gestartet: App-Kernel laufen unter dem aktuellen Konto %r "
                    "(Einzelkonto-Modus). / Not root: app kernels run as %r.", me.name, me.name)
        return me
    if create:
        _ensure_account(cfg, settings)
    try:
        entry = pwd.getpwnam(cfg.os_user)
    except KeyError:
        raise AccountProblem(f"Das Dienstkonto {cfg.os_user!r} existiert nicht.") from None
    groups = tuple(g for g in os.getgrouplist(cfg.os_user, entry.pw_gid))
    names = {_group_name(g) for g in groups}
    if cfg.confidential_group in names:
        # defence in depth: never run app kernels with access to confidential data
        raise AccountProblem(
            f"Das Dienstkonto {cfg.os_user!r} ist Mitglied von {cfg.confidential_group!r} und dürfte "
            "vertrauliche Daten lesen; App-Kernel werden so nicht gestartet.")
    if entry.pw_uid == 0:
        raise AccountProblem(f"Das Dienstkonto {cfg.os_user!r} hat die UID 0.")
    if cfg.internal_group not in names:
        log.warning("Service account %r is not in %r: apps cannot read internal data.",
                    cfg.os_user, cfg.internal_group)
    _check_environment_access()
    return RunAs(cfg.os_user, entry.pw_uid, entry.pw_gid, groups)


def _check_environment_access() -> None:
    """The service account must be able to run this Python (not so if it lives below a 0700
    /root); fail here with the platform's explanation rather than in every kernel start."""
    try:
        from bif_lib.platform.accounts import AccountError, check_environment_access
    except ImportError:
        return
    try:
        check_environment_access()
    except AccountError as e:
        raise AccountProblem(str(e)) from None


def _ensure_account(cfg: AppsConfig, settings) -> None:
    try:
        from bif_lib.platform.accounts import ensure_service_account
    except ImportError:  # platform accounts module not installed: the account must exist
        return
    if settings is None:
        # ensure_service_account reads os_user and group names from the settings
        settings = {"apps": {"os_user": cfg.os_user},
                    "accounts": {"internal_group": cfg.internal_group,
                                 "confidential_group": cfg.confidential_group}}
        settings = _SettingsShim(settings, cfg.home)
    ensure_service_account(settings)


class _SettingsShim(dict):
    """Just enough of ``Settings`` for ``ensure_service_account`` (``home`` property)."""

    def __init__(self, data: dict, home: str):
        super().__init__(data)
        self._home = Path(home)

    @property
    def home(self) -> Path:
        return self._home


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
