"""Executor-crash conformance of the BEAM hot patch (3 nodes, process backend): the executor SIGKILLed at every
kill point, inside and between steps, in chains (each resumed executor killed at the next point), then resumed
to the end, ends as an uninterrupted run does — every node's loaded md5s and files under lib — and the nodes
record no step done twice: each module load its patch agent logged (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import resources
from harness.crashtest import Reference, chain, reference
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
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_backend_runs("process")
    path = tmp_path_factory.mktemp("crash") / "beam-patch.yaml"
    path.write_text(PLAN.replace("{src}", str(resources.containers("beam") / "examples" / "fix-42")))
    return path


@pytest.fixture(scope="module")
def ref(plan_file: Path) -> Reference:
    return reference(plan_file, plan_file.parent / "work")


def test_every_step_has_its_kill_points_and_the_nodes_record_what_they_did(ref: Reference, plan_file: Path) -> None:
    from harness.engine.session import PlanSession

    per_step = {p.rsplit(":", 1)[0] for p in ref.points}
    assert per_step == {f"step:{s.id}" for s in PlanSession(plan_file).planned_steps()}, "every step, no other"
    for step in per_step:
        marks = [p.rsplit(":", 1)[1] for p in ref.points if p.rsplit(":", 1)[0] == step]
        assert marks[:2] == ["before-start", "after-start"] and marks[-2:] == ["after-action", "after-done"]
    # fix-42's core_util is a load on every node (its core_counter the long-lived process's module: not logged
    # by the agent unless it changed); each module once
    assert {k.split()[0] for k in ref.applied} == {"master", "w1", "w2"}, ref.applied
    assert "master fix-42 core_util ok" in ref.applied and set(ref.applied.values()) == {1}, ref.applied


def test_every_kill_point_survives_in_chains(plan_file: Path, ref: Reference) -> None:
    results = chain(plan_file, ref.points, ref, plan_file.parent / "work")
    assert [r.point for r in results] == ref.points
    failed = {r.point: r.problems for r in results if not r.survived}
    assert not failed, "\n".join(f"{p} (replay: {', '.join(r.replay) or p}): {'; '.join(pr)}"
                                  for r in results if not r.survived for p, pr in [(r.point, r.problems)])
    assert all(r.exit_code == ref.exit_code for r in results)
