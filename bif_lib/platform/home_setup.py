"""Set up a person's home for their JupyterLab server: the notebook templates in
``~/<target>/<label>`` (files the person already has are kept) and the private ``~/.tmp``.

Run by :func:`bif_lib.platform.accounts.prepare_home` *as the account itself* when the hub
runs as root: a home belongs to its owner, who may have planted links in it
(``~/Vorlagen -> /etc``); root copying and chowning along them would hand the owner system
files. As the owner, a link leads only where the owner could write anyway. Standard library
only: started as a script (``python home_setup.py`` with JSON on stdin), without importing
``bif_lib``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def set_up_home(home: Path, templates: dict[str, Path], target: str) -> None:
    base = home / target
    base.mkdir(parents=True, exist_ok=True)
    for label, source in templates.items():
        if not source.is_dir():
            continue
        for src in sorted(source.rglob("*")):
            if any(part.startswith(".") for part in src.relative_to(source).parts):
                continue
            dest = base / label / src.relative_to(source)
            if src.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            elif not dest.exists() and not dest.is_symlink():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    private_tmp = home / ".tmp"
    private_tmp.mkdir(mode=0o700, exist_ok=True)
    os.chmod(private_tmp, 0o700)


def main() -> int:
    request = json.load(sys.stdin)
    set_up_home(Path(request["home"]), {label: Path(path) for label, path in request["templates"].items()},
                request["target"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
