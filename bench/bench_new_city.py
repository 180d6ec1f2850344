"""What a new city writes, and how long it takes from a profile to a running platform (issue #14).

1. **What a city writes.** The files of the second city's profile ``data_contracts/musterstadt``
   that a steward writes (``city.yaml`` and one contract per source file; not the source files
   themselves, not ``sources/SOURCES.md``): files, lines, and lines that are neither blank nor
   comments. Code changes are zero by construction: the profile folder is all that differs, and
   ``tests/city`` runs every model, app and notebook against it.
2. **From a profile to a running platform**, for the new city and, as the peer measured in the
   same run, Flensburg (same steps, its local mirror ``../shared/data/flensburg``), each in a
   fresh ``BIF_HOME``:

   - ``bootstrap``: fetch (bundled files / mirror), check every file, ingest, generate;
   - ``publish``: ``publish_bundled`` with the real publishing checks (apps without data skipped);
   - ``platform``: the apps service (gateway + preheated Voilà) and the hub with its proxy, as
     the platform tests start them (``tests/apps/apps_hub.TestPlatform``);
   - ``first page``: a planner logs in through the hub's form and the gallery lists the apps.

   Reported in seconds per step and as the ratio new city ÷ Flensburg. Reports, never asserts.

Run as root (the apps service's OS account), with configurable-http-proxy in node_modules::

    .venv/bin/python -m bench.bench_new_city [--city musterstadt] [--no-record]

Unless ``--no-record`` the result replaces the section ``bench_new_city`` of bench/results.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

from apps_hub import PASSWORD, TestPlatform, environment_access, missing_prerequisites  # noqa: E402

from bench._results import record  # noqa: E402

PEER = "flensburg"


def profile_lines(city: str) -> dict:
    """Files and lines a steward writes for ``city``: city.yaml and the contracts."""
    folder = ROOT / "data_contracts" / city
    files = sorted(folder.glob("*.yaml"))
    per_file, total, meaningful = {}, 0, 0
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        per_file[path.name] = {"lines": len(lines), "without_comments": len(content)}
        total += len(lines)
        meaningful += len(content)
    return {"files": len(files), "contracts": len(files) - 1, "lines": total, "lines_without_comments": meaningful,
            "per_file": per_file, "code_changes": 0}


def _login_and_list(platform: TestPlatform) -> list[str]:
    session = requests.Session()
    page = session.get(f"{platform.hub_url}/hub/login", timeout=30)
    xsrf = session.cookies.get("_xsrf") or ""
    answer = session.post(f"{platform.hub_url}/hub/login?next=", timeout=60,
                          data={"username": "planer", "password": PASSWORD, "_xsrf": xsrf})
    answer.raise_for_status()
    gallery = session.get(platform.gallery_url, timeout=60)
    gallery.raise_for_status()
    assert page.ok
    return [app for app in ("bevoelkerung", "bevoelkerungsprognose", "kita", "schulbedarf")
            if f"app/{app}/" in gallery.text]


def from_profile_to_platform(city: str, mirror: Path | None) -> dict:
    """The steps of scripts/start for ``city`` in a fresh BIF_HOME; seconds per step."""
    from bif_lib.city import city_environment

    with city_environment(city):
        return _start(city, mirror)


def _start(city: str, mirror: Path | None) -> dict:
    from bif_lib.apps.publishing.bundled import publish_bundled
    from bif_lib.data.bootstrap import bootstrap
    from bif_lib.platform import accounts
    from bif_lib.store import Store

    platform = TestPlatform()
    platform.activate_env()
    seconds: dict[str, float] = {}
    try:
        settings = platform.settings()
        accounts.ensure_system_groups(settings)
        started = time.perf_counter()
        result = bootstrap(city, mirror=mirror, store=Store(platform.home / "store"))
        seconds["bootstrap"] = time.perf_counter() - started
        accounts.apply_store_permissions(platform.home / "store", settings)
        mark = time.perf_counter()
        said: list[str] = []
        publish_bundled(platform.cfg(), None, "bench", say=said.append, warn=said.append)
        seconds["publish"] = time.perf_counter() - mark
        mark = time.perf_counter()
        platform.start_apps()
        platform.start_hub()
        seconds["platform"] = time.perf_counter() - mark
        mark = time.perf_counter()
        apps = _login_and_list(platform)
        seconds["first_page"] = time.perf_counter() - mark
        seconds["total"] = time.perf_counter() - started
        return {"seconds": {k: round(v, 2) for k, v in seconds.items()}, "datasets": len(result.outcomes),
                "apps": apps, "publish_said": said}
    finally:
        platform.shutdown()
        platform.restore_env()
        shutil.rmtree(platform.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="musterstadt")
    parser.add_argument("--mirror", default=str(ROOT.parent / "shared" / "data" / PEER),
                        help="local mirror of the peer's (Flensburg's) public sources")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    missing = missing_prerequisites()
    if missing:
        raise SystemExit("needs " + ", ".join(missing))
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
    written = profile_lines(args.city)
    with environment_access():
        new = from_profile_to_platform(args.city, None)
        peer = from_profile_to_platform(PEER, Path(args.mirror))
    ratio = {k: round(new["seconds"][k] / peer["seconds"][k], 2) for k in new["seconds"] if peer["seconds"].get(k)}
    report = {"city": args.city, "peer": PEER, "written": written, "new_city": new, "peer_city": peer,
              "ratio_new_to_peer": ratio}
    print(f"{args.city}: {written['files']} Dateien ({written['contracts']} Verträge + city.yaml), "
          f"{written['lines']} Zeilen ({written['lines_without_comments']} ohne Kommentare), 0 Codeänderungen")
    for name, row in ((args.city, new), (PEER, peer)):
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in row["seconds"].items())
        print(f"{name}: {steps}; Apps: {', '.join(row['apps'])}")
    print("Verhältnis neue Stadt ÷ Flensburg: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))
    if not args.no_record:
        record("bench_new_city", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
