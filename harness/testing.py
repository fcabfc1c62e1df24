"""Test helpers for code built on the harness (structlog's ``structlog.testing``, httpx's ``MockTransport``).

- :class:`FakeTransport` — a :class:`~harness.transports.base.Transport` whose commands are answered by a
  handler and whose files live in a dict; every call is recorded in ``.calls``.
- :func:`fake_procedure`, :func:`fake_actions` and :class:`FakeAction` — register a procedure, actions and
  gates (as a throwaway product in :mod:`harness.registry`) for the duration of a ``with`` block, so the
  engine can be driven without any product;
  :func:`fake_inventory` and :func:`abandon` (leave a run as a killed executor would, for resume tests).

Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from harness.engine.step import Gate, Step, StepStatus
from harness.plan.models import Component, Host, Inventory
from harness.transports.base import CommandResult, Transport
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.engine.actions import StepContext
    from harness.environment import Environment
    from harness.plan.models import Plan

__all__ = ["Call", "FakeAction", "FakeGate", "FakeTransport", "abandon", "compensations", "fake_actions",
           "fake_inventory", "fake_procedure"]

# ----- transport ------------------------------------------------------------------------------------

#: ``handler(argv, cwd, env)`` → a CommandResult or ``(exit_code, stdout, stderr)``
Handler = Callable[[tuple[str, ...], "str | None", "Mapping[str, str] | None"],
                   "CommandResult | tuple[int, str, str]"]


@dataclass(frozen=True)
class Call:
    """One call made on a :class:`FakeTransport`: ``op`` is ``run``, ``put`` or ``get``."""

    op: str
    argv: tuple[str, ...] = ()
    path: str | None = None
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    data: bytes | None = None


def _no_commands(argv: tuple[str, ...], cwd: str | None,
                 env: Mapping[str, str] | None) -> tuple[int, str, str]:
    return 127, "", f"FakeTransport has no handler: {argv[0] if argv else ''}: command not found\n"


class FakeTransport(Transport):
    """``FakeTransport(handler)``: ``run(argv)`` returns ``handler(argv, cwd, env)`` (a :class:`CommandResult`
    or an ``(exit_code, stdout, stderr)`` tuple); ``put``/``get`` use the in-memory ``files`` dict."""

    NAME = "fake"

    def __init__(self, handler: Handler | None = None, *, files: Mapping[str, bytes] | None = None,
                 target: str = "fake://") -> None:
        self.handler = handler or _no_commands
        self.files: dict[str, bytes] = dict(files or {})
        self.calls: list[Call] = []
        self.closed = False
        self._target = target

    @property
    def target(self) -> str:
        return self._target

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """The argv of every ``run`` call, in order."""
        return [c.argv for c in self.calls if c.op == "run"]

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        args = tuple(argv)
        self.calls.append(Call("run", args, cwd=cwd, env=dict(env) if env is not None else None))
        out = self.handler(args, cwd, env)
        if isinstance(out, CommandResult):
            return out
        code, stdout, stderr = out
        return CommandResult(args, code, stdout, stderr, 0.0, self.target)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        self.calls.append(Call("put", path=path, data=bytes(data)))
        self.files[path] = bytes(data)

    def get(self, path: str) -> bytes:
        self.calls.append(Call("get", path=path))
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def close(self) -> None:
        self.closed = True


# ----- fake procedures, actions and gates -----------------------------------------------------------


@dataclass
class FakeAction:
    """An action for engine tests. Each argument is a value or a ``callable(ctx)`` returning one:

    - ``skip``: a reason to skip (str) or None;
    - ``raises``: an exception to raise from ``run`` (``StepFailed`` fails the step, ``TransportError``
      makes it indeterminate, ...) or None;
    - ``observe``: a dict merged into ``ctx.observation`` before ``raises`` is looked at.

    ``ran`` lists the step ids whose ``run`` was called, ``checked`` those whose ``skip`` was asked.
    """

    skip: str | Callable[[StepContext], str | None] | None = None
    raises: BaseException | Callable[[StepContext], BaseException | None] | None = None
    observe: dict[str, Any] | Callable[[StepContext], dict[str, Any]] | None = None
    ran: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def _skip(self, ctx: StepContext) -> str | None:
        self.checked.append(ctx.step.id)
        return self.skip(ctx) if callable(self.skip) else self.skip

    def _run(self, ctx: StepContext) -> None:
        self.ran.append(ctx.step.id)
        obs = self.observe(ctx) if callable(self.observe) else self.observe
        ctx.observation.update(obs or {})
        exc = self.raises(ctx) if callable(self.raises) and not isinstance(self.raises, BaseException) \
            else self.raises
        if exc is not None:
            raise exc

    def instance(self) -> Any:
        """What the action registry's factory returns: an object with ``skip(ctx)`` and ``run(ctx)``."""
        return types.SimpleNamespace(skip=self._skip, run=self._run)


@dataclass
class FakeGate:
    """A readiness gate that polls ``ready(ctx)`` (or a constant) until it is true or ``gate.timeout`` passes,
    then raises :class:`~harness.errors.GateTimeout` like a real gate. ``polls`` counts the checks."""

    ready: bool | Callable[[StepContext], bool] = True
    interval: float = 0.01
    polls: int = 0

    def __call__(self, ctx: StepContext, gate: Gate) -> None:
        def poll() -> bool:
            self.polls += 1
            return bool(self.ready(ctx) if callable(self.ready) else self.ready)

        wait_until(poll, timeout=gate.timeout, interval=self.interval, what=ctx.step.node)


