"""A failing refresh reaches the steward: history, a notice on the hub's start page (who sees it,
how it renders) and an e-mail through a real SMTP server (aiosmtpd); the next good run closes it."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from schedule_paths import RESIDENTS

from bif_lib.cli import main
from bif_lib.schedule import history, notices

STEWARD = "sozialplanung@flensburg.example"  # steward.email of einwohner_stadtteile
TITLE = "Einwohnerinnen und Einwohner je Stadtteil"


def bif(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_invalid_file_is_refused_noticed_and_mailed_until_a_good_run_closes_it(env, smtp_server, capsys):
    port, inbox = smtp_server
    env.write_settings({"schedule": {"smtp": {"host": "127.0.0.1", "port": port, "from": "bif@flensburg.example"},
                                     "recipients": ["betrieb@flensburg.example"]}})
    env.unpin(RESIDENTS)
    env.schedule("einwohner_stadtteile", {"every": "P7D", "at": "05:00"})
    env.change_source(RESIDENTS, "2018,1,3815", "2018,1,-5")  # line 4 of the file

    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")

    assert code == 1
    # no new version; the run recorded as failed with the report's rows, columns and rules
    assert [e.version for e in env.store.catalog.versions("einwohner_stadtteile")] == [1]
    [record] = history.entries(env.home)
    assert (record["outcome"], record["version"]) == ("fehlgeschlagen", None)
    assert "abgelehnt" in record["message"] and "nichts wurde gespeichert" in record["message"]
    minimum = next(f for f in record["failures"] if f["rule"] == "minimum")
    assert (minimum["row"], minimum["column"], minimum["value"]) == (4, "residents", -5)
    assert "Zeile 4, Spalte „residents“, Regel „Mindestwert“ (minimum)" in out
    received = Path(record["file"])
    assert received.read_bytes() == (env.mirror / RESIDENTS).read_bytes()  # kept for the steward to look at
    assert os.stat(received).st_mode & 0o777 == 0o600

    # the notice for the start page
    notice = notices.read(env.home)["einwohner_stadtteile"]
    assert notice["title"] == TITLE and notice["classification"] == "open" and notice["run_id"] == record["run_id"]
    assert any(d.startswith("Zeile 4, Spalte „residents“, Regel „Mindestwert“ (minimum)") for d in notice["details"])
    assert os.stat(env.home / "schedule" / "notices.json").st_mode & 0o777 == 0o600

    # the mail, through the SMTP conversation
    assert inbox.arrived.wait(10)
    [(recipients, mail)] = inbox.mails
    assert sorted(recipients) == ["betrieb@flensburg.example", STEWARD]
    assert mail["Subject"] == f"BIF: Aktualisierung von „{TITLE}“ (einwohner_stadtteile) fehlgeschlagen"
    assert mail["From"] == "bif@flensburg.example" and mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    for text in ("Datensatz: einwohner_stadtteile", f"Quelldatei: {RESIDENTS}", str(received),
                 "Zeile 4, Spalte „residents“, Regel „Mindestwert“ (minimum)", "-5",
                 "Es wurde nichts gespeichert; in Gebrauch bleibt Version 1",
                 "Nächster planmäßiger Versuch:", "alle 7 Tage um 05:00",
                 "bif schedule run einwohner_stadtteile"):
        assert text in body, f"{text!r} not in the mail:\n{body}"
    assert record["mail"] == f"versandt an {STEWARD}, betrieb@flensburg.example"

    # the steward fixes the file: the next run is fine and the notice is gone
    env.change_source(RESIDENTS, "2018,1,-5", "2018,1,3815")
    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")
    assert code == 0, out + err
    last = history.entries(env.home)[-1]
    assert last["outcome"] == "unverändert" and last["notice_closed"] is True and "mail" not in last
    assert notices.read(env.home) == {}
    assert "Der Hinweis auf der Startseite ist geschlossen." in out
    assert len(inbox.mails) == 1


def test_an_unreachable_mail_server_is_recorded_and_the_notice_stays(env, capsys):
    from schedule_paths import free_port

    env.write_settings({"schedule": {"smtp": {"host": "127.0.0.1", "port": free_port(), "timeout": 5}}})
    env.unpin(RESIDENTS)
    env.change_source(RESIDENTS, "2018,1,3815", "2018,1,x")
    code, out, err = bif(capsys, "schedule", "run", "einwohner_stadtteile")
    assert code == 1
    [record] = history.entries(env.home)
    assert record["mail"].startswith("nicht versandt: Mailserver 127.0.0.1:")
    assert "einwohner_stadtteile" in notices.read(env.home)


# --- who sees the notices, and the start page -------------------------------------------------------

def user(*groups: str):
    return SimpleNamespace(name="mmeier", groups=[SimpleNamespace(name=g) for g in groups])


def put_notices(home):
    for dataset, classification in (("einwohner_stadtteile", "open"), ("kitas_intern", "internal")):
        notices.put(home, {"dataset": dataset, "title": f"Titel {dataset}", "classification": classification,
                           "at": "2026-03-29T03:00:00+00:00", "message": f"„{dataset}“ abgelehnt: 2 Fehler",
                           "file": f"/srv/bif/schedule/received/{dataset}/abc-datei.csv",
                           "details": [f"Zeile {n}, Spalte „x“, Regel „Mindestwert“ (minimum): <b>{n}</b>"
                                       for n in range(2, 9)]})


def test_notices_are_for_the_groups_that_steward_data_and_internal_ones_for_internal_areas(env):
    put_notices(env.home)
    shown = notices.template_var(env.settings)

    assert [n["dataset"] for n in shown(user("analysts"))] == ["einwohner_stadtteile", "kitas_intern"]
    assert len(shown(user("admins"))) == 2
    assert shown(user("planners")) == shown(user("trainers")) == shown(user("statistikstelle")) == []
    assert shown(None) == []  # the login page
    env.write_settings({"schedule": {"notice_groups": ["analysts", "participants"]}})
    shown = notices.template_var(env.settings)
    assert [n["dataset"] for n in shown(user("participants"))] == ["einwohner_stadtteile"]  # no internal area
    assert shown(user("admins")) == []
    first = notices.template_var(env.settings)(user("analysts"))[0]
    assert first["when"] == "29.03.2026 05:00" and first["file"] == "abc-datei.csv"  # Berlin, summer time
    assert len(first["details"]) == 5 and first["more"] == 2
    # a broken file never breaks the start page
    (env.home / "schedule" / "notices.json").write_text("{kaputt")
    assert notices.template_var(env.settings)(user("analysts")) == []


@pytest.fixture
def render_home():
    """home.html rendered by Jinja as JupyterHub does (our templates over JupyterHub's own), with
    the namespace the hub gives it."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    from bif_lib.platform.hubconfig import TEMPLATES_DIR

    base = str(Path(DATA_FILES_PATH) / "templates")
    jinja = Environment(loader=ChoiceLoader([PrefixLoader({"templates": FileSystemLoader([base])}, "/"),
                                             FileSystemLoader([str(TEMPLATES_DIR), base])]), autoescape=True)

    def render(person, template_vars: dict) -> str:
        spawner = SimpleNamespace(name="", display_name="", ready=False, active=False, pending=None,
                                  last_activity=None, options_form=None)
        person = SimpleNamespace(**vars(person), json_escaped_name="mmeier", escaped_name="mmeier", spawner=spawner,
                                 url="/user/mmeier/", all_spawners=lambda include_default=False: [],
                                 server_url=lambda server_name="": "/user/mmeier/")
        scopes = {"servers!user=mmeier", "access:services!service=bif-apps"}
        namespace = dict(base_url="/hub/", prefix="/", user=person, login_url="/hub/login", login_service="",
                         logout_url="/hub/logout", static_url=lambda path, include_version=True: f"/hub/static/{path}",
                         version_hash="", services=[], parsed_scopes=scopes, expanded_scopes=scopes, xsrf="x",
                         xsrf_token="x", default_server=spawner, url="/hub/spawn/mmeier", announcement=None,
                         admin_access=False, no_spawner_check=True, allow_named_servers=False,
                         named_server_limit_per_user=0, server_version="6.1.1", api_page_limit=50)
        # what JupyterHub's BaseHandler.template_namespace does with template_vars: callables get the user
        namespace.update({k: v(person) if callable(v) else v for k, v in template_vars.items()})
        return jinja.get_template("home.html").render(**namespace)

    return render


def test_the_start_page_shows_the_open_notices_escaped(env, render_home):
    from bif_lib.platform.hubconfig import configure

    put_notices(env.home)
    template_vars = _template_vars(env, configure)

    page = render_home(user("analysts"), template_vars)
    assert 'id="bif-schedule-notices"' in page and "Datenaktualisierung fehlgeschlagen" in page
    assert "Titel einwohner_stadtteile</strong> (einwohner_stadtteile), 29.03.2026 05:00, Datei abc-datei.csv" in page
    assert "„einwohner_stadtteile“ abgelehnt: 2 Fehler" in page and "… und 2 weitere" in page
    assert "&lt;b&gt;2&lt;/b&gt;" in page and "<b>2</b>" not in page  # values from data files are escaped
    assert "bif schedule run DATENSATZ" in page

    planner = render_home(user("planners"), template_vars)
    assert 'id="bif-schedule-notices"' not in planner and "Datenaktualisierung" not in planner, planner


def _template_vars(env, configure) -> dict:
    """``c.JupyterHub.template_vars`` as ``hubconfig.configure`` sets it for these settings."""
    from traitlets.config import Config

    c = Config()
    configure(c, env.settings)
    return dict(c.JupyterHub.template_vars)
