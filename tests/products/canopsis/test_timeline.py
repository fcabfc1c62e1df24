"""Canopsis's node timeline on log text captured from the stand-in's engines and API (a regular update:
4.4.0 up, ``canoctl stop``, 4.6.1 up), a fatal start and the traceback a crashed program leaves after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from harness.products.canopsis.timeline import TIMELINE, record

ENGINE = "\n".join([
    '{"level": "info", "time": "2026-12-03T05:47:09Z", "engine": "engine-che", "consumers": 1, "periodical workers"'
    ': 1, "version": "4.4.0", "edition": "core", "queue": "Engine_che", "publish_queue": "Engine_axe", '
    '"message": "engine started"}',
    '{"level": "info", "time": "2026-12-03T05:47:10Z", "engine": "engine-che", "message": "engine stopped"}',
    '{"level": "info", "time": "2026-12-03T05:47:13Z", "engine": "engine-che", "consumers": 1, "periodical workers"'
    ': 1, "version": "4.6.1", "edition": "core", "queue": "Engine_che", "publish_queue": "Engine_axe", '
    '"message": "engine started"}',
    '{"level": "fatal", "time": "2026-12-03T05:47:22Z", "error": "", "message": "failed to connect to rabbitmq"}',
    "Traceback (most recent call last):",
    '  File "/opt/canopsis/bin/engine-che", line 9, in <module>',
    "    sys.exit(main())",
    "IndexError: list index out of range",
    '{"level": "info", "time": "2026-12-03T05:47:30+01:00", "engine": "engine-che", "message": "engine stopped"}',
])
API = "\n".join([
    '{"level": "info", "time": "2026-12-03T05:47:09Z", "addr": "127.0.0.1:21111", "version": "4.4.0", '
    '"message": "http server started"}',
    '{"level": "info", "time": "2026-12-03T05:47:10Z", "message": "http server stopped"}',
    '{"level": "info", "time": "2026-12-03T05:47:13Z", "addr": "127.0.0.1:21111", "version": "4.6.1", '
    '"message": "http server started"}',
])


def ts(hms: str, tz: str = "Z") -> float:
    return datetime.fromisoformat(f"2026-12-03T{hms}{tz}").timestamp()


def test_engine_states_and_versions_in_the_order_logged() -> None:
    changes = TIMELINE.parse("engine-che", ENGINE)
    assert [(c.state, c.version) for c in changes] == [
        ("ready", "4.4.0"), ("stopped", "4.4.0"), ("ready", "4.6.1"), ("failed", "4.6.1"), ("stopped", "4.6.1")]
    assert [c.ts for c in changes] == [ts("05:47:09"), ts("05:47:10"), ts("05:47:13"), ts("05:47:22"),
                                       ts("05:47:30", "+01:00")]
    assert changes[0].ts == datetime(2026, 12, 3, 5, 47, 9, tzinfo=UTC).timestamp()
    assert changes[3].detail == "failed to connect to rabbitmq" and {c.node for c in changes} == {"engine-che"}


def test_the_api_lane_reads_the_version_of_its_start() -> None:
    assert [(c.state, c.version, c.detail) for c in TIMELINE.parse("api", API)] == [
        ("ready", "4.4.0", "http server started"), ("stopped", "4.4.0", "http server stopped"),
        ("ready", "4.6.1", "http server started")]


def test_a_fatal_start_is_failed_with_its_error() -> None:
    line = ('{"level": "fatal", "time": "2026-12-03T05:47:21Z", "error": "CPS_AMQP_URL is empty", '
            '"message": "failed to connect to rabbitmq"}')
    [c] = TIMELINE.parse("engine-fifo", line)
    assert (c.state, c.version, c.detail) == ("failed", None, "failed to connect to rabbitmq: CPS_AMQP_URL is empty")


def test_the_window_keeps_the_traceback_with_its_record_and_whole_seconds() -> None:
    # the fatal record's second (05:47:22) overlaps the window: kept, with the traceback under it
    got = TIMELINE.window(ENGINE, ts("05:47:22") + 0.4, ts("05:47:25")).splitlines()
    assert got[0].startswith('{"level": "fatal"') and got[-1] == "IndexError: list index out of range"
    assert len(got) == 5
    # the engine's first second only, not the stop a second later
    first = TIMELINE.window(ENGINE, ts("05:47:09") + 0.9, ts("05:47:09") + 0.95)
    assert "engine started" in first and "engine stopped" not in first
    assert TIMELINE.window(ENGINE, ts("05:48:00"), ts("05:49:00")) == ""


def test_lines_that_are_not_records_are_skipped() -> None:
    assert record("Traceback (most recent call last):") is None
    assert record('{"level": "info", "message": "no time"}') is None
    assert record('{"level": "info", "time": "yesterday", "message": "engine started"}') is None
    assert TIMELINE.parse("engine-axe", "{torn line\n\n") == []


BROKER = """\
2026-12-03 05:50:51.359118+00:00 [notice] <0.279.0> WAL: ra_coordination_log_wal init, open tbls: \
ra_coordination_log_open_mem_tables, closed tbls: ra_coordination_log_closed_mem_tables
2026-12-03 05:50:51.365051+00:00 [info] <0.223.0> \n\
2026-12-03 05:50:51.365051+00:00 [info] <0.223.0>  Starting RabbitMQ 3.10.8 on Erlang 25.2.3 [jit]
2026-12-03 05:50:51.365051+00:00 [info] <0.223.0>  Copyright (c) 2007-2022 VMware, Inc. or its affiliates.
2026-12-03 05:50:54.074074+00:00 [info] <0.653.0> Server startup complete; 0 plugins started.
2026-12-03 05:51:07.635101+00:00 [notice] <0.61.0> SIGTERM received - shutting down
2026-12-03 05:51:07.635101+00:00 [notice] <0.61.0> \n\
2026-12-03 05:51:07.635261+00:00 [notice] <0.61.0> SIGTERM received - shutting down
2026-12-03 05:51:07.639363+00:00 [info] <0.671.0> stopped TCP listener on 127.0.0.1:22872
2026-12-03 05:52:31.440842+00:00 [info] <0.223.0>  Starting RabbitMQ 3.10.8 on Erlang 25.2.3 [jit]
2026-12-03 05:52:33.527543+00:00 [error] <0.653.0> BOOT FAILED
2026-12-03 05:52:33.527543+00:00 [error] <0.653.0> ===========
2026-12-03 05:52:33.527543+00:00 [error] <0.653.0> Exception during startup:
"""


def test_the_broker_lane_reads_rabbitmqs_own_log_without_a_version() -> None:
    changes = TIMELINE.parse("rabbitmq", BROKER)
    assert [(c.state, c.version) for c in changes] == [
        ("starting", None), ("ready", None), ("stopping", None), ("starting", None), ("failed", None)]
    assert changes[0].detail == "Starting RabbitMQ 3.10.8 on Erlang 25.2.3 [jit]"
    assert changes[1].ts == datetime.fromisoformat("2026-12-03 05:50:54.074074+00:00").timestamp()
    got = TIMELINE.window(BROKER, ts("05:52:33.5"), ts("05:52:34")).splitlines()
    assert [line.split("> ", 1)[1] for line in got] == ["BOOT FAILED", "===========", "Exception during startup:"]


def test_an_engine_whose_consumer_failed_is_stopped_then_failed() -> None:
    # the stand-in's engine-fifo when its broker was stopped under it (captured)
    log = "\n".join([
        '{"level": "info", "time": "2026-12-03T06:10:00Z", "engine": "engine-fifo", "consumers": 1, "periodical '
        'workers": 1, "version": "4.4.0", "edition": "core", "queue": "Engine_fifo", "publish_queue": "Engine_che", '
        '"message": "engine started"}',
        '{"level": "info", "time": "2026-12-03T06:10:05Z", "engine": "engine-fifo", "message": "engine stopped"}',
        '{"level": "error", "time": "2026-12-03T06:10:05Z", "engine": "engine-fifo", "error": "consumer failed: '
        'ConnectionClosedByBroker: (320, \\"CONNECTION_FORCED - broker forced connection closure with reason '
        '\'shutdown\'\\")", "message": "exit with error"}',
    ])
    changes = TIMELINE.parse("engine-fifo", log)
    assert [(c.state, c.version) for c in changes] == [("ready", "4.4.0"), ("stopped", "4.4.0"), ("failed", "4.4.0")]
    assert changes[2].detail.startswith("exit with error: consumer failed: ConnectionClosedByBroker: (320")


def _job(hms: str, unit: str, message: str, job: str = "restart") -> str:
    us = int(ts(hms) * 1e6) + 250_000  # systemd's time is to the microsecond
    return json.dumps({"__REALTIME_TIMESTAMP": str(us), "_PID": "1", "SYSLOG_IDENTIFIER": "systemd", "UNIT": unit,
                       "JOB_TYPE": job, "MESSAGE": message})


CHE = "canopsis-engine-go@engine-che.service"


def test_systemds_jobs_in_the_units_journal_are_the_lanes_starting_and_stopping() -> None:
    """The engine logs only that it runs and that it stopped; its unit's journal has the way down and up."""
    program = [ENGINE.splitlines()[0], ENGINE.splitlines()[1], ENGINE.splitlines()[2]]  # 4.4.0 up, down, 4.6.1 up
    journal = [_job("05:47:09", CHE, "Stopping Canopsis Go engine engine-che (4.4.0)..."),
               _job("05:47:10", CHE, "Stopped Canopsis Go engine engine-che (4.4.0)."),
               _job("05:47:12", CHE, "Starting Canopsis Go engine engine-che (4.6.1)..."),
               _job("05:47:12", CHE, "Started Canopsis Go engine engine-che (4.6.1).")]
    changes = TIMELINE.parse("engine-che", "\n".join(program + journal))
    assert [(c.state, c.version) for c in changes] == [
        ("ready", "4.4.0"), ("stopping", "4.4.0"), ("stopped", "4.4.0"), ("starting", "4.4.0"), ("ready", "4.6.1")]
    assert changes[1].ts == ts("05:47:09") + 0.25 and changes[3].detail.startswith("Starting Canopsis Go engine")
    # the journal's lines are kept with the window they fall in, to the microsecond
    kept = TIMELINE.window("\n".join(program + journal), ts("05:47:11"), ts("05:47:12.5"))
    assert [line for line in kept.splitlines() if "Starting Canopsis" in line] == [journal[2]]


