"""The exercises of the onboarding course (``notebooks/training``) and their checks.

Every exercise is declared here, once, in course order: a small check function registered
with ``@exercise("2.1", notebook=2, title="Datensatz laden")``. A check receives the
participant's answer and either returns ``Correct(...)`` or raises ``Hint(...)`` with a
friendly German hint of what is still wrong — never the solution. Checks compare with the
data they load themselves (``bif_lib.load``); which datasets, names and labels the course uses
stands in the city profile (``training:`` and ``districts:`` in city.yaml, ``course_data``), so
nothing city-specific is hard-coded here.

In the notebook the participant calls::

    from bif_lib.training import pruefe
    antwort = ...          # the participant's solution
    pruefe("2.1", antwort)

``pruefe`` shows the feedback at once (green „Richtig!“ or the hint), records the attempt in
``~/.bif/schulung/ergebnisse.json`` (``results_path``) and returns True or False. The trainer
page reads that file as root with ``read_results`` — written for a hostile participant: no
symlinks followed, regular files of at most 64 KiB only, anything malformed gives ``{}`` — and
shows ``summary(...)``.

Results file::

    {"version": 1,
     "exercises": {"2.1": {"passed": true, "attempts": 2,
                           "first_passed": "2026-12-05T09:14:03+00:00", "last": "2026-12-05T09:14:03+00:00"}}}

An exercise once passed stays passed; every checked answer counts as an attempt. A cell run
without an answer (``antwort = ...``) is not an attempt: it only shows that nothing is filled in.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import io
import json
import logging
import math
import numbers
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bif_lib.fsutil import write_private
from bif_lib.i18n import CLASSIFICATION_LABELS, format_number

log = logging.getLogger(__name__)

RESULTS_ENV = "BIF_TRAINING_RESULTS"
RESULTS_VERSION = 1
MAX_RESULTS_BYTES = 64 * 1024
_RESULTS_DIRS = (".bif", "schulung")
_RESULTS_FILE = "ergebnisse.json"
_MAX_ATTEMPTS = 10**9
_MAX_TIMESTAMP_CHARS = 64


# --- the registry -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Correct:
    """What a check returns for a right answer; ``message`` adds a German sentence to „Richtig!“."""

    message: str = ""


class Hint(Exception):
    """A wrong answer. The German message says what is still wrong, never the solution."""


class CheckUnavailable(Exception):
    """The check could not load what it compares with (no attempt is recorded)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of the course: ``id`` "n.m" in notebook ``notebook`` (1–5), its German
    ``title`` and the ``check`` that judges an answer (returns ``Correct`` or raises ``Hint``).

    ``template`` may name the city's district level as ``{label}``/``{label_plural}``
    (``districts:`` in city.yaml); ``title`` is the text with the current profile's labels."""

    id: str
    notebook: int
    template: str
    check: Callable[[Any], Correct] = field(repr=False, compare=False)

    @property
    def title(self) -> str:
        return _with_labels(self.template)


def _labels() -> tuple[str, str]:
    """Singular and plural German name of the city's district level (fallback: Stadtteil/Stadtteile)."""
    try:
        from bif_lib.city.profile import current_profile

        districts = current_profile().districts
        return districts.label, districts.label_plural
    except Exception:  # noqa: BLE001 - a title never fails: the profile's errors show where data is loaded
        return "Stadtteil", "Stadtteile"


def _with_labels(text: str) -> str:
    label, plural = _labels()
    return text.replace("{label_plural}", plural).replace("{label}", label)


_registered: list[Exercise] = []


