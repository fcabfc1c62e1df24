"""The Canopsis event checks on hand-made histories: each condition can fail the verdict."""

from __future__ import annotations

from dataclasses import dataclass

from harness.products.canopsis.checks import (
    check_none_duplicated,
    check_none_lost,
    check_processed_once,
    check_spans_window,
)


@dataclass
class T:
    sent: int
    error: BaseException | None = None


def eng(events: int, processings: int | None = None, twice: int = 0, applied_twice: int = 0) -> dict[str, object]:
    return {"engine-axe": {"processings": events if processings is None else processings, "events": events,
                           "handled_more_than_once": twice, "applied_more_than_once": applied_twice,
                           "examples": []}}


OK = {"processed": 10, "rejected": 0, "depths": {"Engine_fifo": 0, "Engine_axe": -1}, "engines": eng(10)}


def test_processed_once_passes_only_when_every_count_matches() -> None:
    assert check_processed_once(T(10), OK, 10)
    assert check_processed_once(T(10), OK)
    assert not check_processed_once(T(9), OK, 10)                       # not all sent
    assert not check_processed_once(T(10), {**OK, "rejected": 1}, 10)
    assert not check_processed_once(T(10), {**OK, "depths": {"Engine_fifo": 3}}, 10)  # still queued
    assert not check_processed_once(T(10, RuntimeError("x")), OK, 10)
    assert not check_processed_once(None, OK, 10)
    assert not check_processed_once(T(0), {**OK, "engines": eng(0)})   # nothing sent proves nothing


def test_loss_and_duplicates_are_judged_separately() -> None:
    lost = {**OK, "engines": eng(9)}
    assert not check_none_lost(T(10), lost, 10) and check_none_lost(T(10), lost, 10).details["lost"] == 1
    assert check_none_duplicated(lost)  # one missing event is no duplicate
    # one event handled twice (a redelivery the dedupe caught): every event is there, yet not exactly once
    dup = {**OK, "engines": eng(10, processings=11, twice=1)}
    assert check_none_lost(T(10), dup, 10)
    assert not check_none_duplicated(dup)
    assert check_none_duplicated(dup, redelivery_ok=True)  # at-least-once with an idempotent effect
    twice_applied = {**OK, "engines": eng(10, processings=11, twice=1, applied_twice=1)}
    assert not check_none_duplicated(twice_applied, redelivery_ok=True)
    assert not check_processed_once(T(10), dup, 10)
    # a loss hidden by a duplicate (sum of processings still 10) is still a loss
    assert not check_none_lost(T(10), {**OK, "engines": eng(9, processings=10, twice=1)}, 10)


def test_no_recorded_processing_is_unknown_not_a_pass() -> None:
    assert check_none_duplicated({"engines": {}}).valid == "unknown"


def test_spans_window_needs_traffic_on_every_side() -> None:
    batches = [(1.0, 5), (5.0, 5), (9.0, 5)]
    verdict = check_spans_window(batches, started=2.0, window=(4.0, 6.0), ended=8.0)
    assert verdict and verdict.details == {"before": 5, "during": 5, "after": 5}
    assert not check_spans_window(batches[1:], started=2.0, window=(4.0, 6.0), ended=8.0)
    assert not check_spans_window(batches, started=2.0, window=(6.5, 7.0), ended=8.0)
