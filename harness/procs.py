"""Local processes the harness started (stand-ins, brokers, nodes): is one alive, stop one for good."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from harness.errors import GateTimeout
from harness.wait import wait_until


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    if pid <= 0:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def terminate(pid: int, *, group: bool = False, grace: float = 2.5) -> None:
    """SIGTERM ``pid`` (or the process group it leads), then SIGKILL if it is still there after ``grace``
    seconds; returns once it is gone (or after the kill's own short wait)."""
    kill = os.killpg if group else os.kill
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not alive(pid):
            return
        try:
            kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        with contextlib.suppress(GateTimeout):  # still there after the TERM: the KILL comes next
            wait_until(lambda: not alive(pid), timeout=wait, interval=0.05, what=f"pid {pid} to end")
