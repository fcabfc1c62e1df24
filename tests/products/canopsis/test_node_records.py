"""What the Canopsis stand-in's node records of the runbook's commands (real node programs in a directory, no
broker): yum's history, dnf's log, canopsinit's log, systemd's journal; and the order check judged from them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.products.canopsis.checks import NodeEvent, check_runbook_order, node_runbook, stages
from harness.products.canopsis.node import CanopsisNode
from harness.products.canopsis.standin import SOURCE
from harness.products.canopsis.standin.common import put_tree
from harness.transports.local import LocalTransport

UNIT = "test-sleep.service"


@pytest.fixture
def node(tmp_path: Path) -> CanopsisNode:
    root = tmp_path / "opt/canopsis"
    t = LocalTransport()
    put_tree(t, SOURCE / "node", str(root), python=sys.executable)
    (root / "etc/yum.repos.d").mkdir(parents=True)
    (root / "etc/yum.repos.d/canopsis.repo").write_text(f"[canopsis]\nbaseurl=file://{SOURCE / 'repo'}\nenabled=1\n")
    return CanopsisNode(t, str(root))


def _unit(node: CanopsisNode, description: str) -> None:
    node.write(f"lib/systemd/system/{UNIT}", f"[Unit]\nDescription={description}\n\n[Service]\nExecStart=sleep 60\n")


def test_each_command_leaves_its_record_and_the_order_is_judged_from_them(node: CanopsisNode) -> None:
    t0 = time.time()
    node.run("yum", "--disablerepo=*", "--enablerepo=canopsis*", "install", "canopsis-4.4.0").check()
    node.run("dnf", "--disablerepo=*", "--enablerepo=canopsis*", "update", "canopsis-4.6.1", "-y").check()
    node.run("canopsinit", "--canopsis-edition", "core").check()
    _unit(node, "Sleeper (4.6.1)")
    node.run("systemctl", "daemon-reload").check()
    try:
        node.run("systemctl", "restart", UNIT).check()
        node.run("systemctl", "stop", UNIT).check()
        node.run("systemctl", "stop", UNIT).check()  # not running: systemd logs nothing
    finally:
        node.run("systemctl", "stop", UNIT)
    [install, update] = node.package_history(t0)
    assert (update["action"], update["from"], update["to"], update["tool"], update["return_code"]) == \
        ("update", "4.4.0", "4.6.1", "dnf", 0)
    assert update["cmdline"] == "--disablerepo=* --enablerepo=canopsis* update canopsis-4.6.1 -y"
    assert install["begin"] <= install["time"] <= update["begin"] <= update["time"]
    assert "Installed: canopsis-4.4.0-1.el7.x86_64" in node.read("var/log/yum.log")
    assert node.read("var/log/dnf.log").rstrip().endswith(
        "DDEBUG Command: dnf --disablerepo=* --enablerepo=canopsis* update canopsis-4.6.1 -y")
    messages = [(e.get("UNIT"), e.get("JOB_TYPE"), e["MESSAGE"]) for e in node.journal(t0)]
    assert messages[0] == (None, None, "Reloading.") and messages[1][2].startswith("Reloading finished in ")
    assert messages[2:] == [(UNIT, "restart", "Starting Sleeper (4.6.1)..."),
                            (UNIT, "restart", "Started Sleeper (4.6.1)."),
                            (UNIT, "stop", "Stopping Sleeper (4.6.1)..."), (UNIT, "stop", "Stopped Sleeper (4.6.1).")]
    events = node_runbook(node, t0)
    assert stages(events) == ["packages", "canopsinit", "daemon-reload", "start", "stop"]
    init = next(ev for ev in events if ev.kind == "canopsinit")
    assert init.detail == {"version": "4.6.1", "edition": "core"} and init.ok
    assert check_runbook_order(events, ["packages", "canopsinit", "daemon-reload", "start", "stop"])
    wrong = check_runbook_order(events, ["packages", "daemon-reload", "canopsinit", "start", "stop"])
    assert not wrong and wrong.details["stages"] == stages(events)


def test_a_unit_that_fails_to_start_is_a_failed_start_in_the_journal(node: CanopsisNode) -> None:
    t0 = time.time()
    node.write(f"lib/systemd/system/{UNIT}", "[Unit]\nDescription=Broken\n\n[Service]\nExecStart=false\n")
    node.run("systemctl", "daemon-reload").check()
    assert node.run("systemctl", "start", UNIT).exit_code == 1
    [reload, start] = node_runbook(node, t0)
    assert (reload.kind, start.kind, start.ok, start.detail["message"]) == \
        ("daemon-reload", "start", False, "Failed to start Broken.")
    verdict = check_runbook_order([reload, start], ["daemon-reload", "start"])
    assert not verdict and verdict.details["failed"] == [f"start (FAILED) {UNIT}"]


def test_a_command_begun_before_the_previous_ended_is_an_overlap() -> None:
    events = [NodeEvent("packages", 10.0, 12.0, True, {"cmdline": "update"}),
              NodeEvent("canopsinit", 11.0, 13.0, True, {"version": "4.6.1"})]
    verdict = check_runbook_order(events, ["packages", "canopsinit"])
    assert not verdict and verdict.details["overlapping"] == ["packages update ended after canopsinit 4.6.1 began"]
