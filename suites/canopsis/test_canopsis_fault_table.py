"""Canopsis regular update (canopsis.md) under faults tied to its steps: a table of cases with the end each
must have (:mod:`harness.faults.cases`), and nothing lost — every event published before, during and after
the run is processed by the engines (their own counts), the node installed and running one version.

One packages installation (4.5.2, Community, real RabbitMQ) per case, updated to 4.6.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.faults.cases import FaultCase, run_case
from harness.plan.models import FaultSpec, Inventory
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, record_update, start_canopsis

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canopsis-fault-table")]
BASE, TARGET = "4.5.2", "4.6.1"
EVENTS = 1000


def after(version: str) -> dict[str, Any]:
    return {"installed": version, "running": [version], "events sent": EVENTS, "events processed": EVENTS}


CASES = {
    # RabbitMQ restarted while the packages are updated (the engines are stopped): events published
    # meanwhile wait in the durable queues, the engines drain them after the restart
    "rabbitmq-restarted-during-packages": FaultCase(
        FaultSpec(kind="stop", step="packages@node", node="rabbitmq", at="before", undo="step-end"),
        Outcome.SUCCESS, after=after(TARGET)),
    # RabbitMQ stopped while the engines start again on the new version (after `canoctl`'s first command):
    # an engine cannot boot without its broker (`failed to connect to rabbitmq`, canopsis.md §2.4), so
    # `canoctl restart` fails; the broker is started again when the step ends, and the rollback puts the
    # old version back; the queued events are not lost
    "rabbitmq-stopped-during-restart": FaultCase(
        FaultSpec(kind="stop", step="restart@node", node="rabbitmq", at="during", undo="step-end"),
        Outcome.ROLLED_BACK, "restart@node", after=after(BASE)),
}


@pytest.fixture
def cps(tmp_path: Path) -> Iterator[CanopsisStandin]:
    c = start_canopsis(tmp_path, version=BASE)
    yield c
    standins.down(c.inventory)


@pytest.mark.parametrize("case", CASES)
def test_update_under_fault(case: str, cps: CanopsisStandin, tmp_path: Path) -> None:
    recorded: list[RecordedUpdate] = []

    def drive(run: Run) -> Outcome:
        """With AMQP traffic before, during and after the run (a publisher that the stopped broker cut off
        mid-run loses nothing: what it did not send is sent after the run)."""
        recorded.append(record_update(cps, run.plan, tmp_path / "runs", amqp_events=EVENTS, prefix=f"{case}-",
                                      run=run))
        return recorded[0].outcome

    def observe(inv: Inventory) -> dict[str, Any]:
        node, amqp = cps.node, recorded[0].amqp
        assert amqp is not None
        return {"installed": node.installed_version(), "running": sorted(set(node.running_versions().values())),
                "events sent": amqp.sent, "events processed": recorded[0].stats[f"{case}-amqp-"]["processed"]}

    end = run_case(CASES[case], cps.plan(TARGET, guides_followed=["migration-4.6.0"]), cps.inventory,
                   tmp_path / "runs", observe=observe, drive=drive)
    assert end.verdict, end.verdict.explain()
