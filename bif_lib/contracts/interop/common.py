"""What ODCS and Table Schema import/export share: reading a foreign file within the contract
parser's limits, the record of what an import mapped and what it could not, names and patterns,
and the BIF contract text an import writes.

An import never drops anything silently: every key of the foreign file is either mapped (the
mapping code *takes* it) or reported as a German warning, which also becomes a ``# TODO``
comment in the contract it writes. A file that cannot be read safely (too large, too deeply
nested, YAML aliases blowing it up, a duplicate key, a name that looks like a path or holds
control characters, an unknown type) is refused with ``InteropError``, naming the file and the
key path inside it.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bif_lib.contracts.model import (
           MAX_CONTRACT_BYTES,
           MAX_NESTING,
           MAX_NODES,
           Contract,
           ContractError,
           _line_of,
           _plain,
           _read_yaml,
           _shown,
           _YamlLimit,
           parse_contract,
)
from bif_lib.i18n import format_number

DATASET_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VERSION = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")
BIF_TYPES = ("string", "integer", "number", "boolean", "date", "datetime", "year", "geometry")
SOURCE_FORMATS = ("csv", "xlsx", "geojson", "shapefile_zip", "gpkg", "parquet")
GEO_FORMATS = ("geojson", "shapefile_zip", "gpkg")
MAX_NAME = 200            # characters of a field name
MAX_COMMENT = 220         # characters of one TODO comment line
MAX_COMMENTS = 300        # TODO comment lines in one imported contract

# Placeholders for what a foreign file does not say; the contract is valid with them (like a
# draft of `bif contract draft`), and each is also listed as a TODO.
PLACEHOLDERS = {
    "title": "TODO Titel",
    "description": "TODO Was enthält der Datensatz, wofür wird er gebraucht?",
    "owner": "TODO Fachbereich",
    "steward": {"name": "TODO Name", "email": "todo@example.org"},
    "source_system": "TODO Fachverfahren",
    "licence": {"name": "TODO Lizenz", "attribution": "TODO Namensnennung"},
    "cadence": "irregular",
    "spatial_unit": "TODO Raumbezug",
    "temporal_coverage": {},
}
DEFAULT_VERSION = "0.1"
DEFAULT_CLASSIFICATION = "internal"   # as `bif contract draft`: neither published nor sealed


class InteropError(ContractError):
    """A foreign file that cannot be imported. ``problems`` lists (key path, line, message)."""

    heading = "Datei {path} kann nicht importiert werden:"

    def shown_path(self) -> str:
        return _plain(self.path, 300)  # a foreign file's name may carry anything


@dataclass
class ExportResult:
    """An exported contract: the descriptor, its text (ODCS: YAML, Table Schema: JSON) and, in
    German, what the target format could not carry."""

    descriptor: dict
    text: str
    losses: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """An imported contract: its raw content, the YAML text to write (with TODO comments) and the
    German warnings (key path in the foreign file, message)."""

    raw: dict
    text: str
    contract: Contract
    warnings: list[tuple[str, str]] = field(default_factory=list)


# --- reading a foreign file ----------------------------------------------------------------------

def read_document(path: Path | str) -> tuple[object, yaml.Node | None]:
    """(data, YAML root node or None for JSON) of a foreign contract file, within the limits of
    BIF's own contract parser; raises InteropError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONTRACT_BYTES:
            raise InteropError(path, [("", None, f"Datei ist {format_number(size)} Byte groß; importiert werden "
                                                 f"höchstens {format_number(MAX_CONTRACT_BYTES)} Byte "
                                                 f"(falsche Datei gewählt?)")])
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONTRACT_BYTES + 1)
    except FileNotFoundError:
        raise InteropError(path, [("", None, "Datei nicht gefunden")]) from None
    except IsADirectoryError:
        raise InteropError(path, [("", None, "ist ein Ordner, keine Datei")]) from None
    except PermissionError:
        raise InteropError(path, [("", None, "keine Leserechte auf die Datei")]) from None
    return parse_document(data, path)


