"""Onboarding run by a trainer, end to end against a real platform and in Chromium.

A trainer creates a cohort of 12 on the trainer page ("Schulungen") and prints the credentials;
two participants log in, run code in their own JupyterLab kernels (one exercise passed, one
failed each) and try to read internal and confidential data; the trainer page shows exactly
their progress; other trainers, participants and planners do not get in; the trainer's CLI
works with the trainer's own token; the cohort is ended on the page (and a second one by
expiry) and leaves no account, server, OS group or home, while the archive holds their work.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import requests
import websocket

from bif_lib import config
from bif_lib.platform.auth import UserStore
from bif_lib.platform.cohorts import get_cohort

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TRAINER, TRAINER_PW = "tina", "tina-passwort-123"
OTHER_TRAINER, OTHER_PW = "theo", "theo-passwort-123"
PLANNER, PLANNER_PW = "paula", "paula-passwort-123"
COHORT = "grundkurs"
BIF = str(Path(sys.prefix) / "bin" / "bif")


@pytest.fixture(scope="module")
def hub(training_hub):
    training_hub.add_user(TRAINER, ["trainers"], TRAINER_PW)
    training_hub.add_user(OTHER_TRAINER, ["trainers"], OTHER_PW)
    training_hub.add_user(PLANNER, ["planners"], PLANNER_PW)
    return training_hub


def training_url(hub) -> str:
    return f"{hub.url}services/bif-training/"


def xsrf(session) -> str:
    return session.cookies.get("_xsrf", path="/hub/")


def wait_for_service(hub, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{training_url(hub)}health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError("training service did not answer")


class Lab:
    """A participant's own JupyterLab, reached with their login and a token of their own."""

    def __init__(self, hub, name: str, password: str):
        self.hub, self.name = hub, name
        session = hub.session(name, password)
        assert session.login_status == 302, f"login of {name}: {session.login_status}"
        r = session.post(f"{hub.url}hub/api/users/{name}/server", headers={"X-XSRFToken": xsrf(session)})
        assert r.status_code in (201, 202), r.text
        hub.wait_for_server(name)
        r = session.post(f"{hub.url}hub/api/users/{name}/tokens", json={"note": "Test", "expires_in": 900},
                         headers={"X-XSRFToken": xsrf(session)})
        assert r.status_code == 201, r.text
        self.token = r.json()["token"]
        self.base = f"{hub.url}user/{name}/"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base}api/{path}", headers={"Authorization": f"token {self.token}"},
                                timeout=60, **kwargs)

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code`` in a new kernel of the participant's server; its text output."""
        kernel = self.api("POST", "kernels", json={"name": "python3"}).json()["id"]
        url = f"{self.base.replace('http', 'ws', 1)}api/kernels/{kernel}/channels"
        ws = websocket.create_connection(url, timeout=timeout, header=[f"Authorization: token {self.token}"])
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                                           "username": self.name, "version": "5.3"},
                                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                                "content": {"code": code, "silent": False, "store_history": False,
                                            "user_expressions": {}, "allow_stdin": False}}))
            out = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    out.append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    out.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    out.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(out)
            raise AssertionError(f"no answer from {self.name}'s kernel within {timeout} s: {''.join(out)}")
        finally:
            ws.close()
            self.api("DELETE", f"kernels/{kernel}")

    def terminal(self, command: str, expect: str, timeout: float = 30) -> str:
        """Run ``command`` in a JupyterLab terminal (as the participant opens one)."""
        name = self.api("POST", "terminals").json()["name"]
        ws = websocket.create_connection(f"{self.base.replace('http', 'ws', 1)}terminals/websocket/{name}",
                                         timeout=timeout, header=[f"Authorization: token {self.token}"])
        try:
            ws.send(json.dumps(["stdin", f"{command}\r"]))
            text, deadline = "", time.monotonic() + timeout
            while time.monotonic() < deadline and expect not in text:
                message = json.loads(ws.recv())
                if message[0] == "stdout":
                    text += message[1]
            return text
        finally:
            ws.close()
            self.api("DELETE", f"terminals/{name}")


