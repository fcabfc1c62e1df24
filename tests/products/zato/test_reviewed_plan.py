"""A reviewed Zato update is the update run (issue 12), on real stand-ins (process backend: git checkouts,
HAProxy, the components): `harness plan --out` then `harness run reviewed.json` runs exactly the saved steps;
a server host's installed version changed in between refuses the run with exit 8 naming host and fact, and
no node changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.products.zato import state
from harness.products.zato.checks import snapshot

from .._reviewed import harness, review

PLAN = "procedure: zato-update\nparams: {revision: '3.2.1'}\nready_timeout: 30\n"



@pytest.fixture
def zato(make_standins: Callable[..., Inventory], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> tuple[Inventory, Path]:
    """One-server stand-ins and their update reviewed into reviewed.json."""
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    inv = make_standins("zato", servers=1, backend="process")
    (tmp_path / "plan.yaml").write_text(PLAN)
    out = tmp_path / "reviewed.json"
    review(inv, tmp_path / "plan.yaml", out)
    return inv, out


def test_a_reviewed_update_runs_its_saved_steps_and_cannot_be_run_twice(zato: tuple[Inventory, Path],
                                                                         tmp_path: Path) -> None:
    inv, path = zato
    doc = json.loads(path.read_text())
    server_host = inv.by_role("server")[0].host
    facts = doc["facts"][server_host]
    assert facts["installed version"] == "3.2.0"
    assert {"installed revision", "checkout", "upstream 3.2.1"} <= set(facts)
    assert facts["upstream 3.2.1"] != facts["checkout"]

    res = harness("run", str(path), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["outcome"] == "success"
    assert [s["id"] for s in out["steps"]] == [s["id"] for s in doc["steps"]]
    (run_dir,) = (tmp_path / "runs").iterdir()
    journaled = [r["step"] for r in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
                 if r["event"] == "step" and r["status"] != "started"]
    assert sorted(journaled) == sorted(s["id"] for s in doc["steps"])  # a stage's lanes journal in any order
    env = Environment.from_inventory(inv)
    assert state.installed_version_file(env.hosts[server_host]) == "3.2.1"

    again = harness("run", str(path))  # the facts it was computed from are gone: the update happened
    assert again.exit_code == 8, again.output
    assert f"node {server_host}: installed version: reviewed 3.2.0, now 3.2.1" in " ".join(again.output.split())


def test_a_version_changed_since_the_review_refuses_with_exit_8_and_changes_no_node(
        zato: tuple[Inventory, Path], tmp_path: Path) -> None:
    inv, path = zato
    env = Environment.from_inventory(inv)
    host = env.hosts[inv.by_role("server")[0].host]
    host.transport.put(f"{host.install_dir}/.installed/VERSION", b"3.1.9\n")  # someone downgraded it
    before = snapshot(env)
    res = harness("run", str(path))
    out = " ".join(res.output.split())
    assert res.exit_code == 8, out
    assert f"node {host.name}: installed version: reviewed 3.2.0, now 3.1.9" in out
    assert "nothing was changed on any node" in out
    assert snapshot(env) == before
    assert not (tmp_path / "runs").exists()


SERVICE = """\
from zato.server.service import Service


class Reviewed(Service):
    name = "demo.reviewed"

    def handle(self):
        self.response.payload = {"said": "%s"}
"""


def test_a_hot_deploy_module_edited_since_the_review_refuses_with_exit_8_and_deploys_nothing(
        make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    inv = make_standins("zato", servers=1, backend="process")
    module = tmp_path / "reviewed_svc.py"
    module.write_text(SERVICE % "reviewed")
    (tmp_path / "plan.yaml").write_text("procedure: zato-hot-deploy\nparams: {files: [reviewed_svc.py]}\n"
                                        "ready_timeout: 30\n")
    path = review(inv, tmp_path / "plan.yaml", tmp_path / "reviewed.json")
    facts = json.loads(path.read_text())["facts"]["server1"]
    assert facts["pickup dir"] == "(empty)" and "sha256 reviewed_svc.py" in facts
    module.write_text(SERVICE % "changed after the review")
    env = Environment.from_inventory(inv)
    server = env.components["server1"]
    res = harness("run", str(path))
    out = " ".join(res.output.split())
    assert res.exit_code == 8, out
    assert "node server1: sha256 reviewed_svc.py: reviewed" in out
    listing = server.host.transport.run(["ls", "-A", f"{server.path}/pickup/incoming/services"], timeout=30)
    assert listing.stdout.strip() == "", "nothing was dropped into the pickup dir"
    assert not (tmp_path / "runs").exists()
