"""Executor-crash conformance of the OTP release upgrade 1.0 → 1.1 (3 nodes, rolling, process backend): the
executor SIGKILLed at every kill point, inside and between steps, in chains (each resumed executor killed at
the next point), then resumed to the end, ends as an uninterrupted run does — every node's releases and their
statuses, the running applications — and the nodes record no step done twice: each unpack, install,
make_permanent and remove release_handler did on each node (``Standin.applied``).

CI budget: one reference run and every kill point in chains (a failing chain is halved down to the point);
``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

import pytest

from harness.crashtest import CrashCase
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
def case(tmp_path_factory: pytest.TempPathFactory) -> CrashCase:
    skip_unless_backend_runs("process")
    return CrashCase.run(tmp_path_factory.mktemp("crash") / "otp-release-upgrade.yaml", PLAN)


def test_every_step_has_its_kill_points_and_the_nodes_record_what_they_did(case: CrashCase) -> None:
    assert not (problems := case.shape_problems()), "\n".join(problems)
    for n in ("node1", "node2", "node3"):
        for call in ("unpack_release counter-1.1", "install_release 1.1", "make_permanent 1.1"):
            assert case.ref.applied.get(f"{n} {call} ok") == 1, case.ref.applied


def test_every_kill_point_survives_in_chains(case: CrashCase) -> None:
    assert not (failures := case.chain_failures()), "\n".join(failures)
