"""The Procedure seam: a runbook as code, with typed parameters and pure step functions.

A procedure is data plus functions, all pure except ``precheck``, ``facts`` and ``preflight`` (which only read)::

    steps(plan, params, inventory) -> [Step]              what the dry-run prints and the journal records
    precheck(env, plan, params) -> None                   read-only; raises RefusedError before any change
    rollback(plan, params, inventory, done) -> [Step]     the compensation sequence, also data
    facts(env, plan, params) -> {node: {fact: value}}     optional, read-only: what the steps were computed
                                                          from (versions, revisions, file hashes)
    preflight(env, plan, params) -> [Check]               optional, read-only: the product's own checks before
                                                          a window (versions, upgrade path, load balancer)

``facts`` is what a reviewed plan (``harness plan --out FILE``) saves and ``harness run FILE`` reads again
before any lock or change: any difference refuses the run (:class:`harness.errors.Stale`). It is given an
environment whose transports refuse every command outside the read-only allowlist and every write, and in
which a product's own node clients refuse their writing requests
(:func:`harness.transports.readonly.environment`), so a facts function cannot change a node.

``preflight`` is called by ``harness preflight`` after its generic checks (reachable, account, commands,
disk, lease, plan), through the same read-only transports; each :class:`Check` names its node and, when it
fails, the fix. It reports what it finds rather than raising: a :class:`harness.errors.HarnessError` it
raises anyway becomes one failing check (the run is not ready), never a traceback.

``params`` is an instance of the procedure's ``Params`` model (pydantic), validated in one place
(:func:`harness.plan.params.validate`) before any of these is called, so a procedure never checks
for unknown or wrong-typed parameters itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.engine.step import Step, StepStatus
    from harness.environment import Environment
    from harness.plan.models import Inventory, Plan

#: what a procedure's ``facts`` returns: node -> fact -> value (a version, a revision, a sha256)
Facts = dict[str, dict[str, str]]

#: what a rollback is told about the run: each step that ended, what it observed, how it ended
Done = list[tuple["Step", dict[str, Any], "StepStatus"]]


@dataclass
class Check:
    """One preflight check: what was checked, on which node, whether it passed, what was seen, and (when it
    failed) what to do about it. ``harness preflight --json`` prints these fields as they are."""

    name: str
    node: str
    ok: bool
    detail: str = ""
    fix: str = ""


class Params(BaseModel):
    """Base of every procedure's parameters: unknown keys refused, no silent coercion (``3.2`` is not a
    string, ``"30"`` is not a number), immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoParams(Params):
    """A procedure that takes no parameters."""


def _no_precheck(env: Environment, plan: Plan, params: Any) -> None:
    return None


def _no_facts(env: Environment, plan: Plan, params: Any) -> Facts:
    return {}


def _no_preflight(env: Environment, plan: Plan, params: Any) -> list[Check]:
    return []


def _no_rollback(plan: Plan, params: Any, inventory: Inventory, done: Done) -> list[Step]:
    return []


@dataclass(frozen=True)
class Procedure:
    name: str
    params: type[BaseModel]
    steps: Callable[[Plan, Any, Inventory], list[Step]]
    precheck: Callable[[Environment, Plan, Any], None] = _no_precheck
    rollback: Callable[[Plan, Any, Inventory, Done], list[Step]] = _no_rollback
    summary: str = ""
    facts: Callable[[Environment, Plan, Any], Facts] = _no_facts
    preflight: Callable[[Environment, Plan, Any], list[Check]] = _no_preflight
    #: commands the runbook needs on every host, checked by preflight (``command -v``)
    preflight_commands: tuple[str, ...] = ()
    #: the product's own commands that only read (argv predicates, e.g. ``erl_call`` asking release_handler
    #: which releases it has), allowed through preflight's and the facts' read-only transports besides
    #: :data:`harness.transports.readonly.READ_ONLY`
    read_only_commands: tuple[Callable[[Sequence[str]], bool], ...] = ()
