"""A refresh schedule: its text in a contract or city profile → the moments it runs (no I/O).

Two forms, always in the city's time (Europe/Berlin, with daylight saving time)::

    refresh: {cron: "0 5 * * 1"}            # crontab: minute hour day month weekday (Mondays 05:00)
    refresh: {every: P7D, at: "05:00"}      # ISO 8601 duration; `at` only with whole days
    refresh: {every: PT6H}                  # every six hours, counted from the last run

Cron fields accept ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b`` and the
English names of months (``jan``) and weekdays (``mon``; 0 and 7 are Sunday, as in crontab). As in
crontab, when both day of month and weekday are restricted, a day matching either runs
(``0 5 1 * mon``: the 1st and every Monday). The macros ``@hourly``, ``@daily``, ``@weekly``
(Sunday 00:00), ``@monthly`` and ``@yearly`` are understood.

Daylight saving time: a wall-clock time runs once a day at most. A time that does not exist
(02:30 on the last Sunday of March) runs at the first moment after the gap (03:30); a time
that exists twice (02:30 on the last Sunday of October) runs at its first occurrence only.
``every`` without ``at`` is an interval in absolute time (``PT1H`` runs every hour, also in the
repeated hour).

The contract model calls ``contract_problems`` for every contract, so a malformed schedule is
refused by ``bif contract check`` in German, naming the key (``refresh.cron``) and its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from bif_lib.i18n import LOCAL_TZ

MONTH_NAMES = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
WEEKDAY_NAMES = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (German name of the field, lowest, highest, names)
CRON_FIELDS = [("Minute", 0, 59, None), ("Stunde", 0, 23, None), ("Tag des Monats", 1, 31, None),
               ("Monat", 1, 12, MONTH_NAMES), ("Wochentag", 0, 7, WEEKDAY_NAMES)]
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
          "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
KEYS = ("cron", "every", "at", "notify")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# the search for the next day a cron expression matches: "0 0 29 2 mon" may wait years
_MAX_DAYS = 366 * 30
GERMAN_WEEKDAYS = ["sonntags", "montags", "dienstags", "mittwochs", "donnerstags", "freitags", "samstags"]
SHORT_WEEKDAYS = ["So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"]


class ScheduleError(ValueError):
    """A schedule that cannot be used; ``key`` is where it is written (``refresh.cron``), the message German."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


def _shown(value, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- cron ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cron:
    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]     # 0 = Sunday … 6 = Saturday
    any_day: bool                # day of month is "*"
    any_weekday: bool            # weekday is "*"

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day, by_weekday = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday  # crontab: both restricted → either


def _value(token: str, name: str, low: int, high: int, names: dict | None, where: str) -> int:
    if names and token.lower() in names:
        return names[token.lower()]
    if not token.isdigit():
        allowed = f" oder Namen wie {', '.join(list(names)[:3])}" if names else ""
        raise ScheduleError(where, f"Feld „{name}“: „{_shown(token)}“ ist keine Zahl{allowed}")
    number = int(token)
    if not low <= number <= high:
        raise ScheduleError(where, f"Feld „{name}“: {number} liegt außerhalb von {low}–{high}")
    return number


def _cron_field(text: str, position: int, where: str) -> set[int]:
    name, low, high, names = CRON_FIELDS[position]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(where, f"Feld „{name}“: leerer Listeneintrag in „{_shown(text)}“")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(where, f"Feld „{name}“: Schrittweite „{_shown(step_text)}“ muss eine ganze "
                                           f"Zahl ab 1 sein")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = (_value(t, name, low, high, names, where) for t in (start, end))
            if first > last:
                raise ScheduleError(where, f"Feld „{name}“: Bereich „{_shown(base)}“ läuft rückwärts "
                                           f"(von {first} bis {last})")
        else:
            first = _value(base, name, low, high, names, where)
            last = high if slash else first  # "5/15": from 5 to the end in steps of 15
        values.update(range(first, last + 1, step))
    if position == 4 and 7 in values:  # Sunday is 0 and 7
        values.discard(7)
        values.add(0)
    return values


