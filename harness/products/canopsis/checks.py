"""Verdicts over a recorded Canopsis update: no event sent was lost, none was processed twice (judged
separately, from every processing the node recorded), and the traffic really spanned the maintenance
window (so "none lost" is not true by having sent nothing during it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from harness.checks import Verdict, checker, merge


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
