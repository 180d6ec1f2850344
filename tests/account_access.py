"""Let separate OS accounts run BIF's Python environment during tests and benchmarks.

Used by tests/conftest.py (fixture ``environment_access``), tests/apps/apps_hub.py and the
benchmarks that start the platform. On a machine set up by scripts/setup (venv from the
system Python) there is nothing to do; with a venv whose interpreter lives below /root
(pyenv, mode 0700) the directories in the way get o+x for the duration.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from pathlib import Path

ACCESS_STATE = Path(tempfile.gettempdir()) / "bif-test-environment-access.json"


@contextlib.contextmanager
def shared_environment_access():
    """Let OS accounts run BIF's Python environment while tests run.

    Where the venv's interpreter lives below /root (pyenv, mode 0700), the directories in
    the way get o+x (traverse only). Several test sessions may run at once on one machine
    (developers in the same tree): each holds a shared lock, and only the last one to
    finish restores the original modes (recorded once in ``ACCESS_STATE``).
    """
    from bif_lib.platform import accounts

    if os.geteuid() != 0:
        yield []
        return
    # Two locks: "setup" (exclusive, held only while modes are changed or restored) and "in
    # use" (shared, held for the whole session). A new session never waits for a running one.
    setup = os.open(ACCESS_STATE.with_suffix(".setup.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    in_use = os.open(ACCESS_STATE.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(setup, fcntl.LOCK_EX)
        try:
            state = json.loads(ACCESS_STATE.read_text()) if ACCESS_STATE.exists() else {}
            for path in accounts.blocked_directories(accounts.environment_paths()):
                state.setdefault(str(path), stat.S_IMODE(path.stat().st_mode))
                os.chmod(path, stat.S_IMODE(path.stat().st_mode) | stat.S_IXOTH)
            ACCESS_STATE.write_text(json.dumps(state))
            fcntl.flock(in_use, fcntl.LOCK_SH)
        finally:
            fcntl.flock(setup, fcntl.LOCK_UN)
        yield sorted(state)
    finally:
        fcntl.flock(setup, fcntl.LOCK_EX)
        try:
            fcntl.flock(in_use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another session still needs the access; it restores the modes
        else:
            if ACCESS_STATE.exists():
                for path, mode in json.loads(ACCESS_STATE.read_text()).items():
                    with contextlib.suppress(FileNotFoundError):
                        os.chmod(path, mode)
                ACCESS_STATE.unlink()
        os.close(in_use)
        os.close(setup)
