"""Executor-crash conformance of the BEAM hot patch (3 nodes, process backend): the executor SIGKILLed at every
kill point, inside and between steps, in chains (each resumed executor killed at the next point), then resumed
to the end, ends as an uninterrupted run does — every node's loaded md5s and files under lib — and the nodes
record no step done twice: each module load its patch agent logged (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

import pytest

from harness import resources
from harness.crashtest import CrashCase
from harness.products.beam.testing import erlang_available
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed"),
              pytest.mark.xdist_group("beam-crashtest")]
PLAN = """\
procedure: beam-patch
standins: {product: beam, nodes: 3, backend: process}
params:
  sources: ["core:{src}/core_util.erl", "core:{src}/core_counter.erl"]
  version: "2.7.1"
  name: fix-42
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "beam-patch.yaml",
                         PLAN.replace("{src}", str(resources.containers("beam") / "examples" / "fix-42")))


def test_every_step_has_its_kill_points_and_the_nodes_record_what_they_did(case: CrashCase) -> None:
    assert not (problems := case.shape_problems()), "\n".join(problems)
    # fix-42's core_util is a load on every node (its core_counter the long-lived process's module: not logged
    # by the agent unless it changed); each module once
    applied = case.ref.applied
    assert {k.split()[0] for k in applied} == {"master", "w1", "w2"}, applied
    assert "master fix-42 core_util ok" in applied and set(applied.values()) == {1}, applied


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures()), "\n".join(failures)
