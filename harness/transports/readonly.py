"""The read-only transports of :mod:`harness.readonly`'s rule: preflight and a reviewed plan's facts reach nodes
through :func:`environment`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from harness.readonly import NotReadOnly, active, enforced
from harness.transports.base import CommandResult, Transport

if TYPE_CHECKING:
    from harness.engine.procedure import Procedure
    from harness.environment import Environment
    from harness.plan.models import Inventory

#: commands read-only code may run, with the subcommands allowed where a command can also write
READ_ONLY: Mapping[str, frozenset[str] | None] = {
    "true": None, "id": None, "df": None, "test": None, "cat": None, "ls": None, "stat": None,
    "uname": None, "sha256sum": None, "whoami": None, "hostname": None,
    "sh": frozenset({"-c"}),  # only the fixed `command -v` probe below (checked in full)
    "git": frozenset({"rev-parse", "log", "status", "describe", "show", "ls-remote"}),
}
#: the one shell script allowed: which of the commands "$@" are missing on the host
COMMAND_V = 'for c in "$@"; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done'

#: a predicate over one command's argv: True when it only reads
ArgvCheck = Callable[[Sequence[str]], bool]


class ReadOnlyTransport(Transport):
    """A transport that passes on only the commands of :data:`READ_ONLY` (and those ``allow`` accepts) and
    refuses every write."""

    NAME = "read-only"

    def __init__(self, inner: Transport, allow: Sequence[ArgvCheck] = ()) -> None:
        self.inner = inner
        self.allow = tuple(allow)

    @property
    def target(self) -> str:
        return self.inner.target

    def allowed(self, argv: Sequence[str]) -> bool:
        if any(check(argv) for check in self.allow):
            return True
        if not argv or argv[0] not in READ_ONLY:
            return False
        sub = READ_ONLY[argv[0]]
        if argv[0] == "sh":
            return len(argv) >= 3 and argv[1] == "-c" and argv[2] == COMMAND_V
        if argv[0] == "git":
            rest = [a for a in argv[1:] if not a.startswith("-")]
            # `git -C DIR SUB ...`: the first word after the options that is not -C's directory
            words = list(argv[1:])
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] == "-C" else words[1:]
            return bool(words) and sub is not None and words[0] in sub and bool(rest)
        return True

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        if not self.allowed(argv):
            raise NotReadOnly(f"{self.target}: {active() or 'read-only code'} refused {' '.join(argv)!r}: "
                              "not on the read-only allowlist")
        return self.inner.run(argv, timeout=timeout, cwd=cwd, env=env)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        raise NotReadOnly(f"{self.target}: {active() or 'read-only code'} refused writing {path}")

    def get(self, path: str) -> bytes:
        return self.inner.get(path)

    def close(self) -> None:
        self.inner.close()


@contextmanager
def environment(inv: Inventory, proc: Procedure, why: str) -> Iterator[Environment]:
    """The environment of ``inv`` with read-only transports (the generic allowlist and ``proc``'s own
    read-only commands), :func:`enforced` for ``why`` while it is open; closed at the end."""
    from harness.environment import Environment

    with enforced(why):
        env = Environment.from_inventory(inv, wrap=lambda t: ReadOnlyTransport(t, proc.read_only_commands))
        try:
            yield env
        finally:
            env.close()


__all__ = ["COMMAND_V", "READ_ONLY", "ArgvCheck", "ReadOnlyTransport", "environment"]
