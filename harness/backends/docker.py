"""The docker backend: each host is a container on a labelled per-run network, reached by docker exec.

A host ``NAME`` of environment ``ENV`` is the container ``ENV-NAME`` (hostname and network alias
``NAME``) of image ``upgrade-harness/IMAGE`` (``containers/IMAGE/Dockerfile``, built on first use),
running nothing but ``sleep`` under tini until the product starts its programs through the transport.
The product listens on its documented ports on 0.0.0.0 inside the network, where the other hosts reach
it by name; each port is published on 127.0.0.1 for the controller. Mounts are bind mounts (read-only
unless ``writable``). Every container and the network carry the environment's label:
:meth:`DockerBackend.teardown` (and ``.ci/run`` as a last resort) removes them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.backends.base import Backend, Host, HostSpec
from harness.errors import SetupFailed

IDLE = ["sleep", "infinity"]  # pid 1 is docker-init (tini): it reaps what the product starts and forwards signals
PYTHON = "/usr/bin/python3"


def container_name(environment: str, host: str) -> str:
    return f"{environment}-{host}"


class DockerBackend(Backend):
    NAME = "docker"
    EPHEMERAL = True

    def available(self) -> tuple[bool, str]:
        from harness.backends.docker_engine import docker_available

        return docker_available()

    def _host(self, environment: str, spec: HostSpec, published: dict[int, int]) -> Host:
        return Host(name=spec.name, transport_spec=f"docker://{container_name(environment, spec.name)}", root="",
                    bind="0.0.0.0", address=spec.name, ports={p: p for p in spec.ports}, published=published,
                    python=PYTHON)

    def provision(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        from harness.backends.containers import StandinContainer, run_network
        from harness.backends.docker_engine import cleanup, ensure_image

        ok, why = self.available()
        if not ok:
            raise SetupFailed(f"the docker backend cannot run here: {why}")
        images = {spec.image: ensure_image(spec.image) for spec in hosts}

        def start(spec: HostSpec) -> Host:
            c = (StandinContainer(images[spec.image], run_id=environment)
                 .with_network(net).with_network_aliases(spec.name)
                 .with_name(container_name(environment, spec.name)).with_command(IDLE)
                 .with_kwargs(hostname=spec.name))
            for port in spec.ports:
                c.with_published_port(port)
            for m in spec.mounts:
                if m.writable:
                    c.with_volume_mapping(str(m.source.resolve()), m.target, "rw")
                else:
                    c.with_bind_mount(m.source.resolve(), m.target)
            for k, v in spec.env.items():
                c.with_env(k, v)
            c.start()
            return self._host(environment, spec, {p: int(c.get_exposed_port(p)) for p in spec.ports})

        try:
            net = run_network(environment)
            with ThreadPoolExecutor(max_workers=min(8, max(1, len(hosts)))) as pool:
                return list(pool.map(start, hosts))
        except BaseException:
            cleanup(environment)
            raise

    def planned(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        return [self._host(environment, spec, dict.fromkeys(spec.ports, 0)) for spec in hosts]

    def teardown(self, environment: str, state_dir: Path) -> None:
        from harness.backends.docker_engine import cleanup, docker_available

        if docker_available()[0]:
            cleanup(environment)
