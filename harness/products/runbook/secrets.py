"""Secret values of a runbook: read from the executor's environment or a file, only when a step runs.

The plan declares where each secret comes from (``params.secrets: {NAME: {env: VAR} | {file: PATH}}``);
the planned steps, steps.json and the journal hold ``{{ secrets.NAME }}``, never the value.
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import RefusedError
from harness.plan.models import Plan

__all__ = ["values"]


def values(plan: Plan) -> dict[str, str]:
    """Every declared secret's value (RefusedError naming the secret and its reference if one is missing)."""
    out: dict[str, str] = {}
    declared: dict[str, Any] = plan.params.get("secrets") or {}
    for name, ref in declared.items():
        if ref.get("env"):
            value = os.environ.get(ref["env"])
            if value is None:
                raise RefusedError(f"secret {name!r}: environment variable {ref['env']} is not set\n"
                                   f"Hint: export {ref['env']}=... before the run, or point the secret at a file")
        elif ref.get("file"):
            path = plan.resolve_path(ref["file"])
            try:
                value = path.read_text().rstrip("\n")
            except OSError as exc:
                raise RefusedError(f"secret {name!r}: cannot read {path}: {exc.strerror}\n"
                                   "Hint: create the file (mode 600) or point the secret elsewhere") from None
        else:
            raise RefusedError(f"secret {name!r} names neither `env` nor `file`\n"
                               "Hint: params.secrets.NAME: {env: VARIABLE} or {file: PATH}")
        out[name] = value
    return out
