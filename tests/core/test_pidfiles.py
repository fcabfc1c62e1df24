"""Which processes a host's pidfiles still name (``harness.procs.pidfile_pids``), on real processes.

A pidfile outlives its process; the kernel reuses the pid (pid_max is 32768 on this machine, which a test
session wraps), so a signal sent by a stale pidfile would hit an unrelated process.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.procs import pidfile_pids
from harness.standins import kill_pidfiles
from harness.transports.local import LocalTransport
from harness.wait import wait_until


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_running_process_written_after_it_started_is_named(tmp_path: Path,
                                                             sleeper: subprocess.Popen[bytes]) -> None:
    (tmp_path / "a.pid").write_text(f"{sleeper.pid}\n")
    (tmp_path / "nonl.pid").write_text(str(sleeper.pid))
    assert pidfile_pids(LocalTransport(), [str(tmp_path / "a.pid"), str(tmp_path / "nonl.pid")]) == [str(sleeper.pid)]


def test_a_process_started_after_its_pidfile_was_written_is_a_reused_pid(
        tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pidfile = tmp_path / "stale.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    past = time.time() - 30
    os.utime(pidfile, (past, past))  # as a pidfile left behind by a process that died 30 s before this one began
    assert pidfile_pids(LocalTransport(), [str(pidfile)]) == []
    kill_pidfiles(LocalTransport(), [str(pidfile)])
    assert sleeper.poll() is None, "a stale pidfile's pid, reused by another process, was signalled"


@pytest.mark.parametrize("content", ["", "garbage\n", "1\n", "0\n", "-5\n"])
def test_empty_garbage_init_and_missing_pidfiles_name_nothing(tmp_path: Path, content: str) -> None:
    (tmp_path / "x.pid").write_text(content)
    assert pidfile_pids(LocalTransport(), [str(tmp_path / "x.pid"), str(tmp_path / "missing.pid"),
                                           str(tmp_path)]) == []


def test_a_dead_process_is_not_named(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    (tmp_path / "dead.pid").write_text(f"{proc.pid}\n")
    assert pidfile_pids(LocalTransport(), [str(tmp_path / "dead.pid")]) == []


def test_kill_pidfiles_ends_the_process_its_fresh_pidfile_names(tmp_path: Path,
                                                                 sleeper: subprocess.Popen[bytes]) -> None:
    (tmp_path / "a.pid").write_text(f"{sleeper.pid}\n")
    kill_pidfiles(LocalTransport(), [str(tmp_path / "a.pid")])
    assert sleeper.wait(timeout=10) != 0


def test_a_pid_holds_only_for_the_process_that_had_it_then(sleeper: subprocess.Popen[bytes]) -> None:
    from harness.procs import holds

    assert holds(os.getpid(), time.time()) and holds(sleeper.pid, time.time())
    # a lease written a minute ago names this pid: the process now running under it started since
    assert not holds(sleeper.pid, time.time() - 60)
    sleeper.kill()
    sleeper.wait()
    assert not holds(sleeper.pid, time.time())


def test_descendants_are_the_whole_tree_under_a_process() -> None:
    """What a timed-out plain docker exec kills: its sh, and the program and that program's children under it."""
    from harness.procs import descendants

    tree = subprocess.Popen(["sh", "-c", 'sh -c "sleep 60 & sleep 61; :" & sleep 62; :'])
    try:
        def names() -> list[str]:
            return sorted(Path(f"/proc/{p}/cmdline").read_bytes().decode().replace("\0", " ").strip()
                          for p in descendants(tree.pid))

        # until each child has exec'ed: a child forked and not yet exec'ed still shows its parent's command line
        want = ["sh -c sleep 60 & sleep 61; :", "sleep 60", "sleep 61", "sleep 62"]
        wait_until(lambda: names() == want, timeout=10, interval=0.02, what=f"the tree {want} to fork and exec")
        assert names() == want
        assert tree.pid in descendants(os.getpid())
    finally:
        for pid in [*descendants(tree.pid), tree.pid]:
            os.kill(pid, 9)
        tree.wait()
