"""The machine output of ``harness plan|run|status --json``: one JSON document on stdout, its shape these models.

The shape is stable: fields are only ever added (``schema`` names the version, bumped on a change that is not
an addition). ``harness schema output`` prints the JSON Schema of each document; tests validate against it.
Progress and diagnostics go to stderr, so stdout holds nothing but the document.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.engine.runner import Run
from harness.engine.status import EXIT_CODES
from harness.engine.step import Step
from harness.errors import ExitCode


class StepOut(BaseModel):
    index: int = Field(description="1-based position in the plan")
    id: str
    node: str
    action: str
    description: str
    gate: str | None = Field(None, description="readiness gate kind, if the step has one")
    stage: str | None = Field(None, description="parallel key: steps sharing it run on their nodes at once")


class StepStatusOut(StepOut):
    status: str = Field(description="pending, started, ok, skipped, failed, rolled_back or indeterminate")
    reason: str = ""
    duration_s: float | None = None


class PlanOut(BaseModel):
    schema_: Literal["harness.plan/1"] = Field("harness.plan/1", alias="schema")
    procedure: str
    target: str | None = Field(description="inventory file, or null when the plan starts its own stand-ins")
    standins: str | None = Field(description="what stand-ins the plan starts, when it does")
    steps: list[StepOut]


class RunOut(BaseModel):
    schema_: Literal["harness.run/1"] = Field("harness.run/1", alias="schema")
    run_id: str | None
    run_dir: str | None
    procedure: str | None
    environment: str | None
    outcome: str | None = Field(description="success, failed, rolled_back, refused, locked, indeterminate; "
                                            "stale (a reviewed plan whose facts changed: nothing run); "
                                            "null while the run is not finished")
    exit_code: int
    error: str | None = Field(None, description="why the command refused or stopped (first line first)")
    journal: str | None = None
    report: str | None = Field(None, description="the HTML report of the run, when one was written")
    steps: list[StepStatusOut] = []


def step_out(i: int, s: Step) -> StepOut:
    return StepOut(index=i, id=s.id, node=s.node, action=s.action, description=s.describe(),
                   gate=s.gate.kind if s.gate else None, stage=s.parallel)


def run_out(run: Run, *, exit_code: int, report: str | None = None, error: str | None = None) -> RunOut:
    last: dict[str, dict[str, Any]] = {}
    for r in run.journal_records():
        if r["event"] == "step":
            last[r["step"]] = r
    steps = []
    for i, s in enumerate(run.steps, 1):
        r = last.get(s.id, {})
        steps.append(StepStatusOut(**step_out(i, s).model_dump(), status=r.get("status", "pending"),
                                   reason=r.get("reason", ""), duration_s=r.get("duration")))
    return RunOut(run_id=run.run_id, run_dir=str(run.run_dir), procedure=run.plan.procedure,
                  environment=run.inventory.environment, outcome=run.outcome.value if run.outcome else None,
                  exit_code=exit_code, error=error, journal=str(run.run_dir / "journal.jsonl"), report=report,
                  steps=steps)


def refused_out(exit_code: int, error: str) -> RunOut:
    outcome = next((o.value for o, c in EXIT_CODES.items() if c == exit_code), None) or \
        (ExitCode(exit_code).name.lower() if exit_code in set(ExitCode) else None)
    return RunOut(run_id=None, run_dir=None, procedure=None, environment=None, outcome=outcome,
                  exit_code=exit_code, error=error)


def dump(doc: BaseModel) -> str:
    return json.dumps(doc.model_dump(mode="json", by_alias=True), indent=2)


def schemas(**more: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of each document ``--json`` prints, by command, and of ``more`` (documents built on
    this module's, e.g. the reviewed plan ``harness plan --out`` writes)."""
    return {"plan": PlanOut.model_json_schema(by_alias=True), "run": RunOut.model_json_schema(by_alias=True),
            "status": RunOut.model_json_schema(by_alias=True),
            **{name: model.model_json_schema() for name, model in more.items()},
            "exit_codes": {c.name.lower(): int(c) for c in ExitCode}}
