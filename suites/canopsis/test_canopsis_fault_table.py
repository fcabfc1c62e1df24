"""Canopsis regular update (canopsis.md) under faults tied to its steps, declared in the plan's own
``faults:`` section: a table of cases with the end each must have, and nothing lost — every event
published before, during and after the run is processed by the engines (their own counts).

One packages installation (4.5.2, Community, real RabbitMQ) per case, updated to 4.6.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import standins
from harness.engine.status import Outcome
from harness.plan.models import FaultSpec
from harness.products.canopsis.fixtures import CanopsisStandin, record_update, start_canopsis

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canopsis-fault-table")]
BASE, TARGET = "4.5.2", "4.6.1"
EVENTS = 1000


@dataclass(frozen=True)
class Case:
    fault: FaultSpec
    end: Outcome
    failed_step: str | None
    version: str


CASES = {
    # RabbitMQ restarted while the packages are updated (the engines are stopped): events published
    # meanwhile wait in the durable queues, the engines drain them after the restart
    "rabbitmq-restarted-during-packages": Case(
        FaultSpec(kind="stop", step="packages@node", node="rabbitmq", at="before", undo="step-end"),
        Outcome.SUCCESS, None, TARGET),
    # RabbitMQ stopped while the engines start again on the new version (after `canoctl`'s first command):
    # an engine cannot boot without its broker, `canoctl restart` fails, and the rollback (the broker
    # started again when the step ended) puts the old version back; the queued events are not lost
    "rabbitmq-stopped-during-restart": Case(
        FaultSpec(kind="stop", step="restart@node", node="rabbitmq", at="during", undo="step-end"),
        Outcome.ROLLED_BACK, "restart@node", BASE),
}


@pytest.fixture
def cps(tmp_path: Path) -> Iterator[CanopsisStandin]:
    c = start_canopsis(tmp_path, version=BASE)
    yield c
    standins.down(c.inventory)


PENDING = {"rabbitmq-stopped-during-restart": "after main's vhost change the broker restarted by the fault's "
                                              "undo exits while booting (to fix in start_component)"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(reason=PENDING[c], strict=False))
                                  if c in PENDING else c for c in CASES])
def test_update_under_fault(case: str, cps: CanopsisStandin, tmp_path: Path) -> None:
    c = CASES[case]
    plan = cps.plan(TARGET, guides_followed=["migration-4.6.0"]).model_copy(update={"faults": [c.fault]})
    rec = record_update(cps, plan, tmp_path / "runs", amqp_events=EVENTS, prefix=f"{case}-")
    faults = [(r["status"], r["kind"], r["node"]) for r in rec.records("fault")]
    assert faults[:1] == [("injected", c.fault.kind, "rabbitmq")], faults
    assert "failed" not in [s for s, _, _ in faults], faults
    assert rec.outcome == c.end, rec.run.journal_records()[-1]
    failed = [r["step"] for r in rec.records() if r["status"] == "failed"]
    assert failed == ([c.failed_step] if c.failed_step else []), failed
    assert cps.node.installed_version() == c.version
    assert set(cps.node.running_versions().values()) == {c.version}
    st = rec.stats[f"{case}-amqp-"]
    assert rec.amqp is not None
    assert st["processed"] == rec.amqp.sent == EVENTS, (st, rec.amqp.error)
