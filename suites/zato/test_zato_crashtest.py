"""Executor-crash conformance of the Zato restart (1 server, process backend): the executor SIGKILLed at
kill points inside and between steps, then resumed, ends as an uninterrupted run does — the same
checkouts and running versions, and each component started and stopped as many times (its own log).

CI budget: one reference run, every kill point in chains (each resumed executor killed at the next
point), and a sample of kill points (one of each kind) on fresh stand-ins each; ``harness crashtest
examples/...`` or ``bench/crashtest.py`` exercises every point of larger plans.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.crashtest import Reference, chain, exercise, reference
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy, pytest.mark.xdist_group("zato-crashtest")]
PLAN = "procedure: zato-restart\nready_timeout: 30\nstandins: {product: zato, servers: 1, backend: process}\n"
SAMPLE = ["step:stop@server1:after-start", "step:start@server1:cmd-1", "step:start@server1:after-action",
          "step:start@load-balancer:after-done"]


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_backend_runs("process")
    path = tmp_path_factory.mktemp("crash") / "zato-restart.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture(scope="module")
def ref(plan_file: Path) -> Reference:
    return reference(plan_file, plan_file.parent / "work")


def test_every_step_boundary_and_command_is_a_kill_point(ref: Reference, plan_file: Path) -> None:
    from harness.engine.session import PlanSession

    per_step = {p.rsplit(":", 1)[0] for p in ref.points}
    assert per_step == {f"step:{s.id}" for s in PlanSession(plan_file).planned_steps()}, "every step, no other"
    for step in per_step:
        marks = [p.rsplit(":", 1)[1] for p in ref.points if p.rsplit(":", 1)[0] == step]
        assert marks[:2] == ["before-start", "after-start"] and marks[-2:] == ["after-action", "after-done"]
        assert any(m.startswith("cmd-") for m in marks), f"{step} ran no remote command?"
    assert set(SAMPLE) <= set(ref.points)


@pytest.mark.parametrize("point", SAMPLE)
def test_killed_executor_resumes_to_the_same_end(point: str, plan_file: Path, ref: Reference) -> None:
    res = exercise(plan_file, point, ref, plan_file.parent / "work")
    assert res.reached, f"the executor did not die at {point}"
    assert res.survived, "\n".join(res.problems)


def test_every_kill_point_survives_in_chains(plan_file: Path, ref: Reference) -> None:
    results = chain(plan_file, ref.points, ref, plan_file.parent / "work")
    assert [r.point for r in results] == ref.points
    failed = {r.point: r.problems for r in results if not r.survived}
    assert not failed, failed
    assert all(r.exit_code == ref.exit_code for r in results)
