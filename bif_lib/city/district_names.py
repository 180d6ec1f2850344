"""District names → district codes through the city profile (``source.district_names`` of a contract).

Published files often name a district only by its name, and not always as the profile spells it:
„Suedviertel“, „ SÜDVIERTEL “ or a name in decomposed Unicode for „Südviertel“. A name matches a
district of the profile when both are equal after ``normalise``: Unicode NFC, whitespace trimmed and
collapsed (also around hyphens and slashes), case folded and the German umlauts and ß transliterated
(ä→ae, ö→oe, ü→ue, ß→ss). A match that is not the profile's exact spelling is a correction, which
the reader reports (a counted warning per row); a name that matches no district is an error naming
the allowed names.

The matching (``normalise``, ``match_names``, ``DistrictLookup``) is pure; ``profile_lookup`` takes the
names from the contract's city profile (used by ``bif_lib.readers``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bif_lib import config
from bif_lib.contracts import Contract, ContractError

_TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss"})
_SPACES = re.compile(r"\s+")
_AROUND_JOINERS = re.compile(r"\s*([-/])\s*")


def normalise(name: str) -> str:
    """The form in which two spellings of one district name are equal (see the module text)."""
    text = unicodedata.normalize("NFC", str(name))
    text = _SPACES.sub(" ", text).strip()
    text = _AROUND_JOINERS.sub(r"\1", text)
    text = text.lower().translate(_TRANSLITERATION)
    return unicodedata.normalize("NFC", text.casefold())


@dataclass(frozen=True)
class NameMatch:
    """How one value of a file was matched: ``code`` and the profile's ``name`` (None: no district),
    ``corrected``: the value is not exactly the profile's spelling."""

    value: str
    code: int | None
    name: str | None

    @property
    def corrected(self) -> bool:
        return self.code is not None and self.value != self.name


class AmbiguousNames(ValueError):
    """Two districts of a profile whose names are equal after ``normalise``."""


def match_names(values: Iterable[str], names: Mapping[int, str]) -> dict[str, NameMatch]:
    """Each distinct value → its match against ``names`` ({code: name}, the profile's districts)."""
    return DistrictLookup(dict(names)).match(values)


@dataclass(frozen=True)
class DistrictLookup:
    """The districts of one profile, ready for matching many values."""

    names: dict[int, str]
    label: str = "Stadtteil"
    label_plural: str = "Stadtteile"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        index: dict[str, int] = {}
        for code, name in self.names.items():
            key = normalise(name)
            if key in index:
                raise AmbiguousNames(f"Die {self.label_plural} „{self.names[index[key]]}“ ({index[key]}) und "
                                     f"„{name}“ ({code}) sind nach Vereinheitlichung von Schreibweise, Leerraum "
                                     f"und Umlauten gleich – Namen allein ordnen sie nicht eindeutig zu.")
            index[key] = code
        object.__setattr__(self, "_index", index)

    @property
    def allowed(self) -> list[str]:
        """The profile's names, in its order."""
        return list(self.names.values())

    def match(self, values: Iterable[str]) -> dict[str, NameMatch]:
        result = {}
        for value in values:
            if value in result:
                continue
            code = self._index.get(normalise(value))
            result[value] = NameMatch(value, code, self.names[code] if code is not None else None)
        return result


def profile_lookup(contract: Contract) -> DistrictLookup:
    """The districts of the contract's city profile: the profile folder the contract lies in, else
    the current profile (``BIF_CITY``)."""
    from bif_lib.city.profile import current_profile, load_profile

    profile = None
    folder = contract.path.parent if contract.path is not None else None
    if folder is not None and (folder / "city.yaml").is_file():
        try:
            same = config.city_profile_dir(folder.name).resolve() == folder.resolve()
        except OSError:
            same = False
        if same:
            profile = load_profile(folder.name)
    if profile is None:
        profile = current_profile()
    districts = profile.districts
    try:
        return DistrictLookup(dict(districts.names), districts.label, districts.label_plural)
    except AmbiguousNames as exc:
        raise ContractError(profile.directory / "city.yaml", [("districts.codes", None, str(exc))]) from None


__all__ = ["AmbiguousNames", "DistrictLookup", "NameMatch", "match_names", "normalise", "profile_lookup"]
