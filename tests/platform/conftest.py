"""Fixtures for the platform tests: a real hub (proxy + JupyterHub + OS accounts), a real
OpenLDAP server and headless Chromium.

``running_hub`` (session) starts the platform with ``bif_lib.platform.launcher`` on free
ports, in a temporary ``BIF_HOME``, with OS accounts and groups under a unique prefix
(``bt<hex>-``) that are removed at the end — parallel runs do not clash. Other test
folders (the apps service) can use it::

    def test_gallery(running_hub, browser):
        running_hub.add_user("pia", ["planners"], "geheim-geheim-1")
        page = browser.new_page()
        running_hub.login(page, "pia", "geheim-geheim-1")

Integration tests need root (OS accounts), configurable-http-proxy in node_modules, and
for the browser tests /usr/bin/chromium; without them they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml

from bif_lib.platform import accounts, launcher
from bif_lib.platform.auth import UserStore
from bif_lib.platform.settings import DEFAULT_SETTINGS_FILE, ENV_OVERRIDES, Settings, load_settings

LDAP_SUFFIX = "dc=bif,dc=test"
LDAP_ADMIN = f"cn=admin,{LDAP_SUFFIX}"
LDAP_ADMIN_PASSWORD = "ldap-admin-geheim"


# --- helpers ---------------------------------------------------------------------------

@pytest.fixture
def cli_runner(capsys, monkeypatch):
    """``cli_runner(modules)`` runs those ``bif`` command groups in-process like the ``bif`` command:
    ``run(*argv, stdin=None)`` returns (exit code, stdout, stderr)."""
    import argparse
    import io

    def make(modules):
        parser = argparse.ArgumentParser(prog="bif")
        sub = parser.add_subparsers(dest="command")
        for module in modules:
            module.register(sub)

        def run(*argv, stdin: str | None = None):
            if stdin is not None:
                monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
            args = parser.parse_args(argv)
            code = args.handler(args)
            out, err = capsys.readouterr()
            return code, out, err

        return run

    return make


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requires_integration() -> str | None:
    """Why the real hub cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (separate OS accounts)"
    try:
        launcher.chp_command()
    except launcher.PlatformError as e:
        return str(e)
    return None


@dataclass
class Hub:
    """A running BIF platform for tests."""

    settings: Settings
    output: list[str] = field(default_factory=list)
    dataset: str | None = None  # verified dataset in the store, if the ingest worked

    @property
    def url(self) -> str:
        return self.settings.local_url

    @property
    def api_token(self) -> str:
        """Token of the ``bif-platform`` service (list/read/admin users and servers)."""
        from bif_lib.platform.settings import platform_api_token

        return platform_api_token(self.settings)

    @property
    def prefix(self) -> str:
        return self.settings["accounts"]["user_prefix"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}hub/api{path}",
                                headers={"Authorization": f"token {self.api_token}"}, timeout=30, **kwargs)

    def add_user(self, name: str, groups: list[str], password: str) -> None:
        """Add a local account (as ``bif users add``); replaces an existing one."""
        store = UserStore.from_settings(self.settings)
        if store.get(name) is not None:
            store.remove(name)
        store.add(name, groups, password)

    def session(self, user: str, password: str) -> requests.Session:
        """A requests session logged in through the hub's login form."""
        s = requests.Session()
        s.get(f"{self.url}hub/login", timeout=30)
        r = s.post(f"{self.url}hub/login", data={"username": user, "password": password,
                                                  "_xsrf": s.cookies.get("_xsrf", path="/hub/")},
                   allow_redirects=False, timeout=30)
        s.login_status = r.status_code
        s.login_location = r.headers.get("location", "")
        return s

    def login(self, page, user: str, password: str, expect_success: bool = True) -> None:
        """Log in with the German login form in a Playwright page."""
        page.goto(f"{self.url}hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        with page.expect_navigation():
            page.click("#login_submit")
        if expect_success:
            assert "/hub/login" not in page.url, f"login of {user} failed: {page.url}"

    def wait_for_server(self, user: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise AssertionError(f"server of {user} not ready after {timeout} s")

    def restart_hub(self) -> None:
        launcher.restart_hub(self.settings, out=self.output.append)

    def os_account(self, user: str) -> str:
        return accounts.os_account_name(user, self.settings)


def hub_settings(home: Path, prefix: str, overrides: dict | None = None) -> Settings:
    """Write a settings file for a test hub (free ports, own accounts) and load it."""
    data = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    from bif_lib.platform.settings import deep_merge

    data = deep_merge(data, {
        "hub": {"ip": "127.0.0.1", "port": free_port(), "internal_port": free_port(),
                "proxy_api_port": free_port(), "start_timeout": 90},
        "accounts": {"mode": "separate", "user_prefix": f"{prefix}-", "home_root": str(home / "homes"),
                     "internal_group": f"{prefix}-int", "confidential_group": f"{prefix}-stat"},
        "apps": {"port": free_port(), "voila_port": free_port(), "os_user": f"{prefix}-apps"},
        "training": {"port": free_port()},  # two test platforms at once must not share the trainer page
        "paths": {"home": str(home), "store": str(home / "store")},
    })
    data = deep_merge(data, overrides or {})
    path = home / "settings.yaml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_settings(path, environ={})


@contextlib.contextmanager
def started_hub(name: str, overrides: dict | None = None):
    """Start a platform in a fresh BIF_HOME; stop it and remove its OS accounts afterwards."""
    reason = requires_integration()
    if reason:
        pytest.skip(f"real hub not available: {reason}")
    prefix = f"bt{secrets.token_hex(2)}"
    # 0755: the users' servers (other OS accounts) must reach the store below it
    home = Path(tempfile.mkdtemp(prefix=f"bif-{name}-"))
    os.chmod(home, 0o755)
    settings = hub_settings(home, prefix, overrides)
    hub = Hub(settings)
    leftovers: list[str] = []
    try:
        code = launcher.start(settings, out=hub.output.append)
        assert code == 0, "\n".join(hub.output)
        yield hub
    finally:
        # `bif platform stop` must leave nothing running: hub, proxy, servers, apps
        launcher.stop(settings, out=hub.output.append)
        leftovers = [f"{d.name} (pid {d.pid(settings)})" for d in (launcher.HUB, launcher.PROXY) if d.pid(settings)]
        leftovers += [f"{cmd} (pid {pid})" for pid, cmd in processes_of_accounts(f"{prefix}-")]
        for pid, _ in processes_of_accounts(f"{prefix}-"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        keep = os.environ.get("BIF_TEST_KEEP_LOGS")  # a directory: logs of failed runs land there
        if keep:
            shutil.copytree(settings.logs_dir, Path(keep) / home.name, dirs_exist_ok=True)
        accounts.remove_test_accounts(f"{prefix}-", [settings["accounts"]["internal_group"],
                                                     settings["accounts"]["confidential_group"]])
        shutil.rmtree(home, ignore_errors=True)
    assert not leftovers, f"still running after `bif platform stop`: {leftovers}"


def processes_of_accounts(prefix: str) -> list[tuple[int, str]]:
    """(pid, command) of processes owned by OS accounts whose name starts with ``prefix``."""
    import pwd

    uids = {e.pw_uid for e in pwd.getpwall() if e.pw_name.startswith(prefix)}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                if entry.stat().st_uid in uids and not zombie:
                    found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]))
    return found


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _clean_platform_env():
    """Developer settings (BIF_HUB_PORT, ...) must not leak into the test hubs."""
    with pytest.MonkeyPatch.context() as mp:
        for var in [*ENV_OVERRIDES, "BIF_HUB_SETTINGS", "BIF_APPS_API_TOKEN", "BIF_PLATFORM_API_TOKEN",
                    "CONFIGPROXY_AUTH_TOKEN", "BIF_LDAP_BIND_PASSWORD", "BIF_OIDC_CLIENT_SECRET"]:
            mp.delenv(var, raising=False)
        yield


