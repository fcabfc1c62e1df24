"""The hot patch (runbook seeds/003) under faults tied to its steps, on real BEAM nodes (3 nodes,
process backend): a table of cases with the end each must have, judged on what the nodes report
through their agents (loaded modules' md5s) and on the journal (:mod:`harness.faults.cases`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.engine.status import Outcome
from harness.faults.cases import FaultCase, run_case
from harness.plan.models import FaultSpec, Inventory, Plan
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available, start_beam, variant
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]
SRC = {p.stem: p for p in SOURCES.glob("*/src/*.erl")}
MODULES = ["core_util", "core_counter"]
#: what every node loads afterwards, module by module: the patch, or the code it ran before
PATCHED, AS_BEFORE = "the patch", "the code it ran before"

CASES = {
    # a worker node killed as the patch is applied (and started again once the apply step ended): the
    # node reports no status, the integral is below not_changed, and the anti-patch restores every node
    "worker-killed-during-apply": FaultCase(FaultSpec(kind="kill", step="apply@master", node="w1", at="before",
                                                      undo="step-end"),
                                            Outcome.ROLLED_BACK, "apply@master", after=AS_BEFORE),
    # a worker killed after the patch is applied, started again at once: the patch is on its disk and
    # loaded at boot, so verify passes on every node
    "worker-killed-after-apply": FaultCase(FaultSpec(kind="kill", step="apply@master", node="w1", at="after",
                                                     undo="step-end"), Outcome.SUCCESS, after=PATCHED),
}


@pytest.fixture
def beam(tmp_path: Path) -> Iterator[BeamEnv]:
    skip_unless_backend_runs("process")
    env = start_beam("process", tmp_path / "beam", nodes=3)
    try:
        yield env
    finally:
        standins.down(env.inventory)


@pytest.mark.parametrize("case", CASES)
def test_patch_under_fault(case: str, beam: BeamEnv, tmp_path: Path) -> None:
    before = beam.md5s(MODULES)

    def loaded(inv: Inventory) -> object:  # the md5s the nodes' agents report, against those before
        now = beam.md5s(MODULES)
        got = {(n, m): PATCHED if now[n][m] != before[n][m] else AS_BEFORE for n in beam.names for m in MODULES}
        every = set(got.values())
        return every.pop() if len(every) == 1 else got

    tag = secrets.token_hex(3)
    d = tmp_path / "src"
    sources = [f"{SRC[m].parent.parent.name}:{variant(SRC[m], d, tag)}" for m in MODULES]
    plan = Plan(procedure="beam-patch", params={"version": "2.7.1", "sources": sources})
    end = run_case(CASES[case], plan, beam.inventory, tmp_path / "runs", observe=loaded)
    assert end.verdict, end.verdict.explain()
