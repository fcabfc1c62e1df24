"""A reviewed OTP release upgrade (issue 12) on two real BEAM nodes (process backend): the facts are each
node's current and permanent release and the package's sha256; the package rebuilt after the review
refuses the run with exit 8 naming each node; unchanged, it runs exactly the saved steps."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.plan.models import Inventory

from .._reviewed import harness, review

pytestmark = pytest.mark.skipif(not shutil.which("erl"), reason="erl (Debian erlang-base) not installed")

PLAN = "procedure: otp-release-upgrade\nparams: {release: '1.1', mode: rolling}\nready_timeout: 30\n"



@pytest.fixture
def reviewed(make_standins: Callable[..., Inventory], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Inventory, Path]:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    inv = make_standins("otp", nodes=2, version="1.0", backend="process")
    (tmp_path / "plan.yaml").write_text(PLAN)
    out = tmp_path / "reviewed.json"
    review(inv, tmp_path / "plan.yaml", out)
    return inv, out


def test_a_reviewed_upgrade_runs_its_saved_steps(reviewed: tuple[Inventory, Path]) -> None:
    _, path = reviewed
    doc = json.loads(path.read_text())
    for n in ("node1", "node2"):
        assert doc["facts"][n]["current release"] == doc["facts"][n]["permanent release"] == "1.0"
    res = harness("run", str(path), "--json")
    assert res.exit_code == 0, res.output
    assert [s["id"] for s in json.loads(res.stdout)["steps"]] == [s["id"] for s in doc["steps"]]


def test_a_package_changed_since_the_review_refuses_with_exit_8(reviewed: tuple[Inventory, Path],
                                                                tmp_path: Path) -> None:
    _, path = reviewed
    doc = json.loads(path.read_text())
    fact = next(k for k in doc["facts"]["node1"] if k.startswith("sha256 "))
    package = Path(fact.removeprefix("sha256 "))
    package.write_bytes(package.read_bytes() + b"\0")  # rebuilt (or replaced) after the review
    res = harness("run", str(path))
    out = " ".join(res.output.split())
    assert res.exit_code == 8, out
    assert f"node node1: {fact}: reviewed" in out and f"node node2: {fact}: reviewed" in out
    assert not (tmp_path / "runs").exists()
