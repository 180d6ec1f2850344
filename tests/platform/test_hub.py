"""The real platform: proxy + JupyterHub + OS accounts, over HTTP and in headless Chromium.

Planners get published apps and nothing else; analysts get JupyterLab under their own
OS account and read what their data areas allow; a hub restart keeps running servers.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from bif_lib import processes
from bif_lib.apps.serving import daemon
from bif_lib.platform import accounts, launcher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ANALYST, ANALYST_PW = "ana", "ana-passwort-123"
PLANNER, PLANNER_PW = "piet", "piet-passwort-123"


@pytest.fixture(scope="module")
def hub(running_hub):
    running_hub.add_user(ANALYST, ["analysts"], ANALYST_PW)
    running_hub.add_user(PLANNER, ["planners"], PLANNER_PW)
    return running_hub


def xsrf(session) -> str:
    return session.cookies.get("_xsrf", path="/hub/")


def ensure_analyst_server(hub) -> str:
    """Start the analyst's server if needed; return an API token of the analyst."""
    s = hub.session(ANALYST, ANALYST_PW)
    assert s.login_status == 302, s.login_status
    model = hub.api("GET", f"/users/{ANALYST}").json()
    if not (model.get("servers") or {}).get(""):
        r = s.post(f"{hub.url}hub/api/users/{ANALYST}/server", headers={"X-XSRFToken": xsrf(s)})
        assert r.status_code in (201, 202), r.text
    hub.wait_for_server(ANALYST)
    r = s.post(f"{hub.url}hub/api/users/{ANALYST}/tokens", json={"note": "test", "expires_in": 600},
               headers={"X-XSRFToken": xsrf(s)})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def server_status(hub, token: str) -> int:
    return requests.get(f"{hub.url}user/{ANALYST}/api/status", headers={"Authorization": f"token {token}"},
                        timeout=30).status_code


def processes_of(account: str) -> list[int]:
    uid = pwd.getpwnam(account).pw_uid
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid and b"jupyterhub-singleuser" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return pids


# --- logging in ------------------------------------------------------------------------------

def test_visitor_is_sent_to_the_german_login_page(hub, page):
    page.goto(f"{hub.url}user/{ANALYST}/lab")
    assert "/hub/login" in page.url
    assert page.locator("label[for=username_input]").inner_text().startswith("Benutzername")
    assert page.locator("#login_submit").get_attribute("value") == "Anmelden"


def test_wrong_password_and_unknown_user_are_refused(hub):
    assert hub.session(ANALYST, "falsches-passwort-1").login_status == 403
    assert hub.session("niemand", "irgendein-passwort").login_status == 403


def test_groups_follow_the_user_store(hub):
    s = hub.session(PLANNER, PLANNER_PW)
    assert s.login_status == 302
    assert hub.api("GET", f"/users/{PLANNER}").json()["groups"] == ["planners"]
    hub.add_user(PLANNER, ["planners", "trainers"], PLANNER_PW)
    try:
        hub.session(PLANNER, PLANNER_PW)
        assert sorted(hub.api("GET", f"/users/{PLANNER}").json()["groups"]) == ["planners", "trainers"]
    finally:
        hub.add_user(PLANNER, ["planners"], PLANNER_PW)
        hub.session(PLANNER, PLANNER_PW)
    assert hub.api("GET", f"/users/{PLANNER}").json()["groups"] == ["planners"]


# --- planners: apps only ---------------------------------------------------------------------

def test_planner_lands_on_gallery_and_gets_no_server(hub, page):
    hub.login(page, PLANNER, PLANNER_PW)
    assert page.url.rstrip("/").endswith("/services/bif-apps"), page.url

    page.goto(f"{hub.url}hub/home")
    assert page.locator("#bif-gallery").count() == 1
    assert page.locator("#start").count() == 0  # no "JupyterLab starten"
    navigation = page.locator("nav").inner_text()  # the hub's navigation bar speaks German too
    assert "Abmelden" in navigation and "Start" in navigation and "Logout" not in navigation

    assert page.goto(f"{hub.url}hub/spawn").status == 403
    assert page.goto(f"{hub.url}hub/spawn/{PLANNER}").status == 403
    for path in (f"user/{PLANNER}/lab", f"user/{PLANNER}/terminals/1", f"user/{ANALYST}/",
                 f"user/{ANALYST}/lab"):
        response = page.goto(f"{hub.url}{path}")
        assert response.status >= 400, (path, response.status)
        assert page.locator(".jp-LabShell").count() == 0

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf" and c["path"] == "/hub/")
    api = page.request.post(f"{hub.url}hub/api/users/{PLANNER}/server", headers={"X-XSRFToken": token})
    assert api.status == 403
    assert "start:servers" in api.text()
    other = page.request.post(f"{hub.url}hub/api/users/{ANALYST}/server", headers={"X-XSRFToken": token})
    assert other.status in (403, 404)
    assert not (hub.api("GET", f"/users/{PLANNER}").json().get("servers"))