def test_a_failed_start_is_failed_once_with_the_programs_own_error() -> None:
    fatal = ('{"level": "fatal", "time": "2026-12-03T05:47:21Z", "error": "CPS_AMQP_URL is empty", '
             '"message": "failed to connect to rabbitmq"}')
    journal = [_job("05:47:20", CHE, "Starting Canopsis Go engine engine-che (4.6.1)...", "start"),
               _job("05:47:21", CHE, "Failed to start Canopsis Go engine engine-che (4.6.1).", "start")]
    changes = TIMELINE.parse("engine-che", "\n".join([fatal, *journal]))
    assert [(c.state, c.detail) for c in changes] == [
        ("starting", "Starting Canopsis Go engine engine-che (4.6.1)..."),
        ("failed", "failed to connect to rabbitmq: CPS_AMQP_URL is empty")]


def test_a_programs_line_to_the_second_goes_after_the_job_begun_in_that_second() -> None:
    """systemd logs Starting at 05:47:12.25; the engine's "engine started" in that second reads 05:47:12."""
    started = ('{"level": "info", "time": "2026-12-03T05:47:12Z", "engine": "engine-che", "version": "4.6.1", '
               '"message": "engine started"}')
    stopped = '{"level": "info", "time": "2026-12-03T05:47:20Z", "engine": "engine-che", "message": "engine stopped"}'
    journal = [_job("05:47:12", CHE, "Starting Canopsis Go engine engine-che (4.6.1)...", "start"),
               _job("05:47:20", CHE, "Stopping Canopsis Go engine engine-che (4.6.1)...", "stop")]
    changes = TIMELINE.parse("engine-che", "\n".join([started, stopped, *journal]))
    assert [(c.state, c.version) for c in changes] == [
        ("starting", None), ("ready", "4.6.1"), ("stopping", "4.6.1"), ("stopped", "4.6.1")]
    assert [c.ts for c in changes] == [ts("05:47:12") + 0.25] * 2 + [ts("05:47:20") + 0.25] * 2


