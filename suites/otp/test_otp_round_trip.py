"""OTP release upgrade round trip: 1.0 → 1.1 → rollback → 1.1 on 2 real BEAM nodes, with each node's
``which_releases`` (versions and statuses) and running applications compared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.checks.roundtrip import round_trip
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.otp.standin.release import erlang_available
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang, pytest.mark.slow,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]


@pytest.fixture
def otp(tmp_path: Path) -> Iterator[Inventory]:
    skip_unless_backend_runs("process")
    name = standins.new_env_name("otp")
    inv = standins.up(StandinsSpec.model_validate({"product": "otp", "nodes": 2, "version": "1.0"}),
                      tmp_path / name, name=name)
    yield inv
    standins.down(inv)


def test_upgrade_rollback_upgrade(otp: Inventory, tmp_path: Path) -> None:
    rt = round_trip(Plan(procedure="otp-release-upgrade", params={"release": "1.1"}, ready_timeout=30), otp,
                    tmp_path / "runs")
    assert rt.verdict.valid is True, rt.verdict.explain()
    assert rt.snapshots["B"]["node1 releases"]["1.1"] == "permanent"
    assert rt.snapshots["C"]["node1 releases"] == {"1.0": "permanent"}
