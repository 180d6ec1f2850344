"""Who may log in, and in which BIF groups they are.

Three backends, selected by ``auth.backend`` in settings.yaml:

``local``  ``BIFLocalAuthenticator``: accounts in ``$BIF_HOME/hub/users.json``,
           managed with ``bif users ...``; passwords hashed with scrypt.
``ldap``   ``BIFLDAPAuthenticator``: LDAP / Active Directory (ldapauthenticator 2.x).
``oidc``   ``BIFOIDCAuthenticator``: OpenID Connect, e.g. Keycloak (oauthenticator).

All three return the person's BIF groups, and the hub follows them
(``Authenticator.manage_groups = True``): group changes in the user store or the
directory apply at the next login. Only people in at least one BIF group may log in;
nobody becomes a hub admin (``admin`` is always False; ``admins`` get the role
``bif-operator``, see settings.yaml).

Password hashing: ``hashlib.scrypt`` from the standard library (RFC 7914, memory-hard,
parameters N=2**16, r=8, p=2 as in OWASP's password storage cheat sheet). It needs no
extra dependency — passlib is unmaintained and breaks with current bcrypt, and bcrypt
truncates passwords at 72 bytes. Parameters are stored with each hash, so they can be
raised later; verification uses ``hmac.compare_digest``. At login the hash is computed in a
thread pool of its own (``login_executor``), never on the hub's event loop: scrypt releases
the GIL, so a wave of logins costs the hub's other requests nothing but CPU.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import ssl
import string
from pathlib import Path
from typing import Iterable, Iterator

from bif_lib.fsutil import write_private
from bif_lib.platform.settings import BIF_GROUPS, Settings, load_settings

USERNAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
log = logging.getLogger("bif.platform.auth")

# --- password hashing ------------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**16, 8, 2
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def hash_password(password: str) -> str:
    """Return ``scrypt$N$r$p$salt$hash`` (salt and hash base64) for ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=_SCRYPT_MAXMEM, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a hash made by ``hash_password`` (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), maxmem=_SCRYPT_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_login_executor: concurrent.futures.ThreadPoolExecutor | None = None


def login_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Where logins hash passwords: one thread per CPU (at most 4). A wave of logins waits
    here instead of taking asyncio's default executor (which also resolves host names) or
    64 MiB of scrypt memory per login at once."""
    global _login_executor
    if _login_executor is None:
        _login_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="bif-login")
    return _login_executor


def generate_password(length: int = 16) -> str:
    """A random password without characters that are easily confused (0/O, 1/l/I)."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- the local user store ----------------------------------------------------------------

class UserStoreError(ValueError):
    """A user-store operation was refused (message in German)."""


def normalize_username(name: str) -> str:
    return name.strip().lower()


def check_username(name: str) -> str:
    name = normalize_username(name)
    if not USERNAME_RE.match(name):
        raise UserStoreError(
            f"Ungültiger Benutzername {name!r}: Kleinbuchstaben, Ziffern und '-', "
            "beginnend mit einem Buchstaben, höchstens 24 Zeichen"
        )
    return name


def check_groups(groups: Iterable[str]) -> list[str]:
    groups = sorted(set(groups))
    unknown = [g for g in groups if g not in BIF_GROUPS]
    if unknown:
        raise UserStoreError(
            f"Unbekannte Gruppe(n): {', '.join(unknown)}. Erlaubt: {', '.join(BIF_GROUPS)}"
        )
    if not groups:
        raise UserStoreError("Mindestens eine Gruppe angeben (--group)")
    return groups


