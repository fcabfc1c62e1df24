"""Executor-crash conformance of the Zato restart (1 server, process backend): the executor SIGKILLed at
kill points inside and between steps, then resumed, ends as an uninterrupted run does — the same
checkouts and running versions, and each component started and stopped as many times (its own log).

CI budget: one reference run, every kill point in chains (each resumed executor killed at the next
point), and a sample of kill points (one of each kind) on fresh stand-ins each; ``harness crashtest
examples/...`` or ``bench/crashtest.py`` exercises every point of larger plans.
"""

from __future__ import annotations

import pytest

from harness.crashtest import CrashCase
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy, pytest.mark.xdist_group("zato-crashtest")]
PLAN = "procedure: zato-restart\nready_timeout: 30\nstandins: {product: zato, servers: 1, backend: process}\n"
SAMPLE = ["step:stop@server1:after-start", "step:start@server1:cmd-1", "step:start@server1:after-action",
          "step:start@load-balancer:after-done"]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "zato-restart.yaml", PLAN)


def test_every_step_boundary_and_command_is_a_kill_point(case: CrashCase) -> None:
    assert not (problems := case.shape_problems(commands=True)), "\n".join(problems)
    assert set(SAMPLE) <= set(case.ref.points)


@pytest.mark.parametrize("point", SAMPLE)
def test_killed_executor_resumes_to_the_same_end(point: str, case: CrashCase) -> None:
    res = case.exercise(point)
    assert res.reached, f"the executor did not die at {point}"
    assert res.survived, "\n".join(res.problems)


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures()), "\n".join(failures)
