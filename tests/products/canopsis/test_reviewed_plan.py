"""A reviewed Canopsis update (issue 12) on a real stand-in (process backend, real RabbitMQ): the facts are the
node's installed version and edition; the package changed by hand after the review refuses the run with
exit 8 naming the node and the fact, and nothing is changed; unchanged, it runs exactly the saved steps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.products.canopsis.node import CanopsisNode

from .._reviewed import harness, review

PARAMS = {"to": "4.6.1", "broadcast_minutes": 30, "guides_followed": ["migration-4.5.0", "migration-4.6.0"]}



@pytest.fixture
def reviewed(make_standins: Callable[..., Inventory], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Inventory, Path]:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    inv = make_standins("canopsis", version="4.4.0", edition="core", backend="process")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "canopsis-update", "params": PARAMS}))
    out = tmp_path / "reviewed.json"
    review(inv, plan, out)
    return inv, out


def test_a_reviewed_update_runs_its_saved_steps(reviewed: tuple[Inventory, Path], tmp_path: Path) -> None:
    inv, path = reviewed
    doc = json.loads(path.read_text())
    assert doc["facts"]["node"] == {"installed version": "4.4.0", "edition": "core"}
    res = harness("run", str(path), "--json")
    assert res.exit_code == 0, res.output
    assert [s["id"] for s in json.loads(res.stdout)["steps"]] == [s["id"] for s in doc["steps"]]
    assert CanopsisNode.of(Environment.from_inventory(inv)).installed_version() == "4.6.1"


def test_a_package_changed_since_the_review_refuses_with_exit_8(reviewed: tuple[Inventory, Path],
                                                                tmp_path: Path) -> None:
    inv, path = reviewed
    node = CanopsisNode.of(Environment.from_inventory(inv))
    pkg = node.json("var/lib/canopsis/package.json")
    node.write("var/lib/canopsis/package.json", json.dumps({**pkg, "version": "4.5.0"}))  # updated by hand
    before = {rel: node.read(rel) for rel in ("var/lib/canopsis/package.json", "etc/canopsis.toml")}
    res = harness("run", str(path))
    out = " ".join(res.output.split())
    assert res.exit_code == 8, out
    assert "node node: installed version: reviewed 4.4.0, now 4.5.0" in out and "nothing was changed" in out
    assert {rel: node.read(rel) for rel in before} == before
    assert not (tmp_path / "runs").exists()
