"""`harness preflight` of a Canopsis update on a real stand-in (process backend, real RabbitMQ): ready on a
fresh node; a major jump and a node on another version than the plan's each fail naming the node and the
fix, exit 4; the node's files and processes are the same after preflight as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.environment import Environment
from harness.plan.models import Inventory
from harness.products.canopsis.amqp import queue_depths
from harness.products.canopsis.fixtures import ENGINE_QUEUES
from harness.products.canopsis.node import CanopsisNode
from harness.secrets import reveal
from tests.products import nodestate

PARAMS = {"to": "4.6.1", "guides_followed": ["migration-4.6.0"]}


def state(inv: Inventory) -> dict[str, Any]:
    """The node's files and processes; RabbitMQ's own store (``mnesia``, rewritten by the broker on its own)
    by what it holds: every engine queue and its messages."""
    depths = queue_depths(str(reveal(inv.facts["amqp_url"])), ENGINE_QUEUES)
    assert all(d >= 0 for d in depths.values()), depths
    return nodestate.snapshot(Path(str(inv.state_dir)), own=("mnesia",), queues=depths)


def preflight(inv: Inventory, tmp_path: Path, **params: Any) -> tuple[int, dict[str, Any],
                                                                       dict[tuple[str, str], dict[str, Any]]]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "canopsis-update", "params": {**PARAMS, **params}}))
    before = state(inv)
    assert before["processes"] and before["files"]  # RabbitMQ and the engines, the node's files
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(Path(str(inv.state_dir)) / "inventory.yaml"),
                                   "--json", "--free-mib", "1"])
    assert nodestate.diff(before, state(inv)) == {}
    doc = json.loads(res.stdout)
    return res.exit_code, doc, {(c["name"], c["node"]): c for c in doc["checks"] if not c["ok"]}


@pytest.fixture
def canopsis(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    return make_standins("canopsis", version="4.5.2", edition="core", backend="process")


def test_a_fresh_node_is_ready_a_major_jump_is_not(canopsis: Inventory, tmp_path: Path) -> None:
    code, doc, bad = preflight(canopsis, tmp_path)
    assert code == 0 and doc["ready"], bad
    checks = {(c["name"], c["node"]): c for c in doc["checks"]}
    assert checks["version", "node"]["detail"] == "installed 4.5.2"
    assert checks["upgrade path", "node"]["detail"] == "4.5.2 → 4.6.1 (intermediate): release notes 4.6.0, 4.6.1"

    code, doc, bad = preflight(canopsis, tmp_path, to="22.10.0", guides_followed=[])
    assert code == 4
    path = bad["upgrade path", "node"]
    assert path["detail"] == "4.5.2 → 22.10.0 crosses a major version (4 → YY.MM)"
    assert "migration guide" in path["fix"] and "update to the last 4 release first" in path["fix"]
    assert ("version", "node") not in bad


def test_a_node_on_another_version_than_the_plan_is_named_with_its_fix(canopsis: Inventory, tmp_path: Path) -> None:
    node = CanopsisNode.of(Environment.from_inventory(canopsis))
    pkg = node.json("var/lib/canopsis/package.json")
    node.write("var/lib/canopsis/package.json", json.dumps({**pkg, "version": "4.6.1"}))  # updated by hand
    code, _, bad = preflight(canopsis, tmp_path)
    assert code == 4
    assert bad["version", "node"]["detail"] == "installed 4.6.1, the plan says 4.5.2"
    assert 'set params.from: "4.6.1"' in bad["version", "node"]["fix"]
    assert bad["upgrade path", "node"]["detail"] == "the node already runs 4.6.1"
    assert "nothing to update" in bad["upgrade path", "node"]["fix"]
