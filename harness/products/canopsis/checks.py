"""Verdicts over a recorded Canopsis update: every event sent was processed exactly once, and the traffic
really spanned the maintenance window (so "none lost" is not true by having sent nothing during it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from harness.checks import Verdict, checker


class Traffic(Protocol):
    sent: int
    error: str | BaseException | None


@checker("processed exactly once")
def check_processed_once(traffic: Traffic | None, stats: dict[str, Any],
                         expected: int | None = None) -> Verdict:
    """``stats``: the stand-in's own counters for this traffic's prefix (processed, rejected, queue depths).
    ``expected``: how many must have been sent (default: what was sent, at least one)."""
    if traffic is None or traffic.error is not None:
        return Verdict(False, {"error": getattr(traffic, "error", "no traffic recorded")})
    want = traffic.sent if expected is None else expected
    depths = [d for d in stats.get("depths", {}).values() if d >= 0]
    details = {"sent": traffic.sent, "expected": want, "processed": stats.get("processed"),
               "rejected": stats.get("rejected", 0), "left_in_queues": sum(depths)}
    ok = (traffic.sent == want > 0 and stats.get("processed") == want and details["rejected"] == 0
          and not any(depths))
    return Verdict(ok, details)


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
