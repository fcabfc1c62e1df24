"""Mutants of the Canopsis regular update: each breaks exactly one rule of ``rules-canopsis-update.yaml``.

Executor mutants are procedure variants; the product mutant is a stand-in variant
(:data:`ENGINES_DROP_PREVIOUS_RELEASE_EVENTS`) whose node runs ``mutant_engine_v2.py`` as its engines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.engine.step import Step
from harness.plan.models import Inventory, Plan
from harness.products.canopsis.procedure import PROCEDURE
from harness.products.canopsis.standin import SOURCE, CanopsisStandin
from harness.products.canopsis.standin.packages import ROOT
from harness.standins import InstallContext


def _mutate(fn: Callable[[list[Step]], list[Step]]) -> Any:
    def steps(plan: Plan, params: Any, inv: Inventory) -> list[Step]:
        return fn(PROCEDURE.steps(plan, params, inv))

    return dataclasses.replace(PROCEDURE, steps=steps)


def _notes(steps: list[Step]) -> list[Step]:
    return [s for s in steps if s.action == "canopsis.release_note"]


def _skip_middle_note(steps: list[Step]) -> list[Step]:
    notes = _notes(steps)
    return [s for s in steps if s is not notes[len(notes) // 2]] if len(notes) > 1 else steps


def _notes_reversed(steps: list[Step]) -> list[Step]:
    notes = iter(reversed(_notes(steps)))
    return [next(notes) if s.action == "canopsis.release_note" else s for s in steps]


def _reconfigure_before_packages(steps: list[Step]) -> list[Step]:
    reconf = [s for s in steps if s.action == "canopsis.reconfigure"]
    out = [s for s in steps if s not in reconf]
    i = next(i for i, s in enumerate(out) if s.action == "canopsis.packages")
    return out[:i] + reconf + out[i:]


SKIP_A_RELEASE_NOTE = _mutate(_skip_middle_note)
RELEASE_NOTES_REVERSED = _mutate(_notes_reversed)
RECONFIGURE_BEFORE_PACKAGES = _mutate(_reconfigure_before_packages)


class _EnginesDropPreviousReleaseEvents(CanopsisStandin):
    """The packages installation, with engines that from 4.6.0 cannot read what an older engine queued
    (``mutant_engine_v2.py``): put on the node after it is installed, read by every engine started after."""

    def install(self, ctx: InstallContext) -> Inventory:
        inv = super().install(ctx)
        if ctx.options.install == "packages":
            host = ctx.hosts["node"]
            lib = f"{host.path(ROOT)}/lib/cps_standin"
            host.transport.put(f"{lib}/engine_shipped.py", (SOURCE / "node/lib/cps_standin/engine.py").read_bytes())
            host.transport.put(f"{lib}/engine.py", (Path(__file__).parent / "mutant_engine_v2.py").read_bytes())
        return inv


ENGINES_DROP_PREVIOUS_RELEASE_EVENTS = _EnginesDropPreviousReleaseEvents()
