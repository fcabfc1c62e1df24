"""Executor-crash conformance of the OTP release upgrade 1.0 → 1.1 (3 nodes, rolling, process backend): the
executor SIGKILLed at every kill point, inside and between steps, in chains (each resumed executor killed at
the next point), then resumed to the end, ends as an uninterrupted run does — every node's releases and their
statuses, the running applications — and the nodes record no step done twice: each unpack, install,
make_permanent and remove release_handler did on each node (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.crashtest import Reference, chain, reference
from harness.products.otp.standin.release import erlang_available
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)"),
              pytest.mark.xdist_group("otp-crashtest")]
PLAN = """\
procedure: otp-release-upgrade
standins: {product: otp, nodes: 3, backend: process, version: "1.0"}
params: {release: "1.1", mode: rolling}
ready_timeout: 30
"""


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_backend_runs("process")
    path = tmp_path_factory.mktemp("crash") / "otp-release-upgrade.yaml"
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
    for n in ("node1", "node2", "node3"):
        for call in ("unpack_release counter-1.1", "install_release 1.1", "make_permanent 1.1"):
            assert ref.applied.get(f"{n} {call} ok") == 1, ref.applied


def test_every_kill_point_survives_in_chains(plan_file: Path, ref: Reference) -> None:
    results = chain(plan_file, ref.points, ref, plan_file.parent / "work")
    assert [r.point for r in results] == ref.points
    failed = {r.point: r.problems for r in results if not r.survived}
    assert not failed, "\n".join(f"{p} (replay: {', '.join(r.replay) or p}): {'; '.join(pr)}"
                                  for r in results if not r.survived for p, pr in [(r.point, r.problems)])
    assert all(r.exit_code == ref.exit_code for r in results)
