"""The Canopsis event checks on hand-made histories: each condition can fail the verdict."""

from __future__ import annotations

from dataclasses import dataclass

from harness.products.canopsis.checks import check_processed_once, check_spans_window


@dataclass
class T:
    sent: int
    error: BaseException | None = None


OK = {"processed": 10, "rejected": 0, "depths": {"Engine_fifo": 0, "Engine_axe": -1}}


def test_processed_once_passes_only_when_every_count_matches() -> None:
    assert check_processed_once(T(10), OK, 10)
    assert check_processed_once(T(10), OK)
    assert not check_processed_once(T(9), OK, 10)                       # not all sent
    assert not check_processed_once(T(10), {**OK, "processed": 11}, 10)  # a duplicate applied
    assert not check_processed_once(T(10), {**OK, "rejected": 1}, 10)
    assert not check_processed_once(T(10), {**OK, "depths": {"Engine_fifo": 3}}, 10)  # still queued
    assert not check_processed_once(T(10, RuntimeError("x")), OK, 10)
    assert not check_processed_once(None, OK, 10)
    assert not check_processed_once(T(0), {**OK, "processed": 0})      # nothing sent proves nothing


def test_spans_window_needs_traffic_on_every_side() -> None:
    batches = [(1.0, 5), (5.0, 5), (9.0, 5)]
    verdict = check_spans_window(batches, started=2.0, window=(4.0, 6.0), ended=8.0)
    assert verdict and verdict.details == {"before": 5, "during": 5, "after": 5}
    assert not check_spans_window(batches[1:], started=2.0, window=(4.0, 6.0), ended=8.0)
    assert not check_spans_window(batches, started=2.0, window=(6.5, 7.0), ended=8.0)
