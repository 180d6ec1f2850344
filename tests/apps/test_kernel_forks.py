"""App kernels forked from the warm kernel fork server (bif_lib/apps/serving/kernel_forks.py):
real kernels started through jupyter_client's own kernel manager with the fork provisioner,
then used, interrupted, restarted and shut down as Voilà does."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from apps_helpers import run_async
from jupyter_client.manager import AsyncKernelManager

from bif_lib.apps.serving import kernel_forks

pytestmark = pytest.mark.timeout(120)
KERNEL_NICE = 3


def autogroups() -> bool:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


@pytest.fixture
def fork_server(tmp_path):
    server = kernel_forks.ForkServer(["pandas", "ipywidgets"], tmp_path / "forks", nice=KERNEL_NICE)
    server.start({**os.environ, "BIF_FORK_TEST": "server"})
    deadline = time.monotonic() + 60
    while not server.ready():
        assert server.running(), "the fork server ended while starting"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield server
    server.stop()


class ForkedKernelManager(AsyncKernelManager):
    provisioner_class = None

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or "test-kernel"
        self.provisioner = type(self).provisioner_class(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                        parent=self)
        return await super()._async_pre_start_kernel(**kw)


def run_code(km, code: str, timeout: float = 30) -> dict:
    """Execute ``code``; the last ``print`` line's text and the reply's status."""
    async def go():
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=timeout)
            out = []
            reply = await client.execute_interactive(
                code, timeout=timeout, output_hook=lambda m: out.append(m["content"].get("text", "")))
            return {"status": reply["content"]["status"], "out": "".join(out).strip()}
        finally:
            client.stop_channels()
    return go()


def test_a_forked_kernel_runs_code_with_its_own_environment(fork_server, tmp_path):
    provisioner = kernel_forks.provisioner_class()
    provisioner.fork_server = fork_server
    ForkedKernelManager.provisioner_class = provisioner

    async def scenario():
        km = ForkedKernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel-a.json"))
        workdir = tmp_path / "work"
        workdir.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "BIF_FORK_TEST"}
        env["BIF_FORK_TEST"] = "kernel"
        await km.start_kernel(env=env, cwd=str(workdir))
        try:
            process = km.provisioner.process
            assert isinstance(process, kernel_forks.ForkedProcess), "the kernel was not forked"
            # a child of the fork server, not of this process, leading a process group of its
            # own (signals reach what it started) in the server's session: all kernels share
            # one autogroup of the scheduler, however many one person opens
            assert os.getppid() != process.pid and os.getpgid(process.pid) == process.pid
            assert os.getsid(process.pid) == os.getsid(fork_server.process.pid) != os.getsid(0)
            # and they give way to the services: their nice value, and their session group's
            own_nice = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, process.pid) == max(KERNEL_NICE, own_nice)
            if autogroups():
                group = Path(f"/proc/{process.pid}/autogroup").read_text().split()
                assert group[-2:] == ["nice", str(KERNEL_NICE)], group
                # (a process of the machine's first session, e.g. a CI job started without
                # setsid, is in the root group, whose file is empty)
                own = Path("/proc/self/autogroup").read_text().split()
                assert not own or group[0] != own[0], (group, own)
            # its command line is a kernel's, with its connection file (as tools look for it)
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            assert "ipykernel_launcher" in cmdline and "kernel-a.json" in cmdline, cmdline
            # not dumpable: other kernels of the same account cannot read its memory or environment
            assert Path(f"/proc/{process.pid}/environ").stat().st_uid == 0 or os.geteuid() != 0
            result = await run_code(km, "import os, sys, threading\n"
                                        "print(os.environ['BIF_FORK_TEST'], os.getcwd(), os.getppid(),"
                                        " 'pandas' in sys.modules, threading.active_count() > 0)")
            assert result["status"] == "ok"
            name, cwd, parent, preloaded, _ = result["out"].split()
            assert name == "kernel" and cwd == str(workdir)
            assert int(parent) == fork_server.process.pid and preloaded == "True"

            # ipywidgets, imported before there was a kernel, is registered with this one
            result = await run_code(km, "import comm\nprint(sorted(comm.get_comm_manager().targets))")
            assert "'jupyter.widget'" in result["out"] and "'jupyter.widget.control'" in result["out"], result

            # interrupt (SIGINT to the kernel's process group) ends a running cell
            async def interrupt_later():
                await asyncio.sleep(1.5)
                await km.interrupt_kernel()
            interrupter = asyncio.ensure_future(interrupt_later())
            result = await run_code(km, "import time\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n"
                                        "    print('unterbrochen')")
            await interrupter
            assert result["out"] == "unterbrochen"

            # a restart gives a new forked process
            await km.restart_kernel(now=True)
            assert km.provisioner.process.pid != process.pid and process.poll() is not None
            assert (await run_code(km, "print(6 * 7)"))["out"] == "42"
            last = km.provisioner.process
        finally:
            await km.shutdown_kernel(now=True)
        assert last.poll() is not None
        deadline = time.monotonic() + 10
        while Path(f"/proc/{last.pid}").exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the fork server reaps it: no zombie left
        assert not Path(f"/proc/{last.pid}").exists()

    run_async(scenario())


def test_kernels_die_with_the_fork_server_and_never_share_random_state(fork_server, tmp_path):
    provisioner = kernel_forks.provisioner_class()
    provisioner.fork_server = fork_server
    ForkedKernelManager.provisioner_class = provisioner

    async def scenario():
        kms = [ForkedKernelManager(kernel_name="python3", connection_file=str(tmp_path / f"kernel-{i}.json"))
               for i in range(2)]
        try:
            for i, km in enumerate(kms):
                km.kernel_id = f"k{i}"
                await km.start_kernel(env=dict(os.environ))
            draws = [(await run_code(km, "import random, numpy\nprint(random.random(), numpy.random.rand())"))["out"]
                     for km in kms]
            assert draws[0] != draws[1]
            fork_server.stop()
            deadline = time.monotonic() + 15
            while any(km.provisioner.process.poll() is None for km in kms) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert all(km.provisioner.process.poll() is not None for km in kms)
        finally:
            for km in kms:
                if km.has_kernel:
                    await km.shutdown_kernel(now=True)

    run_async(scenario())


def test_without_a_server_or_for_another_command_kernels_start_normally(tmp_path):
    assert kernel_forks.forkable([sys.executable, "-m", "ipykernel_launcher", "-f", "x.json"])
    assert not kernel_forks.forkable(["/usr/bin/python3.9", "-m", "ipykernel_launcher", "-f", "x.json"])
    assert not kernel_forks.forkable([sys.executable, "-m", "other_kernel", "-f", "x.json"])
    provisioner = kernel_forks.provisioner_class()
    # a server that never comes up: the kernel is started the ordinary way
    provisioner.fork_server = kernel_forks.ForkServer([], tmp_path / "forks")
    provisioner.fork_server.start({**os.environ, "PATH": "/nonexistent"})
    provisioner.fork_server.process.kill()
    provisioner.fork_server.process.wait()
    provisioner.fork_server._failed_at = time.monotonic()  # no new start within 30 s
    ForkedKernelManager.provisioner_class = provisioner

    async def scenario():
        km = ForkedKernelManager(kernel_name="python3", connection_file=str(tmp_path / "kernel-n.json"))
        await km.start_kernel(env=dict(os.environ))
        try:
            assert not isinstance(km.provisioner.process, kernel_forks.ForkedProcess)
            assert (await run_code(km, "print('normal')"))["out"] == "normal"
        finally:
            await km.shutdown_kernel(now=True)

    run_async(scenario())


def test_package_star_means_its_modules():
    names = kernel_forks._expand(["bif_lib.apps.views.*", "pandas"])
    assert {"bif_lib.apps.views", "bif_lib.apps.views.kita", "bif_lib.apps.views.common"} <= set(names)
    assert names[-1] == "pandas"


def test_the_child_gets_default_signal_handlers(fork_server):
    # the server's SIGCHLD reaper must not be inherited: it would reap a kernel's subprocesses
    # before subprocess.run could read their exit code (it would see 0, not 1)
    provisioner = kernel_forks.provisioner_class()
    provisioner.fork_server = fork_server

    async def scenario(tmp):
        km = ForkedKernelManager(kernel_name="python3", connection_file=str(tmp / "kernel-s.json"))
        ForkedKernelManager.provisioner_class = provisioner
        await km.start_kernel(env=dict(os.environ))
        try:
            result = await run_code(km, "import subprocess\nprint(subprocess.run(['false']).returncode)")
            assert result["out"] == "1"
        finally:
            await km.shutdown_kernel(now=True)

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        run_async(scenario(Path(tmp)))


def test_a_preloaded_module_that_starts_a_thread_stops_the_server(tmp_path):
    # forking a process with a second thread could copy a lock that thread holds: no forks then
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    server = kernel_forks.ForkServer(["starts_a_thread"], tmp_path / "forks")
    server.start({**os.environ, "PYTHONPATH": str(tmp_path)})
    assert server.process.wait(60) == 3
    assert not server.ready()
