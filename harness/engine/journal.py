"""Append-only JSON-lines journal, fsync'ed after every transition.

One file per run (``RUN_DIR/journal.jsonl``). A crash can at worst leave a torn last line, which
:func:`read_journal` ignores: every earlier transition is on disk. A journal reopened after such a crash
first ends the torn fragment with a newline, so the resumed executor's records stay readable.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if _torn(path):  # a predecessor died mid-write: end its fragment, so our records stay lines
            os.write(self._fd, b"\n")
            os.fsync(self._fd)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": time.time(), "event": event, **fields}
        line = (json.dumps(record, default=str, sort_keys=True) + "\n").encode()
        with self._write_lock:  # steps of a parallel stage journal from several threads
            os.write(self._fd, line)
            os.fsync(self._fd)
        return record

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    return list(_records(path))


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line (the executor died inside write); a resumed executor appended after it


def _torn(path: Path) -> bool:
    with path.open("rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"

