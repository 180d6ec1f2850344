"""The app registry: published app versions on disk, and which one is current.

This module is the only code that knows the layout below ``$BIF_HOME/apps``::

    <app_id>/
        1/  app.ipynb  meta.json  thumbnail.png     one directory per published version
        2/  ...
        current -> 2                                 symlink: the version people see
                                                     (absent while the app is withdrawn)
        history.jsonl                                who published / rolled back / withdrew what, when
        .lock                                        serialises changes of this app
    _voila/<app_id>.ipynb -> ../<app_id>/current/app.ipynb
                                                     Voilà's root (only current versions)

Why this shape:

* A version directory is written completely under a temporary name and then renamed, so
  a reader never sees half a version.
* ``current`` is switched with ``os.replace`` of a fresh symlink, which is atomic on
  POSIX: a request sees the old or the new version, never none.
* Versions are never modified or deleted, so rollback is just moving the pointer back, a
  failed publication cannot touch what is live, and a withdrawn app (no ``current``) can
  be brought back by a rollback.
* Voilà serves ``_voila/<app_id>.ipynb`` (``served_name``); the path stays the same across
  versions, which keeps the URL and the kernel pool key stable.

Readers follow no symlink inside the registry except ``current``, whose target must be a
version number (``current``, ``get``): also where the app service account could write
(single-account mode), an app cannot make the gateway or Voilà read files elsewhere.

The Voilà process loads this module by its path, without the ``bif_lib`` package (whose
import would cost it about 90 MB): only the standard library is imported at module level.
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
from pathlib import Path, PurePath
from typing import Iterator

APP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NOTEBOOK_NAME = "app.ipynb"
META_NAME = "meta.json"
THUMBNAIL_NAME = "thumbnail.png"
SERVED_DIR_NAME = "_voila"
SERVED_SUFFIX = ".ipynb"
CURRENT = "current"
HISTORY_NAME = "history.jsonl"

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


def served_name(app_id: str) -> str:
    """The name Voilà knows an app by: its notebook's path below Voilà's root (the served
    directory). The gateway renders ``voila/render/<served_name>``; Voilà's pools are keyed by it."""
    return f"{validate_app_id(app_id)}{SERVED_SUFFIX}"


