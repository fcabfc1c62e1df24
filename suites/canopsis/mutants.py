"""Mutants of the Canopsis regular update: each breaks exactly one rule of ``rules-canopsis-update.yaml``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from harness.engine.step import Step
from harness.plan.models import Inventory, Plan
from harness.products.canopsis.procedure import PROCEDURE


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
