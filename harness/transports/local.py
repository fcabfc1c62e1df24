"""Commands and files on this machine (the process backend and ``--target`` inventories on localhost)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import TransportError
from harness.transports.base import CommandResult, Transport


class LocalTransport(Transport):
    NAME = "local"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(env or {})

    @property
    def target(self) -> str:
        return "local://"

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        full_env = {**os.environ, **self._env, **(env or {})}
        start = time.monotonic()
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                                  env=full_env, stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError as exc:
            raise TransportError(f"{self.target}: cannot run {argv[0]!r}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{self.target}: {' '.join(argv)} did not finish within {timeout}s") from exc
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr,
                             time.monotonic() - start, self.target)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(p)

    def get(self, path: str) -> bytes:
        return Path(path).read_bytes()
