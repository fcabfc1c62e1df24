"""``procedure: runbook``: the steps come from the plan (see :mod:`.expand` and docs/runbooks.md)."""

from __future__ import annotations

import hashlib

from harness.engine.procedure import Procedure
from harness.environment import Environment
from harness.plan.models import Plan
from harness.products.runbook import secrets
from harness.products.runbook.expand import rollback_steps, steps
from harness.products.runbook.models import RunbookParams


def precheck(env: Environment, plan: Plan, params: RunbookParams) -> None:
    """Read-only: every declared secret can be read (RefusedError naming the secret, not its value)."""
    secrets.values(plan)


def facts(env: Environment, plan: Plan, params: RunbookParams) -> dict[str, dict[str, str]]:
    """The sha256 of every local file a ``put:`` step (or its compensation) sends, under the node it goes to
    (inline ``content`` is part of the plan file, whose digest a reviewed plan keeps anyway)."""
    out: dict[str, dict[str, str]] = {}
    for step in steps(plan, params, env.inventory):
        for action, args in ((step.action, step.args), *([(step.args["compensate"]["action"],
                                                            step.args["compensate"]["args"])]
                                                          if "compensate" in step.args else [])):
            src = args.get("put", {}).get("src") if action == "runbook.put" else None
            if src:
                path = plan.resolve_path(src)
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError as exc:
                    digest = f"(unreadable: {exc.strerror})"
                out.setdefault(step.node, {})[f"put {path}"] = digest
    return out


RUNBOOK = Procedure("runbook", RunbookParams, steps, precheck, rollback_steps,
                    summary="a runbook written as data: the plan's own steps, targets, gates, skip checks "
                    "and compensations", facts=facts)
