"""German formatting for everything stewards, planners and trainers read.

Done by hand rather than with locale/Babel: ``locale`` depends on what the OS has
generated (often only C.UTF-8 on servers), and the rules needed here are small and fixed.
"""

from __future__ import annotations

import math
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


def format_date(value) -> str:
    """German date: 31.12.2022. A plain date (also as '2022-12-31') as it is; an instant
    (datetime, Timestamp, ISO text with a time) as its day in Europe/Berlin."""
    if value is None or value is pd.NaT or (isinstance(value, str) and not value.strip()):
        return "–"
    if isinstance(value, str) and len(value.strip()) == 10:
        return date.fromisoformat(value.strip()).strftime("%d.%m.%Y")
    if isinstance(value, (str, datetime)):
        return local_time(value).strftime("%d.%m.%Y")
    return value.strftime("%d.%m.%Y")


def format_datetime(value) -> str:
    if value is None or value is pd.NaT:
        return "–"
    if isinstance(value, str):
        value = pd.Timestamp(value)
    return value.strftime("%d.%m.%Y %H:%M")


CLASSIFICATION_LABELS = {"open": "offen", "internal": "intern", "confidential": "vertraulich"}
