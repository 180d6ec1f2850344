"""The process helper (pid files, "is it ours", stopping) and private file writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bif_lib import processes
from bif_lib.fsutil import write_private
from bif_lib.processes import PidFile

SLEEPER = "import time; time.sleep(60)  # bif-test-sleeper"
STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "time.sleep(60)  # bif-test-stubborn")


@pytest.fixture
def started():
    procs: list[subprocess.Popen] = []

    def start(code: str, tmp_path, name: str = "sleeper") -> tuple[subprocess.Popen, PidFile]:
        pidfile = PidFile(tmp_path / f"{name}.pid", "bif-test-")
        proc = processes.spawn([sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path,
                               log=tmp_path / f"{name}.log", pidfile=pidfile)
        procs.append(proc)
        return proc, pidfile

    yield start
    for proc in procs:
        processes.kill_tree(proc.pid)
        proc.wait(10)


def test_pid_file_finds_its_own_process_only(started, tmp_path):
    proc, pidfile = started(SLEEPER, tmp_path)
    assert pidfile.read() == proc.pid and pidfile.running() == proc.pid
    assert stat.S_IMODE(pidfile.path.stat().st_mode) == 0o600
    assert "=== " in (tmp_path / "sleeper.log").read_text()  # the log starts with the command
    assert PidFile(pidfile.path, "configurable-http-proxy").running() is None  # another program
    assert pidfile.check(tmp_path) == (proc.pid, "")
    pid, reason = pidfile.check(tmp_path / "elsewhere")
    assert pid is None and "anderen Installation" in reason


def test_a_process_in_the_middle_of_exec_is_found_by_its_marker(started, tmp_path, monkeypatch):
    """Popen returns while the kernel is still in exec, before it has set up the new
    program's arguments: /proc/<pid>/cmdline reads empty for that moment (it failed CI once,
    ``PidFile.running`` right after ``spawn``). The window is microseconds, so the test
    holds it open: the first reads see what the kernel shows then."""
    proc, pidfile = started(SLEEPER, tmp_path)
    reads = []

    def cmdline_mid_exec(pid):
        reads.append(pid)
        return "" if len(reads) <= 3 else processes_cmdline(pid)

    processes_cmdline = processes.cmdline
    monkeypatch.setattr(processes, "cmdline", cmdline_mid_exec)
    assert pidfile.running() == proc.pid and len(reads) == 4
    # a command line that stays empty (a kernel thread on a recycled pid) is not ours
    monkeypatch.setattr(processes, "cmdline", lambda pid: "")
    monkeypatch.setattr(processes, "EXEC_WAIT", 0.05)
    assert pidfile.running() is None


@pytest.mark.parametrize("content, reason", [(None, "keine pid-Datei"), ("kaputt", "unlesbar"),
                                             ("-1", "unlesbar"), ("999999999", "läuft nicht")])
def test_pid_files_that_name_no_process(tmp_path, content, reason):
    pidfile = PidFile(tmp_path / "hub.pid", "jupyterhub")
    if content is not None:
        pidfile.path.write_text(content)
    assert pidfile.running() is None and pidfile.stop() is None and not pidfile.path.exists()
    if content is not None:
        pidfile.path.write_text(content)
    assert pidfile.check(tmp_path)[0] is None and reason in pidfile.check(tmp_path)[1]


def test_stop_terminates_and_removes_the_pid_file(started, tmp_path):
    proc, pidfile = started(SLEEPER, tmp_path)
    assert pidfile.stop() == proc.pid  # reaped: our child
    assert not processes.alive(proc.pid) and not pidfile.path.exists()


def test_terminate_kills_what_ignores_sigterm_with_its_descendants(started, tmp_path):
    proc, _ = started(STUBBORN, tmp_path)
    deadline = time.monotonic() + 10
    while not processes.descendants(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    (child,) = processes.descendants(proc.pid)
    time.sleep(0.3)  # the SIGTERM handler is installed
    assert processes.terminate(proc.pid, timeout=0.5, tree=True) is False
    assert not processes.alive(proc.pid)
    deadline = time.monotonic() + 5
    while processes.alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.alive(child)


def test_no_signal_to_every_process():
    with pytest.raises(ValueError):
        processes.terminate(-1)
    assert not processes.alive(-1) and not processes.alive(0) and not processes.alive(None)


def test_measurements_of_this_process():
    assert processes.cpu_seconds(os.getpid()) > 0
    assert processes.memory_bytes([os.getpid()]) > 10 * 2**20
    assert os.getpid() in processes.children(os.getppid())


def test_write_private_replaces_atomically_and_privately(tmp_path):
    target = tmp_path / "geheim.txt"
    target.write_text("alt")
    os.chmod(target, 0o644)
    write_private(target, "neu\n")
    assert target.read_text() == "neu\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["geheim.txt"]  # no temporary file left


def test_write_private_never_writes_through_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("unverändert")
    link = tmp_path / "link"
    link.symlink_to(victim)
    write_private(link, b"token")
    assert victim.read_text() == "unverändert" and not link.is_symlink() and link.read_bytes() == b"token"
    log = tmp_path / "log"
    log.symlink_to(victim)
    with pytest.raises(OSError):  # appending (a log): O_NOFOLLOW
        write_private(log, "x", append=True)
    assert victim.read_text() == "unverändert"


def test_write_private_appends(tmp_path):
    log = tmp_path / "bif-cli.log"
    write_private(log, "eins\n", append=True)
    write_private(log, "zwei\n", append=True, durable=False)
    assert log.read_text() == "eins\nzwei\n" and stat.S_IMODE(log.stat().st_mode) == 0o600


def test_write_private_with_a_group_readable_mode(tmp_path):
    # the audit trail: 0640 from the start, whatever the umask, for a replaced and an appended file
    old = os.umask(0o077)
    try:
        head = tmp_path / "head.json"
        write_private(head, "{}", mode=0o640)
        log = tmp_path / "audit.jsonl"
        write_private(log, "eins\n", mode=0o640, append=True)
        write_private(log, "zwei\n", mode=0o640, append=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(head.stat().st_mode) == 0o640 and head.read_text() == "{}"
    assert stat.S_IMODE(log.stat().st_mode) == 0o640 and log.read_text() == "eins\nzwei\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "head.json"]


def test_matching_finds_processes_by_command_line_and_uid(started, tmp_path):
    proc, _ = started(SLEEPER, tmp_path)
    deadline = time.monotonic() + 5  # a process just started may show an empty command line for a moment
    while "bif-test-sleeper" not in (processes.cmdline(proc.pid) or "") and time.monotonic() < deadline:
        time.sleep(0.01)
    found = dict(processes.matching(cmdline_contains="bif-test-sleeper"))
    assert proc.pid in found and "bif-test-sleeper" in found[proc.pid]
    assert proc.pid in dict(processes.matching(uid=os.getuid(), cmdline_contains="bif-test-sleeper"))
    assert processes.matching(uid=os.getuid() + 12345, cmdline_contains="bif-test-sleeper") == []
    assert os.getpid() not in dict(processes.matching(uid=os.getuid()))  # never the caller
    proc.kill()
    proc.wait()
    assert proc.pid not in dict(processes.matching(cmdline_contains="bif-test-sleeper"))


# --- CPU priority of a session ------------------------------------------------------------------

def autogroup(pid: int) -> tuple[str, int]:
    """(the group's name, its nice value) of the session of ``pid``."""
    text = Path(f"/proc/{pid}/autogroup").read_text().split()
    return text[0], int(text[-1])


# a session of its own inside the first one: e.g. Voilà started by the gateway
STARTS_A_SESSION = ("import subprocess, sys, time\n"
                    # (split: the marker is in the inner command line only)
                    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)  # bif-test-in' 'ner'],"
                    " start_new_session=True)\n"
                    "time.sleep(60)  # bif-test-outer")


