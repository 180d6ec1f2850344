"""German formatting for everything stewards, planners and trainers read.

Done by hand rather than with locale/Babel: ``locale`` depends on what the OS has
generated (often only C.UTF-8 on servers), and the rules needed here are small and fixed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd

# Everything people read is in the city's time, with daylight saving time (BIF stores UTC).
LOCAL_TZ = ZoneInfo("Europe/Berlin")


def format_number(value, decimals: int | None = 0) -> str:
    """99341 -> '99.341'; 12.5 (decimals=1) -> '12,5'; decimals=None keeps up to 6 significant decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if decimals is None:
        text = f"{value:,.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    else:
        text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u0000").replace(".", ",").replace("\u0000", ".")


def format_percent(share, decimals: int = 1) -> str:
    """0.125 -> '12,5 %' (German uses a space before the percent sign)."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{format_number(share * 100, decimals)} %"


def local_time(value=None) -> datetime:
    """An instant in Europe/Berlin: now (``None``), or a datetime, pandas Timestamp or ISO 8601
    text converted. A value without time zone is taken as UTC (BIF stores UTC)."""
    if value is None:
        return datetime.now(LOCAL_TZ)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    elif isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif not isinstance(value, datetime) and isinstance(value, date):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LOCAL_TZ)


def format_local_datetime(value=None) -> str:
    """'05.12.2026 04:48': an instant (default: now) in Europe/Berlin; '–' for a missing one."""
    if value is pd.NaT or (isinstance(value, str) and not value.strip()):
        return "–"
    return local_time(value).strftime("%d.%m.%Y %H:%M")


def format_date(value: date | None) -> str:
    """date(2026, 12, 19) -> '19.12.2026'; '–' for a missing one."""
    return value.strftime("%d.%m.%Y") if value else "–"


CLASSIFICATION_LABELS = {"open": "offen", "internal": "intern", "confidential": "vertraulich"}


# --- the data's reference date („Stand“), from a contract's temporal_coverage ------------

_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(?!\d)")
_GERMAN_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})")
_YEAR = re.compile(r"^\d{4}$")


def reference_date(coverage: Mapping | None) -> str:
    """The data's reference date („Stand“) from the contract's ``temporal_coverage``, German.

    ``reference_date`` as a date ("2023-12-31 (…)" → 31.12.2023); as a day of the year with the
    last year covered ("31.12. des Jahres", end 2022 → 31.12.2022); otherwise the last year
    covered (``end``: "2022", "2022/23"); otherwise the reference text itself without its remark
    ("Gliederung 2018"). "" when the contract says nothing.
    """
    coverage = coverage or {}
    text = str(coverage.get("reference_date") or "").strip()
    end = str(coverage.get("end") if coverage.get("end") is not None else "").strip()
    if match := _ISO_DATE.match(text):
        year, month, day = match.groups()
        return f"{day}.{month}.{year}"
    if match := _GERMAN_DATE.match(text):
        day, month, year = match.groups()
        return f"{int(day):02d}.{int(month):02d}.{year}"
    if (match := _DAY_MONTH.match(text)) and _YEAR.match(end):
        day, month = match.groups()
        return f"{int(day):02d}.{int(month):02d}.{end}"
    if end:
        return end
    return text.split(" (")[0].strip()


def reference_detail(coverage: Mapping | None) -> str:
    """What the contract says about the period and reference date, for the detail view."""
    coverage = coverage or {}
    start, end = coverage.get("start"), coverage.get("end")
    if start is not None and end is not None:
        period = f"Zeitraum {start}–{end}" if str(start) != str(end) else f"Zeitraum {end}"
    else:
        period = f"ab {start}" if start is not None else f"bis {end}" if end is not None else ""
    parts = []
    if coverage.get("reference_date"):
        parts.append(f"Stichtag: {coverage['reference_date']}")
    if period:
        parts.append(period)
    return "; ".join(parts)
