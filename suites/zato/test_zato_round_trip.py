"""Zato environment update round trip: upgrade → rollback → upgrade (3 servers, process backend), with the
nodes' state compared — each host's checkout and installed revision, each component's running version."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks.roundtrip import round_trip
from harness.plan.models import Plan
from harness.products.zato.fixtures import ZatoStandin

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy]
SIZES = (3,)


def test_upgrade_rollback_upgrade(zato: ZatoStandin, tmp_path: Path) -> None:
    rt = round_trip(Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=30),
                    zato.inventory, tmp_path / "runs")
    assert rt.verdict.valid is True, rt.verdict.explain()
    assert {v for k, v in rt.snapshots["B"].items() if k.startswith("running ")} == {"3.2.1"}
    assert {v for k, v in rt.snapshots["C"].items() if k.startswith("running ")} == {"3.2.0"}
