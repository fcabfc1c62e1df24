"""What the products' reviewed-plan tests share: the CLI in-process, and a plan reviewed against stand-ins."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from harness.cli import app
from harness.plan.models import Inventory


def harness(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def review(inv: Inventory | Path, plan: Path, out: Path) -> Path:
    """``harness plan PLAN --target INVENTORY --out OUT`` (the stand-ins' inventory file), which must succeed."""
    target = inv if isinstance(inv, Path) else Path(str(inv.state_dir)) / "inventory.yaml"
    res = harness("plan", str(plan), "--target", str(target), "--out", str(out))
    assert res.exit_code == 0, res.output
    return out
