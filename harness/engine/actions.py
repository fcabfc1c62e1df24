"""The Action and Gate protocols and the context a step runs in.

Step ``action``/``gate.kind`` names are resolved through the product registry (:mod:`harness.registry`):
each product declares its own, imported on first use. This module imports no registry: it is what the
registry, the runner and every product build on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.engine.step import Gate, Step
    from harness.environment import Environment
    from harness.plan.models import Plan


@dataclass
class StepContext:
    env: Environment
    plan: Plan
    step: Step
    observations: dict[str, dict[str, Any]]
    observation: dict[str, Any] = field(default_factory=dict)
    #: write ``observation`` to the journal now (e.g. the commit before a pull, needed by a rollback)
    persist: Callable[[], None] = lambda: None
    #: an earlier executor started this step and died before it ended: the action must look at the node
    #: (its skip check) before doing it again, even where it would otherwise always act (a forced restart)
    interrupted: bool = False
    #: start the step's gate now, in a thread of its own, while the action goes on (its long command): the
    #: runner then joins it after the action instead of starting it; a failed action stops it. For an action
    #: whose command outlasts the readiness it awaits (``zato start`` watches its stderr 1.2 s)
    gate_early: Callable[[], None] = lambda: None


class Action(Protocol):
    def skip(self, ctx: StepContext) -> str | None:
        """Why the step has nothing to do (it is already done), or None to run it."""

    def run(self, ctx: StepContext) -> None:
        """Do the work; record what was observed in ``ctx.observation``; raise StepFailed on failure."""


class GateCheck(Protocol):
    def __call__(self, ctx: StepContext, gate: Gate) -> None: ...
