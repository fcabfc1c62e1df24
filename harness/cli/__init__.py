"""The ``harness`` command.

Sub-commands live in one module each under :mod:`harness.cli`; this module only wires them.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="harness",
    help="Conformance harness and upgrade executor for rolling updates, hot deploys, hot patches and release upgrades.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# --- sub-command registration (one line each) ---------------------------------------------------
# (filled in as the modules land)


def main() -> None:
    app()
