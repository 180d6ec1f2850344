"""The floors of bif_lib (docs/dev/architecture.md): no module imports from a floor above its own.

Imports are read statically (``ast``), including those inside functions: a lazy import is
still a dependency. Modules of the same floor may import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bif_lib"

# lowest first; a unit is a module or package below bif_lib (dotted, without "bif_lib.")
FLOORS: list[set[str]] = [
    {"config", "i18n", "fsutil", "processes"},
    # pure models: nothing of the data core below them is needed (tests/planning/test_purity.py)
    {"planning"},
    # a refresh schedule's text → its run times (pure); the contract model checks `refresh:` with it
    {"schedule.spec"},
    # the city profile (city.yaml) beside the contracts it lists: everything above may ask it
    {"contracts", "city"},
    {"readers", "validation.report"},
    {"validation"},
    {"disclosure"},
    {"store"},
    {"ingest", "gate", "audit"},
    {"api", "releases"},
    {"loaders"},
    # the machine under the wings: one settings schema and the OS accounts
    {"platform.settings", "platform.accounts", "platform.home_setup"},
    # opendata: store datasets out as open data; it fetches its pinned standards through data.fetch
    {"apps", "data", "synthetic", "opendata"},
    # scheduled refresh: fetch (data), ingest, re-publish (apps); the hub shows its notices
    {"schedule"},
    {"platform"},
    # training cohorts and the course: the platform's accounts plus the analysts' API
    {"training"},
    {"cli"},
]
# bif_lib/__init__.py re-exports the analysts' API; it belongs to no floor
UNFLOORED = {""}


def floor_of(module: str) -> int | None:
    """The floor of a dotted module name below bif_lib: the longest unit that contains it."""
    best, best_len = None, -1
    for level, units in enumerate(FLOORS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and len(unit) > best_len:
                best, best_len = level, len(unit)
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module below bif_lib) for every bif_lib import in the source, relative ones resolved."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "bif_lib" or node.module.startswith("bif_lib.")):
                target = node.module.removeprefix("bif_lib").lstrip(".")
            else:
                continue
            # `from bif_lib.x import y` may import the submodule y
            names = [f"{target}.{alias.name}".lstrip(".") for alias in node.names]
            found += [(node.lineno, name if floor_of(name) is not None else target) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.removeprefix("bif_lib").lstrip("."))
                      for alias in node.names if alias.name.startswith("bif_lib.")]
    return found


def python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts)


def test_every_module_has_a_floor():
    unplaced = [module_name(p) for p in python_files()
                if module_name(p) not in UNFLOORED and floor_of(module_name(p)) is None]
    assert not unplaced, f"modules on no floor (add them to FLOORS and docs/dev/architecture.md): {unplaced}"


@pytest.mark.parametrize("path", python_files(), ids=lambda p: module_name(p) or "bif_lib")
def test_no_import_from_a_floor_above(path):
    own = module_name(path)
    if own in UNFLOORED:
        return
    upward = [f"line {line}: {target}" for line, target in imports_of(path)
              if target and (floor_of(target) or 0) > floor_of(own)]
    assert not upward, f"bif_lib.{own} imports from a floor above its own: {upward}"


def test_the_check_sees_an_upward_import():
    """The check can fail: a lazy import of an app module in the store is found, a relative one too."""
    source = "def f():\n    from bif_lib.apps.views import common\n    from ..platform import settings\n"
    found = [target for _, target in imports_in(source, "store.catalog", is_package=False)]
    assert [floor_of(t) > floor_of("store.catalog") for t in found] == [True, True]
