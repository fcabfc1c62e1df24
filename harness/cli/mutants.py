"""``harness mutants PRODUCT|all``: run each mutant of the rule catalogues against the tests that guard
its rule, and print which test killed it — or that it survived, naming the rule no test guards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness import mutants
from harness.cli._render import console
from harness.errors import ConfigError


def mutants_cmd(
    product: Annotated[str, typer.Argument(help="a product with rule catalogues, or `all`")] = "all",
    suites: Annotated[Path, typer.Option(help="where the catalogues (rules-*.yaml) are")] = Path("suites"),
    only: Annotated[list[str] | None, typer.Option("--mutant", "-m", help="only this mutant (repeatable)")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="mutants run at once")] = 2,
    backend: Annotated[str, typer.Option(help="backend the guards run on")] = "process",
    timeout: Annotated[float, typer.Option(help="seconds one mutant's guards may take")] = 900,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of the table")] = False,
) -> None:
    """Prove the suites catch what they claim: exit 0 only when every mutant is killed."""
    try:
        found = mutants.find_catalogues(suites, product)
        # the guards' node ids are relative to the checkout that holds the suites
        root = suites.resolve().parent
        baselines, results = mutants.run(
            [p.resolve() for p in found], root, only=only or (), jobs_at_once=jobs, timeout=timeout,
            pytest_args=["-n", "0", f"--harness-backend={backend}"],
            progress=(lambda r: None) if as_json else
            (lambda r: console.print(f"[dim]{r.mutant}: {r.verdict} ({r.seconds}s)[/]")))
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(4) from None
    if as_json:
        typer.echo(mutants.to_json(baselines, results))
    else:
        t = Table(title="mutants", title_justify="left")
        for col in ("rule", "mutant", "kind", "verdict", "killed by / why", "s"):
            t.add_column(col)
        for r in results:
            colour = {"killed": "green", "survived": "red", "error": "yellow"}[r.verdict]
            why = "\n".join(r.killed_by) if r.killed_by else r.detail.splitlines()[-1] if r.detail else ""
            t.add_row(r.rule, r.mutant, r.kind, f"[{colour}]{r.verdict}[/]", why, str(r.seconds))
        console.print(t)
        s = mutants.summary(results)
        console.print(f"{s['rules']} rules, {s['mutants']} mutants: {s['killed']} killed, {s['survived']} survived, "
                      f"{s['error']} errors ({s['seconds']}s of guard runs)")
        for b in baselines:
            if b.verdict != "survived":
                console.print(f"[yellow]rule {b.rule}: its guards fail without a mutant:[/]\n{b.detail}")
        for r in results:
            if r.verdict == "survived":
                console.print(f"[red]rule {r.rule} is not guarded: mutant {r.mutant} passes every test in "
                              f"guarded_by[/]")
    bad = any(r.verdict != "killed" for r in results) or any(b.verdict != "survived" for b in baselines)
    raise typer.Exit(1 if bad else 0)


def register(app: typer.Typer) -> None:
    app.command("mutants")(mutants_cmd)
