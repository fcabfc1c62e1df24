"""Helpers for suites that judge a data runbook exactly as they judge a built-in procedure."""

from __future__ import annotations

from harness import resources
from harness.plan.loader import load_plan
from harness.plan.models import Plan

__all__ = ["as_runbook"]


def as_runbook(plan: Plan, example: str) -> Plan:
    """The data-runbook twin of a built-in ``plan``: ``examples/EXAMPLE`` (a ``procedure: runbook`` plan)
    with ``plan``'s ``params`` as its values (``params.vars``) and settings, on the suite's environment
    (no ``standins``/``target`` of its own)."""
    twin = load_plan(resources.examples() / example)
    params = {**twin.params, "vars": {**twin.params.get("vars", {}), **plan.params}}
    settings = plan.model_dump(include={"ready_timeout", "rollback", "parallel", "lock_ttl", "components"})
    out = twin.model_copy(update={"params": params, "standins": None, "target": None, **settings})
    out._base_dir = twin._base_dir
    return out