def parse_cron(text, where: str = "cron") -> Cron:
    """A crontab expression (or macro) → ``Cron``; ``ScheduleError`` names ``where`` and the field."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(where, "erwartet wird ein cron-Ausdruck als Text, z. B. \"0 5 * * 1\" "
                                   "(montags 05:00)")
    expression = MACROS.get(text.strip().lower(), text.strip())
    if expression.startswith("@"):
        raise ScheduleError(where, f"„{_shown(expression)}“ ist kein bekanntes Kürzel (möglich: "
                                   f"{', '.join(MACROS)})")
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(where, f"„{_shown(text)}“ hat {len(fields)} Felder, erwartet werden 5: Minute Stunde "
                                   f"Tag Monat Wochentag (z. B. \"0 5 * * 1\" für montags 05:00)")
    sets = [_cron_field(field, i, where) for i, field in enumerate(fields)]
    cron = Cron(text.strip(), tuple(sorted(sets[0])), tuple(sorted(sets[1])), frozenset(sets[2]),
                frozenset(sets[3]), frozenset(sets[4]), fields[2] == "*", fields[4] == "*")
    if _next_cron(cron, datetime(2000, 1, 1, tzinfo=timezone.utc)) is None:
        raise ScheduleError(where, f"„{_shown(text)}“ trifft auf keinen Tag zu (z. B. der 31. in einem Monat mit "
                                   f"30 Tagen)")
    return cron


def _instant(day: date, hour: int, minute: int) -> datetime:
    """The moment (UTC) of a wall-clock time in Europe/Berlin: a time in the spring gap is taken
    with the offset before the change (02:30 → 03:30 CEST), a repeated one at its first occurrence."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ, fold=0).astimezone(timezone.utc)


def _next_cron(cron: Cron, moment: datetime) -> datetime | None:
    after = moment.astimezone(timezone.utc)
    # a wall-clock time more than two hours before the moment's own (UTC offsets are one or two
    # hours) is earlier in any case: the search starts there
    lower = after.astimezone(LOCAL_TZ).replace(tzinfo=None) - timedelta(hours=2)
    day, first_hour = lower.date(), lower.hour
    for _ in range(_MAX_DAYS):
        if cron.matches_day(day):
            for hour in cron.hours:
                if day == lower.date() and hour < first_hour:
                    continue
                for minute in cron.minutes:
                    instant = _instant(day, hour, minute)
                    if instant > after:
                        return instant.astimezone(LOCAL_TZ)
        day += timedelta(days=1)
    return None


# --- every / at --------------------------------------------------------------------------------------

def parse_every(text, where: str = "every") -> timedelta:
    if not isinstance(text, str):
        raise ScheduleError(where, "erwartet wird eine Dauer nach ISO 8601 als Text, z. B. P7D (sieben Tage), "
                                   "PT6H (sechs Stunden) oder PT30M")
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        hint = " (Monate und Jahre sind nicht eindeutig lang: dafür cron verwenden)" if re.search(
            r"\d+[MY]", text.upper().split("T")[0]) else ""
        raise ScheduleError(where, f"„{_shown(text)}“ ist keine Dauer nach ISO 8601, z. B. P7D (sieben Tage), "
                                   f"PT6H (sechs Stunden), PT30M (30 Minuten){hint}")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    interval = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if interval <= timedelta(0):
        raise ScheduleError(where, f"„{_shown(text)}“: die Dauer muss größer als null sein")
    return interval


def parse_at(text, where: str = "at") -> time:
    match = _AT.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ScheduleError(where, f"„{_shown(text)}“ ist keine Uhrzeit; erwartet wird HH:MM zwischen 00:00 und "
                                   f"23:59, in Anführungszeichen (\"05:00\")")
    return time(int(match.group(1)), int(match.group(2)))


# --- the schedule -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """When a dataset is refreshed: a cron expression, or an interval (with a time of day)."""

    cron: Cron | None = None
    every: timedelta | None = None
    every_text: str = ""
    at: time | None = None
    notify: tuple[str, ...] = ()   # more recipients of failure mails (besides the steward)

    def next_after(self, moment: datetime) -> datetime:
        """The first run strictly after ``moment`` (an aware datetime), in Europe/Berlin.

        For ``every`` it is the interval after ``moment`` (the last run), with ``at`` that time
        of day after the whole days."""
        if moment.tzinfo is None:
            raise ValueError("moment needs a time zone")
        if self.cron is not None:
            found = _next_cron(self.cron, moment)
            if found is None:  # pragma: no cover - parse_cron refuses expressions without a day
                raise ScheduleError("cron", "kein weiterer Termin")
            return found
        if self.at is not None:
            day = moment.astimezone(LOCAL_TZ).date() + timedelta(days=self.every.days)
            return _instant(day, self.at.hour, self.at.minute).astimezone(LOCAL_TZ)
        return (moment.astimezone(timezone.utc) + self.every).astimezone(LOCAL_TZ)

    def describe(self) -> str:
        """German, e.g. „montags 05:00 (cron 0 5 * * 1)“, „alle 7 Tage um 05:00“, „alle 6 Stunden“."""
        if self.cron is not None:
            return _describe_cron(self.cron)
        text = "alle " + _describe_interval(self.every)
        if text == "alle 1 Tag":
            text = "täglich"
        return f"{text} um {self.at.strftime('%H:%M')}" if self.at else text

    def to_dict(self) -> dict:
        """The schedule as written (for JSON output and the history)."""
        if self.cron is not None:
            return {"cron": self.cron.text}
        return {"every": self.every_text, **({"at": self.at.strftime("%H:%M")} if self.at else {})}