def test_a_start_and_a_stop_in_one_second_keep_each_program_line_after_its_own_job() -> None:
    """Seen in CI: the API up at 21:39:47.1 (ready logged 47), the update's Stopping at 47.5 (stopped logged 47),
    then the whole restart inside 21:39:49 (Starting at 49.37, ready logged 49): by time alone the program's
    ready and stopped both went before every job of their seconds."""
    api = "canopsis-service@canopsis-api.service"

    def at(hms: str, us: int, message: str, job: str) -> str:
        return json.dumps({"__REALTIME_TIMESTAMP": str(int(ts(hms) * 1e6) + us), "UNIT": api, "JOB_TYPE": job,
                           "MESSAGE": message})

    program = ['{"level": "info", "time": "2026-12-03T21:39:47Z", "version": "4.4.0", '
               '"message": "http server started"}',
               '{"level": "info", "time": "2026-12-03T21:39:47Z", "message": "http server stopped"}',
               '{"level": "info", "time": "2026-12-03T21:39:49Z", "version": "4.6.1", '
               '"message": "http server started"}']
    journal = [at("21:39:47", 100_000, "Starting Canopsis API (4.4.0)...", "start"),
               at("21:39:47", 150_000, "Started Canopsis API (4.4.0).", "start"),
               at("21:39:47", 500_000, "Stopping Canopsis API (4.4.0)...", "stop"),
               at("21:39:49", 369_883, "Starting Canopsis API (4.6.1)...", "start")]
    changes = TIMELINE.parse("api", "\n".join(program + journal))
    assert [(c.state, c.version) for c in changes] == [
        ("starting", None), ("ready", "4.4.0"), ("stopping", "4.4.0"), ("stopped", "4.4.0"),
        ("starting", "4.4.0"), ("ready", "4.6.1")]
    assert [c.ts for c in changes] == [ts("21:39:47") + 0.1] * 2 + [ts("21:39:47") + 0.5] * 2 + \
        [ts("21:39:49") + 0.369883] * 2


def test_a_program_line_whose_job_was_answered_does_not_wait_for_the_next_job() -> None:
    """A stop job in the second of a ready whose own Starting came a second earlier: the ready goes first."""
    program = ['{"level": "info", "time": "2026-12-03T05:47:13Z", "version": "4.6.1", "message": "engine started"}']
    journal = [_job("05:47:12", CHE, "Starting Canopsis Go engine engine-che (4.6.1)...", "start"),
               _job("05:47:13", CHE, "Starting Canopsis Go engine engine-che (4.6.1)...", "start")]
    changes = TIMELINE.parse("engine-che", "\n".join(program + journal))
    # the second Starting (a restart job queued in that second) is not the one the ready answered
    assert [(c.state, c.version) for c in changes] == [("starting", None), ("ready", "4.6.1"), ("starting", "4.6.1")]
