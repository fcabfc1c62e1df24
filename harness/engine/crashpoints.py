"""Kill points: named places in a run where the crash test (``harness crashtest``) SIGKILLs the executor.

The runner calls :func:`reached` at every step boundary and the transport hook after every remote
command of a step's action::

    step:ID:before-start    before the step's ``started`` record
    step:ID:after-start     after it, before the skip check and the action
    step:ID:cmd-N           after the action's N-th remote command returned (its effect is on the node,
                            the executor has not recorded it)
    step:ID:after-action    after the action, before the readiness gate
    step:ID:after-done      after the step's final record
    (the same with ``rollback_step:`` for the steps of a rollback)

Two environment variables, read once per process (an executor is one process):

- ``HARNESS_CRASH_AT=ID``: SIGKILL this process when it reaches kill point ``ID`` — no ``finally``, no
  flush, no lease release, exactly as a power cut or the OOM killer would end it. Several ids, one a
  line: the first of them reached (the crash test's chains kill each resumed executor at the next point);
- ``HARNESS_CRASH_RECORD=FILE``: append every kill point reached to ``FILE`` (one id a line, written
  through at once), so an uninterrupted run enumerates them.

Neither set (every ordinary run): :func:`reached` returns at once.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_AT", "CRASH_RECORD", "reached"]

CRASH_AT = "HARNESS_CRASH_AT"
CRASH_RECORD = "HARNESS_CRASH_RECORD"
_lock = threading.Lock()  # parallel lanes reach points from several threads: one line each


def reached(point: str) -> None:
    """Kill point ``point`` is reached: record it and/or die here, as the environment says."""
    record, crash_at = os.environ.get(CRASH_RECORD), os.environ.get(CRASH_AT)
    if not record and not crash_at:
        return
    die = crash_at is not None and (crash_at == point or point in crash_at.splitlines())
    if record:
        with _lock, open(record, "a", encoding="utf-8") as fh:
            fh.write(point + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            if die:  # under the lock: no other lane records a point after the one this process dies at
                os.kill(os.getpid(), signal.SIGKILL)
    if die:
        os.kill(os.getpid(), signal.SIGKILL)