def _module() -> types.ModuleType:
    """A throwaway module in ``sys.modules``: the registries hold ``module:attr`` strings and resolve them
    with :func:`importlib.import_module`, which finds it there."""
    name = f"_harness_fake_{secrets.token_hex(4)}"
    mod = types.ModuleType(name, "registered by harness.testing; removed when its with-block ends")
    sys.modules[name] = mod
    return mod


@contextlib.contextmanager
def fake_actions(actions: Mapping[str, FakeAction] | None = None,
                 gates: Mapping[str, Callable[..., None]] | None = None) -> Iterator[types.ModuleType]:
    """Register actions (``{"fake.do": FakeAction()}``) and gates (``{"fake.ready": FakeGate()}``) as a
    throwaway product in :mod:`harness.registry` for the with-block."""
    from harness.registry import Product, registered

    mod = _module()
    act_entries, gate_entries = {}, {}
    for i, (name, fake) in enumerate((actions or {}).items()):
        setattr(mod, f"action_{i}", fake.instance)
        act_entries[name] = f"{mod.__name__}:action_{i}"
    for i, (name, fn) in enumerate((gates or {}).items()):
        setattr(mod, f"gate_{i}", fn)
        gate_entries[name] = f"{mod.__name__}:gate_{i}"
    try:
        with registered(Product(mod.__name__, "fake actions", roles=(), actions=act_entries, gates=gate_entries)):
            yield mod
    finally:
        sys.modules.pop(mod.__name__, None)


StepsFn = Callable[["Plan", Inventory], list[Step]]
RollbackFn = Callable[["Plan", Inventory, list[tuple[Step, dict[str, Any], StepStatus]]], list[Step]]


def compensations(plan: Plan, inv: Inventory,
                  done: list[tuple[Step, dict[str, Any], StepStatus]]) -> list[Step]:
    """Default rollback of a fake procedure: every step that ran and has a ``compensation``, in reverse,
    as step ``undo@ID`` running the compensation action on the same node."""
    return [Step(f"undo@{s.id}", s.node, s.compensation, {"undoes": s.id})
            for s, _obs, status in reversed(done) if s.compensation and status != StepStatus.SKIPPED]


class FakeParams(BaseModel):
    """A fake procedure's params: anything goes (engine tests put what they like in ``plan.params``)."""

    model_config = ConfigDict(extra="allow", frozen=True)


@contextlib.contextmanager
def fake_procedure(name: str, steps_fn: StepsFn | Sequence[Step], rollback_fn: RollbackFn | None = None,
                   precheck_fn: Callable[[Environment, Plan], None] | None = None,
                   facts_fn: Callable[[Environment, Plan], dict[str, dict[str, str]]] | None = None,
                   ) -> Iterator[types.ModuleType]:
    """Register procedure ``name`` (as a throwaway product in :mod:`harness.registry`) for the with-block.

    ``steps_fn(plan, inventory)`` (or a fixed list of steps) gives the steps; ``rollback_fn(plan, inventory,
    done)`` the rollback (default :func:`compensations`); ``precheck_fn(env, plan)`` may raise RefusedError;
    ``facts_fn(env, plan)`` gives the facts a reviewed plan keeps (default none).
    """
    from harness.engine.procedure import Procedure
    from harness.registry import Product, registered

    mod = _module()
    fixed = None if callable(steps_fn) else list(steps_fn)
    steps = steps_fn if fixed is None else (lambda plan, inv: list(fixed))
    rollback = rollback_fn or compensations
    precheck = precheck_fn or (lambda env, plan: None)
    mod.PROCEDURE = Procedure(  # type: ignore[attr-defined]
        name, FakeParams, lambda plan, params, inv: steps(plan, inv),  # type: ignore[operator]
        lambda env, plan, params: precheck(env, plan),
        lambda plan, params, inv, done: rollback(plan, inv, done),
        facts=lambda env, plan, params: facts_fn(env, plan) if facts_fn else {})
    try:
        with registered(Product(mod.__name__, "a fake procedure", roles=(),
                                procedures={name: f"{mod.__name__}:PROCEDURE"})):
            yield mod
    finally:
        sys.modules.pop(mod.__name__, None)


def fake_inventory(environment: str = "test-env", components: Sequence[str] = ("server1", "server2"),
                   *, root: str = "/nonexistent/harness-test") -> Inventory:
    """A valid one-host inventory (local transport) whose paths point nowhere; fine for fake actions."""
    return Inventory(
        environment=environment, product="fake",
        hosts=[Host(name="host1", install_dir=f"{root}/zato")],
        components=[Component(name=c, role="server", host="host1", path=f"{root}/{c}",
                              url=f"http://127.0.0.1:{17010 + i}") for i, c in enumerate(components)],
    )


def abandon(run: Any) -> None:
    """Leave ``run`` as a killed executor would: its lease stays on disk (no longer renewed), its journal
    ends wherever it ended, nothing is released or finished. For resume tests within one process."""
    lock = run._lock
    if lock is not None:
        lock._stop.set()
        if lock._thread is not None:
            lock._thread.join(timeout=5)
    if run._journal is not None:
        run._journal.close()
    if run._env is not None:
        run._env.close()
    run._lock = run._journal = run._env = None
