"""One executed copy of an app, shared by all its viewers: the kernel side.

Why: every planner used to get a kernel of their own that executed the app's notebook
(0.7 CPU-seconds each with forked kernels). A wave of 30 planners on two CPUs then waits
10 s and more. But the default view is the same for everyone, and what a change shows
depends only on the changes before it. So Voilà executes the notebook once per app version
(the *template* kernel) and the gateway serves its page and widget state to everyone
(``shared_views.py``). A change is computed in a ``fork()`` of that executed app:

* ``start_state_server`` runs inside the template kernel (Voilà executes it there) and
  forks the **state server**: a copy of the kernel's Python process without the kernel's
  threads and sockets, listening on a Unix socket. The kernel goes on as before.
* Before it serves, the state server **settles** (``_settle``): it changes each selection
  widget to another choice and back, so that those code paths have run once before any
  session is forked, and serves only if the view is then the same as before.
* Each connection to the state server is answered by a new fork of it, a **session**: it
  starts from the default view, applies the changes it is sent (as comm messages, exactly
  as a kernel would get them from the page) and answers with the comm messages the app
  sent in reaction. A session lives while its connection does.

Forking costs milliseconds and shares the executed app's memory copy-on-write, against
0.7 CPU-seconds for a kernel that executes the notebook. A fork of a process with threads
keeps only the forking thread; the copy therefore never touches what the kernel's other
threads own (ZeroMQ sockets, the IOPub thread's pipes, captured stdout): messages are
recorded instead of sent, output goes to /dev/null, and asyncio gets a loop of its own
(``layout.Later`` schedules deferred work there; ``flush`` runs it).

Only BIF's own code runs here, from Voilà, never anything a viewer sends: a viewer sends
comm messages only, which reach the app's widgets as a page's messages would.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import sys
import time
import uuid

MAX_FRAME = 64 * 2**20  # bytes of one request or answer
SESSION_IDLE_TIMEOUT = 60.0  # seconds without a request before a session ends
SESSION_CPU_SECONDS = 600  # a session computing longer than this is ended by the kernel (RLIMIT_CPU)
STATE_SERVER_BACKLOG = 64
PR_SET_PDEATHSIG = 1
BACKGROUND_NICE = 19
STEP_FIELDS = ("comm_id", "data", "buffers")  # what a page may send: a comm message to a widget
SETTLE_WIDGETS = 8  # selection widgets the state server changes and changes back before serving
SETTLE_TIMEOUT = 30.0  # seconds the kernel waits for that before it forks a state server without
DATA_URI = re.compile(r"data:[^\"'\s<>]*")  # download links: their files carry the time they were built


# --- framing: 4-byte length, then JSON ---------------------------------------------------

def send_frame(sock: socket.socket, obj) -> None:
    body = json.dumps(obj, default=_json_default, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def recv_frame(sock: socket.socket):
    head = _recv_exactly(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = _recv_exactly(sock, size)
    if body is None:
        return None
    return json.loads(body)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _json_default(value):
    from jupyter_client.jsonutil import json_default

    return json_default(value)


def b64(buffers) -> list[str]:
    return [base64.b64encode(bytes(b)).decode("ascii") for b in buffers or ()]


def unb64(buffers) -> list[memoryview]:
    return [memoryview(base64.b64decode(b)) for b in buffers or ()]


# --- inside the template kernel -------------------------------------------------------------

def start_state_server(path: str, settle: bool = True) -> int:
    """Fork the state server, listening on ``path``; returns its pid (in the kernel). With
    ``settle``, the state server first settles (``_settle``); if that leaves the view other
    than it was, or takes longer than ``SETTLE_TIMEOUT``, it ends and a state server without
    settling is forked instead."""
    layout = sys.modules.get("bif_lib.apps.widgets.layout")
    if layout is not None:  # the app's deferred work (download links): no copy would run its timer
        layout.run_deferred()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    old_umask = os.umask(0o077)  # only the apps account may connect
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(STATE_SERVER_BACKLOG)
    try:
        pid = _fork_state_server(listener, settle=True) if settle else None
        return pid if pid is not None else _fork_state_server(listener, settle=False)
    finally:
        listener.close()


def _fork_state_server(listener: socket.socket, settle: bool) -> int | None:
    """The forked state server's pid; None if it was to settle and could not (it is gone)."""
    verdict_r, verdict_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(verdict_r)
            _become_copy()
            serves = _settle() if settle else True
            os.write(verdict_w, b"1" if serves else b"0")
            os.close(verdict_w)
            if serves:
                _serve_forever(listener)
        finally:
            os._exit(0)
    os.close(verdict_w)
    try:
        ready, _, _ = select.select([verdict_r], [], [], SETTLE_TIMEOUT)
        verdict = os.read(verdict_r, 1) if ready else b""
    finally:
        os.close(verdict_r)
    if verdict == b"1":
        return pid
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return None


