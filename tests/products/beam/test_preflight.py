"""`harness preflight` of a hot patch on real BEAM nodes (process backend): ready for a patch built for the
running system version; a patch built for another version fails on every node, naming it and the fix, exit 4;
the nodes' files, processes and loaded code are the same after preflight as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.plan.models import Inventory
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available
from tests.products import nodestate

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]

CORE_UTIL = next(SOURCES.glob("*/src/core_util.erl"))
MODULES = ["core_util", "core_counter", "billing_calc"]


def state(beam: BeamEnv) -> dict[str, Any]:
    out = nodestate.snapshot(Path(str(beam.inventory.state_dir)), code=beam.snapshot(MODULES))
    assert out["processes"] and out["files"]
    return out


def preflight(beam: BeamEnv, tmp_path: Path, version: str) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "beam-patch", "params": {"sources": [f"core:{CORE_UTIL}"],
                                                                          "version": version}}))
    before = state(beam)
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(beam.path), "--json", "--free-mib", "1"])
    assert nodestate.diff(before, state(beam)) == {}
    return res.exit_code, {(c["name"], c["node"]): c for c in json.loads(res.stdout)["checks"]}


@pytest.fixture
def beam(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BeamEnv:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    return BeamEnv(make_standins("beam", nodes=2, backend="process"))


def test_a_patch_for_the_running_version_is_ready_one_for_another_is_not(beam: BeamEnv, tmp_path: Path) -> None:
    code, checks = preflight(beam, tmp_path, "2.7.1")
    assert code == 0, {k: c for k, c in checks.items() if not c["ok"]}
    assert checks["patch", "master"]["detail"] == "built for system 2.7.1: core_util"
    for n in beam.names:
        assert checks["version", n]["detail"] == "runs system 2.7.1"

    code, checks = preflight(beam, tmp_path, "2.6.0")
    assert code == 4
    bad = {k: c for k, c in checks.items() if not c["ok"]}
    assert set(bad) == {("version", n) for n in beam.names}
    for n in beam.names:
        assert bad["version", n]["detail"] == "runs system 2.7.1; the patch is built for 2.6.0"
        assert "rebuild the patch for 2.7.1" in bad["version", n]["fix"]
