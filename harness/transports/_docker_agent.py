"""One long-lived ``python3`` per container that runs the docker transport's commands and file transfers.

Why: a ``docker exec`` costs three engine API calls and a runc exec, 70–90 ms here, while the command it
runs (``git rev-parse``, reading a log) takes a few. The Zato update makes about 140 of them, its readiness
gates one per poll. So the transport execs :data:`AGENT` once, with stdin attached, and sends it requests
as JSON lines; the agent runs each in a thread of its own (``subprocess``, stdin from /dev/null, a new
session so a timeout kills the whole group) and answers with one JSON line. Hand-written because no library
offers a persistent exec channel through the engine API (the SDK only hijacks the exec's socket).

What a command sees is what ``docker exec`` gives it: the container's environment plus ``env``, its
working directory unless ``cwd``, exit code ``128 + N`` for a signal, and a daemon it starts outlives it
(reparented to the container's init). ``put`` writes a temporary file beside the target and renames it,
as the local transport does. A container without ``python3``, or an agent that dies, is reported to
:class:`~harness.transports.docker.DockerTransport`, which goes back to one exec per call.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

#: the agent, run as ``python3 -u -c AGENT`` (standard library only; the container's own python3)
AGENT = r'''
import base64, json, os, signal, subprocess, sys, threading, time
lock, procs = threading.Lock(), {}
def send(msg):
    data = (json.dumps(msg) + "\n").encode()
    with lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
def b64(data):
    return base64.b64encode(data).decode()
def kill(pid):
    for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 0)):
        try:
            os.killpg(pid, sig)
        except OSError:
            return
        time.sleep(grace)
gates = {}
def serve(req):
    rid, op = req["id"], req["op"]
    if op in ("run", "put"):  # changes something: only once the controller says it still waits
        gates[rid] = [threading.Event(), False]
        send({"id": rid, "ready": True})
        gates[rid][0].wait()
        if not gates.pop(rid)[1]:
            return
    try:
        if op == "run":
            env = dict(os.environ)
            env.update(req.get("env") or {})
            try:
                p = subprocess.Popen(req["argv"], cwd=req.get("cwd"), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            except OSError as exc:
                return send({"id": rid, "spawn_error": "%s: %s" % (type(exc).__name__, exc)})
            procs[rid] = p
            out, err = p.communicate()
            procs.pop(rid, None)
            code = p.returncode if p.returncode >= 0 else 128 - p.returncode
            send({"id": rid, "code": code, "out": b64(out), "err": b64(err)})
        elif op == "get":
            with open(req["path"], "rb") as f:
                send({"id": rid, "data": b64(f.read())})
        elif op == "put":
            path = req["path"]
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            tmp = os.path.join(os.path.dirname(path), ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
            with open(tmp, "wb") as f:
                f.write(base64.b64decode(req["data"]))
            os.chmod(tmp, req["mode"])
            os.replace(tmp, path)
            send({"id": rid})
        elif op == "kill":
            p = procs.get(req["target"])
            if p is not None:
                kill(p.pid)
            send({"id": rid})
    except OSError as exc:
        send({"id": rid, "os_error": type(exc).__name__, "message": str(exc)})
for line in sys.stdin.buffer:
    req = json.loads(line)
    if req["op"] in ("go", "cancel"):
        gate = gates.get(req["target"])
        if gate is not None:
            gate[1] = req["op"] == "go"
            gate[0].set()
        continue
    threading.Thread(target=serve, args=(req,), daemon=True).start()
'''

_OS_ERRORS: dict[str, type[OSError]] = {"FileNotFoundError": FileNotFoundError,
                                        "IsADirectoryError": IsADirectoryError,
                                        "NotADirectoryError": NotADirectoryError,
                                        "PermissionError": PermissionError}


#: seconds between two looks at the container while a call waits for its answer
PATIENCE = 2.0


class AgentGone(Exception):
    """The agent's channel broke (the container stopped, the agent died) or it never started."""


