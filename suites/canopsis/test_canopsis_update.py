"""Canopsis regular update 4.4.0 → 4.6.1 (Community, packages) on a stand-in with a real RabbitMQ.

One update is recorded with traffic across it: 10,000 events published to RabbitMQ (a quarter before,
most during the run, the rest after) and events sent through the API with the retrying client while it
restarts. Before the run, engine-axe is behind: 500 events wait in its queue, put there by the previous
release's engine-che, for the new release's engine-axe to read (the mixed-version data of an update). The
tests judge the stand-in's own state (alarm store, logs, journal, package history, migrations, config),
not the executor's journal alone. Then, on the same environment, a second run must change nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.engine.runner import plan_steps
from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.canopsis.amqp import queue_depths
from harness.products.canopsis.checks import (
    check_none_duplicated,
    check_none_lost,
    check_runbook_order,
    check_spans_window,
    node_runbook,
)
from harness.products.canopsis.fixtures import AmqpTraffic, CanopsisStandin, RecordedUpdate, record_update
from harness.wait import wait_until

pytestmark = pytest.mark.xdist_group("canopsis-update")
CANOPSIS = {"version": "4.4.0", "edition": "core"}
SSH_BACKEND = True  # CI runs this suite through SSH-only stand-ins too (docker-ssh)
TARGET = "4.6.1"
EVENTS = 10_000
# the release notes 4.5.0 and 4.6.0 mandate migration guides (as upstream): the plan says they were followed
GUIDES = {"guides_followed": ["migration-4.5.0", "migration-4.6.0"]}
NOTES = ["4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]
AXE = "canopsis-engine-go@engine-axe.service"
QUEUED = 500


@dataclass
class Queued:
    """Events engine-che of the previous release put in engine-axe's queue before the update."""

    traffic: AmqpTraffic
    depth: int


@pytest.fixture(scope="module")
def queued(canopsis: CanopsisStandin) -> Queued:
    canopsis.node.run("systemctl", "stop", AXE).check()
    traffic = AmqpTraffic(canopsis.amqp_url, "queued-", QUEUED)
    traffic.publish(QUEUED)
    depth = wait_until(lambda: (d := queue_depths(canopsis.amqp_url, ["Engine_axe"])["Engine_axe"]) >= QUEUED and d,
                       timeout=60, interval=0.1, what=f"{QUEUED} events forwarded by engine-che to Engine_axe")
    return Queued(traffic, depth)


@pytest.fixture(scope="module")
def update(canopsis: CanopsisStandin, queued: Queued, tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    plan = Plan(procedure="canopsis-update", params={"to": TARGET, **GUIDES},
                ready_timeout=60)  # from: facts.version
    rec = record_update(canopsis, plan, tmp_path_factory.mktemp("runs"), amqp_events=EVENTS, api_events=3000)
    rec.stats["queued-"] = canopsis.wait_drained("queued-", QUEUED)
    return rec


def outage(update: RecordedUpdate, canopsis: CanopsisStandin) -> tuple[float, float]:
    """When the node's units were down, from its journal: the first unit stopped, the last one started."""
    events = [ev for ev in node_runbook(canopsis.node, update.started) if ev.begin <= update.ended]
    stops, starts = [ev.begin for ev in events if ev.kind == "stop"], [ev.end for ev in events if ev.kind == "start"]
    assert stops and starts, [ev.brief() for ev in events]
    return min(stops), max(starts)


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


def test_events_published_while_the_engines_were_stopped_waited_in_rabbitmq(update: RecordedUpdate,
                                                                            canopsis: CanopsisStandin) -> None:
    assert update.amqp is not None
    window = outage(update, canopsis)
    verdict = check_spans_window(update.amqp.batches, update.started, window, update.ended)
    assert verdict, verdict.explain()


def test_events_queued_by_the_previous_release_are_read_once_by_the_new_one(
        update: RecordedUpdate, queued: Queued, canopsis: CanopsisStandin) -> None:
    """The 500 events the previous release's engine-che queued for engine-axe: the new release's engine-axe
    (started on the target, says the journal) processed each of them once, and rejected none."""
    assert queued.depth == QUEUED, "waited in Engine_axe before the update"
    st = update.stats["queued-"]
    verdict = check_none_lost(queued.traffic, st, QUEUED)
    assert verdict, verdict.explain()
    verdict = check_none_duplicated(st)
    assert verdict, verdict.explain()
    [axe_started] = [ev for ev in node_runbook(canopsis.node, update.started)
                     if ev.kind == "start" and ev.detail["unit"] == AXE and ev.begin <= update.ended]
    assert f"({TARGET})" in axe_started.detail["message"]
    assert st["engines"]["engine-axe"]["first"] >= axe_started.begin - 1, "processed by the new release's engine"


def test_no_event_sent_through_the_api_is_lost(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    verdict = check_none_lost(update.api, update.stats["api-"])
    assert verdict, verdict.explain()
    assert update.api is not None
    # the API was down during the restart: the client met refusals and retried them
    stopped, restarted = outage(update, canopsis)
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


def test_runbook_commands_in_order_each_only_after_the_previous_succeeded(update: RecordedUpdate,
                                                                         canopsis: CanopsisStandin) -> None:
    """Judged from what the node recorded: yum's history, canopsinit's log, the version document
    canopsis-reconfigure writes last, and systemd's journal (units stopped, reloaded, started)."""
    node = canopsis.node
    events = [ev for ev in node_runbook(node, update.started) if ev.begin <= update.ended]
    verdict = check_runbook_order(events, ["stop", "packages", "canopsinit", "reconfigure", "daemon-reload", "start"])
    assert verdict, verdict.explain()
    by = {ev.kind: [e for e in events if e.kind == ev.kind] for ev in events}
    [tx] = by["packages"]
    assert (tx.detail["tool"], tx.detail["action"], tx.detail["from"], tx.detail["to"]) == ("yum", "update", "4.4.0",
                                                                                            TARGET)
    assert {"--disablerepo=*", "--enablerepo=canopsis*"} <= set(tx.detail["cmdline"].split()), tx.detail
    [init] = by["canopsinit"]
    assert init.detail == {"version": TARGET, "edition": "core"}, "canopsinit ran on the new packages"
    assert by["reconfigure"][0].detail["version"] == TARGET
    units = {f"canopsis-engine-go@{e}.service" for e in ("engine-fifo", "engine-che", "engine-axe")} | {
        "canopsis-service@canopsis-api.service"}
    # engine-axe was stopped before the run (fixture `queued`): canoctl stop stopped the others
    assert {e.detail["unit"] for e in by["stop"]} == units - {AXE}, "canoctl stop stopped every running unit"
    started = {e.detail["unit"]: e.detail["message"] for e in by["start"]}
    assert set(started) == units and all(f"({TARGET})" in m for m in started.values()), started
    # the executor's own record agrees: each command step recorded its exit code, 0
    commands = {"stop", "packages", "canopsinit", "reconfigure", "daemon-reload", "restart"}
    exits = {r["step"].split("@")[0]: r["observation"].get("exit_code") for r in update.records()
             if r["status"] == "ok" and r["step"].split("@")[0] in commands}
    assert exits == dict.fromkeys(commands, 0), exits


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
    stopped, restarted = outage(update, canopsis)  # as the node's journal says
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
