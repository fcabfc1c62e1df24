"""The runner on a fake procedure: outcomes, journal, rollback, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.engine.lock import LeaseLock
from harness.engine.runner import Run, plan_steps
from harness.engine.status import Outcome
from harness.engine.step import Gate, Step, StepStatus
from harness.errors import CommandFailed, GateTimeout, LockHeld, RefusedError, StepFailed, TransportError
from harness.plan.models import Plan
from harness.testing import FakeAction, FakeGate, abandon, fake_actions, fake_inventory, fake_procedure

STEPS = [
    Step("a@host1", "host1", "fake.do", compensation="fake.undo", description="change the host"),
    Step("b@server1", "server1", "fake.do", gate=Gate("fake.ready", 0.2), compensation="fake.undo"),
    Step("c@server2", "server2", "fake.do", gate=Gate("fake.ready", 0.2), compensation="fake.undo"),
]
IDS = [s.id for s in STEPS]


def fail_on(step_id: str, exc: BaseException, times: int = 1_000):
    """A ``raises`` callable: raise ``exc`` the first ``times`` runs of ``step_id``."""
    seen: list[str] = []

    def raises(ctx):
        if ctx.step.id == step_id:
            seen.append(step_id)
            if len(seen) <= times:
                return exc
        return None

    return raises


@dataclass
class Fakes:
    do: FakeAction
    undo: FakeAction
    ready: FakeGate
    runs_dir: Path

    def plan(self, **kw: object) -> Plan:
        return Plan(procedure="fake-proc", target="inv.yaml", **kw)  # type: ignore[arg-type]

    def create(self, **kw: object) -> Run:
        return Run.create(self.plan(**kw), fake_inventory(), self.runs_dir)

    def execute(self, **kw: object) -> Run:
        run = self.create(**kw)
        run.begin()
        run.run_forward()
        return run


@pytest.fixture
def fakes(isolated_dirs: Path) -> Iterator[Fakes]:
    f = Fakes(FakeAction(), FakeAction(), FakeGate(), isolated_dirs / "runs")
    with fake_procedure("fake-proc", STEPS), \
            fake_actions({"fake.do": f.do, "fake.undo": f.undo}, {"fake.ready": f.ready}):
        yield f


def finished(run: Run, event: str = "step") -> list[tuple[str, str]]:
    return [(r["step"], r["status"]) for r in run.journal_records()
            if r["event"] == event and r["status"] != "started"]


def run_events(run: Run) -> list[str]:
    return [r["status"] for r in run.journal_records() if r["event"] == "run"]


def test_all_ok_succeeds_and_the_journal_equals_the_planned_steps(fakes: Fakes) -> None:
    run = fakes.execute()
    assert run.outcome == Outcome.SUCCESS
    dry_run = [s.id for s in plan_steps(fakes.plan(), fake_inventory())]
    assert dry_run == IDS
    assert [sid for sid, _ in finished(run)] == dry_run
    assert {st for _, st in finished(run)} == {"ok"}
    records = run.journal_records()
    assert records[0]["event"] == "run" and records[0]["steps"] == dry_run
    assert records[-1] == {**records[-1], "event": "run", "status": "finished", "outcome": "success"}
    # every step is journaled as started before it finishes, and in plan order
    assert [(r["step"], r["status"]) for r in records if r["event"] == "step"] == \
        [(sid, st) for sid in IDS for st in ("started", "ok")]
    assert fakes.do.ran == IDS and fakes.ready.polls == 2
    assert json.loads((run.run_dir / "steps.json").read_text()) == [s.to_dict() for s in STEPS]


def test_the_lease_is_held_during_the_run_and_released_at_the_end(fakes: Fakes) -> None:
    seen: list[str | None] = []

    def look(ctx):
        lease = LeaseLock.for_inventory(fake_inventory(), "someone-else").current()
        seen.append(lease.holder if lease else None)

    fakes.do.observe = lambda ctx: look(ctx) or {}
    run = fakes.execute()
    assert seen == [run.run_id] * 3
    assert LeaseLock.for_inventory(fake_inventory(), "x").current() is None


def test_a_skip_check_skips_with_its_reason_journaled(fakes: Fakes) -> None:
    fakes.do.skip = lambda ctx: "already done" if ctx.step.id == "b@server1" else None
    run = fakes.execute()
    assert run.outcome == Outcome.SUCCESS
    assert finished(run) == [("a@host1", "ok"), ("b@server1", "skipped"), ("c@server2", "ok")]
    rec = next(r for r in run.journal_records() if r["event"] == "step" and r["status"] == "skipped")
    assert rec["reason"] == "already done"
    assert fakes.do.ran == ["a@host1", "c@server2"] and fakes.do.checked == IDS
    assert fakes.ready.polls == 1  # no gate after a skipped step


def test_a_failed_step_rolls_back_in_reverse_with_rollback_auto(fakes: Fakes) -> None:
    fakes.do.raises = fail_on("b@server1", StepFailed("b@server1", "boom"))
    run = fakes.execute()
    assert run.outcome == Outcome.ROLLED_BACK
    assert finished(run) == [("a@host1", "ok"), ("b@server1", "failed")]
    assert finished(run, "rollback_step") == [("undo@b@server1", "ok"), ("undo@a@host1", "ok")]
    assert fakes.do.ran == ["a@host1", "b@server1"]  # c never started
    assert fakes.undo.ran == ["undo@b@server1", "undo@a@host1"]
    rb = [r for r in run.journal_records() if r["event"] == "rollback"]
    assert [r["status"] for r in rb] == ["started", "finished"]
    assert rb[0]["steps"] == ["undo@b@server1", "undo@a@host1"]
    end = run.journal_records()[-1]
    assert end["outcome"] == "rolled_back" and "b@server1" in end["reason"] and "boom" in end["reason"]


def test_the_rollback_sees_what_each_step_observed(fakes: Fakes) -> None:
    seen: list[list[tuple[str, dict, StepStatus]]] = []

    def rollback(plan, inv, done):
        seen.append([(s.id, obs, status) for s, obs, status in done])
        return []

    fakes.do.observe = lambda ctx: {"before": f"rev-of-{ctx.step.node}"}
    fakes.do.raises = fail_on("b@server1", StepFailed("b@server1", "boom"))
    with fake_procedure("fake-proc", STEPS, rollback_fn=rollback):
        run = fakes.execute()
    assert run.outcome == Outcome.ROLLED_BACK
    assert seen == [[("a@host1", {"before": "rev-of-host1"}, StepStatus.OK),
                     ("b@server1", {"before": "rev-of-server1"}, StepStatus.FAILED)]]


def test_rollback_never_stops_failed(fakes: Fakes) -> None:
    fakes.do.raises = fail_on("b@server1", StepFailed("b@server1", "boom"))
    run = fakes.execute(rollback="never")
    assert run.outcome == Outcome.FAILED
    assert fakes.undo.ran == []
    assert not [r for r in run.journal_records() if r["event"].startswith("rollback")]


def test_a_failing_rollback_step_makes_the_run_indeterminate(fakes: Fakes) -> None:
    fakes.do.raises = fail_on("b@server1", StepFailed("b@server1", "boom"))
    fakes.undo.raises = fail_on("undo@b@server1", CommandFailed("fake://", ["undo"], 1, "", "no"))
    run = fakes.execute()
    assert run.outcome == Outcome.INDETERMINATE
    assert finished(run, "rollback_step") == [("undo@b@server1", "failed")]
    assert fakes.undo.ran == ["undo@b@server1"]  # stops at the first rollback failure
    assert [r["status"] for r in run.journal_records() if r["event"] == "rollback"] == ["started", "failed"]


@pytest.mark.parametrize(("exc", "status", "outcome"), [
    (StepFailed("b@server1", "boom"), "failed", Outcome.FAILED),
    (CommandFailed("fake://", ["zato", "stop"], 1, "", "err"), "failed", Outcome.FAILED),
    (GateTimeout("not ready"), "failed", Outcome.FAILED),
    (TransportError("connection lost"), "indeterminate", Outcome.INDETERMINATE),
    (RefusedError("revision does not exist upstream"), "failed", Outcome.FAILED),  # the product said no
    (KeyError("oops"), "indeterminate", Outcome.INDETERMINATE),
    (ZeroDivisionError("bug"), "indeterminate", Outcome.INDETERMINATE),
])
def test_how_an_exception_classifies_the_step(fakes: Fakes, exc: Exception, status: str,
                                              outcome: Outcome) -> None:
    fakes.do.raises = fail_on("b@server1", exc)
    run = fakes.execute(rollback="never")
    assert finished(run)[-1] == ("b@server1", status)
    assert run.outcome == outcome
    if status == "indeterminate" and not isinstance(exc, TransportError | RefusedError):
        assert type(exc).__name__ in run.records["b@server1"].reason  # a bug names its exception


def test_a_bug_in_a_skip_check_is_never_ok(fakes: Fakes) -> None:
    fakes.do.skip = lambda ctx: {}["missing"] if ctx.step.id == "a@host1" else None
    run = fakes.execute(rollback="never")
    assert finished(run) == [("a@host1", "indeterminate")]
    assert fakes.do.ran == []


def test_a_gate_that_never_opens_fails_the_step_after_its_timeout(fakes: Fakes) -> None:
    fakes.ready.ready = lambda ctx: ctx.step.id != "c@server2"
    run = fakes.execute(rollback="never")
    assert run.outcome == Outcome.FAILED
    assert finished(run)[-1] == ("c@server2", "failed")
    assert "not ready after 0.2s" in run.records["c@server2"].reason
    assert fakes.ready.polls > 3


def test_a_precheck_refusal_changes_nothing_and_is_recorded(fakes: Fakes) -> None:
    def refuse(env, plan):
        raise RefusedError("install dir missing")

    with fake_procedure("fake-proc", STEPS, precheck_fn=refuse):
        run = fakes.create()
        with pytest.raises(RefusedError, match="install dir missing"):
            run.begin()
        assert fakes.do.checked == [] and fakes.do.ran == []
        assert LeaseLock.for_inventory(fake_inventory(), "x").current() is None  # the lease was released
        again = Run.load(run.run_dir)
    # a refused run is over: `harness resume` must not start it without its precheck
    assert again.outcome == Outcome.REFUSED


def test_a_held_lease_refuses_before_anything_is_journaled(fakes: Fakes) -> None:
    with LeaseLock.for_inventory(fake_inventory(), "another-run", ttl=5):
        run = fakes.create()
        with pytest.raises(LockHeld, match="another-run"):
            run.begin()
    assert run.journal_records() == []
    assert fakes.do.checked == []


class Killed(BaseException):
    """Stands for the executor being killed inside an action."""


def test_resume_after_a_kill_reruns_only_the_interrupted_step(fakes: Fakes) -> None:
    def kill_in_b(ctx):
        if ctx.step.id == "b@server1" and fakes.do.ran.count("b@server1") == 1:
            ctx.observation["before"] = "abc123"
            ctx.persist()  # what GitPull does before it changes anything
            return Killed()
        return None

    fakes.do.raises = kill_in_b
    run = fakes.create()
    run.begin()
    with pytest.raises(Killed):
        run.run_forward()
    abandon(run)

    again = Run.load(run.run_dir)
    assert again.outcome is None
    assert {sid: r.status for sid, r in again.records.items()} == {"a@host1": StepStatus.OK}
    assert [s.id for s in again.pending()] == ["b@server1", "c@server2"]
    assert again.observations["b@server1"] == {"before": "abc123"}
    resumed_obs: list[dict] = []
    told: dict[str, bool] = {}
    fakes.do.skip = lambda ctx: told.setdefault(ctx.step.id, ctx.interrupted) and None
    fakes.do.observe = lambda ctx: resumed_obs.append(dict(ctx.observation)) or {}
    again.begin(resumed=True)  # our own dead predecessor's lease is taken over at once
    assert again.run_forward() == Outcome.SUCCESS
    assert fakes.do.ran == ["a@host1", "b@server1", "b@server1", "c@server2"]
    assert resumed_obs[0] == {"before": "abc123"}  # the re-run step starts from what was persisted
    assert told == {"b@server1": True, "c@server2": False}, "the action is told which step was interrupted"
    assert run_events(again) == ["started", "resumed", "finished"]
    # the interrupted step is journaled indeterminate when the run resumes, then re-checked and run
    assert finished(again) == [("a@host1", "ok"), ("b@server1", "indeterminate"), ("b@server1", "ok"),
                               ("c@server2", "ok")]
    assert Run.load(run.run_dir).outcome == Outcome.SUCCESS


def test_resume_during_rollback_continues_the_rollback(fakes: Fakes) -> None:
    fakes.do.raises = fail_on("c@server2", StepFailed("c@server2", "boom"))
    fakes.undo.raises = fail_on("undo@b@server1", Killed(), times=1)
    run = fakes.create()
    run.begin()
    with pytest.raises(Killed):
        run.run_forward()
    abandon(run)

    again = Run.load(run.run_dir)
    assert again.rolling_back() and again.outcome is None
    again.begin(resumed=True)
    assert again.roll_back("resumed rollback") == Outcome.ROLLED_BACK
    # undo@c finished before the kill and is not redone; undo@b was interrupted and is
    assert fakes.undo.ran == ["undo@c@server2", "undo@b@server1", "undo@b@server1", "undo@a@host1"]
    assert fakes.do.ran == IDS


_KILLED_EXECUTOR = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    from harness.engine.runner import Run
    from harness.engine.step import Step
    from harness.testing import FakeAction, FakeGate, fake_actions, fake_procedure

    run_dir = Path(sys.argv[1])
    steps = [Step.from_dict(d) for d in json.loads((run_dir / "steps.json").read_text())]

    def kill_in_b(ctx):
        with open(run_dir / "child-ran.txt", "a") as f:
            f.write(ctx.step.id + "\\n")
        if ctx.step.id == "b@server1":
            os.kill(os.getpid(), signal.SIGKILL)

    with fake_procedure("fake-proc", steps), \\
            fake_actions({"fake.do": FakeAction(raises=kill_in_b)}, {"fake.ready": FakeGate()}):
        run = Run.load(run_dir, require_started=False)
        run.begin()
        run.run_forward()
""")


