"""The hot patch (runbook seeds/003) under faults tied to its steps, on real BEAM nodes (3 nodes,
process backend): a table of cases with the end each must have, judged on what the nodes report
through their agents (loaded modules' md5s), not on the journal.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import FaultSpec, Plan
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available, start_beam, variant
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]
SRC = {p.stem: p for p in SOURCES.glob("*/src/*.erl")}
MODULES = ["core_util", "core_counter"]


@dataclass(frozen=True)
class Case:
    fault: FaultSpec
    end: Outcome
    failed_step: str | None
    #: the nodes run the patch afterwards (else: the code they ran before)
    patched: bool


CASES = {
    # a worker node killed as the patch is applied (and started again once the apply step ended): the
    # node reports no status, the integral is below not_changed, and the anti-patch restores every node
    "worker-killed-during-apply": Case(FaultSpec(kind="kill", step="apply@master", node="w1", at="before",
                                                 undo="step-end"), Outcome.ROLLED_BACK, "apply@master", False),
    # a worker killed after the patch is applied, started again at once: the patch is on its disk and
    # loaded at boot, so verify passes on every node
    "worker-killed-after-apply": Case(FaultSpec(kind="kill", step="apply@master", node="w1", at="after",
                                                undo="step-end"), Outcome.SUCCESS, None, True),
}


@pytest.fixture
def beam(tmp_path: Path) -> Iterator[BeamEnv]:
    skip_unless_backend_runs("process")
    env = start_beam("process", tmp_path / "beam", nodes=3)
    try:
        yield env
    finally:
        standins.down(env.inventory)


@pytest.mark.parametrize("case", list(CASES))
def test_patch_under_fault(case: str, beam: BeamEnv, fault, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = CASES[case]
    before = beam.md5s(MODULES)
    tag = secrets.token_hex(3)
    d = tmp_path / "src"
    sources = [f"{SRC[m].parent.parent.name}:{variant(SRC[m], d, tag)}" for m in MODULES]
    run = Run.create(Plan(procedure="beam-patch", params={"version": "2.7.1", "sources": sources}),
                     beam.inventory, tmp_path / "runs")
    faults = fault(beam.inventory)
    tied = faults.tie(run, c.fault)
    run.begin()
    outcome = run.run_forward()
    assert tied.fired, faults.history
    assert outcome == c.end, run.journal_records()[-1]
    failed = [r["step"] for r in run.journal_records() if r["event"] == "step" and r["status"] == "failed"]
    assert failed == ([c.failed_step] if c.failed_step else []), failed
    faults.close()
    after = beam.md5s(MODULES)
    for node in beam.names:
        for m in MODULES:
            if c.patched:
                assert after[node][m] != before[node][m], (node, m, "runs the patch")
            else:
                assert after[node][m] == before[node][m], (node, m, "runs what it ran before")
