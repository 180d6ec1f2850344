"""Publication checks that need no kernel: app metadata and data classification.

Every check returns a list of problems in German (empty = passed), so a refused
publication can name all reasons at once instead of one per attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from bif_lib.i18n import CLASSIFICATION_LABELS

# The BIF groups (agreed with the hub configuration).
GROUPS = ("analysts", "planners", "trainers", "statistikstelle", "admins", "participants")
GROUP_LABELS = {
    "analysts": "Analyse", "planners": "Planung", "trainers": "Schulung",
    "statistikstelle": "Statistikstelle", "admins": "Betrieb", "participants": "Schulungsteilnehmende",
}
# What each group may see. Admins are *not* cleared for confidential data
# (Statistikgeheimnis): an app for admins must stick to open and internal data too.
GROUP_CLASSIFICATIONS: dict[str, frozenset[str]] = {
    "analysts": frozenset({"open", "internal"}),
    "planners": frozenset({"open", "internal"}),
    "trainers": frozenset({"open", "internal"}),
    "statistikstelle": frozenset({"open", "internal", "confidential"}),
    "admins": frozenset({"open", "internal"}),
    "participants": frozenset({"open"}),  # training accounts: open data only
}
CLASSIFICATION_ORDER = ("open", "internal", "confidential")
# What an app itself may be classified as (``bif.classification``): the publication check and
# the app's kernels never get the confidential group, so there are no confidential apps.
APP_CLASSIFICATIONS = ("open", "internal")

TITLE_MAX = 120
DESCRIPTION_MAX = 600
POOL_SIZE_MAX = 8


@dataclass(frozen=True)
class AppMetadata:
    """The notebook's ``metadata.bif`` block, validated."""

    title: str
    description: str
    audience: tuple[str, ...]
    owner: str | None = None  # optional: the publication records the publishing account instead
    app_id: str | None = None
    pool_size: int | None = None
    classification: str | None = None  # bif.classification as declared (None: see app_classification)

    def as_dict(self) -> dict:
        return {"title": self.title, "description": self.description, "audience": list(self.audience),
                "owner": self.owner, "pool_size": self.pool_size}


@dataclass(frozen=True)
class DatasetUse:
    """One dataset the notebook loaded (from the ``BIF_LOAD_TRACE`` file)."""

    dataset: str
    version: int | None
    classification: str
    synthetic: bool = False
    created_at: str | None = None

    def as_dict(self) -> dict:
        return {"dataset": self.dataset, "version": self.version, "classification": self.classification,
                "synthetic": self.synthetic, "created_at": self.created_at}


@dataclass
class MetadataResult:
    metadata: AppMetadata | None
    problems: list[str] = field(default_factory=list)


def check_metadata(notebook: dict) -> MetadataResult:
    """Validate ``metadata.bif``: title, description, audience (known groups); the optional keys
    owner (default: the publishing account, see ``publish.py``), id, pool_size, classification."""
    raw = (notebook.get("metadata") or {}).get("bif")
    if not isinstance(raw, dict):
        return MetadataResult(None, [
            "Dem Notebook fehlen die App-Angaben: In den Notebook-Metadaten muss unter \"bif\" "
            "stehen: title, description, audience (Liste der Gruppen). Freiwillig ist owner (wer Fragen "
            "zur App beantwortet; ohne owner gilt das veröffentlichende Konto)."
        ])
    problems: list[str] = []
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("Titel fehlt (Metadaten bif.title).")
    elif len(title) > TITLE_MAX:
        problems.append(f"Titel ist zu lang ({len(title)} Zeichen, höchstens {TITLE_MAX}).")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("Beschreibung fehlt (Metadaten bif.description).")
    elif len(description) > DESCRIPTION_MAX:
        problems.append(f"Beschreibung ist zu lang ({len(description)} Zeichen, höchstens {DESCRIPTION_MAX}).")
    audience = raw.get("audience")
    if isinstance(audience, str):
        audience = [audience]
    if not isinstance(audience, list) or not audience:
        problems.append("Zielgruppe fehlt (Metadaten bif.audience, z. B. [\"planners\"]).")
        audience = []
    unknown = [g for g in audience if g not in GROUPS]
    if unknown:
        problems.append(f"Unbekannte Gruppe(n) in der Zielgruppe: {', '.join(map(str, unknown))} "
                        f"(erlaubt: {', '.join(GROUPS)}).")
    owner = raw.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        problems.append("Verantwortliche Person (bif.owner) ist leer: weglassen (dann gilt das "
                        "veröffentlichende Konto) oder ausfüllen.")
    pool_size = raw.get("pool_size")
    if pool_size is not None and (not isinstance(pool_size, int) or not 0 <= pool_size <= POOL_SIZE_MAX):
        problems.append(f"bif.pool_size muss eine ganze Zahl von 0 bis {POOL_SIZE_MAX} sein.")
    app_id = raw.get("id")
    if app_id is not None and not isinstance(app_id, str):
        problems.append("bif.id muss ein Text sein.")
    classification = raw.get("classification")
    if classification is not None:
        if classification not in APP_CLASSIFICATIONS:
            problems.append(
                f"bif.classification muss \"open\" (nur offene Daten) oder \"internal\" (offene und interne "
                f"Daten) sein, nicht {classification!r}; Apps mit vertraulichen Daten werden nicht veröffentlicht.")
        elif not unknown and classification not in allowed_classifications(audience):
            label = CLASSIFICATION_LABELS.get(classification, classification)
            problems.append(f"Die App ist als „{label}“ eingestuft, aber nicht jede Gruppe der Zielgruppe darf "
                            "solche Daten sehen.")
    if problems:
        return MetadataResult(None, problems)
    return MetadataResult(AppMetadata(
        title=title.strip(), description=description.strip(),
        audience=tuple(dict.fromkeys(audience)),  # keep order, drop duplicates
        owner=owner.strip() if owner else None, app_id=app_id, pool_size=pool_size,
        classification=classification,
    ))


