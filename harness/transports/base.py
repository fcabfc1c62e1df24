"""The transport seam: ``run(argv)``, ``put(path, bytes)``, ``get(path)``.

Argv lists only: no transport ever builds a shell string from input.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
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
