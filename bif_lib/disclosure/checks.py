"""The checks a protected table must pass before it gets a certificate."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bif_lib.i18n import format_number


class DisclosureError(ValueError):
    """A table cannot be protected as asked, or failed a check; the message is German."""


@dataclass(frozen=True)
class Check:
    id: str  # stable, for code
    name: str  # German, for the office
    passed: bool
    detail: str  # German

    def to_dict(self) -> dict:
        return asdict(self)


def require(checks: list[Check]) -> list[Check]:
    failed = [c for c in checks if not c.passed]
    if failed:
        raise DisclosureError("Geheimhaltungsprüfung nicht bestanden: "
                              + "; ".join(f"{c.name} ({c.detail})" for c in failed))
    return checks


def _cells(count: int) -> str:
    return f"{format_number(count)} {'Zelle' if count == 1 else 'Zellen'}"


def cellkey_checks(counts: np.ndarray, published: np.ndarray, *, D: int, js: int,
                   unperturbed: np.ndarray) -> list[Check]:
    """Properties of a CKM table, checked on the result (not assumed from the ptable)."""
    deviation = published - counts
    small = (published >= 1) & (published <= js)
    too_far = np.abs(deviation) > D
    zero_changed = (counts == 0) & (published != 0)
    negative = published < 0
    exact_broken = unperturbed & (deviation != 0)
    total = len(counts)
    small_name = "Keine Werte 1 bis " + format_number(js) if js > 1 else "Keine Einsen"
    return [
        Check("no_small_values", small_name, js == 0 or not small.any(),
              f"{_cells(int(small.sum()))} von {format_number(total)} mit Wert 1 bis {format_number(js)}"
              if js else "keine Sperre kleiner Werte (js = 0)"),
        Check("max_deviation", f"|Abweichung| ≤ {format_number(D)}", not too_far.any(),
              f"größte Abweichung {format_number(int(np.abs(deviation).max()) if total else 0)}"),
        Check("zeros_unchanged", "Nullen unverändert", not zero_changed.any(),
              f"{_cells(int((counts == 0).sum()))} mit Wert 0, davon verändert: "
              f"{format_number(int(zero_changed.sum()))}"),
        Check("non_negative", "Keine negativen Werte", not negative.any(),
              f"{_cells(int(negative.sum()))} negativ"),
        Check("unperturbed_exact", "Unveränderte Summen exakt", not exact_broken.any(),
              f"{_cells(int(unperturbed.sum()))} unverändert ausgewiesen"),
    ]


def suppression_checks(rules: dict[str, np.ndarray], *, primary: np.ndarray, suppressed: np.ndarray,
                       shown: np.ndarray, widths: np.ndarray, required: np.ndarray, min_frequency: int,
                       dominance: tuple[int, float] | None, p_percent: float | None) -> list[Check]:
    """Every cell a primary rule flags is suppressed; every protected cell's interval is wide enough.

    ``widths``/``required``: the audited interval widths and protection ranges of all primary cells
    (of this table and of the other released tables).
    """
    def rule_check(id_: str, name: str, flagged: np.ndarray, what: str) -> Check:
        flagged = flagged & shown
        return Check(id_, name, not (flagged & ~suppressed).any(), f"{_cells(int(flagged.sum()))} {what} gesperrt")

    checks = [rule_check("min_frequency", f"Mindestfallzahl {format_number(min_frequency)}",
                         rules["min_frequency"], f"mit 1 bis {format_number(min_frequency - 1)} Fällen")]
    if dominance:
        checks.append(rule_check("dominance", f"Dominanzregel ({format_number(dominance[0])}, "
                                 f"{format_number(dominance[1], None)} %)", rules["dominance"], "nach Dominanzregel"))
    if p_percent is not None:
        checks.append(rule_check("p_percent", f"p-%-Regel (p = {format_number(p_percent, None)} %)",
                                 rules["p_percent"], "nach p-%-Regel"))
    protected = widths >= required - 1e-6 * np.maximum(1.0, required)
    if len(widths):
        tightest = int(np.argmin(widths / required))
        width = float(widths[tightest])
        shown_width = "unbeschränkt" if np.isinf(width) else format_number(width, 1)
        narrowest = (f"; engste Zelle: Intervallbreite {shown_width} "
                     f"bei Schutzbereich {format_number(float(required[tightest]), 1)}")
    else:
        narrowest = ""
    checks.append(Check("protection_range", "Intervallbreite ≥ Schutzbereich", bool(protected.all()),
                        f"{format_number(int(protected.sum()))} von {_cells(len(protected))} geschützt{narrowest}"))
    checks.append(Check("primary_suppressed", "Primär gesperrte Zellen fehlen", not (primary & ~suppressed).any(),
                        f"{format_number(int(primary.sum()))} primär, "
                        f"{format_number(int((suppressed & ~primary & shown).sum()))} sekundär gesperrt"))
    return checks
