"""Unit tests of the join of probe samples with the servers' version timelines (no processes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.probes import ProbeResult, Sample
from harness.products.zato.testing import LogBuilder
from harness.products.zato.versions import VersionTimeline, check_mixed_versions

T0 = LogBuilder().start.timestamp()


def _life(log: LogBuilder, name: str, version: str, pid: int, *, at: float, ready_after: float = 1.0,
          stop_at: float | None = None) -> LogBuilder:
    """One process of server ``name``: starts ``at`` seconds after T0, ready ``ready_after`` later, stopped
    at ``stop_at`` (T0-relative) when given."""
    log.advance(at - (log.now.timestamp() - T0)).starting("server", name, version, pid=pid, after=0)
    log.started(name, "dev", pid=pid, after=ready_after)
    if stop_at is not None:
        log.advance(stop_at - (log.now.timestamp() - T0)).stopping("server", name, pid=pid, after=0)
        log.stopped("server", name, pid=pid, after=0.2)
    return log


def rolling_update() -> VersionTimeline:
    """Two servers updated one by one: server1 on 3.2.0 until 10 s, on 3.2.1 ready at 12 s; server2 on 3.2.0
    until 20 s (stopped at 20.2 s), on 3.2.1 ready at 22 s."""
    s1 = _life(LogBuilder(), "server1", "3.2.0", 11, at=0, stop_at=10)
    _life(s1, "server1", "3.2.1", 12, at=11)
    s2 = _life(LogBuilder(), "server2", "3.2.0", 21, at=0, stop_at=20)
    _life(s2, "server2", "3.2.1", 22, at=21)
    return VersionTimeline.from_logs({"server1": s1.text(), "server2": s2.text()})


def sample(at: float, served_by: str | None, ok: bool = True, duration: float = 0.01) -> Sample:
    return Sample(T0 + at, duration, ok, 200 if ok else None, served_by, None if ok else "ConnectionError")


def test_each_process_of_a_server_is_one_life_with_its_version_and_span() -> None:
    lives = rolling_update().lives["server1"]
    assert [(life.version, life.pid) for life in lives] == [("3.2.0", 11), ("3.2.1", 12)]
    assert lives[0].start == T0 and lives[0].ready == T0 + 1 and round(lives[0].end - T0, 3) == 10.2
    assert lives[1].ready is not None and round(lives[1].ready - T0, 3) == 12 and math.isinf(lives[1].end)


def test_a_sample_gets_the_version_of_the_process_that_ran_when_it_was_served() -> None:
    tl = rolling_update()
    assert tl.version_of(sample(5, "server1")) == "3.2.0"
    assert tl.version_of(sample(15, "server1")) == "3.2.1"
    assert tl.version_of(sample(15, "server2")) == "3.2.0"
    assert tl.version_of(sample(15, None)) is None  # nobody named
    assert tl.version_of(sample(15, "server9")) is None  # a server with no log


def test_a_request_spanning_two_processes_of_a_server_gets_no_version() -> None:
    tl = rolling_update()
    assert tl.version_of(sample(10.1, "server1", duration=1.5)) is None  # old stopped at 10.2, new started at 11


def test_a_killed_process_ends_at_the_next_start_of_its_server() -> None:
    log = LogBuilder().starting("server", "server1", "3.2.0", pid=1).started("server1", "dev", pid=1)
    log.advance(5).starting("server", "server1", "3.2.1", pid=2).started("server1", "dev", pid=2)
    first, second = VersionTimeline.from_logs({"server1": log.text()}).lives["server1"]
    assert first.end == second.start and first.version == "3.2.0"


def test_the_window_runs_from_the_first_new_ready_to_the_last_old_stop() -> None:
    start, end = rolling_update().window("3.2.0", "3.2.1") or (0.0, 0.0)
    assert round(start - T0, 3) == 12 and round(end - T0, 3) == 20.2


def test_one_server_has_no_window() -> None:
    s1 = _life(LogBuilder(), "server1", "3.2.0", 11, at=0, stop_at=10)
    _life(s1, "server1", "3.2.1", 12, at=11)
    tl = VersionTimeline.from_logs({"server1": s1.text()})
    assert tl.window("3.2.0", "3.2.1") is None
    assert check_mixed_versions(ProbeResult([sample(5, "server1")]), tl, "3.2.0", "3.2.1").valid == "unknown"


def test_the_check_judges_the_window_by_version_and_counts() -> None:
    tl = rolling_update()
    probe = ProbeResult([sample(5, "server1"), sample(13, "server1"), sample(14, "server2"), sample(25, "server2")])
    verdict = check_mixed_versions(probe, tl, "3.2.0", "3.2.1")
    assert verdict.valid is True, verdict.explain()
    assert verdict.details["by_version"] == {"3.2.1": {"ok": 1, "failed": 0}, "3.2.0": {"ok": 1, "failed": 0}}
    assert verdict.details["sent"] == 2 and verdict.details["window_s"] == 8.2


def test_a_failure_in_the_window_fails_the_check_and_names_the_version() -> None:
    probe = ProbeResult([sample(13, "server1"), sample(14, "server2", ok=False)])
    verdict = check_mixed_versions(probe, rolling_update(), "3.2.0", "3.2.1")
    assert verdict.valid is False
    assert verdict.details["failed"][0]["version"] == "3.2.0"
    assert "1 of 2 requests in the window failed" in verdict.details["problems"]


def test_a_window_only_one_version_served_in_was_not_exercised() -> None:
    probe = ProbeResult([sample(13, "server1"), sample(14, "server1")])
    verdict = check_mixed_versions(probe, rolling_update(), "3.2.0", "3.2.1")
    assert verdict.valid is False
    assert verdict.details["problems"] == ["no request in the window was answered by a server on 3.2.0"]


def test_joined_versions_are_kept_and_samples_written_before_the_join_read_back(tmp_path: Path) -> None:
    joined = ProbeResult([sample(5, "server1"), sample(15, "server1")]).attributed(rolling_update().version_of)
    joined.write(tmp_path / "probe.jsonl")
    assert [s.version for s in ProbeResult.read(tmp_path / "probe.jsonl").samples] == ["3.2.0", "3.2.1"]
    old = {k: v for k, v in json.loads((tmp_path / "probe.jsonl").read_text().splitlines()[0]).items()
           if k != "version"}
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
    assert ProbeResult.read(tmp_path / "old.jsonl").samples[0].version is None