def parse_document(data: bytes | str, path: Path | str = "<text>", *, yaml_only: bool = False
                   ) -> tuple[object, yaml.Node | None]:
    """(data, YAML root node or None) of a foreign file's content: JSON if it starts with ``{`` or
    ``[`` and parses as JSON, YAML otherwise (ODCS files are YAML, Table Schemas mostly JSON)."""
    if isinstance(data, bytes):
        if len(data) > MAX_CONTRACT_BYTES:
            raise InteropError(path, [("", None, f"Inhalt ist größer als {format_number(MAX_CONTRACT_BYTES)} Byte")])
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InteropError(path, [("", None, "Datei ist UTF-16-kodiert; bitte als UTF-8 speichern")])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"Datei ist nicht UTF-8-kodiert ({exc.reason} an Byte {exc.start})"
            raise InteropError(path, [("", None, message)]) from None
    else:
        text = data.removeprefix("\ufeff")
    if not yaml_only and text.lstrip(" \t\r\n").startswith(("{", "[")):
        try:
            return _read_json(text, path), None
        except _NotJson as exc:  # YAML in flow style ({a: 1}) is no JSON: read it as YAML
            json_error = exc.error
    else:
        json_error = None
    try:
        return _read_yaml(text)
    except _YamlLimit as exc:
        raise InteropError(path, [("", exc.line, f"nicht zulässig: {exc.message}")]) from None
    except yaml.YAMLError as exc:
        if json_error is not None:
            raise json_error from None
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark else None
        raise InteropError(path, [("", line, f"kein gültiges YAML: {_plain(problem, 200)}")]) from None
    except RecursionError:
        raise InteropError(path, [("", None, "nicht zulässig: zu tief verschachtelt")]) from None


class _DuplicateKey(Exception):
    pass


class _NotJson(Exception):
    """The text does not parse as JSON; ``error`` says why (if YAML cannot read it either)."""

    def __init__(self, error: InteropError):
        super().__init__(str(error))
        self.error = error


def _read_json(text: str, path) -> object:
    def pairs(items):
        result = {}
        for key, value in items:
            if key in result:
                raise _DuplicateKey(key)
            result[key] = value
        return result

    def no_constant(name):
        raise ValueError(f"{name} ist in JSON nicht erlaubt")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constant)
    except _DuplicateKey as exc:
        key = _shown(exc.args[0])[1:-1]
        message = f"Schlüssel „{key}“ steht doppelt in derselben Ebene – nicht eindeutig"
        raise InteropError(path, [("", None, message)]) from None
    except json.JSONDecodeError as exc:
        raise _NotJson(InteropError(path, [("", exc.lineno, f"kein gültiges JSON: {exc.msg} (Spalte {exc.colno})")])) \
            from None
    except ValueError as exc:
        raise InteropError(path, [("", None, f"kein gültiges JSON: {_plain(exc, 200)}")]) from None
    except RecursionError:
        message = f"nicht zulässig: zu tief verschachtelt (mehr als {MAX_NESTING} Ebenen)"
        raise InteropError(path, [("", None, message)]) from None
    # the same limits as for YAML (JSON has no aliases: its size bounds the number of nodes)
    nodes, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InteropError(path, [("", None, f"nicht zulässig: mehr als {format_number(MAX_NODES)} Einträge")])
        if isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise InteropError(path, [("", None, f"nicht zulässig: zu tief verschachtelt (mehr als {MAX_NESTING} "
                                                     f"Ebenen)")])
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return data


# --- the record of an import ---------------------------------------------------------------------

