"""Fencing: every command, file transfer and journal line of a run first checks that its executor still
holds the environment's lease (:meth:`harness.engine.lock.LeaseLock.check`).

An executor that was paused past its lease's TTL and then continued — while another executor took over
— would otherwise still run the command it was about to run. Wrapped this way it raises
:class:`~harness.errors.LeaseLost` instead, before anything reaches a node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from harness.transports.base import CommandResult, Transport

Fence = Callable[[], None]


class FencedTransport(Transport):
    """A transport whose every operation is preceded by ``fence()`` (which raises when the lease is lost)."""

    NAME = "fenced"

    def __init__(self, inner: Transport, fence: Fence) -> None:
        self.inner, self.fence = inner, fence

    @property
    def target(self) -> str:
        return self.inner.target

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        self.fence()
        return self.inner.run(argv, timeout=timeout, cwd=cwd, env=env)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        self.fence()
        self.inner.put(path, data, mode=mode)

    def get(self, path: str) -> bytes:
        self.fence()
        return self.inner.get(path)

    def close(self) -> None:
        self.inner.close()
