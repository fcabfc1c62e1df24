"""The exception tree of the harness.

::

    HarnessError
     +-- ConfigError            bad plan, inventory or option (names file, line, field and the fix)
     |    +-- PlanError
     +-- RefusedError           the executor will not start: precheck failed, product would refuse
     |    +-- LockHeld          another executor holds the environment's lease
     |    +-- Stale             a reviewed plan's facts changed since it was saved (names node and fact)
     +-- LeaseLost              this executor no longer holds the lease (taken over): it must stop at once
     +-- TransportError         a command or file could not reach a node
     |    +-- CommandFailed     non-zero exit (target, argv, exit code, stdout/stderr tails)
     |    +-- ConnectTimeout
     +-- StepFailed             a step of a run failed (carries the step id)
     +-- GateTimeout            a readiness gate did not open in time
     +-- SetupFailed            stand-ins could not be brought up (retryable, bounded)

Every error that reaches the CLI maps to one exit code: :class:`ExitCode` below is the one table of
every ``harness`` command's exit codes (the README's table is checked against it by a test).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ExitCode(enum.IntEnum):
    """Exit codes of every ``harness`` command (run, resume, rollback, status, plan, report, patch, lint …).

    Changelog: before issue 14, ``harness patch`` exited 3 when the patch service or an agent could not be
    reached; 3 is ``rolled_back`` for every command now, and "unreachable" is 7
    (``harness.products.beam.status.EXIT_UNREACHABLE`` is kept as a name for it).
    """

    SUCCESS = 0
    FAILED = 1
    USAGE = 2
    ROLLED_BACK = 3
    REFUSED = 4
    LOCKED = 5
    INDETERMINATE = 6
    UNREACHABLE = 7
    #: a reviewed plan (``harness plan --out``) whose facts changed since it was saved: nothing was run
    STALE = 8
    #: 10 + a product's own result code (``harness patch``: 11..14, the integral patch status)
    PRODUCT_RESULT = 10


#: (meaning, the commands that give it), in code order: what the README's exit-code table says
EXIT_TABLE: dict[ExitCode, tuple[str, str]] = {
    ExitCode.SUCCESS: ("every step ok or already done (skipped, the reason in the journal); a clean lint; "
                       "a patch whose integral status is not_changed/ok/not_loaded", "every command"),
    ExitCode.FAILED: ("a step failed and the plan says `rollback: never`; lint findings", "run, resume, status, "
                      "lint"),
    ExitCode.USAGE: ("bad command line (unknown option, missing argument)", "every command"),
    ExitCode.ROLLED_BACK: ("a step failed; everything the run changed was reverted and restarted in order",
                           "run, resume, rollback, status"),
    ExitCode.REFUSED: ("bad plan, inventory, run directory or archive, a node or revision missing, stand-ins "
                       "could not start: nothing changed", "every command"),
    ExitCode.LOCKED: ("another executor holds this environment's lease", "run, resume, rollback, status"),
    ExitCode.INDETERMINATE: ("the state is unknown (a step's outcome unknown, a rollback step failed, lease "
                             "lost, Ctrl-C, a run not finished): see `harness status`, then `resume` or "
                             "`rollback`", "run, resume, rollback, status"),
    ExitCode.UNREACHABLE: ("a node, agent or service could not be reached: nothing was changed by this command",
                           "patch"),
    ExitCode.STALE: ("a reviewed plan (`harness plan --out FILE`) no longer matches: a fact it was computed "
                     "from (a version, revision, file hash, the plan or inventory) changed since; the message "
                     "names node, fact, reviewed and current value: nothing changed", "run"),
    ExitCode.PRODUCT_RESULT: ("10 + a product's result code: `harness patch` 11..14 = error, not_beam, "
                              "wrong_path, not_updated (docs/patch.md)", "patch"),
}


def _tail(text: str, lines: int = 15) -> str:
    parts = text.rstrip().splitlines()
    return "\n".join(parts[-lines:])


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """A user mistake in a file or option; the message says where and how to fix it."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None) -> None:
        self.file, self.line, self.field, self.hint = file, line, field, hint
        where = file or ""
        if line is not None:
            where += f":{line}"
        text = f"{where}: {message}" if where else message
        if field:
            text += f" (field: {field})"
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


class PlanError(ConfigError):
    """A plan or inventory does not validate."""


class RefusedError(HarnessError):
    """The executor refuses to start; nothing was changed on any node."""


class LockHeld(RefusedError):
    """Another executor holds the lease on this environment."""


class Stale(RefusedError):
    """A reviewed plan no longer describes the environment: a fact it was computed from changed since it was
    saved. Raised before any lock is taken and before any change."""


class LeaseLost(HarnessError):
    """Another executor took this one's lease (it was paused or cut off past the TTL). Raised before any
    command, file transfer or journal line, so an executor that lost the lease changes nothing more."""


class TransportError(HarnessError):
    """A command or file transfer could not be carried out on a node."""


class ConnectTimeout(TransportError):
    pass


class CommandFailed(TransportError):
    """A command exited non-zero; carries everything needed to diagnose it without re-running."""

    def __init__(self, target: str, argv: Sequence[str], exit_code: int, stdout: str, stderr: str) -> None:
        self.target, self.argv, self.exit_code = target, list(argv), exit_code
        self.stdout, self.stderr = stdout, stderr
        super().__init__(
            f"{target}: {' '.join(argv)} exited {exit_code}\n"
            f"--- stdout (tail) ---\n{_tail(stdout)}\n--- stderr (tail) ---\n{_tail(stderr)}"
        )


class StepFailed(HarnessError):
    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"step {step}: {message}")


class GateTimeout(HarnessError):
    pass


class SetupFailed(HarnessError):
    """Stand-ins could not be started; carries the recent logs in the message."""
