"""The executor's fast paths keep their guarantees (bench/executor_overhead.py measures what they save):

- the journal's group commit: a write returns only once its line is on disk, and lines written by several
  threads while one fsync runs share the next one;
- the fence reads the lease file again only when it may have changed, and still sees every take-over.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from harness.engine.journal import Journal, read_journal
from harness.engine.lock import LeaseLock
from harness.errors import LeaseLost
from harness.wait import wait_until

THREADS = 16


def test_writers_waiting_for_an_fsync_share_the_next_one_and_none_returns_before_its_line_is_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    real_fsync = os.fsync
    at_fsync: list[int] = []  # lines in the file when each fsync began
    on_disk = [0]             # lines covered by the fsyncs that have returned

    def lines() -> int:
        return len(path.read_bytes().splitlines())

    def spy(fd: int) -> None:
        n = lines()
        at_fsync.append(n)
        if len(at_fsync) == 1:  # hold the first fsync until every thread has written its line
            wait_until(lambda: lines() == THREADS, timeout=30, interval=0.005, what="every thread's line")
        real_fsync(fd)
        on_disk[0] = max(on_disk[0], n)

    monkeypatch.setattr(os, "fsync", spy)
    late: list[str] = []
    with Journal(path) as journal:
        def writer(i: int) -> None:
            journal.write("observe", step=f"s{i}", observation={"i": i})
            mine = next(n for n, r in enumerate(read_journal(path), 1) if r["step"] == f"s{i}")
            if mine > on_disk[0]:
                late.append(f"s{i}: line {mine} returned with only {on_disk[0]} line(s) synced")

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not late
    # the first fsync covered the line(s) written before it began; the one after it (if any was still
    # needed) every line written meanwhile: 2 fsyncs for 16 writes, not 16
    assert len(at_fsync) <= 2 and at_fsync[-1] == THREADS, at_fsync
    assert sorted(r["step"] for r in read_journal(path)) == sorted(f"s{i}" for i in range(THREADS))


def _age(path: Path) -> None:
    """Make the lease file look written a second ago, past the timer tick its mtime could share."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1_000_000_000))


def test_the_fence_reads_an_unchanged_lease_file_once(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LeaseLock("env-fast", "run-a", ttl=30) as mine:
        _age(mine.path)
        reads = []
        real = LeaseLock.current
        monkeypatch.setattr(LeaseLock, "current", lambda self: reads.append(1) or real(self))
        for _ in range(100):
            mine.check()
        assert len(reads) == 1


def test_the_fence_sees_a_take_over_by_rename(isolated_dirs: Path) -> None:
    mine = LeaseLock("env-fast", "run-a", ttl=30)
    mine.acquire()
    try:
        _age(mine.path)
        mine.check()  # read and remembered
        theirs = json.loads(mine.path.read_text()) | {"executor": "elsewhere:1:abcd", "generation": 99}
        tmp = mine.path.with_suffix(".tmp-other")
        tmp.write_text(json.dumps(theirs))
        tmp.replace(mine.path)  # how another executor's LeaseLock writes
        with pytest.raises(LeaseLost, match="generation 99"):
            mine.check()
    finally:
        mine.release()


def test_the_fence_sees_a_same_size_rewrite_with_the_same_mtime(isolated_dirs: Path) -> None:
    """Written in place, as long as the old one, the mtime kept (a write within one timer tick of the last):
    the stat key is the same, and only the rule "a read not well after the mtime is read again" catches it.
    The mtime is put 10 s ahead, so every read here is within the tick, however slow the machine."""
    mine = LeaseLock("env-fast", "run-a", ttl=30)
    mine.acquire()
    try:
        st = os.stat(mine.path)
        ahead = st.st_mtime_ns + 10_000_000_000
        os.utime(mine.path, ns=(st.st_atime_ns, ahead))
        mine.check()  # read; not to be trusted next time
        old = mine.path.read_text()
        nonce = mine.executor.rsplit(":", 1)[1]
        new = old.replace(nonce, "0" * len(nonce) if nonce != "0" * len(nonce) else "1" * len(nonce))
        assert len(new) == len(old) and new != old
        mine.path.write_text(new)  # another executor's name, in place
        os.utime(mine.path, ns=(st.st_atime_ns, ahead))
        assert os.stat(mine.path).st_ino == st.st_ino
        with pytest.raises(LeaseLost):
            mine.check()
    finally:
        mine.release()
