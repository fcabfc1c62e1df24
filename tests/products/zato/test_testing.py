"""The Zato test helpers (harness.products.zato.testing) and the fake transport driving Zato product code."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from harness.environment import HostHandle
from harness.products.zato import state
from harness.products.zato.logs import parse_line, parse_log
from harness.products.zato.testing import LogBuilder, zato_log_line
from harness.testing import FakeTransport


def test_fake_transport_drives_product_code() -> None:
    host = HostHandle("h1", FakeTransport(lambda argv, cwd, env: (0, "dead" * 10 + "\n", ""),
                                          files={"/opt/zato/.installed/REVISION": b"cafe\n"}), "/opt/zato")
    assert state.head(host) == "dead" * 10
    assert state.installed_revision(host) == "cafe"
    assert isinstance(host.transport, FakeTransport)
    assert host.transport.commands == [("git", "-C", "/opt/zato", "rev-parse", "HEAD")]


# ----- log histories -------------------------------------------------------------------------------


def test_zato_log_line_is_parsed_back() -> None:
    ts = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    line = zato_log_line(ts, "Started `server1@dev` (pid: 4242)", pid=4242)
    assert line == ("2024-05-01 10:00:00,123 - INFO - 4242:MainThread - zato.server.base.parallel:0 - "
                    "Started `server1@dev` (pid: 4242)")
    event = parse_line(line)
    assert event is not None
    assert (event.ts, event.pid, event.level, event.kind) == (ts, 4242, "INFO", "started")
    assert event.fields == {"server": "server1", "cluster": "dev", "pid": 4242}


def test_zato_log_line_accepts_epoch_seconds() -> None:
    event = parse_line(zato_log_line(0.5, "hello", level="WARNING"))
    assert event is not None and event.ts == datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert event.level == "WARNING"


def test_log_builder_writes_a_history_at_increasing_times() -> None:
    log = (LogBuilder(pid=7)
           .starting("server", "server1", "3.2.0")
           .sync_internal("server1")
           .started("server1", "dev")
           .advance(10)
           .stopping("server", "server1")
           .stopped("server", "server1", pid=8)
           .boot_failed()
           .raw("Traceback (most recent call last):"))
    events = parse_log(log.text())
    assert [e.kind for e in events] == ["starting", "sync_internal", "sync_internal", "started", "stopping",
                                        "stopped", "boot_failed"]
    assert events[0].fields["version"] == "3.2.0" and events[0].ts == log.start
    assert all(b.ts > a.ts for a, b in itertools.pairwise(events))
    assert events[4].ts - events[3].ts == timedelta(seconds=10.1)
    assert events[5].pid == 8 and events[5].fields["pid"] == 8 and events[0].pid == 7
    assert events[6].level == "ERROR" and events[6].message.endswith("Traceback (most recent call last):")
    assert log.events() == events and str(log) == log.text()


def test_log_builder_custom_gaps() -> None:
    log = LogBuilder(step=1.0).line("a").line("b", after=0.25).ready("web-admin", "wa")
    events = log.events()
    assert [(e.ts - log.start).total_seconds() for e in events] == [0.0, 0.25, 1.25]
    assert events[2].kind == "ready" and log.now == events[2].ts
