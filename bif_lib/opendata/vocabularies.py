"""Contract metadata → the controlled vocabularies DCAT-AP.de 3.0 prescribes.

Every concept BIF emits is listed in ``vocabularies.ttl`` (the excerpt of the official code
lists the SHACL validation loads), so a value outside these tables fails validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EU = "http://publications.europa.eu/resource/authority/"
DCATDE_LICENCES = "http://dcat-ap.de/def/licenses/"
IANA = "https://www.iana.org/assignments/media-types/"
GEOCODING = "http://dcat-ap.de/def/politicalGeocoding/"
EXCERPT_PATH = Path(__file__).with_name("vocabularies.ttl")


class LicenceError(ValueError):
    """The contract's licence cannot be published as open data (German message)."""


@dataclass(frozen=True)
class Licence:
    key: str                  # identifier in the DCAT-AP.de licence list
    label: str                # German name
    url: str                  # the licence text
    spdx: str                 # SPDX identifier (Data Package ``licenses[].name``)
    attribution: bool         # the licence requires naming the source

    @property
    def uri(self) -> str:
        return DCATDE_LICENCES + self.key


# The open licences BIF publishes under (Open Definition: use, change and pass on for any
# purpose). NC/ND licences and software licences are refused.
LICENCES = {lic.key: lic for lic in [
    Licence("cc-zero", "Creative Commons CC Zero License (CC0 1.0)",
            "https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", False),
    Licence("cc-by/4.0", "Creative Commons Namensnennung – 4.0 International (CC BY 4.0)",
            "https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0", True),
    Licence("cc-by-sa/4.0", "Creative Commons Namensnennung – Weitergabe unter gleichen Bedingungen – "
            "4.0 International (CC BY-SA 4.0)", "https://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0", True),
    Licence("dl-by-de/2.0", "Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0)",
            "https://www.govdata.de/dl-de/by-2-0", "DL-DE-BY-2.0", True),
    Licence("dl-zero-de/2.0", "Datenlizenz Deutschland – Zero – Version 2.0 (dl-de/zero-2-0)",
            "https://www.govdata.de/dl-de/zero-2-0", "DL-DE-ZERO-2.0", False),
]}

# recognised in licence.url and licence.name (lower case, blanks and underscores as "-")
_LICENCE_PATTERNS = {
    "cc-zero": r"(?<![a-z0-9])cc0(?![0-9])|cc-?zero|publicdomain/zero/1\.0",
    "cc-by/4.0": r"(?<![a-z0-9])cc-by-4\.0(?![0-9])|licenses/by/4\.0",
    "cc-by-sa/4.0": r"(?<![a-z0-9])cc-by-sa-4\.0(?![0-9])|licenses/by-sa/4\.0",
    "dl-by-de/2.0": r"dl-de[/-]by-2[-.]0|dl-by-de/2\.0|datenlizenz-deutschland-[–-]+-?namensnennung",
    "dl-zero-de/2.0": r"dl-de[/-]zero-2[-.]0|dl-zero-de/2\.0|datenlizenz-deutschland-[–-]+-?zero",
}
_NOT_OPEN = r"(?<![a-z0-9])(cc-)?by-nc|(?<![a-z0-9])(cc-)?by-nd|-nc-|-nd-|dl-de[/-]by-nc|(?<![a-z])eupl|(?<![a-z])gpl"


def licence_of(contract: dict) -> Licence:
    """The open licence the contract's data are published under, or ``LicenceError`` (German).

    ``opendata.licence`` (a DCAT-AP.de identifier or URI) decides where given; otherwise the
    licence is recognised from ``licence.url`` and ``licence.name``, which must name exactly one
    of the open licences in ``LICENCES``.
    """
    stated = (contract.get("opendata") or {}).get("licence")
    accepted = ", ".join(LICENCES)
    if stated:
        key = stated.strip().removeprefix(DCATDE_LICENCES).removeprefix(DCATDE_LICENCES.replace("http:", "https:"))
        if key in LICENCES:
            return LICENCES[key]
        raise LicenceError(f"Die Lizenz „{_short(stated)}“ (opendata.licence) ist keine offene Lizenz der "
                           f"DCAT-AP.de-Liste, unter der BIF veröffentlicht. Möglich: {accepted}.")
    licence = contract.get("licence") or {}
    text = " ".join(str(licence[k]).strip() for k in ("url", "name") if licence.get(k))
    normal = re.sub(r"[\s_]+", "-", text.lower())
    found = {key for key, pattern in _LICENCE_PATTERNS.items() if re.search(pattern, normal)}
    if len(found) == 1:
        return LICENCES[found.pop()]
    name = _short(licence.get("name") or licence.get("url") or "–")
    if len(found) > 1:
        raise LicenceError(f"Die Lizenz „{name}“ ist nicht eindeutig: sie nennt {', '.join(sorted(found))}. "
                           f"Bitte im Vertrag opendata.licence angeben (z. B. opendata: {{licence: cc-zero}}).")
    if re.search(_NOT_OPEN, normal):
        raise LicenceError(f"Die Lizenz „{name}“ ist keine offene Datenlizenz (nicht kommerziell, keine "
                           f"Bearbeitung oder eine Softwarelizenz): offene Daten brauchen eine der Lizenzen {accepted} "
                           f"(im Vertrag: licence oder opendata.licence).")
    raise LicenceError(f"Unbekannte Lizenz „{name}“: offene Daten brauchen eine der DCAT-AP.de-Lizenzen {accepted}. "
                       f"Bitte licence.url/licence.name im Vertrag ergänzen oder opendata.licence angeben.")


