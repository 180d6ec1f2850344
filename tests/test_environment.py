"""environment.yml (conda-forge) and pyproject.toml must declare the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

# Present only on the conda side: the interpreter and the proxy, which pip users get from npm.
CONDA_ONLY = {"python", "nodejs", "configurable-http-proxy"}
# conda-forge names that differ from the PyPI names
CONDA_TO_PYPI = {"python-xxhash": "xxhash"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement: str) -> str:
    """The version constraint, without pip's extras (``psycopg[binary]``: conda has no extras)."""
    return re.sub(r"^\[[^\]]*\]", "", requirement.strip()[len(_name(requirement)):].replace(" ", ""))


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r): _spec(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_side = {CONDA_TO_PYPI.get(_name(d), _name(d)): _spec(d) for d in env["dependencies"] if isinstance(d, str)}
    conda_side = {k: v for k, v in conda_side.items() if k not in CONDA_ONLY}
    assert sorted(set(pip_side) - set(conda_side)) == [], "in pyproject.toml only"
    assert sorted(set(conda_side) - set(pip_side)) == [], "in environment.yml only"
    differing = {k: (pip_side[k], conda_side[k]) for k in pip_side if pip_side[k] != conda_side[k]}
    assert differing == {}, "version constraints differ"


def test_readme_names_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/start" in readme and "scripts/test" in readme
    assert "scripts/test" in ci


def test_test_modules_have_unique_names():
    """pytest imports test modules by their basename (no packages under tests/): two files of the
    same name in different folders stop the whole run at collection."""
    from collections import Counter

    names = Counter(p.name for p in (REPO / "tests").rglob("test_*.py") if "node_modules" not in p.parts)
    assert [name for name, count in names.items() if count > 1] == []
