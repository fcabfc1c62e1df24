"""How a run ends, and the exit code the CLI gives for it (documented in the README)."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    LOCKED = "locked"
    INDETERMINATE = "indeterminate"


EXIT_CODES: dict[Outcome, int] = {
    Outcome.SUCCESS: 0,
    Outcome.FAILED: 1,
    # 2 is the command-line usage error (typer/click)
    Outcome.ROLLED_BACK: 3,
    Outcome.REFUSED: 4,
    Outcome.LOCKED: 5,
    Outcome.INDETERMINATE: 6,
}