def _short(text, limit: int = 120) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


# --- EU data themes (http://publications.europa.eu/resource/authority/data-theme) ----------------
THEMES = {
    "AGRI": "Landwirtschaft, Fischerei, Forstwirtschaft und Nahrungsmittel",
    "ECON": "Wirtschaft und Finanzen",
    "EDUC": "Bildung, Kultur und Sport",
    "ENER": "Energie",
    "ENVI": "Umwelt",
    "GOVE": "Regierung und öffentlicher Sektor",
    "HEAL": "Gesundheit",
    "INTR": "Internationale Themen",
    "JUST": "Justiz, Rechtssystem und öffentliche Sicherheit",
    "OP_DATPRO": "Vorläufige Daten",
    "REGI": "Regionen und Städte",
    "SOCI": "Bevölkerung und Gesellschaft",
    "TECH": "Wissenschaft und Technologie",
    "TRAN": "Verkehr",
}
DEFAULT_THEMES = ("REGI",)


def theme_uri(code: str) -> str:
    if code not in THEMES:
        raise ValueError(f"unbekanntes EU-Datenthema „{_short(code)}“ (möglich: {', '.join(THEMES)})")
    return f"{EU}data-theme/{code}"


# --- frequency (http://publications.europa.eu/resource/authority/frequency) ----------------------
FREQUENCIES = {"once": "NEVER", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
               "quarterly": "QUARTERLY", "yearly": "ANNUAL", "irregular": "IRREG"}
FREQUENCY_LABELS = {"NEVER": "einmalig", "DAILY": "täglich", "WEEKLY": "wöchentlich", "MONTHLY": "monatlich",
                    "QUARTERLY": "vierteljährlich", "ANNUAL": "jährlich", "IRREG": "unregelmäßig",
                    "UNKNOWN": "unbekannt"}


def frequency_code(cadence: str | None) -> str:
    return FREQUENCIES.get(cadence or "", "UNKNOWN")


def frequency_uri(code: str) -> str:
    return f"{EU}frequency/{code}"


# --- file types: EU file-type list, IANA media types ---------------------------------------------
@dataclass(frozen=True)
class FileType:
    key: str          # "csv"
    eu: str           # EU file-type code
    media_type: str   # IANA media type
    label: str        # German, for the catalog page

    @property
    def format_uri(self) -> str:
        return f"{EU}file-type/{self.eu}"

    @property
    def media_type_uri(self) -> str:
        return IANA + self.media_type


FILE_TYPES = {t.key: t for t in [
    FileType("csv", "CSV", "text/csv", "CSV (Tabelle, UTF-8, Komma)"),
    FileType("parquet", "PARQUET", "application/vnd.apache.parquet", "Parquet (Spaltenformat)"),
    FileType("geojson", "GEOJSON", "application/geo+json", "GeoJSON (WGS 84)"),
    FileType("datapackage", "JSON", "application/json", "Data Package (Beschreibung, JSON)"),
]}

LANGUAGE_GERMAN = f"{EU}language/DEU"
ACCESS_PUBLIC = f"{EU}access-right/PUBLIC"
STATUS_COMPLETED = f"{EU}distribution-status/COMPLETED"
PUBLISHER_LOCAL_AUTHORITY = "http://purl.org/adms/publishertype/LocalAuthority"
LEVEL_MUNICIPALITY = f"{GEOCODING}Level/municipality"


def municipality_uri(ags: str) -> str:
    """The political geocoding URI of a municipality by its Amtlicher Gemeindeschlüssel (8 digits)."""
    if not re.fullmatch(r"\d{8}", str(ags or "")):
        raise ValueError(f"Amtlicher Gemeindeschlüssel „{_short(ags)}“ hat nicht 8 Ziffern (city.yaml: ags)")
    return f"{GEOCODING}municipalityKey/{ags}"


@cache
def excerpt_text() -> str:
    return EXCERPT_PATH.read_text(encoding="utf-8")
