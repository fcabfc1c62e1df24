"""The Canopsis regular update 4.4.0 → 4.6.1 written as a data runbook (examples/runbook-canopsis-update.yaml),
judged by the Canopsis update suite's own tests (imported below, unchanged): every event published to
RabbitMQ and sent through the API across the update processed exactly once, events queued while the
engines were stopped, the engines restarted on the target, the dry-run equal to the journal, a second run
that changes nothing and says why — all on what the node itself recorded.

The suite's tests that look at the built-in procedure's own step shapes (one step per release note, the
broadcast step's observation) are not imported; the release notes are judged here on the node's files.
"""

from __future__ import annotations

import json
import time

import pytest

from harness.plan.models import Plan
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, record_update
from harness.products.runbook.testing import as_runbook
from suites.canopsis.test_canopsis_update import (  # noqa: F401  (collected here, on this module's `update`)
    CANOPSIS,
    EVENTS,
    TARGET,
    test_alarm_counters_equal_distinct_events,
    test_dry_run_equals_the_journal,
    test_events_published_while_the_engines_were_stopped_waited_in_rabbitmq,
    test_every_event_published_to_rabbitmq_is_processed_exactly_once,
    test_every_event_sent_through_the_api_is_processed_exactly_once,
    test_second_run_changes_nothing_and_says_why,
    test_topology_declared_and_engines_restarted_on_the_new_version,
    test_update_succeeds_and_reports_the_target,
)

pytestmark = pytest.mark.xdist_group("canopsis-update")


def runbook_plan() -> Plan:
    now = int(time.time())
    built_in = Plan(procedure="canopsis-update", params={"to": TARGET}, ready_timeout=60)
    twin = as_runbook(built_in, "runbook-canopsis-update.yaml")
    window = {"window_start": now, "window_end": now + 1800}
    return twin.model_copy(update={"params": {**twin.params, "vars": {**twin.params["vars"], **window}}})


@pytest.fixture(scope="module")
def update(canopsis: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    return record_update(canopsis, runbook_plan(), tmp_path_factory.mktemp("runs"), amqp_events=EVENTS,
                         api_events=3000)


def test_release_notes_applied_in_order_exactly_once(update: RecordedUpdate, canopsis: CanopsisStandin) -> None:
    applied = [json.loads(line)["migration"] for line in canopsis.node.read("var/log/migrations.log").splitlines()]
    assert applied == ["4.5.0/001_idle_rules", "4.5.1/002_fix_alarm_steps", "4.6.0/001_pbehavior_recompute"]
    notes = [r["step"] for r in update.records() if r["status"] == "ok" and r["step"].startswith("note-")]
    assert notes == sorted(notes, key=lambda s: [int(p) for p in s.split("-")[1].split(".")]), "oldest first"
    conf = canopsis.node.read("etc/canopsis.toml")
    for line in ("ReconnectTimeoutMilliseconds = 8", "BulkMaxSize = 1000", "MaxExternalResponseSize = 10485760",
                 "PrefetchCount = 10000"):
        assert conf.count(line) == 1, line
    assert conf.startswith("# canopsis.toml"), "the operator's comments survive the edits"
    reconf = [r["message"] for r in canopsis.node.log("canopsis-reconfigure")]
    assert "start postgres migrations" in reconf, "the release notes' -migrate-postgres=true reached the tool"
