"""The Canopsis regular update 4.4.0 → 4.6.1 written as a data runbook (examples/runbook-canopsis-update.yaml),
judged as the Canopsis suite judges the built-in procedure: every event published to RabbitMQ and sent
through the API across the update is processed exactly once, on what the node itself recorded (its alarm
store, migrations log, canopsis.toml); then a second run changes nothing and says why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.canopsis.checks import check_processed_once, check_spans_window
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, record_update
from harness.products.runbook.testing import as_runbook

pytestmark = pytest.mark.xdist_group("canopsis-update")
CANOPSIS = {"version": "4.4.0", "edition": "core"}
TARGET = "4.6.1"
EVENTS = 10_000


def runbook_plan() -> Plan:
    now = int(time.time())
    built_in = Plan(procedure="canopsis-update", params={"to": TARGET}, ready_timeout=60)
    twin = as_runbook(built_in, "runbook-canopsis-update.yaml")
    return twin.model_copy(update={"params": {**twin.params, "window_start": now, "window_end": now + 1800}})


@pytest.fixture(scope="module")
def update(canopsis: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    return record_update(canopsis, runbook_plan(), tmp_path_factory.mktemp("runs"), amqp_events=EVENTS,
                         api_events=3000)


def test_update_succeeds_and_reports_the_target(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    info = canopsis.api.app_info()
    assert (info["version"], info["edition"]) == (TARGET, "community")
    assert set(canopsis.node.running_versions().values()) == {TARGET}
    assert canopsis.node.units_active()


def test_every_event_published_to_rabbitmq_is_processed_exactly_once(update: RecordedUpdate) -> None:
    verdict = check_processed_once(update.amqp, update.stats["amqp-"], EVENTS)
    assert verdict, verdict.explain()


def test_events_published_while_the_engines_were_stopped_waited_in_rabbitmq(update: RecordedUpdate) -> None:
    assert update.amqp is not None
    window = (update.step_times("stop@canopsis")[0], update.step_times("restart@canopsis")[1])
    verdict = check_spans_window(update.amqp.batches, update.started, window, update.ended)
    assert verdict, verdict.explain()


def test_every_event_sent_through_the_api_is_processed_exactly_once(update: RecordedUpdate) -> None:
    verdict = check_processed_once(update.api, update.stats["api-"])
    assert verdict, verdict.explain()


def test_release_notes_applied_in_order_exactly_once(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    applied = [json.loads(line)["migration"] for line in canopsis.node.read("var/log/migrations.log").splitlines()]
    assert applied == ["4.5.0/001_idle_rules", "4.5.1/002_fix_alarm_steps", "4.6.0/001_pbehavior_recompute"]
    conf = canopsis.node.read("etc/canopsis.toml")
    for line in ("ReconnectTimeoutMilliseconds = 8", "BulkMaxSize = 1000", "MaxExternalResponseSize = 10485760",
                 "PrefetchCount = 10000"):
        assert conf.count(line) == 1, line
    assert conf.startswith("# canopsis.toml"), "the operator's comments survive the edits"


def test_second_run_changes_nothing_and_says_why(update: RecordedUpdate, canopsis: CanopsisStandin,
                                                  tmp_path: Path) -> None:
    before = canopsis.node.read("etc/canopsis.toml"), canopsis.node.read("var/log/migrations.log")
    again = record_update(canopsis, runbook_plan(), tmp_path)
    assert again.outcome == Outcome.SUCCESS
    assert (canopsis.node.read("etc/canopsis.toml"), canopsis.node.read("var/log/migrations.log")) == before
    recs = {r["step"]: r for r in again.records() if r["status"] != "started"}
    assert recs.pop("verify@canopsis")["status"] == "ok"  # a check, never skipped
    assert {r["status"] for r in recs.values()} == {"skipped"}, recs
    assert "already installed, configured and running" in recs["restart@canopsis"]["reason"]
    assert "was applied before" in recs["note-4.5.0-migration@canopsis"]["reason"]
