"""What every crash suite asserts of its plan, in one place (:mod:`harness.crashtest`): the shape of the kill
points a reference run reached (:func:`point_shape_problems`) and the judgement of a chain
(:func:`chain_failures`), each passing on a right record and naming what is wrong in a wrong one. A fake
procedure plans the steps; nothing is started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import crashtest
from harness.crashtest import CrashCase, PointResult, Reference, chain_failures, point_shape_problems
from harness.engine.step import Step
from harness.testing import FakeAction, fake_actions, fake_inventory, fake_procedure

STEPS = [Step("a@server1", "server1", "fake.do"), Step("b@server2", "server2", "fake.do")]
MARKS = [*crashtest.STEP_OPENS, "cmd-1", "cmd-2", *crashtest.STEP_CLOSES]
#: what an uninterrupted run of STEPS records (tests/core/faults/test_crashpoints.py records it for real)
POINTS = [f"step:{s.id}:{m}" for s in STEPS for m in MARKS]


@pytest.fixture
def plan_file(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(fake_inventory().model_dump(mode="json")))
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": FakeAction()}):
        yield path


def ref(points: list[str], exit_code: int = 0) -> Reference:
    return Reference(points, exit_code, {}, {}, 0.0)


def test_the_kill_points_of_an_uninterrupted_run_have_the_shape(plan_file: Path) -> None:
    assert point_shape_problems(ref(POINTS), plan_file) == []
    assert point_shape_problems(ref(POINTS), plan_file, commands=True) == []


def test_two_steps_running_side_by_side_interleave_their_points_and_keep_the_shape(plan_file: Path) -> None:
    a, b = POINTS[:6], POINTS[6:]
    assert point_shape_problems(ref([x for pair in zip(a, b, strict=True) for x in pair]), plan_file,
                                commands=True) == []


def wrong(step: str, *marks: str) -> str:
    return (f"step:{step}: kill points {', '.join(marks)}; a step's points open with before-start, after-start "
            "and close with after-action, after-done")


@pytest.mark.parametrize(("points", "expected"), [
    (POINTS[:6], ["step:b@server2: planned, but no kill point reached in it"]),
    ([*POINTS, "step:c@server3:before-start"], ["step:c@server3: kill points of no planned step: before-start"]),
    ([p for p in POINTS if not p.endswith(":before-start")],
     [wrong("a@server1", *MARKS[1:]), wrong("b@server2", *MARKS[1:])]),
    ([p for p in POINTS if p != "step:b@server2:after-done"], [wrong("b@server2", *MARKS[:-1])]),
    ([*POINTS[:4], POINTS[5], POINTS[4], *POINTS[6:]],  # after-done before after-action
     [wrong("a@server1", *MARKS[:4], MARKS[5], MARKS[4])]),
    ([], ["step:a@server1: planned, but no kill point reached in it",
          "step:b@server2: planned, but no kill point reached in it"]),
], ids=["a-step-without-points", "a-step-not-planned", "no-before-start", "no-after-done", "closes-out-of-order",
        "no-points"])
def test_a_wrong_shape_is_named_step_by_step(plan_file: Path, points: list[str], expected: list[str]) -> None:
    assert point_shape_problems(ref(points), plan_file) == expected


def test_a_step_without_a_command_point_fails_only_when_commands_are_asked_for(plan_file: Path) -> None:
    points = [p for p in POINTS if not p.startswith("step:b@server2:cmd-")]
    assert point_shape_problems(ref(points), plan_file) == []
    assert point_shape_problems(ref(points), plan_file, commands=True) == [
        "step:b@server2: no cmd-N kill point (it ran no remote command?): before-start, after-start, after-action, "
        "after-done"]


# ---- chain_failures ------------------------------------------------------------------------------

def survived(point: str, exit_code: int = 0) -> PointResult:
    return PointResult(point, reached=True, exit_code=exit_code)


def test_a_chain_where_every_point_survived_has_no_failure() -> None:
    assert chain_failures([survived(p) for p in POINTS], ref(POINTS)) == []


def test_a_failed_point_is_named_with_its_problems_and_its_replay() -> None:
    results = [survived(p) for p in POINTS]
    results[3] = PointResult(POINTS[3], reached=True, exit_code=0, problems=["end state: x: 1, uninterrupted 2"],
                             replay=POINTS[:4])
    results[7] = PointResult(POINTS[7], reached=True, exit_code=0, problems=["a", "b"])
    assert chain_failures(results, ref(POINTS)) == [
        f"{POINTS[3]} (reached; replay: {', '.join(POINTS[:4])}): end state: x: 1, uninterrupted 2",
        f"{POINTS[7]} (reached; replay: {POINTS[7]}): a; b"]


def test_a_point_not_reached_is_a_failure_even_without_problems() -> None:
    results = [survived(p) for p in POINTS]
    results[0] = PointResult(POINTS[0], reached=False, exit_code=0)
    assert chain_failures(results, ref(POINTS)) == [f"{POINTS[0]} (NOT REACHED; replay: {POINTS[0]}): "]


def test_an_executor_that_ended_otherwise_than_the_reference_is_a_failure() -> None:
    results = [survived(p) for p in POINTS]
    results[2] = survived(POINTS[2], exit_code=1)
    assert chain_failures(results, ref(POINTS)) == [f"{POINTS[2]}: the executor ended 1, the uninterrupted run 0"]
    assert chain_failures([survived(p, 2) for p in POINTS], ref(POINTS, exit_code=2)) == []


@pytest.mark.parametrize("results", [[survived(p) for p in POINTS[:-1]], [survived(p) for p in reversed(POINTS)],
                                     []], ids=["one-missing", "out-of-order", "none"])
def test_results_that_are_not_one_for_each_point_in_order_fail(results: list[PointResult]) -> None:
    failures = chain_failures(results, ref(POINTS))
    assert len(failures) == 1 and failures[0].startswith("results for ") and "not one for each point" in failures[0]


# ---- CrashCase: one fixture's worth (a plan with stand-ins, planned only; each chain's run replaced by a rule) --

def test_a_crash_case_judges_its_plan_and_chains_every_point_of_its_reference(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[list[str]] = []
    bad = POINTS[4]

    def once(plan_path: Path, group: list[str], reference: Any, workdir: Path,
             timeout: float) -> tuple[list[str], int | None, list[str]]:
        given.append(group)
        assert plan_path == plan and workdir == tmp_path / "work"
        return group, 0, (["end state differs"] if bad in group else [])

    monkeypatch.setattr(crashtest, "_chain_once", once)
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\nstandins: {product: zato, servers: 1, backend: process}\n")
    case = CrashCase(plan, ref(POINTS))
    assert case.workdir == tmp_path / "work"
    problems = case.shape_problems()
    assert "step:stop@web-admin: planned, but no kill point reached in it" in problems, problems
    assert f"step:a@server1: kill points of no planned step: {', '.join(MARKS)}" in problems, problems
    assert case.chain_failures() == [f"{bad} (reached; replay: {bad}): end state differs"]
    assert given[0] == POINTS, "one chain over every point first"


def test_a_crash_case_writes_its_plan_and_runs_it_uninterrupted_once(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path, Path]] = []

    def reference(plan_file: Path, workdir: Path) -> Reference:
        calls.append((plan_file, workdir))
        return ref(POINTS)

    monkeypatch.setattr(crashtest, "reference", reference)
    case = CrashCase.run(tmp_path / "p.yaml", "procedure: x\n")
    assert (tmp_path / "p.yaml").read_text() == "procedure: x\n"
    assert calls == [(tmp_path / "p.yaml", tmp_path / "work")] and case.ref.points == POINTS
