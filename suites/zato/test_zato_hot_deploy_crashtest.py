"""Executor-crash conformance of the Zato hot deploy (3 servers, process backend): the executor SIGKILLed at
every kill point, inside and between steps, in chains (each resumed executor killed at the next point), then
resumed to the end, ends as an uninterrupted run does — the same checkouts and running versions — and the
nodes record no step done twice: each component started and stopped as many times and each package uploaded as
many times (its own log) (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

import pytest

from harness import resources
from harness.crashtest import CrashCase
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy, pytest.mark.xdist_group("zato-hot-deploy-crashtest")]
PLAN = """\
procedure: zato-hot-deploy
ready_timeout: 30
standins: {product: zato, servers: 3, backend: process}
params:
  method: pickup
  files: ["{services}/hello.py"]
  invoke: {demo.hello: {name: Joe}}
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "zato-hot-deploy.yaml",
                         PLAN.replace("{services}", str(resources.examples() / "services")))


def test_every_step_has_its_kill_points_and_the_nodes_record_what_they_did(case: CrashCase) -> None:
    assert not (problems := case.shape_problems()), "\n".join(problems)
    uploads = {k: v for k, v in case.ref.applied.items() if k.endswith("uploaded_package") and v}
    assert uploads and set(uploads.values()) == {1}, case.ref.applied


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures()), "\n".join(failures)
