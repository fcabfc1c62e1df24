"""Stand-in containers on testcontainers: labelled, loopback-only, on a per-run network.

The docker backend builds one :class:`StandinContainer` per node::

    with per_run_network(run_id) as net:
        node = (StandinContainer(ensure_image("zato"), run_id=run_id)
                .with_network(net).with_network_aliases("server1")
                .with_published_port(17010)
                .with_bind_mount(workdir, "/srv/plan")
                .waiting_for(wait_for_port(17010, timeout=60)))
        node.start()
        transport = docker_exec_transport(node)

Rules it enforces whatever the caller does: every published port is bound to 127.0.0.1 (the project
talks to no other address), bind mounts are read-only, images are never pulled, and every container
carries :data:`LABEL_PROJECT` and :data:`LABEL_RUN` so :func:`~harness.backends.docker_engine.cleanup`
finds it (Ryuk is disabled: its image cannot be pulled here).

Requires ``TESTCONTAINERS_RYUK_DISABLED=true``; ``TESTCONTAINERS_CONNECTION_MODE=docker_host`` and
``TC_HOST=127.0.0.1`` make testcontainers connect over loopback (``scripts/test`` sets all three).
"""

from __future__ import annotations

import contextlib
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Self

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import ExecWaitStrategy, PortWaitStrategy
from testcontainers.core.waiting_utils import WaitStrategy

from harness.backends.docker_engine import (
    HINT_BOOTSTRAP,
    LABEL_PROJECT,
    LABEL_RUN,
    describe_container,
    image_id,
    map_exceptions,
)
from harness.errors import SetupFailed
from harness.net import LOOPBACK
from harness.transports.docker import DockerTransport

__all__ = ["StandinContainer", "docker_exec_transport", "per_run_network", "run_network", "wait_for_exec",
           "wait_for_port"]

# testcontainers reads these at import; setting them here too keeps a bare `import` from trying Ryuk.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def wait_for_exec(argv: Sequence[str], timeout: float = 60.0, interval: float = 0.2) -> WaitStrategy:
    """Ready once ``argv`` exits 0 inside the container (polled every ``interval`` s)."""
    return ExecWaitStrategy(list(argv)).with_startup_timeout(math.ceil(timeout)).with_poll_interval(interval)


def wait_for_port(port: int, timeout: float = 60.0, interval: float = 0.2) -> WaitStrategy:
    """Ready once the host side of published ``port`` accepts TCP on 127.0.0.1."""
    return PortWaitStrategy(port).with_startup_timeout(math.ceil(timeout)).with_poll_interval(interval)


class StandinContainer(DockerContainer):
    """One node of a stand-in cluster. Use the fluent ``with_*`` methods, then ``start()`` or ``with``."""

    def __init__(self, image: str, *, run_id: str, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.run_id = run_id
        self._labels: dict[str, str] = {LABEL_PROJECT: "standin", LABEL_RUN: run_id}
        self._ro_mounts: dict[str, str] = {}

    def with_label(self, key: str, value: str) -> Self:
        self._labels[key] = value
        return self

    def with_published_port(self, container_port: int | str, host_port: int | None = None) -> Self:
        """Publish ``container_port`` on 127.0.0.1 (``host_port`` or a free one; see ``get_exposed_port``)."""
        return self.with_bind_ports(container_port, host_port)

    def with_bind_mount(self, host: str | os.PathLike[str], container: str) -> Self:
        """Mount a host path read-only (stand-ins get inputs this way; outputs go through the transport)."""
        self._ro_mounts[os.fspath(host)] = container
        return self

    def _configure(self) -> None:
        # Every port, however it was declared (with_exposed_ports, with_bind_ports), lands on loopback only.
        for port, binding in list(self.ports.items()):
            host_port = binding[-1] if isinstance(binding, tuple) else binding
            self.ports[port] = (LOOPBACK, host_port) if host_port else (LOOPBACK,)  # type: ignore[assignment]
        for host, target in self._ro_mounts.items():
            self.with_volume_mapping(host, target, "ro")
        labels = {**self._kwargs.get("labels", {}), **self._labels}
        # init: docker-init (tini) as pid 1 reaps zombies and forwards signals to the stand-in.
        self._kwargs = {"init": True, **self._kwargs, "labels": labels}

    def start(self) -> Self:
        """Start and wait; on failure remove the container and raise :class:`SetupFailed` with its logs."""
        if image_id(self.image) is None:  # testcontainers would try to pull it
            raise SetupFailed(f"image {self.image} is missing and will not be pulled\nHint: {HINT_BOOTSTRAP}")
        try:
            with map_exceptions(f"start {self.image}"):
                return super().start()
        except (TimeoutError, RuntimeError, SetupFailed) as exc:
            details = describe_container(self._container) if self._container else "container was not created"
            self._remove_quietly()
            if isinstance(exc, SetupFailed):
                raise
            raise SetupFailed(f"{self.image} did not become ready: {exc}\n{details}\n"
                              f"Hint: run the image by hand (docker run --rm -it {self.image}) and "
                              f"check its logs") from exc

    def transport(self) -> DockerTransport:
        return docker_exec_transport(self)

    def _remove_quietly(self) -> None:
        with contextlib.suppress(Exception):
            if self._container is not None:
                self._container.remove(force=True, v=True)
        self._container = None  # so a following stop() (from __exit__) has nothing left to remove


def docker_exec_transport(container: DockerContainer) -> DockerTransport:
    """A :class:`DockerTransport` to a started testcontainers container, sharing its SDK client."""
    return DockerTransport(container.get_container_id(), client=container.get_docker_client().client)


def run_network(run_id: str) -> Network:
    """A new labelled bridge network for one run or environment (name salted so xdist workers and
    parallel sessions never collide); :func:`~harness.backends.docker_engine.cleanup` removes it."""
    net = Network(docker_network_kw={"driver": "bridge",
                                     "labels": {LABEL_PROJECT: "network", LABEL_RUN: run_id}})
    net.name = f"{run_id[:40]}-{uuid.uuid4().hex[:6]}"
    with map_exceptions(f"create network {net.name}"):
        net.create()
    return net


@contextlib.contextmanager
def per_run_network(run_id: str) -> Iterator[Network]:
    """:func:`run_network` for the length of a with-block."""
    net = run_network(run_id)
    try:
        yield net
    finally:
        with contextlib.suppress(Exception):  # containers still attached: cleanup(run_id) removes both
            net.remove()
