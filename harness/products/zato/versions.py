"""Which version served each request: the probe's samples joined with what each server logged.

A Zato server does not say its version in a response; its own log does (reference §1.5)::

    Starting Zato `3.2.1` server `server1` (pid: P)     the process and the version it runs
    Started `server1@dev` (pid: P)                      it serves from here
    Stopped Zato server `server1` (pid: P)              it no longer serves

Each server's log is read whole (an old version's start is older than the run) into :class:`Life` spans,
one per process; a sample answered by server S (``served_by``) between its send and its answer gets the
version of the one span of S that overlaps that time, and no version when none or several do (a request
at the very moment of a restart is not guessed). A killed process logs no ``Stopped``: its span ends at
the next ``Starting`` of that server.

:func:`check_mixed_versions` judges the rolling window — from the first server ready on the new version
to the last server on the old version stopping — by the version that served each request in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.checks import Verdict, checker
from harness.environment import Environment
from harness.probes import ProbeResult, Sample
from harness.products.zato.logs import LogEvent, parse_log
from harness.products.zato.state import read_log

__all__ = ["Life", "VersionTimeline", "check_mixed_versions", "lives"]


@dataclass(frozen=True)
class Life:
    """One process of one server, as its own log tells it (wall-clock seconds)."""

    server: str
    version: str
    pid: int | None
    start: float  # its `Starting Zato` line
    ready: float | None  # its `Started` line; None: it never got there
    end: float  # its `Stopped` line, else the next start of the server, else math.inf (still running)


def lives(server: str, events: list[LogEvent]) -> list[Life]:
    """The processes of ``server`` from its log events, in order."""
    out: list[Life] = []
    cur: dict[str, Any] | None = None

    def close(end: float) -> None:
        nonlocal cur
        if cur is not None:
            out.append(Life(server, cur["version"], cur["pid"], cur["start"], cur["ready"], end))
            cur = None

    for e in events:
        ts = e.ts.timestamp()
        if e.kind == "starting":
            close(ts)
            cur = {"version": str(e.fields.get("version")), "pid": e.fields.get("pid"), "start": ts, "ready": None}
        elif cur is not None and e.kind == "started":
            cur["ready"] = ts
        elif cur is not None and e.kind in ("stopped", "boot_failed"):
            close(ts)
    close(math.inf)
    return out


@dataclass(frozen=True)
class VersionTimeline:
    lives: dict[str, list[Life]]  # server -> its processes

    @classmethod
    def from_logs(cls, logs: dict[str, str]) -> VersionTimeline:
        """From each server's log text (``{server name: server.log}``)."""
        return cls({name: lives(name, parse_log(text)) for name, text in logs.items()})

    @classmethod
    def collect(cls, env: Environment) -> VersionTimeline:
        """From the servers' own logs, read whole on their hosts."""
        return cls.from_logs({c.name: read_log(c) for c in env.components.values() if c.role == "server"})

    def version_of(self, sample: Sample) -> str | None:
        """The version of the server that answered ``sample``, when exactly one of its processes ran then."""
        if not sample.served_by:
            return None
        found = {life.version for life in self.lives.get(sample.served_by, [])
                 if life.start <= sample.end and life.end >= sample.start}
        return found.pop() if len(found) == 1 else None

    def window(self, old: str, new: str) -> tuple[float, float] | None:
        """``(start, end)`` of the time servers on ``old`` and ``new`` both served: from the first server
        ready on ``new`` to the last process on ``old`` that was ready before it ending; None when they never
        served together. ``end`` is math.inf while an old server still runs."""
        ready_new = [life.ready for ls in self.lives.values() for life in ls
                     if life.version == new and life.ready is not None]
        if not ready_new:
            return None
        start = min(ready_new)
        old_ends = [life.end for ls in self.lives.values() for life in ls
                    if life.version == old and life.ready is not None and life.ready < start < life.end]
        return (start, max(old_ends)) if old_ends else None


def _iso(ts: float) -> str:
    return "still serving" if math.isinf(ts) else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _sample(s: Sample) -> dict[str, Any]:
    return {"at": _iso(s.start), "served_by": s.served_by, "version": s.version, "status": s.status, "error": s.error}


@checker("mixed-versions")
def check_mixed_versions(probe: ProbeResult, timeline: VersionTimeline, old: str, new: str) -> Verdict:
    """While servers on ``old`` and ``new`` both serve, every request is answered well whichever version
    served it, and each version served at least one (else the window was not exercised, and proves
    nothing). Unknown when the two never served together."""
    window = timeline.window(old, new)
    if window is None:
        return Verdict("unknown", {"why": f"no time when servers on {old} and on {new} both served",
                                   "lives": {n: [(life.version, _iso(life.start), _iso(life.end)) for life in ls]
                                             for n, ls in timeline.lives.items()}})
    inside = probe.within(*window).attributed(timeline.version_of)
    counts = inside.by_version()
    problems = []
    failed = inside.failed
    if failed:
        problems.append(f"{len(failed)} of {inside.sent} requests in the window failed")
    for version in (old, new):
        if counts.get(version, {}).get("ok", 0) == 0:
            problems.append(f"no request in the window was answered by a server on {version}")
    details = {"window": [_iso(window[0]), _iso(window[1])], "sent": inside.sent, "by_version": counts,
               "failed": [_sample(s) for s in failed[:5]], "problems": problems}
    if not math.isinf(window[1]):
        details["window_s"] = round(window[1] - window[0], 3)
    return Verdict(not problems, details)
