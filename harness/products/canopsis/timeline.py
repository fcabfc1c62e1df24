"""Canopsis's node timeline for the report: one lane per Go engine and one for the API, from their own logs.

The engines and the API log zerolog JSON, one record a line (``var/log/<program>.log`` on the node)::

    {"level":"info","time":"2026-12-03T05:40:01Z","consumers":1,"periodical workers":1,"message":"engine started"}
    {"level":"info","time":"2026-12-03T05:40:09Z","message":"engine stopped"}
    {"level":"fatal","time":"2026-12-03T05:40:10Z","error":"...","message":"failed to connect to rabbitmq"}

Canopsis ``lib/canopsis/engine/engine.go`` logs ``engine started`` and, deferred, ``engine stopped``; a
failure is ``logger.Fatal()``, exit status 1. zerolog's default time field is RFC 3339 to the second: a
change is placed at the start of the second it was logged in, and :meth:`CanopsisTimeline.window` keeps the
records of every second the window overlaps. A line that is not a JSON record (a Go panic's goroutine
dump, a Python traceback) continues the record before it.
Neither the engines nor the API log anything on the way up or down (systemd does, in its journal), so their
lanes know ready, stopped and failed; the version is the one an ``engine started`` (``http server started``
for the API) names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Inventory
from harness.probes import HttpProbe
from harness.products.canopsis.node import ENGINE_LOGS, CanopsisNode
from harness.report.timeline import StateChange

#: lane -> its program's log under var/log (lanes whose log does not exist are left out)
LOGS = {**{e: e for e in ENGINE_LOGS}, "api": "canopsis-api"}
#: message -> swimlane state (a record at level fatal or panic is ``failed`` whatever its message)
_STATE = {"engine started": "ready", "engine stopped": "stopped",
          "http server started": "ready", "http server stopped": "stopped"}
_FAILED_LEVELS = ("fatal", "panic")


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
        for lane, prog in LOGS.items():
            try:
                text = node.read(f"var/log/{prog}.log")
            except (TransportError, OSError):
                continue
            if text:
                out[lane] = text
        return out

    def parse(self, node: str, text: str) -> list[StateChange]:
        changes: list[StateChange] = []
        version: str | None = None
        for rec in records(text):
            level, message = str(rec.get("level", "")), str(rec.get("message", ""))
            state = "failed" if level in _FAILED_LEVELS else _STATE.get(message)
            if state is None:
                continue
            if state == "ready":
                version = str(rec.get("version") or "") or version
            changes.append(StateChange(rec["_ts"], node, state, version, _detail(rec)))
        return changes

    def window(self, text: str, start: float, end: float) -> str:
        keep, out = False, []
        for line in text.splitlines():
            rec = record(line)
            if rec is not None:
                keep = start < rec["_ts"] + rec["_res"] and rec["_ts"] <= end
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