def exercise(exercise_id: str, *, notebook: int, title: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the check of exercise ``exercise_id`` (course order =
    order of declaration in this module)."""
    def register(check: Callable[[Any], Correct]) -> Callable[[Any], Correct]:
        if any(e.id == exercise_id for e in _registered):
            raise ValueError(f"exercise {exercise_id} registered twice")
        if exercise_id.split(".")[0] != str(notebook) or not 1 <= notebook <= 5:
            raise ValueError(f"exercise {exercise_id} does not belong to notebook {notebook}")
        _registered.append(Exercise(exercise_id, notebook, title, check))  # title: a template
        return check
    return register


# --- what answers look like ------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    """German name of what the participant handed in („eine Zahl“, „eine Tabelle (DataFrame)“)."""
    import numpy as np
    import pandas as pd

    if value is None:
        return "None (kein Wert)"
    if isinstance(value, (bool, np.bool_)):
        return "ein Wahrheitswert (True/False)"
    if isinstance(value, numbers.Number):
        return "eine Zahl"
    if isinstance(value, str):
        return "ein Text"
    if value is pd.NA or value is pd.NaT:
        return "ein fehlender Wert"
    geopandas = sys.modules.get("geopandas")
    if geopandas is not None and isinstance(value, geopandas.GeoDataFrame):
        return "eine Karten-Tabelle (GeoDataFrame)"
    if isinstance(value, pd.DataFrame):
        return "eine Tabelle (DataFrame)"
    if isinstance(value, pd.Series):
        return "eine Spalte (Series)"
    if isinstance(value, pd.Index):
        return "eine Werteliste (Index)"
    if isinstance(value, list):
        return "eine Liste"
    if isinstance(value, tuple):
        return "ein Tupel"
    if isinstance(value, (set, frozenset)):
        return "eine Menge (set)"
    if isinstance(value, dict):
        return "ein Wörterbuch (dict)"
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None and isinstance(value, widgets.Widget):
        return f"ein Widget ({type(value).__name__})"
    axes = sys.modules.get("matplotlib.axes")
    if axes is not None and isinstance(value, axes.Axes):
        return "ein Diagramm (Axes)"
    figure = sys.modules.get("matplotlib.figure")
    if figure is not None and isinstance(value, figure.Figure):
        return "eine Abbildung (Figure)"
    if callable(value):
        return "eine Funktion"
    return f"ein Objekt vom Typ {type(value).__name__}"


def _wrong_type(expected: str, answer: Any) -> Hint:
    return Hint(f"Erwartet wird {expected}, nicht {_kind(answer)}.")


def _number(answer: Any) -> float:
    import numpy as np
    import pandas as pd

    if isinstance(answer, (bool, np.bool_)):
        raise _wrong_type("eine Zahl", answer)
    if isinstance(answer, np.ndarray) and answer.ndim == 0:
        answer = answer.item()
    if isinstance(answer, numbers.Real):
        value = float(answer)
        if math.isnan(value):
            raise Hint("Ihre Antwort ist „keine Zahl“ (NaN) – vermutlich fehlen Werte in der Rechnung.")
        return value
    if isinstance(answer, str):
        raise Hint("Sie haben einen Text eingegeben (in Anführungszeichen). Schreiben Sie Zahlen in Python "
                   "ohne Anführungszeichen und mit Punkt statt Komma, z. B. 12.5.")
    if isinstance(answer, (pd.Series, pd.DataFrame)) and answer.size == 1:
        raise Hint(f"Ihre Antwort ist {_kind(answer)} mit einem Wert – gefragt ist der Wert selbst "
                   "(z. B. mit .iloc[0] oder .sum()).")
    raise _wrong_type("eine Zahl", answer)


def _text(answer: Any, expected: str = "ein Text (in Anführungszeichen)") -> str:
    if not isinstance(answer, str):
        raise _wrong_type(expected, answer)
    if not answer.strip():
        raise Hint("Ihr Text ist leer – schreiben Sie die Antwort zwischen die Anführungszeichen.")
    return answer


_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _same_text(a: str, b: str) -> bool:
    """Equal up to case, surrounding blanks, quotes, a final full stop and ä/ae spellings."""
    def norm(text: str) -> str:
        text = " ".join(str(text).split()).strip(" \"'„“”‚‘’`").rstrip(".").casefold()
        return text.translate(_TRANSLITERATION)
    return norm(a) == norm(b)


def _close(a: float, b: float, tolerance: float = 1e-6) -> bool:
    return abs(a - b) <= tolerance


def _frame(answer: Any):
    import pandas as pd

    if not isinstance(answer, pd.DataFrame):
        raise _wrong_type("eine Tabelle (DataFrame)", answer)
    return answer


# --- the data the checks compare with ------------------------------------------------------------------

def _load(dataset: str):
    from bif_lib.api import load

    try:
        return load(dataset)
    except Exception as e:  # the participant gets the reason in German
        raise CheckUnavailable(f"Die Prüfung konnte den Datensatz „{dataset}“ nicht laden ({e}). "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.") from e


def _contract(dataset: str) -> dict:
    from bif_lib.api import describe

    try:
        return describe(dataset).contract
    except Exception as e:
        raise CheckUnavailable(f"Die Prüfung konnte den Datenvertrag von „{dataset}“ nicht lesen ({e}). "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.") from e


RESIDENTS = "residents"  # the residents column as the notebooks and the answers name it


@dataclass(frozen=True)
class CourseData:
    """What the course works with in the current city: the ``training:`` section of its city.yaml
    and its ``districts:`` (names, labels, boundaries). See docs/training.md, "The course".

    ``residents``/``value``: dataset with residents per year and district (columns ``year``,
    ``district_id`` and ``value``); ``example``: the dataset of notebook 2 (``what`` says in
    German what it holds, ``search`` is a search word that finds it, ``value`` the column whose
    unit and sum are asked, ``year_column``: if set, the sum is asked for the newest year only).
    ``boundaries`` is None in a city without district polygons: the map parts of notebook 3 are
    skipped and exercise 3.2 joins the names instead of the areas (``has_map``).
    """

    residents: str
    value: str
    names: dict[int, str]
    label: str
    label_plural: str
    boundaries: str | None
    example: str
    example_value: str
    example_what: str
    example_search: str = ""
    example_year_column: str | None = None

    @property
    def has_map(self) -> bool:
        return self.boundaries is not None

    def districts(self):
        """The districts as a table (``district_id``, ``name``) in the profile's order."""
        import pandas as pd

        return pd.DataFrame({"district_id": list(self.names), "name": list(self.names.values())})

    def load_residents(self):
        """The residents dataset as the notebooks use it: columns ``year``, ``district_id`` and
        ``residents`` (the profile's ``value`` column under the course's name)."""
        from bif_lib.api import load

        frame = load(self.residents)
        return frame.rename(columns={self.value: RESIDENTS}) if self.value != RESIDENTS else frame

    def load_districts(self):
        """The districts for the notebooks: with boundaries a GeoDataFrame (``district_id``, ``name``,
        ``geometry``; names from the profile), without a DataFrame (``district_id``, ``name``)."""
        if not self.has_map:
            return self.districts()
        from bif_lib.api import load

        areas = load(self.boundaries)
        return areas[["district_id", areas.geometry.name]].merge(self.districts(), on="district_id")

    def example_task(self) -> str:
        """The German text of the notebook-2 exercises' dataset, for the notebook."""
        year = " im neuesten Jahr" if self.example_year_column else ""
        return (f"Gesucht ist der Datensatz mit {self.example_what}. In den Aufgaben 2.2 und 2.3 geht es um "
                f"sein Feld {self.example_value} (Aufgabe 2.3: die Summe über alle Zeilen{year}).")


def course_data(profile=None) -> CourseData:
    """The course's data of ``profile`` (default: the current city's, ``BIF_CITY``).

    A missing or incomplete ``training:`` section is a German ``ValueError`` naming city.yaml and
    the key."""
    if profile is None:
        from bif_lib.city.profile import current_profile

        profile = current_profile()
    where = f"{profile.directory / 'city.yaml'}, Abschnitt training"
    spec = profile.settings.get("training")
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: fehlt – das Stadtprofil nennt nicht, mit welchen Daten die Schulung arbeitet "  # noqa: TRY004
                         "(docs/training.md).")

    def part(key: str, required: tuple[str, ...]) -> dict:
        value = spec.get(key)
        if not isinstance(value, dict):
            raise ValueError(f"{where}: Pflichtangabe „{key}“ fehlt.")  # noqa: TRY004 - a profile error
        for name in required:
            if not isinstance(value.get(name), str) or not value[name].strip():
                raise ValueError(f"{where}: Pflichtangabe „{key}.{name}“ fehlt.")
        return value

    residents = part("residents", ("dataset", "value"))
    example = part("example", ("dataset", "value", "what"))
    districts = profile.districts
    return CourseData(residents=residents["dataset"], value=residents["value"], names=dict(districts.names),
                      label=districts.label, label_plural=districts.label_plural, boundaries=districts.boundaries,
                      example=example["dataset"], example_value=example["value"], example_what=example["what"],
                      example_search=str(example.get("search") or ""),
                      example_year_column=example.get("year_column"))


