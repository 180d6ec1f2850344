"""The course's check helper (bif_lib/training/exercises.py): every exercise accepts a right
answer (computed here from the bootstrapped data) and rejects wrong ones with a German hint and
no traceback; the results file's semantics; and ``read_results`` against a hostile participant."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bif_lib.i18n import format_number
from bif_lib.training import COURSE, Exercise, check, pruefe, read_results, results_path, summary
from bif_lib.training import exercises as ex

IDS = [e.id for e in COURSE]


# --- the data the answers are computed from -------------------------------------------------------

class Data:
    """What a participant would have loaded, from the bootstrapped store."""

    def __init__(self):
        import bif_lib as bif

        self.bif = bif
        self.einwohner = bif.load("einwohner_stadtteile")
        self.stadtteile = bif.load("stadtteile")
        self.kitas = bif.load("kitas")
        self.year = int(self.einwohner["year"].max())
        self.first_year = int(self.einwohner["year"].min())
        latest = self.einwohner[self.einwohner["year"] == self.year]
        self.latest = latest
        self.table = latest.merge(self.stadtteile[["district_id", "name"]], on="district_id")
        self.by_name = {str(n): int(r) for n, r in zip(self.table["name"], self.table["residents"])}
        self.names = sorted(self.by_name)
        self.catalog = bif.list_datasets()


@pytest.fixture
def data(flensburg_store):
    return Data()


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    """The results file of this test, in the standard layout below a home of its own."""
    path = tmp_path / "home" / ".bif" / "schulung" / "ergebnisse.json"
    monkeypatch.setenv("BIF_TRAINING_RESULTS", str(path))
    return path


def _bar_chart(labels, values, title="Einwohnerinnen und Einwohner", horizontal=False):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    (ax.barh if horizontal else ax.bar)(labels, values)
    if title:
        ax.set_title(title)
    return ax


def _text_function(data, formatted=True):
    def einwohner_text(name):
        value = data.by_name[name]
        return f"{name}: {format_number(value) if formatted else value} Einwohnerinnen und Einwohner"
    return einwohner_text


def _app(data, *, observe=True, with_text=True):
    import ipywidgets as widgets

    dropdown = widgets.Dropdown(options=data.names)
    text_function = _text_function(data)
    shown = widgets.HTML(text_function(dropdown.value))
    if observe:
        dropdown.observe(lambda change: setattr(shown, "value", text_function(change["new"])), names="value")
    return widgets.VBox([dropdown, shown] if with_text else [dropdown])


def _contract_unit(data):
    fields = data.bif.describe("kitas").fields()
    return fields.loc[fields["Feld"] == "childcare_places", "Einheit"].iloc[0]


CORRECT = {
    "1.1": lambda d: round(682 / 4213 * 100, 1),
    "1.2": lambda d: "1.234.567,89",
    "2.1": lambda d: d.bif.load("kitas"),
    "2.2": _contract_unit,
    "2.3": lambda d: d.kitas["childcare_places"].sum(),
    "3.1": lambda d: d.table.loc[d.table["residents"].idxmax(), "name"],
    "3.2": lambda d: d.stadtteile.merge(d.latest, on="district_id"),
    "3.3": lambda d: _bar_chart(list(d.table["name"]), list(d.table["residents"]), horizontal=True),
    "4.1": lambda d: __import__("ipywidgets").Dropdown(options=d.names),
    "4.2": lambda d: _text_function(d),
    "4.3": lambda d: _app(d),
    "5.1": lambda d: "internal",
    "5.2": lambda d: "B",
    "5.3": lambda d: d.catalog.loc[d.catalog["classification"] == "open", "dataset"].tolist(),
}


def _smallest(d):
    return d.table.loc[d.table["residents"].idxmin(), "name"]


def _raising(name):
    raise KeyError(name)


WRONG = {
    "1.1": lambda d: [682 / 4213, 16, "16,2", None],
    "1.2": lambda d: [1234567.891, "1,234,567.89", "1.234.568", "1234567,891"],
    "2.1": lambda d: [3, d.einwohner, d.kitas.head()],
    "2.2": lambda d: ["Betreuungsplätze", "Gruppen", "childcare_places", 5],
    "2.3": lambda d: [len(d.kitas), str(d.kitas["childcare_places"].sum()), d.kitas["childcare_places"],
                      d.kitas["groups_total"].sum()],
    "3.1": lambda d: [_smallest(d), "Atlantis", int(d.table.loc[d.table["residents"].idxmax(), "district_id"]),
                      d.table],
    "3.2": lambda d: [d.stadtteile.merge(d.einwohner, on="district_id"),
                      pd.DataFrame(d.latest.merge(d.stadtteile[["district_id", "name"]], on="district_id")),
                      d.stadtteile.merge(d.einwohner[d.einwohner["year"] == d.first_year], on="district_id"),
                      d.stadtteile.merge(d.latest, on="district_id").to_crs(4326),
                      d.stadtteile],
    "3.3": lambda d: [_bar_chart(list(d.table["name"]), list(d.table["residents"]), title=""),
                      _bar_chart(list(range(len(d.einwohner))), list(d.einwohner["residents"])),
                      _bar_chart(list(d.table["name"]), list(d.table["residents"] + 1000)),
                      d.table["residents"].sum()],
    "4.1": lambda d: [__import__("ipywidgets").Dropdown(options=d.names[1:]), d.names,
                      __import__("ipywidgets").Dropdown(options=d.names + d.names[:1]),
                      __import__("ipywidgets").Dropdown(options=[*d.names, "Atlantis"])],
    "4.2": lambda d: [lambda name: None, _text_function(d, formatted=False), _raising, "einwohner_text",
                      lambda name: name],
    "4.3": lambda d: [_app(d, observe=False), _app(d, with_text=False),
                      __import__("ipywidgets").Dropdown(options=d.names)],
    "5.1": lambda d: ["open", "confidential", "geheim", 2],
    "5.2": lambda d: ["A", "c", "D", "E", 2],
    "5.3": lambda d: [d.catalog["dataset"].tolist(),
                      d.catalog.loc[d.catalog["classification"] == "open", "dataset"].tolist()[1:],
                      "kitas", ["kitas", "gibt_es_nicht"]],
}

# answers that must never appear in a hint to a wrong answer
SECRETS = {
    "1.1": lambda d: ["16,2", "16.2"],
    "2.3": lambda d: [format_number(d.kitas["childcare_places"].sum())],
    "3.1": lambda d: [d.table.loc[d.table["residents"].idxmax(), "name"]],
    "5.1": lambda d: ["„intern“"],
}


def test_every_exercise_has_answers_here():
    assert set(CORRECT) == set(WRONG) == set(IDS)
    assert 12 <= len(COURSE) <= 15
    assert {e.notebook for e in COURSE} == {1, 2, 3, 4, 5}
    for number in range(1, 6):
        assert 2 <= len([e for e in COURSE if e.notebook == number]) <= 3


def test_the_registry():
    assert all(isinstance(e, Exercise) for e in COURSE)
    assert IDS == sorted(IDS, key=lambda i: tuple(map(int, i.split("."))))
    assert all(e.id.startswith(f"{e.notebook}.") and e.title.strip() for e in COURSE)
    assert check is pruefe
    with pytest.raises(dataclasses.FrozenInstanceError):
        COURSE[0].title = "anders"  # type: ignore[misc]


@pytest.mark.parametrize("exercise_id", IDS)
def test_a_right_answer_passes(exercise_id, data, results, capsys):
    assert pruefe(exercise_id, CORRECT[exercise_id](data)) is True
    out = capsys.readouterr().out
    assert f"Aufgabe {exercise_id}" in out and "Richtig!" in out
    assert read_results(results.parents[2])[exercise_id]["passed"] is True


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrong_answers_fail_with_a_hint(exercise_id, data, results, capsys):
    secrets = SECRETS.get(exercise_id, lambda d: [])(data)
    wrong = WRONG[exercise_id](data)
    assert wrong
    for answer in wrong:
        assert pruefe(exercise_id, answer) is False, repr(answer)[:200]
        out = capsys.readouterr().out
        assert "Noch nicht ganz." in out and "Richtig!" not in out
        assert "Traceback" not in out
        assert "ließ sich nicht prüfen" not in out, f"no specific hint for {answer!r:.200}"
        for secret in secrets:
            assert secret not in out, f"the hint gives the solution away: {out}"
    entry = read_results(results.parents[2])[exercise_id]
    assert entry == {"passed": False, "attempts": len(wrong), "first_passed": None, "last": entry["last"]}


ODD_ANSWERS = [object(), lambda: 1, float("nan"), pd.NA, np.array([1, 2]), {"a": 1}, b"bytes", type]


@pytest.mark.parametrize("exercise_id", IDS)
def test_odd_answers_never_raise(exercise_id, data, results, capsys):
    for answer in ODD_ANSWERS:
        assert pruefe(exercise_id, answer) is False
    out = capsys.readouterr().out
    assert "Traceback" not in out and "Richtig!" not in out


def test_a_wrong_type_is_named_in_german(data, results, capsys):
    assert pruefe("2.1", 3) is False
    assert "Erwartet wird eine Tabelle (DataFrame), nicht eine Zahl." in capsys.readouterr().out
    assert pruefe("3.1", ["a"]) is False
    assert "nicht eine Liste" in capsys.readouterr().out


def test_no_answer_yet_is_not_an_attempt(results, capsys):
    for exercise_id in IDS:
        assert pruefe(exercise_id, ...) is False
    out = capsys.readouterr().out
    assert out.count("Noch keine Antwort eingetragen") == len(IDS)
    assert not results.exists()


def test_an_unknown_exercise_is_a_german_value_error(results):
    with pytest.raises(ValueError, match="Unbekannte Aufgabe „9.9“. Gültige Aufgaben: 1.1, 1.2, 2.1"):
        pruefe("9.9", 1)
    with pytest.raises(ValueError, match=r'Anführungszeichen angeben: pruefe\("2.1", antwort\)'):
        pruefe(2.1, 1)
    assert not results.exists()


def test_the_checks_take_the_city_from_the_data():
    """No Stadtteil name or city name in the checks' code: they compare with what they load."""
    source = Path(ex.__file__).read_text(encoding="utf-8")
    for name in ("Flensburg", "Mürwik", "Altstadt", "Weiche", "Engelsby"):
        assert name not in source


