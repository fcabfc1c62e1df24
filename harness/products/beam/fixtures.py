"""pytest fixtures for the BEAM hot-patch stand-ins (loaded by the harness plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.plan.models import Inventory
from harness.products.beam.testing import BeamEnv, start_beam
from harness.pytest_plugin.backends import TARGET, backend_params, skip_unless_backend_runs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # one test per backend of the matrix (``--harness-backend`` narrows it), for function-scoped systems
    if "beam_backend" in metafunc.fixturenames:
        params = []
        for p in backend_params(metafunc.config, (3,)):  # pytest.param((backend, size), marks=...)
            backend = p.values[0][0]
            params.append(pytest.param(backend, id=backend, marks=p.marks))
        metafunc.parametrize("beam_backend", params)


@pytest.fixture
def beam_system(make_standins: Callable[..., Inventory]) -> Iterator[Inventory]:
    """A 3-node BEAM system on the process backend (master domain with the System/Patch service, two
    workers, real ``erl`` nodes): the inventory ``harness standins up beam`` writes. Removed afterwards."""
    yield make_standins("beam", nodes=3)


@pytest.fixture
def beam_fresh(beam_backend: str, tmp_path: Path) -> Iterator[BeamEnv]:
    """A 3-node BEAM system of this test's own, once per backend (``beam_backend``): for tests that change
    the system for good (a system update, a node reboot, code left old). Removed afterwards."""
    if beam_backend == TARGET:
        pytest.skip("needs a BEAM system of its own (it changes it for good): not run against --harness-target")
    skip_unless_backend_runs(beam_backend)
    env = start_beam(beam_backend, tmp_path / "beam")
    try:
        yield env
    finally:
        standins.down(env.inventory)