def os_traces(hub, names: list[str]) -> list[str]:
    """What is left of the accounts: OS account, OS group, home, hub user, processes."""
    left = []
    for name in names:
        account = hub.os_account(name)
        try:
            entry = pwd.getpwnam(account)
            left.append(f"OS-Konto {account}")
            if [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) == entry.pw_uid]:
                left.append(f"Prozesse von {account}")
        except KeyError:
            pass
        try:
            grp.getgrnam(account)
            left.append(f"OS-Gruppe {account}")
        except KeyError:
            pass
        if (Path(hub.settings["accounts"]["home_root"]) / account).exists():
            left.append(f"Home von {account}")
        if hub.api("GET", f"/users/{name}").status_code != 404:
            left.append(f"Hub-Nutzer {name}")
        if UserStore.from_settings(hub.settings).get(name) is not None:
            left.append(f"Eintrag {name} in users.json")
    return left


def _uid(proc: Path) -> int | None:
    try:
        return proc.stat().st_uid
    except (FileNotFoundError, ProcessLookupError):
        return None


SOLVE = """
from bif_lib.training.exercises import pruefe
from bif_lib.i18n import format_number
print("1.1", pruefe("1.1", {share}))
print("1.2", pruefe("1.2", {number}))
"""

READ_PROTECTED = """
import os, bif_lib
store = os.environ["BIF_STORE"]
for area in ("internal", "confidential"):
    try:
        open(os.path.join(store, area, "probe.txt")).read()
        print(area, "readable")
    except PermissionError:
        print(area, "denied")
if {dataset!r}:
    try:
        bif_lib.load({dataset!r})
        print("load readable")
    except Exception as e:
        print("load refused:", type(e).__name__, e)
print("open", sorted(os.listdir(os.path.join(store, "open")))[:1] is not None)
"""