def test_feedback_is_html_in_a_notebook(monkeypatch, results):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    assert pruefe("5.2", "B") is True
    assert pruefe("5.2", "<script>") is False
    (right, raw), (hint, _) = shown
    assert raw and "Richtig!" in right["text/html"] and "#1e7b34" in right["text/html"]
    assert "Aufgabe 5.2 – Wer Tabellen aus Personendaten freigibt" in right["text/plain"]
    assert "Noch nicht ganz." in hint["text/html"] and "<script>" not in hint["text/html"]


def test_a_check_that_cannot_load_its_data_records_nothing(tmp_path, monkeypatch, results, capsys):
    monkeypatch.setenv("BIF_HOME", str(tmp_path / "leer"))
    monkeypatch.delenv("BIF_STORE", raising=False)
    assert pruefe("2.3", 5) is False
    out = capsys.readouterr().out
    assert "Prüfung gerade nicht möglich." in out and "Schulungsleitung" in out
    assert not results.exists()


# --- the results file ------------------------------------------------------------------------------

def test_results_path(tmp_path, monkeypatch):
    monkeypatch.delenv("BIF_TRAINING_RESULTS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert results_path() == tmp_path / ".bif" / "schulung" / "ergebnisse.json"
    assert results_path(Path("/home/kurs-01")) == Path("/home/kurs-01/.bif/schulung/ergebnisse.json")
    monkeypatch.setenv("BIF_TRAINING_RESULTS", str(tmp_path / "x.json"))
    assert results_path() == tmp_path / "x.json"
    assert results_path(Path("/home/kurs-01")) == Path("/home/kurs-01/.bif/schulung/ergebnisse.json")


def test_passed_stays_passed_and_attempts_count(results):
    assert pruefe("5.2", "A") is False
    assert pruefe("5.2", "B") is True
    first = json.loads(results.read_text())["exercises"]["5.2"]["first_passed"]
    time.sleep(1.1)
    assert pruefe("5.2", "C") is False
    saved = json.loads(results.read_text())
    assert saved["version"] == 1
    entry = saved["exercises"]["5.2"]
    assert entry["passed"] is True and entry["attempts"] == 3
    assert entry["first_passed"] == first and entry["last"] > first
    assert entry["last"].endswith("+00:00")
    assert read_results(results.parents[2]) == {"5.2": entry}


def test_the_file_is_private(results):
    assert pruefe("5.1", "internal") is True
    assert stat.S_IMODE(results.stat().st_mode) == 0o600
    assert stat.S_IMODE(results.parent.stat().st_mode) == 0o700  # schulung
    assert stat.S_IMODE(results.parent.parent.stat().st_mode) == 0o700  # .bif


def test_an_existing_course_folder_is_made_private(results):
    results.parent.mkdir(parents=True, mode=0o755)
    os.chmod(results.parent, 0o755)
    pruefe("5.1", "internal")
    assert stat.S_IMODE(results.parent.stat().st_mode) == 0o700


def test_the_file_is_replaced_atomically(results, monkeypatch):
    pruefe("5.1", "internal")
    before_inode, before = results.stat().st_ino, results.read_bytes()
    pruefe("5.2", "B")
    assert results.stat().st_ino != before_inode  # a new file renamed over the old one
    assert sorted(p.name for p in results.parent.iterdir()) == ["ergebnisse.json"]

    before = results.read_bytes()
    from bif_lib import fsutil

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "replace", broken_replace)
    assert pruefe("5.3", "kitas") is False  # feedback still works
    assert results.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in results.parent.iterdir()) == ["ergebnisse.json"]  # no temporary left


