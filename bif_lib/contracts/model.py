"""Data contracts: loading, validating and the typed view the rest of BIF uses.

A contract is one YAML file per dataset. Its format is defined by
``contract.schema.json`` (JSON Schema 2020-12); field definitions follow the
Frictionless Table Schema so that contracts can be read by other tools too.
A malformed contract is refused with the file, the path inside the YAML (and its
line) and what is wrong, in German, because stewards write contracts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from bif_lib.i18n import format_number

SCHEMA_PATH = Path(__file__).with_name("contract.schema.json")
CLASSIFICATIONS = ("open", "internal", "confidential")

# Limits for contract files: a contract is a few kilobytes; these stop hostile or broken YAML
# (e.g. "billion laughs": anchors whose aliases expand exponentially) before it costs memory.
MAX_CONTRACT_BYTES = 1_000_000   # file size
MAX_NESTING = 40                 # mappings/sequences inside each other
MAX_ALIASES = 200                # *alias uses
MAX_NODES = 100_000              # nodes after expanding every alias
MAX_SHOWN = 120                  # characters of a value quoted in a message


class ContractError(ValueError):
    """A contract file that cannot be used. ``problems`` lists (yaml_path, line, message)."""

    heading = "Vertrag {path} ist fehlerhaft:"

    def __init__(self, path: Path | str, problems: list[tuple[str, int | None, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [self.heading.format(path=self.shown_path())]
        for where, line, message in problems:
            at = f" (Zeile {line})" if line else ""
            lines.append(f"  - {where or '<Wurzel>'}{at}: {message}")
        super().__init__("\n".join(lines))

    def shown_path(self) -> str:
        return self.path


@cache
def contract_json_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    title: str = ""
    description: str = ""
    unit: str = ""
    format: str | None = None
    constraints: dict = field(default_factory=dict)
    missing_means: str = "unknown"
    geometry_type: tuple[str, ...] = ()
    crs: str | None = None
    on_invalid: str = "reject"   # a value that is not of the field's type: "reject" or "missing" (a warning)

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))


@dataclass(frozen=True)
class ForeignKey:
    fields: tuple[str, ...]
    resource: str
    reference_fields: tuple[str, ...]


@dataclass(frozen=True)
class Contract:
    """The typed view of one contract file. ``raw`` keeps the YAML content as loaded."""

    raw: dict
    path: Path | None = None

    # --- metadata -------------------------------------------------------
    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def version(self) -> str:
        return str(self.raw["version"])

    @property
    def title(self) -> str:
        return self.raw["title"]

    @property
    def description(self) -> str:
        return self.raw["description"]

    @property
    def classification(self) -> str:
        return self.raw["classification"]

    @property
    def synthetic(self) -> bool:
        return bool(self.raw.get("synthetic", False))

    @property
    def licence(self) -> dict:
        return self.raw["licence"]

    @property
    def source(self) -> dict:
        return self.raw["source"]

    @property
    def rules(self) -> list[dict]:
        return list(self.raw.get("rules") or [])

    # --- schema ---------------------------------------------------------
    @property
    def fields(self) -> list[Field]:
        result = []
        for spec in self.raw["schema"]["fields"]:
            spec = dict(spec)
            spec["constraints"] = dict(spec.get("constraints") or {})
            spec["geometry_type"] = tuple(spec.get("geometry_type") or ())
            result.append(Field(**spec))
        return result

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.raw["schema"]["fields"]]

    @property
    def geometry_field(self) -> Field | None:
        return next((f for f in self.fields if f.type == "geometry"), None)

    @property
    def is_geo(self) -> bool:
        return self.geometry_field is not None

    @property
    def primary_key(self) -> list[str]:
        pk = self.raw["schema"].get("primaryKey") or []
        return [pk] if isinstance(pk, str) else list(pk)

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        result = []
        for fk in self.raw["schema"].get("foreignKeys") or []:
            ref = fk["reference"]
            result.append(ForeignKey(_as_tuple(fk["fields"]), ref["resource"], _as_tuple(ref["fields"])))
        return result

    @property
    def missing_values(self) -> list[str]:
        return list(self.source.get("missing_values") or self.raw["schema"].get("missingValues") or [""])

    @property
    def sha256(self) -> str:
        """Fingerprint of the contract's content (not its formatting). The refresh schedule
        (``refresh:``, docs/schedule.md) says when the data are fetched, not what they are: adding or
        changing it makes no new version of the dataset."""
        content = {key: value for key, value in self.raw.items() if key != "refresh"}
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, default=str)


def _as_tuple(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


# --- loading ----------------------------------------------------------------

def load_contract(path: Path | str) -> Contract:
    """Read, validate and return a contract; raise ContractError naming what is wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONTRACT_BYTES:
            message = (f"Datei ist {format_number(size)} Byte groß; ein Vertrag darf höchstens "
                       f"{format_number(MAX_CONTRACT_BYTES)} Byte haben (falsche Datei gewählt?)")
            raise ContractError(path, [("", None, message)])
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONTRACT_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ContractError(path, [("", None, "Datei nicht gefunden")]) from None
    except IsADirectoryError:
        raise ContractError(path, [("", None, "ist ein Ordner, keine Vertragsdatei")]) from None
    except PermissionError:
        raise ContractError(path, [("", None, "keine Leserechte auf die Datei")]) from None
    except UnicodeDecodeError as exc:
        raise ContractError(path, [("", None, f"Datei ist nicht UTF-8-kodiert ({exc.reason} an Byte {exc.start})")]) from None
    return parse_contract(text, path)


