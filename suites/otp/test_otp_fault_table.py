"""The OTP release upgrade (release_handler) under faults tied to its steps, on real BEAM nodes (2 nodes,
process backend, rolling): a table of cases, each with the end it must have, judged on what the nodes
report (``which_releases``) and on the journal (:mod:`harness.faults.cases`).

The case that matters: a node that dies between ``install_release`` and ``make_permanent`` boots again
on the *permanent* (old) release — the new one was only ``current`` — so ``make_permanent`` cannot
succeed there and the run must roll back, leaving every node on the old release.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.engine.status import Outcome
from harness.faults.cases import FaultCase, run_case
from harness.plan.models import FaultSpec, Inventory, Plan, StandinsSpec
from harness.products.otp.node import node_client
from harness.products.otp.standin.release import erlang_available
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]


def on(release: str) -> dict[str, list[str]]:
    """Every node runs ``release`` (current) and has it permanent."""
    return {"permanent": [release], "current": [release]}


CASES = {
    # killed after install_release, started again at once (undo at the end of that step): it boots 1.0
    "node-killed-between-install-and-permanent": FaultCase(
        FaultSpec(kind="kill", step="install@node1", at="after", undo="step-end"),
        Outcome.ROLLED_BACK, "permanent@node1", after=on("1.0")),
    # killed after make_permanent: it boots the new permanent release and the run goes on
    "node-killed-after-permanent": FaultCase(
        FaultSpec(kind="kill", step="permanent@node1", at="after", undo="step-end"),
        Outcome.SUCCESS, after=on("1.1")),
}


@pytest.fixture
def otp(tmp_path: Path) -> Iterator[Inventory]:
    skip_unless_backend_runs("process")
    spec = StandinsSpec.model_validate({"product": "otp", "nodes": 2, "version": "1.0"})
    name = standins.new_env_name("otp")
    inv = standins.up(spec, tmp_path / name, name=name)
    yield inv
    standins.down(inv)


def releases(inv: Inventory) -> dict[str, list[str]]:
    """The permanent and current releases the nodes report (``release_handler:which_releases``)."""
    seen: dict[str, set[str]] = {"permanent": set(), "current": set()}
    for comp in inv.components:
        client = node_client(inv, comp.name)
        try:
            info = client.info()
            seen["permanent"].add(str(info.permanent))
            seen["current"].add(str(info.current))
        finally:
            client.transport.close()
    return {k: sorted(v) for k, v in seen.items()}


@pytest.mark.parametrize("case", CASES)
def test_upgrade_under_fault(case: str, otp: Inventory, tmp_path: Path) -> None:
    plan = Plan(procedure="otp-release-upgrade", params={"release": "1.1"}, ready_timeout=30)
    end = run_case(CASES[case], plan, otp, tmp_path / "runs", observe=releases)
    assert end.verdict, end.verdict.explain()
