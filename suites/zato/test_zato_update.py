"""Zato environment update (zato.md §1.4), judged on what the nodes themselves logged.

One update per environment (process and docker backends; 1 and 3 servers) is recorded with a probe
sending requests through the load balancer for the whole run; the tests below judge that recording.
Then, on the same environment: a second run (idempotence) and a restart-only run (no --sync-internal).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engine.runner import plan_steps
from harness.engine.status import Outcome
from harness.engine.step import stages
from harness.plan.models import Plan
from harness.products.zato.checks import (
    check_availability,
    check_back_in_rotation,
    check_order,
    check_sync_internal,
    check_unchanged,
    check_versions,
    haproxy_states,
    snapshot,
)
from harness.products.zato.fixtures import RecordedRun, ZatoStandin, record_run

SIZES = (1, 3)
UPDATE = Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=30)


@pytest.fixture(scope="module")
def update(zato: ZatoStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    return record_run(zato, UPDATE, tmp_path_factory.mktemp("runs"))


def test_update_succeeds(update: RecordedRun) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]


def test_components_restart_in_the_documented_order(update: RecordedRun) -> None:
    verdict = check_order(update.history)
    assert verdict.valid is True, verdict.explain()


def test_no_failed_request_through_the_load_balancer(update: RecordedRun, zato: ZatoStandin) -> None:
    verdict = check_availability(update.probe, update.history)
    assert verdict.valid is True, verdict.explain()
    assert update.probe.sent > 50, "the probe must have covered the whole update"
    servers = [c.name for c in zato.inventory.components if c.role == "server"]
    if len(servers) >= 2:
        assert verdict.details["failed"] == 0
        assert set(verdict.details["served_by"]) == set(servers), "every server served traffic"
    else:
        # one server: there is a window with no server; the suite reports it, measured on the node's log
        window = verdict.details["no_server_window_s"]
        assert len(window) == 1 and 0 < window[0] < 30
        print(f"1-server window with no server: {window[0]:.3f}s, failed requests {verdict.details['failed']}")


def test_each_server_is_back_in_the_load_balancer_before_the_next_stops(update: RecordedRun,
                                                                         zato: ZatoStandin) -> None:
    lb = haproxy_states(zato.env(), update.started, update.ended + 1)
    verdict = check_back_in_rotation(update.history, lb)
    assert verdict.valid is True, verdict.explain()


def test_sync_internal_on_exactly_the_server_starts_after_the_code_update(update: RecordedRun) -> None:
    verdict = check_sync_internal(update.history, expected=True)
    assert verdict.valid is True, verdict.explain()


def test_every_component_reports_the_new_version(update: RecordedRun, zato: ZatoStandin) -> None:
    verdict = check_versions(zato.env(), "3.2.1")
    assert verdict.valid is True, verdict.explain()


def test_dry_run_equals_the_journal(update: RecordedRun, zato: ZatoStandin) -> None:
    steps = plan_steps(UPDATE, zato.inventory)
    planned = [(s.id, s.node, s.action, s.args) for s in steps]
    journal = [(r["step"], r["node"], r["action"]) for r in update.run.journal_records()
               if r["event"] == "step" and r["status"] != "started"]
    # the same steps; stage by stage in plan order; within a stage each node's lane in plan order
    assert sorted(journal) == sorted(p[:3] for p in planned)
    done = [sid for sid, _, _ in journal]
    flat = [(i, lane) for i, st in enumerate(stages(steps)) for lane in st]
    stage_of = {s.id: i for i, lane in flat for s in lane}
    assert [stage_of[sid] for sid in done] == sorted(stage_of[sid] for sid in done)
    for _, lane in flat:
        assert [sid for sid in done if sid in {s.id for s in lane}] == [s.id for s in lane]
    steps_json = json.loads((update.run.run_dir / "steps.json").read_text())
    assert [(d["id"], d["node"], d["action"], d["args"]) for d in steps_json] == planned


def test_second_run_changes_nothing_and_says_why(update: RecordedRun, zato: ZatoStandin,
                                                  tmp_path: Path) -> None:
    before = snapshot(zato.env())
    again = record_run(zato, UPDATE, tmp_path)
    after = snapshot(zato.env())
    assert again.outcome == Outcome.SUCCESS
    assert check_unchanged(before, after).valid is True, check_unchanged(before, after).explain()
    assert again.history.lifecycle_lines() == 0, "no component was stopped or started"
    recs = [r for r in again.run.journal_records() if r["event"] == "step" and r["status"] != "started"]
    assert recs and all(r["status"] == "skipped" for r in recs)
    reasons = {r["step"].split("@")[0]: r["reason"] for r in recs}
    assert "nothing to pull" in reasons["pull"]
    assert "already installed" in reasons["install"]
    assert "already runs the installed version 3.2.1" in reasons["start"]


def test_restart_only_plan_never_uses_sync_internal(update: RecordedRun, zato: ZatoStandin,
                                                     tmp_path: Path) -> None:
    restart = record_run(zato, Plan(procedure="zato-restart", ready_timeout=30), tmp_path)
    assert restart.outcome == Outcome.SUCCESS
    assert not any(r["action"].startswith("git") for r in restart.run.journal_records() if r["event"] == "step")
    verdict = check_sync_internal(restart.history, expected=False)
    assert verdict.valid is True, verdict.explain()
    assert check_order(restart.history).valid is True, check_order(restart.history).explain()
    if len([c for c in zato.inventory.components if c.role == "server"]) >= 2:
        assert check_availability(restart.probe, restart.history).valid is True