class Agent:
    """The controller's end of one container's agent; safe to call from several threads at once."""

    def __init__(self, api: Any, container: str, python: str = "python3") -> None:
        self._exec = api.exec_create(container, [python, "-u", "-c", AGENT], stdin=True, stdout=True,
                                     stderr=True, tty=False)["Id"]
        self._api = api
        self._sock = api.exec_start(self._exec, socket=True)
        self._raw: socket.socket = getattr(self._sock, "_sock", self._sock)
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._gate_lock = threading.Lock()  # a caller giving up and the agent's "ready" decide one at a time
        self._pending: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._stderr = b""
        self.alive = True
        threading.Thread(target=self._read, daemon=True, name=f"agent {container}").start()

    def call(self, req: dict[str, Any], timeout: float,
             stalled: Callable[[], str | None] | None = None) -> tuple[int, dict[str, Any] | None]:
        """``req``'s id and the agent's answer, or None as the answer when ``timeout`` passed first (the
        caller kills it by that id). While it waits, ``stalled()`` is asked every :data:`PATIENCE` seconds
        whether the agent cannot answer at all (a paused container: one exec would be refused at once);
        a reason it gives ends the wait with :class:`AgentGone`."""
        rid = next(self._ids)
        done: threading.Event = threading.Event()
        box: dict[str, Any] = {}
        self._pending[rid] = (done, box)
        deadline = time.monotonic() + timeout
        try:
            self._send({**req, "id": rid})
            while not done.wait(max(0.0, min(PATIENCE, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    return rid, None
                why = stalled() if stalled else None
                with self._gate_lock:
                    if why and not box.get("go"):  # not begun: it never will (the agent is told to cancel)
                        self._pending.pop(rid, None)
                        raise AgentGone(why)
        finally:
            with self._gate_lock:
                self._pending.pop(rid, None)
        if "gone" in box:
            raise AgentGone(box["gone"])
        return rid, box

    def kill(self, rid: int) -> None:
        self._send({"op": "kill", "target": rid, "id": next(self._ids)})
        with self._gate_lock:  # not begun yet: it never will
            self._pending.pop(rid, None)

    def _send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        try:
            with self._send_lock:
                self._raw.sendall(data)
        except OSError as exc:
            self._fail(f"cannot write to the agent: {exc}")
            raise AgentGone(str(exc)) from exc

    def _read(self) -> None:
        from docker.utils.socket import frames_iter

        buf = b""
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream == 2:
                    self._stderr = (self._stderr + data)[-2000:]
                    continue
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    msg = json.loads(line)
                    rid = msg.pop("id")
                    if msg.get("ready"):
                        self._decide(rid)
                        continue
                    waiter = self._pending.get(rid)
                    if waiter is not None:
                        waiter[1].update(msg)
                        waiter[0].set()
        except Exception as exc:  # a broken channel: every waiter is told below
            self._stderr += f"\n(reading the agent: {type(exc).__name__}: {exc})".encode()
        self._fail("the agent's channel closed" + (f": {self._stderr.decode(errors='replace')[-500:]}"
                                                    if self._stderr.strip() else ""))

    def _decide(self, rid: int) -> None:
        """A command or write about to begin: go if its caller still waits, else cancel. So what a caller
        gave up on (a paused container: an exec would have been refused) never runs when it resumes."""
        with self._gate_lock:
            waiter = self._pending.get(rid)
            if waiter is not None:
                waiter[1]["go"] = True
        with contextlib.suppress(AgentGone):
            self._send({"op": "go" if waiter is not None else "cancel", "target": rid})

    def _fail(self, why: str) -> None:
        self.alive = False
        for done, box in list(self._pending.values()):
            box.setdefault("gone", why)
            done.set()

    def close(self) -> None:
        self.alive = False
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_WR)  # the agent reads end of input and exits
        for closeable in (getattr(self._sock, "_response", None), self._sock, self._raw):
            with contextlib.suppress(OSError, ValueError, AttributeError):  # already closed, or None
                closeable.close()  # type: ignore[union-attr]


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode(box: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(box.get(key, ""))


def os_error(box: dict[str, Any], where: str) -> OSError | None:
    """The agent's OSError as the same exception class here, naming the container."""
    if "os_error" not in box:
        return None
    return _OS_ERRORS.get(box["os_error"], OSError)(f"{where}: {box['message']}")
