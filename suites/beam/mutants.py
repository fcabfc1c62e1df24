"""Mutants of the BEAM hot patch: each breaks exactly one rule of ``rules-beam-patch.yaml``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.engine.actions import StepContext
from harness.engine.procedure import Done
from harness.engine.step import Step
from harness.plan.models import Inventory, Plan
from harness.products.beam import actions
from harness.products.beam.procedure import PROCEDURE
from harness.products.beam.standin import BeamStandin


def _keep_archive(plan: Plan, params: Any, inv: Inventory) -> list[Step]:
    return [s for s in PROCEDURE.steps(plan, params, inv) if s.action != "beam.delete"]


def _no_precheck(env: Any, plan: Plan, params: Any) -> None:
    return None


def _rollback_without_anti_patch(plan: Plan, params: Any, inv: Inventory, done: Done) -> list[Step]:
    return [s for s in PROCEDURE.rollback(plan, params, inv, done) if s.action != "beam.restore"]


KEEP_ARCHIVE = dataclasses.replace(PROCEDURE, steps=_keep_archive)
APPLY_DESPITE_CHECK = dataclasses.replace(PROCEDURE, precheck=_no_precheck)
ROLLBACK_WITHOUT_ANTI_PATCH = dataclasses.replace(PROCEDURE, rollback=_rollback_without_anti_patch)


class CheckNeverRefuses(actions.Check):
    """The check step records the integral status but applies whatever it is."""

    def run(self, ctx: StepContext) -> None:
        dom = actions._domain(ctx)
        result = dom.client().check()
        ctx.observation.update({"integral": int(result.integral),
                                "nodes": actions.node_table(result, actions._names(dom))})


# --- product mutants ----------------------------------------------------------------------------------------

class MixedVersionStandin(BeamStandin):
    """The system whose nodes tell each other which core_util code they run, and whose counters crash on a
    domain that runs two versions of it (``mixed_version/``): the window a patch of core_util opens."""

    def sources(self) -> dict[str, bytes]:
        mutant = {f"core/src/{p.name}": p.read_bytes() for p in (Path(__file__).parent / "mixed_version").glob("*.erl")}
        assert set(mutant) <= set(super().sources()), mutant
        return {**super().sources(), **mutant}


MIXED_VERSION_PEERS = MixedVersionStandin()