def app_id_of_served(notebook_path: str | os.PathLike | None) -> str | None:
    """The app id of a notebook path Voilà names (the inverse of ``served_name``), or None."""
    name = PurePath(str(notebook_path or "")).name
    app_id = name[:-len(SERVED_SUFFIX)] if name.endswith(SERVED_SUFFIX) else ""
    return app_id if APP_ID_RE.match(app_id) else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fsync_dir(path: Path) -> None:
    # imported when writing only: Voilà's process reads the registry without the bif_lib package
    from bif_lib.fsutil import fsync_dir

    fsync_dir(path)


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
        return self.served_dir / served_name(app_id)

    # --- reading ----------------------------------------------------------------------
    def app_ids(self, *, withdrawn: bool = False) -> list[str]:
        """Apps that have a current version, sorted; with ``withdrawn`` also the withdrawn ones
        (versions on disk, no current version)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if APP_ID_RE.match(p.name)
                      and ((p / CURRENT).is_symlink() or (withdrawn and self.versions(p.name))))

    def exists(self, app_id: str) -> bool:
        """Has the app a current version (people can open it)?"""
        return (self.app_dir(app_id) / CURRENT).is_symlink()

    def withdrawn(self, app_id: str) -> bool:
        """Was the app published and then withdrawn (versions kept, no current version)?"""
        return not self.exists(app_id) and bool(self.versions(app_id))

    def versions(self, app_id: str) -> list[int]:
        app_dir = self.app_dir(app_id)
        if not app_dir.is_dir():
            return []
        return sorted(int(p.name) for p in app_dir.iterdir() if p.name.isdigit() and p.is_dir())

    def current_version(self, app_id: str) -> int | None:
        try:
            # readlink once: the pointer may be switched concurrently; anything but a plain
            # version number (an absolute path, "../other-app/1") is no version
            target = os.readlink(self.app_dir(app_id) / CURRENT)
        except OSError:
            return None
        return int(target) if re.fullmatch(r"[0-9]+", target) else None

    def get(self, app_id: str, version: int) -> AppVersion:
        version = int(version)
        try:
            meta = json.loads(self._read(validate_app_id(app_id), str(version), META_NAME))
        except (OSError, ValueError):
            raise RegistryError(f"App {app_id!r} hat keine Version {version}.") from None
        return AppVersion(app_id, version, self.app_dir(app_id) / str(version), meta)

    def current(self, app_id: str) -> AppVersion | None:
        version = self.current_version(app_id)
        return None if version is None else self.get(app_id, version)

    def current_meta(self, app_id: str | None) -> dict | None:
        """The live version's ``meta.json`` of ``app_id``; None if there is none (unknown app,
        invalid id, withdrawn, unreadable). Never raises: the Voilà page-config hook calls it
        on every render."""
        try:
            app = self.current(app_id) if app_id else None
        except RegistryError:
            return None
        return app.meta if app is not None else None

    def served_meta(self, notebook_path: str | os.PathLike | None) -> dict | None:
        """``current_meta`` of the app Voilà serves as ``notebook_path``."""
        return self.current_meta(app_id_of_served(notebook_path))

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
        path = self.app_dir(app_id) / HISTORY_NAME
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def withdrawal(self, app_id: str) -> dict | None:
        """The history entry of the app's withdrawal (``at``, ``version``, ``by``) while it is
        withdrawn; None if it is live or was never published."""
        if self.exists(app_id):
            return None
        return next((h for h in reversed(self.history(app_id)) if h.get("action") == "withdraw"), None)

    def writable(self) -> bool:
        """May this process change the registry (publish, roll back, withdraw)? It belongs to
        root (or to the one BIF account in single-account mode)."""
        path = self.root
        while not path.exists() and path != path.parent:
            path = path.parent
        return os.access(path, os.W_OK | os.X_OK)

    def _read(self, *parts: str) -> bytes:
        """The file ``root/<parts>``, following no symlink below the root."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
            inner = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        with os.fdopen(inner, "rb") as fh:
            return fh.read()

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
                _fsync_dir(staging)
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
        """Make an earlier version current: ``to``, or the one before the current version; for
        a withdrawn app, ``to`` or the version that was current when it was withdrawn."""
        with self.lock(app_id):
            versions = self.versions(app_id)
            current = self.current_version(app_id)
            if not versions:
                raise RegistryError(f"App {app_id!r} ist nicht veröffentlicht.")
            if to is None and current is None:
                to = (self.withdrawal(app_id) or {}).get("version") or versions[-1]
            elif to is None:
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

    def withdraw(self, app_id: str, *, by: str | None = None) -> AppVersion:
        """Take the app off the gallery and out of Voilà: no current version any more. Its
        versions stay, so ``rollback`` can bring it back. Returns the version that was live."""
        with self.lock(app_id):
            current = self.current_version(app_id)
            if current is None:
                raise RegistryError(f"App {app_id!r} ist bereits zurückgezogen." if self.versions(app_id)
                                    else f"App {app_id!r} ist nicht veröffentlicht.")
            live = self.get(app_id, current)
            link = self.served_notebook(app_id)
            if link.is_symlink():
                link.unlink()
            (self.app_dir(app_id) / CURRENT).unlink()
            _fsync_dir(self.app_dir(app_id))
            self._record(app_id, "withdraw", current, by)
        return live

    def _switch(self, app_id: str, version: int, *, action: str, by: str | None) -> None:
        """Point ``current`` at ``version`` atomically (caller holds the lock)."""
        app_dir = self.app_dir(app_id)
        tmp = app_dir / f".current-{uuid.uuid4().hex}"
        os.symlink(str(version), tmp)
        os.replace(tmp, app_dir / CURRENT)
        _fsync_dir(app_dir)
        self._ensure_served_link(app_id)
        self._record(app_id, action, version, by)

    def _record(self, app_id: str, action: str, version: int, by: str | None) -> None:
        with open(self.app_dir(app_id) / HISTORY_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": now_iso(), "action": action, "version": version, "by": by}) + "\n")

    def _ensure_served_link(self, app_id: str) -> None:
        self.served_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.served_dir, 0o755)
        link = self.served_notebook(app_id)
        target = os.path.join("..", app_id, CURRENT, NOTEBOOK_NAME)
        if link.is_symlink() and os.readlink(link) == target:
            return
        tmp = self.served_dir / f".{app_id}-{uuid.uuid4().hex}"
        os.symlink(target, tmp)
        os.replace(tmp, link)


def secure_root(root: Path) -> None:
    """The registry holds the code of every app: only root (or the single BIF account) may
    write it, never the account the apps run under (which may have been created with the
    registry as its home directory)."""
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and root.stat().st_uid != 0:
        os.chown(root, 0, 0)
    os.chmod(root, 0o755)