def _settle() -> bool:
    """Change each selection widget of the default view to its first other choice and back,
    in the state server itself, before it serves. Why: a session's first change used to cost
    about twice a later one (Bevölkerung app: 114 against 55 CPU-ms), because it ran code paths
    that the default view had not (a chosen Stadtteil, its legend, ...) for the first time in
    that process; now they have run once, before the sessions are forked. True if the widgets
    show what they showed before (the files of download links aside, which carry the time they
    were built); otherwise this copy must not serve: the default view would differ from the
    page's (an app that counts or remembers changes)."""
    from bif_lib.apps.serving.shared_views import first_steps, selection_step

    before = snapshot()
    states = before["data"]["states"]
    firsts: dict[str, dict] = {}
    for step in first_steps(before, 2**31):
        if len(firsts) < SETTLE_WIDGETS:
            firsts.setdefault(step["comm_id"], step)
    session = Session(None)
    try:
        for comm_id, step in firsts.items():
            session.apply(step)
            session.apply(selection_step(comm_id, states[comm_id]["state"]["index"]))
        session.flush()
    except Exception:  # noqa: BLE001 - the app's own error: this copy does not serve
        return False
    finally:
        _recorded.clear()
    global _settled
    _settled = _view(snapshot()) == _view(before)
    return _settled


def _view(state: dict) -> str:
    """What a snapshot shows, without the files of download links (data: URIs)."""
    return DATA_URI.sub("data:", json.dumps(state, sort_keys=True, default=_json_default))


def _become_copy() -> None:
    """Cut the forked copy loose from the kernel's threads, sockets and streams."""
    try:  # end with the kernel (its shutdown kills the process group as well)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # ipykernel captures fds 1 and 2 through pipes read by a thread
        os.dup2(devnull, fd)
    os.close(devnull)
    sys.stdout = sys.__stdout__ = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
    sys.stderr = sys.__stderr__ = open(os.devnull, "w")  # noqa: SIM115
    _record_instead_of_sending()
    asyncio.events._set_running_loop(None)  # the kernel's loop does not turn in this copy
    asyncio.set_event_loop(asyncio.new_event_loop())


_recorded: list[dict] = []
_settled = False  # in the state server and its sessions: it settled before serving (``_settle``)


def _record_instead_of_sending() -> None:
    from ipykernel.comm.comm import BaseComm
    from ipykernel.kernelbase import Kernel

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        content = dict(data={} if data is None else data, comm_id=self.comm_id, **keys)
        _recorded.append({"msg_type": msg_type, "content": content, "metadata": metadata or {},
                          "buffers": b64(buffers)})

    BaseComm.publish_msg = publish_msg
    if Kernel.initialized():
        kernel = Kernel.instance()
        # nothing may reach the kernel's sockets from here (display outputs, streams)
        kernel.session.send = lambda *args, **kwargs: None
        shell = getattr(kernel, "shell", None)
        if shell is not None and getattr(shell, "display_pub", None) is not None:
            shell.display_pub.publish = lambda *args, **kwargs: None


