"""``procedure: runbook``: the steps come from the plan (see :mod:`.expand` and docs/runbooks.md)."""

from __future__ import annotations

from harness.engine.procedure import Procedure
from harness.environment import Environment
from harness.plan.models import Plan
from harness.products.runbook import secrets
from harness.products.runbook.expand import rollback_steps, steps
from harness.products.runbook.models import RunbookParams


def precheck(env: Environment, plan: Plan, params: RunbookParams) -> None:
    """Read-only: every declared secret can be read (RefusedError naming the secret, not its value)."""
    secrets.values(plan)


RUNBOOK = Procedure("runbook", RunbookParams, steps, precheck, rollback_steps,
                    summary="a runbook written as data: the plan's own steps, targets, gates, skip checks "
                    "and compensations")