def _shown(value, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a value for a message, never much longer than ``limit`` characters."""
    return _plain(repr(value), limit)


def _plain(text, limit: int = MAX_SHOWN) -> str:
    """``text`` for a message, cut after ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… (gekürzt, {format_number(len(text))} Zeichen)"


def _read_yaml(text: str) -> tuple[object, yaml.Node | None]:
    """(data, root node) of one YAML document, within the limits above; raises ContractError
    problems as ``_YamlLimit`` (line, message) or ``yaml.YAMLError``."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_CONTRACT_BYTES:
        raise _YamlLimit(None, f"Text ist größer als {format_number(MAX_CONTRACT_BYTES)} Byte")
    # 1. events, without building anything: nesting depth and number of aliases
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                raise _YamlLimit(event.start_mark.line + 1, f"zu tief verschachtelt (mehr als {MAX_NESTING} Ebenen)")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _YamlLimit(event.start_mark.line + 1, f"mehr als {MAX_ALIASES} Verweise (*Alias) auf Anker")
    # 2. the node graph (aliases are shared nodes): its size with every alias expanded
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        sizes: dict[int, int] = {}
        _expanded_size(node, sizes)
        _duplicate_keys(node, set())
        return loader.construct_document(node), node
    finally:
        loader.dispose()


class _YamlLimit(Exception):
    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Number of nodes ``node`` stands for once every alias is expanded (memoised per node)."""
    key = id(node)
    if key in sizes:
        if sizes[key] < 0:
            raise _YamlLimit(node.start_mark.line + 1, "ein Anker verweist auf sich selbst")
        return sizes[key]
    sizes[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes)
        if total > MAX_NODES:
            raise _YamlLimit(node.start_mark.line + 1,
                             f"Anker und Verweise (*Alias) würden den Vertrag auf mehr als {format_number(MAX_NODES)} "
                             f"Einträge aufblähen")
    sizes[key] = total
    return total


def _duplicate_keys(node: yaml.Node, seen: set[int]) -> None:
    """A key twice in one mapping: YAML keeps the last silently, a contract must be unambiguous."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in keys:
                    raise _YamlLimit(key.start_mark.line + 1,
                                     f"Schlüssel „{_plain(key.value)}“ steht doppelt in derselben Ebene "
                                     f"(zuerst in Zeile {keys[key.value]}) – nicht eindeutig")
                keys[key.value] = key.start_mark.line + 1
            _duplicate_keys(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _duplicate_keys(child, seen)


def parse_contract(text: str, path: Path | str = "<text>") -> Contract:
    try:
        raw, root_node = _read_yaml(text)
    except _YamlLimit as exc:
        raise ContractError(path, [("", exc.line, f"kein zulässiger Vertrag: {exc.message}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContractError(path, [("", line, f"kein gültiges YAML: {_plain(problem, 200)}")]) from None
    except RecursionError:
        raise ContractError(path, [("", None, "kein zulässiger Vertrag: zu tief verschachtelt")]) from None
    if not isinstance(raw, dict):
        raise ContractError(path, [("", None, "der Vertrag muss ein YAML-Objekt (Schlüssel: Wert) sein")])

    import jsonschema  # imported here: it costs about a second, and every kernel imports bif_lib

    validator = jsonschema.Draft202012Validator(contract_json_schema())
    problems = []
    for error in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path))):
        message = _german(error)
        if message is None:
            continue
        yaml_path = _format_path(error.absolute_path)
        problems.append((_plain(yaml_path, 200), _line_of(root_node, list(error.absolute_path)), message))
        if len(problems) >= 50:
            problems.append(("", None, "… weitere Fehler nicht aufgeführt"))
            break
    if not problems:
        problems = [(p, _line_of(root_node, _parse_path(p)), m) for p, m in _semantic_problems(raw)]
    if problems:
        raise ContractError(path, problems)
    return Contract(raw=raw, path=Path(path) if path != "<text>" else None)


def load_contracts(directory: Path | str) -> dict[str, Contract]:
    """All contracts of a city profile, by dataset id (city.yaml is not a contract)."""
    contracts: dict[str, Contract] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        if path.name == "city.yaml":
            continue
        contract = load_contract(path)
        if contract.id in contracts:
            raise ContractError(path, [("id", None, f"Datensatz-ID „{contract.id}“ ist schon in "
                                                    f"{contracts[contract.id].path} vergeben")])
        contracts[contract.id] = contract
    return contracts


# Checks of a contract that need a floor above this one (the typed rules of
# ``bif_lib.validation.rules`` register theirs: a rule's columns and whether it reads geometry are
# the rule class's to say). Each takes the raw contract, valid against the JSON Schema, and returns
# (YAML path, German message) problems.
_SEMANTIC_CHECKS: list[Callable[[dict], list[tuple[str, str]]]] = []


def register_semantic_check(check: Callable[[dict], list[tuple[str, str]]]):
    """Run ``check`` on every contract loaded from now on (see ``_SEMANTIC_CHECKS``)."""
    if check not in _SEMANTIC_CHECKS:
        _SEMANTIC_CHECKS.append(check)
    return check


def _semantic_problems(raw: dict) -> list[tuple[str, str]]:
    """Checks JSON Schema cannot express: names used in keys and rules must exist."""
    names = [f["name"] for f in raw["schema"]["fields"]]
    problems = []
    seen = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append((f"schema.fields[{i}].name", f"Feldname „{name}“ kommt doppelt vor"))
        seen.add(name)
    pk = raw["schema"].get("primaryKey") or []
    for name in [pk] if isinstance(pk, str) else pk:
        if name not in seen:
            problems.append(("schema.primaryKey", f"Primärschlüssel nennt unbekanntes Feld „{name}“"))
    for i, fk in enumerate(raw["schema"].get("foreignKeys") or []):
        local = _as_tuple(fk["fields"])
        for name in local:
            if name not in seen:
                problems.append((f"schema.foreignKeys[{i}].fields", f"Fremdschlüssel nennt unbekanntes Feld „{name}“"))
        if len(local) != len(_as_tuple(fk["reference"]["fields"])):
            problems.append((f"schema.foreignKeys[{i}]", "Anzahl der Felder und der Referenzfelder unterscheidet sich"))
    geometry = [f for f in raw["schema"]["fields"] if f["type"] == "geometry"]
    if len(geometry) > 1:
        problems.append(("schema.fields", "höchstens ein Geometriefeld ist erlaubt"))
    for f in geometry:
        if f.get("crs") and f["crs"].upper() != "EPSG:25832":
            problems.append((f"schema.fields[{names.index(f['name'])}].crs",
                             "Geodaten werden in EPSG:25832 gespeichert"))
    if geometry and raw["source"]["format"] in ("csv", "xlsx"):
        problems.append(("source.format", "ein Geometriefeld braucht ein Geodatenformat (geojson, shapefile_zip, gpkg)"))
    for check in _SEMANTIC_CHECKS:
        problems += check(raw)
    from bif_lib.schedule.spec import contract_problems  # the `refresh:` block (docs/schedule.md)

    problems += contract_problems(raw)
    source = raw.get("source") or {}
    decimal, thousands = source.get("decimal", "."), source.get("thousands")
    if thousands is not None and thousands == decimal:
        problems.append(("source.thousands", f"Tausendertrennzeichen und Dezimalzeichen sind beide „{decimal}“ – "
                                             f"Zahlen wären nicht eindeutig lesbar"))
    if source.get("encoding"):
        import codecs
        try:
            codecs.lookup(source["encoding"])
        except LookupError:
            problems.append(("source.encoding", f"unbekannte Zeichenkodierung {_shown(source['encoding'])} "
                                                f"(z. B. utf-8, windows-1252, iso-8859-1)"))
    problems += _line_range_problems(source)
    names_spec = source.get("district_names")
    if names_spec and "wide_to_long" in source:
        target = names_spec.get("to", names_spec["column"])
        if target not in source["wide_to_long"]["id_columns"]:
            problems.append(("source.district_names.to",
                             f"die Spalte „{target}“ mit den Stadtteilnummern muss unter "
                             f"source.wide_to_long.id_columns stehen (sonst würde sie umgeformt)"))
    for i, f in enumerate(raw["schema"]["fields"]):
        c = f.get("constraints") or {}
        if f.get("on_invalid") == "missing" and c.get("required"):
            problems.append((f"schema.fields[{i}].on_invalid",
                             "„on_invalid: missing“ widerspricht „required: true“: ein unlesbarer Wert würde zum "
                             "fehlenden Pflichtwert (eines von beiden streichen)"))
        if "minimum" in c and "maximum" in c and _num(c["minimum"]) is not None and _num(c["maximum"]) is not None \
                and _num(c["minimum"]) > _num(c["maximum"]):
            problems.append((f"schema.fields[{i}].constraints", "Minimum ist größer als Maximum"))
    return problems


def _line_range_problems(source: dict) -> list[tuple[str, str]]:
    """``source.skip_lines``: each entry a line number or a range "first-last" with first <= last."""
    import re

    problems = []
    for i, item in enumerate(source.get("skip_lines") or []):
        match = re.fullmatch(r"\s*(\d+)\s*(?:[-–]\s*(\d+)\s*)?", str(item))
        if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            problems.append((f"source.skip_lines[{i}]", f"{_shown(item)} ist keine Zeilenangabe: erwartet eine "
                                                        f"Zeilennummer (7) oder einen Bereich „erste-letzte“ "
                                                        f"(„250-260“, erste ≤ letzte, ab 1)"))
    return problems


def _num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_GERMAN_VALIDATORS = {
    "required": "Pflichtangabe fehlt: {missing}",
    "additionalProperties": "unbekannter Schlüssel: {extra}",
    "unevaluatedProperties": "unbekannter Schlüssel: {extra}",
    "enum": "Wert {instance!r} ist nicht erlaubt; erlaubt: {allowed}",
    "type": "Wert {instance!r} hat den falschen Typ; erwartet: {expected}",
    "pattern": "Wert {instance!r} passt nicht zum Muster {pattern}",
    "minLength": "Wert ist zu kurz",
    "minItems": "Liste braucht mindestens {limit} Einträge",
    "minimum": "Wert {instance!r} ist kleiner als {limit}",
    "exclusiveMinimum": "Wert {instance!r} muss größer als {limit} sein",
    "oneOf": "Wert {instance!r} hat keine gültige Form",
    "const": "Wert {instance!r} ist nicht erlaubt",
}


class _Shown:
    """A value in a message template: ``{instance!r}`` gives a shortened repr (never the whole of a
    huge value)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return _shown(self.value)

    def __str__(self) -> str:
        return _shown(self.value)


def _german(error) -> str | None:
    template = _GERMAN_VALIDATORS.get(error.validator)
    if template is None:
        return _plain(error.message, 300)
    v = error.validator_value
    details = {"instance": _Shown(error.instance), "limit": v, "pattern": v,
               "allowed": ", ".join(map(str, v)) if isinstance(v, list) else v,
               "expected": " oder ".join(v) if isinstance(v, list) else v}
    if error.validator == "required":
        missing = [name for name in v if isinstance(error.instance, dict) and name not in error.instance]
        details["missing"] = ", ".join(missing)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        details["extra"] = _plain(", ".join(sorted(str(k) for k in error.instance if k not in allowed)), 300)
    if error.validator == "unevaluatedProperties":  # rule options: the allowed ones depend on the rule type
        allowed = set(error.schema.get("properties", {}))
        for case in error.schema.get("allOf", []):
            if case["if"]["properties"]["type"]["const"] == error.instance.get("type"):
                allowed |= set(case["then"].get("properties", {}))
        details["extra"] = _plain(", ".join(sorted(str(k) for k in error.instance if k not in allowed)), 300)
        if not details["extra"]:
            return None  # only a consequence of another error in the rule (its options were not evaluated)
    return template.format(**details)


def _format_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _parse_path(text: str) -> list:
    parts: list = []
    for chunk in text.replace("[", ".[").split("."):
        if not chunk:
            continue
        parts.append(int(chunk[1:-1]) if chunk.startswith("[") else chunk)
    return parts


def _line_of(node, path: list) -> int | None:
    """1-based line of the YAML node at ``path`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node = match
        line = node.start_mark.line + 1
    return line
