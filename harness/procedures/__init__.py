"""Procedures: one module per runbook, each a pure ``plan + inventory → [Step]``.

A procedure module provides ``NAMES`` (the procedure names it implements), ``steps(plan, inventory)``,
``precheck(env, plan)`` (read-only; raises :class:`~harness.errors.RefusedError`) and
``rollback_steps(plan, inventory, done)`` (the compensation sequence, also data).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from harness.errors import PlanError

PROCEDURES: dict[str, str] = {
    "zato-update": "harness.procedures.zato_update",
    "zato-restart": "harness.procedures.zato_update",
    "canopsis-update": "harness.procedures.canopsis_update",
    "zato-hot-deploy": "harness.procedures.zato_deploy",
    "zato-service-sources": "harness.procedures.zato_deploy",
    "zato-extra-paths": "harness.procedures.zato_deploy",
    "beam-patch": "harness.procedures.beam_patch",
    "otp-release-upgrade": "harness.procedures.otp_release_upgrade",
}


def procedure_module(name: str, *, file: str | None = None) -> ModuleType:
    if name not in PROCEDURES:
        raise PlanError(f"unknown procedure {name!r}", file=file, field="procedure",
                        hint=f"use one of: {', '.join(sorted(PROCEDURES))}")
    return importlib.import_module(PROCEDURES[name])
