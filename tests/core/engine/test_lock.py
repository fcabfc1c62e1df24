"""The environment's lease lock: exclusive, renewed while its holder lives, taken over after its TTL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.engine.lock import LeaseLock, state_dir
from harness.errors import LeaseLost, LockHeld, RefusedError
from harness.wait import wait_until


def _write_lease(holder: str, pid: int, expires: float, env: str = "dev") -> Path:
    path = state_dir() / "locks" / f"{env}.lease"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": env, "holder": holder, "pid": pid,
                                "host": socket.gethostname(), "expires": expires}))
    return path


def test_lock_lives_under_harness_state_dir(isolated_dirs: Path) -> None:
    lock = LeaseLock("dev", "run-a")
    assert lock.path == isolated_dirs / "state" / "locks" / "dev.lease"


def test_acquire_writes_the_lease_and_release_removes_it() -> None:
    lock = LeaseLock("dev", "run-a", ttl=5)
    with lock:
        lease = lock.current()
        assert lease is not None
        assert (lease.holder, lease.pid, lease.environment) == ("run-a", os.getpid(), "dev")
        assert lease.expires > time.time() + 4
    assert not lock.path.exists() and lock.current() is None


def test_a_second_holder_is_refused_with_a_message_naming_the_first() -> None:
    with LeaseLock("dev", "run-a", ttl=5), pytest.raises(LockHeld) as excinfo:
        LeaseLock("dev", "run-b", ttl=5).acquire()
    msg = str(excinfo.value)
    assert "run-a" in msg and f"pid {os.getpid()}" in msg and "'dev'" in msg
    assert isinstance(excinfo.value, RefusedError)


def test_other_environments_are_independent() -> None:
    with LeaseLock("dev", "run-a", ttl=5) as dev, LeaseLock("staging", "run-b", ttl=5) as staging:
        assert dev.path != staging.path
        assert (dev.current().holder, staging.current().holder) == ("run-a", "run-b")  # type: ignore[union-attr]
        assert dev.held() and staging.held()
        with pytest.raises(LockHeld, match="run-b"):
            LeaseLock("staging", "run-c", ttl=5).acquire()  # each is still exclusive
    assert not dev.path.exists() and not staging.path.exists()


def test_an_expired_lease_of_a_dead_holder_is_taken_over() -> None:
    _write_lease("run-dead", pid=999_999_999, expires=time.time() - 1)
    with LeaseLock("dev", "run-b", ttl=5) as lock:
        assert lock.current().holder == "run-b"  # type: ignore[union-attr]


def test_an_unexpired_lease_of_another_run_is_refused_even_if_its_pid_is_gone() -> None:
    """Another run's lease is only judged by its expiry (its holder may live on another machine)."""
    _write_lease("run-other", pid=999_999_999, expires=time.time() + 30)
    with pytest.raises(LockHeld, match="run-other"):
        LeaseLock("dev", "run-b", ttl=5).acquire()


def test_a_garbled_lease_file_does_not_block() -> None:
    path = state_dir() / "locks" / "dev.lease"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"holder": "run-x", "pi')
    with LeaseLock("dev", "run-b", ttl=5) as lock:
        assert lock.current().holder == "run-b"  # type: ignore[union-attr]


def _past(moment: float) -> bool:
    return time.time() > moment


def test_renewal_keeps_a_live_holders_lease_past_its_ttl() -> None:
    with LeaseLock("dev", "run-a", ttl=3) as lock:
        first = lock.current().expires  # type: ignore[union-attr]
        wait_until(lambda: _past(first), timeout=30, what="the first lease's expiry")
        assert lock.held()
        assert lock.current().expires > first  # type: ignore[union-attr]  # renewed, by the holder's thread
        with pytest.raises(LockHeld):
            LeaseLock("dev", "run-b", ttl=3).acquire()


def test_renewal_stops_after_release() -> None:
    lock = LeaseLock("dev", "run-a", ttl=0.3)
    lock.acquire()
    renewer = lock._thread
    assert renewer is not None and renewer.is_alive()
    lock.release()
    assert not renewer.is_alive()  # joined: nothing can write the lease again
    assert not lock.path.exists()


