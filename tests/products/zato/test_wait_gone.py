"""Waiting for a stopped component's process to be gone is one command on its host, however long the process
takes: the stop step's command count (its kill points) is the same from run to run."""

from __future__ import annotations

import subprocess
import time
from types import SimpleNamespace
from typing import Any, cast

from harness.products.zato import state
from harness.transports.local import LocalTransport
from harness.wait import wait_until


class Counting(LocalTransport):
    def __init__(self) -> None:
        super().__init__()
        self.commands = 0

    def run(self, argv: Any, **kw: Any) -> Any:
        self.commands += 1
        return super().run(argv, **kw)


def host() -> tuple[Any, Counting]:
    t = Counting()
    return cast(Any, SimpleNamespace(transport=t, name="local")), t


def test_a_process_that_exits_later_is_awaited_in_one_command() -> None:
    h, t = host()
    proc = subprocess.Popen(["sleep", "0.6"])
    t0 = time.monotonic()
    assert state.wait_pid_gone(h, proc.pid, timeout=30)
    assert time.monotonic() - t0 >= 0.5 and t.commands == 1  # it waited on the host, not in 12 polls from here
    proc.wait()


def test_a_process_that_does_not_exit_is_reported_after_the_timeout() -> None:
    h, t = host()
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert not state.wait_pid_gone(h, proc.pid, timeout=0.3)
        assert t.commands == 1 and proc.poll() is None
        t0 = time.monotonic()
        assert state.pid_alive(h, proc.pid) and time.monotonic() - t0 < 0.3  # asked once, not awaited
    finally:
        proc.kill()
        proc.wait()


def test_a_zombie_counts_as_gone() -> None:
    h, _ = host()
    proc = subprocess.Popen(["true"])
    wait_until(lambda: not state.pid_alive(h, proc.pid), timeout=10, what="true to exit")  # not reaped: a zombie
    assert state.wait_pid_gone(h, proc.pid, timeout=5)
    proc.wait()
