"""``harness standins up|down``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from harness import standins as backends
from harness.cli._render import console, err
from harness.engine.session import standins_dir
from harness.errors import HarnessError
from harness.plan.loader import load_inventory
from harness.plan.models import StandinsSpec

app = typer.Typer(help="Start and stop stand-in environments.", no_args_is_help=True)


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r}: write KEY=VALUE", param_hint="--option")
    try:  # the value as YAML would read it in a plan: 3 is a number, true a boolean, cat a string
        return key, yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        return key, value


@app.command("up")
def up(product: Annotated[str, typer.Argument(help="product (`harness products` lists them)")],
       backend: Annotated[str, typer.Option(help="process or docker")] = "process",
       version: Annotated[str | None, typer.Option(help="version installed at start")] = None,
       ssh: Annotated[bool, typer.Option("--ssh", help="docker backend: a real sshd in each container, "
                                         "reached only by ssh:// (VM-like hosts)")] = False,
       servers: Annotated[int | None, typer.Option(help="shorthand for -o servers=N")] = None,
       nodes: Annotated[int | None, typer.Option(help="shorthand for -o nodes=N")] = None,
       option: Annotated[list[str] | None, typer.Option(
           "--option", "-o", help="the product's own settings, KEY=VALUE (e.g. -o servers=3, -o edition=cat)")
       ] = None) -> None:
    """Start a stand-in environment and write its inventory (use it with `--target`)."""
    options = dict(_key_value(o) for o in option or [])
    for key, value in (("servers", servers), ("nodes", nodes)):
        if value is not None:
            options[key] = value
    try:
        spec = StandinsSpec.model_validate({"product": product, "backend": backend, "version": version, "ssh": ssh,
                                            **options})
        backends.options(spec)
    except (ValueError, HarnessError) as exc:
        raise typer.BadParameter(str(exc)) from None
    name = backends.new_env_name(product)
    try:
        inv = backends.up(spec, standins_dir() / name, name=name)
    except HarnessError as exc:
        err.print(f"[red bold]could not start the stand-ins[/]: {exc}")
        raise typer.Exit(4) from None
    path = Path(inv.state_dir or standins_dir() / name) / "inventory.yaml"
    console.print(f"environment {inv.environment} is up ({spec.backend}{', ssh' if spec.ssh else ''}); "
                  f"front door {inv.front_door}")
    for c in inv.components:
        console.print(f"  {c.role:14} {c.name:14} {c.url}")
    console.print(f"inventory: {path}")


@app.command("down")
def down(target: Annotated[Path | None, typer.Option("--target", "-t",
                                                        help="inventory of one environment; default: all")] = None,
         purge: Annotated[bool, typer.Option(help="also delete their files and logs")] = False) -> None:
    """Stop stand-in environments; nothing is left running."""
    paths = [target] if target else sorted(standins_dir().glob("*/inventory.yaml"))
    if not paths:
        console.print("no stand-in environment to stop")
    for p in paths:
        inv = load_inventory(p)
        backends.down(inv, purge=purge)
        console.print(f"environment {inv.environment} is down")