kursdaten = course_data  # German name for the notebooks


def _course() -> CourseData:
    try:
        return course_data()
    except Exception as e:
        raise CheckUnavailable(f"Die Prüfung kennt die Daten der Schulung nicht ({e}). "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.") from e


def _residents_by_year() -> dict[int, dict[int, int]]:
    """{year: {district_id: residents}} from the course's residents dataset."""
    course = _course()
    frame = _load(course.residents).dropna(subset=["year", "district_id", course.value])
    years: dict[int, dict[int, int]] = {}
    for year, district, residents in zip(frame["year"], frame["district_id"], frame[course.value]):
        years.setdefault(int(year), {})[int(district)] = int(residents)
    if not years:
        raise CheckUnavailable(f"Der Datensatz „{course.residents}“ ist leer. "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.")
    return years


def _district_names() -> dict[int, str]:
    """{district_id: name} of the city's districts (``districts.codes`` of the profile)."""
    return dict(_course().names)


# --- notebook 1: Jupyter basics --------------------------------------------------------------------------

# the numbers of exercises 1.1 and 1.2 stand in the notebook's exercise cells
SHARE_TOTAL = 4213
SHARE_PART = 682
NUMBER_TO_FORMAT = 1234567.891


@exercise("1.1", notebook=1, title="Anteil in Prozent")
def _share_in_percent(answer: Any) -> Correct:
    value = _number(answer)
    share = SHARE_PART / SHARE_TOTAL * 100
    if abs(value - share) <= 0.051:
        return Correct(f"{format_number(value, 1)} % sind unter 18 Jahre alt.")
    if abs(value - share / 100) <= 0.0006:
        raise Hint("Das ist der Anteil als Dezimalzahl zwischen 0 und 1. Gefragt ist der Anteil in Prozent.")
    if abs(value - SHARE_TOTAL / SHARE_PART) <= 0.051 or abs(value - SHARE_TOTAL / SHARE_PART * 100) <= 5:
        raise Hint("Sie haben andersherum geteilt: Der Teil (unter 18) gehört nach oben, die Gesamtzahl nach unten.")
    if abs(value - round(share)) < 1e-9:
        raise Hint("Fast – bitte auf eine Nachkommastelle runden, nicht auf eine ganze Zahl.")
    raise Hint("Das stimmt noch nicht. Ein Anteil in Prozent ist: Teil geteilt durch die Gesamtzahl, mal 100.")


@exercise("1.2", notebook=1, title="Zahl deutsch schreiben")
def _german_number(answer: Any) -> Correct:
    if isinstance(answer, numbers.Number):
        raise Hint("Erwartet wird ein Text, nicht eine Zahl: format_number liefert die Zahl als Text.")
    text = _text(answer).strip()
    if text == format_number(NUMBER_TO_FORMAT, 2):
        return Correct("So schreiben deutsche Berichte Zahlen: Punkt für Tausender, Komma für Dezimalen.")
    if text == f"{NUMBER_TO_FORMAT:,.2f}" or text == f"{NUMBER_TO_FORMAT:.2f}":
        raise Hint("Das ist die englische Schreibweise (Punkt für Dezimalen). Verwenden Sie format_number.")
    if text == format_number(NUMBER_TO_FORMAT):
        raise Hint("Es fehlen die zwei Nachkommastellen: format_number nimmt die Anzahl der "
                   "Nachkommastellen als zweite Angabe.")
    digits = format_number(NUMBER_TO_FORMAT, None).replace(".", "").replace(",", "")
    if text.replace(".", "").replace(",", "") == digits:
        raise Hint("Bitte mit genau zwei Nachkommastellen.")
    raise Hint("Das ist noch nicht die Zahl aus der Aufgabe in deutscher Schreibweise mit zwei Nachkommastellen. "
               "Schauen Sie sich das Beispiel mit format_number oben noch einmal an.")


# --- notebook 2: loading verified data, reading a data contract ----------------------------------------

def _example_rows(reference):
    """The rows exercise 2.3 adds up: all, or those of the newest year (``example.year_column``)."""
    column = _course().example_year_column
    if column and column in reference.columns and reference[column].notna().any():
        return reference[reference[column] == reference[column].max()], int(reference[column].max())
    return reference, None


@exercise("2.1", notebook=2, title="Datensatz finden und laden")
def _load_example(answer: Any) -> Correct:
    course = _course()
    frame = _frame(answer)
    meta = frame.attrs.get("bif") if isinstance(frame.attrs.get("bif"), dict) else {}
    loaded = meta.get("dataset")
    if loaded and loaded != course.example:
        tip = f" (z. B. „{course.example_search}“)" if course.example_search else ""
        raise Hint(f"Sie haben den Datensatz „{loaded}“ geladen ({meta.get('title', '')}). Gesucht ist der Datensatz "
                   f"mit {course.example_what} – suchen Sie mit bif.search(...) nach einem passenden Stichwort{tip}.")
    reference = _load(course.example)
    missing = [c for c in reference.columns if c not in frame.columns]
    if len(frame) != len(reference) or missing:
        raise Hint(f"Ihre Tabelle hat {format_number(len(frame))} Zeilen und {format_number(frame.shape[1])} "
                   f"Spalten, der gesuchte Datensatz {format_number(len(reference))} Zeilen und "
                   f"{format_number(reference.shape[1])} Spalten. Laden Sie ihn vollständig mit bif.load(...).")
    return Correct(f"Sie haben den Datensatz mit {course.example_what} geladen: {format_number(len(reference))} "
                   f"Zeilen (Version {reference.attrs['bif']['version']}).")


@exercise("2.2", notebook=2, title="Einheit im Datenvertrag")
def _unit_from_contract(answer: Any) -> Correct:
    course = _course()
    value = course.example_value
    text = _text(answer)
    fields = {f["name"]: f for f in _contract(course.example)["schema"]["fields"]}
    if value not in fields or not fields[value].get("unit"):
        raise CheckUnavailable(f"Der Datenvertrag von „{course.example}“ nennt keine Einheit für {value}. "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.")
    field_ = fields[value]
    if _same_text(text, field_["unit"]):
        return Correct(f"Die Spalte {value} zählt „{field_['unit']}“.")
    if field_.get("title") and _same_text(text, field_["title"]):
        raise Hint("Das ist der Titel des Feldes. Gesucht ist die Angabe in der Spalte „Einheit“.")
    if _same_text(text, value):
        raise Hint("Das ist der Name des Feldes. Gesucht ist die Angabe in der Spalte „Einheit“.")
    other_units = {f.get("unit") for name, f in fields.items() if name != value and f.get("unit")}
    if any(_same_text(text, unit) for unit in other_units):
        raise Hint(f"Das ist die Einheit eines anderen Feldes. Gesucht ist die Einheit von {value}.")
    raise Hint(f"Das steht so nicht im Datenvertrag. Schauen Sie in die Feldliste (….fields()), Zeile "
               f"{value}, Spalte „Einheit“.")


@exercise("2.3", notebook=2, title="Eine Spalte zusammenzählen")
def _sum_of_column(answer: Any) -> Correct:
    import pandas as pd

    course = _course()
    value_column = course.example_value
    answer_value = _number(answer)
    reference = _load(course.example)
    rows, year = _example_rows(reference)
    values = rows[value_column].dropna()
    total = float(values.sum())
    in_year = f" im Jahr {year}" if year is not None else ""
    if _close(answer_value, total):
        return Correct(f"Die Spalte {value_column} ergibt{in_year} zusammen {format_number(total)} "
                       f"({format_number(len(rows))} Zeilen).")
    if year is not None and _close(answer_value, float(reference[value_column].dropna().sum())):
        raise Hint("Das ist die Summe über alle Jahre. Gefragt ist nur das neueste Jahr.")
    if _close(answer_value, len(rows)) or _close(answer_value, len(values)) or _close(answer_value, len(reference)):
        raise Hint(f"Sie haben die Zeilen gezählt. Gesucht ist die Summe der Spalte {value_column}.")
    if _close(answer_value, float(values.max())):
        raise Hint("Das ist der größte Einzelwert. Gesucht ist die Summe über alle Zeilen.")
    if _close(answer_value, float(values.mean()), 0.01):
        raise Hint("Das ist der Durchschnitt je Zeile. Gesucht ist die Summe über alle Zeilen.")
    for other in rows.columns:
        if other != value_column and pd.api.types.is_numeric_dtype(rows[other]) \
                and not pd.api.types.is_bool_dtype(rows[other]) \
                and _close(answer_value, float(rows[other].dropna().sum())):
            raise Hint(f"Das ist die Summe der Spalte {other}. Gesucht ist die Spalte {value_column}.")
    raise Hint(f"Das ist noch nicht die Summe der Spalte {value_column}{' im neuesten Jahr' if year else ''}.")


# --- notebook 3: a district map and a chart --------------------------------------------------------------

@exercise("3.1", notebook=3, title="{label} mit den meisten Einwohnern")
def _largest_district(answer: Any) -> Correct:
    course = _course()
    label, plural = course.label, course.label_plural
    years = _residents_by_year()
    names = _district_names()
    year = max(years)
    latest = years[year]
    most = max(latest.values())
    winners = {d for d, r in latest.items() if r == most}
    if isinstance(answer, numbers.Integral) and not isinstance(answer, bool):
        if int(answer) in winners:
            raise Hint(f"Das ist die Nummer des richtigen Eintrags ({label}) – gefragt ist sein Name als Text.")
        raise _wrong_type(f"ein Name aus der Liste der {plural} als Text", answer)
    text = _text(answer, f"ein Name aus der Liste der {plural} als Text")
    matched = [d for d, n in names.items() if _same_text(text, n)]
    if not matched:
        raise Hint(f"„{text.strip()}“ steht nicht in der Liste der {plural}. Die Namen stehen in der Tabelle "
                   "stadtteile in der Spalte name.")
    district = matched[0]
    if district in winners:
        return Correct(f"{names[district]} hatte {year} die meisten Einwohnerinnen und Einwohner "
                       f"({format_number(most)}).")
    for other_year in sorted(years, reverse=True):
        values = years[other_year]
        if other_year != year and values.get(district) == max(values.values()):
            raise Hint(f"{names[district]} hatte {other_year} die meisten Einwohnerinnen und Einwohner. "
                       "Gefragt ist das neueste Jahr.")
    raise Hint(f"{names[district]} hat im neuesten Jahr nicht die meisten Einwohnerinnen und Einwohner. "
               "Tipp: sortieren Sie mit sort_values.")


@exercise("3.2", notebook=3, title="Zahlen und {label_plural} verbinden")
def _joined_map(answer: Any) -> Correct:
    """With boundaries: a GeoDataFrame of the areas joined with the newest year's residents. A city
    without boundaries (``districts.boundaries`` absent) has no map: the same join with the table of
    names (``district_id``, ``name``) is asked instead (docs/training.md)."""
    course = _course()
    plural, value = course.label_plural, RESIDENTS
    years = _residents_by_year()
    year = max(years)
    if course.has_map:
        import geopandas as gpd

        if not isinstance(answer, gpd.GeoDataFrame):
            if isinstance(answer, _frame_types()):
                raise Hint("Ihre Tabelle hat keine Flächen mehr (kein GeoDataFrame). Stellen Sie die Flächen "
                           "(stadtteile) links: stadtteile.merge(...).")
            raise _wrong_type("eine Karten-Tabelle (GeoDataFrame)", answer)
        try:
            geometry = answer.geometry
        except AttributeError:
            raise Hint("Ihre Karten-Tabelle hat keine Flächen mehr (keine Spalte geometry).") from None
        districts = _load(course.boundaries)
        expected_rows = len(districts)
        what = "Karte"
        required = ("district_id", value)
    else:
        _frame(answer)
        geometry, districts = None, None
        expected_rows = len(course.names)
        what = "Tabelle"
        required = ("district_id", "name", value)
    for column in required:
        if column not in answer.columns:
            raise Hint(f"Die Spalte {column} fehlt in Ihrer {what}.")
    if districts is not None and (answer.crs is None or not answer.crs.equals(districts.crs)):
        raise Hint(f"Die Karte hat ein anderes Koordinatensystem als die Flächen der {plural} "
                   f"({districts.crs.to_string()}). Verbinden Sie, ohne umzuprojizieren.")
    if len(answer) != expected_rows or answer["district_id"].duplicated().any():
        if len(answer) > expected_rows:
            raise Hint(f"Ihre {what} hat {format_number(len(answer))} Zeilen, es gibt aber nur "
                       f"{format_number(expected_rows)} {plural}. Nehmen Sie nur das neueste Jahr.")
        raise Hint(f"Ihre {what} hat {format_number(len(answer))} Zeilen – erwartet wird eine Zeile je Eintrag "
                   f"der {plural} ({format_number(expected_rows)}).")
    try:
        given = {int(d): int(r) for d, r in zip(answer["district_id"], answer[value])}
    except (TypeError, ValueError):
        raise Hint(f"In der Spalte {value} fehlen Werte oder es stehen keine ganzen Zahlen darin.") from None
    if given == years[year]:
        if geometry is not None and (geometry.isna() | geometry.is_empty).any():
            raise Hint("Bei einigen Zeilen fehlt die Fläche.")
        if geometry is None:
            names = {int(d): str(n) for d, n in zip(answer["district_id"], answer["name"])}
            if any(not _same_text(names[d], n) for d, n in course.names.items() if d in names):
                raise Hint("Die Namen passen nicht zu den Nummern. Verbinden Sie über die Spalte district_id.")
        return Correct(f"Ihre {what} verbindet die {format_number(len(answer))} {plural} mit den "
                       f"Einwohnerzahlen von {year}.")
    for other_year, values in years.items():
        if given == values:
            raise Hint(f"Das sind die Einwohnerzahlen von {other_year}. Gefragt ist das neueste Jahr.")
    raise Hint(f"Die Einwohnerzahlen passen nicht zu den {plural}. Verbinden Sie über die Spalte district_id.")


def _frame_types() -> tuple[type, ...]:
    import pandas as pd

    return (pd.DataFrame, pd.Series)


def _bar_values(answer: Any) -> tuple[list[float], list[float], str]:
    """Heights, widths and title of the bars in an Axes (or in the Axes of a Figure)."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if isinstance(answer, Figure):
        axes, title = list(answer.axes), answer.get_suptitle()
    elif isinstance(answer, Axes):
        axes, title = [answer], ""
    else:
        raise _wrong_type("ein Diagramm (Axes), z. B. das Ergebnis von ….plot.bar(...)", answer)
    bars = [p for ax in axes for p in ax.patches if isinstance(p, Rectangle)]
    title = title or " ".join(ax.get_title() for ax in axes).strip()
    return [float(b.get_height()) for b in bars], [float(b.get_width()) for b in bars], title


@exercise("3.3", notebook=3, title="Balkendiagramm")
def _bar_chart(answer: Any) -> Correct:
    heights, widths, title = _bar_values(answer)
    years = _residents_by_year()
    year = max(years)
    expected = sorted(years[year].values())
    if not heights:
        raise Hint("In diesem Diagramm sind keine Balken. Zeichnen Sie es mit .plot.bar(...) oder .plot.barh(...).")
    if len(heights) != len(expected):
        raise Hint(f"Das Diagramm hat {format_number(len(heights))} Balken – erwartet wird ein Balken je "
                   f"{_labels()[0]} ({format_number(len(expected))}), nur für das neueste Jahr.")

    def shows(values: list[int]) -> bool:
        return any(all(abs(a - b) <= 0.5 for a, b in zip(sorted(side), sorted(values))) for side in (heights, widths))

    if not shows(expected):
        for other_year, values in years.items():
            if len(values) == len(expected) and shows(list(values.values())):
                raise Hint(f"Die Balken zeigen die Einwohnerzahlen von {other_year}. Gefragt ist das neueste Jahr.")
        raise Hint(f"Die Balken zeigen nicht die Einwohnerzahlen der {_labels()[1]} im neuesten Jahr.")
    if not title:
        raise Hint("Fast: Das Diagramm braucht noch einen Titel, damit Leserinnen und Leser wissen, was es "
                   "zeigt (ax.set_title(...)).")
    return Correct(f"Ihr Diagramm zeigt die {format_number(len(expected))} {_labels()[1]} im Jahr {year}.")


# --- notebook 4: from widgets to a small app -----------------------------------------------------------

def _option_pairs(dropdown) -> list[tuple[str, Any]]:
    """(label, value) of each option, whether the options are labels or (label, value) pairs."""
    pairs = []
    for option in dropdown.options:
        if isinstance(option, (tuple, list)) and len(option) == 2:
            pairs.append((str(option[0]), option[1]))
        else:
            pairs.append((str(option), option))
    return pairs


def _check_district_labels(labels: list[str], names: Iterable[str]) -> None:
    names = list(names)
    plural = _labels()[1]
    unknown = [label for label in labels if not any(_same_text(label, n) for n in names)]
    if unknown:
        shown = ", ".join(f"„{u}“" for u in unknown[:3]) + (" …" if len(unknown) > 3 else "")
        raise Hint(f"Diese Einträge stehen nicht in der Liste der {plural}: {shown}.")
    if len(labels) != len({label.casefold() for label in labels}):
        raise Hint("Jeder Name soll nur einmal in der Liste stehen.")
    missing = [n for n in names if not any(_same_text(label, n) for label in labels)]
    if len(missing) == 1:
        raise Hint(f"Es fehlt noch einer der {format_number(len(names))} Namen ({plural}).")
    if missing:
        raise Hint(f"Es fehlen noch {format_number(len(missing))} von {format_number(len(names))} Namen ({plural}).")


@exercise("4.1", notebook=4, title="Auswahlliste der {label_plural}")
def _district_dropdown(answer: Any) -> Correct:
    import ipywidgets as widgets

    if not isinstance(answer, widgets.Dropdown):
        if isinstance(answer, (list, tuple, *_frame_types())):
            raise Hint(f"Erwartet wird eine Auswahlliste (widgets.Dropdown), nicht {_kind(answer)}. "
                       "Geben Sie die Namen der Auswahlliste als options mit.")
        raise _wrong_type("eine Auswahlliste (widgets.Dropdown)", answer)
    names = _district_names().values()
    _check_district_labels([label for label, _ in _option_pairs(answer)], names)
    return Correct(f"Ihre Auswahlliste enthält alle {format_number(len(names))} {_labels()[1]}.")


def _latest_by_name() -> tuple[int, dict[str, int]]:
    years = _residents_by_year()
    year = max(years)
    names = _district_names()
    return year, {names[d]: r for d, r in years[year].items() if d in names}


def _call_quietly(function: Callable, *args) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def _error_text(error: Exception) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message[:200]}" if message else type(error).__name__


def _expect_number_in(text: str, residents: int, name: str, year: int) -> None:
    if format_number(residents) in text:
        return
    if str(residents) in text:
        raise Hint(f"Für „{name}“ steht die Zahl nicht in deutscher Schreibweise im Text – verwenden Sie "
                   "format_number.")
    raise Hint(f"Für „{name}“ steht nicht die Einwohnerzahl von {year} im Text.")


@exercise("4.2", notebook=4, title="Text je {label}")
def _district_text(answer: Any) -> Correct:
    if not callable(answer) or isinstance(answer, type):
        raise _wrong_type("eine Funktion (def …)", answer)
    year, latest = _latest_by_name()
    for name, residents in latest.items():
        try:
            text = _call_quietly(answer, name)
        except Exception as e:  # noqa: BLE001 - the participant's function: reported, no traceback
            raise Hint(f"Ihre Funktion meldet für „{name}“ einen Fehler ({_error_text(e)}).") from None
        if text is None:
            raise Hint("Ihre Funktion gibt nichts zurück (None) – fehlt am Ende ein return?")
        if not isinstance(text, str):
            raise Hint(f"Ihre Funktion gibt {_kind(text)} zurück – erwartet wird ein Text.")
        if name.casefold() not in text.casefold():
            raise Hint(f"Im Text für „{name}“ fehlt der Name selbst.")
        _expect_number_in(text, residents, name, year)
    return Correct(f"Ihre Funktion beschreibt alle {format_number(len(latest))} {_labels()[1]} richtig.")


def _walk(widget) -> Iterator:
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


@exercise("4.3", notebook=4, title="Die kleine App")
def _small_app(answer: Any) -> Correct:
    import ipywidgets as widgets

    if not isinstance(answer, widgets.Box):
        raise _wrong_type("die ganze App als Box (z. B. widgets.VBox([...]))", answer)
    found = list(_walk(answer))
    dropdowns = [w for w in found if isinstance(w, widgets.Dropdown)]
    texts = [w for w in found if isinstance(w, (widgets.HTML, widgets.HTMLMath, widgets.Label))]
    if not dropdowns:
        raise Hint("In Ihrer App fehlt die Auswahlliste (widgets.Dropdown).")
    if not texts:
        raise Hint("In Ihrer App fehlt die Anzeige: ein widgets.HTML, in das Ihre Funktion den Text schreibt.")
    dropdown = dropdowns[0]
    year, latest = _latest_by_name()
    pairs = _option_pairs(dropdown)
    _check_district_labels([label for label, _ in pairs], latest)
    original = dropdown.value
    # the current choice last, so that every step is a change and the app ends as it was
    order = sorted(pairs, key=lambda pair: pair[1] == original)
    try:
        for label, value in order:
            name = next(n for n in latest if _same_text(label, n))
            try:
                _call_quietly(setattr, dropdown, "value", value)
            except Exception as e:  # noqa: BLE001 - the participant's callback
                raise Hint(f"Bei der Auswahl von „{label}“ meldet Ihre App einen Fehler "
                           f"({_error_text(e)}).") from None
            shown = " ".join(str(t.value) for t in texts)
            if format_number(latest[name]) not in shown and str(latest[name]) not in shown:
                raise Hint(f"Nach der Auswahl von „{label}“ zeigt die App nicht dessen Einwohnerzahl. Ist Ihre "
                           "Funktion mit .observe(..., names=\"value\") an die Auswahlliste gebunden und schreibt "
                           "sie in das HTML-Feld (….value = …)?")
            _expect_number_in(shown, latest[name], label, year)
    finally:
        if dropdown.value != original:
            with contextlib.suppress(Exception):
                _call_quietly(setattr, dropdown, "value", original)
    return Correct("Ihre App reagiert auf jede Auswahl. So beginnen auch die großen BIF-Apps.")


# --- notebook 5: publishing and data protection --------------------------------------------------------

def _classification(answer: Any) -> str:
    text = _text(answer, 'eine Einstufung als Text, z. B. "open"')
    for code, label in CLASSIFICATION_LABELS.items():
        if _same_text(text, code) or _same_text(text, label):
            return code
    raise Hint(f"„{text.strip()}“ ist keine Einstufung. Möglich sind \"open\", \"internal\" und \"confidential\".")


@exercise("5.1", notebook=5, title="Was eine App lesen darf")
def _app_classification(answer: Any) -> Correct:
    from bif_lib.apps.publishing.checks import APP_CLASSIFICATIONS, CLASSIFICATION_ORDER, allowed_classifications

    given = _classification(answer)
    planners = allowed_classifications(["planners"])
    allowed = [c for c in CLASSIFICATION_ORDER if c in planners and c in APP_CLASSIFICATIONS]
    highest = allowed[-1]
    if given == highest:
        return Correct(f"Apps für Planerinnen und Planer lesen höchstens „{CLASSIFICATION_LABELS[highest]}“ "
                       "eingestufte Daten – vertrauliche Daten bleiben in der Statistikstelle.")
    if CLASSIFICATION_ORDER.index(given) < CLASSIFICATION_ORDER.index(highest):
        raise Hint(f"„{CLASSIFICATION_LABELS[given]}“ eingestufte Daten darf jede App lesen – gefragt ist aber "
                   "die höchste Einstufung, die noch erlaubt ist.")
    raise Hint(f"„{CLASSIFICATION_LABELS[given]}“ eingestufte Daten sieht nur die Statistikstelle – eine App "
               "darf sie nie lesen.")


RELEASE_CHOICES = ("A", "B", "C", "D")
_RELEASE_HINTS = {
    "A": "Kleine Zahlen zu löschen reicht nicht: Aus Summen und anderen Tabellen lassen sich gelöschte Werte "
         "oft zurückrechnen. Und Personendaten sehen Sie gar nicht.",
    "C": "Die IT betreibt die Plattform, hat aber keinen Zugriff auf vertrauliche Daten – und gibt nichts frei.",
    "D": "Personendaten dürfen ausgewertet werden – aber nur dort, wo das Statistikgeheimnis gilt.",
}


@exercise("5.2", notebook=5, title="Wer Tabellen aus Personendaten freigibt")
def _who_releases(answer: Any) -> Correct:
    text = _text(answer, 'ein Buchstabe als Text, z. B. "A"').strip().strip(").").upper()
    if text not in RELEASE_CHOICES:
        raise Hint("Bitte antworten Sie mit einem Buchstaben: " + ", ".join(f'"{c}"' for c in RELEASE_CHOICES) + ".")
    if text == "B":
        return Correct("Nur die abgeschottete Statistikstelle sieht Personendaten. Sie schützt jede Tabelle "
                       "(Geheimhaltung) und gibt sie mit einem Zertifikat frei.")
    raise Hint(_RELEASE_HINTS[text])


def _dataset_names(answer: Any) -> list[str]:
    import pandas as pd

    if isinstance(answer, pd.DataFrame):
        if "dataset" not in answer.columns:
            raise Hint("Ihre Tabelle hat keine Spalte dataset. Gefragt sind die Namen der Datensätze.")
        values = list(answer["dataset"])
    elif isinstance(answer, (pd.Series, pd.Index, list, tuple, set, frozenset)):
        values = list(answer)
    else:
        raise _wrong_type("eine Liste der Datensatz-Namen", answer)
    if not all(isinstance(v, str) for v in values):
        raise Hint("In Ihrer Liste stehen nicht nur Texte – gefragt sind die Namen der Datensätze (Spalte dataset).")
    return [v.strip() for v in values]


@exercise("5.3", notebook=5, title="Was geteilt werden darf")
def _open_datasets(answer: Any) -> Correct:
    from bif_lib.api import list_datasets

    given = set(_dataset_names(answer))
    try:
        catalog = list_datasets()
    except Exception as e:
        raise CheckUnavailable(f"Die Prüfung konnte den Katalog nicht lesen ({e}). "
                               "Bitte sagen Sie der Schulungsleitung Bescheid.") from e
    classification = dict(zip(catalog["dataset"], catalog["classification"]))
    expected = {d for d, c in classification.items() if c == "open"}
    unknown = sorted(given - set(classification))
    if unknown:
        shown = ", ".join(unknown[:3]) + (" …" if len(unknown) > 3 else "")
        raise Hint(f"Diese Namen gibt es im Katalog nicht: {shown}.")
    not_open = sorted(given - expected)
    if not_open:
        shown = ", ".join(f"{d} ({CLASSIFICATION_LABELS.get(classification[d], classification[d])})"
                          for d in not_open[:3])
        raise Hint(f"Darunter sind Datensätze, die nicht offen sind: {shown}. Die dürfen Sie nicht weitergeben.")
    missing = expected - given
    if len(missing) == 1:
        raise Hint("Es fehlt noch ein offener Datensatz.")
    if missing:
        raise Hint(f"Es fehlen noch {format_number(len(missing))} offene Datensätze.")
    return Correct(f"{format_number(len(expected))} Datensätze sind offen. Geben Sie beim Teilen immer den "
                   "Quellenvermerk mit (attrs[\"bif\"][\"attribution\"]).")


COURSE: tuple[Exercise, ...] = tuple(_registered)
_BY_ID = {e.id: e for e in COURSE}
if [e.id for e in COURSE] != sorted(_BY_ID, key=lambda i: tuple(map(int, i.split(".")))):
    raise RuntimeError("the exercises must be declared in course order")


def get_exercise(exercise_id: str) -> Exercise:
    """The exercise with this id; a German ``ValueError`` names the valid ids."""
    if isinstance(exercise_id, str) and exercise_id.strip() in _BY_ID:
        return _BY_ID[exercise_id.strip()]
    valid = ", ".join(_BY_ID)
    if not isinstance(exercise_id, str) and str(exercise_id) in _BY_ID:
        raise ValueError(f"Bitte die Nummer der Aufgabe in Anführungszeichen angeben: pruefe(\"{exercise_id}\", "
                         f"antwort). Gültige Aufgaben: {valid}.")
    raise ValueError(f"Unbekannte Aufgabe „{exercise_id}“. Gültige Aufgaben: {valid}.")


# --- checking an answer in the notebook ------------------------------------------------------------------

_NOT_CHECKABLE = ("Diese Antwort ließ sich nicht prüfen. Hat sie die Form, die die Aufgabe verlangt? "
                  "Lesen Sie die Aufgabe noch einmal und versuchen Sie es erneut.")


def pruefe(exercise_id: str, answer: Any) -> bool:
    """Check ``answer`` for exercise ``exercise_id`` („2.1“): show German feedback at once, record
    the attempt (``results_path()``) and return whether it was right."""
    exercise_ = get_exercise(exercise_id)
    if answer is Ellipsis:
        _show(exercise_, "offen", "Noch keine Antwort eingetragen: Ersetzen Sie in der Zelle darüber die drei "
                                  "Punkte (...) durch Ihre Lösung und führen Sie beide Zellen noch einmal aus.")
        return False
    try:
        outcome = exercise_.check(answer)
    except Hint as hint:
        passed, message = False, str(hint)
    except CheckUnavailable as problem:
        _show(exercise_, "fehler", str(problem))
        return False
    except Exception:  # an answer of an unexpected form: a hint, never a traceback
        log.debug("check of exercise %s raised", exercise_.id, exc_info=True)
        passed, message = False, _NOT_CHECKABLE
    else:
        if isinstance(outcome, Correct):
            passed, message = True, outcome.message
        else:
            log.warning("check of exercise %s returned %r instead of Correct", exercise_.id, outcome)
            passed, message = False, _NOT_CHECKABLE
    _show(exercise_, "richtig" if passed else "hinweis", message)
    record(exercise_.id, passed)
    return passed


check = pruefe

_STYLES = {  # lead, background, border
    "richtig": ("Richtig!", "#e7f5ea", "#1e7b34"),
    "hinweis": ("Noch nicht ganz.", "#fff4e0", "#b45f06"),
    "offen": ("", "#eef2f7", "#52627a"),
    "fehler": ("Prüfung gerade nicht möglich.", "#f3f3f3", "#6b6b6b"),
}


def _show(exercise_: Exercise, status: str, message: str) -> None:
    lead, background, border = _STYLES[status]
    heading = f"Aufgabe {exercise_.id} – {exercise_.title}"
    text = " ".join(part for part in (f"{heading}:", lead, message) if part)
    markup = (f'<div class="bif-training-feedback bif-training-{status}" role="status" '
              f'style="background:{background};border-left:4px solid {border};padding:8px 12px;margin:4px 0;'
              f'color:#1a1a1a;font-family:sans-serif;line-height:1.4">'
              f'<div style="font-size:0.85em;color:#444">{html.escape(heading)}</div>'
              + (f'<strong style="color:{border}">{html.escape(lead)}</strong> ' if lead else "")
              + f"{html.escape(message)}</div>")
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display({"text/html": markup, "text/plain": text}, raw=True)
    else:
        print(text)


# --- the results file ----------------------------------------------------------------------------------

def results_path(home: Path | None = None) -> Path:
    """``<home>/.bif/schulung/ergebnisse.json`` (home: the current user's). Without ``home``, the
    environment variable ``BIF_TRAINING_RESULTS`` may name the whole path instead (tests)."""
    if home is None:
        override = os.environ.get(RESULTS_ENV)
        if override:
            return Path(override).expanduser()
        home = Path.home()
    return Path(home).joinpath(*_RESULTS_DIRS, _RESULTS_FILE)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record(exercise_id: str, passed: bool, *, path: Path | None = None) -> bool:
    """Add one attempt of ``exercise_id`` to the participant's results file; True if stored. A file
    that cannot be written (no writable home) only logs a warning: the feedback has been shown."""
    exercise_ = get_exercise(exercise_id)
    try:
        path = path or results_path()
        _private_dirs(path)
        with _locked(path.parent):
            results = _parse(_read_own(path))
            now = _now()
            entry = results.get(exercise_.id) or {"passed": False, "attempts": 0, "first_passed": None, "last": now}
            entry["attempts"] = min(entry["attempts"] + 1, _MAX_ATTEMPTS)
            entry["last"] = now
            if passed and not entry["passed"]:
                entry["passed"], entry["first_passed"] = True, now
            results[exercise_.id] = entry
            ordered = {e.id: results[e.id] for e in COURSE if e.id in results}
            write_private(path, json.dumps({"version": RESULTS_VERSION, "exercises": ordered}, indent=1) + "\n")
        return True
    except (OSError, RuntimeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        log.warning("Ergebnis der Aufgabe %s nicht gespeichert (%s): %s", exercise_.id, path, reason)
        return False


def _private_dirs(path: Path) -> None:
    """Create the missing folders above ``path`` with mode 0700; its own folder is made 0700."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
    if path.parent.name == _RESULTS_DIRS[-1]:  # the course's own folder, never a folder named by BIF_TRAINING_RESULTS
        info = path.parent.lstat()
        if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) != 0o700 and info.st_uid == os.geteuid():
            os.chmod(path.parent, 0o700)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise writers of one results folder (two kernels of one participant)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _read_limited(fd: int, owner: int | None = None) -> bytes | None:
    """At most MAX_RESULTS_BYTES of an open regular file with one link; None for anything else."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or (owner is not None and info.st_uid != owner):
        return None
    if info.st_size > MAX_RESULTS_BYTES:
        return None
    chunks, size = [], 0
    while size <= MAX_RESULTS_BYTES:
        chunk = os.read(fd, MAX_RESULTS_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_RESULTS_BYTES else b"".join(chunks)


def _read_own(path: Path) -> bytes | None:
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("Ergebnisdatei %s nicht lesbar (%s); sie wird neu angelegt", path, e.strerror)
        return None
    try:
        return _read_limited(fd)
    finally:
        os.close(fd)


def read_results(home: Path) -> dict[str, dict]:
    """The results in ``<home>/.bif/schulung/ergebnisse.json``, for the trainer page (run as root).

    Safe against the participant who owns ``home``: ``.bif``, ``schulung`` and the file are opened
    without following symlinks (relative to the folder opened before), only a regular file with
    one link, owned by the home's owner and at most 64 KiB is read (a FIFO or device is never read
    from), and anything malformed gives ``{}``. Only exercises of ``COURSE`` with well-typed fields
    are kept. Never raises.
    """
    fds: list[int] = []
    try:
        fds.append(os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))  # the home itself: from passwd
        owner = os.fstat(fds[0]).st_uid
        for part in _RESULTS_DIRS:
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        fds.append(os.open(_RESULTS_FILE, _READ_FLAGS, dir_fd=fds[-1]))
        raw = _read_limited(fds[-1], owner)
    except (OSError, ValueError, TypeError):
        return {}
    except Exception:  # the trainer page must never fail on one participant's file
        log.warning("Schulungsergebnisse unter %s nicht lesbar", home, exc_info=True)
        return {}
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    return _parse(raw)


def _parse(raw: bytes | None) -> dict[str, dict]:
    """Well-typed entries of known exercises from a results file's bytes; {} for anything malformed."""
    if raw is None or len(raw) > MAX_RESULTS_BYTES:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    version = data.get("version")
    exercises = data.get("exercises")
    if type(version) is not int or version != RESULTS_VERSION or not isinstance(exercises, dict):
        return {}
    results = {}
    for exercise_ in COURSE:
        entry = _clean_entry(exercises.get(exercise_.id))
        if entry is not None:
            results[exercise_.id] = entry
    return results


def _clean_entry(entry: Any) -> dict | None:
    if not isinstance(entry, dict):
        return None
    passed, attempts = entry.get("passed"), entry.get("attempts")
    first_passed, last = entry.get("first_passed"), entry.get("last")
    if type(passed) is not bool or type(attempts) is not int or not 0 <= attempts <= _MAX_ATTEMPTS:
        return None
    if not _timestamp(last) or not (first_passed is None or _timestamp(first_passed)):
        return None
    return {"passed": passed, "attempts": attempts, "first_passed": first_passed, "last": last}


def _timestamp(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > _MAX_TIMESTAMP_CHARS:
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def summary(results: dict) -> dict:
    """``{"passed": [...], "failed": [...], "open": [...]}``: exercise ids in course order — passed,
    tried but not (yet) passed, not tried — for the trainer page."""
    passed, failed, untried = [], [], []
    results = results if isinstance(results, dict) else {}
    for exercise_ in COURSE:
        entry = results.get(exercise_.id)
        if isinstance(entry, dict) and entry.get("passed") is True:
            passed.append(exercise_.id)
        elif isinstance(entry, dict) and type(entry.get("attempts")) is int and entry["attempts"] > 0:
            failed.append(exercise_.id)
        else:
            untried.append(exercise_.id)
    return {"passed": passed, "failed": failed, "open": untried}