def format_path(parts) -> str:
    """``schema[0].properties[3].name``; a key with control or invisible characters is quoted
    (``['a\\nb']``), so that no message or comment shows them raw."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not isinstance(part, str) or _has_control(part):
            text += f"[{_shown(part, 60)}]"
        else:
            text += f".{part}" if text else part
    return _plain(text, 200)


def visible(text: str) -> str:
    """``text`` with control and invisible characters escaped (``\\x1b``): a message from a
    foreign file must not steer the terminal or break a line."""
    if not _has_control(text):
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if _has_control(ch) else ch for ch in text)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in text)


class Reader:
    """Reads a foreign document and records what was taken, what could not be mapped (warnings)
    and what is wrong (problems). Every getter checks the type of what it returns."""

    def __init__(self, file: Path | str, data: object, node: yaml.Node | None):
        self.file = str(file)
        self.data = data
        self.node = node
        self.problems: list[tuple[str, int | None, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self._taken: set[tuple] = set()
        self._visited: set[tuple] = set()

    # --- messages
    def line(self, path) -> int | None:
        if self.node is None:
            return None
        try:
            return _line_of(self.node, [p if isinstance(p, int) else str(p) for p in path])
        except Exception:  # noqa: BLE001 - a line number is a courtesy
            return None

    def error(self, path, message: str) -> None:
        self.take(path)
        self.problems.append((format_path(path), self.line(path), visible(message)))

    def warn(self, path, message: str) -> None:
        self.warnings.append((format_path(path), visible(message)))

    def fail_if_problems(self) -> None:
        if self.problems:
            problems = self.problems[:50]
            if len(self.problems) > 50:
                problems.append(("", None, "… weitere Fehler nicht aufgeführt"))
            raise InteropError(self.file, problems)

    # --- taking
    def take(self, path) -> None:
        """``path`` (and all below it) is mapped."""
        self._taken.add(tuple(path))

    def visit(self, path) -> None:
        """``path`` is a container whose entries are looked at one by one."""
        self._visited.add(tuple(path))

    def value(self, obj, path, key, kinds: tuple | type, what: str):
        """``obj[key]`` if present and of one of ``kinds`` (taken), else None (an error if present
        with another type; null counts as absent)."""
        if not isinstance(obj, dict) or key not in obj:
            return None
        value, here = obj[key], (*path, key)
        self.take(here)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            self.error(here, f"erwartet {what}, gefunden: {_shown(value)}")
            return None
        if not isinstance(value, kinds):
            self.error(here, f"erwartet {what}, gefunden: {_shown(value)}")
            return None
        return value

    def text(self, obj, path, key) -> str | None:
        return self.value(obj, path, key, str, "Text")

    def flag(self, obj, path, key) -> bool | None:
        return self.value(obj, path, key, bool, "true oder false")

    def mapping(self, obj, path, key) -> dict | None:
        """``obj[key]`` if it is a mapping, visited (its keys are checked one by one)."""
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            if isinstance(obj, dict) and key in obj:
                self.take((*path, key))
            return None
        value, here = obj[key], (*path, key)
        if not isinstance(value, dict):
            self.error(here, f"erwartet ein Objekt (Schlüssel: Wert), gefunden: {_shown(value)}")
            return None
        self.visit(here)
        return value

    def sequence(self, obj, path, key) -> list | None:
        """``obj[key]`` if it is a list, visited (its entries are checked one by one)."""
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            if isinstance(obj, dict) and key in obj:
                self.take((*path, key))
            return None
        value, here = obj[key], (*path, key)
        if not isinstance(value, list):
            self.error(here, f"erwartet eine Liste, gefunden: {_shown(value)}")
            return None
        self.visit(here)
        return value

    def texts(self, obj, path, key) -> list[str] | None:
        """A list of texts (a single text counts as a list of one)."""
        if isinstance(obj, dict) and isinstance(obj.get(key), str):
            return [self.text(obj, path, key)]
        items = self.value(obj, path, key, list, "eine Liste von Texten")
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.error((*path, key, i), f"erwartet Text, gefunden: {_shown(item)}")
                return None
        return list(items)

    # --- what was left
    def report_unmapped(self) -> None:
        """A warning for every part of the document that no mapping took."""
        self._unmapped(self.data, ())

    def _unmapped(self, value, path: tuple) -> None:
        if path in self._taken:
            return
        if value is None or value == [] or value == {} or value == "":
            return
        if isinstance(value, (dict, list)) and (path in self._visited or not path):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                self._unmapped(child, (*path, key))
            return
        self.warn(path, f"hat in BIF keine Entsprechung – nicht übernommen: {_shown(value)}")


# --- names and patterns ----------------------------------------------------------------------------

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def unsafe_name(name: str) -> str | None:
    """Why ``name`` (of a field, object or referenced dataset) is refused, or None: control
    characters, a path (``../``, leading slash), or too long."""
    if _has_control(name):
        return f"Name {_shown(name)} enthält Steuer- oder unsichtbare Zeichen"
    if "../" in name or "..\\" in name or name.startswith(("/", "\\")) or name in (".", ".."):
        return f"Name {_shown(name)} sieht wie ein Dateipfad aus"
    if len(name) > MAX_NAME:
        return f"Name ist {format_number(len(name))} Zeichen lang (höchstens {MAX_NAME})"
    if not name.strip():
        return "Name ist leer"
    return None


def identifier(name: str) -> str:
    """A BIF field name for a column name: umlauts spelt out, everything else but letters,
    digits and _ replaced by _, lower case (as `bif contract draft` does)."""
    text = unicodedata.normalize("NFKD", name.translate(_UMLAUTS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    if not text:
        text = "feld"
    if text[0].isdigit():
        text = f"f_{text}"
    return text


def field_name(reader: Reader, path, name) -> str | None:
    """The BIF field name for a foreign field's name (None after an error). A name BIF does not
    allow is turned into one and the import records ``source.rename``."""
    if not isinstance(name, str):
        reader.error(path, f"erwartet einen Namen (Text), gefunden: {_shown(name)}")
        return None
    why = unsafe_name(name)
    if why:
        reader.error(path, why)
        return None
    return name if FIELD_NAME.fullmatch(name) else identifier(name)


def field_entry(reader: Reader, path, item) -> tuple[str, str] | None:
    """(foreign name, BIF name) of one field object of a foreign schema (ODCS property, Table
    Schema field), or None after an error; marks the object and its name as read."""
    if not isinstance(item, dict):
        reader.error(path, f"erwartet ein Objekt (Feld), gefunden: {_shown(item)}")
        return None
    reader.visit(path)
    original = item.get("name")
    reader.take((*path, "name"))
    name = field_name(reader, (*path, "name"), original)
    return None if name is None else (original, name)


def dataset_reference(reader: Reader, path, name) -> str | None:
    """A referenced dataset's id (foreign keys): a BIF dataset id or an error."""
    if not isinstance(name, str):
        reader.error(path, f"erwartet eine Datensatz-ID (Text), gefunden: {_shown(name)}")
        return None
    why = unsafe_name(name)
    if why:
        reader.error(path, why)
        return None
    if not DATASET_ID.fullmatch(name):
        reader.error(path, f"{_shown(name)} ist keine BIF-Datensatz-ID (Kleinbuchstaben, Ziffern, _; 2–63 Zeichen)")
        return None
    return name