def app_classification(metadata: AppMetadata) -> str:
    """What the app may read, and so what its publication check may read (``sandbox.py``):
    ``bif.classification`` if given, else the highest classification every group of the
    audience may see, but never above "internal"."""
    if metadata.classification:
        return metadata.classification
    allowed = allowed_classifications(metadata.audience)
    return "internal" if "internal" in allowed else "open"


def allowed_classifications(audience: Iterable[str]) -> frozenset[str]:
    """Classifications every group of the audience may see (the intersection)."""
    allowed = frozenset(CLASSIFICATION_ORDER)
    for group in audience:
        allowed &= GROUP_CLASSIFICATIONS.get(group, frozenset())
    return allowed


def read_load_trace(path: str | Path) -> list[DatasetUse]:
    """Datasets recorded by ``bif_lib.load()`` (one JSON line per load), deduplicated."""
    path = Path(path)
    if not path.exists():
        return []
    return parse_load_trace(path.read_text(encoding="utf-8"))


def parse_load_trace(text: str) -> list[DatasetUse]:
    """The load trace's lines as ``DatasetUse``s, deduplicated. The notebook under check can
    write this file too: it informs (datasets in ``meta.json``, synthetic label, audience),
    while what the app may read is enforced by the operating system (``sandbox.py``).
    Raises ``ValueError`` for a line that is not a load record."""
    uses: dict[tuple, DatasetUse] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            version = record.get("version") if isinstance(record, dict) else None
            if not isinstance(record, dict) or "dataset" not in record \
                    or not isinstance(version, (int, type(None))) or isinstance(version, bool):
                raise ValueError(line[:80])
        except ValueError as e:
            raise ValueError(f"Ladeprotokoll (BIF_LOAD_TRACE) beschädigt: {e}") from None
        use = DatasetUse(
            dataset=str(record["dataset"]), version=record.get("version"),
            classification=str(record.get("classification") or "unknown"),
            synthetic=bool(record.get("synthetic", False)), created_at=record.get("created_at"),
        )
        uses[(use.dataset, use.version)] = use
    return sorted(uses.values(), key=lambda u: (u.dataset, u.version or 0))


def check_classifications(audience: Iterable[str], datasets: Iterable[DatasetUse]) -> list[str]:
    """Refuse datasets that not every group of the audience may see."""
    audience = list(audience)
    allowed = allowed_classifications(audience)
    problems = []
    for use in datasets:
        if use.classification not in allowed:
            label = CLASSIFICATION_LABELS.get(use.classification, use.classification)
            blocked = [GROUP_LABELS.get(g, g) for g in audience
                       if use.classification not in GROUP_CLASSIFICATIONS.get(g, frozenset())]
            problems.append(
                f"Datensatz {use.dataset!r} (Version {use.version}) ist als „{label}“ eingestuft; "
                f"die Zielgruppe {', '.join(blocked)} darf ihn nicht sehen."
            )
    return problems


def check_synthetic_label(metadata: AppMetadata, datasets: Iterable[DatasetUse]) -> list[str]:
    """Apps built on synthetic data must say so where people read about them."""
    synthetic = [u.dataset for u in datasets if u.synthetic]
    text = f"{metadata.title} {metadata.description}".lower()
    if synthetic and "synthetisch" not in text:
        return [f"Die App nutzt synthetische Daten ({', '.join(sorted(set(synthetic)))}); Titel oder "
                "Beschreibung müssen das Wort „synthetisch“ enthalten."]
    return []
