"""Parallel stages: adjacent steps sharing a ``parallel`` key run concurrently, one lane per node."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.engine.actions import StepContext
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Step, stages
from harness.errors import StepFailed
from harness.plan.models import Plan
from harness.testing import FakeAction, fake_actions, fake_inventory, fake_procedure
from harness.wait import wait_until

NODES = ("server1", "server2", "server3")
STAGE = [Step(f"{verb}@{n}", n, "fake.do", parallel="code") for n in NODES for verb in ("pull", "install")]
STEPS = [Step("first@host1", "host1", "fake.do"), *STAGE, Step("last@host1", "host1", "fake.do")]


def test_stages_group_adjacent_steps_by_key_and_node() -> None:
    got = stages(STEPS)
    assert [[[s.id for s in lane] for lane in st] for st in got] == [
        [["first@host1"]],
        [["pull@server1", "install@server1"], ["pull@server2", "install@server2"],
         ["pull@server3", "install@server3"]],
        [["last@host1"]],
    ]
    # the same key after an unrelated step starts a new stage; steps without a key are stages of one
    split = [Step("a", "n1", "x", parallel="k"), Step("b", "n2", "x"), Step("c", "n1", "x", parallel="k")]
    assert [[[s.id for s in ln] for ln in st] for st in stages(split)] == [[["a"]], [["b"]], [["c"]]]


def run_with(do: FakeAction, tmp: Path, **plan: object) -> Run:
    inv = fake_inventory(components=NODES)
    with fake_procedure("stage-proc", STEPS), fake_actions({"fake.do": do}):
        run = Run.create(Plan(procedure="stage-proc", target="inv.yaml", **plan), inv, tmp / "runs")  # type: ignore[arg-type]
        run.begin()
        run.outcome = run.run_forward()  # type: ignore[attr-defined]
    return run


@pytest.fixture
def active() -> Iterator[dict[str, int]]:
    yield {"now": 0, "max": 0}


def counting(active: dict[str, int], overlap: int) -> FakeAction:
    """Each step holds until ``overlap`` steps have been running at once (or 10 s pass: then the fan-out
    never reached it and the test's ``max`` says so), so a loaded machine cannot hide or fake the overlap."""
    cond = threading.Condition()

    def raises(ctx: StepContext) -> None:
        with cond:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
            cond.notify_all()
            if ctx.step.parallel:  # first@/last@ are stages of one: nothing to overlap with
                cond.wait_for(lambda: active["max"] >= overlap, timeout=10)
            active["now"] -= 1
        return None

    return FakeAction(raises=raises)


def test_lanes_run_concurrently_and_keep_their_order(tmp_path: Path) -> None:
    barrier = threading.Barrier(len(NODES), timeout=10)  # breaks (the step fails) unless all 3 pulls overlap

    def raises(ctx: StepContext) -> None:
        if ctx.step.id.startswith("pull@"):
            barrier.wait()
        return None

    run = run_with(FakeAction(raises=raises), tmp_path)
    assert run.outcome == Outcome.SUCCESS  # type: ignore[attr-defined]
    done = [r["step"] for r in run.journal_records() if r["event"] == "step" and r["status"] == "ok"]
    assert sorted(done) == sorted(s.id for s in STEPS)
    assert done[0] == "first@host1" and done[-1] == "last@host1"
    for n in NODES:
        assert done.index(f"pull@{n}") < done.index(f"install@{n}")


def test_parallel_1_runs_one_node_at_a_time(tmp_path: Path, active: dict[str, int]) -> None:
    run = run_with(counting(active, overlap=1), tmp_path, parallel=1)
    assert run.outcome == Outcome.SUCCESS  # type: ignore[attr-defined]
    assert active["max"] == 1
    # steps of one node after the other, the whole stage in file order: one lane after the other
    done = [r["step"] for r in run.journal_records() if r["event"] == "step" and r["status"] == "ok"]
    assert done == [s.id for s in STEPS]


def test_parallel_limit_bounds_the_fan_out(tmp_path: Path, active: dict[str, int]) -> None:
    run = run_with(counting(active, overlap=2), tmp_path, parallel=2)
    assert run.outcome == Outcome.SUCCESS  # type: ignore[attr-defined]
    assert active["max"] == 2


def failed_record(tmp: Path) -> bool:
    return any('"step": "pull@server1"' in line and '"failed"' in line
               for journal in (tmp / "runs").glob("*/journal.jsonl") for line in journal.read_text().splitlines())


def test_a_failed_lane_stops_the_others_before_their_next_step(tmp_path: Path) -> None:
    failed = threading.Event()
    all_started = threading.Barrier(len(NODES), timeout=10)

    def raises(ctx: StepContext) -> BaseException | None:
        if ctx.step.id.startswith("pull@"):
            all_started.wait()  # every lane is inside its first step
        if ctx.step.id == "pull@server1":
            failed.set()
            return StepFailed(ctx.step.id, "pull refused")
        if ctx.step.id.startswith("pull@"):
            failed.wait(10)
            # the failing lane's record is journaled just before it raises the stop flag
            wait_until(lambda: failed_record(tmp_path), timeout=30, what="pull@server1's failed record")
        return None

    do = FakeAction(raises=raises)
    run = run_with(do, tmp_path, rollback="never")
    assert run.outcome == Outcome.FAILED  # type: ignore[attr-defined]
    assert "pull@server2" in do.ran and "pull@server3" in do.ran  # already running: they finish
    assert not [s for s in do.ran if s.startswith("install@") or s == "last@host1"]
    status = {r["step"]: r["status"] for r in run.journal_records() if r["event"] == "step"}
    assert status["pull@server1"] == "failed" and status["pull@server2"] == "ok"
    assert "install@server2" not in status
