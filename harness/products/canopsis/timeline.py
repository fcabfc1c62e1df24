"""Canopsis's node timeline for the report: one lane per Go engine and one for the API, from their own logs.

The engines and the API log zerolog JSON, one record a line (``var/log/<program>.log`` on the node)::

    {"level":"info","time":"2026-12-03T05:40:01Z","consumers":1,"periodical workers":1,"message":"engine started"}
    {"level":"info","time":"2026-12-03T05:40:09Z","message":"engine stopped"}
    {"level":"fatal","time":"2026-12-03T05:40:10Z","error":"...","message":"failed to connect to rabbitmq"}

Canopsis ``lib/canopsis/engine/engine.go`` logs ``engine started`` and, deferred, ``engine stopped``; a
failure to start is ``logger.Fatal()``, exit status 1; an engine whose consumer failed logs ``engine
stopped``, then ``exit with error`` (``cmd/engine-*/main.go``), exit status 1. zerolog's default time field is
RFC 3339 to the second: a change is placed at the start of the second it was logged in, and
:meth:`CanopsisTimeline.window` keeps the records of every second the window overlaps. A line that is not a
JSON record (a Go panic's goroutine dump, a Python traceback) continues the record before it.
Neither the engines nor the API log anything on the way up or down: systemd does, in its journal. Each lane
therefore also holds its unit's journal entries (``journalctl -o json -u UNIT``: ``canopsis-engine-go@<engine>``,
``canopsis-service@canopsis-api``), in which ``Starting …`` and ``Stopping …`` are the ``starting`` and
``stopping`` states and ``Failed to start …`` is ``failed``; the program's own ``engine started`` /
``http server started`` is ``ready`` and names the version, its ``engine stopped`` is ``stopped``::

    {"__REALTIME_TIMESTAMP": "1764740829512345", "UNIT": "canopsis-engine-go@engine-che.service",
     "JOB_TYPE": "restart", "MESSAGE": "Starting Canopsis engine-che 4.6.1..."}

The broker's lane (``rabbitmq``, the packages installation's own RabbitMQ node) is RabbitMQ's log, every line
of a multi-line message under the same header::

    2026-12-03 05:50:51.365051+00:00 [info] <0.223.0>  Starting RabbitMQ 3.10.8 on Erlang 25.2.3 [jit]
    2026-12-03 05:50:54.074074+00:00 [info] <0.653.0> Server startup complete; 0 plugins started.
    2026-12-03 05:51:07.635101+00:00 [notice] <0.61.0> SIGTERM received - shutting down
    2026-12-03 05:51:07.700000+00:00 [info] <0.223.0> Successfully stopped RabbitMQ and its dependencies
    2026-12-03 05:49:31.527543+00:00 [error] <0.653.0> BOOT FAILED

It has no version: the broker's is not Canopsis's, which the report compares across lanes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Inventory
from harness.probes import HttpProbe
from harness.products.canopsis.node import ENGINE_LOGS, JOURNAL_FILE, CanopsisNode, journal_record, unit_of
from harness.products.canopsis.standin.packages import broker_of
from harness.report.timeline import StateChange

#: lane -> its program's log under var/log (lanes whose log does not exist are left out)
LOGS = {**{e: e for e in ENGINE_LOGS}, "api": "canopsis-api"}
BROKER = "rabbitmq"
#: ``DATE TIME.us+00:00 [level] <pid> message`` (RabbitMQ 3.9+)
RABBIT_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) \[(\w+)\] <[\d.]+> ?(.*)$")
_RABBIT = [("Starting RabbitMQ ", "starting"), ("Server startup complete", "ready"),
           ("SIGTERM received - shutting down", "stopping"), ("RabbitMQ is asked to stop", "stopping"),
           ("Successfully stopped RabbitMQ", "stopped"), ("BOOT FAILED", "failed")]
#: message -> swimlane state (a record at level fatal or panic is ``failed`` whatever its message); ``exit
#: with error`` is what an engine's main logs when its Run returned an error (after ``engine stopped``)
_STATE = {"engine started": "ready", "engine stopped": "stopped", "exit with error": "failed",
          "http server started": "ready", "http server stopped": "stopped"}
_FAILED_LEVELS = ("fatal", "panic")
#: systemd's job messages in a unit's journal -> swimlane state ("Started" is systemd's fork of a simple
#: service, not the program ready: the program's own line says that; "Stopped" repeats the program's)
_JOURNAL = [("Starting ", "starting"), ("Stopping ", "stopping"), ("Failed to start ", "failed")]
#: the program's state -> the systemd job it ends: a start's ready or failure, a stop's stopped
_ITS_JOB = {"ready": "starting", "failed": "starting", "stopped": "stopping"}

_Change = tuple[float, str, str | None, str]  # ts, state, version, detail


def _merge(own: list[_Change], jobs: list[_Change]) -> list[_Change]:
    """The program's changes and its unit's systemd jobs in one order, each list in the order it was written.

    The program's lines are to the second (at ``t``: any time in ``[t, t + 1)``), the jobs to the microsecond,
    so a job in the program line's second is ambiguous by time alone. A start and the update's stop can fall in
    one second (up at .1, ready at .2, Stopping at .5, stopped at .6: the program's ready and stopped both read
    ``.0``), so the ambiguity is settled by what each program line ends: it goes after the job it waits for
    (ready after Starting, stopped after Stopping) unless that job was already placed and not yet answered,
    and before any other job. A program line placed after a job of its second takes the job's time, so times
    never go back.
    (heapq.merge cannot do this: the order is not a key of either item alone.)
    """
    out: list[_Change] = []
    i = j = 0
    unanswered: str | None = None  # the last job placed, until a program line ends it
    last_job = float("-inf")  # when the last job placed began
    while i < len(own) or j < len(jobs):
        take_job = i == len(own)
        if not take_job and j < len(jobs):
            (ts, state, *_), jts = own[i], jobs[j][0]
            if jts < ts:
                take_job = True
            elif jts < ts + 1:  # in the program line's second
                waits_for = _ITS_JOB.get(state)
                take_job = waits_for is not None and unanswered != waits_for and jobs[j][1] == waits_for
        if take_job:
            out.append(jobs[j])
            last_job, unanswered, j = jobs[j][0], jobs[j][1], j + 1
        else:
            ts, state, version, detail = own[i]
            out.append((last_job if ts <= last_job < ts + 1 else ts, state, version, detail))
            unanswered = None if _ITS_JOB.get(state) == unanswered else unanswered
            i += 1
    return out


def journal_entry(line: str) -> tuple[float, str, str] | None:
    """``(ts, unit, message)`` of a ``journalctl -o json`` line, or None."""
    rec = journal_record(line)
    return None if rec is None else (rec["_ts"], str(rec.get("UNIT", "")), str(rec.get("MESSAGE", "")))


def record(line: str) -> dict[str, Any] | None:
    """The zerolog record of ``line`` with its ``time`` parsed (``_ts``, epoch seconds), or None when the line
    is not one (a continuation line)."""
    if not line.startswith("{"):
        return None
    try:
        rec = json.loads(line)
        stamp = str(rec["time"])
        ts = datetime.fromisoformat(stamp).timestamp()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(rec, dict):
        return None
    rec["_ts"] = ts
    # zerolog's default time is to the second: such a record was logged at any time in that second
    rec["_res"] = 1e-6 if "." in stamp else 1.0
    return rec


def rabbit_line(line: str) -> tuple[float, str, str] | None:
    """``(ts, level, message)`` of a RabbitMQ log line, or None."""
    m = RABBIT_LINE.match(line)
    if m is None:
        return None
    try:
        return datetime.fromisoformat(m.group(1)).timestamp(), m.group(2), m.group(3).strip()
    except ValueError:
        return None


def _line_time(line: str) -> tuple[float, float] | None:
    """When a line was logged and to what precision, for either log format; None for a continuation line."""
    entry = journal_entry(line)
    if entry is not None:
        return entry[0], 1e-6
    rec = record(line)
    if rec is not None:
        return rec["_ts"], rec["_res"]
    head = rabbit_line(line)
    return (head[0], 1e-6) if head is not None else None


def records(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        rec = record(line)
        if rec is not None:
            yield rec


def _detail(rec: dict[str, Any]) -> str:
    msg = str(rec.get("message", ""))
    if rec.get("error"):
        msg += f": {rec['error']}"
    return msg[:200]


class CanopsisTimeline:
    def collect(self, env: Environment) -> dict[str, str]:
        try:
            node = CanopsisNode.of(env)
        except (TransportError, OSError, KeyError):
            return {}
        out: dict[str, str] = {}
        try:
            journal = node.read(JOURNAL_FILE).splitlines()
        except (TransportError, OSError):
            journal = []
        for lane, prog in LOGS.items():
            try:
                text = node.read(f"var/log/{prog}.log")
            except (TransportError, OSError):
                text = ""
            unit = unit_of(lane)
            jobs = [line for line in journal if (e := journal_entry(line)) is not None and e[1] == unit]
            if text or jobs:
                out[lane] = "\n".join(filter(None, [text.rstrip("\n"), *jobs]))
        if "broker_node" in env.inventory.facts:  # the packages installation's broker (compose: a container's)
            with contextlib.suppress(TransportError, OSError, KeyError, ValueError):
                broker = broker_of(env.inventory, env)
                out[BROKER] = broker.transport.get(broker.log).decode(errors="replace")
        return out

    def parse(self, node: str, text: str) -> list[StateChange]:
        if node == BROKER:
            return self._parse_broker(node, text)
        own: list[_Change] = []  # the program's
        jobs: list[_Change] = []  # systemd's, for its unit (to the microsecond)
        for line in text.splitlines():
            entry = journal_entry(line)
            if entry is not None:
                state = next((st for prefix, st in _JOURNAL if entry[2].startswith(prefix)), None)
                if state is not None:
                    jobs.append((entry[0], state, None, entry[2][:200]))
                continue
            rec = record(line)
            if rec is None:
                continue
            level, message = str(rec.get("level", "")), str(rec.get("message", ""))
            state = "failed" if level in _FAILED_LEVELS else _STATE.get(message)
            if state is not None:
                own.append((rec["_ts"], state, str(rec.get("version") or "") or None, _detail(rec)))
        merged = _merge(own, jobs)
        changes: list[StateChange] = []
        version: str | None = None
        for ts, state, named, detail in merged:
            version = named if state == "ready" and named else version
            if changes and changes[-1].state == state == "failed":
                continue  # systemd's "Failed to start" after the program's own fatal line
            changes.append(StateChange(ts, node, state, version, detail))
        return changes

    def _parse_broker(self, node: str, text: str) -> list[StateChange]:
        changes: list[StateChange] = []
        for line in text.splitlines():
            head = rabbit_line(line)
            if head is None:
                continue
            state = next((st for prefix, st in _RABBIT if head[2].startswith(prefix)), None)
            if state is None or (changes and changes[-1].state == state):
                continue  # RabbitMQ logs SIGTERM's notice twice
            changes.append(StateChange(head[0], node, state, None, head[2][:200]))
        return changes

    def window(self, text: str, start: float, end: float) -> str:
        keep, out = False, []
        for line in text.splitlines():
            when = _line_time(line)
            if when is not None:
                keep = start < when[0] + when[1] and when[0] <= end
            if keep:
                out.append(line)
        return "\n".join(out)

    def probe(self, inventory: Inventory) -> HttpProbe | None:
        """GET /api/v4/app-info on the API (port 8082, called directly: not through Nginx), every 100 ms.
        The regular update stops the API: its calls are not buffered (reference §2.2), and the probe says
        for how long."""
        if not inventory.front_door:
            return None
        return HttpProbe(inventory.front_door.rstrip("/") + "/api/v4/app-info", expect='"version"', interval=0.1,
                         max_seconds=1800)


TIMELINE = CanopsisTimeline()
