"""What the store admits: the statistics office's seal, checked on every write.

Data leaves the sealed statistics office (Statistikstelle) only as a *release*: a table
protected by statistical disclosure control together with its certificate
(``bif_lib.disclosure``). The store enforces this for every write, whatever path the
data took to get there. A write of a non-confidential version needs a certificate that
matches its content when any of these holds:

- an earlier version of the dataset was classified higher (a classification is never
  lowered by a new contract version alone);
- its contract declares that it is ``derived_from`` a confidential dataset;
- a dataset its rules were checked against is confidential;
- the writing process has read confidential data through ``bif_lib`` (it is *tainted*);
- the writing account is a member of the statistics office's OS group (not root): the
  office's own exports can only leave as releases.

The office's OS group is the group of the store's confidential area (set by
``bif_lib.platform.accounts.apply_store_permissions``), so the store needs no settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from bif_lib.i18n import CLASSIFICATION_LABELS

RANK = {"open": 0, "internal": 1, "confidential": 2}

_tainted = False


class AdmissionRefused(PermissionError):
    """A write the seal forbids; the message is German and says what to do."""


def mark_tainted() -> None:
    """This process has read confidential data: what it writes leaves only as a release."""
    global _tainted
    _tainted = True


def is_tainted() -> bool:
    return _tainted


def office_member(confidential_area: Path) -> bool:
    """Is the current (non-root) account in the OS group that guards ``confidential_area``?"""
    if os.geteuid() == 0:
        return False
    try:
        gid = confidential_area.stat().st_gid
    except OSError:
        return False
    return gid != 0 and gid in os.getgroups()


def submitted_by_office() -> bool:
    """Root ingesting on behalf of an office member (``bif_lib.gate``)."""
    return os.geteuid() == 0 and os.environ.get("BIF_GATE_OFFICE") == "1"


def reasons_for_release(store, contract, lineage: dict) -> list[str]:
    """Why this write would carry data out of the office (German, empty if it does not)."""
    reasons = []
    previous = store.catalog.versions(contract.id)
    if previous:
        highest = max(previous, key=lambda v: RANK[v.classification])
        if RANK[highest.classification] > RANK[contract.classification]:
            reasons.append(f"Version {highest.version} ist als „{CLASSIFICATION_LABELS[highest.classification]}“ "
                           f"eingestuft; eine Einstufung wird nicht durch einen neuen Vertrag herabgesetzt")
    for source in contract.raw.get("derived_from") or []:
        entry = store.catalog.latest(source)
        if entry is None or entry.classification == "confidential":
            # unknown sources count as confidential: the writer may not be able to see them
            reasons.append(f"der Vertrag nennt „{source}“ als Grundlage (vertraulich)")
    for reference in (lineage.get("references") or {}):
        entry = store.catalog.latest(reference)
        if entry is not None and entry.classification == "confidential":
            reasons.append(f"geprüft gegen den vertraulichen Datensatz „{reference}“")
    if is_tainted():
        reasons.append("dieser Prozess hat vertrauliche Daten gelesen")
    if office_member(store.area("confidential")) or submitted_by_office():
        reasons.append("das schreibende Konto gehört zur Statistikstelle")
    return reasons


def admit(store, frame, contract, lineage: dict, certificate) -> dict | None:
    """Return the certificate to record with the version, or raise ``AdmissionRefused``.

    Confidential versions stay inside the office and need no certificate.
    """
    if contract.classification == "confidential":
        return None
    reasons = reasons_for_release(store, contract, lineage)
    if not reasons and certificate is None:
        return None
    if certificate is None:
        raise AdmissionRefused(
            f"„{contract.id}“ wird nicht gespeichert: {'; '.join(reasons)}. Daten aus der Statistikstelle "
            f"verlassen sie nur als Freigabe mit Geheimhaltungszertifikat (`bif release`, siehe "
            f"docs/statistics-office.md). Nichts wurde gespeichert.")
    from bif_lib.disclosure import Certificate

    if not isinstance(certificate, Certificate):
        certificate = Certificate.from_dict(certificate)
    if certificate.dataset not in (None, contract.id):
        raise AdmissionRefused(f"„{contract.id}“ wird nicht gespeichert: das Zertifikat gilt für "
                               f"„{certificate.dataset}“, nicht für diesen Datensatz. Nichts wurde gespeichert.")
    if not certificate.matches(frame):
        raise AdmissionRefused(f"„{contract.id}“ wird nicht gespeichert: der Inhalt stimmt nicht mit dem "
                               f"Geheimhaltungszertifikat überein (Prüfsumme weicht ab). Nichts wurde gespeichert.")
    problems = verify_release(frame, contract, certificate)
    if problems:
        raise AdmissionRefused(f"„{contract.id}“ wird nicht gespeichert: die Freigabe hält ihr Zertifikat "
                               f"nicht ein: {'; '.join(problems)}. Nichts wurde gespeichert.")
    return certificate.to_dict()


def verify_release(frame, contract, certificate) -> list[str]:
    """What the store can check of a release without the microdata (German; empty: fine).

    The certificate's own checks must all have passed; a table protected by the Cell Key Method
    shows no count from 1 to js; a suppressed count table shows no count below the minimum
    frequency; anything computed from synthetic data is labelled synthetic.
    """
    import numpy as np

    problems = []
    failed = [c.get("name", "?") for c in certificate.checks if not c.get("passed")]
    if failed:
        problems.append("nicht bestandene Prüfungen: " + ", ".join(failed))
    if certificate.method not in ("cellkey", "suppression", "output_check"):
        problems.append(f"unbekanntes Verfahren „{certificate.method}“")
    count_column = certificate.parameters.get("count_column")
    if certificate.method in ("cellkey", "suppression") and count_column:
        if count_column not in frame.columns:
            problems.append(f"die Zählspalte „{count_column}“ fehlt")
        else:
            values = frame[count_column].to_numpy(dtype="float64", na_value=np.nan)
            if certificate.method == "cellkey":
                low, high = 1, int((certificate.ptable_parameters or {}).get("js", 0))
            else:
                low, high = 1, int(certificate.parameters.get("min_frequency", 1)) - 1
            small = (values >= low) & (values <= high)
            if high >= low and small.any():
                problems.append(f"{int(small.sum())} Zelle(n) mit Werten von {low} bis {high}")
    if certificate.synthetic and not contract.synthetic:
        problems.append("aus synthetischen Daten berechnet, der Vertrag kennzeichnet das nicht (synthetic: true)")
    return problems