@pytest.fixture(scope="session")
def running_hub(environment_access) -> Hub:
    """The platform with local accounts; the store holds an internal and a confidential
    probe file and (if ingest works) an internal verified dataset ``hubtest_intern``."""
    with started_hub("hub") as hub:
        hub.dataset = seed_store(hub.settings)
        yield hub


@pytest.fixture(scope="module")
def training_hub(environment_access) -> Hub:
    """A platform of its own for the training tests: its training service looks for cohorts
    past their end date every 5 s (default: every minute)."""
    with started_hub("training", {"training": {"sweep_every": 5}}) as hub:
        hub.dataset = seed_store(hub.settings)
        yield hub


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="de-DE")
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


def seed_store(settings: Settings) -> str | None:
    """Probe files in each area and, via the real ingest, a verified internal dataset."""
    store = settings.store_dir
    for area in ("open", "internal", "confidential"):
        (store / area).mkdir(parents=True, exist_ok=True)
        (store / area / "probe.txt").write_text(f"{area}-ok\n")
    dataset = None
    try:
        from bif_lib.contracts import parse_contract
        from bif_lib.ingest import ingest
        from bif_lib.store import Store

        raw = {"id": "hubtest_intern", "version": "1.0", "title": "Hub-Test (intern)",
               "description": "Testdatensatz der Plattform-Tests", "owner": "IT",
               "steward": {"name": "Erika Mustermann", "email": "erika@example.org"},
               "source_system": "Test", "classification": "internal",
               "licence": {"name": "CC0-1.0", "attribution": "Stadt Testhausen"}, "cadence": "yearly",
               "spatial_unit": "Stadtteil", "temporal_coverage": {"start": 2020, "end": 2022},
               "source": {"format": "csv"},
               "schema": {"fields": [{"name": "district_id", "type": "integer"},
                                     {"name": "wert", "type": "integer"}]}}
        source = settings.home / "hubtest.csv"
        source.write_text("district_id,wert\n1,10\n2,20\n3,30\n")
        outcome = ingest(parse_contract(yaml.safe_dump(raw)), source, store=Store(store))
        if outcome.status == "created":
            dataset = "hubtest_intern"
    except Exception as e:  # the foundation is developed in parallel; the probe files still test access
        print(f"note: ingest of the test dataset failed ({e!r}); notebook test reads probe files only")
    accounts.apply_store_permissions(store, settings)
    return dataset