class UserStore:
    """Local accounts in one JSON file (mode 0600), written atomically under a lock.

    The hub reads the file at every login, so ``bif users ...`` needs no hub restart.
    """

    def __init__(self, path: str | Path, min_password_length: int = 12):
        self.path = Path(path)
        self.min_password_length = min_password_length

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "UserStore":
        settings = settings or load_settings()
        return cls(settings.users_file, settings["auth"]["local"]["min_password_length"])

    # -- file handling
    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"version": 1, "users": {}}
        if data.get("version") != 1:
            raise UserStoreError(f"{self.path}: unbekannte Version {data.get('version')!r}")
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            yield data
            text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            write_private(self.path, text.encode("utf-8"))  # 0600: password hashes
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _check_password(self, password: str) -> None:
        if len(password) < self.min_password_length:
            raise UserStoreError(
                f"Das Passwort ist zu kurz (mindestens {self.min_password_length} Zeichen)"
            )

    # -- queries
    def users(self) -> dict[str, dict]:
        return self._read()["users"]

    def get(self, name: str) -> dict | None:
        return self.users().get(normalize_username(name))

    def authenticate(self, name: str, password: str) -> list[str] | None:
        """The user's groups if ``password`` is right, else None."""
        entry = self.get(name)
        if entry is None:
            # spend the same time as for a real check: no user enumeration by timing
            verify_password(password, _dummy_hash())
            return None
        if not verify_password(password, entry["password"]):
            return None
        if account_expired(entry):
            log.warning("Anmeldung von %s abgelehnt: Zugang abgelaufen am %s / account expired",
                        name, entry.get("expires"))
            return None
        return list(entry["groups"])

    # -- changes
    def add(self, name: str, groups: Iterable[str], password: str) -> None:
        name, groups = check_username(name), check_groups(groups)
        self._check_password(password)
        hashed = hash_password(password)
        with self._locked() as data:
            if name in data["users"]:
                raise UserStoreError(f"Benutzer {name!r} existiert bereits")
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            data["users"][name] = {"groups": groups, "password": hashed, "created": now, "changed": now}

    def add_all(self, accounts: Iterable[tuple[str, Iterable[str], str]], **attributes) -> list[str]:
        """Add several accounts (name, groups, password) in one write: all of them or, if
        any is refused, none. ``attributes`` are stored with each (e.g. ``cohort``)."""
        prepared = []
        for name, groups, password in accounts:
            name, groups = check_username(name), check_groups(groups)
            self._check_password(password)
            prepared.append((name, groups, hash_password(password)))
        with self._locked() as data:
            taken = [name for name, _, _ in prepared if name in data["users"]]
            if taken:
                raise UserStoreError(f"Benutzer existieren bereits: {', '.join(taken)}")
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            for name, groups, hashed in prepared:
                data["users"][name] = {"groups": groups, "password": hashed, "created": now, "changed": now,
                                       **attributes}
        return [name for name, _, _ in prepared]

    def update_all(self, names: Iterable[str], **attributes) -> None:
        """Set ``attributes`` (e.g. ``expires``) of several accounts in one write (all must exist)."""
        names = [normalize_username(n) for n in names]
        with self._locked() as data:
            entries = [self._entry(data, name) for name in names]
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            for entry in entries:
                entry.update(attributes, changed=now)

    def remove_all(self, names: Iterable[str]) -> None:
        """Remove several accounts in one write (all must exist)."""
        names = [normalize_username(n) for n in names]
        with self._locked() as data:
            for name in names:
                self._entry(data, name)
            for name in names:
                del data["users"][name]

    def set_groups(self, name: str, groups: Iterable[str]) -> None:
        name, groups = normalize_username(name), check_groups(groups)
        with self._locked() as data:
            entry = self._entry(data, name)
            entry["groups"] = groups
            entry["changed"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def set_password(self, name: str, password: str) -> None:
        name = normalize_username(name)
        self._check_password(password)
        hashed = hash_password(password)
        with self._locked() as data:
            entry = self._entry(data, name)
            entry["password"] = hashed
            entry["changed"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def remove(self, name: str) -> None:
        name = normalize_username(name)
        with self._locked() as data:
            self._entry(data, name)
            del data["users"][name]

    @staticmethod
    def _entry(data: dict, name: str) -> dict:
        try:
            return data["users"][name]
        except KeyError:
            raise UserStoreError(f"Benutzer {name!r} existiert nicht") from None


def local_today() -> dt.date:
    """Today at the city administration (Europe/Berlin): an account valid "until 12.12." can
    be used all of that day there, whatever the server's time zone."""
    from zoneinfo import ZoneInfo  # not bif_lib.i18n: the hub should not import pandas for this

    return dt.datetime.now(ZoneInfo("Europe/Berlin")).date()


def account_expired(entry: dict, today: dt.date | None = None) -> bool:
    """Has a local account with an ``expires`` date (training cohorts) run out? Valid through
    that day; an unreadable date counts as expired (fail closed)."""
    expires = entry.get("expires")
    if not expires:
        return False
    try:
        return dt.date.fromisoformat(str(expires)) < (today or local_today())
    except ValueError:
        return True


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))


# --- group mapping -------------------------------------------------------------------------

def map_groups(directory_groups: Iterable[str], mapping: dict[str, str]) -> list[str]:
    """BIF groups for the directory groups / claim values of a person.

    Keys are compared case-insensitively (LDAP DNs and AD group names are).
    """
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    return sorted({lowered[g.lower()] for g in directory_groups if g.lower() in lowered})


def auth_model(name: str, groups: list[str], **extra) -> dict:
    """The model JupyterHub expects from ``authenticate`` (groups managed by BIF).
    ``admin`` is always False: nobody becomes a hub admin through the user store or the
    directory, and a flag left from earlier is cleared at login."""
    return {"name": name, "groups": groups, "admin": False, **extra}


# --- authenticators -------------------------------------------------------------------------

from jupyterhub.auth import Authenticator  # noqa: E402
from traitlets import Dict, HasTraits, Unicode, default, validate  # noqa: E402


class _BIFGroupsMixin(HasTraits):
    """Groups come from the backend; only people in a BIF group may log in. (A HasTraits
    class: traitlets takes ``@default`` only from those.)"""

    @default("manage_groups")
    def _default_manage_groups(self):
        return True

    def check_allowed(self, username, authentication=None):
        groups = (authentication or {}).get("groups") or []
        if not groups:
            self.log.warning("Anmeldung von %s abgelehnt: keine BIF-Gruppe / no BIF group", username)
            return False
        return True


