"""Append-only JSON-lines journal, fsync'ed after every transition.

One file per run (``RUN_DIR/journal.jsonl``). A crash can at worst leave a torn last line, which
:func:`read_journal` ignores: every earlier transition is on disk. A journal reopened after such a crash
first ends the torn fragment with a newline, so the resumed executor's records stay readable.

Anything else that is not a record — a junk line in the middle, a record of an unknown kind or status —
means the file was edited or damaged, and :func:`read_journal` with ``strict=True`` (what ``harness
resume``, ``rollback`` and ``status`` read) refuses it, naming the line. Every write goes through the
run's lease fence: an executor that lost its lease writes nothing.

:meth:`Journal.write` returns only once its line is on disk. Lines written by several threads at once (the
lanes of a parallel stage) share an fsync: one started after a line was written covers it (group commit).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

#: the record kinds and, for those that have one, their statuses
EVENTS: dict[str, set[str] | None] = {
    "run": {"started", "resumed", "interrupted", "finished"},
    "step": {"started", "ok", "failed", "skipped", "rolled_back", "indeterminate"},
    "rollback_step": {"started", "ok", "failed", "skipped", "rolled_back", "indeterminate"},
    "rollback": {"started", "finished", "failed"},
    "observe": None,
    "fault": {"injected", "undone", "failed"},  # a plan's fault fired at a step (harness.faults)
    "slo": {"pass", "breach", "unknown"},  # a plan's SLO gates judged after a stage (harness.checks.slo)
}


class Journal:
    def __init__(self, path: Path, *, fence: Callable[[], None] | None = None) -> None:
        self.path = path
        self.fence = fence
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0  # lines written and lines known to be on disk, by this process
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if _torn(path):  # a predecessor died mid-write: end its fragment, so our records stay lines
            os.write(self._fd, b"\n")
            os.fsync(self._fd)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": time.time(), "event": event, **fields}
        line = (json.dumps(record, default=str, sort_keys=True) + "\n").encode()
        with self._write_lock:  # steps of a parallel stage journal from several threads
            if self.fence is not None:
                self.fence()  # raises LeaseLost: not a line once another executor holds the lease
            os.write(self._fd, line)
            self._written += 1
            mine = self._written
        self._sync(mine)
        return record

    def _sync(self, upto: int) -> None:
        """Return once line ``upto`` is on disk. One fsync covers every line written before it, so threads
        that wrote meanwhile wait for it rather than queue an fsync each (group commit: 100 lanes of a
        stage otherwise spend their time in a queue of fsyncs, each behind the write lock)."""
        with self._sync_lock:
            if self._synced >= upto:
                return  # another thread's fsync, started after our write, covered our line
            written = self._written  # every line up to here was written before this fsync starts
            os.fsync(self._fd)
            self._synced = written

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """Every record of the journal. A torn last line is skipped; with ``strict``, any other line that is
    not a valid record raises :class:`~harness.errors.ConfigError` naming it."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    out: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = number == len(lines) or (number == len(lines) - 1 and not lines[-1])
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if last or _followed_by_resumed_run(lines, number):
                continue  # the executor died inside write (and a resumed one appended after it)
            if strict:
                raise _corrupt(path, number, "is not a JSON record") from None
            continue
        problem = _invalid(record)
        if problem and strict:
            raise _corrupt(path, number, problem)
        if not problem:
            out.append(record)
    return out


def _followed_by_resumed_run(lines: list[bytes], number: int) -> bool:
    """A torn line in the middle is legitimate only where a resumed executor continued after it."""
    for raw in lines[number:]:
        if raw.strip():
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return False
            return isinstance(rec, dict) and rec.get("event") == "run" and rec.get("status") == "resumed"
    return False


def _invalid(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"is a JSON {type(record).__name__}, not a record"
    event = record.get("event")
    if event not in EVENTS:
        return f"has an unknown event {event!r}"
    if not isinstance(record.get("ts"), int | float):
        return "has no timestamp"
    statuses = EVENTS[event]
    if statuses is not None and record.get("status") not in statuses:
        return f"has an unknown {event} status {record.get('status')!r}"
    if event in ("step", "rollback_step", "observe") and not isinstance(record.get("step"), str):
        return "names no step"
    return None


def _corrupt(path: Path, line: int, problem: str) -> ConfigError:
    return ConfigError(f"journal line {line} {problem}", file=str(path), line=line,
                       hint="the run directory was edited or damaged; a journal is only ever appended to by "
                            "the executor. Check the run's nodes by hand and start a new run")


def _torn(path: Path) -> bool:
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"
