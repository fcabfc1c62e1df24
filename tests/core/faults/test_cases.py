"""Fault tables' engine (:mod:`harness.faults.cases`): a case run on real processes, its end judged from the
journal and from what ``observe`` reads on the nodes once every fault was undone; any part that differs
fails the case, naming it; a judge that crashes says unknown, never pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.errors import StepFailed
from harness.faults.cases import CaseEnd, FaultCase, judge, run_case
from harness.plan.models import FaultSpec, Inventory, Plan
from harness.testing import FakeAction, fake_actions, fake_procedure
from tests.core.faults.conftest import ToyStandin, pid_of, state_of

STEPS = [Step("one@web-a", "web-a", "toy.serve"), Step("two@web-b", "web-b", "toy.serve")]
KILLED = FaultSpec(kind="kill", step="two@web-b", at="before")


def alive(inv: Inventory) -> dict[str, bool]:
    return {c: state_of(pid_of(inv, c)) in ("R", "S", "D") for c in ("web-a", "web-b")}


def _run(toy: tuple[ToyStandin, Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         case: FaultCase) -> CaseEnd:
    st, inv = toy
    monkeypatch.setattr("harness.standins.standin", lambda product: st)  # the toy is no registered product

    def down(ctx: Any) -> BaseException | None:  # the step fails when its node does not run
        return None if alive(inv)[ctx.step.node] else StepFailed(ctx.step.id, f"{ctx.step.node} is not running")

    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.serve": FakeAction(raises=down)}):
        return run_case(case, Plan(procedure="toy-proc", target="inv.yaml"), inv, tmp_path / "runs", observe=alive)


def test_a_case_whose_end_is_recorded_passes(toy: tuple[ToyStandin, Inventory], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case = FaultCase(KILLED, Outcome.ROLLED_BACK, "two@web-b", "web-b", after={"web-a": True, "web-b": True})
    end = _run(toy, tmp_path, monkeypatch, case)
    assert end.verdict, end.verdict.explain()
    assert end.run.plan.faults == [KILLED], "the fault is the plan's own"
    assert [r["status"] for r in end.journal if r["event"] == "fault"] == ["injected"]


def test_every_part_of_an_end_that_differs_is_named(toy: tuple[ToyStandin, Inventory], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    case = FaultCase(KILLED, Outcome.SUCCESS, after={"web-a": True, "web-b": False})
    v = _run(toy, tmp_path, monkeypatch, case).verdict
    assert v.valid is False
    wrong = v.details["wrong"]
    assert set(wrong) == {"outcome", "journal's last run record", "failed steps", "nodes afterwards"}, wrong
    assert wrong["failed steps"] == {"expected": [], "got": ["two@web-b"]}
    assert wrong["nodes afterwards"]["got"] == {"web-a": True, "web-b": True}, "web-b was started again"


def _end(journal: list[dict[str, Any]], **case: Any) -> CaseEnd:
    c = FaultCase(**{"fault": FaultSpec(kind="pause", step="s", node="n"), "end": Outcome.SUCCESS, **case})
    return CaseEnd(c, None, Outcome.SUCCESS, journal, None)  # type: ignore[arg-type]


DONE = {"event": "run", "status": "finished", "outcome": "success"}
MADE = {"event": "fault", "status": "injected", "kind": "pause", "step": "s", "node": "n"}


@pytest.mark.parametrize(("journal", "case", "wrong"), [
    ([DONE], {}, "fault never made"),
    ([{**MADE, "node": "m"}, DONE], {}, "fault never made"),
    ([MADE, DONE, {"event": "fault", "status": "failed", "reason": "undo: pause on n"}], {},
     "fault not made or not undone"),
    ([MADE, {"event": "step", "step": "s", "status": "failed", "reason": "gate timed out"}, DONE],
     {"failed": "s", "names": "n"}, "failed step's reason"),
    ([MADE, {**DONE, "outcome": "failed"}], {}, "journal's last run record"),
])
def test_the_judge_reads_the_journal(journal: list[dict[str, Any]], case: dict[str, Any], wrong: str) -> None:
    v = judge(_end(journal, **case))
    assert v.valid is False and list(v.details["wrong"]) == [wrong], v.explain()
    assert judge(_end([MADE, DONE])).valid is True


def test_a_judge_that_crashes_says_unknown() -> None:
    assert judge(_end([{"no event": "at all"}])).valid == "unknown"
