"""The ``harness`` command.

Sub-commands live in one module each under :mod:`harness.cli`; a product adds its own (``harness
patch``, ``harness lint``) through ``Product.commands`` in the registry. This module only wires them.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

import harness
from harness import registry

app = typer.Typer(
    name="harness",
    help="Conformance harness and upgrade executor for rolling updates, hot deploys, hot patches and release upgrades.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # harness --install-completion | --show-completion (bash, zsh, fish, PowerShell)
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"harness {harness.__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False,
          verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                               help="log the executor's decisions (-v: INFO, -vv: DEBUG)")] = 0,
          ) -> None:
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from harness.secrets import install_log_filter

    install_log_filter()


def _register() -> None:
    from harness.cli import crashtest as _crashtest
    from harness.cli import mutants as _mutants
    from harness.cli import preflight as _preflight
    from harness.cli import products as _products
    from harness.cli import report as _report
    from harness.cli import run as _run
    from harness.cli import standins as _standins

    _run.register(app)
    _crashtest.register(app)
    _preflight.register(app)
    _products.register(app)
    _report.register(app)
    _mutants.register(app)
    app.add_typer(_standins.app, name="standins")
    for product in registry.products().values():
        for name, ref in product.commands.items():
            app.add_typer(registry.load(ref), name=name)


_register()


def main() -> None:
    app()
