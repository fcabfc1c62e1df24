"""Canopsis regular update round trip: 4.5.2 → 4.6.1 → rollback → 4.6.1 (packages, Community, real
RabbitMQ), with the installed and running versions, the configuration and the package state compared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.checks.roundtrip import round_trip
from harness.products.canopsis.fixtures import CanopsisStandin, start_canopsis

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canopsis-round-trip")]


@pytest.fixture
def cps(tmp_path: Path) -> Iterator[CanopsisStandin]:
    c = start_canopsis(tmp_path, version="4.5.2")
    yield c
    standins.down(c.inventory)


def test_update_rollback_update(cps: CanopsisStandin, tmp_path: Path) -> None:
    rt = round_trip(cps.plan("4.6.1", guides_followed=["migration-4.6.0"]), cps.inventory, tmp_path / "runs")
    assert rt.verdict.valid is True, rt.verdict.explain()
    assert rt.snapshots["B"]["installed"] == "4.6.1" and rt.snapshots["C"]["installed"] == "4.5.2"
