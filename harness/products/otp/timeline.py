"""The OTP release's node timeline for the report: each node's states from its own log (``ROOT/log/erlang.log``).

The release logs through OTP's logger at level info into ``log/erlang.log`` (its ``sys.config``), an RFC 3339
time in front of each event and a report's further lines under it::

    2026-12-03T05:50:01.100000+00:00 info: application: kernel
        started_at: 'demo_node1@127.0.0.1'
    2026-12-03T05:50:01.300000+00:00 notice: counter_server 1.0 started
    2026-12-03T05:50:01.310000+00:00 info: application: counter
        started_at: 'demo_node1@127.0.0.1'
    2026-12-03T05:50:05.000000+00:00 notice: counter_server upgraded from 1.0 to 1.1
    2026-12-03T05:50:09.000000+00:00 info: SIGTERM received - shutting down
    2026-12-03T05:50:09.100000+00:00 info: application: counter
        exited: stopped
        type: permanent

What is OTP's own: the progress reports (``kernel`` started is the first thing a boot logs: ``starting``; the
release's application started: ``ready``), ``SIGTERM received - shutting down`` (``stopping``), an application
exit report (``stopped`` for ``exited: stopped``, ``failed`` for any other reason). A node stopped by
SIGTERM logs no more than ``stopping`` (``init:stop/0`` takes the applications down without an exit report).
The release's version is what its own server logs (``counter_server 1.1 started``, ``… upgraded from 1.0 to
1.1``): nothing of release_handler logs a version, and a hot upgrade restarts nothing, so the version
changes on a ``ready`` lane.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime

from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Inventory
from harness.probes import HttpProbe
from harness.products.otp.node import NodeCallFailed, NodeDown, node_client
from harness.products.otp.terms import Atom
from harness.report.timeline import StateChange

LOG = "log/erlang.log"
#: ``TIME LEVEL: MESSAGE``, logger's template ``[time, " ", level, ": ", msg, "\n"]``
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
                  r"(debug|info|notice|warning|error|critical|alert|emergency): (.*)$")
#: OTP's applications: their starts are the boot, not the release being ready
_OTP_APPS = frozenset({"kernel", "stdlib", "sasl", "compiler", "crypto", "inets", "ssl", "public_key", "asn1",
                       "mnesia", "os_mon", "runtime_tools", "tools", "syntax_tools", "erts"})
_VERSION = [re.compile(r"^\S+ (\S+) started$"), re.compile(r"^\S+ (?:upgraded|downgraded) from \S+ to (\S+)$")]
_FIELD = re.compile(r"^\s*(\w+): (.*)$")


@dataclass
class Event:
    ts: float
    level: str
    lines: list[str]  # the header's message, then the continuation lines as written

    @property
    def message(self) -> str:
        return self.lines[0]

    def fields(self) -> dict[str, str]:
        """``key: value`` of a report (``application: counter``, ``exited: stopped`` …)."""
        out: dict[str, str] = {}
        for line in self.lines:
            m = _FIELD.match(line)
            if m:
                out.setdefault(m.group(1), m.group(2).strip())
        return out


def parse_line(line: str) -> tuple[float, str, str] | None:
    """``(ts, level, message)`` of a header line, None for a continuation line."""
    m = LINE.match(line)
    if m is None:
        return None
    try:
        return datetime.fromisoformat(m.group(1)).timestamp(), m.group(2), m.group(3)
    except ValueError:
        return None


def events(text: str) -> list[Event]:
    out: list[Event] = []
    for line in text.splitlines():
        head = parse_line(line)
        if head is not None:
            out.append(Event(head[0], head[1], [head[2]]))
        elif out:
            out[-1].lines.append(line)
    return out


def _state(ev: Event) -> tuple[str | None, str | None]:
    """The swimlane state an event means, and the version it names (either may be None)."""
    for pattern in _VERSION:
        m = pattern.match(ev.message)
        if m:
            return "ready", m.group(1)
    if ev.message.startswith("SIGTERM received - shutting down"):
        return "stopping", None
    f = ev.fields()
    app = f.get("application")
    if app is None:
        return None, None
    if "started_at" in f:
        if app == "kernel":
            return "starting", None
        return (None if app in _OTP_APPS else "ready"), None
    if "exited" in f and app not in _OTP_APPS:
        return ("stopped" if f["exited"] == "stopped" else "failed"), None
    return None, None


class OtpTimeline:
    def collect(self, env: Environment) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, comp in env.components.items():
            # what the logger handler holds is written first (the events of the last step may not be yet);
            # a node that does not answer has written what it could
            with contextlib.suppress(NodeDown, NodeCallFailed, TransportError, KeyError, StopIteration):
                node_client(env.inventory, name).call("apply", Atom("logger_std_h"), Atom("filesync"),
                                                      [Atom("default")], timeout=5)
            try:
                out[name] = comp.host.transport.get(f"{comp.path}/{LOG}").decode(errors="replace")
            except (TransportError, OSError):
                continue  # a node whose host is gone: its lane is drawn from the journal alone
        return out

    def parse(self, node: str, text: str) -> list[StateChange]:
        changes: list[StateChange] = []
        version: str | None = None
        for ev in events(text):
            state, named = _state(ev)
            if state is None:
                continue
            if changes and (state, named or version) == (changes[-1].state, changes[-1].version):
                continue  # the server's line and the application's report of one start: one change
            version = named or version
            detail = " ".join(s.strip() for s in ev.lines if s.strip())
            changes.append(StateChange(ev.ts, node, state, version, detail[:200]))
        return changes

    def window(self, text: str, start: float, end: float) -> str:
        keep, out = False, []
        for line in text.splitlines():
            head = parse_line(line)
            if head is not None:
                keep = start <= head[0] <= end
            if keep:
                out.append(line)
        return "\n".join(out)

    def probe(self, inventory: Inventory) -> HttpProbe | None:
        """None: a target system of the sample release has no front door (its inventory names none)."""
        return None


TIMELINE = OtpTimeline()
