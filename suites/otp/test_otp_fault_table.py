"""The OTP release upgrade (release_handler) under faults tied to its steps, on real BEAM nodes (2 nodes,
process backend, rolling): a table of cases, each with the end it must have, judged on what the nodes
report (``which_releases``), not on the journal.

The case that matters: a node that dies between ``install_release`` and ``make_permanent`` boots again
on the *permanent* (old) release — the new one was only ``current`` — so ``make_permanent`` cannot
succeed there and the run must roll back, leaving every node on the old release.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import FaultSpec, Inventory, Plan, StandinsSpec
from harness.products.otp.node import node_client
from harness.products.otp.standin.release import erlang_available
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]


@dataclass(frozen=True)
class Case:
    fault: FaultSpec
    end: Outcome
    failed_step: str | None
    #: the release every node runs, and has permanent, afterwards
    release: str


CASES = {
    # killed after install_release, started again at once (undo at the end of that step): it boots 1.0
    "node-killed-between-install-and-permanent": Case(
        FaultSpec(kind="kill", step="install@node1", at="after", undo="step-end"),
        Outcome.ROLLED_BACK, "permanent@node1", "1.0"),
    # killed after make_permanent: it boots the new permanent release and the run goes on
    "node-killed-after-permanent": Case(
        FaultSpec(kind="kill", step="permanent@node1", at="after", undo="step-end"),
        Outcome.SUCCESS, None, "1.1"),
}


@pytest.fixture
def otp(tmp_path: Path) -> Iterator[Inventory]:
    skip_unless_backend_runs("process")
    spec = StandinsSpec.model_validate({"product": "otp", "nodes": 2, "version": "1.0"})
    name = standins.new_env_name("otp")
    inv = standins.up(spec, tmp_path / name, name=name)
    yield inv
    standins.down(inv)


@pytest.mark.parametrize("case", list(CASES))
def test_upgrade_under_fault(case: str, otp: Inventory, fault, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = CASES[case]
    run = Run.create(Plan(procedure="otp-release-upgrade", params={"release": "1.1"}, ready_timeout=30), otp,
                     tmp_path / "runs")
    faults = fault(otp)
    tied = faults.tie(run, c.fault)
    run.begin()
    outcome = run.run_forward()
    assert tied.fired, faults.history
    assert outcome == c.end, run.journal_records()[-1]
    failed = [r["step"] for r in run.journal_records() if r["event"] == "step" and r["status"] == "failed"]
    assert failed == ([c.failed_step] if c.failed_step else []), failed
    faults.close()
    for comp in otp.components:
        client = node_client(otp, comp.name)
        try:
            info = client.info()
            assert info.permanent == c.release, (comp.name, info.releases)
            assert info.current == c.release, (comp.name, info.releases)
        finally:
            client.transport.close()
