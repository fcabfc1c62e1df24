"""Verdicts over a recorded Canopsis update: no event sent was lost, none was processed twice (judged
separately, from every processing the node recorded), and the traffic really spanned the maintenance
window (so "none lost" is not true by having sent nothing during it); and the runbook's commands ran on the
node in the documented order, judged from the node's own records (:func:`node_runbook`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.checks import Verdict, checker, merge
from harness.products.canopsis.node import CanopsisNode


class Traffic(Protocol):
    sent: int
    error: str | BaseException | None


ENGINE = "engine-axe"  # the engine that applies an event's effect (alarm state)


@checker("no event lost")
def check_none_lost(traffic: Traffic | None, stats: dict[str, Any], expected: int | None = None,
                    engine: str = ENGINE) -> Verdict:
    """Every event sent reached *engine* (the node's own record of processings), none was rejected and
    no engine queue still holds one. ``expected``: how many must have been sent (default: what was sent,
    at least one)."""
    if traffic is None or traffic.error is not None:
        return Verdict(False, {"error": getattr(traffic, "error", "no traffic recorded")})
    want = traffic.sent if expected is None else expected
    seen = stats.get("engines", {}).get(engine, {})
    depths = [d for d in stats.get("depths", {}).values() if d >= 0]
    details = {"sent": traffic.sent, "expected": want, "handled": seen.get("events", 0),
               "lost": want - seen.get("events", 0), "rejected": stats.get("rejected", 0),
               "left_in_queues": sum(depths)}
    ok = traffic.sent == want > 0 and details["lost"] == 0 and details["rejected"] == 0 and not any(depths)
    return Verdict(ok, details)


@checker("no event processed twice")
def check_none_duplicated(stats: dict[str, Any], engine: str = ENGINE, *, redelivery_ok: bool = False) -> Verdict:
    """No event was handled twice by *engine* (a redelivery the dedupe caught still counts, unless
    ``redelivery_ok``: then only an effect applied twice fails). ``unknown`` when the node recorded no
    processing at all: nothing to judge from."""
    seen = stats.get("engines", {}).get(engine)
    if not seen:
        return Verdict("unknown", {"error": f"the node recorded no processing by {engine}"})
    details = {k: seen.get(k) for k in ("processings", "events", "handled_more_than_once",
                                        "applied_more_than_once", "examples")}
    twice = seen.get("applied_more_than_once", 0) if redelivery_ok else seen.get("handled_more_than_once", 0)
    ok = twice == 0 and seen.get("applied_more_than_once", 0) == 0 and (
        redelivery_ok or seen.get("processings") == seen.get("events"))
    return Verdict(ok, details)


def check_processed_once(traffic: Traffic | None, stats: dict[str, Any], expected: int | None = None,
                         engine: str = ENGINE) -> Verdict:
    """Both: none lost and none processed twice, each judged on its own (see the two checks)."""
    return merge([check_none_lost(traffic, stats, expected, engine), check_none_duplicated(stats, engine)],
                 name="processed exactly once")


@checker("traffic before, during and after the window")
def check_spans_window(batches: Sequence[tuple[float, int]], started: float, window: tuple[float, float],
                       ended: float) -> Verdict:
    """``batches``: (time, events) as sent; ``window``: when the product could not take them (e.g. from the
    stop step's start to the restart step's end)."""
    before = sum(n for ts, n in batches if ts < started)
    during = sum(n for ts, n in batches if window[0] <= ts <= window[1])
    after = sum(n for ts, n in batches if ts > ended)
    counts = {"before": before, "during": during, "after": after}
    return Verdict(before > 0 and during > 0 and after > 0, counts)


# ----- the runbook's commands, as the node recorded them ---------------------------------------------------

@dataclass(frozen=True)
class NodeEvent:
    """One thing the node recorded doing: ``kind`` (``stop``, ``packages``, ``canopsinit``, ``reconfigure``,
    ``daemon-reload``, ``start``), when it began and ended (epoch seconds), whether it succeeded, and what
    the record says (unit, version, command line)."""

    kind: str
    begin: float
    end: float
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> str:
        what = self.detail.get("unit") or self.detail.get("cmdline") or self.detail.get("version") or ""
        return f"{self.kind}{'' if self.ok else ' (FAILED)'} {what}".strip()


def node_runbook(node: CanopsisNode, since: float) -> list[NodeEvent]:
    """What the node recorded from ``since`` on, in time order: its package transactions (yum/dnf history),
    canopsinit's runs (migrationtool.log), canopsis-reconfigure's (the version document it writes last, when
    the version changed), and systemd's jobs in its journal (units stopped and started, daemon reloads)."""
    out: list[NodeEvent] = []
    for h in node.package_history(since):
        out.append(NodeEvent("packages", float(h.get("begin", h["time"])), float(h["time"]),
                             h.get("return_code", 0) == 0, {k: h.get(k) for k in ("action", "from", "to", "tool",
                                                                                  "cmdline")}))
    begun: dict[str, Any] | None = None
    for rec in node.records("migrationtool", since):
        if rec.get("message") == "canopsinit finished" and begun is not None:
            out.append(NodeEvent("canopsinit", begun["time"], rec["time"], rec.get("exit_code") == 0,
                                 {"version": begun.get("installed"), "edition": begun.get("edition")}))
            begun = None
        elif rec.get("message") != "canopsinit finished":
            begun = rec
    doc = node.version_doc()
    if isinstance(doc.get("version_updated"), int | float) and doc["version_updated"] >= since:
        out.append(NodeEvent("reconfigure", doc["version_updated"], doc["version_updated"], True,
                             {"version": doc.get("version"), "edition": doc.get("edition")}))
    for e in node.journal(since):
        msg, unit = str(e.get("MESSAGE", "")), e.get("UNIT")
        detail = {"unit": unit, "job": e.get("JOB_TYPE"), "message": msg}
        if msg == "Reloading.":
            out.append(NodeEvent("daemon-reload", e["_ts"], e["_ts"], True, detail))
        elif unit and msg.startswith(("Started ", "Failed to start ", "Stopped ")):
            kind = "stop" if msg.startswith("Stopped ") else "start"
            out.append(NodeEvent(kind, e["_ts"], e["_ts"], e.get("JOB_RESULT") == "done", detail))
    return sorted(out, key=lambda ev: (ev.begin, ev.end))


def stages(events: Sequence[NodeEvent]) -> list[str]:
    """The kinds of ``events`` with consecutive repeats folded: ``stop, packages, …, start``."""
    return [k for i, k in enumerate(ev.kind for ev in events) if i == 0 or events[i - 1].kind != k]


@checker("the node ran the runbook's commands in order, each after the previous succeeded")
def check_runbook_order(events: Sequence[NodeEvent], expected: Sequence[str]) -> Verdict:
    """``events`` (:func:`node_runbook`) fold to ``expected``; every one succeeded; and each began only after
    the one before it ended."""
    failed = [ev.brief() for ev in events if not ev.ok]
    overlapping = [f"{a.brief()} ended after {b.brief()} began" for a, b in itertools.pairwise(events)
                   if a.kind != b.kind and b.begin < a.end]
    got = stages(events)
    details = {"stages": got, "expected": list(expected), "failed": failed, "overlapping": overlapping,
               "events": [f"{ev.begin:.3f} {ev.brief()}" for ev in events][:40]}
    return Verdict(got == list(expected) and not failed and not overlapping, details)