def _top_level(pattern: str) -> list | None:
    """The top-level items of a regular expression as Python parses it (None if it does not)."""
    try:
        from re import _parser  # Python 3.11+
        return list(_parser.parse(pattern).data)
    except Exception:  # noqa: BLE001 - unparsable or the private parser changed: treat as unknown
        return None


def _fully_anchored(pattern: str) -> bool:
    """``^…$`` at the top level (no top-level alternative escapes the anchors)."""
    items = _top_level(pattern)
    if not items:
        return False
    from re import _constants as c
    return items[0] == (c.AT, c.AT_BEGINNING) and items[-1] == (c.AT, c.AT_END)


def pattern_whole_to_search(pattern: str) -> str:
    """A BIF pattern (the whole value must match, as in Table Schema) for a standard whose
    patterns match anywhere in the value (ODCS: ECMA-262, as JSON Schema)."""
    return pattern if _fully_anchored(pattern) else f"^(?:{pattern})$"


def pattern_search_to_whole(pattern: str) -> tuple[str, bool]:
    """(BIF pattern, rewritten?) for a pattern that matches anywhere in the value. The wrapper
    that ``pattern_whole_to_search`` adds is taken off again."""
    if pattern.startswith("^(?:") and pattern.endswith(")$") and _top_level(pattern[4:-2]) is not None:
        return pattern[4:-2], False
    if _fully_anchored(pattern):
        return pattern, False
    return f"(?s:.*?)(?:{pattern})(?s:.*)", True


def compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


# --- BIF's own keys in a foreign format -----------------------------------------------------------
# What the target format has no place for travels under BIF's key, in camelCase (ODCS custom
# properties are camelCase; Table Schema gets the prefix ``bif:``). The contract's JSON Schema
# says which keys there are, so a key added to the format later travels without a change here.