@pytest.mark.skipif(not processes.autogroups(), reason="the kernel does not group sessions (autogroups off)")
def test_session_nice_weighs_the_whole_session_and_no_session_it_starts(started, tmp_path):
    outer, _ = started(STARTS_A_SESSION, tmp_path, "outer")
    deadline = time.monotonic() + 10
    while not (inner := processes.matching(cmdline_contains="bif-test-inner")):
        assert time.monotonic() < deadline, "the inner session did not start"
        time.sleep(0.05)
    inner_pid = inner[0][0]
    # (a process of the machine's first session, e.g. a CI job started without setsid, is in
    # the root group, whose file is empty)
    own_group = autogroup(os.getpid())[0] if Path("/proc/self/autogroup").read_text().strip() else None

    # a lower priority needs no privilege; a higher one needs root (CAP_SYS_NICE)
    assert processes.session_nice(7, outer.pid) is None
    assert autogroup(outer.pid)[1] == 7
    if processes.may_raise_priority():
        assert processes.session_nice(-6, outer.pid) is None
        assert autogroup(outer.pid)[1] == -6
    else:
        assert "CAP_SYS_NICE" in processes.session_nice(-6, outer.pid)
        assert autogroup(outer.pid)[1] == 7
    # its own group: not this test's session, not the session it started, which keeps nice 0
    assert autogroup(outer.pid)[0] not in (own_group, autogroup(inner_pid)[0])
    assert autogroup(inner_pid)[1] == 0


def test_session_nice_says_why_it_did_nothing(tmp_path, monkeypatch):
    switch = tmp_path / "sched_autogroup_enabled"
    switch.write_text("0\n")
    monkeypatch.setattr(processes, "AUTOGROUP_SWITCH", switch)
    assert not processes.autogroups()
    assert "keine Autogroups" in processes.session_nice(-5)
    switch.write_text("1\n")
    monkeypatch.setattr(processes, "may_raise_priority", lambda: False)  # e.g. not root
    assert "CAP_SYS_NICE" in processes.session_nice(-5)
