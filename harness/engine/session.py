"""One plan file, driven end to end: resolve its inventory (or bring up its own stand-ins), create the
run, execute, tear down. Shared by the ``harness`` CLI and the pytest plugin so both behave alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.engine.runner import Run, plan_steps
from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.errors import PlanError, Stale
from harness.plan.loader import load_inventory, load_plan
from harness.plan.models import Inventory, Plan

Teardown = Literal["always", "never", "on-success"]


def runs_dir() -> Path:
    return Path(os.environ.get("HARNESS_RUNS_DIR", ".harness/runs"))


def standins_dir() -> Path:
    return Path(os.environ.get("HARNESS_STANDINS_DIR", ".harness/standins"))


@dataclass
class PlanSession:
    plan_path: Path
    target: Path | None = None
    teardown: Teardown = "always"
    plan: Plan = field(init=False)
    inventory: Inventory | None = field(default=None, init=False)
    run: Run | None = field(default=None, init=False)
    owns_standins: bool = field(default=False, init=False)
    #: the step ids of a reviewed plan (``harness run reviewed.json``): the run must have exactly these
    expect_steps: list[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.plan = load_plan(self.plan_path)
        if self.target is None and self.plan.target:
            self.target = (self.plan_path.parent / self.plan.target).resolve()
        if self.target is None and self.plan.standins is None:
            raise PlanError("the plan names no target and asks for no stand-ins", file=str(self.plan_path),
                            field="target", hint="add `standins: {product: NAME, ...}` to the plan (`harness "
                            "products` lists them), or give an inventory with --target FILE (as `harness "
                            "standins up` writes)")


    # --- without touching anything ------------------------------------------------------------
    def planned_inventory(self) -> Inventory:
        if self.target is not None:
            return load_inventory(self.target)
        from harness import standins

        assert self.plan.standins is not None
        return standins.planned_inventory(self.plan.standins, standins_dir() / "<new>", name="<new>")

    def planned_steps(self) -> list[Step]:
        return plan_steps(self.plan, self.planned_inventory(), plan_file=str(self.plan_path))

    # --- for real ------------------------------------------------------------------------------
    def setup(self) -> Run:
        """Resolve the inventory (starting stand-ins if the plan asks), create the run and take the lease."""
        if self.target is not None:
            self.inventory = load_inventory(self.target)  # Run.create validates the steps before any change
        else:
            from harness import standins

            assert self.plan.standins is not None
            plan_steps(self.plan, self.planned_inventory(), plan_file=str(self.plan_path))
            name = standins.new_env_name(self.plan.standins.product)
            self.inventory = standins.up(self.plan.standins, standins_dir() / name, name=name)
            self.owns_standins = True
        self.run = Run.create(self.plan, self.inventory, runs_dir(), owns_standins=self.owns_standins,
                              plan_file=str(self.plan_path))
        if self.expect_steps is not None and [s.id for s in self.run.steps] != self.expect_steps:
            raise Stale(f"the steps of {self.plan_path} are not the reviewed ones any more: "
                        f"{[s.id for s in self.run.steps]} != {self.expect_steps}; nothing was run")
        self.run.begin()
        return self.run

    def execute(self) -> Outcome:
        assert self.run is not None
        return self.run.run_forward()

    def close(self, outcome: Outcome | None) -> None:
        if self.owns_standins and self.inventory:
            teardown_owned(self.inventory, self.teardown, outcome)


def teardown_owned(inventory: Inventory, teardown: Teardown, outcome: Outcome | None) -> None:
    """Remove stand-ins a run started for itself, as ``--teardown`` says (also after ``harness resume``)."""
    if teardown == "always" or (teardown == "on-success" and outcome == Outcome.SUCCESS):
        from harness import standins

        standins.down(inventory)
