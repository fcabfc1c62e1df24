"""Round trips: upgrade → rollback → upgrade, with node-state snapshots compared.

``before`` (A), after the upgrade (B), after its rollback (C), after the upgrade again (D): the
rollback must give back exactly A (C == A) and the second upgrade exactly B (D == B). The snapshot is
the product's :meth:`~harness.standins.Standin.digest` unless one is given — versions, deployed services
and their hashes, loaded modules' md5s, config files, release statuses: read from the nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import Verdict, checker
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import Inventory, Plan

__all__ = ["RoundTrip", "round_trip"]

Snapshot = Callable[[Inventory], dict[str, Any]]


@dataclass
class RoundTrip:
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  #: A, B, C, D
    outcomes: dict[str, Outcome] = field(default_factory=dict)  #: upgrade, rollback, again

    @property
    def verdict(self) -> Verdict:
        return _judge(self)


@checker("round trip")
def _judge(rt: RoundTrip) -> Verdict:
    wrong = {k: v.value for k, v in rt.outcomes.items()
             if v != (Outcome.ROLLED_BACK if k == "rollback" else Outcome.SUCCESS)}
    s = rt.snapshots
    back = {k: (s["A"].get(k), s["C"].get(k)) for k in set(s["A"]) | set(s["C"]) if s["A"].get(k) != s["C"].get(k)}
    again = {k: (s["B"].get(k), s["D"].get(k)) for k in set(s["B"]) | set(s["D"]) if s["B"].get(k) != s["D"].get(k)}
    changed = s["A"] != s["B"]
    return Verdict(not wrong and not back and not again and changed,
                   {"outcomes": wrong, "rollback_differs_from_before": back, "second_upgrade_differs": again,
                    "upgrade_changed_something": changed})


def round_trip(plan: Plan, inventory: Inventory, runs_dir: Path, *, snapshot: Snapshot | None = None) -> RoundTrip:
    """Run ``plan``, roll it back, run it again; the snapshots and outcomes (judge with ``.verdict``)."""
    if snapshot is None:
        from harness import standins

        snapshot = standins.standin(inventory.product).digest
    rt = RoundTrip()
    rt.snapshots["A"] = snapshot(inventory)
    first = _run(plan, inventory, runs_dir)
    rt.outcomes["upgrade"] = first.outcome or Outcome.INDETERMINATE
    rt.snapshots["B"] = snapshot(inventory)
    back = Run.load(first.run_dir)
    back.begin(resumed=True)
    rt.outcomes["rollback"] = back.roll_back("round trip")
    rt.snapshots["C"] = snapshot(inventory)
    rt.outcomes["again"] = _run(plan, inventory, runs_dir).outcome or Outcome.INDETERMINATE
    rt.snapshots["D"] = snapshot(inventory)
    return rt


def _run(plan: Plan, inventory: Inventory, runs_dir: Path) -> Run:
    run = Run.create(plan, inventory, runs_dir)
    run.begin()
    run.run_forward()
    return run