def test_planner_has_no_os_account(hub):
    with pytest.raises(KeyError):
        pwd.getpwnam(hub.os_account(PLANNER))


# --- analysts: JupyterLab with verified data -------------------------------------------------

PROBE = """\
import getpass, os, pathlib
import bif_lib
store = pathlib.Path(os.environ["BIF_STORE"])
print("account", getpass.getuser())
print("bif_lib", bif_lib.__name__)
print("internal", (store / "internal" / "probe.txt").read_text().strip())
try:
    (store / "confidential" / "probe.txt").read_text()
    print("confidential readable")
except PermissionError:
    print("confidential denied")
DATASET = {dataset!r}
if DATASET:
    frame = bif_lib.load(DATASET)
    print("dataset", DATASET, "rows", len(frame), "sum", int(frame["wert"].sum()))
print("BIF-PROBE-OK")
"""


def notebook(source: str) -> dict:
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "probe", "metadata": {},
                       "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def run_first_cell(page, timeout: float = 90) -> None:
    """Run the notebook's first cell once its kernel is idle, and wait for its output.

    The cell's prompt tells: "[ ]" not run, "[*]" queued or running, "[1]" done.
    """
    cell = page.locator(".jp-Notebook .jp-Cell").first
    prompt = cell.locator(".jp-InputPrompt")
    cell.locator(".cm-content").wait_for()
    # the kernel's status in the status bar: "Leerlauf" (German JupyterLab), "Idle" (English)
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\b(Leerlauf|Idle)\b")).first.wait_for(
        timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():  # "Select Kernel": take the preselected Python kernel
            dialog.first.click()
        text = prompt.inner_text().strip()
        if re.search(r"\[\d+\]", text):
            cell.locator(".jp-OutputArea-output").first.wait_for(timeout=10_000)
            return
        if "*" not in text:
            cell.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(1000)
    raise AssertionError(f"cell did not run within {timeout} s (prompt {prompt.inner_text()!r})")


def test_analyst_runs_a_notebook_in_jupyterlab(hub, page):
    hub.login(page, ANALYST, ANALYST_PW)
    assert page.url.endswith("/hub/home"), page.url
    assert page.locator("#bif-gallery").count() == 1
    page.click("#start")  # spawns, then redirects into JupyterLab
    page.wait_for_url(f"**/user/{ANALYST}/**", timeout=90_000)

    account = pwd.getpwnam(hub.os_account(ANALYST))
    home = Path(account.pw_dir)
    # the notebook templates were copied into the home, owned by the account
    assert (home / "Vorlagen").is_dir() and (home / "Vorlagen").stat().st_uid == account.pw_uid
    for label, source in hub.settings["notebooks"]["templates"].items():
        for nb in (launcher.config.PROJECT_ROOT / source).glob("*.ipynb"):
            assert (home / "Vorlagen" / label / nb.name).stat().st_uid == account.pw_uid
    probe = home / "probe.ipynb"
    probe.write_text(json.dumps(notebook(PROBE.format(dataset=hub.dataset))))
    os.chown(probe, account.pw_uid, account.pw_gid)

    page.goto(f"{hub.url}user/{ANALYST}/lab/tree/probe.ipynb")
    page.wait_for_selector(".jp-LabShell")
    try:
        run_first_cell(page)
    except Exception:
        page.screenshot(path=str(hub.settings.logs_dir / "notebook-failure.png"), full_page=True)
        raise
    text = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-OutputArea").inner_text()
    assert "BIF-PROBE-OK" in text, text
    assert f"account {account.pw_name}" in text
    assert "internal internal-ok" in text
    assert "confidential denied" in text
    if hub.dataset:
        assert "rows 3 sum 60" in text


