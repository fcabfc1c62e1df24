"""Faults tied to steps: kill, pause, stop, cut off or slow a node, undone whatever happened.

:class:`Faults` acts on one environment (an inventory) and keeps an undo for everything it did;
:meth:`Faults.close` (or leaving its ``with``) undoes them all, newest first, even when the test failed
halfway. :class:`PlanFaults` fires a plan's ``faults:`` (:class:`~harness.plan.models.FaultSpec`) at the
step they name — ``before`` its action (its ``started`` event), ``during`` it (after its N-th remote
command, the runner's command hook) or ``after`` it — never on a clock::

    with Faults(inventory) as faults:
        faults.tie(run, FaultSpec(kind="kill", step="restart-server2", at="during"))
        run.run_forward()
    # server2 is started again here, whatever happened

How each kind acts (per backend, nothing asks which product it is):

    kill   SIGKILL the component's processes (the product's ``Standin.pidfiles``); undo: the product's
           ``Standin.start_component`` unless something already restarted it
    pause  SIGSTOP them (their descendants too), undo SIGCONT; a container host: ``docker pause``
    stop   the product's own stop (``Standin.stop_component``); undo: ``start_component``
    cut    process: the host's fault proxy drops every link (:mod:`harness.faults.proxy`, needs
           ``standins: {proxies: true}``); docker: ``docker network disconnect``; undo: heal / reconnect
    slow   the host's fault proxy delays every chunk by ``delay_ms`` (process backend only)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import ConfigError, HarnessError
from harness.faults import _act
from harness.plan.models import FaultSpec, Inventory

if TYPE_CHECKING:
    from harness.engine.journal import Journal
    from harness.engine.step import Step
    from harness.standins import Standin
    from harness.transports import Transport


class Run(Protocol):
    """What plan faults need of a run (:class:`harness.engine.runner.Run`, which attaches them, so this package
    does not import it): its steps, the listeners it calls after each step and each remote command of a step's
    action, and its journal."""

    steps: list[Step]
    listeners: list[Callable[[str, Step, str, str], None]]
    command_listeners: list[Callable[[str, Step, int], None]]

    @property
    def journal(self) -> Journal: ...


__all__ = ["Fault", "FaultError", "Faults", "PlanFaults"]

log = logging.getLogger("harness.faults")


class FaultError(HarnessError):
    """A fault could not be injected or undone (what, on which node, and why)."""


@dataclass
class Fault:
    """One injected fault; :meth:`undo` puts the node back (once; later calls do nothing)."""

    kind: str
    node: str
    injected: float
    _undo: Callable[[], None] = field(repr=False)
    undone: float | None = None

    def undo(self) -> None:
        if self.undone is None:
            self.undone = time.time()
            self._undo()


class Faults:
    """Faults on one environment, each undone by :meth:`close` (newest first; every undo is tried, and
    the first error is raised after all of them). Not thread-safe across :meth:`close`."""

    def __init__(self, inventory: Inventory, *, hooks: Standin | None = None) -> None:
        self.inventory = inventory
        self._hooks = hooks
        self.active: list[Fault] = []
        self.history: list[dict[str, Any]] = []  #: every injection, undo and error, in order
        self.errors: list[str] = []
        self._transports: dict[str, Transport] = {}
        self._tied: list[PlanFaults] = []

    # --- resolution ------------------------------------------------------------------------------
    @property
    def hooks(self) -> Standin:
        if self._hooks is None:
            from harness import standins

            self._hooks = standins.standin(self.inventory.product)
        return self._hooks

    def resolve(self, node: str) -> tuple[str, list[str]]:
        """``(host, components)`` of a component or host name (ConfigError naming the known ones)."""
        comps = {c.name: c.host for c in self.inventory.components}
        if node in comps:
            return comps[node], [node]
        if any(h.name == node for h in self.inventory.hosts):
            return node, [c.name for c in self.inventory.components if c.host == node]
        raise ConfigError(f"no component or host {node!r} in environment {self.inventory.environment}",
                          hint=f"use one of: {', '.join([*comps, *(h.name for h in self.inventory.hosts)])}")

    def transport(self, host: str) -> Transport:
        if host not in self._transports:
            from harness.transports import transport_for

            self._transports[host] = transport_for(self.inventory.host(host).transport)
        return self._transports[host]

    # --- faults ----------------------------------------------------------------------------------
    def inject(self, kind: str, node: str, *, delay_ms: int = 0) -> Fault:
        host, comps = self.resolve(node)
        act = _act.Actor(self.inventory, self.hooks, self.transport(host), host, comps)
        try:
            undo = act.do(kind, delay_ms)
        except (HarnessError, OSError) as exc:
            self._note("failed", kind, node, error=str(exc))
            raise FaultError(f"{kind} on {node} failed: {exc}") from exc
        fault = Fault(kind, node, time.time(), undo)
        self.active.append(fault)
        self._note("injected", kind, node, delay_ms=delay_ms or None)
        return fault

    def kill(self, node: str) -> Fault:
        return self.inject("kill", node)

    def pause(self, node: str) -> Fault:
        return self.inject("pause", node)

    def stop(self, node: str) -> Fault:
        return self.inject("stop", node)

    def cut(self, node: str) -> Fault:
        return self.inject("cut", node)

    def slow(self, node: str, delay_ms: int) -> Fault:
        return self.inject("slow", node, delay_ms=delay_ms)

    def undo(self, fault: Fault) -> None:
        if fault.undone is not None:
            return
        try:
            fault.undo()
            self._note("undone", fault.kind, fault.node)
        except (HarnessError, OSError) as exc:
            self._note("failed", fault.kind, fault.node, error=f"undo: {exc}")
        finally:
            with contextlib.suppress(ValueError):
                self.active.remove(fault)

    def tie(self, run: Run, *specs: FaultSpec) -> PlanFaults:
        """Fire ``specs`` at ``run``'s steps (undone by this object's :meth:`close`)."""
        tied = PlanFaults(list(specs), self.inventory, faults=self).attach(run)
        self._tied.append(tied)
        return tied

    def close(self) -> None:
        for tied in self._tied:  # a fault whose step ran but that never fired would let a test pass on nothing
            self.errors += tied.unfired()
        self._tied.clear()
        for fault in reversed(list(self.active)):
            self.undo(fault)
        for t in self._transports.values():
            t.close()
        self._transports.clear()
        if self.errors:
            errors, self.errors = self.errors, []
            raise FaultError("; ".join(errors))

    def __enter__(self) -> Faults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _note(self, what: str, kind: str, node: str, **extra: Any) -> None:
        rec = {"ts": time.time(), "fault": what, "kind": kind, "node": node,
               **{k: v for k, v in extra.items() if v is not None}}
        self.history.append(rec)
        if what == "failed":
            self.errors.append(f"{kind} on {node}: {extra.get('error')}")
        log.log(logging.WARNING if what == "failed" else logging.INFO, "fault %s %s on %s%s", kind, what, node,
                f": {extra['error']}" if "error" in extra else "")


class PlanFaults:
    """A plan's ``faults:`` fired at their steps of a run, through the runner's step and command hooks."""

    def __init__(self, specs: list[FaultSpec], inventory: Inventory, *, faults: Faults | None = None) -> None:
        self.specs = specs
        self.faults = faults or Faults(inventory)
        self._own = faults is None
        self.fired: dict[int, Fault] = {}  #: spec index -> the fault it injected
        self._run: Run | None = None
        self._ended: set[str] = set()  #: steps that ended while attached

    def attach(self, run: Run) -> PlanFaults:
        """Check every spec against the run's steps and inventory, then listen to the run."""
        ids = {s.id for s in run.steps}
        for i, spec in enumerate(self.specs):
            if spec.step not in ids:
                raise ConfigError(f"fault {i} names step {spec.step!r}, which this run does not have",
                                  field=f"faults[{i}].step", hint="`harness plan PLAN` lists the step ids")
            if spec.node != "step":
                try:
                    self.faults.resolve(spec.node)
                except ConfigError as exc:
                    raise ConfigError(str(exc), field=f"faults[{i}].node", hint=exc.hint) from None
        self._run = run
        run.listeners.append(self._on_step)
        run.command_listeners.append(self._on_command)
        return self

    def _fire(self, i: int, spec: FaultSpec, step: Step) -> None:
        if i in self.fired:
            return
        node = step.node if spec.node == "step" else spec.node
        try:
            self.fired[i] = self.faults.inject(spec.kind, node, delay_ms=spec.delay_ms)
        except HarnessError:
            return  # recorded in faults.errors: close() raises it, so a test cannot pass on a fault never made
        self._journal("injected", spec, node, step)

    def _on_step(self, event: str, step: Step, status: str, reason: str) -> None:
        if event != "step":
            return
        if status != "started":
            self._ended.add(step.id)
        for i, spec in enumerate(self.specs):
            if spec.step != step.id:
                continue
            if (spec.at == "before" and status == "started") or (spec.at == "after" and status != "started"):
                self._fire(i, spec, step)
            if status != "started" and spec.undo == "step-end" and i in self.fired:
                self.faults.undo(self.fired[i])
                self._journal("undone", spec, self.fired[i].node, step)

    def _on_command(self, event: str, step: Step, n: int) -> None:
        for i, spec in enumerate(self.specs):
            if event == "step" and spec.at == "during" and spec.step == step.id and spec.command == n:
                self._fire(i, spec, step)

    def _journal(self, what: str, spec: FaultSpec, node: str, step: Step) -> None:
        if self._run is not None:
            with contextlib.suppress(HarnessError):  # the lease is gone: the journal is no longer ours
                self._run.journal.write("fault", status=what, kind=spec.kind, node=node, step=step.id,
                                        at=spec.at)

    def unfired(self) -> list[str]:
        """The specs whose step ran and ended without them firing (e.g. ``during`` a step that ran fewer
        remote commands than ``command``: an action that talks HTTP only runs none)."""
        return [f"fault {i} ({spec.kind} {spec.at} {spec.step}) never fired: the step ran "
                f"{'fewer remote commands than ' + str(spec.command) if spec.at == 'during' else 'without it'}"
                for i, spec in enumerate(self.specs) if i not in self.fired and spec.step in self._ended]

    def close(self) -> None:
        if self._own:
            self.faults.errors += self.unfired()
            self.faults.close()
