"""``protect``: one call from microdata to a protected table and its certificate."""

from __future__ import annotations

import getpass

import numpy as np
import pandas as pd

from bif_lib.disclosure.cellkey import cellkey_table
from bif_lib.disclosure.certificate import Certificate, content_digest, utc_now
from bif_lib.disclosure.checks import DisclosureError
from bif_lib.disclosure.ptable import PTable, default_ptable
from bif_lib.disclosure.suppression_table import suppression_table

METHODS = ("cellkey", "suppression")


def protect(records: pd.DataFrame, by: list[str], method: str = "cellkey", *,
            record_keys: pd.Series | np.ndarray | str | None = None, value: str | None = None,
            ptable: PTable | None = None, min_frequency: int = 3, protection_range: float = 0.3,
            unperturbed: list | None = None, other_tables: list[pd.DataFrame] | None = None,
            released_by: str | None = None, dataset: str | None = None, count_column: str = "anzahl",
            margins: bool = False, full: bool = True, categories: dict | None = None,
            dominance: tuple[int, float] | None = (2, 85.0), p_percent: float | None = 10.0,
            sources: list[dict] | None = None) -> tuple[pd.DataFrame, Certificate]:
    """Protect the table of ``records`` by ``by`` and certify it.

    ``method="cellkey"``: counts perturbed with the Cell Key Method (``record_keys``: a column name,
    or keys aligned with ``records``; ``ptable`` defaults to :func:`default_ptable`).
    ``method="suppression"``: counts (or sums of ``value``) with primary suppression (minimum
    frequency; for sums also the dominance and p % rules) and LP-checked secondary suppression,
    also against the released ``other_tables``.

    The table has the ``by`` columns and the count column (``count_column``; for sums the ``value``
    column); with ``margins=True`` also all margins (``<NA>`` in a ``by`` column = Insgesamt).
    ``full=True`` gives every combination of categories (``categories`` adds unobserved ones),
    zeros included. ``unperturbed`` lists cells published exactly: a column name or list of names
    for a whole margin (``[]`` = grand total), or a dict ``{column: value}`` for one cell.
    Raises :class:`DisclosureError` (German message) when the table cannot be protected.
    """
    if method not in METHODS:
        raise DisclosureError(f"Unbekanntes Verfahren {method!r}; möglich: cellkey, suppression.")
    by = list(by)
    bif = records.attrs.get("bif", {}) if isinstance(records.attrs.get("bif"), dict) else {}
    if method == "cellkey":
        if value is not None:
            raise DisclosureError("Die Cell-Key-Methode ist hier für Fallzahlen umgesetzt; Summen (value) "
                                  "bitte mit method=\"suppression\" schützen.")
        if other_tables:
            raise DisclosureError("other_tables gilt nur für die Zellsperrung; die Cell-Key-Methode ist "
                                  "tabellenübergreifend konsistent.")
        used = ptable or default_ptable()
        table, parameters, checks = cellkey_table(
            records, by, record_keys=record_keys, ptable=used, unperturbed=unperturbed,
            count_column=count_column, margins=margins, full=full, categories=categories)
    else:
        table, parameters, checks = suppression_table(
            records, by, value=value, min_frequency=min_frequency, protection_range=protection_range,
            unperturbed=unperturbed, other_tables=other_tables or [], count_column=count_column,
            margins=margins, full=full, categories=categories, dominance=dominance, p_percent=p_percent)
        used = None
    synthetic = bool(bif.get("synthetic", False))
    value_column = value or count_column
    table.attrs = {"bif": {"synthetic": synthetic, "disclosure": {"method": method, "value_column": value_column}}}
    certificate = Certificate(
        dataset=dataset, method=method, parameters=parameters, checks=[c.to_dict() for c in checks],
        released_by=released_by or getpass.getuser(), released_at=utc_now(), content_sha256=content_digest(table),
        ptable_version=used.version if used else None, ptable_parameters=used.parameters if used else None,
        ptable_sha256=used.intervals_sha256 if used else None, sources=_sources(sources, bif), synthetic=synthetic)
    table.attrs["bif"]["disclosure"]["content_sha256"] = certificate.content_sha256
    return table, certificate


def _sources(sources: list[dict] | None, bif: dict) -> list[dict]:
    if sources is not None:
        return [dict(s) for s in sources]
    if bif.get("dataset"):
        return [{"dataset": bif["dataset"], "version": bif.get("version"), "sha256": bif.get("sha256")}]
    return []
