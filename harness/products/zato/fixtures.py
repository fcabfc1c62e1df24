"""Zato stand-in environments and recorded update runs for the suites."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Inventory, Plan
from harness.probes import ProbeResult
from harness.products.zato.checks import ZatoHistory, ping_probe, served
from harness.pytest_plugin.backends import (
    TARGET,
    backend_params,
    environment,
    release,
    skip_unless_backend_runs,
    standins_spec,
    target_inventory,
)


@dataclass
class ZatoStandin:
    inventory: Inventory
    state_dir: Path

    def env(self) -> Environment:
        return Environment.from_inventory(self.inventory)


@dataclass
class RecordedRun:
    run: Run
    outcome: Outcome
    probe: ProbeResult
    history: ZatoHistory
    started: float
    ended: float


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "env_param" in metafunc.fixturenames:
        sizes = getattr(metafunc.module, "SIZES", (1, 3))
        ssh = getattr(metafunc.module, "SSH_BACKEND", False)  # also through SSH-only stand-ins
        metafunc.parametrize("env_param", backend_params(metafunc.config, sizes, ssh=ssh), scope="module")


def start_zato(backend: str, servers: int, base: Path, version: str = "3.2.0") -> ZatoStandin:
    """New stand-ins on ``backend`` (``docker-ssh`` too), or the ``--harness-target`` environment (``target``)
    as it is; :func:`release` removes only what was started."""
    if backend == TARGET:
        inv = target_inventory("zato")
        return ZatoStandin(inv, Path(inv.state_dir or base))
    skip_unless_backend_runs(backend)
    spec = standins_spec("zato", backend, servers=servers, version=version)
    name = standins.new_env_name("zato")
    inv = standins.up(spec, base / name, name=name)
    return ZatoStandin(inv, base / name)


@pytest.fixture(scope="module")
def zato(env_param: tuple[str, int], request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    """A Zato environment of stand-ins for the test module (web-admin, servers behind a real HAProxy load
    balancer, scheduler), once per backend and size of the module's ``SIZES`` (default 1 and 3 servers);
    with ``--harness-target``, that environment as it is."""
    backend, servers = env_param
    base = tmp_path_factory.mktemp("zato")
    inv = environment(request.config, "zato", backend, base, servers=servers, version="3.2.0")
    yield ZatoStandin(inv, Path(inv.state_dir) if inv.state_dir else base)
    release(inv)


def record_run(z: ZatoStandin, plan: Plan, runs_dir: Path) -> RecordedRun:
    """Run a plan with a probe on the front door for the whole run; collect what the nodes logged."""
    assert z.inventory.front_door
    # marked: against a real Zato, which names no server in its answers, the LB's request log says who served
    probe = ping_probe(z.inventory.front_door, max_seconds=300)
    started = time.time()
    with probe:
        run = Run.create(plan, z.inventory, runs_dir)
        run.begin()
        outcome = run.run_forward()
        ended = time.time()
    env = z.env()
    history = ZatoHistory.collect(env, since=started, until=ended + 1)
    return RecordedRun(run, outcome, served(env, probe.result), history, started, ended)
