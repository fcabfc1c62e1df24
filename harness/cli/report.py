"""``harness report RUN_DIR``: the self-contained HTML report (and PNG timeline) of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli._render import console, err
from harness.errors import ExitCode


def report_cmd(run_dir: Annotated[Path, typer.Argument(help="run directory (printed by `harness run`)")],
               out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write "
                                                                            "(default RUN_DIR/report.html)")] = None,
               png: Annotated[bool, typer.Option(help="also write timeline.png next to the HTML")] = True) -> None:
    """Write one HTML file (no network, opens from file://): outcome, checks, per-node swimlanes, steps."""
    from harness.engine import rundir
    from harness.errors import HarnessError
    from harness.report import write_report

    try:
        rundir.load_files(run_dir)  # the same check as status/resume: an edited directory is refused
    except HarnessError as exc:
        err.print(f"[red bold]REFUSED[/]: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(ExitCode.REFUSED) from None
    path = write_report(run_dir, out, png=png)
    console.print(f"report: {path}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