def camel(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


_PARTS = {"contract": lambda s: s, "field": lambda s: s["$defs"]["field"],
          "schema": lambda s: s["$defs"]["tableSchema"], "constraints": lambda s: s["$defs"]["constraints"],
          "source": lambda s: s["$defs"]["source"]}


def contract_keys(part: str) -> tuple[str, ...]:
    """The keys the contract format defines for ``part`` (contract, field, schema, constraints, source)."""
    from bif_lib.contracts.model import contract_json_schema
    return tuple(_PARTS[part](contract_json_schema())["properties"])


_VALIDATORS: dict[tuple[str, str], object] = {}


def fits(part: str, key: str, value) -> bool:
    """Whether ``value`` is valid for ``key`` of ``part`` as the contract's JSON Schema says."""
    if key not in contract_keys(part):
        return False
    if (part, key) not in _VALIDATORS:
        import jsonschema

        from bif_lib.contracts.model import contract_json_schema
        root = contract_json_schema()
        schema = {"$defs": root["$defs"], **_PARTS[part](root)["properties"][key]}
        _VALIDATORS[(part, key)] = jsonschema.Draft202012Validator(schema)
    try:
        return _VALIDATORS[(part, key)].is_valid(value)
    except Exception:  # noqa: BLE001 - e.g. a value JSON Schema cannot even look at
        return False


# --- JSON-compatible values ------------------------------------------------------------------------

def jsonable(value, path: str, losses: list[str]):
    """``value`` with YAML dates and times turned into ISO text (JSON has none); each conversion
    is recorded in ``losses``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{path}.{k}" if path else str(k), losses) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{path}[{i}]", losses) for i, v in enumerate(value)]
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        losses.append(f"{path}: Datum {value.isoformat()} als Text übertragen")
        return value.isoformat()
    return value


# --- writing YAML ----------------------------------------------------------------------------------

class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml when installed: 10× faster
    """Multi-line text as literal blocks; no anchors or aliases (BIF limits their number)."""

    def ignore_aliases(self, data) -> bool:
        return True


def _represent_str(dumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110, default_flow_style=False)


def comment(text: str, limit: int = MAX_COMMENT) -> str:
    """``text`` as the content of one ``#`` comment line: no line breaks or control characters
    (they would end the comment and inject YAML), cut after ``limit`` characters."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in ("C", "Z") and ch != " " else ch for ch in str(text))
    cleaned = re.sub(r" {2,}", " ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


# --- the imported contract -------------------------------------------------------------------------

def finish_import(reader: Reader, raw: dict, rules: list[tuple[tuple, dict]], origin: str,
                  target: Path | str | None = None, optional: dict[str, tuple] | None = None) -> ImportResult:
    """Check the imported contract with BIF's own parser and write its text.

    ``rules`` are (path in the foreign file, rule) candidates, ``optional`` the top-level keys
    taken from BIF's own custom properties (key -> path in the foreign file): one BIF refuses is
    left out with a warning naming why (and quoting it), so that the rest of the contract can
    still be used.
    """
    reader.report_unmapped()
    reader.fail_if_problems()
    candidates = list(rules)
    optional = dict(optional or {})
    for _ in range(len(candidates) + len(optional) + 1):
        raw.pop("rules", None)
        if candidates:
            raw["rules"] = [rule for _, rule in candidates]
        text = _contract_text(raw, reader, origin)
        try:
            contract = parse_contract(text, target or "<Import>")
        except ContractError as exc:
            wheres = [(where or "", message) for where, _, message in exc.problems]
            bad = sorted({int(m.group(1)) for where, _ in wheres if (m := re.match(r"rules\[(\d+)\]", where))})
            keys = sorted({key for key in optional for where, _ in wheres if re.match(rf"{key}(\.|\[|$)", where)})
            if not bad and not keys:
                problems = [(f"(erzeugter Vertrag) {visible(where)}", None, visible(message))
                            for where, message in wheres]
                raise InteropError(reader.file, problems) from None
            for i in reversed(bad):
                why = "; ".join(m for where, m in wheres if where.startswith(f"rules[{i}]"))[:300]
                path, rule = candidates.pop(i)
                reader.warn(path, f"Regel von BIF nicht angenommen ({why}) – nicht übernommen: {_shown(rule, 300)}")
            for key in keys:
                why = "; ".join(m for where, m in wheres if re.match(rf"{key}(\.|\[|$)", where))[:300]
                reader.warn(optional.pop(key), f"Angabe „{key}“ von BIF nicht angenommen ({why}) – nicht übernommen: "
                                               f"{_shown(raw.pop(key), 300)}")
            continue
        return ImportResult(raw=raw, text=text, contract=contract, warnings=list(reader.warnings))
    raise InteropError(reader.file, [("", None, "Vertrag konnte nicht erzeugt werden")])  # pragma: no cover


def _contract_text(raw: dict, reader: Reader, origin: str) -> str:
    lines = [f"# Datenvertrag „{comment(raw['id'], 80)}“, importiert von `bif contract import` aus "
             f"{comment(Path(reader.file).name, 120)} ({origin}).",
             "# Bitte prüfen und die mit „TODO“ markierten Angaben ergänzen; danach `bif contract check`."]
    if reader.warnings:
        lines.append("# Nicht oder nur mit Annahmen übernommen (Pfad in der Quelldatei):")
        for where, message in reader.warnings[:MAX_COMMENTS]:
            at = f"{comment(where, 120)}: " if where else ""
            lines.append(f"# TODO (Import) {at}{comment(message)}")
        if len(reader.warnings) > MAX_COMMENTS:
            lines.append(f"# TODO (Import) … und {format_number(len(reader.warnings) - MAX_COMMENTS)} weitere Hinweise "
                         f"(siehe Ausgabe von `bif contract import`)")
    return "\n".join(lines) + "\n" + dump_yaml(raw)


def contract_skeleton(reader: Reader, dataset_id: str) -> dict:
    """The top-level keys of a BIF contract in their usual order, with placeholders."""
    raw: dict = {"id": dataset_id, "version": DEFAULT_VERSION}
    raw.update({key: (dict(value) if isinstance(value, dict) else value) for key, value in PLACEHOLDERS.items()
                if key in ("title", "description", "owner", "steward", "source_system")})
    raw["classification"] = DEFAULT_CLASSIFICATION
    raw.update({key: (dict(value) if isinstance(value, dict) else value) for key, value in PLACEHOLDERS.items()
                if key in ("licence", "cadence", "spatial_unit", "temporal_coverage")})
    return raw


def check_dataset_id(reader: Reader, dataset_id: str | None, fallbacks: list[tuple[tuple, object]]) -> str:
    """The contract's dataset id: ``dataset_id`` (``--id``) or the first fallback that is a valid
    BIF id; raises InteropError if there is none."""
    if dataset_id is not None:
        if not isinstance(dataset_id, str) or not DATASET_ID.fullmatch(dataset_id):
            raise InteropError(reader.file, [("--id", None, f"{_shown(dataset_id)} ist keine gültige Datensatz-ID "
                                                            f"(Kleinbuchstaben, Ziffern, _; 2–63 Zeichen, "
                                                            f"beginnt mit einem Buchstaben)")])
        return dataset_id
    for path, value in fallbacks:
        if isinstance(value, str) and DATASET_ID.fullmatch(value):
            return value
    where = format_path(fallbacks[0][0]) if fallbacks else "--id"
    shown = _shown(fallbacks[0][1]) if fallbacks else "keine"
    raise InteropError(reader.file, [(where, reader.line(fallbacks[0][0]) if fallbacks else None,
                                      f"keine gültige BIF-Datensatz-ID ({shown}); bitte mit --id angeben "
                                      f"(Kleinbuchstaben, Ziffern, _)")])


def check_version(reader: Reader, path, version) -> str | None:
    if version is None:
        return None
    text = str(version) if isinstance(version, (int, float)) and not isinstance(version, bool) else version
    if isinstance(text, str) and VERSION.fullmatch(text):
        return text
    reader.warn(path, f"Version {_shown(version)} hat nicht die Form 1.0 oder 1.0.0 – Version {DEFAULT_VERSION} "
                      f"eingetragen")
    return None
