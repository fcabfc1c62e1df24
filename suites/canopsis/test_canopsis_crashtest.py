"""Executor-crash conformance of the Canopsis regular update 4.4.0 → 4.6.1 (the single node and its RabbitMQ,
process backend): the executor SIGKILLed at every kill point, inside and between steps, in chains (each
resumed executor killed at the next point), then resumed to the end, ends as an uninterrupted run does —
installed and running versions, configuration and package state — and the nodes record no step done twice:
each package transaction, migration and engine or API start and stop (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.crashtest import Reference, chain, reference
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canopsis-crashtest")]
PLAN = """\
procedure: canopsis-update
standins: {product: canopsis, backend: process, version: "4.4.0", edition: core}
params: {to: "4.6.1", broadcast_minutes: 30, guides_followed: [migration-4.5.0, migration-4.6.0]}
"""


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_backend_runs("process")
    path = tmp_path_factory.mktemp("crash") / "canopsis-update.yaml"
    path.write_text(PLAN)
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
    updates = {k: v for k, v in ref.applied.items() if k.startswith("package update")}
    assert updates and set(updates.values()) == {1}, ref.applied


def test_every_kill_point_survives_in_chains(plan_file: Path, ref: Reference) -> None:
    results = chain(plan_file, ref.points, ref, plan_file.parent / "work")
    assert [r.point for r in results] == ref.points
    failed = {r.point: r.problems for r in results if not r.survived}
    assert not failed, "\n".join(f"{p} (replay: {', '.join(r.replay) or p}): {'; '.join(pr)}"
                                  for r in results if not r.survived for p, pr in [(r.point, r.problems)])
    assert all(r.exit_code == ref.exit_code for r in results)