def test_a_trainer_runs_a_cohort_from_start_to_end(hub, page, browser, tmp_path):
    wait_for_service(hub)
    hub.login(page, TRAINER, TRAINER_PW)
    page.click("#bif-training")  # the home page links trainers to "Schulungen"
    page.wait_for_selector("#neue-gruppe")
    assert page.locator("html").get_attribute("lang") == "de"

    # a wrong entry is refused in German and creates nothing
    page.fill("input[name=name]", "Kurs mit Leerzeichen")
    page.evaluate("document.querySelector('#neue-gruppe').noValidate = true")
    page.click("#neue-gruppe button[type=submit]")
    assert "Ungültiger Name der Schulungsgruppe" in page.locator("#fehler").inner_text()

    page.fill("input[name=name]", COHORT)
    page.fill("input[name=size]", "12")
    page.click("#neue-gruppe button[type=submit]")
    page.wait_for_selector("#teilnehmende tbody tr")
    rows = page.locator("#teilnehmende tbody tr")
    assert rows.count() == 12
    assert rows.nth(0).get_attribute("data-konto") == f"{COHORT}-01"

    # the credentials sheet: one card per account, as HTML and PDF
    credentials = page.request.get(f"{training_url(hub)}api/gruppen/{COHORT}/zugangsdaten").json()["accounts"]
    assert [a["name"] for a in credentials] == [f"{COHORT}-{n:02d}" for n in range(1, 13)]
    sheet = re.sub(r"<[^>]+>", "", page.request.get(f"{training_url(hub)}gruppen/{COHORT}/zugangsdaten").text())
    assert all(a["name"] in sheet and a["password"] in sheet for a in credentials)
    pdf = page.request.get(f"{training_url(hub)}gruppen/{COHORT}/zugangsdaten.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    passwords = {a["name"]: a["password"] for a in credentials}

    # two participants work in their own JupyterLab
    first, second = f"{COHORT}-01", f"{COHORT}-02"
    lab1 = Lab(hub, first, passwords[first])
    lab2 = Lab(hub, second, passwords[second])
    out1 = lab1.run(SOLVE.format(share="round(682 / 4213 * 100, 1)", number="'1,234,567.89'"))
    assert "1.1 True" in out1 and "1.2 False" in out1, out1
    out2 = lab2.run(SOLVE.format(share="0.16", number="format_number(1234567.891, 2)"))
    assert "1.1 False" in out2 and "1.2 True" in out2, out2
    # ... and may read open data only
    protected = lab1.run(READ_PROTECTED.format(dataset=hub.dataset))
    assert "internal denied" in protected and "confidential denied" in protected, protected
    if hub.dataset:
        assert "load refused" in protected and "load readable" not in protected, protected
    # their work, which the archive must keep
    lab1.api("PUT", "contents/meine_loesung.ipynb",
             json={"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}})
    # the course was copied into the home, and the terminal finds `bif`
    course = [p.name for p in (config.PROJECT_ROOT / "notebooks" / "training").glob("*.ipynb")]
    listing = lab1.api("GET", "contents/Vorlagen/Schulung").json()["content"]
    assert sorted(course) == sorted(item["name"] for item in listing)
    assert "/bin/bif" in lab1.terminal("command -v bif", expect="/bin/bif")
    # the guided start: their JupyterLab opens the course's first notebook
    start = requests.get(lab1.base, headers={"Authorization": f"token {lab1.token}"}, allow_redirects=False, timeout=30)
    first_notebook = f"/lab/tree/Vorlagen/Schulung/{sorted(course)[0]}"
    assert start.headers.get("location", "").rstrip("?").endswith(first_notebook), start.headers

    # the trainer page shows exactly that (it refreshes itself every 5 s)
    def cell_classes(account: str) -> dict[str, str]:
        row = page.locator(f"#teilnehmende tbody tr[data-konto='{account}']")
        cells = row.locator("td.ex")
        headers = page.locator("#teilnehmende thead th.ex")
        return {headers.nth(i).inner_text(): cells.nth(i).get_attribute("class") for i in range(cells.count())}

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "passed" not in cell_classes(first).get("1.1", ""):
        page.wait_for_timeout(1000)
    page.wait_for_timeout(6000)  # one more refresh: both participants' results are in it
    progress1, progress2 = cell_classes(first), cell_classes(second)
    status = page.request.get(f"{training_url(hub)}api/gruppen/{COHORT}").json()["participants"][:2]
    homes = {n: sorted(str(p) for p in (Path(hub.settings["accounts"]["home_root"]) / hub.os_account(n)).rglob("*")
                       if ".bif" in str(p)) for n in (first, second)}
    progress2 = (progress2, status, homes)[0] if "passed" in progress2.get("1.2", "") else (progress2, status, homes)
    assert "passed" in progress1["1.1"] and "failed" in progress1["1.2"], progress1
    assert isinstance(progress2, dict), progress2
    assert "failed" in progress2["1.1"] and "passed" in progress2["1.2"], progress2
    assert all("open" in c for ex, c in progress1.items() if ex not in ("1.1", "1.2")), progress1
    assert all("open" in c for c in cell_classes(f"{COHORT}-03").values())
    row1 = page.locator(f"#teilnehmende tbody tr[data-konto='{first}']").inner_text()
    row3 = page.locator(f"#teilnehmende tbody tr[data-konto='{COHORT}-03']").inner_text()
    assert "läuft" in row1 and "1 von" in row1 and "nein" in row3

    # nobody else gets in: another trainer, a participant, a planner
    other = hub.session(OTHER_TRAINER, OTHER_PW)
    assert other.get(training_url(hub)).status_code == 200  # the service's login (OAuth) for this session
    r = other.get(f"{training_url(hub)}api/gruppen/{COHORT}", headers={"Accept": "application/json"})
    assert r.status_code == 404 and COHORT not in other.get(f"{training_url(hub)}api/gruppen").text
    for name, password in ((first, passwords[first]), (PLANNER, PLANNER_PW)):
        s = hub.session(name, password)
        r = s.get(training_url(hub))  # the hub refuses them in the service's OAuth flow
        assert r.status_code == 403 and "teilnehmende" not in r.text, (name, r.status_code)
        assert s.get(f"{training_url(hub)}api/gruppen").status_code == 403
    r = requests.get(f"{training_url(hub)}api/gruppen", headers={"Authorization": f"token {lab1.token}"}, timeout=30)
    assert r.status_code == 403

    # the trainer's CLI, as a non-root account with the trainer's own token
    trainer_session = hub.session(TRAINER, TRAINER_PW)
    token = trainer_session.post(f"{hub.url}hub/api/users/{TRAINER}/tokens", json={"note": "CLI"},
                                 headers={"X-XSRFToken": xsrf(trainer_session)}).json()["token"]
    env = {"PATH": os.environ["PATH"], "BIF_TRAINING_TOKEN": token, "LANG": "C.UTF-8",
           "BIF_HUB_SETTINGS": str(hub.settings.source_file), "HOME": "/tmp"}
    status = subprocess.run(["runuser", "-u", "nobody", "--", BIF,
                             "training", "status", COHORT], capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode == 0, status.stderr
    assert re.search(rf"{first}: angemeldet, JupyterLab läuft, 1 von \d+ Übungen bestanden \(1\.1\)", status.stdout)
    env["BIF_TRAINING_TOKEN"] = lab1.token  # a participant's token
    refused = subprocess.run(["runuser", "-u", "nobody", "--", BIF,
                              "training", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 1 and "Schulungsleitung" in refused.stderr, refused.stderr

    # extend, then end on the page
    page.reload()
    page.fill("#verlaengern input[name=bis]", time.strftime("%Y-%m-%d", time.localtime(time.time() + 20 * 86400)))
    page.click("#verlaengern button")
    page.wait_for_selector("#teilnehmende tbody tr")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#beenden button")
    page.wait_for_selector("#meldung", timeout=120_000)
    assert "12 Konten entfernt" in page.locator("#meldung").inner_text()
    names = [f"{COHORT}-{n:02d}" for n in range(1, 13)]
    assert os_traces(hub, names) == []

    # the archive holds their work, and only the trainer can fetch it
    link = page.locator("#archive a").first
    with page.expect_download() as download:
        link.click()
    path = tmp_path / "archiv.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        files = set(archive.namelist())
    assert f"{first}/meine_loesung.ipynb" in files
    assert any(f.startswith(f"{second}/Vorlagen/Schulung/") for f in files)
    archive_name = link.get_attribute("href").rsplit("/", 1)[1]
    assert other.get(f"{training_url(hub)}archiv/{archive_name}").status_code == 404


def test_a_cohort_past_its_end_date_is_ended_by_itself(hub):
    """Nobody runs `end`: the service ends it (archive first), and logins stop at once."""
    wait_for_service(hub)
    session = hub.session(TRAINER, TRAINER_PW)
    token = session.post(f"{hub.url}hub/api/users/{TRAINER}/tokens", json={"note": "Test"},
                         headers={"X-XSRFToken": xsrf(session)}).json()["token"]
    r = requests.post(f"{training_url(hub)}api/gruppen", json={"name": "abendkurs", "size": 2},
                      headers={"Authorization": f"token {token}"}, timeout=60)
    assert r.status_code == 201, r.text
    accounts = r.json()["accounts"]
    lab = Lab(hub, accounts[0]["name"], accounts[0]["password"])
    assert "ok" in lab.run("print('ok')")

    store = UserStore.from_settings(hub.settings)
    cohort = get_cohort(store, "abendkurs")
    store.update_all(cohort.accounts, expires="2020-01-01")  # as if its end date had passed
    assert hub.session(accounts[1]["name"], accounts[1]["password"]).login_status != 302  # refused at once

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os_traces(hub, list(cohort.accounts)):
        time.sleep(1)
    assert os_traces(hub, list(cohort.accounts)) == []
    listing = requests.get(f"{training_url(hub)}api/gruppen", headers={"Authorization": f"token {token}"},
                           timeout=30).json()
    assert "abendkurs" not in [c["name"] for c in listing["cohorts"]]
    assert any(a["cohort"] == "abendkurs" for a in listing["archives"])
