"""Executor-crash conformance of the Zato update (3 servers, process backend): the executor SIGKILLed at every
kill point of the run — each step boundary and each remote command, the parallel code-update stage's six lanes
included — in chains, then resumed, ends as an uninterrupted run does: the same checkouts and running
versions, and each component started and stopped as many times as its own log says it was
(``Standin.applied``).

CI budget: one reference run and every one of the 172 points in chains, two lanes at once (724 s in one lane,
about 370 s in two on an idle 2-core machine: the longest test of the suite otherwise, it would end CI's run
alone); ``python bench/crashtest.py --jobs 2`` measures the same enumeration.
"""

from __future__ import annotations

import pytest

from harness.crashtest import CrashCase, lanes_of
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy, pytest.mark.xdist_group("zato-update-crashtest")]
PLAN = ("procedure: zato-update\nparams: {revision: 3.2.1}\nready_timeout: 30\n"
        "standins: {product: zato, servers: 3, backend: process}\n")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "zato-update.yaml", PLAN)


def test_every_step_and_every_lane_of_the_code_update_has_its_kill_points(case: CrashCase) -> None:
    assert not (problems := case.shape_problems(commands=True)), "\n".join(problems)
    lanes = {node for _, node in lanes_of(case.plan_file).values()}
    assert len(lanes) == 6, lanes  # web-admin, 3 servers, load balancer, scheduler: one code update each
    in_stage = [p for p in case.ref.points if p.split(":")[1].split("@")[-1] in lanes]
    assert len(in_stage) >= 6 * 2 * 5, in_stage  # pull and install on each, 5 points at least each


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures(jobs=2)), "\n".join(failures)