def _describe_interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    parts = []
    for size, one, many in ((86400, "Tag", "Tage"), (3600, "Stunde", "Stunden"), (60, "Minute", "Minuten"),
                            (1, "Sekunde", "Sekunden")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return " ".join(parts) if len(parts) < 2 else ", ".join(parts[:-1]) + " und " + parts[-1]


def _describe_cron(cron: Cron) -> str:
    raw = f"cron {cron.text}"
    if len(cron.hours) != 1 or len(cron.minutes) != 1 or len(cron.months) != 12:
        return raw
    clock = f"{cron.hours[0]:02d}:{cron.minutes[0]:02d}"
    if cron.any_day and cron.any_weekday:
        return f"täglich {clock} ({raw})"
    if cron.any_day:
        days = sorted(cron.weekdays, key=lambda d: (d + 6) % 7)  # Monday first
        order = [(d + 6) % 7 for d in days]
        if len(days) == 1:
            when = GERMAN_WEEKDAYS[days[0]]
        elif len(days) >= 3 and order == list(range(order[0], order[0] + len(order))):
            when = f"{SHORT_WEEKDAYS[days[0]]}–{SHORT_WEEKDAYS[days[-1]]}"
        else:
            when = ", ".join(SHORT_WEEKDAYS[d] for d in days)
        return f"{when} {clock} ({raw})"
    if cron.any_weekday and len(cron.days) == 1:
        return f"am {next(iter(cron.days))}. jedes Monats {clock} ({raw})"
    return raw


def parse_schedule(block, where: str = "refresh") -> Schedule:
    """The ``refresh:`` block of a contract (or a city profile's default) → ``Schedule``."""
    if not isinstance(block, dict):
        raise ScheduleError(where, "erwartet wird eine Zuordnung, z. B. {cron: \"0 5 * * 1\"} oder "
                                   "{every: P7D, at: \"05:00\"}")
    unknown = sorted(str(k) for k in block if k not in KEYS)
    if unknown:
        raise ScheduleError(where, f"unbekannter Schlüssel: {', '.join(unknown)} (möglich: {', '.join(KEYS)})")
    notify = block.get("notify") or []
    if not isinstance(notify, list) or not all(isinstance(a, str) and EMAIL.match(a) for a in notify):
        raise ScheduleError(f"{where}.notify", "erwartet wird eine Liste von E-Mail-Adressen")
    if ("cron" in block) == ("every" in block):
        raise ScheduleError(where, "genau eines von „cron“ oder „every“ angeben")
    if "cron" in block:
        if "at" in block:
            raise ScheduleError(f"{where}.at", "„at“ gilt nur mit „every“; bei cron steht die Uhrzeit im Ausdruck")
        return Schedule(cron=parse_cron(block["cron"], f"{where}.cron"), notify=tuple(notify))
    every = parse_every(block["every"], f"{where}.every")
    at = None
    if "at" in block:
        at = parse_at(block["at"], f"{where}.at")
        if every % timedelta(days=1):
            raise ScheduleError(f"{where}.at", f"eine Uhrzeit passt nur zu ganzen Tagen (z. B. every: P1D oder P7D), "
                                               f"nicht zu {block['every']}")
    return Schedule(every=every, every_text=block["every"].strip().upper(), at=at, notify=tuple(notify))


def contract_problems(raw: dict) -> list[tuple[str, str]]:
    """(YAML path, German message) for a contract's ``refresh:`` block: its form, and whether the
    dataset may be refreshed from a public source at all (docs/schedule.md, "What can be scheduled")."""
    if raw.get("refresh") is None:
        return []
    try:
        parse_schedule(raw["refresh"], "refresh")
    except ScheduleError as exc:
        return [(exc.key, exc.message)]
    reason = refusal(raw)
    return [("refresh", reason)] if reason else []


def refusal(raw: dict) -> str | None:
    """Why the dataset of this contract can never be refreshed on a schedule (German), or None."""
    if raw.get("classification") == "confidential":
        return ("vertrauliche Daten werden nie planmäßig aktualisiert: sie spielt nur die Statistikstelle über "
                "den Protokolldienst ein (bif ingest)")
    if raw.get("release"):
        return "diese Tabelle gibt die Statistikstelle frei (bif release); es gibt keine öffentliche Quelle zu holen"
    if raw.get("derived_from"):
        return (f"aus anderen Datensätzen abgeleitet (derived_from: {', '.join(map(str, raw['derived_from']))}); "
                f"es gibt keine öffentliche Quelle zu holen")
    if not (raw.get("source") or {}).get("path"):
        return "ohne Quelldatei (source.path) gibt es nichts zu holen"
    return None


__all__ = ["Cron", "Schedule", "ScheduleError", "contract_problems", "parse_at", "parse_cron", "parse_every",
           "parse_schedule", "refusal"]
