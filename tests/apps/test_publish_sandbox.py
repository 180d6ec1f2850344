"""The publication sandbox against real OS accounts, real namespaces and a real store.

A notebook under check is untrusted code. These tests publish-check notebooks that attack
what the old check (run as the app service account, beside the planners' live kernels)
left open, and show that the operating system stops them: a confidential snapshot read
directly, other processes' environments, the host's loopback, the live apps' IPython and
state directories, leftovers in /tmp and background processes, internal data in an open
app. Where it matters, a control shows that the attack works outside the sandbox.

Every test uses OS accounts and groups under a unique prefix (``bs<hex>-``), removed at
the end. BIF_HOME is below /run, as a real one is outside /tmp (the sandbox's /tmp is
private); one test puts the store below /tmp. Needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from apps_helpers import SLIDER_APP, notebook

from bif_lib import config as bif_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: real OS accounts, groups and namespaces")

RESULT = "BIF-TEST-RESULT:"


class _Settings(dict):
    """What ``bif_lib.platform.accounts`` reads from the platform settings (and ``.home``)."""

    def __init__(self, data: dict, home: Path):
        super().__init__(data)
        self.home = home


@dataclass
class Env:
    cfg: object
    settings: _Settings
    home: Path
    store: Path
    prefix: str
    apps_account: pwd.struct_passwd
    sandbox_name: str
    paths: dict  # dataset id -> absolute snapshot path

    @property
    def registry(self):
        from bif_lib.apps.registry import Registry

        return Registry(self.cfg.apps_dir)

    @property
    def sandbox_uid(self) -> int:
        return pwd.getpwnam(self.sandbox_name).pw_uid


def contract(dataset: str, classification: str) -> str:
    return yaml.safe_dump({
        "id": dataset, "version": "1.0", "title": f"Test {dataset}", "description": "Datensatz der Sandbox-Tests",
        "owner": "IT", "steward": {"name": "Erika Mustermann", "email": "erika@example.org"},
        "source_system": "Test", "classification": classification,
        "licence": {"name": "CC0-1.0", "attribution": "Stadt Testhausen"}, "cadence": "yearly",
        "spatial_unit": "Stadtteil", "temporal_coverage": {"start": 2020, "end": 2022},
        "source": {"format": "csv"},
        "schema": {"fields": [{"name": "person_id", "type": "integer"}, {"name": "name", "type": "string"}]},
    })


@pytest.fixture(scope="module")
def env():
    """Test accounts and groups, a BIF_HOME with a store holding an open, an internal and a
    confidential dataset, with the platform's store permissions."""
    from bif_lib.apps.config import AppsConfig
    from bif_lib.contracts import parse_contract
    from bif_lib.ingest import ingest
    from bif_lib.platform import accounts
    from bif_lib.store import Store

    prefix = f"bs{secrets.token_hex(2)}"
    home = Path(tempfile.mkdtemp(prefix="bif-sandbox-test-", dir="/run"))
    os.chmod(home, 0o755)  # the accounts must reach the store below it
    groups = [f"{prefix}-int", f"{prefix}-stat"]
    settings = _Settings({"apps": {"os_user": f"{prefix}-apps"},
                          "accounts": {"internal_group": groups[0], "confidential_group": groups[1]}}, home)
    try:
        store = Store(home / "store")
        paths = {}
        for dataset, classification in (("offen_daten", "open"), ("intern_daten", "internal"),
                                        ("register_personen", "confidential")):
            source = home / f"{dataset}.csv"
            source.write_text("person_id,name\n1,Anna Beispiel\n2,Bernd Muster\n", encoding="utf-8")
            outcome = ingest(parse_contract(contract(dataset, classification)), source, store=store, user="test")
            assert outcome.status == "created", outcome.report.to_text()
            paths[dataset] = store.root / outcome.entry.path
            source.unlink()
        accounts.apply_store_permissions(store.root, settings)  # groups, 2750/0640, like the platform
        apps = accounts.ensure_service_account(settings)
        cfg = AppsConfig(home=str(home), store=str(store.root), port=1, voila_port=1, publish_timeout=60,
                         os_user=apps.name, internal_group=groups[0], confidential_group=groups[1])
        yield Env(cfg, settings, home, store.root, prefix, pwd.getpwnam(apps.name),
                  accounts.sandbox_account_name(settings), paths)
    finally:
        for pid, _ in processes_of_prefix(f"{prefix}-"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        accounts.remove_test_accounts(f"{prefix}-", groups)
        shutil.rmtree(home, ignore_errors=True)


# --- helpers -----------------------------------------------------------------------------

def processes_of_uid(uid: int) -> list[tuple[int, str]]:
    """(pid, command) of live processes with ``uid`` among their real/effective/saved uids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            status = (entry / "status").read_text()
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields["State"].startswith("Z") or uid not in {int(u) for u in fields["Uid"].split()}:
                continue
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
    return found


def processes_of_prefix(prefix: str) -> list[tuple[int, str]]:
    uids = {e.pw_uid for e in pwd.getpwall() if e.pw_name.startswith(prefix)}
    return [p for uid in uids for p in processes_of_uid(uid)]


def check(env: Env, code: str, classification: str = "open", **kw):
    """Publication check run of a one-cell notebook, as ``bif publish`` does it."""
    from bif_lib.apps.publishing.publish import check_run

    return check_run(nbformat.from_dict(notebook(code)), env.cfg, classification, **kw)


def observed(run) -> dict:
    """What the notebook under check printed as ``RESULT`` (JSON)."""
    assert run.ok, run.error
    assert run.sandboxed
    text = "".join(o.get("text", "") for c in run.notebook.cells if c.cell_type == "code" for o in c.outputs
                   if o.get("output_type") == "stream")
    line = next(line for line in text.splitlines() if line.startswith(RESULT))
    return json.loads(line[len(RESULT):])


def publish(env: Env, source, **kw):
    from bif_lib.apps.publishing.publish import publish_notebook

    return publish_notebook(source, published_by="analyst", cfg=env.cfg, registry=env.registry, **kw)


def as_account(entry: pwd.struct_passwd, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], capture_output=True,
                          env={"PATH": "/usr/bin:/bin"}, timeout=60, **kw)


def attempt(name: str, statement: str) -> str:
    """Notebook code: run ``statement``; record "ok" or the exception's class."""
    return (f"try:\n    {statement}\n    r[{name!r}] = 'ok'\n"
            f"except Exception as e:\n    r[{name!r}] = type(e).__name__\n")


# --- (1) confidential data, read directly ----------------------------------------------

def test_confidential_snapshot_read_directly_is_refused_by_the_os(env):
    path = env.paths["register_personen"]
    # control: the path is the real snapshot with person rows (root can read it)
    assert len(pd.read_parquet(path)) == 2
    assert path.parent.parent.stat().st_mode & 0o007 == 0  # not open to other accounts
    code = f"import pandas as pd\nrows = pd.read_parquet({str(path)!r})\nrows"
    from bif_lib.apps.publishing.publish import PublishError

    for audience in (["planners"], ["statistikstelle"]):  # not even the office's apps: no confidential group
        with pytest.raises(PublishError) as err:
            publish(env, notebook(code, audience=audience), app_id="register")
        text = err.value.german()
        assert "Die App 'register' wurde nicht veröffentlicht" in text and "Zelle 1" in text, text
        assert "PermissionError" in text and "Betriebssystem hat den Lesezugriff verweigert" in text, text
        assert "Anna" not in text
    assert env.registry.app_ids() == []


def test_confidential_data_through_bif_load_is_refused_for_the_office_too(env):
    from bif_lib.apps.publishing.publish import PublishError

    code = "import bif_lib as bif\nbif.load('register_personen', purpose='Test')"
    with pytest.raises(PublishError) as err:
        publish(env, notebook(code, audience=["statistikstelle"]), app_id="register2")
    assert "Kein Zugriff" in err.value.german() and "verweigert" in err.value.german()


# --- (2) other processes' environments -----------------------------------------------------

def test_other_processes_and_their_environment_are_invisible(env):
    secret = secrets.token_hex(16)
    dummy = subprocess.Popen(["sleep", "300"], env={"PATH": "/usr/bin:/bin", "BIF_TEST_SECRET": secret},
                             user=env.apps_account.pw_uid, group=env.apps_account.pw_gid, extra_groups=[])
    try:
        # control: as the apps account (the account of the old check), the secret is readable
        assert secret.encode() in as_account(env.apps_account, "cat", f"/proc/{dummy.pid}/environ").stdout
        direct = attempt("direct", f"open('/proc/{dummy.pid}/environ', 'rb').read()")
        code = (
            "import json, os\nr = {'visible': {}, 'secret_seen': False}\n"
            "for pid in (p for p in os.listdir('/proc') if p.isdigit()):\n"
            "    try:\n"
            "        uid = [l for l in open(f'/proc/{pid}/status') if l.startswith('Uid:')][0].split()[1]\n"
            "        r['visible'][pid] = int(uid)\n"
            "        if b'BIF_TEST_SECRET' in open(f'/proc/{pid}/environ', 'rb').read():\n"
            "            r['secret_seen'] = True\n"
            "    except OSError:\n"
            "        pass\n"
            f"{direct}"
            "r['own_environ'] = b'BIF_LOAD_TRACE' in open('/proc/self/environ', 'rb').read()\n"
            f"print({RESULT!r} + json.dumps(r))"
        )
        seen = observed(check(env, code))
    finally:
        dummy.kill()
        dummy.wait()
    assert seen["own_environ"]  # reading /proc works at all
    assert not seen["secret_seen"] and seen["direct"] in ("FileNotFoundError", "PermissionError")
    assert str(dummy.pid) not in seen["visible"]
    # only the sandbox's own processes: the launcher (root, PID 1), the runner and the kernel
    assert set(seen["visible"].values()) <= {0, env.sandbox_uid} and len(seen["visible"]) <= 4, seen
    assert seen["visible"].get("1") == 0


# --- (3) the host's loopback ---------------------------------------------------------------

def test_host_loopback_and_other_hosts_are_unreachable(env):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []

    def serve():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                accepted.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # control: reachable from the host
        code = ("import json, socket\nr = {}\n"
                + attempt("host_port", f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()")
                + attempt("outside", "socket.create_connection(('192.0.2.1', 80), timeout=5).close()")
                + f"print({RESULT!r} + json.dumps(r))")
        seen = observed(check(env, code))
        time.sleep(0.2)
    finally:
        server.close()
    # refused: nothing listens on the sandbox's own loopback; no route to any other host
    assert seen == {"host_port": "ConnectionRefusedError", "outside": "OSError"}, seen
    assert len(accepted) == 1  # the control's connection only


# --- (4) the live apps' IPython startup and state directories ------------------------------

def test_live_apps_ipython_startup_and_state_dir_cannot_be_written(env):
    state = env.cfg.voila_state_dir  # as supervisor.py lays it out, owned by the apps account
    startup = state / "home" / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    for path in [state, *state.rglob("*")]:
        os.chown(path, env.apps_account.pw_uid, env.apps_account.pw_gid)
        os.chmod(path, 0o700)
    (state / "runtime").mkdir(exist_ok=True)
    connection = state / "runtime" / "kernel-test.json"
    connection.write_text('{"key": "geheim"}')
    os.chown(connection, env.apps_account.pw_uid, env.apps_account.pw_gid)
    os.chmod(connection, 0o600)
    # control: the apps account (the old check's account) can plant a startup file
    assert as_account(env.apps_account, "touch", str(startup / "00-control.py")).returncode == 0
    (startup / "00-control.py").unlink()
    code = ("import json, os\nr = {}\n"
            + attempt("startup", f"open({str(startup / '00-bif-angriff.py')!r}, 'w').write('print(1)')")
            + attempt("state", f"open({str(state / 'angriff')!r}, 'w').write('x')")
            + attempt("connection", f"open({str(connection)!r}).read()")
            + f"try:\n    r['list'] = os.listdir({str(state)!r})\n"
            + "except OSError as e:\n    r['list'] = type(e).__name__\n"
            + f"print({RESULT!r} + json.dumps(r))")
    seen = observed(check(env, code, "internal"))
    assert seen["list"] in ([], "PermissionError", "FileNotFoundError"), seen  # covered, or not even visible
    del seen["list"]
    assert all(v in ("PermissionError", "FileNotFoundError", "OSError") for v in seen.values()), seen
    assert sorted(p.name for p in startup.iterdir()) == [] and not (state / "angriff").exists()


# --- (5) nothing left behind ----------------------------------------------------------------

def test_files_and_background_processes_do_not_outlive_the_check(env, monkeypatch):
    scratch = Path(tempfile.mkdtemp(prefix="bif-sandbox-work-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the check's work directory goes
    token = f"bif-sandbox-probe-{secrets.token_hex(6)}"
    probes = [Path(d) / token for d in ("/tmp", "/var/tmp", "/dev/shm")]
    code = ("import json, os, subprocess, time\nr = {}\n"
            f"for d in ('/tmp', '/var/tmp', '/dev/shm'):\n    open(os.path.join(d, {token!r}), 'w').write('x')\n"
            "subprocess.Popen('nohup sleep 1000 >/dev/null 2>&1 &', shell=True).wait()\n"
            "subprocess.Popen(['sleep', '1001'], start_new_session=True)\n"
            "time.sleep(0.5)\n"
            "def cmdline(p):\n"
            "    try:\n        return open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()\n"
            "    except OSError:\n        return ''\n"
            "r['sleeping'] = sorted(c for c in map(cmdline, (p for p in os.listdir('/proc') if p.isdigit()))\n"
            "                       if c.startswith('sleep'))\n"
            f"r['files'] = [os.path.exists(os.path.join(d, {token!r})) for d in ('/tmp', '/var/tmp', '/dev/shm')]\n"
            f"print({RESULT!r} + json.dumps(r))")
    try:
        seen = observed(check(env, code))
        # inside, the files were written and the background processes ran
        assert seen == {"sleeping": ["sleep 1000", "sleep 1001"], "files": [True, True, True]}, seen
        assert processes_of_uid(env.sandbox_uid) == []
        assert not [p for p in probes if p.exists()]
        assert list(scratch.iterdir()) == []  # the work directory is gone
        assert not Path(f"/run/bif-publish-{env.sandbox_name}.lock").exists()  # and the lock file
    finally:
        for p in probes:
            p.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def test_checks_run_one_at_a_time(env):
    """Two publications at once (the service has two publishing threads) are checked one
    after the other, so that no process of the sandbox account outlives its own check."""
    from concurrent.futures import ThreadPoolExecutor

    code = (f"import json, time\nstart = time.time()\ntime.sleep(2)\n"
            f"print({RESULT!r} + json.dumps([start, time.time()]))")
    with ThreadPoolExecutor(2) as pool:
        spans = sorted(observed(run) for run in pool.map(lambda _: check(env, code), range(2)))
    assert spans[0][1] <= spans[1][0], spans


def test_timeout_kills_every_process_of_the_check(env):
    code = ("import subprocess, time\nsubprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
            "subprocess.Popen('nohup sleep 1002 >/dev/null 2>&1 &', shell=True)\ntime.sleep(120)")
    started = time.monotonic()
    run = check(env, code, total_timeout=8)
    assert not run.ok and "nach 8 Sekunden abgebrochen" in run.error, run.error
    assert time.monotonic() - started < 30
    assert processes_of_uid(env.sandbox_uid) == []


# --- (6) what an app may read: its classification -------------------------------------------

def test_open_app_cannot_read_internal_data_internal_app_can(env):
    from bif_lib.apps.publishing.publish import PublishError

    internal = "import bif_lib as bif\nrows = bif.load('intern_daten')\nlen(rows)"
    with pytest.raises(PublishError) as err:
        publish(env, notebook(internal, classification="open"), app_id="intern-offen")
    text = err.value.german()
    assert "Kein Zugriff" in text and "verweigert" in text and "\"classification\": \"internal\"" in text, text

    # control: an open app reads open data
    opened = publish(env, notebook("import bif_lib as bif\nbif.load('offen_daten')", classification="open"),
                     app_id="offen")
    assert [d["dataset"] for d in opened.app.meta["datasets"]] == ["offen_daten"]

    result = publish(env, notebook(internal, classification="internal"), app_id="intern")
    meta = result.app.meta
    assert meta["classification"] == "internal" and meta["check_sandboxed"] is True
    assert [(d["dataset"], d["classification"]) for d in meta["datasets"]] == [("intern_daten", "internal")]
    # without bif.classification an app may read what its audience may see, at most internal data
    assert publish(env, notebook(internal), app_id="intern2").app.meta["classification"] == "internal"


def test_check_runs_as_the_sandbox_account_with_exactly_the_apps_groups(env):
    import grp

    internal_gid = grp.getgrnam(env.cfg.internal_group).gr_gid
    code = ("import json, os\n"
            "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
            "mounts = {l.split()[1]: l.split()[2] + ' ' + l.split()[3].split(',')[0]\n"
            "          for l in open('/proc/self/mounts')}\n"
            "r = {'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
            "     'nnp': status['NoNewPrivs'].strip(), 'home': os.environ['HOME'], 'cwd': os.getcwd(),\n"
            "     'ipythondir': os.environ['IPYTHONDIR'], 'mounts': mounts}\n"
            f"print({RESULT!r} + json.dumps(r))")
    entry = pwd.getpwnam(env.sandbox_name)
    for classification, groups in (("open", []), ("internal", [internal_gid])):
        seen = observed(check(env, code, classification))
        assert (seen["uid"], seen["gid"], sorted(seen["groups"])) == (entry.pw_uid, entry.pw_gid, groups)
        assert seen["nnp"] == "1"
        mounts = seen["mounts"]
        assert mounts["/tmp"] == mounts["/var/tmp"] == mounts["/dev/shm"] == "tmpfs rw"
        assert mounts[str(env.cfg.voila_state_dir)] == "tmpfs ro"  # the live apps' state: covered
        assert mounts[str(env.store)].endswith(" ro")  # the store: read-only
        assert seen["cwd"] == "/tmp/bif-publish" and seen["home"].startswith("/tmp/bif-publish/")
        assert seen["ipythondir"].startswith("/tmp/bif-publish/")
    assert entry.pw_uid != env.apps_account.pw_uid and entry.pw_shell.endswith("nologin")
    from bif_lib.platform import accounts

    assert accounts.sandbox_account_name(env.settings) == f"{env.prefix}-publish"
    # the account is in no data group; groups come only per run
    assert not {env.cfg.internal_group, env.cfg.confidential_group} & {
        grp.getgrgid(g).gr_name for g in os.getgrouplist(entry.pw_name, entry.pw_gid)}


def test_result_files_replaced_by_links_are_not_read_as_root(env):
    """The notebook controls its work directory; the root-side check must not follow a link
    it plants there to a file only root may read."""
    secret = env.home / "nur-root.jsonl"
    secret.write_text(json.dumps({"dataset": f"GEHEIM-{secrets.token_hex(4)}", "version": 1,
                                  "classification": "open"}) + "\n")
    os.chmod(secret, 0o600)
    code = f"import os\nos.symlink({str(secret)!r}, os.environ['BIF_LOAD_TRACE'])"
    run = check(env, code)
    assert not run.ok and "unbrauchbar" in run.error and "GEHEIM" not in run.error, run.error


def test_store_below_tmp_stays_visible_read_only_with_its_permissions(env):
    """A store below /tmp (as in development) is bound into the sandbox's private /tmp."""
    from bif_lib.apps.config import AppsConfig
    from bif_lib.platform import accounts

    home = Path(tempfile.mkdtemp(prefix="bif-sandbox-tmp-", dir="/tmp"))
    try:
        os.chmod(home, 0o755)
        shutil.copytree(env.store, home / "store")
        accounts.apply_store_permissions(home / "store", env.settings)
        cfg = AppsConfig(**{**env.cfg.__dict__, "home": str(home), "store": str(home / "store")})
        confidential = home / "store" / env.paths["register_personen"].relative_to(env.store)
        code = ("import json, os\nimport bif_lib as bif\nr = {'rows': len(bif.load('intern_daten'))}\n"
                + attempt("write", f"open({str(home / 'store' / 'neu.txt')!r}, 'w').write('x')")
                + attempt("confidential", f"open({str(confidential)!r}, 'rb').read()")
                + f"print({RESULT!r} + json.dumps(r))")
        from bif_lib.apps.publishing.publish import check_run

        seen = observed(check_run(nbformat.from_dict(notebook(code)), cfg, "internal"))
        assert seen == {"rows": 2, "write": "OSError", "confidential": "PermissionError"}, seen
        assert not (home / "store" / "neu.txt").exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_sandbox_that_cannot_be_set_up_refuses_and_never_runs_unsandboxed(env):
    from bif_lib.apps.publishing import sandbox
    from bif_lib.apps.publishing.execute import execute_notebook

    box = sandbox.sandbox_for(env.cfg, "open")
    broken = sandbox.Sandbox(**{**box.__dict__, "readonly": ("/etc/passwd",)})  # not a directory: set-up fails
    marker = Path("/tmp") / f"bif-sandbox-ran-{secrets.token_hex(4)}"
    code = f"open({str(marker)!r}, 'w').write('lief')"
    run = execute_notebook(nbformat.from_dict(notebook(code)), sandbox=broken, home=str(env.home),
                           store=str(env.store), timeout=60)
    assert not run.ok and run.error.startswith("Die abgeschottete Prüfumgebung ließ sich nicht einrichten"), run.error
    assert not marker.exists()  # it did not fall back to a run outside the sandbox (its /tmp is the host's)


# --- (7) normal apps -----------------------------------------------------------------------

def test_slider_app_still_publishes(env):
    result = publish(env, SLIDER_APP)
    meta = result.app.meta
    assert (result.app_id, result.version) == ("slider-app", 1)
    assert meta["check_sandboxed"] is True and meta["frontend"] == "bif" and meta["datasets"] == []
    assert not any("Root-Rechte" in n for n in result.notes)


# --- the account ---------------------------------------------------------------------------

def test_sandbox_account_name_is_reserved_and_never_taken_over(env):
    from bif_lib.platform import accounts

    taken = _Settings({"apps": {"os_user": f"{env.prefix}-x-apps"},
                       "accounts": {**env.settings["accounts"], "user_prefix": f"{env.prefix}-x-"}}, env.home)
    with pytest.raises(accounts.AccountError, match="reserviert"):
        accounts.os_account_name("publish", taken)  # a hub user "publish" would get the sandbox account
    subprocess.run(["useradd", "--system", "--no-create-home", "--comment", "BIF someone", f"{env.prefix}-x-publish"],
                   check=True, capture_output=True)
    with pytest.raises(accounts.AccountError, match="nicht von BIF als Prüfkonto"):
        accounts.ensure_sandbox_account(taken)


# --- without root ----------------------------------------------------------------------------

def test_without_root_the_check_runs_unsandboxed_and_says_so(env):
    """Single-account mode: the publisher is told (German) that no sandbox was possible."""
    home = env.home / "einzelkonto"
    home.mkdir()
    os.chown(home, env.apps_account.pw_uid, env.apps_account.pw_gid)
    script = (
        "import json, sys\n"
        "from bif_lib.apps.config import AppsConfig\n"
        "from bif_lib.apps.publishing.publish import publish_notebook\n"
        f"cfg = AppsConfig(home={str(home)!r}, store={str(home / 'store')!r}, port=1, voila_port=1)\n"
        f"r = publish_notebook({str(SLIDER_APP)!r}, published_by='x', cfg=cfg)\n"
        "print(json.dumps({'notes': r.notes, 'sandboxed': r.app.meta['check_sandboxed']}))\n")
    done = subprocess.run([sys.executable, "-c", script], user=env.apps_account.pw_uid,
                          group=env.apps_account.pw_gid, extra_groups=[], capture_output=True, text=True, timeout=180,
                          cwd=home, env={"PATH": "/usr/bin:/bin", "HOME": str(home), "BIF_HOME": str(home),
                                         "PYTHONPATH": str(bif_config.PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["sandboxed"] is False
    assert any("keine abgeschottete Prüfumgebung möglich" in n for n in out["notes"]), out
    assert "keine abgeschottete Prüfumgebung möglich" in done.stderr  # and the log says it