def test_same_run_id_held_by_another_live_process_is_refused() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write_lease("run-a", pid=sleeper.pid, expires=time.time() + 30)
        with pytest.raises(LockHeld, match=rf"run run-a is still being executed by pid {sleeper.pid}"):
            LeaseLock("dev", "run-a", ttl=5).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_same_run_id_whose_process_died_is_taken_over_at_once() -> None:
    """`harness resume` after a kill must not wait for the TTL of its own dead predecessor."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lease("run-a", pid=dead.pid, expires=time.time() + 30)
    with LeaseLock("dev", "run-a", ttl=5) as lock:
        assert lock.current().pid == os.getpid()  # type: ignore[union-attr]


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harness.engine.lock import LeaseLock
    LeaseLock("dev", "run-killed", ttl=3, directory=Path(sys.argv[1])).acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def test_a_sigkilled_holder_is_taken_over_after_its_ttl() -> None:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(state_dir())], stdout=subprocess.PIPE,
                             text=True)
    lock = LeaseLock("dev", "run-b", ttl=3)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match="run-killed"):
            lock.acquire()
        first = json.loads(lock.path.read_text())["expires"]
        wait_until(lambda: _past(first), timeout=30, what="the child's first lease to expire")
        with pytest.raises(LockHeld, match="run-killed"):  # only its renewal keeps it now
            lock.acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    last = json.loads(lock.path.read_text())["expires"]  # the dead holder's last renewal

    def taken() -> bool:
        try:
            lock.acquire()
        except LockHeld:
            return False
        return True

    wait_until(taken, timeout=60, what="the dead holder's lease to be taken over")
    try:
        assert lock.current().holder == "run-b"  # type: ignore[union-attr]
        assert time.time() >= last  # taken over once its TTL had passed, not before
    finally:
        lock.release()


def test_a_lease_that_another_executor_took_is_no_longer_held_and_not_deleted(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    mine = LeaseLock("env-x", "run-a", ttl=30)
    mine.acquire()
    assert mine.held()
    mine.check()  # the fence lets a holder through
    theirs = json.loads(mine.path.read_text()) | {"executor": "elsewhere:1:abcd", "generation": mine.generation + 1}
    mine.path.write_text(json.dumps(theirs))  # another executor took it over
    assert not mine.held()
    with pytest.raises(LeaseLost, match="now belongs to run run-a"):
        mine.check()
    mine.release()
    assert mine.path.exists(), "release must not delete a lease that belongs to someone else"


def test_every_take_over_is_a_new_generation_and_a_resume_is_a_new_executor() -> None:
    first = LeaseLock("dev", "run-a", ttl=5)
    with first:
        gen1, executor1 = first.generation, first.executor
    resumed = LeaseLock("dev", "run-a", ttl=5)  # the same run, resumed: another executor
    with resumed:
        assert resumed.executor != executor1 and resumed.generation == gen1 + 1
        with pytest.raises(LeaseLost):
            first.check()  # the first executor, were it still around, is fenced off
    (state_dir() / "locks" / "dev.lease").unlink(missing_ok=True)
    with LeaseLock("dev", "run-b", ttl=5) as later:
        assert later.generation == gen1 + 2, "a generation never goes back, even after the lease file is gone"


def test_the_lease_is_on_the_hosts_not_on_the_environments_name() -> None:
    from harness.testing import fake_inventory

    inv = fake_inventory("staging")
    renamed = inv.model_copy(update={"environment": "staging-again"})
    other = fake_inventory("staging", root="/elsewhere")
    with LeaseLock.for_inventory(inv, "run-a", ttl=5):
        with pytest.raises(LockHeld, match="run-a"):
            LeaseLock.for_inventory(renamed, "run-b", ttl=5).acquire()
        with LeaseLock.for_inventory(other, "run-c", ttl=5):
            pass  # other hosts: another lease


def test_the_lock_held_hint_is_a_command_that_works(tmp_path: Path) -> None:
    with LeaseLock("dev", "run-a", ttl=5, run_dir=str(tmp_path / "runs" / "run-a")), \
            pytest.raises(LockHeld) as excinfo:
        LeaseLock("dev", "run-b", ttl=5).acquire()
    assert f"`harness status {tmp_path / 'runs' / 'run-a'}`" in str(excinfo.value)
