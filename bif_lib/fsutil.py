"""File writes shared by the store, the app registry, fetching, the user store and the platform.

``write_private`` is the one way to write a file that only its owner may read — secrets,
passwords, pid files, a handout, the store's sidecars. It replaces the file atomically: the
new content goes into a temporary file beside the target (created 0600 and exclusively, so
never through a symlink), is fsynced and renamed into place. Readers see the old file or the
new one, never half of either, and a symlink planted at the target is replaced, not followed.
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


def write_private(path: Path | str, data: bytes | str, *, durable: bool = True, append: bool = False) -> None:
    """Write ``data`` (``str``: UTF-8) to ``path``, readable by its owner only (mode 0600).

    The file is replaced atomically (see the module docstring); ``durable`` fsyncs the content
    before the rename (use ``fsync_dir`` where the rename itself must survive a crash).
    ``append`` adds ``data`` at the end of the file instead (a log): opened with
    ``O_APPEND | O_NOFOLLOW`` and created 0600, so a symlink at ``path`` is refused (``OSError``).
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if append:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
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
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# the name the store, the audit trail and the user store use: every atomic write is private
write_atomic = write_private
