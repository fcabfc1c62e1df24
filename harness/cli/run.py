"""``harness plan|run|resume|rollback|status|schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._render import Progress, console, err, outcome_line, steps_table
from harness.engine.runner import Run
from harness.engine.session import PlanSession, Teardown, teardown_owned
from harness.engine.status import EXIT_CODES, Outcome
from harness.errors import ConfigError, HarnessError, LeaseLost, LockHeld

PlanArg = Annotated[Path, typer.Argument(help="plan file (YAML)")]
TargetOpt = Annotated[Path | None, typer.Option("--target", "-t", help="inventory file (overrides the plan's)")]


def _lost(run: Run, exc: LeaseLost) -> typer.Exit:
    """This executor was paused or cut off past its lease and another took over: it stops, writes nothing."""
    run.abandon()
    err.print(f"[red bold]{Outcome.INDETERMINATE.value.upper()}[/]: {exc}")
    err.print(f"the journal ({run.run_dir / 'journal.jsonl'}) is the other executor's now")
    return typer.Exit(EXIT_CODES[Outcome.INDETERMINATE])


def _fail(exc: HarnessError) -> typer.Exit:
    outcome = Outcome.LOCKED if isinstance(exc, LockHeld) else Outcome.REFUSED
    err.print(f"[red bold]{outcome.value.upper()}[/]: {exc}")
    err.print("nothing was changed on any node")
    return typer.Exit(EXIT_CODES[outcome])


def plan_cmd(plan: PlanArg, target: TargetOpt = None) -> None:
    """Print the ordered steps of a plan without touching anything."""
    try:
        session = PlanSession(plan, target=target)
        steps = session.planned_steps()
    except ConfigError as exc:
        raise _fail(exc) from None
    where = f"inventory {session.target}" if session.target else f"its own {session.plan.standins} stand-ins"
    console.print(steps_table(steps, f"{session.plan.procedure} on {where}: {len(steps)} steps"))


def run_cmd(plan: PlanArg, target: TargetOpt = None,
            teardown: Annotated[str, typer.Option(
                help="stand-ins the run started: always|never|on-success")] = "always",
            ) -> None:
    """Execute a plan. Exit code: 0 success, 1 failed, 3 rolled back, 4 refused, 5 locked, 6 indeterminate."""
    if teardown not in ("always", "never", "on-success"):
        raise typer.BadParameter("use always, never or on-success", param_hint="--teardown")
    td: Teardown = teardown  # type: ignore[assignment]
    outcome: Outcome | None = None
    try:
        session = PlanSession(plan, target=target, teardown=td)
    except ConfigError as exc:
        raise _fail(exc) from None
    try:
        if session.plan.standins and session.target is None:
            from harness import standins

            console.print(f"starting {standins.summary(session.plan.standins)} stand-ins "
                          f"({session.plan.standins.backend} backend) …")
        try:
            run = session.setup()
        except HarnessError as exc:  # refused, bad input, stand-ins or a node unreachable: nothing changed
            raise _fail(exc) from None
        console.print(f"run {run.run_id}: {run.plan.procedure} on {run.inventory.environment}, "
                      f"{len(run.steps)} steps")
        run.listeners.append(Progress(run))
        try:
            outcome = session.execute()
        except KeyboardInterrupt:
            run.interrupt("interrupted (Ctrl-C)")
            err.print(f"interrupted: continue with `harness resume {run.run_dir}`")
            raise typer.Exit(EXIT_CODES[Outcome.INDETERMINATE]) from None
        except LeaseLost as exc:
            session.teardown = "never"  # the stand-ins are the other executor's now
            raise _lost(run, exc) from None
        raise typer.Exit(outcome_line(run, outcome))
    finally:
        session.close(outcome)


def resume_cmd(run_dir: Annotated[Path, typer.Argument(help="run directory (printed by `harness run`)")]) -> None:
    """Continue a run whose executor died, without redoing finished steps."""
    try:
        run = Run.load(run_dir)
    except HarnessError as exc:  # unreadable, edited or disagreeing with its plan: nothing is run
        raise _fail(exc) from None
    if run.outcome is not None:
        console.print(f"run {run.run_id} already finished: {run.outcome.value}")
        raise typer.Exit(EXIT_CODES[run.outcome])
    try:
        run.begin(resumed=True)
    except HarnessError as exc:
        raise _fail(exc) from None
    run.listeners.append(Progress(run))
    done = len(run.steps) - len(run.pending())
    console.print(f"resuming run {run.run_id}: {done} of {len(run.steps)} steps already done")
    try:
        outcome = run.roll_back("resumed rollback") if run.rolling_back() else run.run_forward()
    except LeaseLost as exc:
        raise _lost(run, exc) from None
    if run.meta.get("owns_standins"):
        teardown_owned(run.inventory, "always", outcome)
    raise typer.Exit(outcome_line(run, outcome))


def rollback_cmd(run_dir: Annotated[Path, typer.Argument(help="run directory")]) -> None:
    """Roll a run back: revert what it changed, restart in the documented order."""
    try:
        run = Run.load(run_dir)
        run.begin(resumed=True)
    except HarnessError as exc:
        raise _fail(exc) from None
    run.listeners.append(Progress(run))
    try:
        outcome = run.roll_back("requested by `harness rollback`")
    except LeaseLost as exc:
        raise _lost(run, exc) from None
    raise typer.Exit(outcome_line(run, outcome))


def status_cmd(run_dir: Annotated[Path, typer.Argument(help="run directory")]) -> None:
    """Show where a run is: every step's last status, and the outcome if it ended."""
    try:
        run = Run.load(run_dir, require_started=False)
    except HarnessError as exc:
        raise _fail(exc) from None
    statuses = {sid: rec.status.value for sid, rec in run.records.items()}
    console.print(steps_table(run.steps, f"run {run.run_id}: {run.plan.procedure} on {run.inventory.environment}",
                              statuses))
    console.print(f"outcome: {run.outcome.value if run.outcome else 'not finished (resume it)'}")


def schema_cmd(kind: Annotated[str, typer.Argument(help="plan or inventory")] = "plan") -> None:
    """Print the JSON Schema of plan files (params per procedure) or of inventories."""
    import json

    from harness.plan.schema import inventory_schema, plan_schema

    if kind not in ("plan", "inventory"):
        raise typer.BadParameter("use plan or inventory", param_hint="KIND")
    typer.echo(json.dumps(plan_schema() if kind == "plan" else inventory_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("run")(run_cmd)
    app.command("resume")(resume_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("status")(status_cmd)
    app.command("schema")(schema_cmd)
