"""The transport seam: ``run(argv)``, ``put(path, bytes)``, ``get(path)``.

Argv lists only: no transport ever builds a shell string from input.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from harness.errors import CommandFailed


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float = 0.0
    target: str = field(default="", compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """Raise :class:`CommandFailed` unless the command exited 0."""
        if self.exit_code != 0:
            raise CommandFailed(self.target, self.argv, self.exit_code, self.stdout, self.stderr)
        return self


class Transport(abc.ABC):
    NAME: ClassVar[str]

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """A URL-like name of the node for messages (``local://``, ``docker://name``)."""

    @abc.abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult: ...

    @abc.abstractmethod
    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None: ...

    @abc.abstractmethod
    def get(self, path: str) -> bytes:
        """Read a file; raises :class:`FileNotFoundError` when it does not exist."""

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except FileNotFoundError:
            return False
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


#: ``hook(phase, target, argv)``: ``phase`` is ``before`` or ``after`` a command (or file transfer: argv is
#: ``("put", PATH)`` / ``("get", PATH)``); the runner uses it to tie faults and crash points to the remote
#: commands of a step
CommandHook = Callable[[str, str, tuple[str, ...]], None]


class HookedTransport(Transport):
    """A transport that calls ``hook`` before and after every operation (the one hook the transport layer
    has: faults ``during`` a step and the crash test's kill points inside a step are tied to it)."""

    NAME = "hooked"

    def __init__(self, inner: Transport, hook: CommandHook) -> None:
        self.inner, self.hook = inner, hook

    @property
    def target(self) -> str:
        return self.inner.target

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        key = tuple(argv)
        self.hook("before", self.target, key)
        result = self.inner.run(argv, timeout=timeout, cwd=cwd, env=env)
        self.hook("after", self.target, key)
        return result

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        self.hook("before", self.target, ("put", path))
        self.inner.put(path, data, mode=mode)
        self.hook("after", self.target, ("put", path))

    def get(self, path: str) -> bytes:
        self.hook("before", self.target, ("get", path))
        data = self.inner.get(path)
        self.hook("after", self.target, ("get", path))
        return data

    def close(self) -> None:
        self.inner.close()
