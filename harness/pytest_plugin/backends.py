"""Which backends the suites run on, per-worker grouping under pytest-xdist, and stand-ins for one test.

Process always; docker wherever an engine can run (otherwise those cases are skipped with the
reason). Under ``CI=true`` the engine is required: a docker-backed test whose engine cannot run FAILS,
saying why, so a CI whose Docker broke cannot go green by skipping. ``docker-ssh`` (containers reached
only over a real sshd, like VMs) for the suites that ask for it (``ssh=True``), at their largest size.
``--harness-backend process|docker|docker-ssh`` narrows the matrix.

``--harness-target inventory.yaml`` replaces the matrix by one case, ``target``: the suites run against
that environment and start no stand-ins (:func:`environment` loads it, :func:`release` leaves it up).
Tests marked ``destructive`` (a broken revision, faults) then run only with ``--harness-destructive``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.plan.models import Inventory

BACKENDS = ("process", "docker", "docker-ssh")
TARGET = "target"


def backend_params(config: pytest.Config, sizes: tuple[int, ...], *, ssh: bool = False) -> list[Any]:
    """``(backend, size)`` parameters for a module-scoped environment: every backend that may run here
    (docker ones marked, and skipped with the reason where no engine can run) times ``sizes``; with
    ``ssh``, also ``docker-ssh`` at the largest size. Against ``--harness-target``: ``(target, 0)`` only."""
    if config.getoption("--harness-target", None):
        return [pytest.param((TARGET, 0), id=TARGET)]
    chosen = config.getoption("--harness-backend") or "all"
    out: list[Any] = []
    for backend in BACKENDS:
        if chosen not in ("all", backend) or (backend == "docker-ssh" and not ssh):
            continue
        marks = [pytest.mark.requires_docker] if backend.startswith("docker") else []
        for n in sizes[-1:] if backend == "docker-ssh" else sizes:
            out.append(pytest.param((backend, n), id=f"{backend}-{n}", marks=marks))
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


def standins_spec(product: str, backend: str, **fields: Any) -> Any:
    """The :class:`StandinsSpec` of a matrix case (``docker-ssh`` = the docker backend with ``ssh: true``)."""
    from harness.plan.models import StandinsSpec

    ssh = backend == "docker-ssh"
    return StandinsSpec.model_validate({"product": product, "backend": "docker" if ssh else backend,
                                        "ssh": ssh, **fields})


def environment(config: pytest.Config, product: str, backend: str, base: Any, **fields: Any) -> Inventory:
    """The environment of a matrix case: the ``--harness-target`` inventory as it is (case ``target``),
    or new stand-ins of ``product`` under ``base`` (``fields``: version and the product's own settings)."""
    from harness import standins

    if backend == TARGET:
        from harness.plan.loader import load_inventory

        inv = load_inventory(config.getoption("--harness-target"))
        if inv.product != product:
            pytest.skip(f"--harness-target is a {inv.product} environment; this suite is for {product}")
        return inv
    skip_unless_backend_runs(backend)
    name = standins.new_env_name(product)
    inv = standins.up(standins_spec(product, backend, **fields), base / name, name=name)
    _STARTED.add(name)
    return inv


_STARTED: set[str] = set()


def release(inv: Inventory) -> None:
    """Remove the stand-ins :func:`environment` started; a ``--harness-target`` environment stays as it is."""
    from harness import standins

    if inv.environment in _STARTED:
        _STARTED.discard(inv.environment)
        standins.down(inv)


def skip_unless_backend_runs(backend: str) -> None:
    """Skip (fail under CI, see :func:`require`) unless ``backend`` can run on this machine."""
    if backend.startswith("docker"):
        from harness.backends.docker_engine import docker_available

        ok, why = docker_available()
        require(ok, f"docker backend unavailable: {why}")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook, which turns the marker into the node id suffix
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--harness-target", None) and not config.getoption("--harness-destructive", False):
        skip = pytest.mark.skip(reason="breaks things on purpose (a broken revision, a fault): against "
                                "--harness-target it runs only with --harness-destructive")
        for item in items:
            if item.get_closest_marker("destructive"):
                item.add_marker(skip)
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

    def make(product: str, *, backend: str = "process", version: str | None = None, ssh: bool = False,
             **options: Any) -> Inventory:
        skip_unless_backend_runs(backend)
        spec = StandinsSpec.model_validate({"product": product, "backend": backend, "version": version,
                                            "ssh": ssh, **options})
        name = standins.new_env_name(product)
        inv = standins.up(spec, tmp_path_factory.mktemp(product) / name, name=name)
        started.append(inv)
        return inv

    yield make
    for inv in reversed(started):
        standins.down(inv)
