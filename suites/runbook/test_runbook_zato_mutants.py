"""The Zato update suite's checks kill data runbooks that break a rule of the written runbook: the suite
judges what the nodes logged, so a runbook that drops `--sync-internal` or restarts the load balancer before
the servers is caught as the built-in procedure's mutants are."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.runbook.testing import as_runbook
from harness.products.zato.checks import ZatoHistory, check_order, check_sync_internal
from harness.products.zato.fixtures import ZatoStandin, record_run
from suites.zato.twins import fresh_zato

SIZES = (2,)
UPDATE = Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=30)
Steps = list[dict[str, Any]]


def no_sync_internal(steps: Steps) -> None:
    start = next(s for s in next(g for g in steps if g["id"] == "restart-servers")["steps"] if s["id"] == "start")
    start["run"].remove("--sync-internal")


def lb_before_servers(steps: Steps) -> None:
    i = next(i for i, g in enumerate(steps) if g["id"] == "restart-servers")
    j = next(j for j, g in enumerate(steps) if g["id"] == "restart-load-balancer")
    steps[i], steps[j] = steps[j], steps[i]


@pytest.fixture
def zato(env_param: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    """A fresh environment per mutant (an update changes it)."""
    yield from fresh_zato(env_param, tmp_path_factory)


def mutant(change: Callable[[Steps], None]) -> Plan:
    plan = as_runbook(UPDATE, "runbook-zato-update.yaml")
    params = copy.deepcopy(plan.params)
    change(params["steps"])
    return plan.model_copy(update={"params": params})


@pytest.mark.parametrize(("change", "check"), [
    (no_sync_internal, lambda h: check_sync_internal(h, expected=True)),
    (lb_before_servers, check_order),
], ids=["no-sync-internal", "lb-before-servers"])
def test_the_suite_kills_a_runbook_that_breaks_a_rule(change: Callable[[Steps], None],
                                                      check: Callable[[ZatoHistory], Any],
                                                      zato: ZatoStandin, tmp_path: Path) -> None:
    rec = record_run(zato, mutant(change), tmp_path)
    assert rec.outcome == Outcome.SUCCESS, "the mutant itself runs fine ..."
    verdict = check(rec.history)
    assert verdict.valid is False, "... and the suite's check says it broke the runbook"
