"""pytest fixtures for the BEAM hot-patch stand-ins (loaded by the harness plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.plan.models import Inventory


@pytest.fixture
def beam_system(make_standins: Callable[..., Inventory]) -> Iterator[Inventory]:
    """A 3-node BEAM system on the process backend (master domain with the System/Patch service, two
    workers, real ``erl`` nodes): the inventory ``harness standins up beam`` writes. Removed afterwards."""
    yield make_standins("beam", nodes=3)
