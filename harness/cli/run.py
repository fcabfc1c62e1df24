"""``harness plan|run|resume|rollback|status|schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli import jsonout
from harness.cli._render import Progress, console, err, outcome_line, steps_table
from harness.engine.runner import Run
from harness.engine.session import PlanSession, Teardown, teardown_owned
from harness.engine.status import EXIT_CODES, Outcome
from harness.errors import ConfigError, ExitCode, HarnessError, LeaseLost, LockHeld, Stale
from harness.probes import HttpProbe

PlanArg = Annotated[Path, typer.Argument(help="plan file (YAML)")]
TargetOpt = Annotated[Path | None, typer.Option("--target", "-t", help="inventory file (overrides the plan's)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout (shape: "
                                                      "`harness schema output`); progress goes to stderr")]


def _lost(run: Run, exc: LeaseLost, as_json: bool = False) -> typer.Exit:
    """This executor was paused or cut off past its lease and another took over: it stops, writes nothing."""
    run.abandon()
    err.print(f"[red bold]{Outcome.INDETERMINATE.value.upper()}[/]: {escape(str(exc))}", soft_wrap=True)
    err.print(f"the journal ({run.run_dir / 'journal.jsonl'}) is the other executor's now")
    code = EXIT_CODES[Outcome.INDETERMINATE]
    if as_json:
        typer.echo(jsonout.dump(jsonout.run_out(run, exit_code=code, error=str(exc))))
    return typer.Exit(code)


def _fail(exc: HarnessError, as_json: bool = False) -> typer.Exit:
    if isinstance(exc, Stale):
        code, label = int(ExitCode.STALE), "stale"
    else:
        outcome = Outcome.LOCKED if isinstance(exc, LockHeld) else Outcome.REFUSED
        code, label = EXIT_CODES[outcome], outcome.value
    err.print(f"[red bold]{label.upper()}[/]: {escape(str(exc))}", soft_wrap=True)
    err.print("nothing was changed on any node")
    if as_json:
        typer.echo(jsonout.dump(jsonout.refused_out(code, str(exc))))
    return typer.Exit(code)


def _probe(run: Run) -> HttpProbe | None:
    """The product's probe of the front door, started for the length of the run (None without one)."""
    from harness.report import start_probe

    probe: HttpProbe | None = start_probe(run.inventory)
    return probe


def _finish(run: Run, outcome: Outcome, as_json: bool, probe: HttpProbe | None = None) -> typer.Exit:
    """The end of a run: node logs and probe kept in the run dir, the HTML report, the summary (or JSON)."""
    from harness.report import finish_run

    result = probe.stop() if probe is not None else None
    report = finish_run(run, probe=result, warn=lambda msg: err.print(f"[yellow]report:[/] {escape(msg)}"))
    code = outcome_line(run, outcome, report=report, out=err if as_json else console)
    if as_json:
        typer.echo(jsonout.dump(jsonout.run_out(run, exit_code=code, report=str(report) if report else None)))
    return typer.Exit(code)


def plan_cmd(plan: PlanArg, target: TargetOpt = None, as_json: JsonOpt = False,
             out: Annotated[Path | None, typer.Option(
                 "--out", "-o", help="also save the reviewed plan here (JSON: the steps and the facts they were "
                 "computed from); `harness run FILE` runs exactly it, or refuses (exit 8) if a fact changed")
             ] = None) -> None:
    """Print the ordered steps of a plan without touching anything (with --out, only reading the nodes)."""
    try:
        session = PlanSession(plan, target=target)
        if out is not None:
            from harness.cli import reviewed

            doc, steps = reviewed.save(session, out)
            facts = sum(len(f) for f in doc.facts.values())
            err.print(f"reviewed plan written to {escape(str(out))}: {len(steps)} steps, {facts} facts on "
                      f"{len(doc.facts)} nodes; run it with `harness run {escape(str(out))}`")
        else:
            steps = session.planned_steps()
    except HarnessError as exc:  # bad input, or a node that could not be read (nothing is changed)
        raise _fail(exc, as_json) from None
    if as_json:
        standins = None
        if session.plan.standins and session.target is None:
            from harness import standins as _standins

            standins = _standins.summary(session.plan.standins)
        typer.echo(jsonout.dump(jsonout.PlanOut(
            procedure=session.plan.procedure, target=str(session.target) if session.target else None,
            standins=standins, steps=[jsonout.step_out(i, s) for i, s in enumerate(steps, 1)])))
        return
    where = f"inventory {session.target}" if session.target else f"its own {session.plan.standins} stand-ins"
    console.print(steps_table(steps, f"{session.plan.procedure} on {where}: {len(steps)} steps"))


