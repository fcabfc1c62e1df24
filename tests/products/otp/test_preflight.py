"""`harness preflight` of an OTP release upgrade on two real BEAM nodes (process backend): ready when the
package has a relup from the running release; a target whose relup has no upgrade from it (1.2's starts at
1.1) fails on every node, naming it and the fix, exit 4; a node on the target already is named too; the nodes'
files, processes and releases are the same after preflight as before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.plan.models import Inventory
from harness.products.otp.node import node_client
from tests.products import nodestate

pytestmark = pytest.mark.skipif(not shutil.which("erl"), reason="erl (Debian erlang-base) not installed")


def state(inv: Inventory) -> dict[str, Any]:
    infos = {c.name: node_client(inv, c.name).info(timeout=10) for c in inv.components}
    # everything the node reports but its uptime: incarnation (os pid, release_handler), releases, applications
    releases = {n: (i.incarnation, i.script_id, i.releases, i.apps) for n, i in infos.items()}
    out = nodestate.snapshot(Path(str(inv.state_dir)), releases=releases)
    assert out["processes"] and out["files"]
    return out


def preflight(inv: Inventory, tmp_path: Path, release: str) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"procedure: otp-release-upgrade\nparams: {{release: '{release}'}}\n")
    before = state(inv)
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(Path(str(inv.state_dir)) / "inventory.yaml"),
                                   "--json", "--free-mib", "1"])
    assert nodestate.diff(before, state(inv)) == {}
    return res.exit_code, {(c["name"], c["node"]): c for c in json.loads(res.stdout)["checks"]}


@pytest.fixture
def otp(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    return make_standins("otp", nodes=2, version="1.0", backend="process")


def test_an_upgrade_path_from_the_running_release_is_ready_none_is_not(otp: Inventory, tmp_path: Path) -> None:
    code, checks = preflight(otp, tmp_path, "1.1")
    assert code == 0, {k: c for k, c in checks.items() if not c["ok"]}
    for n in ("node1", "node2"):
        assert checks["version", n]["detail"] == "runs release 1.0, permanent 1.0"
        assert checks["upgrade path", n]["detail"].endswith("releases/1.1/relup: 1.0 → 1.1")

    code, checks = preflight(otp, tmp_path, "1.2")
    assert code == 4
    bad = {k: c for k, c in checks.items() if not c["ok"]}
    assert set(bad) == {("upgrade path", "node1"), ("upgrade path", "node2")}
    for n in ("node1", "node2"):
        assert f"node {n} runs 1.0, but " in bad["upgrade path", n]["detail"]
        assert "has no upgrade from 1.0 (release_handler: no_matching_relup)" in bad["upgrade path", n]["detail"]
        assert bad["upgrade path", n]["fix"] == "build the relup with 1.0 as a base"

    code, checks = preflight(otp, tmp_path, "1.0")
    assert code == 4
    assert "already runs 1.0: nothing to upgrade" in checks["version", "node1"]["fix"]
