"""A reviewed hot patch is the patch applied (issue 12), on real BEAM nodes (process backend): `harness plan
--out` saves each node's system version and the loaded md5 of every module the patch replaces; `harness run
reviewed.json` runs exactly the saved steps, or, when a module was reloaded on a node in between, refuses
with exit 8 naming that node and module, and no node changes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.plan.models import Inventory
from harness.products.beam.actions import archive_of
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available, variant

from .._reviewed import harness, review

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]

CORE_UTIL = next(SOURCES.glob("*/src/core_util.erl"))
MODULES = ["core_util", "core_counter", "billing_calc"]



@pytest.fixture
def beam(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BeamEnv:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    return BeamEnv(make_standins("beam", nodes=2, backend="process"))


def reviewed_patch(beam: BeamEnv, tmp_path: Path) -> Path:
    """A patch of core_util (a new md5) for 2.7.1, reviewed into reviewed.json."""
    src = variant(CORE_UTIL, tmp_path / "src", secrets.token_hex(3))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "beam-patch",
                                    "params": {"sources": [f"core:{src}"], "version": "2.7.1"}}))
    return review(beam.path, plan, tmp_path / "reviewed.json")


def test_a_reviewed_patch_runs_its_saved_steps(beam: BeamEnv, tmp_path: Path) -> None:
    path = reviewed_patch(beam, tmp_path)
    doc = json.loads(path.read_text())
    before = beam.md5s(["core_util"])
    for n in beam.names:
        assert doc["facts"][n]["system version"] == "2.7.1"
        assert doc["facts"][n]["md5 core_util"] == before[n]["core_util"]
    assert any(k.startswith("sha256 ") and k.endswith("core_util.erl") for k in doc["facts"]["master"])

    res = harness("run", str(path), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["outcome"] == "success"
    (run_dir,) = (tmp_path / "runs").iterdir()
    journaled = [r["step"] for r in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
                 if r["event"] == "step" and r["status"] != "started"]
    assert sorted(journaled) == sorted(s["id"] for s in doc["steps"])
    assert all(beam.md5s(["core_util"])[n]["core_util"] != before[n]["core_util"] for n in beam.names)


def test_a_module_reloaded_since_the_review_refuses_with_exit_8_and_changes_no_node(
        beam: BeamEnv, tmp_path: Path) -> None:
    path = reviewed_patch(beam, tmp_path)
    reviewed = json.loads(path.read_text())["facts"]["w1"]["md5 core_util"]
    other = variant(CORE_UTIL, tmp_path / "other", "reloaded-" + secrets.token_hex(3))
    items = archive_of({"sources": [f"core:{other}"], "version": "2.7.1"}).items
    beam.agent("w1").apply("by-hand", items)  # someone hot-loaded another core_util on w1
    now = beam.md5s(["core_util"])["w1"]["core_util"]
    assert now != reviewed
    snap = beam.snapshot(MODULES)
    res = harness("run", str(path))
    out = " ".join(res.output.split())
    assert res.exit_code == 8, out
    assert f"node w1: md5 core_util: reviewed {reviewed}, now {now}" in out
    assert "node master" not in out, "only what changed is named"
    assert "nothing was changed on any node" in out
    assert beam.snapshot(MODULES) == snap
    assert not (tmp_path / "runs").exists()
