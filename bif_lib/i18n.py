"""German formatting for everything stewards, planners and trainers read.

Done by hand rather than with locale/Babel: ``locale`` depends on what the OS has
generated (often only C.UTF-8 on servers), and the rules needed here are small and fixed.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd


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


def format_date(value) -> str:
    """German date: 31.12.2022."""
    if value is None or value is pd.NaT:
        return "–"
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def format_datetime(value) -> str:
    if value is None or value is pd.NaT:
        return "–"
    if isinstance(value, str):
        value = pd.Timestamp(value)
    return value.strftime("%d.%m.%Y %H:%M")


CLASSIFICATION_LABELS = {"open": "offen", "internal": "intern", "confidential": "vertraulich"}
