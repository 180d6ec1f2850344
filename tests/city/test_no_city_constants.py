"""No city lives in the code: bif_lib/, notebooks/ and hub_config/ name no Flensburg constant.

Everything about a city — its name, districts (count, codes, names), the Sozialatlas tables,
its file and dataset names — comes from its profile, data_contracts/<city>/city.yaml (issue
#14). This test scans the source files of the three folders (what git tracks or would track:
no node_modules, caches, built bundles) for the constants of the first city and names file and
line of every hit.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("bif_lib", "notebooks", "hub_config")
TEXT_SUFFIXES = {".py", ".ipynb", ".yaml", ".yml", ".json", ".html", ".j2", ".css", ".js", ".mjs", ".md",
                 ".txt", ".ttl", ".toml", ".cfg", ".ini", ".sh"}
SKIP_PARTS = {"node_modules", "__pycache__", ".ipynb_checkpoints"}
SKIP_NAMES = re.compile(r"^bif-app\.")   # the app front end's bundle, built by scripts/setup

# (what, pattern): each a constant of the first city that belongs in its profile
_FLENSBURG_DISTRICTS = ("Mürwik", "Jürgensby", "Fruerlund", "Engelsby", "Tarup", "Friesischer Berg",
                        "Westliche Höhe")
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("Stadtname", re.compile(r"flensburg", re.IGNORECASE)),
    ("Sozialatlas (Veröffentlichung einer Stadt)", re.compile(r"sozialatlas", re.IGNORECASE)),
    ("Zahl der Stadtteile", re.compile(r"\b13\s+(?:Stadtteil|district)", re.IGNORECASE)),
    ("Dateiname der Sozialatlas-Tabellen (fl_*)", re.compile(r"(?<![.\w])fl_[a-z]")),
    ("Stadtteilnummern 1–13", re.compile(
        r"\b(?:np\.)?a?range\(\s*1\s*,\s*14\s*\)"              # range(1, 14), np.arange(1, 14)
        r"|\b1\s*[–‒]\s*13\b"                                  # „1–13“
        r"|\b1,\s*2,\s*3,\s*4,\s*5,\s*6,\s*7,\s*8,\s*9,\s*10,\s*11,\s*12,\s*13\b")),
    ("Stadtteil 13", re.compile(r"\bdistrict(?:_id)?[\"']?\s*(?:==|=|:)\s*\[?\s*13\b|\bStadtteil\s+13\b")),
    ("Stadtteilname", re.compile(r"\b(?:" + "|".join(map(re.escape, _FLENSBURG_DISTRICTS)) + r")\b")),
]


def _files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *ROOTS], cwd=REPO,
                                capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
        candidates = [REPO / p for p in listed]
    except (OSError, subprocess.SubprocessError):  # no git: walk the folders
        candidates = [p for root in ROOTS for p in (REPO / root).rglob("*")]
    return sorted(p for p in candidates
                  if p.is_file() and p.suffix in TEXT_SUFFIXES and not SKIP_PARTS & set(p.parts)
                  and not SKIP_NAMES.match(p.name))


def city_constants(text: str) -> list[tuple[int, str, str]]:
    """(line, what, the matched text) of every city constant in ``text``."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS:
            for match in pattern.finditer(line):
                hits.append((number, what, match.group(0)))
    return hits


def test_patterns_find_the_constants_and_spare_ordinary_words():
    found = {"Business Intelligence Flensburg", 'path = "sozialatlas_2022/fl_residents_by_district.csv"',
             "die 13 Stadtteile", "for d in range(1, 14):", "district_id 1–13", '{"district_id": [13]}',
             "district_id == 13", "Stadtteil 13 (Tarup)", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]", "Mürwik",
             "SOZIALATLAS", "np.arange(1, 14)"}
    for text in found:
        assert city_constants(text), text
    spared = ["Stadtteile", "self.fl_x = overflow_count", "range(1, 140)", "range(11, 14)", "113 Stadtteile",
              "Altstadt", "Neustadt", "Südstadt", "district_id == 130", "age 13", "2013", "Stadtteil 131",
              "float_value", "Tarupweg", "a1–130", "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 130"]
    for text in spared:
        assert not city_constants(text), text


def test_the_scan_sees_the_sources():
    files = {p.relative_to(REPO).as_posix() for p in _files()}
    assert "bif_lib/city/profile.py" in files and "hub_config/settings.yaml" in files
    assert any(f.startswith("notebooks/") and f.endswith(".ipynb") for f in files)
    assert not any("node_modules" in f or "__pycache__" in f for f in files)


def test_no_city_constants_in_code_notebooks_and_hub_config():
    hits = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not a text file
        rel = path.relative_to(REPO).as_posix()
        hits += [f"{rel}:{line}: {what}: „{found}“" for line, what, found in city_constants(text)]
    if hits:
        pytest.fail(f"{len(hits)} Stadt-Konstante(n) außerhalb des Stadtprofils (gehören nach "
                    f"data_contracts/<stadt>/city.yaml):\n  " + "\n  ".join(hits))
