"""The BEAM system's node timeline for the report: each node's states from its own log (``node.log``).

A node logs through OTP's logger, the default handler's formatter given an RFC 3339 time (``sys_boot``)::

    2026-12-03T05:40:01.854677+00:00 notice: system 2.7.1 starting: role master, applications [core,billing]
    2026-12-03T05:40:01.870177+00:00 notice: system 2.7.1 started on 'master@127.0.0.1': applications ...
    2026-12-03T05:40:03.244759+00:00 notice: SIGTERM received - shutting down
    2026-12-03T05:40:03.244902+00:00 notice: system 2.7.1 stopped
    2026-12-03T05:40:06.774286+00:00 error: system 2.7.1 failed to start: {badmatch,
                                   {error, ...}}
    [{sys_boot,boot,1, ...}]

A line without the time in front continues the event before it (a multi-line term, a stacktrace, the
emulator's own ``init terminating in do_boot`` and crash-dump lines). A hot patch restarts nothing: the lanes
of a ``beam-patch`` run stay ``ready`` on one version, which is what the procedure promises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Inventory
from harness.probes import HttpProbe
from harness.products.beam.standin.node import Layout
from harness.report.timeline import StateChange

#: ``TIME LEVEL: MESSAGE``, logger's template ``[time, " ", level, ": ", msg, "\n"]``
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
                  r"(debug|info|notice|warning|error|critical|alert|emergency): (.*)$")
_EVENTS = [(re.compile(r"^system (\S+) starting\b"), "starting"), (re.compile(r"^system (\S+) started\b"), "ready"),
           (re.compile(r"^SIGTERM received - shutting down"), "stopping"),
           (re.compile(r"^system (\S+) stopped\b"), "stopped"),
           (re.compile(r"^system (\S+) failed to start\b"), "failed")]


@dataclass(frozen=True)
class LogLine:
    ts: float
    level: str
    message: str


def parse_line(line: str) -> LogLine | None:
    """The event a header line starts, or None for a continuation line."""
    m = LINE.match(line)
    if m is None:
        return None
    try:
        ts = datetime.fromisoformat(m.group(1)).timestamp()
    except ValueError:
        return None
    return LogLine(ts, m.group(2), m.group(3))


class BeamTimeline:
    def collect(self, env: Environment) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, comp in env.components.items():
            try:
                out[name] = comp.host.transport.get(Layout.at(comp.host.install_dir).log).decode(errors="replace")
            except (TransportError, OSError):
                continue  # a node whose host is gone: its lane is drawn from the journal alone
        return out

    def parse(self, node: str, text: str) -> list[StateChange]:
        changes: list[StateChange] = []
        version: str | None = None
        for line in text.splitlines():
            ev = parse_line(line)
            if ev is None:
                continue
            for pattern, state in _EVENTS:
                m = pattern.match(ev.message)
                if m is None:
                    continue
                if m.groups():
                    version = m.group(1)
                changes.append(StateChange(ev.ts, node, state, version, ev.message[:200]))
                break
        return changes

    def window(self, text: str, start: float, end: float) -> str:
        keep, out = False, []
        for line in text.splitlines():
            ev = parse_line(line)
            if ev is not None:
                keep = start <= ev.ts <= end
            if keep:
                out.append(line)
        return "\n".join(out)

    def probe(self, inventory: Inventory) -> HttpProbe | None:
        """None: the system's only HTTP door is the patch service, an authenticated admin API, not the
        service a request could be lost on; what a hot patch keeps (same pids, their state) ``verify`` checks."""
        return None


TIMELINE = BeamTimeline()
