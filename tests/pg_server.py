"""A real PostgreSQL server for the tests (Debian package ``postgresql``), started in a temporary
folder on a free port of 127.0.0.1 and removed afterwards.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` system account
(the Debian package creates it), or, where that is missing, as a throw-away account created
here and removed with the server. The catalog's roles are made as ``setup_sql`` describes
(``bif_catalog_writer`` owns the schema, ``bif_catalog_reader`` may only read); every test
module gets a database of its own (``database``), and ``reset`` empties one between tests.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

WRITER, READER = "bif_catalog_writer", "bif_catalog_reader"
ADMIN = "bif_test_admin"


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb`` and ``pg_ctl``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is missing: scripts/setup --test installs the Debian package postgresql")
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="bif-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.passwords = {ADMIN: secrets.token_hex(12), WRITER: secrets.token_hex(12), READER: secrets.token_hex(12)}
        self.created_account: str | None = None
        self.user: int | None = None
        self.group: int | None = None

    # --- life cycle ----------------------------------------------------------------------------

    def _account(self) -> None:
        if os.geteuid() != 0:
            return  # an unprivileged developer runs the server as themselves
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            name = f"bifpg{uuid.uuid4().hex[:8]}"
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
            self.created_account = name
            entry = pwd.getpwnam(name)
        self.user, self.group = entry.pw_uid, entry.pw_gid
        os.chown(self.folder, self.user, self.group)

    def _run(self, *argv, **kwargs) -> subprocess.CompletedProcess:
        as_account = {"user": self.user, "group": self.group, "extra_groups": []} if self.user is not None else {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.folder)}
        return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, env=env,
                              cwd=self.folder, **as_account, **kwargs)

    def start(self) -> "PostgresServer":
        self._account()
        pwfile = self.folder / "admin-password"
        pwfile.write_text(self.passwords[ADMIN] + "\n")
        if self.user is not None:
            os.chown(pwfile, self.user, self.group)
        self._run(self.bin / "initdb", "-D", self.data, "-U", ADMIN, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
        with self.admin("postgres") as con:
            for role in (WRITER, READER):
                con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{self.passwords[role]}'")
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.created_account:
            subprocess.run(["userdel", self.created_account], capture_output=True)

    # --- databases -----------------------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"postgresql://127.0.0.1:{self.port}/{database}"

    def admin(self, database: str):
        import psycopg

        return psycopg.connect(self.url(database), user=ADMIN, password=self.passwords[ADMIN], autocommit=True)

    def database(self, name: str) -> str:
        """A new database set up for the catalog as ``setup_sql`` says; returns its URL."""
        with self.admin("postgres") as con:
            con.execute(f"CREATE DATABASE {name}")
            con.execute(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")
            con.execute(f"GRANT CONNECT ON DATABASE {name} TO {WRITER}, {READER}")
        self.reset(name)
        return self.url(name)

    def reset(self, name: str) -> None:
        """An empty catalog schema in ``name`` (what the setup SQL leaves)."""
        with self.admin(name) as con:
            con.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            con.execute("DROP SCHEMA IF EXISTS bif_catalog CASCADE")
            con.execute(f"CREATE SCHEMA bif_catalog AUTHORIZATION {WRITER}")
            con.execute(f"GRANT USAGE ON SCHEMA bif_catalog TO {READER}")
            con.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {WRITER} IN SCHEMA bif_catalog "
                        f"GRANT SELECT ON TABLES TO {READER}")

    def env(self, database: str, role: str = WRITER) -> dict[str, str]:
        """What the platform gives a process for this catalog (``config.catalog_connection``)."""
        return {"BIF_CATALOG_URL": self.url(database), "BIF_CATALOG_USER": role,
                "BIF_CATALOG_PASSWORD": self.passwords[role]}