def _serve_forever(listener: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # sessions are reaped by the kernel
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess must be able to wait
            try:
                resource.setrlimit(resource.RLIMIT_CPU, (SESSION_CPU_SECONDS, SESSION_CPU_SECONDS + 5))
                send_frame(conn, {"pid": os.getpid()})  # Voilà ends a session that computes too long
                Session(conn).serve()
            finally:
                os._exit(0)
        conn.close()


# --- a session: one line of changes from the default view --------------------------------------

class Session:
    """Applies steps (comm messages of a page) and answers with what the app sent back."""

    def __init__(self, conn: socket.socket | None, idle_timeout: float = SESSION_IDLE_TIMEOUT):
        self.conn = conn  # None: steps applied in the state server itself (``_settle``)
        if conn is not None:
            conn.settimeout(idle_timeout)
        self.loop = asyncio.get_event_loop()

    def serve(self) -> None:
        while True:
            try:
                request = recv_frame(self.conn)
            except (TimeoutError, OSError, ValueError):
                return
            if request is None:
                return
            try:
                answer = self.handle(request)
            except Exception as e:  # noqa: BLE001 - answered, the session goes on
                answer = {"error": f"{type(e).__name__}: {e}"[:500]}
            try:
                send_frame(self.conn, answer)
            except OSError:
                return

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        if op == "snapshot":
            return snapshot()
        if op == "status":
            return {"settled": _settled}
        if op == "replay":
            # the page has seen what these steps drew: charts wait until shown again
            from bif_lib.apps.widgets.layout import replaying

            with replaying():
                for step in request.get("steps") or []:
                    self.apply(step)
            _recorded.clear()
            return {"ok": True}
        if op == "step":
            started = time.process_time()
            messages = self.apply(request["step"])
            return {"messages": messages, "pending": self.pending(),
                    "cpu_ms": round(1000 * (time.process_time() - started), 1)}
        if op == "flush":
            return {"messages": self.flush(), "pending": self.pending()}
        if op == "background":
            # a session that prepares answers ahead (shared_views.SharedViews.prepare) gives way
            # to the planners' own; it ends after its step, so nobody computes at this priority
            os.setpriority(os.PRIO_PROCESS, 0, BACKGROUND_NICE)
            return {"ok": True}
        raise ValueError(f"unknown op {op!r}")

    def apply(self, step: dict) -> list[dict]:
        from comm import get_comm_manager

        unknown = set(step) - set(STEP_FIELDS)
        if unknown or not isinstance(step.get("comm_id"), str) or not isinstance(step.get("data"), dict):
            raise ValueError("a step is {comm_id, data, buffers}")
        comm = get_comm_manager().get_comm(step["comm_id"])
        if comm is None:
            raise KeyError(f"no widget {step['comm_id']}")
        msg = {"header": {"msg_id": uuid.uuid4().hex, "msg_type": "comm_msg", "session": "bif-shared",
                          "username": "bif", "version": "5.3"},
               "parent_header": {}, "metadata": {}, "channel": "shell",
               "content": {"comm_id": step["comm_id"], "data": step["data"]},
               "buffers": unb64(step.get("buffers"))}
        _recorded.clear()
        self.loop.run_until_complete(self._handle(comm, msg))
        messages = list(_recorded)
        _recorded.clear()
        return messages

    @staticmethod
    async def _handle(comm, msg) -> None:
        comm.handle_msg(msg)  # inside the loop: deferred work (layout.Later) is scheduled there
        await asyncio.sleep(0)  # what the handler scheduled "soon"

    def pending(self) -> bool:
        return any(not h.cancelled() for h in getattr(self.loop, "_scheduled", ()))

    def flush(self) -> list[dict]:
        """Run the deferred work now (the page asks once its planner paused)."""
        _recorded.clear()
        while self.pending():
            due = min(h.when() for h in self.loop._scheduled if not h.cancelled())
            self.loop.run_until_complete(asyncio.sleep(max(0.0, due - self.loop.time())))
        messages = list(_recorded)
        _recorded.clear()
        return messages


def snapshot() -> dict:
    """All widget states, as ipywidgets' control comm answers ``request_states``."""
    from ipywidgets.widgets.widget import _instances, _remove_buffers

    full_state = {}
    for widget in list(_instances.values()):
        full_state[widget.model_id] = {
            "model_name": widget._model_name,
            "model_module": widget._model_module,
            "model_module_version": widget._model_module_version,
            "state": widget.get_state(drop_defaults=False),
        }
    full_state, buffer_paths, buffers = _remove_buffers(full_state)
    return {"data": {"method": "update_states", "states": full_state, "buffer_paths": buffer_paths},
            "buffers": b64(buffers)}
