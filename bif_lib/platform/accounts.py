"""Operating-system accounts and the permission areas of the data store.

Every person with a JupyterLab server gets an OS account of their own (``bif-<name>``),
so what their kernel may read is decided by the kernel, not by BIF's Python code:

==========================  ======================  ===================================
store area                  owner / mode            who can read it
==========================  ======================  ===================================
``store/open``              root, 0755              everybody
``store/internal``          group bif-internal 2750 analysts, trainers, statistikstelle,
                                                    admins, the apps service
``store/confidential``      group bif-statistik     the Statistikstelle only
                            2750
everything else (catalog)   root, 0755 / 0644       every BIF account
==========================  ======================  ===================================

Creating accounts needs root. Without it BIF runs in *single-account mode*: all
servers run under the account that runs BIF, and the bootstrap loads no confidential
data (``can_separate_accounts()`` tells it).
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bif_lib.platform.settings import Settings, load_settings

log = logging.getLogger("bif.platform.accounts")

# GECOS marker: only accounts carrying it are ever changed or deleted by BIF
BIF_MARKER = "BIF"
STORE_AREAS = ("open", "internal", "confidential")
_OS_NAME_RE = re.compile(r"^[a-z_][a-z0-9_.-]*$")
_TOOLS = ("useradd", "usermod", "userdel", "groupadd", "groupdel", "gpasswd")

SINGLE_MODE_MESSAGE = (
    "Einzelkonto-Modus: BIF läuft ohne Root-Rechte; alle JupyterLab-Server laufen unter "
    "dem Konto {user!r}, vertrauliche Daten werden nicht geladen. / "
    "Single-account mode: BIF runs without root privileges; all JupyterLab servers run "
    "as {user!r} and no confidential data is loaded."
)


class AccountError(RuntimeError):
    """An OS account could not be created or changed (message in German)."""


# --- capability ----------------------------------------------------------------------

def _have_tools() -> bool:
    return all(shutil.which(t) or os.path.exists(f"/usr/sbin/{t}") for t in _TOOLS)


def can_separate_accounts(settings: Settings | None = None) -> bool:
    """True when servers run under separate OS accounts (root, Linux, tools present).

    ``accounts.mode: single`` forces False; ``separate`` raises if impossible.
    """
    settings = settings or load_settings()
    mode = settings["accounts"]["mode"]
    if mode == "single":
        return False
    possible = sys.platform.startswith("linux") and os.geteuid() == 0 and _have_tools()
    if mode == "separate" and not possible:
        raise AccountError(
            "accounts.mode=separate verlangt Linux und Root-Rechte (useradd, groupadd). / "
            "accounts.mode=separate needs Linux and root privileges."
        )
    return possible


def single_mode_message() -> str:
    return SINGLE_MODE_MESSAGE.format(user=pwd.getpwuid(os.getuid()).pw_name)


# --- names ---------------------------------------------------------------------------

def os_account_name(hub_name: str, settings: Settings) -> str:
    """OS account for a hub user: ``accounts.user_prefix`` + hub user name."""
    name = f"{settings['accounts'].get('user_prefix') or ''}{hub_name}"
    if len(name) > 32 or not _OS_NAME_RE.match(name):
        raise AccountError(f"Aus dem Namen {hub_name!r} lässt sich kein Systemkonto bilden: {name!r}")
    if name in reserved_os_names(settings):
        raise AccountError(f"Der Name {hub_name!r} ist für ein Dienstkonto reserviert")
    return name


def reserved_os_names(settings: Settings) -> set[str]:
    acc = settings["accounts"]
    return {settings["apps"]["os_user"], sandbox_account_name(settings), acc["internal_group"],
            acc["confidential_group"], "root"}


def os_groups_for(bif_groups: list[str] | set[str], settings: Settings) -> set[str]:
    """The OS groups (data areas) a person in ``bif_groups`` belongs to."""
    areas: set[str] = set()
    for group in bif_groups:
        areas.update(settings["groups"].get(group, {}).get("data_areas", []))
    names = {"internal": settings["accounts"]["internal_group"],
             "confidential": settings["accounts"]["confidential_group"]}
    return {names[a] for a in areas}


# --- low-level helpers -----------------------------------------------------------------

def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AccountError(f"{' '.join(cmd)} ist fehlgeschlagen: {result.stderr.strip()}")
    log.info("%s", " ".join(cmd))


def _getpw(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _getgr(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def is_bif_account(entry: pwd.struct_passwd) -> bool:
    return entry.pw_gecos.split(",")[0].startswith(BIF_MARKER)


def ensure_os_group(name: str) -> grp.struct_group:
    """Create the system group ``name`` if it does not exist."""
    entry = _getgr(name)
    if entry is None:
        _run(["groupadd", "--system", name])
        entry = grp.getgrnam(name)
    return entry


def ensure_system_groups(settings: Settings) -> None:
    ensure_os_group(settings["accounts"]["internal_group"])
    ensure_os_group(settings["accounts"]["confidential_group"])


def managed_os_groups(settings: Settings) -> set[str]:
    return {settings["accounts"]["internal_group"], settings["accounts"]["confidential_group"]}


def set_os_groups(account: str, wanted: set[str], settings: Settings) -> None:
    """Make ``account``'s membership in BIF's OS groups exactly ``wanted``.

    Other supplementary groups of the account are left alone.
    """
    for group in sorted(managed_os_groups(settings)):
        entry = ensure_os_group(group)
        member = account in entry.gr_mem
        if group in wanted and not member:
            _run(["gpasswd", "--add", account, group])
        elif group not in wanted and member:
            _run(["gpasswd", "--delete", account, group])


# --- accounts ------------------------------------------------------------------------

@dataclass(frozen=True)
class Account:
    """An OS account as BIF uses it for a server process."""

    name: str
    uid: int
    gid: int
    home: Path
    shell: str


def _account(entry: pwd.struct_passwd) -> Account:
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir), entry.pw_shell)


def ensure_user_account(hub_name: str, bif_groups: list[str] | set[str], settings: Settings) -> Account:
    """Create (if needed) the OS account of ``hub_name`` and sync its data-area groups.

    An existing account not created by BIF is used as it is (e.g. accounts from the
    city's directory via SSSD), only its BIF group memberships are managed.
    """
    name = os_account_name(hub_name, settings)
    acc = settings["accounts"]
    entry = _getpw(name)
    if entry is None:
        home = Path(acc["home_root"]) / name
        home.parent.mkdir(parents=True, exist_ok=True)
        _run([
            "useradd", "--create-home", "--home-dir", str(home), "--user-group",
            "--shell", acc.get("shell") or "/bin/bash",
            "--comment", f"{BIF_MARKER} {hub_name}", name,
        ])
        entry = pwd.getpwnam(name)
        os.chmod(entry.pw_dir, 0o700)
    set_os_groups(name, os_groups_for(bif_groups, settings), settings)
    return _account(pwd.getpwnam(name))


def ensure_service_account(settings: Settings | None = None) -> Account:
    """The OS account of the apps service (``apps.os_user``): member of the internal
    group only, never of the confidential group. Needs root."""
    settings = settings or load_settings()
    name = settings["apps"]["os_user"]
    ensure_system_groups(settings)
    entry = _getpw(name)
    if entry is None:
        # Not $BIF_HOME/apps (the app registry, owned by root): apps must not change other apps.
        home = settings.home / "apps-runtime"
        home.mkdir(parents=True, exist_ok=True)
        _run([
            "useradd", "--system", "--home-dir", str(home), "--no-create-home", "--user-group",
            "--shell", "/usr/sbin/nologin", "--comment", f"{BIF_MARKER} apps service", name,
        ])
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    set_os_groups(name, {settings["accounts"]["internal_group"]}, settings)
    return _account(pwd.getpwnam(name))


SANDBOX_COMMENT = f"{BIF_MARKER} publish sandbox"


def sandbox_account_name(settings: Settings) -> str:
    """The OS account of publication checks, derived from ``apps.os_user``:
    ``bif-apps`` → ``bif-publish``, any other ``x`` → ``x-publish``."""
    base = str(settings["apps"]["os_user"])
    return f"{base[:-len('-apps')]}-publish" if base.endswith("-apps") else f"{base}-publish"


def ensure_sandbox_account(settings: Settings | None = None) -> Account:
    """The OS account a notebook runs under while ``bif publish`` checks it (the sandbox,
    ``bif_lib.apps.publishing.sandbox``). It is in no data group at all: the check gives it the
    internal group per run when the app may read internal data, never the confidential one.
    No home (each check gets a fresh one), no login shell. An existing account of that name
    that BIF did not create as the sandbox account is refused. Needs root."""
    settings = settings or load_settings()
    name = sandbox_account_name(settings)
    if len(name) > 32 or not _OS_NAME_RE.match(name):
        raise AccountError(f"Ungültiger Name für das Prüfkonto: {name!r}")
    if name in {settings["apps"]["os_user"], settings["accounts"]["internal_group"],
                settings["accounts"]["confidential_group"], "root"}:
        raise AccountError(f"Das Prüfkonto {name!r} darf kein anderes Dienstkonto und keine Datengruppe sein.")
    ensure_system_groups(settings)
    entry = _getpw(name)
    if entry is None:
        _run([
            "useradd", "--system", "--home-dir", "/nonexistent", "--no-create-home", "--user-group",
            "--shell", "/usr/sbin/nologin", "--comment", SANDBOX_COMMENT, name,
        ])
        entry = pwd.getpwnam(name)
    elif entry.pw_gecos.split(",")[0] != SANDBOX_COMMENT or entry.pw_uid == 0:
        raise AccountError(
            f"Das Konto {name!r} existiert bereits, wurde aber nicht von BIF als Prüfkonto angelegt; "
            "Veröffentlichungen werden darin nicht geprüft.")
    set_os_groups(name, set(), settings)
    return _account(pwd.getpwnam(name))


def remove_user_account(hub_name: str, settings: Settings, delete_home: bool = False) -> bool:
    """Delete the OS account of ``hub_name`` if BIF created it. Returns True if deleted."""
    name = os_account_name(hub_name, settings)
    entry = _getpw(name)
    if entry is None:
        return False
    if not is_bif_account(entry):
        raise AccountError(f"Konto {name!r} wurde nicht von BIF angelegt und bleibt bestehen")
    _run(["userdel", *(["--remove"] if delete_home else []), name])
    return True


def bif_accounts(prefix: str | None = None) -> list[str]:
    """Names of the OS accounts BIF created (optionally only those starting with ``prefix``)."""
    return sorted(
        e.pw_name for e in pwd.getpwall()
        if is_bif_account(e) and (prefix is None or e.pw_name.startswith(prefix))
    )


def prepare_home(account: Account, templates: dict[str, Path], target: str) -> None:
    """Copy the notebook templates into ``~/<target>/<label>`` (keeping files that exist) and
    create the private ``~/.tmp``. As root, this runs as the account itself (see
    ``home_setup.py``: root must not follow links a person planted in their home)."""
    from bif_lib.platform import home_setup

    if os.geteuid() != 0 or account.uid == 0:
        home_setup.set_up_home(account.home, templates, target)
        return
    request = {"home": str(account.home), "target": target,
               "templates": {label: str(path) for label, path in templates.items()}}
    try:
        result = subprocess.run([sys.executable, "-I", home_setup.__file__], input=json.dumps(request), text=True,
                                capture_output=True, timeout=120, user=account.uid, group=account.gid,
                                extra_groups=[], umask=0o077, cwd="/", env={"PATH": os.defpath, "LANG": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        raise AccountError(f"Home-Verzeichnis von {account.name} nicht eingerichtet: Zeitüberschreitung") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        raise AccountError(f"Home-Verzeichnis von {account.name} nicht eingerichtet: {last}")


def blocked_directories(paths: list[Path]) -> list[Path]:
    """Directories on the way to ``paths`` that other accounts cannot traverse (no o+x)."""
    blocked: list[Path] = []
    for path in paths:
        real = Path(os.path.realpath(path))
        for parent in [*reversed(real.parents), real]:
            try:
                mode = parent.stat().st_mode
            except FileNotFoundError:
                break
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH and parent not in blocked:
                blocked.append(parent)
    return blocked


def environment_paths() -> list[Path]:
    """What a user's server must reach: the interpreter, its standard library, the checkout."""
    from bif_lib import config

    return [Path(sys.executable), Path(sys.base_prefix) / "lib", Path(sys.prefix), config.PROJECT_ROOT]


def check_environment_access() -> None:
    """Raise if OS accounts cannot run BIF's Python environment (e.g. a venv made from
    a Python under /root, which is 0700)."""
    blocked = blocked_directories(environment_paths())
    if blocked:
        dirs = ", ".join(str(b) for b in blocked)
        raise AccountError(
            f"Systemkonten können BIFs Python-Umgebung nicht ausführen; nicht durchsuchbar: {dirs}. "
            "Umgebung aus einem System-Python anlegen (z. B. /usr/bin/python3 -m venv) oder "
            f"chmod o+x {dirs}. / OS accounts cannot run BIF's Python environment "
            f"(directories without o+x: {dirs})."
        )


# --- the store -----------------------------------------------------------------------

def _chmod_tree(root: Path, dir_mode: int, file_mode: int, gid: int | None) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if gid is not None:
            os.chown(path, -1, gid)
        if path.is_dir():
            # setgid on area directories: new snapshots inherit the group
            os.chmod(path, dir_mode | (stat.S_ISGID if gid is not None else 0))
        else:
            os.chmod(path, file_mode)


def apply_store_permissions(store_dir: str | Path, settings: Settings | None = None) -> None:
    """Apply the permission areas to ``store_dir`` (needs root for the group ownership).

    open: world-readable; internal: group ``accounts.internal_group``, 2750/0640;
    confidential: group ``accounts.confidential_group``, 2750/0640; anything else in
    the store (catalog) world-readable but only writable by its owner.
    """
    settings = settings or load_settings()
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    for area in STORE_AREAS:
        (store / area).mkdir(exist_ok=True)
    os.chmod(store, 0o755)
    for path in store.iterdir():
        if path.name in STORE_AREAS or path.is_symlink():
            continue
        if path.is_dir():
            _chmod_tree(path, 0o755, 0o644, None)
        else:
            os.chmod(path, 0o644)
    _chmod_tree(store / "open", 0o755, 0o644, None)
    if os.geteuid() != 0:
        # without root the groups cannot be set: keep the areas private to this account
        log.warning(single_mode_message())
        _chmod_tree(store / "internal", 0o700, 0o600, None)
        _chmod_tree(store / "confidential", 0o700, 0o600, None)
        seal_generated_sources(settings, None)
        return
    ensure_system_groups(settings)
    internal = grp.getgrnam(settings["accounts"]["internal_group"]).gr_gid
    confidential = grp.getgrnam(settings["accounts"]["confidential_group"]).gr_gid
    _chmod_tree(store / "internal", 0o750, 0o640, internal)
    _chmod_tree(store / "confidential", 0o750, 0o640, confidential)
    seal_generated_sources(settings, confidential)


def seal_generated_sources(settings: Settings, confidential_gid: int | None) -> None:
    """Generated source files (synthetic register microdata and the office's releases) are readable
    by the statistics office only: ``$BIF_HOME/sources/<city>/generated``, 2750/0640. The bootstrap
    already creates them 0700 (``bif_lib.data.generated.sealed_dir``); this opens them to the office."""
    for folder in sorted((settings.home / "sources").glob("*/generated")):
        if confidential_gid is None:
            _chmod_tree(folder, 0o700, 0o600, None)
        else:
            _chmod_tree(folder, 0o750, 0o640, confidential_gid)


def remove_test_accounts(prefix: str, groups: list[str]) -> None:
    """Delete BIF accounts starting with ``prefix`` and the given groups (tests only)."""
    for name in bif_accounts(prefix):
        subprocess.run(["userdel", "--remove", name], capture_output=True)
    for group in groups:
        if _getgr(group):
            subprocess.run(["groupdel", group], capture_output=True)
