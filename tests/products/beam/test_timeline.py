"""The BEAM system's node timeline on log text captured from the stand-in's nodes (``node.log``): a boot, a
stop by SIGTERM, a boot that failed with its stacktrace and the emulator's own lines under it."""

from __future__ import annotations

from datetime import datetime

from harness.products.beam.timeline import TIMELINE, parse_line

RUN = """\
2026-12-03T05:46:29.750218+00:00 notice: system 2.7.1 starting: role worker, applications [core,billing,patch_agent]
2026-12-03T05:46:29.761539+00:00 notice: core_counter started, system 2.7.1
2026-12-03T05:46:29.765701+00:00 notice: system 2.7.1 started on 'beam_13eb1017_w1@127.0.0.1': applications \
[core,billing,patch_agent], patch agent on port 20073
2026-12-03T05:46:33.244759+00:00 notice: SIGTERM received - shutting down
2026-12-03T05:46:33.244902+00:00 notice: system 2.7.1 stopped
2026-12-03T05:46:35.101002+00:00 notice: system 2.8.0 starting: role worker, applications [core,billing,patch_agent]
2026-12-03T05:46:35.120177+00:00 notice: system 2.8.0 started on 'beam_13eb1017_w1@127.0.0.1': applications \
[core,billing,patch_agent], patch agent on port 20073
"""
FAILED = """\
2026-12-03T05:40:06.752891+00:00 notice: system 2.7.1 starting: role master, applications [nosuchapp]
2026-12-03T05:40:06.774286+00:00 error: system 2.7.1 failed to start: {badmatch,
                               {error,
                                {nosuchapp,
                                 {"no such file or directory",
                                  "nosuchapp.app"}}}}
[{sys_boot,'-boot/1-lc$^0/1-0-',1,
           [{file,"/opt/beam/apps/patch_agent/src/sys_boot.erl"},
            {line,54}]},
 {init,do_boot,3,[]}]
{"init terminating in do_boot",{{badmatch,{error,{nosuchapp,{"no such file or directory","nosuchapp.app"}}}},[]}}
init terminating in do_boot ({{badmatch,{error,{nosuchapp,{_}}}},[{sys_boot,-boot/1-lc$^0/1-0-,1,[{_},{_}]}]})

Crash dump is being written to: erl_crash.dump...done
"""


def ts(hms: str) -> float:
    return datetime.fromisoformat(f"2026-12-03T{hms}+00:00").timestamp()


def test_a_boot_a_stop_and_an_update_in_the_order_logged() -> None:
    changes = TIMELINE.parse("w1", RUN)
    assert [(c.state, c.version) for c in changes] == [
        ("starting", "2.7.1"), ("ready", "2.7.1"), ("stopping", "2.7.1"), ("stopped", "2.7.1"),
        ("starting", "2.8.0"), ("ready", "2.8.0")]
    assert [c.ts for c in changes] == [ts("05:46:29.750218"), ts("05:46:29.765701"), ts("05:46:33.244759"),
                                       ts("05:46:33.244902"), ts("05:46:35.101002"), ts("05:46:35.120177")]
    assert changes[2].detail == "SIGTERM received - shutting down"  # OTP's own words


def test_a_failed_boot_is_failed() -> None:
    changes = TIMELINE.parse("master", FAILED)
    assert [(c.state, c.version) for c in changes] == [("starting", "2.7.1"), ("failed", "2.7.1")]
    assert changes[1].detail == "system 2.7.1 failed to start: {badmatch,"


def test_the_window_keeps_the_stacktrace_and_the_emulators_lines_with_the_failure() -> None:
    got = TIMELINE.window(FAILED, ts("05:40:06.77"), ts("05:40:07")).splitlines()
    assert got[0].startswith("2026-12-03T05:40:06.774286+00:00 error: system 2.7.1 failed to start")
    assert got[-1] == "Crash dump is being written to: erl_crash.dump...done"
    assert any(line.startswith("init terminating in do_boot") for line in got)
    assert "starting" not in "\n".join(got)  # the line before the window stays out
    assert TIMELINE.window(RUN, ts("05:46:33"), ts("05:46:34")).splitlines() == RUN.splitlines()[3:5]


def test_only_header_lines_start_an_event() -> None:
    assert parse_line("                               {error,") is None
    assert parse_line("Crash dump is being written to: erl_crash.dump...done") is None
    ev = parse_line("2026-12-03T05:46:33.244759+00:00 notice: SIGTERM received - shutting down")
    assert ev is not None and (ev.level, ev.message) == ("notice", "SIGTERM received - shutting down")


def test_no_probe_for_the_patch_service() -> None:
    from harness.testing import fake_inventory

    assert TIMELINE.probe(fake_inventory()) is None
