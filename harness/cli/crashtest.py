"""``harness crashtest PLAN``: SIGKILL the executor at every kill point of a run, resume, compare."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from harness.cli._render import console, err
from harness.errors import HarnessError

#: exit codes: every kill point reached survived / one did not / the test could not be set up
EXIT_SURVIVED, EXIT_FAILED, EXIT_SETUP = 0, 1, 3


def crashtest_cmd(
        plan: Annotated[Path, typer.Argument(help="plan file with `standins:` (each kill point gets fresh ones)")],
        point: Annotated[list[str] | None, typer.Option("--point", help="only this kill point (repeatable): "
                                                        "replays a failure by its id")] = None,
        limit: Annotated[int, typer.Option(help="at most this many kill points (0: all)")] = 0,
        mode: Annotated[str, typer.Option(help="chain: many points per environment, each resumed executor "
                                          "killed at the next (default); isolated: fresh stand-ins per point")
                        ] = "chain",
        workdir: Annotated[Path | None, typer.Option(help="where stand-ins and runs go (default: a temp dir)")] = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=0, help="chain: chains at once, each on "
                                          "environments of its own (0, the default: this machine's cores)")] = 0,
) -> None:
    """Kill the executor at every kill point (step boundaries and every remote command of a step), run
    `harness resume`, and prove the end state, the nodes' own records and the journal match an
    uninterrupted run's. Prints kill points exercised and survived; each failure with its replay command."""
    from harness.crashtest import MODES, PointResult, crashtest

    if mode not in MODES:
        raise typer.BadParameter(f"use one of: {', '.join(MODES)}", param_hint="--mode")
    work = workdir or Path(tempfile.mkdtemp(prefix="harness-crashtest-"))

    def show(res: PointResult) -> None:
        mark = "[green]survived[/]" if res.survived else ("[yellow]not reached[/]" if not res.reached
                                                           else "[red]FAILED[/]")
        console.print(f"  {res.point}: {mark} ({res.seconds:.1f} s)")
        for problem in res.problems:
            console.print(f"      {problem}")

    started = time.monotonic()
    try:
        _, results = crashtest(plan, work, points=point, mode=mode, progress=show, limit=limit,
                               jobs=jobs or len(os.sched_getaffinity(0)),
                                 announce=lambda ref, n: console.print(
                                     f"{len(ref.points)} kill points in an uninterrupted run ({ref.seconds:.1f} s);"
                                     f" exercising {n} ({mode})"))
    except HarnessError as exc:
        err.print(f"[red bold]SETUP FAILED[/]: {exc}")
        raise typer.Exit(EXIT_SETUP) from None
    survived = sum(r.survived for r in results)
    reached = sum(r.reached for r in results)
    minutes = (time.monotonic() - started) / 60
    console.print(f"kill points exercised: {reached} of {len(results)}; survived: {survived} "
                  f"({len(results) / minutes:.1f} per minute, the reference run included)")
    failed = [r for r in results if not r.survived]
    for r in failed:
        again = " ".join(f"--point {p}" for p in (r.replay or [r.point]))
        console.print(f"  replay: harness crashtest {plan} {again}")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_SURVIVED)


def register(app: typer.Typer) -> None:
    app.command("crashtest")(crashtest_cmd)
