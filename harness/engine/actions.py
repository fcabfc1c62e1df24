"""Action and gate registries: step ``action``/``gate.kind`` names resolved through explicit dicts.

Values are ``module:attribute`` strings imported on first use, so the engine does not import every
product's code (or the docker SDK) to run one procedure.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import ConfigError

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


class Action(Protocol):
    def skip(self, ctx: StepContext) -> str | None:
        """Why the step has nothing to do (it is already done), or None to run it."""

    def run(self, ctx: StepContext) -> None:
        """Do the work; record what was observed in ``ctx.observation``; raise StepFailed on failure."""


class GateCheck(Protocol):
    def __call__(self, ctx: StepContext, gate: Gate) -> None: ...


ACTIONS: dict[str, str] = {
    "git.pull": "harness.products.zato.actions:GitPull",
    "git.reset": "harness.products.zato.actions:GitReset",
    "zato.install": "harness.products.zato.actions:UpdateSh",
    "zato.stop": "harness.products.zato.actions:ZatoStop",
    "zato.start": "harness.products.zato.actions:ZatoStart",
    "canopsis.broadcast": "harness.products.canopsis.actions:Broadcast",
    "canopsis.release_note": "harness.products.canopsis.actions:ReleaseNote",
    "canopsis.stop": "harness.products.canopsis.actions:Stop",
    "canopsis.packages": "harness.products.canopsis.actions:Packages",
    "canopsis.downgrade": "harness.products.canopsis.actions:Downgrade",
    "canopsis.canopsinit": "harness.products.canopsis.actions:Canopsinit",
    "canopsis.reconfigure": "harness.products.canopsis.actions:Reconfigure",
    "canopsis.config_restore": "harness.products.canopsis.actions:ConfigRestore",
    "canopsis.daemon_reload": "harness.products.canopsis.actions:DaemonReload",
    "canopsis.restart": "harness.products.canopsis.actions:Restart",
    "canopsis.verify": "harness.products.canopsis.actions:Verify",
    "canopsis.compose_files": "harness.products.canopsis.actions:ComposeFiles",
    "canopsis.compose_restore": "harness.products.canopsis.actions:ComposeRestore",
    "canopsis.compose_up": "harness.products.canopsis.actions:ComposeUp",
    "zato.hot_deploy": "harness.products.zato.deploy:HotDeploy",
    "zato.invoke": "harness.products.zato.deploy:Invoke",
    "zato.put_files": "harness.products.zato.deploy:PutFiles",
    "zato.restore_files": "harness.products.zato.deploy:RestoreFiles",
    "beam.upload": "harness.products.patch.actions:Upload",
    "beam.check": "harness.products.patch.actions:Check",
    "beam.capture": "harness.products.patch.actions:Capture",
    "beam.apply": "harness.products.patch.actions:Apply",
    "beam.verify": "harness.products.patch.actions:Verify",
    "beam.delete": "harness.products.patch.actions:Delete",
    "beam.restore": "harness.products.patch.actions:Restore",
    "otp.unpack": "harness.products.otp.actions:Unpack",
    "otp.check": "harness.products.otp.actions:CheckInstall",
    "otp.install": "harness.products.otp.actions:Install",
    "otp.permanent": "harness.products.otp.actions:MakePermanent",
    "otp.remove": "harness.products.otp.actions:Remove",
}

GATES: dict[str, str] = {
    "zato.ready": "harness.products.zato.actions:component_ready",
    "canopsis.ready": "harness.products.canopsis.actions:ready",
    "otp.running": "harness.products.otp.actions:running",
    "zato.deployed": "harness.products.zato.deploy:deployed",
}


def _resolve(table: dict[str, str], name: str, what: str) -> Any:
    try:
        module, _, attr = table[name].partition(":")
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}", hint=f"known: {', '.join(sorted(table))}") from None
    return getattr(importlib.import_module(module), attr)


def action(name: str) -> Action:
    obj: Action = _resolve(ACTIONS, name, "action")()
    return obj


def gate(name: str) -> GateCheck:
    fn: GateCheck = _resolve(GATES, name, "gate")
    return fn


def check_registered(steps: list[Step]) -> None:
    """Refuse a plan whose steps name an unknown action or gate before anything runs."""
    for s in steps:
        _resolve(ACTIONS, s.action, "action")
        if s.gate:
            _resolve(GATES, s.gate.kind, "gate")
