"""Executor-crash conformance of the Canopsis regular update 4.4.0 → 4.6.1 (the single node and its RabbitMQ,
process backend): the executor SIGKILLed at every kill point, inside and between steps, in chains (each
resumed executor killed at the next point), then resumed to the end, ends as an uninterrupted run does —
installed and running versions, configuration and package state — and the nodes record no step done twice:
each package transaction, migration and engine or API start and stop (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

import pytest

from harness.crashtest import CrashCase
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canopsis-crashtest")]
PLAN = """\
procedure: canopsis-update
standins: {product: canopsis, backend: process, version: "4.4.0", edition: core}
params: {to: "4.6.1", broadcast_minutes: 30, guides_followed: [migration-4.5.0, migration-4.6.0]}
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "canopsis-update.yaml", PLAN)


def test_every_step_has_its_kill_points_and_the_nodes_record_what_they_did(case: CrashCase) -> None:
    assert not (problems := case.shape_problems()), "\n".join(problems)
    updates = {k: v for k, v in case.ref.applied.items() if k.startswith("package update")}
    assert updates and set(updates.values()) == {1}, case.ref.applied


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures()), "\n".join(failures)
