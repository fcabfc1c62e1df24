"""Runbooks as data: ``procedure: runbook`` takes its steps from the plan (docs/runbooks.md).

Generic actions only (a command, an HTTP request, a file, a log line), so it runs on any product's
inventory; what makes it safe is what the plan declares for each step: a readiness gate, a skip check
(idempotence, resume) and a compensation (rollback).
"""

from __future__ import annotations

from harness.registry import Product

PRODUCT = Product(
    name="runbook",
    summary="runbooks written as data: steps, targets, gates, skip checks and compensations in the plan",
    # a runbook acts on any product's inventory (its roles are that product's); an inventory written for a
    # runbook alone (``product: runbook``) names its components' role ``node``
    roles=("node",),
    procedures={"runbook": "harness.products.runbook.procedure:RUNBOOK"},
    actions={
        "runbook.run": "harness.products.runbook.actions:Run",
        "runbook.http": "harness.products.runbook.actions:Http",
        "runbook.put": "harness.products.runbook.actions:Put",
        "runbook.wait_log": "harness.products.runbook.actions:WaitLog",
    },
    gates={"runbook.ready": "harness.products.runbook.actions:ready"},
)
