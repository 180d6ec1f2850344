"""The planning models are pure (docs/dev/architecture.md): inputs in, results out, no I/O.

Every module of ``bif_lib/planning/`` is read statically (``ast``), with every import it makes,
including lazy imports inside functions, and so is every ``bif_lib`` module it reaches through
them (and their packages' ``__init__``). None of them may import the store, the analysts' API,
ingest, readers, audit or gate, anything above planning, widgets, or the standard library's
file, process and network modules; none may call ``open`` or a read/write method of pandas,
numpy or pathlib.

``bif_lib/__init__.py`` re-exports the analysts' API lazily (PEP 562); a fresh interpreter
checks at run time that importing the planning models loads none of the data core.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bif_lib"
ROOT = "bif_lib"

# prefix -> why a planning module must not import it
FORBIDDEN: dict[str, str] = {
    **{f"bif_lib.{name}": "reads or writes the store" for name in (
        "api", "store", "ingest", "readers", "audit", "gate", "releases")},
    "bif_lib.fsutil": "file writes",
    "bif_lib.config": "paths and environment of the installation",
    **{f"bif_lib.{name}": "a floor above planning" for name in ("loaders", "apps", "data", "synthetic",
                                                                  "platform", "cli")},
    **{name: "widgets or display" for name in ("ipywidgets", "IPython", "ipyleaflet", "matplotlib")},
    **{name: "file, process or network I/O" for name in (
        "os", "io", "pathlib", "shutil", "tempfile", "glob", "fcntl", "mmap", "pickle", "shelve", "sqlite3",
        "subprocess", "socket", "ssl", "http", "urllib", "requests", "httpx", "ftplib", "smtplib", "getpass",
        "pyarrow", "fiona", "pyogrio")},
}
# method names that read or write files (pandas, geopandas, pathlib, numpy arrays)
IO_METHODS = frozenset({
    "read_csv", "read_parquet", "read_excel", "read_json", "read_sql", "read_table", "read_feather",
    "read_pickle", "read_file", "read_fwf", "read_hdf", "read_html", "read_xml",
    "to_csv", "to_parquet", "to_excel", "to_json", "to_sql", "to_feather", "to_pickle", "to_file", "to_hdf",
    "to_html", "to_xml", "read_text", "read_bytes", "write_text", "write_bytes", "open", "tofile", "urlopen",
})
NUMPY_IO = frozenset({"load", "save", "savez", "savez_compressed", "loadtxt", "savetxt", "genfromtxt", "fromfile",
                      "memmap"})

Source = Callable[[str], "tuple[str, bool] | None"]  # module -> (source, is_package)


def package_source(module: str) -> tuple[str, bool] | None:
    """The source of a bif_lib module and whether it is a package; None for others and bif_lib itself."""
    if not module.startswith(ROOT + "."):
        return None
    base = PACKAGE.joinpath(*module.split(".")[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py").read_text(encoding="utf-8"), False
    if (base / "__init__.py").is_file():
        return (base / "__init__.py").read_text(encoding="utf-8"), True
    return None


def imports_in(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the source, wherever it is; relative imports
    resolved; ``from x import y`` gives ``x`` and ``x.y`` (y may be a submodule)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def io_calls_in(source: str) -> list[tuple[int, str]]:
    """(line, call) of every call that reads or writes a file."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            found.append((node.lineno, "open(...)"))
        elif isinstance(func, ast.Attribute):
            if func.attr in IO_METHODS:
                found.append((node.lineno, f".{func.attr}(...)"))
            elif (func.attr in NUMPY_IO and isinstance(func.value, ast.Name)
                  and func.value.id in ("np", "numpy")):
                found.append((node.lineno, f"{func.value.id}.{func.attr}(...)"))
    return found


def forbidden(module: str) -> tuple[str, str] | None:
    """(forbidden prefix, reason) if ``module`` is or lies below a forbidden module."""
    for prefix, reason in FORBIDDEN.items():
        if module == prefix or module.startswith(prefix + "."):
            return prefix, reason
    return None


def _with_packages(module: str) -> list[str]:
    """bif_lib.a.b -> [bif_lib.a, bif_lib.a.b]: importing a module runs its packages' __init__."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]


def impurities(start: str, source_of: Source = package_source) -> list[str]:
    """Everything impure that ``start`` reaches: "chain: line n imports x (reason)" / "... calls f"."""
    chains = {start: [start]}
    todo, problems = [start], []
    while todo:
        module = todo.pop()
        found = source_of(module)
        if found is None:
            continue
        source, is_package = found
        via = " -> ".join(chains[module])
        for line, target in imports_in(source, module, is_package):
            hit = forbidden(target)
            if hit:
                problems.append(f"{via}: line {line} imports {hit[0]} ({hit[1]})")
                continue
            for dependency in _with_packages(target):
                if dependency.startswith(ROOT + ".") and dependency not in chains and source_of(dependency):
                    chains[dependency] = chains[module] + [dependency]
                    todo.append(dependency)
        problems += [f"{via}: line {line} calls {call} (file I/O)" for line, call in io_calls_in(source)]
    return sorted(set(problems))


def planning_modules() -> list[str]:
    modules = []
    for path in sorted((PACKAGE / "planning").rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_all_planning_modules_are_checked():
    modules = planning_modules()
    assert {"bif_lib.planning", "bif_lib.planning.projection", "bif_lib.planning.release"} <= set(modules)


@pytest.mark.parametrize("module", planning_modules())
def test_planning_module_does_no_io(module):
    problems = impurities(module)
    assert not problems, f"{module} is not pure:\n" + "\n".join(problems)


def test_the_check_finds_lazy_relative_and_indirect_io():
    """The check can fail: a lazy import of the API, a relative import of the store, widgets, and
    a file read two modules away are all found, with the way they are reached."""
    sources = {
        "bif_lib.planning.fake": ("import numpy as np\n\n"
                                  "def f():\n    from bif_lib.api import load\n    return load('x')\n\n"
                                  "from ..store import Store\n"
                                  "import ipywidgets as w\n"
                                  "from bif_lib.planning import helper\n", False),
        "bif_lib.planning": ("", True),
        "bif_lib.planning.helper": ("import pandas as pd\n\ndef g(path):\n    return pd.read_parquet(path)\n"
                                    "\ndef h():\n    with open('x') as fh:\n        return np.load(fh)\n", False),
    }
    problems = impurities("bif_lib.planning.fake", lambda m: sources.get(m))
    text = "\n".join(problems)
    assert "line 4 imports bif_lib.api" in text
    assert "line 7 imports bif_lib.store" in text
    assert "line 8 imports ipywidgets" in text
    assert "bif_lib.planning.fake -> bif_lib.planning.helper: line 4 calls .read_parquet(...)" in text
    assert "helper: line 7 calls open(...)" in text and "calls np.load(...)" in text
    assert len(problems) == 6


def test_importing_the_models_loads_no_data_core():
    """At run time too: a fresh interpreter imports every planning module and nothing of the
    store, the API, ingest, readers or widgets comes with them."""
    import subprocess
    import sys

    probe = ("import importlib, pkgutil, sys, bif_lib.planning as p\n"
             "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('bif_lib.planning.' + m.name)\n"
             "bad = ('bif_lib.api', 'bif_lib.store', 'bif_lib.ingest', 'bif_lib.readers', 'bif_lib.audit',\n"
             "       'bif_lib.gate', 'bif_lib.loaders', 'bif_lib.apps', 'ipywidgets')\n"
             "print(sorted(n for n in sys.modules if n.startswith(bad)))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
