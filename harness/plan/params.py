"""Procedure parameters: validated in one place, against the procedure's own model.

Every procedure declares a pydantic ``Params`` model (:class:`harness.engine.procedure.Params`); a plan's
``params`` mapping is checked against it here, before any step is computed. Unknown, missing and
wrong-typed parameters are all reported by the same code, naming the field (``params.revision``) and
the fix; :func:`harness.plan.loader.locate` adds the plan file and the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from harness.plan.errors import validation_error
from harness.plan.models import Plan

if TYPE_CHECKING:
    from harness.engine.procedure import Procedure


def validate_params(procedure: Procedure, plan: Plan) -> BaseModel:
    try:
        return procedure.params.model_validate(plan.params)
    except ValidationError as exc:
        raise validation_error(exc, procedure.params, prefix=("params",),
                               where=f"params of {procedure.name}") from None
