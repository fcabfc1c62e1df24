"""Executes a run: steps in order, each with its skip check, action and readiness gate; rollback; resume.

Every transition is journaled (fsync) before the next one starts, so ``harness resume RUN`` after a
kill continues from the first step that did not finish. An interrupted step is run again; actions are
written so that a second run of a finished action is detected by its skip check.

The run directory (:mod:`harness.engine.rundir`) holds the plan, the inventory, the planned steps and the
journal; a resumed run is refused when they disagree. Every command, file transfer and journal line is
fenced by the lease (:mod:`harness.engine.fence`): an executor that lost it changes nothing more.

Two small hooks serve the fault and crash tests, and nothing else: :data:`Run.command_listeners` hear
every remote command of a step's action (``faults: at: during``), and :func:`crashpoints.reached` marks
every kill point (step boundaries and those commands; a no-op unless ``HARNESS_CRASH_*`` is set).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness import registry
from harness.engine import crashpoints, rundir
from harness.engine.actions import StepContext
from harness.engine.fence import FencedTransport
from harness.engine.journal import Journal, read_journal
from harness.engine.lock import LeaseLock
from harness.engine.procedure import Procedure
from harness.engine.status import Outcome
from harness.engine.step import Step, StepStatus, stages
from harness.environment import Environment
from harness.errors import (
    CommandFailed,
    ConfigError,
    GateTimeout,
    HarnessError,
    LeaseLost,
    PlanError,
    RefusedError,
    StepFailed,
    TransportError,
)
from harness.plan.errors import locate
from harness.plan.models import Inventory, Plan
from harness.plan.params import validate_params
from harness.transports.base import HookedTransport, Transport
from harness.wait import stop_on

log = logging.getLogger("harness.engine")
Listener = Callable[[str, Step, str, str], None]
#: ``listener(event, step, n)``: the step's action ran its ``n``-th remote command (it has returned)
CommandListener = Callable[[str, Step, int], None]
_FINAL = {StepStatus.OK.value, StepStatus.SKIPPED.value}


@dataclass
class StepRecord:
    step: Step
    status: StepStatus
    reason: str = ""
    observation: dict[str, Any] | None = None
    duration: float = 0.0


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def plan_steps(plan: Plan, inventory: Inventory, *, plan_file: str | None = None) -> list[Step]:
    """The steps of ``plan`` on ``inventory``: the procedure's, after its params are validated."""
    proc = registry.procedure(plan.procedure, file=plan_file)
    try:
        steps = list(proc.steps(plan, validate_params(proc, plan), inventory))
    except PlanError as exc:  # a procedure knows the field, not the file: name file and line here
        raise (locate(exc, plan_file) if plan_file else exc) from None
    registry.check_registered(steps)
    return steps


class _StepGate:
    """A step's gate, run after its action, or from ``ctx.gate_early()`` on in a thread beside the action.

    The gate's thread issues no counted command (the runner's command count, hence the kill points, is kept
    per thread, for the action's own commands); an action that fails sets the gate's stop event
    (:func:`harness.wait.stop_on`) and waits for it to end, so nothing outlives the step. ``gate_s`` is how
    long readiness took, ``gate_early_s`` how much of it ran beside the action."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx, self.gate = ctx, ctx.step.gate
        self.stop = threading.Event()
        self.pool: ThreadPoolExecutor | None = None
        self.future: Future[None] | None = None
        self.g0 = 0.0
        if self.gate is not None:
            ctx.gate_early = self.start

    def _check(self) -> None:
        assert self.gate is not None
        with stop_on(self.stop):
            registry.gate(self.gate.kind)(self.ctx, self.gate)

    def start(self) -> None:  # ctx.gate_early, set only for a step with a gate
        if self.future is None:
            self.g0 = time.monotonic()
            self.pool = ThreadPoolExecutor(1, thread_name_prefix=f"gate {self.ctx.step.id}")
            # in the action's context: a read-only mode (harness.readonly) holds for the gate's commands too
            self.future = self.pool.submit(contextvars.copy_context().run, self._check)

    def finish(self) -> None:
        """After the action: the gate's outcome (raised), started now if the action did not start it."""
        if self.gate is None:
            return
        acted = time.monotonic()
        try:
            if self.future is not None:
                self.future.result()
            else:
                self.g0 = acted
                self._check()
        finally:
            self.ctx.observation["gate_s"] = round(time.monotonic() - self.g0, 4)  # how long readiness took
            if self.future is not None:
                self.ctx.observation["gate_early_s"] = round(acted - self.g0, 4)

    def __enter__(self) -> _StepGate:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.future is not None and exc[0] is not None:
            self.stop.set()  # the action failed: the step's outcome is its error, the gate waits no longer
            self.future.exception()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


