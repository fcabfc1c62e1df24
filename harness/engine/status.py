"""How a run ends, and the exit code the CLI gives for it (the table is :class:`harness.errors.ExitCode`)."""

from __future__ import annotations

from enum import Enum

from harness.errors import ExitCode


class Outcome(str, Enum):
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    LOCKED = "locked"
    INDETERMINATE = "indeterminate"


EXIT_CODES: dict[Outcome, int] = {o: int(ExitCode[o.name]) for o in Outcome}
