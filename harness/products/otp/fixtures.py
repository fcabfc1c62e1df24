"""pytest fixtures for the Erlang/OTP release-upgrade stand-ins (loaded by the harness plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.plan.models import Inventory


@pytest.fixture
def otp_nodes(make_standins: Callable[..., Inventory]) -> Iterator[Inventory]:
    """Two target-system nodes running the sample release ``counter 1.0`` (real ``erl`` nodes with
    release_handler): the inventory ``harness standins up otp --nodes 2`` writes. Removed afterwards."""
    yield make_standins("otp", nodes=2, version="1.0")