# --- OpenLDAP ------------------------------------------------------------------------------

LDAP_USERS = {  # uid -> (password, LDAP groups)
    "anna": ("anna-passwort-1", ["bif-analyse"]),
    "paul": ("paul-passwort-1", ["bif-planung"]),
    "stella": ("stella-passwort-1", ["statistikstelle", "bif-analyse"]),
    "nora": ("nora-passwort-1", ["kantine"]),  # in no BIF group
}


def _ldif_config(base: Path, port: int) -> str:
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {base}/slapd.pid
olcTLSCACertificateFile: {base}/cert.pem
olcTLSCertificateFile: {base}/cert.pem
olcTLSCertificateKeyFile: {base}/key.pem

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {base}/data
olcSuffix: {LDAP_SUFFIX}
olcRootDN: {LDAP_ADMIN}
olcRootPW: {LDAP_ADMIN_PASSWORD}
olcDbMaxSize: 16777216
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self read by * none
olcAccess: {{1}}to * by users read by * none
"""


def _ldif_data() -> str:
    entries = [
        f"dn: {LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: BIF Test\ndc: bif",
        f"dn: ou=people,{LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
    ]
    groups: dict[str, list[str]] = {}
    for uid, (password, member_of) in LDAP_USERS.items():
        hashed = subprocess.run(["slappasswd", "-s", password], capture_output=True, text=True,
                                check=True).stdout.strip()
        entries.append(f"dn: uid={uid},ou=people,{LDAP_SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                       f"cn: {uid.title()}\nsn: Test\nuserPassword: {hashed}")
        for g in member_of:
            groups.setdefault(g, []).append(f"uid={uid},ou=people,{LDAP_SUFFIX}")
    for g, members in groups.items():
        lines = "\n".join(f"member: {m}" for m in members)
        entries.append(f"dn: cn={g},ou=groups,{LDAP_SUFFIX}\nobjectClass: groupOfNames\ncn: {g}\n{lines}")
    return "\n\n".join(entries) + "\n"


@dataclass
class LDAPServer:
    url: str
    port: int
    base: Path
    users: dict = field(default_factory=lambda: dict(LDAP_USERS))  # uid -> (password, groups)

    @property
    def ca_file(self) -> Path:
        return self.base / "cert.pem"


@pytest.fixture(scope="session")
def slapd():
    """A real OpenLDAP server on a free 127.0.0.1 port (own cn=config in a temp dir)."""
    if not shutil.which("slapadd") and not os.path.exists("/usr/sbin/slapd"):
        pytest.skip("slapd not installed (apt-get install slapd ldap-utils)")
    base = Path(tempfile.mkdtemp(prefix="bif-slapd-"))
    port = free_port()
    (base / "slapd.d").mkdir()
    (base / "data").mkdir()
    # a self-signed certificate for 127.0.0.1: the hub talks StartTLS, as in production
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(base / "key.pem"), "-out", str(base / "cert.pem"),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    (base / "config.ldif").write_text(_ldif_config(base, port))
    (base / "data.ldif").write_text(_ldif_data())
    for args in (["-n0", "-l", str(base / "config.ldif")], ["-n1", "-l", str(base / "data.ldif")]):
        result = subprocess.run(["/usr/sbin/slapadd", "-F", str(base / "slapd.d"), *args],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    url = f"ldap://127.0.0.1:{port}"
    log = open(base / "slapd.log", "wb")
    proc = subprocess.Popen(["/usr/sbin/slapd", "-d", "0", "-h", f"{url}/", "-F", str(base / "slapd.d")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not launcher._port_open(port):
            assert proc.poll() is None, (base / "slapd.log").read_text()
            assert time.monotonic() < deadline, "slapd did not start"
            time.sleep(0.1)
        yield LDAPServer(url, port, base)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def ldap_hub(slapd, environment_access):
    """A second platform authenticating against ``slapd`` (lookup_dn, like Active Directory)."""
    overrides = {"auth": {"backend": "ldap", "ldap": {
        "server_address": "127.0.0.1", "server_port": slapd.port, "tls_strategy": "before_bind",
        "tls_kwargs": {"ca_certs_file": str(slapd.ca_file), "validate": "required"},
        "lookup_dn": True, "user_search_base": f"ou=people,{LDAP_SUFFIX}", "user_attribute": "uid",
        "lookup_dn_search_user": LDAP_ADMIN, "bind_dn_template": [],
        "group_mapping": {
            f"cn=bif-analyse,ou=groups,{LDAP_SUFFIX}": "analysts",
            f"cn=bif-planung,ou=groups,{LDAP_SUFFIX}": "planners",
            f"cn=statistikstelle,ou=groups,{LDAP_SUFFIX}": "statistikstelle",
        },
    }}, "culler": {"enabled": False}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIF_LDAP_BIND_PASSWORD", LDAP_ADMIN_PASSWORD)
        with started_hub("ldap", overrides) as hub:
            yield hub