def test_os_accounts_guard_the_data_areas(hub):
    """The store's permissions, checked by reading as the real OS accounts."""
    settings = hub.settings
    store = settings.store_dir
    cases = {
        "olaf": (["analysts"], {"open": True, "internal": True, "confidential": False}),
        "sina": (["statistikstelle"], {"open": True, "internal": True, "confidential": True}),
        "adam": (["admins"], {"open": True, "internal": True, "confidential": False}),
        "tom": (["planners"], {"open": True, "internal": False, "confidential": False}),
    }
    apps = accounts.ensure_service_account(settings)
    checks = {name: accounts.ensure_user_account(name, groups, settings).name
              for name, (groups, _) in cases.items()}
    expected = {checks[n]: exp for n, (_, exp) in cases.items()}
    expected[apps.name] = {"open": True, "internal": True, "confidential": False}
    for account, areas in expected.items():
        for area, allowed in areas.items():
            result = subprocess.run(["runuser", "-u", account, "--", "cat", str(store / area / "probe.txt")],
                                    capture_output=True, text=True)
            assert (result.returncode == 0) == allowed, (account, area, result.stderr)
        catalog = subprocess.run(["runuser", "-u", account, "--", "ls", str(store)], capture_output=True)
        assert catalog.returncode == 0, account


# --- operations ------------------------------------------------------------------------------

def test_hub_restart_keeps_servers_and_apps(hub):
    token = ensure_analyst_server(hub)
    assert server_status(hub, token) == 200
    pids = processes_of(hub.os_account(ANALYST))
    assert pids, "no server process under the analyst's account"
    for pid in pids:  # kernels and exports of a person are private to them (no world-readable files)
        assert "Umask:\t0077" in Path(f"/proc/{pid}/status").read_text()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"TMPDIR={pwd.getpwnam(hub.os_account(ANALYST)).pw_dir}/.tmp".encode() in environ
    hub_pid = launcher.HUB.pid(hub.settings)
    apps_running = launcher._port_open(hub.settings["apps"]["port"])

    hub.restart_hub()

    assert launcher.HUB.pid(hub.settings) not in (None, hub_pid)
    assert processes_of(hub.os_account(ANALYST)) == pids
    hub.wait_for_server(ANALYST, timeout=10)
    assert server_status(hub, token) == 200
    assert launcher._port_open(hub.settings["apps"]["port"]) == apps_running
    # and the hub itself works: log in again
    assert hub.session(ANALYST, ANALYST_PW).login_status == 302


def test_start_is_idempotent_and_status_reports(hub):
    ensure_analyst_server(hub)
    out: list[str] = []
    assert launcher.start(hub.settings, out=out.append) == 0
    assert any("läuft bereits" in line for line in out)
    out.clear()
    state = launcher.status(hub.settings, out=out.append)
    assert state["hub_healthy"] and state["proxy"] and state["hub"]
    assert ANALYST in state["servers"]
    assert state["separate_accounts"] is True


@pytest.mark.skipif(not processes.autogroups(), reason="the kernel does not group sessions (autogroups off)")
def test_proxy_and_gateway_come_first_on_a_busy_cpu(hub):
    """hub.front_nice: the two services every page and change passes weigh more on the CPU
    than any other session; the hub (logins), Voilà and the analysts' servers keep the
    ordinary weight, and none of them shares a group with the two."""
    def group(pid: int) -> tuple[str, int]:
        text = Path(f"/proc/{pid}/autogroup").read_text().split()
        return text[0], int(text[-1])

    ensure_analyst_server(hub)
    nice = hub.settings["hub"]["front_nice"]
    assert nice < 0
    apps = daemon.status(hub.settings)
    front = {"proxy": launcher.PROXY.pid(hub.settings), "gateway": apps["pid"]}
    others = {"hub": launcher.HUB.pid(hub.settings), "voila": apps["voila_pid"],
              "analyst's server": processes_of(hub.os_account(ANALYST))[0]}
    assert all(front.values()) and all(others.values()), (front, others)
    if not processes.may_raise_priority():  # e.g. a container without CAP_SYS_NICE: the start says so
        nice = 0
        assert any("Proxy ohne CPU-Vorrang" in line and "CAP_SYS_NICE" in line for line in hub.output), hub.output
    assert {name: group(pid)[1] for name, pid in front.items()} == {"proxy": nice, "gateway": nice}
    assert {name: group(pid)[1] for name, pid in others.items()} == dict.fromkeys(others, 0)
    groups = [group(pid)[0] for pid in [*front.values(), *others.values()]]
    assert len(set(groups)) == len(groups), groups


def test_idle_culler_runs_as_hub_service(hub):
    api_url = hub.settings.hub_api_url.rsplit("/api", 1)[0]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"jupyterhub_idle_culler" in (entry / "cmdline").read_bytes():
                found.append((entry / "environ").read_bytes())
        except (FileNotFoundError, ProcessLookupError):
            continue
    assert any(api_url.encode() in env for env in found), "idle culler of this hub not running"
