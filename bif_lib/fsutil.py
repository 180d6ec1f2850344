"""File writes shared by the store, the app registry, fetching, the user store and the platform.

``write_private`` is the one way to write a file that only its owner may read — secrets,
passwords, pid files, a handout — or, with ``mode=0o640``, its owner and group (the audit
trail, the store's sidecars and reports). It replaces the file atomically: the new content
goes into a temporary file beside the target (created 0600 and exclusively, so never through
a symlink, then given ``mode``), is fsynced and renamed into place. Readers see the old file or
the new one, never half of either, and a symlink planted at the target is replaced, not followed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make a rename inside ``path`` durable before anyone is told about it."""
    fd = os.open(path, os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path | str, data: bytes | str, *, mode: int = 0o600, append: bool = False,
                  durable: bool = True) -> None:
    """Write ``data`` (``str``: UTF-8) to ``path`` with permissions ``mode`` — by default 0600,
    readable by its owner only; 0640 where a group must read it (the audit trail, the office).

    The file is replaced atomically (see the module docstring); ``durable`` fsyncs the content
    before the rename (use ``fsync_dir`` where the rename itself must survive a crash). The
    temporary file gets ``mode`` before it is renamed into place: the target never exists with
    wider permissions. ``append`` adds ``data`` at the end of the file instead (a log): opened
    with ``O_APPEND | O_NOFOLLOW``, so a symlink at ``path`` is refused (``OSError``); a new file
    is created with ``mode``, an existing one keeps its permissions.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if append:
        fd = _open_append(path, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # O_EXCL, 0600
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_append(path: Path, mode: int) -> int:
    """Open ``path`` for appending, never through a symlink; a file created here gets ``mode``
    exactly (whatever the umask)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode & 0o600)
        except FileExistsError:
            try:
                return os.open(path, flags)
            except FileNotFoundError:
                continue  # removed in between: create it after all
        try:
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        return fd
