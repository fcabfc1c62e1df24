"""Read-only is enforced, not hoped for: ``harness preflight`` and the facts of a reviewed plan read nodes
through :func:`harness.transports.readonly.environment`, where

* every host's transport is a :class:`~harness.transports.readonly.ReadOnlyTransport`: it passes on only the
  commands of its allowlist (and those a procedure declares read-only,
  :attr:`~harness.engine.procedure.Procedure.read_only_commands`) and refuses every file write, before
  anything reaches the host;
* :func:`enforced` is active, so a product's own client that talks to a node without a transport (a patch
  agent's socket, an HTTP API) refuses its writing requests too: it calls :func:`refuse` first.

A refusal is :class:`NotReadOnly` (a :class:`~harness.errors.RefusedError`: nothing was changed). This module
needs nothing but :mod:`harness.errors`: code shipped to a node alone (the BEAM patch service) imports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from harness.errors import RefusedError

_WHY: ContextVar[str | None] = ContextVar("harness_read_only", default=None)


class NotReadOnly(RefusedError):
    """Read-only code (preflight, a reviewed plan's facts) was about to run something that could change a node."""


@contextmanager
def enforced(why: str) -> Iterator[None]:
    """While the block runs (in this thread and what it awaits), :func:`refuse` refuses: ``why`` names the
    reader in the refusal ("preflight")."""
    token = _WHY.set(why)
    try:
        yield
    finally:
        _WHY.reset(token)


def active() -> str | None:
    """The reader whose read-only rule holds now, or None."""
    return _WHY.get()


def refuse(target: str, what: str) -> None:
    """Raise :class:`NotReadOnly` when read-only is enforced: call it before anything that could change
    ``target`` (``what``: the request, in the node's words)."""
    why = _WHY.get()
    if why is not None:
        raise NotReadOnly(f"{target}: {why} refused {what}: it could change the node\nHint: {why} only "
                          "reads; a run does this")


__all__ = ["NotReadOnly", "active", "enforced", "refuse"]
