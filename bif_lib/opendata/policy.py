"""What may leave BIF as open data, decided on the store's catalog entry (not on a file on disk).

- ``confidential``: never.
- ``open``: yes — unless it is *protected* (below) or its contract says ``opendata: {release: false}``.
- *protected* (``internal``, or an open version whose history or origin reaches into the
  statistics office: an older version classified higher, ``derived_from`` a dataset that is
  not open or not in the store, checked against a dataset that is not open, or a version that
  itself carries a release certificate): only if the version carries a release certificate of
  the statistics office for exactly this dataset with every check passed, whose content
  digest matches the data read from the store, **and** the version's contract opts in with
  ``opendata: {release: true}``.
- The contract of the city profile, if it has one for the dataset, must not be stricter than the
  stored version's: a steward who reclassified a dataset (or set ``release: false``) but has
  not ingested it again is not overruled by the older version.

Every refusal is a German ``OpenDataRefused`` that names the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bif_lib.disclosure import Certificate
from bif_lib.i18n import CLASSIFICATION_LABELS
from bif_lib.store import Store, VersionEntry
from bif_lib.store.admission import RANK

NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")  # a contract id (contract.schema.json)

METHOD_LABELS = {"cellkey": "Cell-Key-Verfahren", "suppression": "Zellsperrung",
                 "output_check": "Ergebniskontrolle (Output-Check)"}


class OpenDataRefused(PermissionError):
    """This dataset may not be published as open data (German message naming the rule)."""


@dataclass
class Decision:
    entry: VersionEntry
    protected: bool = False
    certificate: Certificate | None = None
    reasons: list[str] = field(default_factory=list)   # why the dataset is protected (German)


def check_name(dataset: str) -> str:
    if not isinstance(dataset, str) or not NAME.fullmatch(dataset):
        shown = repr(dataset)[:80]
        raise OpenDataRefused(f"„{shown}“ ist kein Datensatzname (erlaubt: Kleinbuchstaben, Ziffern und _, "
                              f"beginnend mit einem Buchstaben, wie die id eines Datenvertrags).")
    return dataset


def decide(store: Store, dataset: str, current_contract: dict | None = None) -> Decision:
    """May the newest version of ``dataset`` leave? Raises ``OpenDataRefused`` if not.

    ``current_contract``: the city profile's contract for the dataset (raw), if it has one.
    """
    check_name(dataset)
    versions = store.catalog.versions(dataset)
    if not versions:
        raise OpenDataRefused(f"„{dataset}“ ist nicht im Datenspeicher: veröffentlicht wird nur, was geprüft "
                              f"eingespielt wurde (bif catalog list).")
    entry = versions[-1]
    contract = entry.contract or {}
    options = contract.get("opendata") or {}
    label = CLASSIFICATION_LABELS.get(entry.classification, entry.classification)
    if entry.classification == "confidential" or entry.classification not in RANK:
        raise OpenDataRefused(f"„{dataset}“ ist als „{label}“ eingestuft: vertrauliche Daten werden nie als offene "
                              f"Daten veröffentlicht, auch nicht mit Zertifikat.")
    if contract.get("classification") != entry.classification or \
            not str(entry.path).startswith(f"{entry.classification}/"):
        raise OpenDataRefused(f"„{dataset}“: der Katalogeintrag von Version {entry.version} ist widersprüchlich "
                              f"(Einstufung „{label}“, Vertrag „{contract.get('classification')}“, Datei "
                              f"{str(entry.path)[:80]}). Nichts wird veröffentlicht; bitte bif catalog verify.")
    if options.get("release") is False:
        raise OpenDataRefused(f"„{dataset}“: der Datenvertrag schließt die Veröffentlichung als offene Daten aus "
                              f"(opendata: {{release: false}}).")
    _check_current_contract(dataset, entry, current_contract)

    reasons = _protected_reasons(store, entry, versions)
    if not reasons:
        return Decision(entry)
    certificate = _certificate_of(entry)
    if certificate is None:
        raise OpenDataRefused(
            f"„{dataset}“ {reasons[0]} und trägt kein Freigabe-Zertifikat der Statistikstelle: veröffentlicht "
            f"werden nur offene Daten oder interne Tabellen, die die Statistikstelle mit Geheimhaltung freigegeben "
            f"hat (bif release) und deren Vertrag die Veröffentlichung erlaubt (opendata: {{release: true}}).")
    if certificate.dataset not in (None, dataset):
        raise OpenDataRefused(f"„{dataset}“: das Freigabe-Zertifikat gilt für „{certificate.dataset}“, nicht für "
                              f"diesen Datensatz. Nichts wird veröffentlicht.")
    failed = [c.get("name", "?") for c in certificate.checks if not c.get("passed")]
    if failed:
        raise OpenDataRefused(f"„{dataset}“: das Freigabe-Zertifikat hat nicht bestandene Prüfungen "
                              f"({', '.join(failed)}). Nichts wird veröffentlicht.")
    if options.get("release") is not True:
        raise OpenDataRefused(
            f"„{dataset}“ {reasons[0]} und trägt ein Freigabe-Zertifikat der Statistikstelle "
            f"({METHOD_LABELS.get(certificate.method, certificate.method)}), aber sein Datenvertrag erlaubt die "
            f"Veröffentlichung als offene Daten nicht ausdrücklich. Dafür im Vertrag „opendata: {{release: true}}“ "
            f"eintragen und die Tabelle neu freigeben (bif release), damit die Zustimmung mit der Version "
            f"gespeichert ist.")
    return Decision(entry, protected=True, certificate=certificate, reasons=reasons)


def verify_content(decision: Decision, frame) -> None:
    """A protected table must be exactly what its certificate certifies (read back from the store)."""
    if not decision.protected:
        return
    from bif_lib.contracts import Contract
    from bif_lib.store.admission import verify_release

    dataset = decision.entry.dataset_id
    if not decision.certificate.matches(frame):
        raise OpenDataRefused(f"„{dataset}“: der Inhalt stimmt nicht mit dem Freigabe-Zertifikat überein "
                              f"(Prüfsumme weicht ab). Nichts wird veröffentlicht.")
    problems = verify_release(frame, Contract(raw=decision.entry.contract), decision.certificate)
    if problems:
        raise OpenDataRefused(f"„{dataset}“: die Freigabe hält ihr Zertifikat nicht ein: {'; '.join(problems)}. "
                              f"Nichts wird veröffentlicht.")


def _certificate_of(entry: VersionEntry) -> Certificate | None:
    data = (entry.lineage or {}).get("release")
    if not data:
        return None
    try:
        return Certificate.from_dict(data)
    except (TypeError, ValueError):
        raise OpenDataRefused(f"„{entry.dataset_id}“: das gespeicherte Freigabe-Zertifikat ist nicht lesbar. "
                              f"Nichts wird veröffentlicht.") from None


def _protected_reasons(store: Store, entry: VersionEntry, versions: list[VersionEntry]) -> list[str]:
    reasons = []
    if entry.classification != "open":
        reasons.append(f"ist als „{CLASSIFICATION_LABELS[entry.classification]}“ eingestuft")
    for older in versions[:-1]:
        if RANK.get(older.classification, 2) > RANK[entry.classification]:
            reasons.append(f"war in Version {older.version} als "
                           f"„{CLASSIFICATION_LABELS.get(older.classification, older.classification)}“ eingestuft")
            break
    contract = entry.contract or {}
    for source in contract.get("derived_from") or []:
        origin = store.catalog.latest(source) if isinstance(source, str) else None
        if origin is None:
            reasons.append(f"ist aus „{source}“ abgeleitet (nicht im Datenspeicher, gilt als vertraulich)")
        elif origin.classification != "open":
            reasons.append(f"ist aus „{source}“ abgeleitet "
                           f"({CLASSIFICATION_LABELS.get(origin.classification, origin.classification)})")
    for reference in (entry.lineage or {}).get("references") or {}:
        origin = store.catalog.latest(reference)
        if origin is None or origin.classification != "open":
            reasons.append(f"wurde gegen den nicht offenen Datensatz „{reference}“ geprüft")
    if (entry.lineage or {}).get("release"):
        reasons.append("stammt aus einer Freigabe der Statistikstelle")
    return reasons


def _check_current_contract(dataset: str, entry: VersionEntry, current: dict | None) -> None:
    if not current:
        return
    classification = current.get("classification")
    if RANK.get(classification, 2) > RANK[entry.classification]:
        raise OpenDataRefused(
            f"„{dataset}“: der aktuelle Datenvertrag stuft den Datensatz als "
            f"„{CLASSIFICATION_LABELS.get(classification, classification)}“ ein, die gespeicherte Version {entry.version} "
            f"als „{CLASSIFICATION_LABELS[entry.classification]}“. Bitte zuerst neu einspielen; veröffentlicht wird "
            f"nach der strengeren Einstufung.")
    if (current.get("opendata") or {}).get("release") is False:
        raise OpenDataRefused(f"„{dataset}“: der aktuelle Datenvertrag schließt die Veröffentlichung als offene "
                              f"Daten aus (opendata: {{release: false}}).")
