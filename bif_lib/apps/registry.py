"""The app registry: published app versions on disk, and which one is current.

Layout below ``$BIF_HOME/apps``::

    <app_id>/
        1/  app.ipynb  meta.json  thumbnail.png     one directory per published version
        2/  ...
        current -> 2                                 symlink: the version people see
        history.jsonl                                who published / rolled back what, when
        .lock                                        serialises publications of this app
    _voila/<app_id>.ipynb -> ../<app_id>/current/app.ipynb
                                                     Voilà's root (only current versions)

Why this shape:

* A version directory is written completely under a temporary name and then renamed, so
  a reader never sees half a version.
* ``current`` is switched with ``os.replace`` of a fresh symlink, which is atomic on
  POSIX: a request sees the old or the new version, never none.
* Versions are never modified or deleted by publishing, so rollback is just moving the
  pointer back, and a failed publication cannot touch what is live.
* Voilà serves ``_voila/<app_id>.ipynb``; the path stays the same across versions, which
  keeps the URL and the kernel pool key stable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bif_lib.fsutil import fsync_dir
from typing import Iterator

APP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NOTEBOOK_NAME = "app.ipynb"
META_NAME = "meta.json"
THUMBNAIL_NAME = "thumbnail.png"
SERVED_DIR_NAME = "_voila"

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})


class RegistryError(Exception):
    """A registry operation is not possible (message in German)."""


def slugify(name: str) -> str:
    """An app id from a file name or title: ``Schulbedarf Süd.ipynb`` -> ``schulbedarf-sued``."""
    stem = name[:-6] if name.endswith(".ipynb") else name
    slug = re.sub(r"[^a-z0-9]+", "-", stem.translate(_UMLAUTS).lower()).strip("-")
    return slug[:63].rstrip("-")


def validate_app_id(app_id: str) -> str:
    if not APP_ID_RE.match(app_id or ""):
        raise RegistryError(
            f"Ungültige App-Kennung {app_id!r}: erlaubt sind Kleinbuchstaben, Ziffern und "
            "Bindestriche (höchstens 63 Zeichen, am Anfang kein Bindestrich)."
        )
    return app_id


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AppVersion:
    app_id: str
    version: int
    path: Path
    meta: dict

    @property
    def notebook(self) -> Path:
        return self.path / NOTEBOOK_NAME

    @property
    def thumbnail(self) -> Path | None:
        path = self.path / THUMBNAIL_NAME
        return path if path.exists() else None

    @property
    def audience(self) -> list[str]:
        return list(self.meta.get("audience", []))


class Registry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # --- paths ------------------------------------------------------------------------
    def app_dir(self, app_id: str) -> Path:
        return self.root / validate_app_id(app_id)

    @property
    def served_dir(self) -> Path:
        return self.root / SERVED_DIR_NAME

    def served_notebook(self, app_id: str) -> Path:
        return self.served_dir / f"{validate_app_id(app_id)}.ipynb"

    # --- reading ----------------------------------------------------------------------
    def app_ids(self) -> list[str]:
        """Apps that have a current version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir()
            if APP_ID_RE.match(p.name) and (p / "current").is_symlink()
        )

    def exists(self, app_id: str) -> bool:
        return (self.app_dir(app_id) / "current").is_symlink()

    def versions(self, app_id: str) -> list[int]:
        app_dir = self.app_dir(app_id)
        if not app_dir.is_dir():
            return []
        return sorted(int(p.name) for p in app_dir.iterdir() if p.name.isdigit() and p.is_dir())

    def current_version(self, app_id: str) -> int | None:
        try:
            # readlink once: the pointer may be switched concurrently
            return int(os.readlink(self.app_dir(app_id) / "current"))
        except (FileNotFoundError, ValueError):
            return None

    def get(self, app_id: str, version: int) -> AppVersion:
        path = self.app_dir(app_id) / str(int(version))
        try:
            meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"App {app_id!r} hat keine Version {version}.") from None
        return AppVersion(app_id, int(version), path, meta)

    def current(self, app_id: str) -> AppVersion | None:
        version = self.current_version(app_id)
        return None if version is None else self.get(app_id, version)

    def list_current(self) -> list[AppVersion]:
        apps = []
        for app_id in self.app_ids():
            try:
                app = self.current(app_id)
            except RegistryError:
                continue  # pointer switched under us to a version being removed by hand
            if app is not None:
                apps.append(app)
        return apps

    def history(self, app_id: str) -> list[dict]:
        path = self.app_dir(app_id) / "history.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    # --- writing ----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, app_id: str) -> Iterator[None]:
        """Exclusive lock per app across processes (CLI and the service may both publish)."""
        app_dir = self.app_dir(app_id)
        app_dir.mkdir(parents=True, exist_ok=True)
        with open(app_dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def add_version(self, app_id: str, notebook_json: str, meta: dict, thumbnail_png: bytes | None,
                    *, activate: bool = True, by: str | None = None) -> AppVersion:
        """Store a new version (complete or not at all) and make it current.

        ``meta`` gets ``app_id``, ``version`` and ``published_at`` filled in.
        """
        validate_app_id(app_id)
        self.root.mkdir(parents=True, exist_ok=True)
        with self.lock(app_id):
            app_dir = self.app_dir(app_id)
            staging = app_dir / f".staging-{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                version = (self.versions(app_id) or [0])[-1] + 1
                meta = {**meta, "app_id": app_id, "version": version,
                        "published_at": meta.get("published_at") or now_iso()}
                (staging / NOTEBOOK_NAME).write_text(notebook_json, encoding="utf-8")
                if thumbnail_png:
                    (staging / THUMBNAIL_NAME).write_bytes(thumbnail_png)
                (staging / META_NAME).write_text(
                    json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
                for path in (staging, *staging.iterdir()):
                    os.chmod(path, 0o755 if path.is_dir() else 0o644)
                fsync_dir(staging)
                os.rename(staging, app_dir / str(version))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if activate:
                self._switch(app_id, version, action="publish", by=by or meta.get("published_by"))
        return self.get(app_id, version)

    def activate(self, app_id: str, version: int, *, action: str = "activate", by: str | None = None) -> AppVersion:
        with self.lock(app_id):
            if int(version) not in self.versions(app_id):
                raise RegistryError(f"App {app_id!r} hat keine Version {version}.")
            self._switch(app_id, int(version), action=action, by=by)
        return self.get(app_id, version)

    def rollback(self, app_id: str, to: int | None = None, *, by: str | None = None) -> AppVersion:
        """Make an earlier version current: ``to`` or the one before the current version."""
        with self.lock(app_id):
            versions = self.versions(app_id)
            current = self.current_version(app_id)
            if not versions or current is None:
                raise RegistryError(f"App {app_id!r} ist nicht veröffentlicht.")
            if to is None:
                older = [v for v in versions if v < current]
                if not older:
                    raise RegistryError(
                        f"App {app_id!r}: Version {current} ist die älteste, es gibt nichts zum Zurückrollen.")
                to = older[-1]
            if int(to) not in versions:
                raise RegistryError(
                    f"App {app_id!r} hat keine Version {to} (vorhanden: {', '.join(map(str, versions))}).")
            self._switch(app_id, int(to), action="rollback", by=by)
        return self.get(app_id, int(to))

    def _switch(self, app_id: str, version: int, *, action: str, by: str | None) -> None:
        """Point ``current`` at ``version`` atomically (caller holds the lock)."""
        app_dir = self.app_dir(app_id)
        tmp = app_dir / f".current-{uuid.uuid4().hex}"
        os.symlink(str(version), tmp)
        os.replace(tmp, app_dir / "current")
        fsync_dir(app_dir)
        self._ensure_served_link(app_id)
        with open(app_dir / "history.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": now_iso(), "action": action, "version": version, "by": by}) + "\n")

    def _ensure_served_link(self, app_id: str) -> None:
        self.served_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.served_dir, 0o755)
        link = self.served_notebook(app_id)
        target = os.path.join("..", app_id, "current", NOTEBOOK_NAME)
        if link.is_symlink() and os.readlink(link) == target:
            return
        tmp = self.served_dir / f".{app_id}-{uuid.uuid4().hex}"
        os.symlink(target, tmp)
        os.replace(tmp, link)

    def remove_app(self, app_id: str) -> None:
        """Withdraw an app: it leaves the gallery and Voilà; its versions are kept on disk
        (renamed ``<app_id>.withdrawn-<timestamp>``) for the record."""
        with self.lock(app_id):
            link = self.served_notebook(app_id)
            if link.is_symlink():
                link.unlink()
            current = self.app_dir(app_id) / "current"
            if current.is_symlink():
                current.unlink()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        os.rename(self.app_dir(app_id), self.root / f".{app_id}.withdrawn-{stamp}")


def secure_root(root: Path) -> None:
    """The registry holds the code of every app: only root (or the single BIF account) may
    write it, never the account the apps run under (which may have been created with the
    registry as its home directory)."""
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and root.stat().st_uid != 0:
        os.chown(root, 0, 0)
    os.chmod(root, 0o755)
