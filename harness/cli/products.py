"""``harness products``: what is installed — products, their procedures, roles and stand-ins."""

from __future__ import annotations

import typer
from rich.table import Table

from harness import registry
from harness.cli._render import console


def products_cmd() -> None:
    """List the installed products and their procedures."""
    t = Table(title="products (entry-point group upgrade_harness.products)", title_justify="left")
    for col in ("product", "procedures", "roles", "stand-ins"):
        t.add_column(col)
    for p in sorted(registry.products().values(), key=lambda p: p.name):
        procs = "\n".join(f"{name}: {registry.procedure(name).summary}" for name in p.procedures)
        t.add_row(f"{p.name}\n[dim]{p.summary}[/]", procs, ", ".join(p.roles), "yes" if p.standin else "no")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("products")(products_cmd)
