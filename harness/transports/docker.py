"""Commands and files in a running container, through the docker SDK (exec and archive APIs).

Calls go through one long-lived agent per container (:mod:`harness.transports._docker_agent`: a docker
exec costs 70–90 ms, a command through the agent a few), and through one exec (or archive call) each when
the agent cannot run (no ``python3`` in the container) or ``HARNESS_DOCKER_AGENT=0`` (under ``sh``, which keeps
the program's output in the container until it is read whole: :meth:`DockerTransport._exec`). The SDK's exec has no
timeout, so the blocking ``exec_start`` runs in a daemon thread; on timeout the process is killed (by the
agent; without it best effort, only when the engine is on this host) and :class:`TransportError` raised.
Paths given to ``put``/``get`` are absolute paths in the container.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import tarfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import procs
from harness.backends.docker_engine import client as shared_client
from harness.backends.docker_engine import describe_container, map_exceptions
from harness.errors import TransportError
from harness.transports import _docker_agent
from harness.transports._docker_agent import Agent, AgentGone
from harness.transports.base import CommandResult, Transport

#: where a plain exec leaves its program's output (one directory an exec)
_EXEC_DIR = "/tmp/.harness-exec"
#: the wrapper's exit when it could not make its directory (before the program ran)
_NO_BOX = 199
#: what follows each stream once the wrapper copied all of it
_END = "\x1eharness-exec-end\x1e"
#: ``sh -c _WRAPPER BOX N SPENT... ARGV...``: removes the N spent directories, makes BOX, runs ARGV (never
#: through a shell string: ``"$@"``) with its streams in BOX/out and BOX/err, copies each to the exec's stream
#: with :data:`_END` after it, and exits with the program's status
_WRAPPER = ('n=$1; shift; while [ "$n" -gt 0 ]; do rm -rf -- "$1"; shift; n=$((n - 1)); done; '
            f'mkdir -p -- "$0" || exit {_NO_BOX}; "$@" >"$0/out" 2>"$0/err"; c=$?; '
            f"cat \"$0/out\"; printf '\\036harness-exec-end\\036'; "
            f"cat \"$0/err\" >&2; printf '\\036harness-exec-end\\036' >&2; exit $c")


class DockerTransport(Transport):
    NAME = "docker"

    def __init__(self, container: str, client: Any = None) -> None:
        self.container, self._client = container, client
        self._agent: Agent | None = None
        self._agent_lock = threading.Lock()
        self._plain = os.environ.get("HARNESS_DOCKER_AGENT", "1") == "0"  # one exec per call
        self._direct = False  # plain execs take the attach stream (no sh, or no writable /tmp, in the container)
        self._spent: list[str] = []  # plain execs' output directories, read, for the next exec to remove
        self._spent_lock = threading.Lock()

    @property
    def target(self) -> str:
        return f"docker://{self.container}"

    @property
    def api(self) -> Any:
        return (self._client or shared_client()).api

    # --- through the agent -------------------------------------------------------------------------
    def _channel(self) -> Agent | None:
        """This container's agent, started on first use (again after it died); None: use plain execs."""
        with self._agent_lock:
            if self._agent is not None and self._agent.alive:
                return self._agent
            if self._plain:
                return None
            agent = None
            try:
                with map_exceptions(f"{self.target}: start the agent", error=TransportError):
                    agent = Agent(self.api, self.container)
                _, box = agent.call({"op": "run", "argv": ["true"]}, timeout=30)
                if box is None or box.get("code") != 0:
                    raise AgentGone(f"the agent's first command answered {box!r}")
            except (AgentGone, TransportError):
                if agent is not None:
                    agent.close()
                # never started here (no python3 in the container): one exec per call from now on; one
                # that ran before and died (the container restarted) is tried again at the next call
                if self._agent is None:
                    self._plain = True
                return None
            self._agent = agent
            weakref.finalize(self, agent.close)  # a transport dropped without close() leaves no channel open
            return agent

    def _stalled(self) -> str | None:
        """Why the container cannot answer now (paused, stopped), as the engine would refuse an exec."""
        try:
            with map_exceptions(f"{self.target}: inspect", error=TransportError):
                state = self.api.inspect_container(self.container)["State"]
        except TransportError as exc:
            return str(exc)
        if state.get("Paused"):
            return f"container {self.container} is paused"
        return None if state.get("Running") else f"container {self.container} is not running"

    def _call(self, agent: Agent, req: dict[str, Any], timeout: float, what: str) -> dict[str, Any]:
        try:
            rid, box = agent.call(req, timeout, self._stalled)
        except AgentGone as exc:
            raise TransportError(f"{self.target}: {what}: {exc}\n{self._describe()}") from exc
        if box is None:
            agent.kill(rid)
            raise TransportError(f"{self.target}: {what} did not finish within {timeout}s\n{self._describe()}\n"
                                 f"Hint: raise the timeout or check the command does not wait for input")
        return box

    # --- the Transport -------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        agent = self._channel()
        if agent is None:
            return self._exec(argv, timeout=timeout, cwd=cwd, env=env)
        start = time.monotonic()
        box = self._call(agent, {"op": "run", "argv": list(argv), "cwd": cwd, "env": dict(env or {})}, timeout,
                         " ".join(argv))
        if "spawn_error" in box:
            raise TransportError(f"{self.target}: cannot run {argv[0]!r}: {box['spawn_error']}")
        stdout, stderr = (_docker_agent.decode(box, k).decode(errors="replace") for k in ("out", "err"))
        return CommandResult(tuple(argv), int(box["code"]), stdout, stderr, time.monotonic() - start, self.target)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        agent = self._channel()
        if agent is None:
            return self._put_archive(path, data, mode=mode)
        box = self._call(agent, {"op": "put", "path": path, "data": _docker_agent.encode(data), "mode": mode},
                         60.0, f"put {path}")
        err = _docker_agent.os_error(box, f"{self.target}: put {path}")
        if err is not None:
            raise TransportError(str(err)) from err
        return None

    def get(self, path: str) -> bytes:
        agent = self._channel()
        if agent is None:
            return self._get_archive(path)
        box = self._call(agent, {"op": "get", "path": path}, 60.0, f"get {path}")
        err = _docker_agent.os_error(box, f"{self.target}: {path}")
        if err is not None:
            raise err
        return _docker_agent.decode(box, "data")

    def close(self) -> None:
        with self._agent_lock:
            if self._agent is not None:
                self._agent.close()
                self._agent = None
        with self._spent_lock:
            spent, self._spent = self._spent, []
        if spent:  # the plain execs' last output directories (best effort: the container may be gone)
            with contextlib.suppress(TransportError):
                self._exec_once(["rm", "-rf", "--", *spent], timeout=10, cwd=None, env=None)

    # --- one exec or archive call each ---------------------------------------------------------------
    def _exec(self, argv: Sequence[str], *, timeout: float, cwd: str | None,
              env: Mapping[str, str] | None) -> CommandResult:
        """One exec. The engine's attach stream can lose a short-lived process's output (moby/moby#27289,
        docker/docker-py#2042: an empty stdout of ``printf`` here, once in ~1,500 tests). So ``sh`` runs the
        program (argv untouched: ``"$@"``) with its streams in files in the container, then copies them to
        the stream, each followed by an end mark: when both marks arrived, the stream is whole; when one did
        not, the files are read back with one archive call (~45 ms more). The directories read are removed by
        the next exec. A container without ``sh``, or whose /tmp cannot be written, gets the bare stream."""
        start = time.monotonic()
        if self._direct:
            exit_code, stdout, stderr = self._exec_once(argv, timeout=timeout, cwd=cwd, env=env)
            return CommandResult(tuple(argv), exit_code, stdout, stderr, time.monotonic() - start, self.target)
        with self._spent_lock:
            spent, self._spent = self._spent, []
        box = f"{_EXEC_DIR}/{uuid.uuid4().hex}"
        try:
            exit_code, stdout, stderr = self._exec_once(["sh", "-c", _WRAPPER, box, str(len(spent)), *spent, *argv],
                                                        timeout=timeout, cwd=cwd, env=env, what=argv)
        except TransportError as exc:
            if "cannot run 'sh'" not in str(exc):
                self._spend(box)
                raise
            self._direct = True  # no sh here: the bare stream, as before
            return self._exec(argv, timeout=timeout, cwd=cwd, env=env)
        if exit_code == _NO_BOX and not stdout.endswith(_END):  # stopped before the program: /tmp not writable
            self._direct = True
            return self._exec(argv, timeout=timeout, cwd=cwd, env=env)
        self._spend(box)
        if stdout.endswith(_END) and stderr.endswith(_END):
            stdout, stderr = stdout[:-len(_END)], stderr[:-len(_END)]
        else:  # the stream lost some of it: the files have all of it
            try:
                files = self._archive(box)
            except FileNotFoundError as exc:
                raise TransportError(f"{self.target}: {' '.join(argv)}: exited {exit_code}; the engine lost its "
                                     f"output and {box} is gone") from exc
            name = posixpath.basename(box)
            stdout, stderr = (files.get(f"{name}/{k}", b"").decode(errors="replace") for k in ("out", "err"))
        # sh names itself by $0 (the box) in its own messages: "BOX: 1: PROGRAM: not found" (dash), "BOX: line
        # 1: PROGRAM: command not found" (bash), and "Permission denied" with exit 126
        said = re.fullmatch(rf"{re.escape(box)}: (?:line )?\d+: {re.escape(argv[0])}: (.*)",
                            stderr.rstrip("\n").rpartition("\n")[2])
        if exit_code in (126, 127) and said:
            raise TransportError(f"{self.target}: cannot run {argv[0]!r}: {said.group(1)}")
        return CommandResult(tuple(argv), exit_code, stdout, stderr, time.monotonic() - start, self.target)

    def _spend(self, box: str) -> None:
        with self._spent_lock:
            self._spent.append(box)

    def _exec_once(self, argv: Sequence[str], *, timeout: float, cwd: str | None, env: Mapping[str, str] | None,
                   what: Sequence[str] | None = None) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of one exec, as the attach stream carried them."""
        done, out = threading.Event(), dict[str, Any]()
        said = " ".join(what or argv)

        def exec_start() -> None:
            try:
                out["result"] = self.api.exec_start(exec_id, demux=True)
            except Exception as exc:
                out["error"] = exc
            done.set()

        with map_exceptions(f"{self.target}: exec {said}", error=TransportError):
            exec_id = self.api.exec_create(self.container, list(argv), workdir=cwd,
                                           environment=[f"{k}={v}" for k, v in (env or {}).items()])["Id"]
            threading.Thread(target=exec_start, daemon=True, name=f"exec {self.target}").start()
            if not done.wait(timeout):
                self._kill(self.api.exec_inspect(exec_id))
                raise TransportError(f"{self.target}: {said} did not finish within {timeout}s\n"
                                     f"{self._describe()}\nHint: raise the timeout or "
                                     f"check the command does not wait for input")
            if "error" in out:
                raise out["error"]
            exit_code = int(self.api.exec_inspect(exec_id)["ExitCode"])
        stdout, stderr = (b.decode(errors="replace") if b else "" for b in out["result"])
        if exit_code in (126, 127) and "OCI runtime exec failed" in stdout:
            raise TransportError(f"{self.target}: cannot run {argv[0]!r}: {stdout.strip()}")
        return exit_code, stdout, stderr

    def _put_archive(self, path: str, data: bytes, *, mode: int) -> None:
        buf, info = io.BytesIO(), tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))  # the engine creates missing parent directories
        with map_exceptions(f"{self.target}: put {path}", error=TransportError):
            self.api.put_archive(self.container, "/", buf.getvalue())

    def _get_archive(self, path: str) -> bytes:
        data = self._archive(path).get(posixpath.basename(path.rstrip("/")))
        if data is None:
            raise IsADirectoryError(f"{self.target}: {path}")
        return data

    def _archive(self, path: str) -> dict[str, bytes]:
        """The regular files of one archive call on ``path`` (a file, or a directory and all under it), by
        their names in the archive (``NAME``, ``NAME/FILE``)."""
        import docker.errors

        with map_exceptions(f"{self.target}: get {path}", error=TransportError):
            try:
                stream, _ = self.api.get_archive(self.container, path)
            except docker.errors.NotFound as exc:
                raise FileNotFoundError(f"{self.target}: {path}") from exc
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                return {m.name: f.read() for m in tar.getmembers()
                        if m.isfile() and (f := tar.extractfile(m)) is not None}

    def _describe(self) -> str:
        try:
            return describe_container((self._client or shared_client()).containers.get(self.container))
        except Exception as exc:
            return f"container status unavailable: {exc}"

    @staticmethod
    def _kill(exec_info: Mapping[str, Any]) -> None:
        # Best effort: the exec's pid is in the engine host's namespace, so kill it only when that pid
        # here really belongs to the container (engine on this host); otherwise it runs on, orphaned.
        # The program runs under the plain exec's sh: the processes under the exec go first.
        pid, container_id = exec_info.get("Pid", 0), exec_info.get("ContainerID", "")
        try:
            ours = bool(pid and container_id and container_id in Path(f"/proc/{pid}/cgroup").read_text())
        except OSError:
            return
        if ours:
            for each in [*reversed(procs.descendants(pid)), pid]:
                procs.terminate(each, grace=1.0)
