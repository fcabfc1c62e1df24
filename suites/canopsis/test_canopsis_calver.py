"""Canopsis Pro (cat) on the YY.MM scheme: 22.10.0 → 24.04.0 through 22.10.1, 23.04.0, 23.10.0, 23.10.1.

The run is killed (journal interrupted) after two release notes and resumed: no release note is applied
twice. The 22.10+ runbook is used (dnf, ``-edition pro``, ``systemctl restart`` of the units), as the node
recorded it (dnf's log and history, systemd's journal), and the Pro chain includes engine-correlation.
"""

from __future__ import annotations

import json

import pytest

from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.products.canopsis.amqp import Publisher
from harness.products.canopsis.api import check_event
from harness.products.canopsis.checks import check_runbook_order, node_runbook
from harness.products.canopsis.fixtures import CanopsisStandin
from harness.wait import wait_until

pytestmark = pytest.mark.xdist_group("canopsis-calver")
CANOPSIS = {"version": "22.10.0", "edition": "cat"}
TARGET = "24.04.0"


@pytest.fixture(scope="module")
def resumed(canopsis: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> Run:
    runs = tmp_path_factory.mktemp("runs")
    plan = canopsis.plan(TARGET, guides_followed=["migration-23.04.0", "migration-23.10.0", "migration-24.04.0"])
    run = Run.create(plan, canopsis.inventory, runs)
    run.begin()
    for step in run.steps[:3]:  # broadcast, release notes 22.10.1 and 23.04.0
        assert run.execute_step(step).status.value == "ok"
    run.interrupt("executor killed (test)")
    again = Run.load(run.run_dir)
    again.begin(resumed=True)
    again.run_forward()
    return again


def test_resumed_run_succeeds_on_the_target(resumed: Run, canopsis: CanopsisStandin) -> None:
    assert resumed.outcome == Outcome.SUCCESS, resumed.journal_records()[-1]
    info = canopsis.api.app_info()
    assert (info["version"], info["edition"]) == (TARGET, "pro")


def test_no_release_note_applied_twice(resumed: Run, canopsis: CanopsisStandin) -> None:
    applied = [json.loads(x)["migration"] for x in canopsis.node.read("var/log/migrations.log").splitlines()]
    assert applied == ["22.10.1/001_service_counters", "23.10.0/001_declare_ticket", "24.04.0/001_maintenance_mode"]
    started = [r["step"] for r in resumed.journal_records() if r["event"] == "step" and r["status"] == "started"
               and r["step"].startswith("release-note")]
    assert sorted(set(started)) == sorted(started), started
    assert canopsis.node.read("etc/canopsis.toml").count("EventFilterFailureLimit = 10") == 1


def test_yymm_runbook_dnf_edition_flag_and_systemctl_restart(resumed: Run, canopsis: CanopsisStandin) -> None:
    """Judged from what the node recorded: dnf's log and history, canopsis-reconfigure's log, systemd's journal."""
    node, since = canopsis.node, min(r["ts"] for r in resumed.journal_records())
    events = node_runbook(node, since)
    verdict = check_runbook_order(events, ["stop", "packages", "reconfigure", "daemon-reload", "start"])
    assert verdict, verdict.explain()  # no canopsinit on the YY.MM runbook
    assert not node.records("migrationtool", since), "canopsinit ran"
    [tx] = [ev.detail for ev in events if ev.kind == "packages"]
    assert (tx["tool"], tx["action"], tx["from"], tx["to"]) == ("dnf", "update", "22.10.0", TARGET), tx
    commands = [ln.split("DDEBUG Command: ", 1)[1] for ln in node.read("var/log/dnf.log").splitlines()
                if "DDEBUG Command: " in ln]
    repos = "dnf --disablerepo=* --enablerepo=canopsis*"
    assert commands[-2:] == [f"{repos} makecache", f"{repos} update canopsis-{TARGET} -y"], commands
    reconf = [r for r in node.log("canopsis-reconfigure") if r["message"] == "canopsis-reconfigure"]
    assert reconf[-1]["version"] == TARGET and reconf[-1]["args"][:2] == ["-edition", "pro"], reconf[-1]
    engines = ("engine-fifo", "engine-che", "engine-axe", "engine-correlation")
    units = [f"canopsis-engine-go@{e}.service" for e in engines] + ["canopsis-service@canopsis-api.service"]
    started = {ev.detail["unit"]: ev.detail for ev in events if ev.kind == "start"}
    assert sorted(started) == sorted(units), started
    assert {d["job"] for d in started.values()} == {"restart"}, "each unit started by `systemctl restart`"
    assert all(f"({TARGET})" in d["message"] for d in started.values()), started
    hist = node.package_history()
    assert [(h["from"], h["to"]) for h in hist if h["action"] == "update"] == [("22.10.0", TARGET)]


def test_pro_chain_runs_engine_correlation_on_the_target(resumed: Run, canopsis: CanopsisStandin) -> None:
    running = canopsis.node.running_versions()
    assert running == dict.fromkeys(("engine-fifo", "engine-che", "engine-axe", "engine-correlation"), TARGET)
    with Publisher(canopsis.amqp_url) as pub:
        pub.publish(check_event(i, "pro-") for i in range(300))
    st = canopsis.wait_drained("pro-", 300)
    assert st["processed"] == 300
    # engine-correlation is one hop further
    wait_until(lambda: canopsis.node.stats("pro-")["correlated"] == 300, timeout=30, interval=0.1,
               what="300 events correlated")


def test_going_back_to_4x_is_refused(canopsis: CanopsisStandin, resumed: Run) -> None:
    from harness.engine.runner import plan_steps
    from harness.errors import PlanError

    with pytest.raises(PlanError, match="downgrade"):
        plan_steps(canopsis.plan("4.6.1"), canopsis.inventory)