def test_resume_after_a_real_sigkill(fakes: Fakes) -> None:
    run = fakes.create(lock_ttl=30)
    child = subprocess.run([sys.executable, "-c", _KILLED_EXECUTOR, str(run.run_dir)], check=False,
                           env={**os.environ}, capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stderr
    assert (run.run_dir / "child-ran.txt").read_text().split() == ["a@host1", "b@server1"]
    lease = LeaseLock.for_inventory(fake_inventory(), "x").current()
    assert lease is not None and lease.holder == run.run_id  # the dead executor's lease is still there

    again = Run.load(run.run_dir)
    assert [s.id for s in again.pending()] == ["b@server1", "c@server2"]
    again.begin(resumed=True)  # no waiting for the 30 s TTL: the holder is this run and its pid is dead
    assert again.run_forward() == Outcome.SUCCESS
    assert fakes.do.ran == ["b@server1", "c@server2"]
    # the interrupted step is journaled indeterminate when the run resumes, then re-checked and run
    assert finished(again) == [("a@host1", "ok"), ("b@server1", "indeterminate"), ("b@server1", "ok"),
                               ("c@server2", "ok")]


def test_loading_a_finished_run_reports_its_outcome(fakes: Fakes) -> None:
    fakes.do.raises = fail_on("a@host1", StepFailed("a@host1", "boom"))
    run = fakes.execute(rollback="never")
    loaded = Run.load(run.run_dir)
    assert loaded.outcome == Outcome.FAILED
    assert loaded.records["a@host1"].status == StepStatus.FAILED
    assert loaded.records["a@host1"].reason == "step a@host1: boom"
    assert loaded.plan == run.plan and loaded.inventory == run.inventory and loaded.steps == run.steps


def test_load_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="not a run directory"):
        Run.load(tmp_path)


def test_listeners_see_every_transition(fakes: Fakes) -> None:
    seen: list[tuple[str, str, str]] = []
    run = fakes.create()
    run.listeners.append(lambda kind, step, status, reason: seen.append((kind, step.id, status)))
    run.begin()
    run.run_forward()
    assert seen == [("step", sid, st) for sid in IDS for st in ("started", "ok")]


def test_step_round_trips_through_its_dict() -> None:
    assert [Step.from_dict(s.to_dict()) for s in STEPS] == STEPS
    assert "[gate: fake.ready, ≤0.2s]" in STEPS[1].describe()
