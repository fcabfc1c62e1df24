"""Unit tests of the Zato log parser (no processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from harness.products.zato import UPLOADED_PACKAGE_RE, LogEvent, parse_line, parse_log

P = "2024-05-01 10:00:00,123 - INFO - 4242:MainThread - zato.server.base.parallel:0 - "

SERVER_LOG = "\n".join([
    P + "Starting Zato `3.2.0` server `server1` (pid: 4242)",
    P + "Preferred address of `server1@dev` (pid: 4242) is `http://127.0.0.1:17010`",
    P + "Deleting empty `/srv/s1/config/repo/internal-cache.dat` file",
    P + "Deploying and caching internal services (server1)",
    P + "Deployed and cached 348 internal services (17.8 kB) (server1)",
    P + "Deploying user-defined services (server1)",
    P + "Deployed 2 user-defined service(s) (server1)",
    P + "First worker of `server1` is 4242",
    P + "Started `server1@dev` (pid: 4242)",
    P + "Stopping Zato server `server1` (pid: 4242)",
    "2024-05-01 10:00:01,999 - INFO - 4242:MainThread - zato.server.base.parallel:0 - "
    "Stopped Zato server `server1` (pid: 4242)",
])


def test_server_sequence_kinds_and_fields() -> None:
    events = parse_log(SERVER_LOG)
    assert [e.kind for e in events] == [
        "starting", "other", "other", "sync_internal", "sync_internal", "other", "other", "other", "started",
        "stopping", "stopped"]
    start = events[0]
    assert start.fields == {"version": "3.2.0", "component": "server", "name": "server1", "pid": 4242}
    assert start.pid == 4242 and start.level == "INFO" and start.logger == "zato.server.base.parallel"
    assert start.thread == "MainThread"
    assert events[1].fields["address"] == "http://127.0.0.1:17010"
    assert events[3].fields == {"server": "server1", "phase": "begin"}
    assert events[4].fields == {"count": 348, "size": "17.8 kB", "server": "server1", "phase": "end"}
    assert events[8].fields == {"server": "server1", "cluster": "dev", "pid": 4242}
    assert events[10].fields["name"] == "server1"


def test_timestamps_are_aware_utc_with_milliseconds() -> None:
    events = parse_log(SERVER_LOG)
    assert events[0].ts == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert events[-1].ts - events[0].ts == timedelta(seconds=1, milliseconds=876)
    local = parse_line(P + "x", tz=timezone(timedelta(hours=2)))
    assert local is not None and local.ts.utcoffset() == timedelta(0) and local.ts.hour == 8


def test_cached_internal_ready_and_other_components() -> None:
    lines = [
        P + "Deploying cached internal services (server2)",
        P + "Deployed 348 cached internal services (server2)",
        P + "Web-admin `web-admin` ready (pid: 11)",
        P + "Load-balancer `lb` ready (pid: 12)",
        P + "Scheduler `scheduler1` ready (pid: 13)",
        P + "Starting Zato `3.2.1` load-balancer `lb` (pid: 12)",
    ]
    events = parse_log("\n".join(lines))
    assert [e.kind for e in events] == ["cached_internal", "cached_internal", "ready", "ready", "ready", "starting"]
    assert events[1].fields["count"] == 348
    assert events[3].fields == {"component": "Load-balancer", "name": "lb", "pid": 12}
    assert events[5].fields["component"] == "load-balancer"


def test_boot_failure_with_traceback_continuation() -> None:
    text = "\n".join([
        P.replace("INFO", "ERROR") + "Could not import module `zato_standin.pubsub_ng` (internal:0)",
        P.replace("INFO", "ERROR") + "Worker failed to boot, server `server1` did not start (pid: 4242)",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "ModuleNotFoundError: No module named 'zato_standin.pubsub_ng'",
        "",
        P + "next",
    ])
    events = parse_log(text)
    assert [e.kind for e in events] == ["other", "boot_failed", "other"]
    failed = events[1]
    assert failed.level == "ERROR"
    assert failed.message.endswith("No module named 'zato_standin.pubsub_ng'")
    assert failed.first_line.startswith("Worker failed to boot")
    assert parse_line("[ERROR] Exception in worker process") is None  # no Zato prefix
    gunicorn = parse_line(P.replace("INFO", "ERROR") + "Exception in worker process")
    assert gunicorn is not None and gunicorn.kind == "boot_failed"


@pytest.mark.parametrize("message", [
    "Uploaded package id:`22`, payload_name:`crm_channel_customer.py`",
    "Uploaded package id:[22], payload_name:[crm_channel_customer.py]",
])
def test_uploaded_package_both_forms(message: str) -> None:
    event = parse_line(P + message)
    assert event is not None and event.kind == "uploaded_package"
    assert event.fields == {"package_id": 22, "payload_name": "crm_channel_customer.py"}
    assert UPLOADED_PACKAGE_RE.search(message)


def test_documented_short_form_and_odd_prefixes() -> None:
    # The docs show `INFO - 6578:Thread-4 Uploaded package id:[22]...` after a timestamp.
    event = parse_line("2024-05-01 10:00:00,123 - INFO - 6578:Thread-4 - Uploaded package id:[22], "
                       "payload_name:[a.py]")
    assert event is not None and event.kind == "uploaded_package" and event.pid == 6578
    bare = parse_line("2024-05-01 10:00:00 - WARNING - hello")
    assert bare is not None and bare.pid is None and bare.message == "hello" and bare.kind == "other"
    assert parse_log("") == [] and parse_log("garbage\nmore garbage") == []


def test_event_is_frozen_and_hashable() -> None:
    event = parse_line(P + "Started `s@c` (pid: 1)")
    assert isinstance(event, LogEvent)
    with pytest.raises(AttributeError):
        event.kind = "other"  # type: ignore[misc]
    assert hash(event) == hash(parse_line(P + "Started `s@c` (pid: 1)"))
