"""The OTP release's node timeline on log text captured from the stand-in's nodes (``ROOT/log/erlang.log``,
OTP's logger as the sample release's sys.config sets it): a boot, an upgrade, a downgrade, a stop by SIGTERM,
and an application that crashed (OTP's crash report and exit report, multi-line)."""

from __future__ import annotations

from datetime import datetime

from harness.products.otp.timeline import TIMELINE, events

NODE = """\
2026-12-03T05:42:37.545747+00:00 info:     application: kernel
    started_at: 'otp_6d0980ff_node2@127.0.0.1'

2026-12-03T05:42:37.549733+00:00 info:     application: stdlib
    started_at: 'otp_6d0980ff_node2@127.0.0.1'

2026-12-03T05:42:37.565368+00:00 info:     application: sasl
    started_at: 'otp_6d0980ff_node2@127.0.0.1'

2026-12-03T05:42:37.566894+00:00 notice: counter_server 1.0 started
2026-12-03T05:42:37.566963+00:00 info:     supervisor: {local,counter_sup}
    started: [{pid,<0.96.0>},
              {id,counter_server},
              {mfargs,{counter_server,start_link,[]}},
              {restart_type,permanent},
              {significant,false},
              {shutdown,5000},
              {child_type,worker}]

2026-12-03T05:42:37.567057+00:00 info:     application: counter
    started_at: 'otp_6d0980ff_node2@127.0.0.1'

2026-12-03T05:42:41.663533+00:00 notice: counter_server upgraded from 1.0 to 1.1
2026-12-03T05:43:09.462815+00:00 notice: counter_server downgraded from 1.1 to 1.0
2026-12-03T05:43:18.788793+00:00 notice: SIGTERM received - shutting down

"""
CRASH = """\
2026-12-03T05:46:22.044816+00:00 info:     application: counter
    started_at: 'otp_6d0980ff_node1@127.0.0.1'

2026-12-03T05:46:22.245906+00:00 error:   crasher:
    initial call: counter_server:init/1
    pid: <0.89.0>
    registered_name: []
    exception exit: boom
      in function  counter_server:handle_call/3 (counter_server.erl, line 4)
    ancestors: [<0.88.0>]
  neighbours:

2026-12-03T05:46:22.280285+00:00 notice:     application: counter
    exited: shutdown
    type: permanent

2026-12-03T05:46:23.000001+00:00 info:     application: counter
    exited: stopped
    type: permanent

"""


def ts(hms: str) -> float:
    return datetime.fromisoformat(f"2026-12-03T{hms}+00:00").timestamp()


def test_boot_upgrade_downgrade_and_stop_in_the_order_logged() -> None:
    changes = TIMELINE.parse("node2", NODE)
    assert [(c.state, c.version) for c in changes] == [
        ("starting", None), ("ready", "1.0"), ("ready", "1.1"), ("ready", "1.0"), ("stopping", "1.0")]
    assert [c.ts for c in changes] == [ts("05:42:37.545747"), ts("05:42:37.566894"), ts("05:42:41.663533"),
                                       ts("05:43:09.462815"), ts("05:43:18.788793")]
    assert changes[0].detail == "application: kernel started_at: 'otp_6d0980ff_node2@127.0.0.1'"
    assert changes[2].detail == "counter_server upgraded from 1.0 to 1.1"


def test_an_application_exit_is_failed_unless_stopped() -> None:
    assert [c.state for c in TIMELINE.parse("node1", CRASH)] == ["ready", "failed", "stopped"]


def test_a_report_is_one_event_with_its_lines() -> None:
    [kernel, *_] = events(NODE)
    assert kernel.lines == ["    application: kernel", "    started_at: 'otp_6d0980ff_node2@127.0.0.1'", ""]
    assert kernel.fields() == {"application": "kernel", "started_at": "'otp_6d0980ff_node2@127.0.0.1'"}


def test_the_window_keeps_a_crash_report_whole() -> None:
    got = TIMELINE.window(CRASH, ts("05:46:22.1"), ts("05:46:22.25")).splitlines()
    assert got[0] == "2026-12-03T05:46:22.245906+00:00 error:   crasher:"
    assert "    exception exit: boom" in got and got[-1] == "  neighbours:"
    assert not any("exited" in line for line in got)
    assert TIMELINE.window(NODE, ts("05:42:41"), ts("05:43:10")).splitlines() == [
        "2026-12-03T05:42:41.663533+00:00 notice: counter_server upgraded from 1.0 to 1.1",
        "2026-12-03T05:43:09.462815+00:00 notice: counter_server downgraded from 1.1 to 1.0"]


def test_no_front_door_no_probe() -> None:
    from harness.testing import fake_inventory

    assert TIMELINE.probe(fake_inventory()) is None