class BIFLocalAuthenticator(_BIFGroupsMixin, Authenticator):
    """Local accounts from ``bif users`` (``$BIF_HOME/hub/users.json``)."""

    users_file = Unicode(config=True, help="Path of the user store (users.json).")

    @default("users_file")
    def _default_users_file(self):
        return str(load_settings().users_file)

    def normalize_username(self, username):
        return normalize_username(username)

    async def authenticate(self, handler, data):
        name = normalize_username(data.get("username") or "")
        password = data.get("password") or ""
        if not USERNAME_RE.match(name) or not password:
            return None
        store = UserStore(self.users_file)
        # reading the store and scrypt (~0.1 s of CPU) off the hub's event loop
        groups = await asyncio.get_running_loop().run_in_executor(
            login_executor(), store.authenticate, name, password)
        if groups is None:
            self.log.warning("Anmeldung fehlgeschlagen / login failed: %s", name)
            return None
        return auth_model(name, groups)



def _make_ldap_authenticator() -> type[Authenticator]:
    from ldapauthenticator import LDAPAuthenticator

    class BIFLDAPAuthenticator(_BIFGroupsMixin, LDAPAuthenticator):
        """LDAP / Active Directory with ``group_mapping`` (group DN -> BIF group).

        ``allowed_groups`` are the mapped DNs, so ldapauthenticator checks the
        membership; the groups it finds are mapped to BIF groups.
        """

        group_mapping = Dict(config=True, help="Directory group DN -> BIF group.")

        @default("allowed_groups")
        def _default_allowed_groups(self):
            return list(self.group_mapping)

        @validate("tls_kwargs")
        def _validate_tls_kwargs(self, proposal):
            # ldap3 does not check certificates unless told to: BIF requires it by default;
            # settings.yaml may say validate: required | optional | none
            kwargs = dict(proposal.value)
            level = kwargs.get("validate", "required")
            if isinstance(level, str):
                kwargs["validate"] = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
                                      "none": ssl.CERT_NONE}[level.lower()]
            return kwargs

        @default("tls_kwargs")
        def _default_tls_kwargs(self):
            return {"validate": ssl.CERT_REQUIRED}

        async def authenticate(self, handler, data):
            model = await super().authenticate(handler, data)
            if not model:
                return None
            found = (model.get("auth_state") or {}).get("ldap_groups", [])
            model.update(auth_model(model["name"], map_groups(found, self.group_mapping)))
            return model

        async def check_allowed(self, username, auth_model=None):
            return _BIFGroupsMixin.check_allowed(self, username, auth_model)

    BIFLDAPAuthenticator.__module__ = __name__
    return BIFLDAPAuthenticator


def _make_oidc_authenticator() -> type[Authenticator]:
    from oauthenticator.generic import GenericOAuthenticator

    class BIFOIDCAuthenticator(GenericOAuthenticator):
        """OpenID Connect (e.g. Keycloak) with ``group_mapping`` (claim value -> BIF group)."""

        group_mapping = Dict(config=True, help="Value of the groups claim -> BIF group.")
        groups_claim = Unicode("groups", config=True, help="Userinfo claim holding the groups.")

        @default("manage_groups")
        def _default_manage_groups(self):
            return True

        @default("allowed_groups")
        def _default_allowed_groups(self):
            return set(BIF_GROUPS)

        @default("admin_groups")
        def _default_admin_groups(self):
            return set()  # nobody becomes a hub admin through the directory

        async def update_auth_model(self, auth_model):
            auth_model = await super().update_auth_model(auth_model)
            auth_model["admin"] = False  # also clears a flag left from earlier
            return auth_model

        def get_user_groups(self, auth_state):
            userinfo = (auth_state or {}).get(self.user_auth_state_key) or {}
            raw = userinfo.get(self.groups_claim) or []
            if isinstance(raw, str):
                raw = [raw]
            # Keycloak sends "/bif-analyse" when "full group path" is on
            values = [v for r in raw for v in (r, r.lstrip("/"))]
            return set(map_groups(values, self.group_mapping))

    BIFOIDCAuthenticator.__module__ = __name__
    return BIFOIDCAuthenticator


_LAZY = {"BIFLDAPAuthenticator": _make_ldap_authenticator,
         "BIFOIDCAuthenticator": _make_oidc_authenticator}


@functools.lru_cache(maxsize=None)
def _lazy_class(name: str) -> type[Authenticator]:
    return _LAZY[name]()


def __getattr__(name: str):
    # LDAP and OIDC classes are built on first use: importing ldapauthenticator and
    # oauthenticator costs about a second that `bif users ...` should not pay.
    if name in _LAZY:
        return _lazy_class(name)
    raise AttributeError(name)


def authenticator_for(settings: Settings) -> type[Authenticator]:
    backend = settings["auth"]["backend"]
    if backend == "local":
        return BIFLocalAuthenticator
    return _lazy_class({"ldap": "BIFLDAPAuthenticator", "oidc": "BIFOIDCAuthenticator"}[backend])