def run_cmd(plan: PlanArg, target: TargetOpt = None,
            teardown: Annotated[str, typer.Option(
                help="stand-ins the run started: always|never|on-success")] = "always",
            as_json: JsonOpt = False) -> None:
    """Execute a plan, or a reviewed plan (FILE.json written by `harness plan --out`, its facts read again first).

    Exit code: 0 success, 1 failed, 3 rolled back, 4 refused, 5 locked, 6 indeterminate, 8 stale."""
    if teardown not in ("always", "never", "on-success"):
        raise typer.BadParameter("use always, never or on-success", param_hint="--teardown")
    td: Teardown = teardown  # type: ignore[assignment]
    outcome: Outcome | None = None
    out = err if as_json else console
    from harness.cli import reviewed

    try:
        if reviewed.is_reviewed(plan):
            if target is not None:
                raise ConfigError("a reviewed plan names its inventory: --target cannot change it",
                                  file=str(plan), field="--target", hint="drop --target, or review the plan "
                                  "against the other inventory with `harness plan PLAN --target INV --out FILE`")
            # before any lock and any change: its files, steps and facts as reviewed, or exit 8
            session = reviewed.check(plan, reviewed.load(plan), teardown=td)
            out.print(f"reviewed plan {plan}: files, steps and facts unchanged")
        else:
            session = PlanSession(plan, target=target, teardown=td)
    except HarnessError as exc:
        raise _fail(exc, as_json) from None
    try:
        if session.plan.standins and session.target is None:
            from harness import standins

            out.print(f"starting {standins.summary(session.plan.standins)} stand-ins "
                      f"({session.plan.standins.backend} backend) …")
        try:
            run = session.setup()
        except HarnessError as exc:  # refused, bad input, stand-ins or a node unreachable: nothing changed
            raise _fail(exc, as_json) from None
        out.print(f"run {run.run_id}: {run.plan.procedure} on {run.inventory.environment}, "
                  f"{len(run.steps)} steps")
        progress = Progress(run, out=out)
        run.listeners.append(progress)
        probe = _probe(run)
        try:
            with progress:
                outcome = session.execute()
        except KeyboardInterrupt:
            if probe is not None:
                probe.stop()
            run.interrupt("interrupted (Ctrl-C)")
            err.print(f"interrupted: continue with `harness resume {run.run_dir}`")
            raise typer.Exit(EXIT_CODES[Outcome.INDETERMINATE]) from None
        except LeaseLost as exc:
            if probe is not None:
                probe.stop()
            session.teardown = "never"  # the stand-ins are the other executor's now
            raise _lost(run, exc, as_json) from None
        raise _finish(run, outcome, as_json, probe)
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
    try:
        raise _finish(run, outcome, False)
    finally:
        if run.meta.get("owns_standins"):
            teardown_owned(run.inventory, "always", outcome)


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
    raise _finish(run, outcome, False)


def status_cmd(run_dir: Annotated[Path, typer.Argument(help="run directory")], as_json: JsonOpt = False) -> None:
    """Show where a run is: every step's last status, and the outcome if it ended. Exits with the run's
    outcome code (the table of `harness run`); 6 (indeterminate) while the run is not finished."""
    try:
        run = Run.load(run_dir, require_started=False)
    except HarnessError as exc:
        raise _fail(exc, as_json) from None
    code = EXIT_CODES[run.outcome] if run.outcome else EXIT_CODES[Outcome.INDETERMINATE]
    if as_json:
        report = run.run_dir / "report.html"
        typer.echo(jsonout.dump(jsonout.run_out(run, exit_code=code,
                                                report=str(report) if report.exists() else None)))
        raise typer.Exit(code)
    statuses = {sid: rec.status.value for sid, rec in run.records.items()}
    console.print(steps_table(run.steps, f"run {run.run_id}: {run.plan.procedure} on {run.inventory.environment}",
                              statuses))
    console.print(f"outcome: {run.outcome.value if run.outcome else 'not finished (resume it)'} (exit {code})")
    raise typer.Exit(code)


def schema_cmd(kind: Annotated[str, typer.Argument(help="plan, inventory or output")] = "plan") -> None:
    """Print the JSON Schema of plan files (params per procedure), of inventories, or of the documents
    `--json` prints (output: one schema per command, and the exit-code table)."""
    import json

    from harness.plan.schema import inventory_schema, plan_schema

    if kind not in ("plan", "inventory", "output"):
        raise typer.BadParameter("use plan, inventory or output", param_hint="KIND")
    if kind == "output":
        from harness.cli.reviewed import ReviewedPlan

        doc = jsonout.schemas(reviewed=ReviewedPlan)
    else:
        doc = {"plan": plan_schema, "inventory": inventory_schema}[kind]()
    typer.echo(json.dumps(doc, indent=2))


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("run")(run_cmd)
    app.command("resume")(resume_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("status")(status_cmd)
    app.command("schema")(schema_cmd)
