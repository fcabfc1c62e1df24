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
from harness.cli import lint as _lint; app.add_typer(_lint.app, name="lint")  # noqa: E402,E702
from harness.cli import patch as _patch; app.add_typer(_patch.app, name="patch")  # noqa: E402,E702
from harness.cli import run as _run  # noqa: E402
from harness.cli import standins as _standins  # noqa: E402

_run.register(app)
app.add_typer(_standins.app, name="standins")


def main() -> None:
    app()
