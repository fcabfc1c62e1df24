"""Commands and files in a running container, through the docker SDK (exec and archive APIs).

The SDK's exec has no timeout, so the blocking ``exec_start`` runs in a daemon thread; on timeout the
process is killed (best effort: only when the engine is on this host) and :class:`TransportError` raised.
Paths given to ``put``/``get`` are absolute paths in the container.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import procs
from harness.backends.docker_engine import client as shared_client
from harness.backends.docker_engine import describe_container, map_exceptions
from harness.errors import TransportError
from harness.transports.base import CommandResult, Transport


class DockerTransport(Transport):
    NAME = "docker"

    def __init__(self, container: str, client: Any = None) -> None:
        self.container, self._client = container, client

    @property
    def target(self) -> str:
        return f"docker://{self.container}"

    @property
    def api(self) -> Any:
        return (self._client or shared_client()).api

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        start, done = time.monotonic(), threading.Event()
        out: dict[str, Any] = {}

        def exec_start() -> None:
            try:
                out["result"] = self.api.exec_start(exec_id, demux=True)
            except Exception as exc:
                out["error"] = exc
            done.set()

        with map_exceptions(f"{self.target}: exec {' '.join(argv)}", error=TransportError):
            exec_id = self.api.exec_create(self.container, list(argv), workdir=cwd,
                                           environment=[f"{k}={v}" for k, v in (env or {}).items()])["Id"]
            threading.Thread(target=exec_start, daemon=True, name=f"exec {self.target}").start()
            if not done.wait(timeout):
                self._kill(self.api.exec_inspect(exec_id))
                raise TransportError(f"{self.target}: {' '.join(argv)} did not finish within {timeout}s\n"
                                     f"{self._describe()}\nHint: raise the timeout or "
                                     f"check the command does not wait for input")
            if "error" in out:
                raise out["error"]
            exit_code = int(self.api.exec_inspect(exec_id)["ExitCode"])
        stdout, stderr = (b.decode(errors="replace") if b else "" for b in out["result"])
        if exit_code in (126, 127) and "OCI runtime exec failed" in stdout:
            raise TransportError(f"{self.target}: cannot run {argv[0]!r}: {stdout.strip()}")
        return CommandResult(tuple(argv), exit_code, stdout, stderr, time.monotonic() - start, self.target)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        buf, info = io.BytesIO(), tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))  # the engine creates missing parent directories
        with map_exceptions(f"{self.target}: put {path}", error=TransportError):
            self.api.put_archive(self.container, "/", buf.getvalue())

    def get(self, path: str) -> bytes:
        import docker.errors

        with map_exceptions(f"{self.target}: get {path}", error=TransportError):
            try:
                stream, _ = self.api.get_archive(self.container, path)
            except docker.errors.NotFound as exc:
                raise FileNotFoundError(f"{self.target}: {path}") from exc
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile(posixpath.basename(path.rstrip("/")))
                if member is None:
                    raise IsADirectoryError(f"{self.target}: {path}")
                return member.read()

    def _describe(self) -> str:
        try:
            return describe_container((self._client or shared_client()).containers.get(self.container))
        except Exception as exc:
            return f"container status unavailable: {exc}"

    @staticmethod
    def _kill(exec_info: Mapping[str, Any]) -> None:
        # Best effort: the exec's pid is in the engine host's namespace, so kill it only when that pid
        # here really belongs to the container (engine on this host); otherwise it runs on, orphaned.
        pid, container_id = exec_info.get("Pid", 0), exec_info.get("ContainerID", "")
        try:
            ours = bool(pid and container_id and container_id in Path(f"/proc/{pid}/cgroup").read_text())
        except OSError:
            return
        if ours:
            procs.terminate(pid, grace=1.0)
