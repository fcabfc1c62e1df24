"""Fault tables: a case is a fault tied to a step and the end the runbook calls for; :func:`run_case` runs
it on an environment and records the end; :func:`judge` compares what was recorded with what the case says.

The end has three parts, each read after the fact, never assumed: the run's outcome (and the last run
record of its journal), which step failed (and that its reason names the node at fault), and the nodes'
state once every fault was undone — what the suite's ``observe(inventory)`` reads from them (versions,
loaded modules' md5s, release statuses, events processed). Product-free: the suite gives the plan, the
environment and ``observe``; the table is data::

    CASES = {"server-killed": FaultCase(FaultSpec(kind="kill", step="stop@server2"), Outcome.SUCCESS,
                                        after={"versions": ["3.2.1"]})}

    def test_update_under_fault(case, env, tmp_path):
        end = run_case(CASES[case], plan, env.inventory, tmp_path / "runs", observe=versions)
        assert end.verdict, end.verdict.explain()

The fault is fired through the plan's own ``faults:`` section (:class:`~harness.faults.PlanFaults`), so it
is made at its step and undone when the run ends, whatever happened; a fault never made, or one whose undo
failed, is in the journal and fails the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks import Verdict, checker
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import FaultSpec, Inventory, Plan

__all__ = ["CaseEnd", "FaultCase", "judge", "run_case"]

#: what a suite reads from the nodes once the run ended and its faults were undone
Observe = Callable[[Inventory], Any]
#: how the run is driven (default: begin, run forward); a suite wraps it in traffic, for instance
Drive = Callable[[Run], Outcome]


@dataclass(frozen=True)
class FaultCase:
    """One row of a fault table."""

    fault: FaultSpec
    #: the run's outcome
    end: Outcome
    #: the step whose failure ends the run (None: no step fails)
    failed: str | None = None
    #: text the failed step's reason must hold (the node at fault), if any
    names: str = ""
    #: what ``observe`` must read from the nodes afterwards
    after: Any = None


@dataclass(frozen=True)
class CaseEnd:
    """What one case left: the run, its journal, and what the nodes said after every undo."""

    case: FaultCase
    run: Run
    outcome: Outcome
    journal: list[dict[str, Any]]
    after: Any

    @property
    def verdict(self) -> Verdict:
        return judge(self)


def _forward(run: Run) -> Outcome:
    run.begin()
    return run.run_forward()


def run_case(case: FaultCase, plan: Plan, inventory: Inventory, runs_dir: Path, *, observe: Observe,
             drive: Drive = _forward) -> CaseEnd:
    """Run ``plan`` with the case's fault as its only ``faults:`` entry; observe the nodes once it ended."""
    run = Run.create(plan.model_copy(update={"faults": [case.fault]}), inventory, runs_dir)
    try:
        outcome = drive(run)
    finally:
        if run.outcome is None:  # the run never ended (an error): its lease is let go, its faults undone
            run.abandon()
    return CaseEnd(case, run, outcome, run.journal_records(), observe(inventory))


@checker("fault case")
def judge(end: CaseEnd) -> Verdict:
    """Valid when the outcome, the journal, the failed step and the nodes' state are the case's."""
    c, journal = end.case, end.journal
    wrong: dict[str, Any] = {}
    faults = [r for r in journal if r["event"] == "fault"]
    node = None if c.fault.node == "step" else c.fault.node
    if not any(r.get("status") == "injected" and r.get("kind") == c.fault.kind and r.get("step") == c.fault.step
               and node in (None, r.get("node")) for r in faults):
        wrong["fault never made"] = faults
    if failed_faults := [r for r in faults if r.get("status") == "failed"]:
        wrong["fault not made or not undone"] = failed_faults
    if end.outcome != c.end:
        wrong["outcome"] = {"expected": c.end.value, "got": end.outcome.value}
    runs = [r for r in journal if r["event"] == "run"]
    last = runs[-1] if runs else {}
    if last.get("status") != "finished" or last.get("outcome") != c.end.value:
        wrong["journal's last run record"] = last
    failed = [r for r in journal if r["event"] == "step" and r.get("status") == "failed"]
    if [r["step"] for r in failed] != ([c.failed] if c.failed else []):
        wrong["failed steps"] = {"expected": [c.failed] if c.failed else [], "got": [r["step"] for r in failed]}
    elif c.names and c.names not in str(failed[0].get("reason", "")):
        wrong["failed step's reason"] = {"must name": c.names, "got": failed[0].get("reason")}
    if end.after != c.after:
        wrong["nodes afterwards"] = {"expected": c.after, "got": end.after}
    return Verdict(not wrong, {"wrong": wrong, "outcome": end.outcome.value, "reason": last.get("reason", "")})
