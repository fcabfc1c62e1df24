"""A step's gate started by its action (``ctx.gate_early()``) runs beside the rest of the action: the step
needs both; a failed action stops the gate at once; the journal says how much of the wait ran beside it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Gate, Step
from harness.errors import StepFailed
from harness.plan.models import Plan
from harness.testing import FakeAction, FakeGate, fake_actions, fake_inventory, fake_procedure


def _run(tmp: Path, action: FakeAction, gate: FakeGate, timeout: float = 5.0) -> Run:
    steps = [Step("start@server1", "server1", "fake.start", gate=Gate("fake.ready", timeout))]
    with fake_procedure("fake-early", steps), fake_actions({"fake.start": action}, {"fake.ready": gate}):
        run = Run.create(Plan(procedure="fake-early", target="inv.yaml"), fake_inventory(), tmp / "runs")
        run.begin()
        run.run_forward()
        return run


def _done(run: Run) -> dict:
    return next(r for r in run.journal_records() if r["event"] == "step" and r["status"] != "started")


def test_the_gate_runs_while_the_action_goes_on(tmp_path: Path) -> None:
    polled = threading.Event()
    gate = FakeGate(ready=lambda ctx: polled.set() or True)

    def start(ctx):  # a command that returns only once the gate has looked: it cannot if the gate comes after
        ctx.gate_early()
        if not polled.wait(5):
            return StepFailed(ctx.step.id, "the gate did not poll while the action ran")
        time.sleep(0.3)  # the rest of the command, after the component is ready
        return None

    run = _run(tmp_path, FakeAction(raises=start), gate)
    assert run.outcome == Outcome.SUCCESS, _done(run)["reason"]
    obs = _done(run)["observation"]
    assert obs["gate_early_s"] >= 0.3 and obs["gate_s"] >= obs["gate_early_s"]
    assert gate.polls == 1  # not asked again after the action


def test_the_step_waits_for_a_gate_that_opens_after_the_action(tmp_path: Path) -> None:
    opens = time.monotonic() + 0.5

    def start(ctx):
        ctx.gate_early()

    run = _run(tmp_path, FakeAction(raises=start), FakeGate(ready=lambda ctx: time.monotonic() >= opens))
    assert run.outcome == Outcome.SUCCESS
    obs = _done(run)["observation"]
    assert obs["gate_s"] >= 0.45 and obs["gate_early_s"] < 0.2


def test_a_failed_action_stops_the_gate_and_is_the_steps_error(tmp_path: Path) -> None:
    gate = FakeGate(ready=False)

    def start(ctx):
        ctx.gate_early()
        time.sleep(0.2)
        return StepFailed(ctx.step.id, "`zato start` exit 18")

    t0 = time.monotonic()
    run = _run(tmp_path, FakeAction(raises=start), gate, timeout=30)
    took = time.monotonic() - t0
    assert run.outcome != Outcome.SUCCESS
    rec = _done(run)
    assert rec["status"] == "failed" and "exit 18" in rec["reason"] and "not ready" not in rec["reason"]
    assert took < 10, f"the gate went on to its 30 s timeout ({took:.1f} s)"
    polls = gate.polls
    time.sleep(0.1)
    assert gate.polls == polls  # nothing polls after the step ended


def test_a_gate_the_action_did_not_start_runs_after_it(tmp_path: Path) -> None:
    acted: list[float] = []
    polled: list[float] = []

    def ready(ctx):
        polled.append(time.monotonic())
        return True

    run = _run(tmp_path, FakeAction(raises=lambda ctx: acted.append(time.monotonic())), FakeGate(ready=ready))
    assert run.outcome == Outcome.SUCCESS
    assert polled and polled[0] >= acted[0]
    assert "gate_early_s" not in _done(run)["observation"] and "gate_s" in _done(run)["observation"]
