"""A plan's ``faults:`` fire at their step — before its action, after its N-th command, after it — on the
node named or the one the step acts on, are journaled, and are undone when the run ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.errors import ConfigError
from harness.faults import Faults
from harness.plan.models import FaultSpec, Inventory, Plan
from harness.testing import FakeAction, fake_actions, fake_procedure
from tests.core.faults.conftest import ToyStandin, pid_of, state_of

STEPS = [Step("one@web-a", "web-a", "toy.look"), Step("two@web-b", "web-b", "toy.look"),
         Step("three@web-a", "web-a", "toy.look")]


def live(inv: Inventory, comp: str) -> str:
    """S for a live process (running or sleeping: which one is the scheduler's business), T stopped, Z/"" gone."""
    st = state_of(pid_of(inv, comp))
    return "S" if st in ("R", "S", "D") else st


def look(inv: Inventory) -> Any:
    """The action: two remote commands, the state of both web servers seen before each."""
    def observe(ctx: Any) -> dict[str, list[str]]:
        seen = []
        for _ in range(2):
            seen.append(f"{live(inv, 'web-a')}{live(inv, 'web-b')}")
            ctx.env.node(ctx.step.node).host.transport.run(["true"]).check()
        return {"seen": seen}
    return observe


def run_with(inv: Inventory, st: ToyStandin, tmp_path: Path, *specs: FaultSpec) -> tuple[Run, Faults]:
    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.look": FakeAction(observe=look(inv))}):
        run = Run.create(Plan(procedure="toy-proc", target="inv.yaml"), inv, tmp_path / "runs")
        faults = Faults(inv, hooks=st)
        faults.tie(run, *specs)
        run.begin()
        assert run.run_forward() == Outcome.SUCCESS
    return run, faults


@pytest.mark.parametrize(("at", "seen_two", "seen_three"), [
    ("before", ["ST", "ST"], ["ST", "ST"]),   # paused before the action of step two: both its commands see it
    ("during", ["SS", "ST"], ["ST", "ST"]),   # after its first command
    ("after", ["SS", "SS"], ["ST", "ST"]),    # once it ended
])
def test_pause_at_a_step_on_the_node_it_acts_on(toy: tuple[ToyStandin, Inventory], tmp_path: Path, at: str,
                                                 seen_two: list[str], seen_three: list[str]) -> None:
    st, inv = toy
    run, faults = run_with(inv, st, tmp_path, FaultSpec(kind="pause", step="two@web-b", at=at))  # type: ignore[arg-type]
    seen = {s: run.observations[s]["seen"] for s in ("one@web-a", "two@web-b", "three@web-a")}
    assert seen == {"one@web-a": ["SS", "SS"], "two@web-b": seen_two, "three@web-a": seen_three}
    journaled = [r for r in run.journal_records() if r["event"] == "fault"]
    assert [(r["status"], r["kind"], r["node"], r["step"]) for r in journaled] == \
        [("injected", "pause", "web-b", "two@web-b")]
    faults.close()
    assert live(inv, "web-b") == "S"


def test_undo_at_step_end_on_a_named_node(toy: tuple[ToyStandin, Inventory], tmp_path: Path) -> None:
    st, inv = toy
    run, faults = run_with(inv, st, tmp_path, FaultSpec(kind="pause", step="two@web-b", node="web-a",
                                                        undo="step-end"))
    assert run.observations["two@web-b"]["seen"] == ["TS", "TS"]
    assert run.observations["three@web-a"]["seen"] == ["SS", "SS"], "continued once step two ended"
    assert [r["status"] for r in run.journal_records() if r["event"] == "fault"] == ["injected", "undone"]
    faults.close()


def test_a_plans_faults_are_undone_when_the_run_ends(toy: tuple[ToyStandin, Inventory], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    st, inv = toy
    monkeypatch.setattr("harness.standins.standin", lambda product: st)  # the toy is no registered product
    plan = Plan(procedure="toy-proc", target="inv.yaml",
                faults=[FaultSpec(kind="kill", step="one@web-a", at="during", command=2)])
    before = pid_of(inv, "web-a")
    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.look": FakeAction(observe=look(inv))}):
        run = Run.create(plan, inv, tmp_path / "runs")
        run.begin()
        assert run.run_forward() == Outcome.SUCCESS
    assert run.observations["one@web-a"]["seen"] == ["SS", "SS"], "killed after the second command"
    assert run.observations["three@web-a"]["seen"][0][0] in ("", "Z") or \
        pid_of(inv, "web-a") != before, "web-a was down for step three"
    assert pid_of(inv, "web-a") != before and live(inv, "web-a") == "S", "started again at the end"


def test_a_fault_naming_an_unknown_step_or_node_is_refused_before_anything_runs(
        toy: tuple[ToyStandin, Inventory], tmp_path: Path) -> None:
    st, inv = toy
    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.look": FakeAction()}):
        run = Run.create(Plan(procedure="toy-proc", target="inv.yaml"), inv, tmp_path / "runs")
        with pytest.raises(ConfigError, match="step 'four'") as e:
            Faults(inv, hooks=st).tie(run, FaultSpec(kind="kill", step="four"))
        assert e.value.field == "faults[0].step"
        with pytest.raises(ConfigError, match="web-z") as e:
            Faults(inv, hooks=st).tie(run, FaultSpec(kind="kill", step="one@web-a", node="web-z"))
        assert e.value.field == "faults[0].node"


def test_link_faults_on_process_standins_need_their_proxies() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="proxies: true"):
        Plan.model_validate({"procedure": "p", "standins": {"product": "zato"},
                             "faults": [{"kind": "cut", "step": "s"}]})
    with pytest.raises(ValidationError, match="delay_ms"):
        FaultSpec(kind="slow", step="s")


def test_a_fault_during_a_step_with_too_few_commands_is_an_error_at_close(toy: tuple[ToyStandin, Inventory],
                                                                           tmp_path: Path) -> None:
    from harness.faults import FaultError

    st, inv = toy
    _run, faults = run_with(inv, st, tmp_path, FaultSpec(kind="pause", step="two@web-b", at="during", command=3))
    with pytest.raises(FaultError, match="never fired: the step ran fewer remote commands than 3"):
        faults.close()
    assert live(inv, "web-b") == "S"
