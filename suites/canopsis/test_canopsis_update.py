"""Canopsis regular update 4.4.0 → 4.6.1 (Community, packages) on a stand-in with a real RabbitMQ.

One update is recorded with traffic across it: 10,000 events published to RabbitMQ (a quarter before,
most during the run, the rest after) and events sent through the API with the retrying client while it
restarts. The tests judge the stand-in's own state (alarm store, logs, migrations, config), not the
executor's journal alone. Then, on the same environment, a second run must change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engine.runner import plan_steps
from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.canopsis.checks import check_none_duplicated, check_none_lost, check_spans_window
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, record_update

pytestmark = pytest.mark.xdist_group("canopsis-update")
CANOPSIS = {"version": "4.4.0", "edition": "core"}
SSH_BACKEND = True  # CI runs this suite through SSH-only stand-ins too (docker-ssh)
TARGET = "4.6.1"
EVENTS = 10_000
# the release notes 4.5.0 and 4.6.0 mandate migration guides (as upstream): the plan says they were followed
GUIDES = {"guides_followed": ["migration-4.5.0", "migration-4.6.0"]}
NOTES = ["4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]


@pytest.fixture(scope="module")
def update(canopsis: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    plan = Plan(procedure="canopsis-update", params={"to": TARGET, **GUIDES},
                ready_timeout=60)  # from: facts.version
    return record_update(canopsis, plan, tmp_path_factory.mktemp("runs"), amqp_events=EVENTS, api_events=3000)


def test_update_succeeds_and_reports_the_target(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    info = canopsis.api.app_info()
    assert (info["version"], info["edition"]) == (TARGET, "community")
    assert set(canopsis.node.running_versions().values()) == {TARGET}
    assert canopsis.node.units_active()


def test_no_event_published_to_rabbitmq_is_lost(update: RecordedUpdate) -> None:
    verdict = check_none_lost(update.amqp, update.stats["amqp-"], EVENTS)
    assert verdict, verdict.explain()


def test_no_event_published_to_rabbitmq_is_processed_twice(update: RecordedUpdate) -> None:
    """From every processing the node recorded (engine, pid, time): a graceful stop finishes and acks its
    batch, so not even a redelivery the dedupe would catch may happen."""
    verdict = check_none_duplicated(update.stats["amqp-"])
    assert verdict, verdict.explain()


def test_events_published_while_the_engines_were_stopped_waited_in_rabbitmq(update: RecordedUpdate) -> None:
    assert update.amqp is not None
    window = (update.step_times("stop@node")[0], update.step_times("restart@node")[1])
    verdict = check_spans_window(update.amqp.batches, update.started, window, update.ended)
    assert verdict, verdict.explain()


def test_no_event_sent_through_the_api_is_lost(update: RecordedUpdate) -> None:
    verdict = check_none_lost(update.api, update.stats["api-"])
    assert verdict, verdict.explain()
    assert update.api is not None
    # the API was down during the restart: the client met refusals and retried them
    _, restarted = update.step_times("restart@node")
    stopped, _ = update.step_times("stop@node")
    refused = [t for t, _call, _why in update.api.api.refused if stopped - 1 <= t <= restarted + 1]
    assert refused, "the API sender never met the maintenance window"


def test_no_event_sent_through_the_api_is_processed_twice(update: RecordedUpdate) -> None:
    verdict = check_none_duplicated(update.stats["api-"])
    assert verdict, verdict.explain()


def test_every_processing_is_recorded_with_its_engine_and_time(update: RecordedUpdate,
                                                               canopsis: CanopsisStandin) -> None:
    """The record the two checks above judge from: one row per processing, within the run."""
    axe = canopsis.node.stats("amqp-")["engines"]["engine-axe"]
    assert axe["processings"] >= axe["events"] == EVENTS
    assert update.started - 5 <= axe["first"] <= axe["last"] <= update.ended + 120  # node and controller share a clock


def test_release_notes_applied_in_order_exactly_once(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    applied = [json.loads(line)["migration"] for line in canopsis.node.read("var/log/migrations.log").splitlines()]
    assert applied == ["4.5.0/001_idle_rules", "4.5.1/002_fix_alarm_steps", "4.6.0/001_pbehavior_recompute"]
    order = [r["step"] for r in update.records() if r["status"] == "ok" and r["step"].startswith("release-note")]
    assert order == [f"release-note-{v}@node" for v in NOTES]
    conf = canopsis.node.read("etc/canopsis.toml")
    for line in ("ReconnectTimeoutMilliseconds = 8", "BulkMaxSize = 1000", "MaxExternalResponseSize = 10485760",
                 "PrefetchCount = 10000"):
        assert conf.count(line) == 1, line
    assert conf.startswith("# canopsis.toml"), "the operator's comments survive the edits"
    reconf = [r["message"] for r in canopsis.node.log("canopsis-reconfigure")]
    assert "start postgres migrations" in reconf, "the release notes' -migrate-postgres=true reached the tool"


def test_runbook_commands_in_order_each_only_after_the_previous_succeeded(update: RecordedUpdate) -> None:
    steps = [r["step"].split("@")[0] for r in update.records() if r["status"] == "ok"]
    assert steps == ["broadcast"] + [f"release-note-{v}" for v in NOTES] + [
        "stop", "packages", "canopsinit", "reconfigure", "daemon-reload", "restart", "verify"]
    assert all(r["observation"].get("exit_code", 0) == 0 for r in update.records() if r["status"] == "ok")


def test_topology_declared_and_engines_restarted_on_the_new_version(canopsis: CanopsisStandin,
                                                                      update: RecordedUpdate) -> None:
    msgs = [r["message"] for r in canopsis.node.log("canopsis-reconfigure")]
    assert 'exchange "canopsis.events" created' in msgs
    assert '"Engine_fifo" bind to "canopsis.events" exchange with "#" routing key' in msgs
    for engine in ("engine-fifo", "engine-che", "engine-axe"):
        life = [(r["message"], r.get("version")) for r in canopsis.node.log(engine)
                if r["message"] in ("engine started", "engine stopped")]
        assert life[-3:] == [("engine stopped", None), ("engine started", TARGET)][-3:] or \
            life[-2:] == [("engine stopped", None), ("engine started", TARGET)], (engine, life)


def test_broadcast_message_active_across_the_window(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    posted = next(r for r in update.records() if r["step"] == "broadcast@node" and r["status"] == "ok")
    stopped, _ = update.step_times("stop@node")
    _, restarted = update.step_times("restart@node")
    msg = posted["observation"]
    assert posted["ts"] <= stopped, "posted before the interruption"
    assert msg["start"] <= stopped and msg["end"] >= restarted
    active = [m["_id"] for m in canopsis.api.active_broadcasts()]
    assert msg["id"] in active, "still shown after the restart (kept on disk by the API)"


def test_dry_run_equals_the_journal(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    planned = [s.id for s in plan_steps(update.run.plan, update.run.inventory)]
    assert planned == [r["step"] for r in update.records() if r["status"] != "started"]


def test_second_run_changes_nothing_and_says_why(update: RecordedUpdate, canopsis: CanopsisStandin,
                                                  tmp_path: Path) -> None:
    files = ["etc/canopsis.toml", "var/lib/canopsis/package.json", "var/lib/canopsis/version.json",
             "var/lib/canopsis/mongo/migrations.json", "var/log/engine-axe.log", "var/log/canopsis-reconfigure.log",
             "var/lib/canopsis/broadcast-messages.json"]
    before = {f: canopsis.node.read(f) for f in files}
    again = record_update(canopsis, update.run.plan, tmp_path)
    assert again.outcome == Outcome.SUCCESS
    assert {f: canopsis.node.read(f) for f in files} == before
    recs = [r for r in again.records() if r["status"] != "started"]
    assert [r["status"] for r in recs] == ["skipped"] * (len(recs) - 1) + ["ok"]  # verify only reads
    assert "already installed, configured and running" in recs[0]["reason"]


def test_target_equal_to_installed_is_a_no_op(canopsis: CanopsisStandin, update: RecordedUpdate,
                                               tmp_path: Path) -> None:
    plan = canopsis.plan(TARGET)
    steps = plan_steps(plan, canopsis.inventory)
    assert not [s for s in steps if s.action == "canopsis.release_note"]
    again = record_update(canopsis, plan, tmp_path)
    assert again.outcome == Outcome.SUCCESS
    assert [r["status"] for r in again.records() if r["status"] != "started"].count("ok") == 1