def test_a_symlink_at_the_file_is_replaced_not_followed(results, tmp_path):
    results.parent.mkdir(parents=True)
    victim = tmp_path / "fremd.txt"
    victim.write_text("bleibt")
    results.symlink_to(victim)
    assert pruefe("5.2", "B") is True
    assert victim.read_text() == "bleibt"
    assert not results.is_symlink() and read_results(results.parents[2])["5.2"]["passed"] is True


def test_a_damaged_file_is_started_anew(results):
    results.parent.mkdir(parents=True)
    results.write_text("{kaputt")
    assert pruefe("5.2", "B") is True
    assert list(read_results(results.parents[2])) == ["5.2"]


def test_an_unwritable_home_only_logs_a_warning(tmp_path, monkeypatch, caplog, capsys):
    blocker = tmp_path / "datei"
    blocker.write_text("kein Ordner")
    monkeypatch.setenv("BIF_TRAINING_RESULTS", str(blocker / ".bif" / "schulung" / "ergebnisse.json"))
    with caplog.at_level(logging.WARNING, logger="bif_lib.training.exercises"):
        assert pruefe("5.2", "B") is True
    assert "Richtig!" in capsys.readouterr().out
    assert any("nicht gespeichert" in r.getMessage() for r in caplog.records)


def test_two_writers_lose_no_attempt(results):
    def attempts(exercise_id):
        for _ in range(10):
            ex.record(exercise_id, False)

    threads = [threading.Thread(target=attempts, args=(i,)) for i in ("5.1", "5.2", "5.3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = read_results(results.parents[2])
    assert {i: saved[i]["attempts"] for i in saved} == {"5.1": 10, "5.2": 10, "5.3": 10}


# --- read_results against a hostile participant --------------------------------------------------------

VALID = {"version": 1, "exercises": {
    "1.1": {"passed": True, "attempts": 2, "first_passed": "2026-12-05T09:00:00+00:00",
            "last": "2026-12-05T09:01:00+00:00"},
    "2.1": {"passed": False, "attempts": 1, "first_passed": None, "last": "2026-12-05T09:02:00+00:00"},
}}


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "kurs-01"
    (home / ".bif" / "schulung").mkdir(parents=True)
    return home


def _file(home: Path) -> Path:
    return home / ".bif" / "schulung" / "ergebnisse.json"


def test_read_results_reads_a_valid_file(home):
    _file(home).write_text(json.dumps(VALID))
    assert read_results(home) == VALID["exercises"]
    assert summary(read_results(home)) == {"passed": ["1.1"], "failed": ["2.1"],
                                          "open": [i for i in IDS if i not in ("1.1", "2.1")]}


def test_a_symlink_to_a_secret_is_not_followed(home, tmp_path):
    _file(home).symlink_to("/etc/shadow")
    assert read_results(home) == {}
    elsewhere = tmp_path / "woanders.json"
    elsewhere.write_text(json.dumps(VALID))  # even a valid file is not read through a link
    _file(home).unlink()
    _file(home).symlink_to(elsewhere)
    assert read_results(home) == {}


@pytest.mark.parametrize("linked", [".bif", "schulung"])
def test_linked_folders_are_not_followed(home, tmp_path, linked):
    real = tmp_path / "echt" / ".bif" / "schulung"
    real.mkdir(parents=True)
    (real / "ergebnisse.json").write_text(json.dumps(VALID))
    if linked == ".bif":
        (home / ".bif" / "schulung").rmdir()
        (home / ".bif").rmdir()
        (home / ".bif").symlink_to(real.parent)
    else:
        (home / ".bif" / "schulung").rmdir()
        (home / ".bif" / "schulung").symlink_to(real)
    assert read_results(home) == {}


@pytest.mark.timeout(20)
def test_a_fifo_never_blocks(home):
    os.mkfifo(_file(home))
    started = time.monotonic()
    assert read_results(home) == {}
    assert time.monotonic() - started < 5


def test_a_large_file_is_not_read(home):
    content = json.dumps(VALID).encode()
    _file(home).write_bytes(content + b" " * (10 * 1024 * 1024))  # valid JSON, 10 MB
    assert read_results(home) == {}
    _file(home).write_bytes(content + b" " * (64 * 1024 - len(content)))  # exactly 64 KiB: still read
    assert read_results(home) == VALID["exercises"]


def test_a_hard_link_is_not_read(home, tmp_path):
    _file(home).write_text(json.dumps(VALID))
    os.link(_file(home), tmp_path / "zweiter_name")
    assert read_results(home) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_file_of_another_owner_is_not_read(home):
    _file(home).write_text(json.dumps(VALID))
    os.chown(_file(home), 65534, 65534)
    assert read_results(home) == {}


@pytest.mark.parametrize("content", [
    b"", b"{kaputt", b"\xff\xfe\x00", b"[]", b"null", b'"text"', b"1e999",
    b"[" * 30_000 + b"]" * 30_000,
    b'{"version": 2, "exercises": {}}', b'{"version": "1", "exercises": {}}', b'{"version": true, "exercises": {}}',
    b'{"version": 1, "exercises": []}', b'{"version": 1}',
    b'{"version": 1, "exercises": {"1.1": ' + b"9" * 5000 + b"}}",
], ids=lambda c: repr(c[:30]))
def test_malformed_content_gives_nothing(home, content):
    _file(home).write_bytes(content)
    assert read_results(home) == {}


def test_unknown_ids_and_wrong_types_are_dropped(home):
    good = VALID["exercises"]["1.1"]
    exercises = {
        "1.1": good,
        "99.1": good, "../1.1": good, "": good,
        "1.2": {**good, "passed": "ja"},
        "2.1": {**good, "attempts": "3"},
        "2.2": {**good, "attempts": True},
        "2.3": {**good, "attempts": -1},
        "3.1": {**good, "last": "gestern"},
        "3.2": {**good, "first_passed": 5},
        "3.3": {**good, "last": "2026-12-05T09:00:00"},  # no time zone
        "4.1": [good],
        "4.2": {**good, "last": "2" * 10_000},
        "4.3": {k: v for k, v in good.items() if k != "attempts"},
        "5.1": {**good, "extra": "wird weggelassen"},
    }
    _file(home).write_text(json.dumps({"version": 1, "exercises": exercises}))
    assert read_results(home) == {"1.1": good, "5.1": good}


@pytest.mark.parametrize("where", ["missing", "file", "file_is_dir", "no_bif"])
def test_odd_homes_give_nothing(tmp_path, home, where):
    if where == "missing":
        target = tmp_path / "gibt-es-nicht"
    elif where == "file":
        target = tmp_path / "home-datei"
        target.write_text("x")
    elif where == "file_is_dir":
        _file(home).mkdir()
        target = home
    else:
        target = tmp_path / "leer"
        target.mkdir()
    assert read_results(target) == {}


def test_summary_of_anything():
    assert summary({}) == {"passed": [], "failed": [], "open": IDS}
    assert summary(None) == {"passed": [], "failed": [], "open": IDS}  # type: ignore[arg-type]
    assert summary({"1.1": "x", "1.2": {"passed": False, "attempts": 0}, "2.1": {"passed": False, "attempts": 4},
                    "2.2": {"passed": True, "attempts": 1}}) == {
        "passed": ["2.2"], "failed": ["2.1"], "open": [i for i in IDS if i not in ("2.1", "2.2")]}