class Run:
    def __init__(self, run_dir: Path, plan: Plan, inventory: Inventory, steps: list[Step],
                 meta: dict[str, Any]) -> None:
        self.run_dir, self.plan, self.inventory, self.steps, self.meta = run_dir, plan, inventory, steps, meta
        self.run_id: str = meta["run_id"]
        self.procedure: Procedure = registry.procedure(plan.procedure)
        self.params: BaseModel = validate_params(self.procedure, plan)
        self.listeners: list[Listener] = []
        self.command_listeners: list[CommandListener] = []
        #: the step (event, step, commands so far) each thread of this executor is running an action of
        self._acting = threading.local()
        self._faults: Any = None
        self._slo: Any = None
        self._env: Environment | None = None
        self._journal: Journal | None = None
        self._lock: LeaseLock | None = None
        self.observations: dict[str, dict[str, Any]] = {}
        self.records: dict[str, StepRecord] = {}
        #: (event, step id) started by an earlier executor that never journaled how they ended
        self.interrupted: set[tuple[str, str]] = set()
        self.outcome: Outcome | None = None

    # --- creation and loading ------------------------------------------------------------------
    @classmethod
    def create(cls, plan: Plan, inventory: Inventory, runs_dir: Path, *, owns_standins: bool = False,
               plan_file: str | None = None) -> Run:
        steps = plan_steps(plan, inventory, plan_file=plan_file)
        run_id = new_run_id()
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True)
        meta = rundir.RunMeta(run_id=run_id, procedure=plan.procedure, environment=inventory.environment,
                              owns_standins=owns_standins, plan_file=plan_file, created=time.time(),
                              base_dir=str(plan._base_dir) if plan._base_dir else None).model_dump()
        rundir.write_json(run_dir / "meta.json", meta)
        rundir.write_json(run_dir / "plan.json", plan.model_dump(mode="json"))
        rundir.write_json(run_dir / "inventory.json", inventory.model_dump(mode="json"))
        rundir.write_json(run_dir / "steps.json", [s.to_dict() for s in steps])
        return cls(run_dir, plan, inventory, steps, meta)

    @classmethod
    def load(cls, run_dir: Path, *, require_started: bool = True) -> Run:
        """A run directory, checked: every file valid, the steps what the plan and inventory give, the
        journal a journal (ConfigError or RefusedError naming what is wrong otherwise). A run whose
        journal holds no run record never began (its precheck never ran): refused unless
        ``require_started`` is off (``harness status`` shows such a run)."""
        meta, plan, inv, steps = rundir.load_files(run_dir)
        rundir.check_steps(run_dir, steps, plan_steps(plan, inv))
        run = cls(run_dir, plan, inv, steps, meta.model_dump())
        records = read_journal(run_dir / "journal.jsonl", strict=True)
        if require_started and not any(r["event"] == "run" for r in records):
            raise ConfigError("the journal holds no run record: the run never started here, or its journal "
                              "was emptied", file=str(run_dir / "journal.jsonl"),
                              hint="nothing is resumed from an empty journal; check the nodes and start a new run")
        run._replay(records)
        return run

    def _replay(self, records: list[dict[str, Any]]) -> None:
        by_id = {s.id: s for s in self.steps}
        for r in records:
            if r["event"] in ("step", "rollback_step"):
                key = (r["event"], r["step"])
                (self.interrupted.add if r["status"] == "started" or r.get("interrupted")
                 else self.interrupted.discard)(key)
            if r["event"] in ("step", "observe") and r.get("observation"):
                self.observations.setdefault(r["step"], {}).update(r["observation"])
            if r["event"] == "step" and r["status"] != "started" and r["step"] in by_id:
                self.records[r["step"]] = StepRecord(by_id[r["step"]], StepStatus(r["status"]),
                                                     r.get("reason", ""), r.get("observation"))
            if r["event"] == "run" and r["status"] == "finished":
                self.outcome = Outcome(r["outcome"])

    def journal_records(self) -> list[dict[str, Any]]:
        return read_journal(self.run_dir / "journal.jsonl")

    def _fence(self) -> None:
        if self._lock is not None:
            self._lock.check()

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def env(self) -> Environment:
        if self._env is None:
            self._env = Environment.from_inventory(self.inventory, wrap=self._wrap)
        return self._env

    def _wrap(self, transport: Transport) -> Transport:
        return HookedTransport(FencedTransport(transport, self._fence), self._on_command)

    def _on_command(self, phase: str, target: str, argv: tuple[str, ...]) -> None:
        """After each remote command of a step's action (not of its gate, whose polls vary in number)."""
        acting = getattr(self._acting, "step", None)
        if phase != "after" or acting is None:
            return
        event, step, n = acting
        self._acting.step = (event, step, n + 1)
        crashpoints.reached(f"{event}:{step.id}:cmd-{n + 1}")
        for listener in self.command_listeners:
            listener(event, step, n + 1)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.run_dir / "journal.jsonl", fence=self._fence)
        return self._journal

    def begin(self, *, resumed: bool = False) -> None:
        """Take the environment's lease and run the read-only prechecks. Nothing is changed before this."""
        self._lock = LeaseLock.for_inventory(self.inventory, self.run_id, ttl=self.plan.lock_ttl,
                                             run_dir=str(self.run_dir))
        self._lock.acquire()
        try:
            self.journal.write("run", status="resumed" if resumed else "started", run_id=self.run_id,
                               procedure=self.plan.procedure, environment=self.inventory.environment,
                               pid=os.getpid(), steps=[s.id for s in self.steps])
            self._reach_every_host()
            if not resumed:
                self.procedure.precheck(self.env, self.plan, self.params)
            for event, step_id in sorted(self.interrupted):  # died while it ran: outcome unknown, re-checked
                self.journal.write(event, step=step_id, status=StepStatus.INDETERMINATE.value, interrupted=True,
                                   reason="the executor ended while the step ran: re-checked against the node "
                                          "before anything is redone")
            if self.plan.slo:
                from harness.checks.slo import SloWatch  # the plan's SLO gates, probed from now on

                self._slo = SloWatch(self.plan.slo, self.inventory)
            if self.plan.faults:
                from harness.faults import PlanFaults  # the faults a plan declares, fired at its steps

                self._faults = PlanFaults(self.plan.faults, self.inventory).attach(self)
        except LeaseLost:
            self._release()
            raise
        except HarnessError as exc:
            # journal the refusal, so the run is over: `resume` (which skips the precheck) must not start it
            self.end(Outcome.REFUSED, str(exc).splitlines()[0])
            raise
        except BaseException:
            self._release()
            raise

    def _reach_every_host(self) -> None:
        """Every host answers a no-op command before anything is changed: an unreachable host, an unknown
        or changed host key, refused authentication or ``become`` refuse the run (exit 4), naming the host."""
        from concurrent.futures import ThreadPoolExecutor

        def reach(item: tuple[str, Any]) -> str | None:
            name, host = item
            try:
                host.transport.run(["true"], timeout=60)
            except LeaseLost:
                raise
            except TransportError as exc:
                return f"host {name}: {exc}"
            return None

        hosts = list(self.env.hosts.items())
        with ThreadPoolExecutor(max_workers=max(1, min(self.plan.parallel, len(hosts) or 1))) as pool:
            problems = [p for p in pool.map(reach, hosts) if p]
        if problems:
            raise RefusedError("cannot reach every host; nothing was changed:\n" + "\n".join(problems))

    def interrupt(self, reason: str) -> None:
        """Journal an interruption without ending the run, and let go of the lease: resumable."""
        self.journal.write("run", status="interrupted", reason=reason)
        self._release()

    def end(self, outcome: Outcome, reason: str = "") -> Outcome:
        log.info("run %s ended %s%s", self.run_id, outcome.value, f": {reason}" if reason else "")
        self.outcome = outcome
        self.journal.write("run", status="finished", outcome=outcome.value, reason=reason)
        self._release()
        return outcome

    def abandon(self) -> None:
        """Let go of everything without a journal line (the lease is lost: the journal is not ours)."""
        self._release()

    def _release(self) -> None:
        if self._slo is not None:
            self._slo.close()
            self._slo = None
        if self._faults is not None:  # the plan's faults are undone when the run ends, whatever happened
            faults, self._faults = self._faults, None
            try:
                faults.close()
            except HarnessError as exc:  # journaled: a run cannot look clean on a fault never made or undone
                log.warning("run %s: %s", self.run_id, exc)
                if self._journal is not None:
                    with contextlib.suppress(HarnessError):
                        self._journal.write("fault", status="failed", reason=str(exc))
        if self._lock:
            self._lock.release()
            self._lock = None
        if self._journal:
            self._journal.close()
            self._journal = None
        if self._env:
            self._env.close()
            self._env = None

    # --- execution -----------------------------------------------------------------------------
    def pending(self) -> list[Step]:
        return [s for s in self.steps if s.id not in self.records or self.records[s.id].status.value not in _FINAL]

    def _emit(self, kind: str, step: Step, status: str, reason: str = "") -> None:
        for listener in self.listeners:
            listener(kind, step, status, reason)

    def execute_step(self, step: Step, *, event: str = "step") -> StepRecord:
        ctx = StepContext(self.env, self.plan, step, self.observations,
                          interrupted=(event, step.id) in self.interrupted)
        ctx.observation = dict(self.observations.get(step.id, {}))

        def persist() -> None:
            self.observations[step.id] = dict(ctx.observation)
            self.journal.write("observe", step=step.id, observation=ctx.observation)

        ctx.persist = persist
        point = f"{event}:{step.id}"
        crashpoints.reached(f"{point}:before-start")
        # fenced: raises LeaseLost (nothing written, nothing run) once another executor holds the lease
        self.journal.write(event, step=step.id, node=step.node, action=step.action, status="started")
        crashpoints.reached(f"{point}:after-start")
        self._emit(event, step, "started")
        start = time.monotonic()
        status, reason = StepStatus.OK, ""
        try:
            act = registry.action(step.action)
            skip = act.skip(ctx)
            if skip:
                status, reason = StepStatus.SKIPPED, skip
            else:
                with _StepGate(ctx) as early:
                    self._acting.step = (event, step, 0)
                    try:
                        act.run(ctx)
                    finally:
                        self._acting.step = None
                    crashpoints.reached(f"{point}:after-action")
                    early.finish()
        except LeaseLost:
            raise  # another executor holds the lease now: not a line more, not a command more
        except (StepFailed, GateTimeout, CommandFailed, RefusedError) as exc:
            status, reason = StepStatus.FAILED, str(exc)
        except (TransportError, HarnessError) as exc:
            status, reason = StepStatus.INDETERMINATE, str(exc)
        except Exception as exc:  # a bug in an action: we cannot tell what happened on the node
            status, reason = StepStatus.INDETERMINATE, f"{type(exc).__name__}: {exc}"
        rec = StepRecord(step, status, reason, dict(ctx.observation), time.monotonic() - start)
        level = logging.INFO if status in (StepStatus.OK, StepStatus.SKIPPED) else logging.WARNING
        log.log(level, "%s %s on %s: %s%s (%.2fs)", event.replace("_", " "), step.id, step.node, status.value,
                f" — {reason.splitlines()[0]}" if reason else "", rec.duration)
        self.observations[step.id] = dict(ctx.observation)
        self.journal.write(event, step=step.id, node=step.node, action=step.action, status=status.value,
                           reason=reason, observation=ctx.observation, duration=round(rec.duration, 4))
        crashpoints.reached(f"{point}:after-done")
        if event == "step":
            self.records[step.id] = rec
        self._emit(event, step, status.value, reason)
        return rec

    def run_forward(self) -> Outcome:
        """Execute pending steps stage by stage; on a failure, roll back (``rollback: auto``) or stop."""
        outcome = self.advance()
        assert outcome is not None
        return outcome

    def advance(self, until: str | None = None) -> Outcome | None:
        """Run the pending stages in order: all of them, or up to and including the stage that holds step
        ``until`` (the pytest plugin reports one step per item this way, with the same stages and lanes
        as ``harness run``). Returns the run's outcome once it has ended — every step done, or a failure
        handled (rolled back, failed, indeterminate) — and None while steps remain."""
        for lanes in stages(self.pending()):
            rec = self._run_stage(lanes)
            if rec is not None:
                return self.after_failure(rec)
            if (breach := self._slo_breach(final=False)) is not None:
                return self.roll_back(breach)
            if until is not None and any(s.id == until for lane in lanes for s in lane) and self.pending():
                return None
        if (breach := self._slo_breach(final=True)) is not None:
            return self.roll_back(breach)
        return self.end(Outcome.SUCCESS)

    def _slo_breach(self, *, final: bool) -> str | None:
        """Why the plan's SLO gates stop the run (breached; at the end also: still unknown), else None."""
        if self._slo is None:
            return None
        v = self._slo.verdict(final=final)
        status = "pass" if v.valid is True else "breach" if v.valid is False else "unknown"
        self.journal.write("slo", status=status, final=final, details=v.details)
        if v.valid is False:
            return f"SLO breached: {'; '.join(v.details.get('breaches') or [str(v.details)])}"
        if final and v.valid is not True:  # unknown never passes
            return f"SLO unknown at the end of the run: {v.details}"
        return None

    def _run_stage(self, lanes: list[list[Step]], event: str = "step") -> StepRecord | None:
        """Run a stage's lanes concurrently (at most ``plan.parallel`` at once); the first failed record.

        After a failure no lane starts another step; steps already running finish and are journaled,
        so the rollback knows exactly what changed.
        """
        stop = threading.Event()

        def lane(steps: list[Step]) -> StepRecord | None:
            for step in steps:
                if stop.is_set():
                    return None
                rec = self.execute_step(step, event=event)
                if rec.status not in (StepStatus.OK, StepStatus.SKIPPED):
                    stop.set()
                    return rec
            return None

        if len(lanes) == 1 or self.plan.parallel == 1:
            return next((r for r in map(lane, lanes) if r is not None), None)
        with ThreadPoolExecutor(max_workers=min(len(lanes), self.plan.parallel),
                                thread_name_prefix="stage") as pool:
            failed = [r for r in pool.map(lane, lanes) if r is not None]
        return failed[0] if failed else None

    def after_failure(self, rec: StepRecord) -> Outcome:
        why = f"step {rec.step.id} {rec.status.value}: {rec.reason.splitlines()[0] if rec.reason else ''}"
        log.warning("run %s: %s; rollback: %s", self.run_id, why, self.plan.rollback)
        if self.plan.rollback == "never":
            out = Outcome.FAILED if rec.status == StepStatus.FAILED else Outcome.INDETERMINATE
            return self.end(out, why)
        return self.roll_back(why)

    def rollback_plan(self) -> list[Step]:
        done = [(r.step, self.observations.get(r.step.id, {}), r.status) for r in
                (self.records[s.id] for s in self.steps if s.id in self.records)]
        return list(self.procedure.rollback(self.plan, self.params, self.inventory, done))

    def roll_back(self, why: str = "requested") -> Outcome:
        steps = self.rollback_plan()
        finished = {r["step"] for r in self.journal_records()
                    if r["event"] == "rollback_step" and r["status"] in _FINAL}
        log.info("run %s: rolling back %d step(s): %s", self.run_id, len(steps), ", ".join(s.id for s in steps))
        self.journal.write("rollback", status="started", reason=why, steps=[s.id for s in steps])
        for lanes in stages([s for s in steps if s.id not in finished]):
            rec = self._run_stage(lanes, event="rollback_step")
            if rec is not None:
                self.journal.write("rollback", status="failed", step=rec.step.id)
                return self.end(Outcome.INDETERMINATE, f"{why}; rollback step {rec.step.id} {rec.status.value}")
        self.journal.write("rollback", status="finished")
        return self.end(Outcome.ROLLED_BACK, why)

    def rolling_back(self) -> bool:
        return any(r["event"] == "rollback" and r["status"] == "started" for r in self.journal_records())
