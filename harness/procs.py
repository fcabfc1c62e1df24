"""Processes the harness started (stand-ins, brokers, nodes): is one alive, stop one for good (local), and
which processes the pidfiles on any host still name (through the host's transport)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import GateTimeout
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.transports import Transport


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    if pid <= 0:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def started_at(pid: int) -> float:
    """When ``pid`` started (epoch seconds, from /proc); +inf when it is gone."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, IndexError, ValueError, StopIteration):
        return float("inf")
    return boot + ticks / os.sysconf("SC_CLK_TCK")


#: How much later than the moment it is judged from a process may have started and still be the one meant: the
#: start time is read in clock ticks from /proc and compared with whole-second clocks (a file's mtime, a
#: lease's time). One figure for :func:`holds` and the pidfile script below.
START_SLACK_S = 2


def holds(pid: int, since: float) -> bool:
    """True while the process that was ``pid`` at ``since`` (epoch seconds) runs: alive, and started no later
    (:data:`START_SLACK_S` of slack). The kernel reuses pids (pid_max 32768 here): a later process with the number
    is another."""
    return alive(pid) and started_at(pid) <= since + START_SLACK_S


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` on this host (children first, then theirs), from each process's parent in
    /proc; a process that ends while it is read is left out."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(0), [])
        out += kids
        todo += kids
    return out


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


#: For each pidfile "$@": the pid it names, when that process runs and started no later than the pidfile was
#: last written (:data:`START_SLACK_S` of slack). A pid left in a stale pidfile is reused by the kernel
#: (pid_max is 32768 here: a test session wraps it), and a signal sent to it would hit an unrelated process —
#: a later process than the pidfile is never the one that wrote it. Written by hand: no tool prints a
#: process's start time next to a file's mtime, and it must run in sh on containers and SSH hosts alike.
_PIDFILE_PIDS = (
    'hz=$(getconf CLK_TCK 2>/dev/null) || hz=100; [ -n "$hz" ] || hz=100; bt=0; '
    'while read -r k v; do [ "$k" = btime ] && bt=$v; done </proc/stat; '
    'for f; do [ -f "$f" ] || continue; pid=; read -r pid <"$f" 2>/dev/null; '
    'case $pid in ""|*[!0-9]*) continue;; esac; [ "$pid" -gt 1 ] || continue; '
    'read -r st </proc/"$pid"/stat 2>/dev/null || continue; rest=${st##*) }; set -- $rest; '
    '[ "$1" = Z ] && continue; m=$(stat -c %Y "$f" 2>/dev/null) || continue; '
    '[ $((bt + ${20} / hz)) -le $((m + ' + str(START_SLACK_S) + ')) ] && echo "$pid"; done; exit 0')


def pidfile_pids(transport: Transport, pidfiles: Sequence[str]) -> list[str]:
    """The running processes the ``pidfiles`` on a host name, in one command through its transport; a missing
    or unreadable pidfile, a dead process, or a pid reused since the pidfile was written gives nothing."""
    if not pidfiles:
        return []
    out = transport.run(["sh", "-c", _PIDFILE_PIDS, "pidfile-pids", *pidfiles], timeout=30).check().stdout
    return list(dict.fromkeys(out.split()))
