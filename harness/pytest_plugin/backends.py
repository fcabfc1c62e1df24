"""Which backends the suites run on, per-worker grouping under pytest-xdist, and stand-ins for one test.

Process always; docker wherever an engine can run (otherwise those cases are skipped with the
reason). Under ``CI=true`` the engine is required: a docker-backed test whose engine cannot run FAILS,
saying why, so a CI whose Docker broke cannot go green by skipping. ``--harness-backend process|docker``
narrows the matrix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.plan.models import Inventory

BACKENDS = ("process", "docker")


def backend_params(config: pytest.Config, sizes: tuple[int, ...]) -> list[Any]:
    """``(backend, size)`` parameters for a module-scoped environment: every backend that may run here
    (docker ones marked, and skipped with the reason where no engine can run) times ``sizes``."""
    chosen = config.getoption("--harness-backend") or "all"
    out: list[Any] = []
    for backend in BACKENDS:
        if chosen not in ("all", backend):
            continue
        marks = [pytest.mark.requires_docker] if backend == "docker" else []
        out += [pytest.param((backend, n), id=f"{backend}-{n}", marks=marks) for n in sizes]
    return out


def in_ci() -> bool:
    """``CI`` set to anything but empty, ``0``, ``false`` or ``no`` (GitHub, GitLab and .ci/run set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(ok: bool, why: str) -> None:
    """Skip the test with ``why`` when ``ok`` is false; under CI fail it instead, since there a missing
    engine or tool is a broken machine, not a machine where it cannot run."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{why}\n(CI={os.environ.get('CI')}: docker-backed tests are required in CI and fail instead "
                    f"of skipping; unset CI to skip them on a machine without an engine)", pytrace=False)
    pytest.skip(why)


def skip_unless_backend_runs(backend: str) -> None:
    """Skip (fail under CI, see :func:`require`) unless ``backend`` can run on this machine."""
    if backend == "docker":
        from harness.backends.docker_engine import docker_available

        ok, why = docker_available()
        require(ok, f"docker backend unavailable: {why}")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook, which turns the marker into the node id suffix
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests sharing a module-scoped environment run on one worker, in file order.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "env_param" in callspec.params:
            backend, size = callspec.params["env_param"]
            module = item.module.__name__ if isinstance(item, pytest.Function) else item.nodeid
            item.add_marker(pytest.mark.xdist_group(name=f"{module}:{backend}-{size}"))


@pytest.fixture
def make_standins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Inventory]]:
    """Start stand-ins of any product for this test: ``make_standins("zato", servers=2, backend="docker")``
    returns the inventory ``harness standins up`` would write. Everything started is removed afterwards
    (docker-backed ones skip where no engine can run)."""
    from harness import standins
    from harness.plan.models import StandinsSpec

    started: list[Inventory] = []

    def make(product: str, *, backend: str = "process", version: str | None = None, **options: Any) -> Inventory:
        skip_unless_backend_runs(backend)
        spec = StandinsSpec.model_validate({"product": product, "backend": backend, "version": version, **options})
        name = standins.new_env_name(product)
        inv = standins.up(spec, tmp_path_factory.mktemp(product) / name, name=name)
        started.append(inv)
        return inv

    yield make
    for inv in reversed(started):
        standins.down(inv)
