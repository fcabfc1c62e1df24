"""Mutants of the Canopsis regular update: each breaks exactly one rule of ``rules-canopsis-update.yaml``.

Executor mutants are procedure variants: step-list transforms of the shipped PROCEDURE, and
:data:`MAJOR_JUMP_LET_THROUGH`, the shipped procedure whose every call (planning, precheck, preflight,
rollback) sees a ``versions.check_update`` without its major check, swapped in for the length of the call
(in the mutant's process only); the product mutant is a stand-in variant
(:data:`ENGINES_DROP_PREVIOUS_RELEASE_EVENTS`) whose node runs ``mutant_engine_v2.py`` as its engines.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.engine.step import Step
from harness.plan.models import Inventory, Plan
from harness.products.canopsis import versions
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


def _moved(steps: list[Step], actions: tuple[str, ...], before: str) -> list[Step]:
    """``steps`` with those of ``actions`` taken out and put back, in their order, just before ``before``'s."""
    moved = [s for s in steps if s.action in actions]
    out = [s for s in steps if s not in moved]
    i = next((i for i, s in enumerate(out) if s.action == before), None)
    return steps if i is None else out[:i] + moved + out[i:]


def _canopsinit_after_reconfigure(steps: list[Step]) -> list[Step]:
    return _moved(steps, ("canopsis.reconfigure",), "canopsis.canopsinit")


def _restart_before_canopsinit(steps: list[Step]) -> list[Step]:
    return _moved(steps, ("canopsis.daemon_reload", "canopsis.restart"), "canopsis.canopsinit")


SKIP_A_RELEASE_NOTE = _mutate(_skip_middle_note)
RELEASE_NOTES_REVERSED = _mutate(_notes_reversed)
RECONFIGURE_BEFORE_PACKAGES = _mutate(_reconfigure_before_packages)
CANOPSINIT_AFTER_RECONFIGURE = _mutate(_canopsinit_after_reconfigure)
RESTART_BEFORE_CANOPSINIT = _mutate(_restart_before_canopsinit)

_check_update = versions.check_update


def _check_update_across_majors(available: Iterable[str], current: str, target: str) -> list[str]:
    """:func:`versions.check_update` without its major check: every other refusal (unknown version, downgrade)
    stays; a pair on two majors gets the versions between them."""
    try:
        return _check_update(available, current, target)
    except versions.VersionError:
        a, b = versions.parse(current), versions.parse(target)
        known = sorted({versions.parse(v) for v in available})
        if a.line == b.line or a not in known or b not in known or b < a:
            raise
        return [str(v) for v in known if a < v <= b]


@contextlib.contextmanager
def _majors_unchecked() -> Iterator[None]:
    versions.check_update = _check_update_across_majors
    try:
        yield
    finally:
        versions.check_update = _check_update


def _across_majors(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        with _majors_unchecked():
            return fn(*args)

    return call


# planning, precheck, preflight and rollback of the shipped procedure, with a version check blind to the major
MAJOR_JUMP_LET_THROUGH = dataclasses.replace(
    PROCEDURE, steps=_across_majors(PROCEDURE.steps), precheck=_across_majors(PROCEDURE.precheck),
    preflight=_across_majors(PROCEDURE.preflight), rollback=_across_majors(PROCEDURE.rollback))


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
