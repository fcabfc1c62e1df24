"""The Zato stand-in environment on the docker backend: one container per host, on a per-run network.

Each container runs the ``upgrade-harness/zato`` image (``containers/zato/Dockerfile``); its install dir
``/opt/zato/current`` is a clone of the run's upstream repository, bind-mounted read-only from the
host, so ``git pull`` inside the container is as real as on the process backend. Components listen on
their documented ports inside the network (the LB reaches ``vm-server1:17010``); the harness reaches
them through ports published on 127.0.0.1. Containers and the network carry the run label and are
removed by :func:`down` (and by ``.ci/run`` as a last resort).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testcontainers.core.network import Network

from harness.backends.containers import StandinContainer, docker_exec_transport
from harness.backends.docker_engine import LABEL_PROJECT, LABEL_RUN, cleanup, docker_available, ensure_image
from harness.environment import Environment
from harness.errors import SetupFailed
from harness.net import LOOPBACK
from harness.plan.models import Component, Host, Inventory, StandinsSpec
from harness.standins.zato import BASE_VERSION, PORTS, Layout, create_argv, start_all, topology, write_inventory
from harness.standins.zato_upstream import build_upstream

INSTALL_DIR = "/opt/zato/current"
UPSTREAM_MOUNT = "/srv/upstream"
ODB_MOUNT = "/opt/zato/odb"  # the cluster's ODB: one SQLite file in a directory every server container mounts


def _container(image: str, name: str, lay: Layout, net: Network, upstream_dir: Path, odb_dir: Path) -> StandinContainer:
    c = (StandinContainer(image, run_id=name)
         .with_network(net).with_network_aliases(lay.host)
         .with_published_port(PORTS[lay.role])
         .with_bind_mount(upstream_dir, UPSTREAM_MOUNT)
         .with_name(f"{name}-{lay.host}").with_kwargs(hostname=lay.host))
    if lay.role == "server":
        # Deliberately read-write, unlike every other mount: the servers share the ODB the way
        # Zato's quickstart shares one SQL database (SQLite locks work across containers of one
        # kernel). A tiny ODB service on one host would add a protocol the stand-in does not need.
        c.with_volume_mapping(str(odb_dir), ODB_MOUNT, "rw")
    c.start()
    return c


def _provision(c: StandinContainer, lay: Layout, version: str, servers: list[tuple[str, str]]) -> None:
    t = docker_exec_transport(c)
    t.run(["git", "clone", "--quiet", "--branch", "main", f"{UPSTREAM_MOUNT}/zato.git", INSTALL_DIR],
          timeout=120).check()
    if version != BASE_VERSION:
        t.run(["git", "-C", INSTALL_DIR, "reset", "--quiet", "--hard", version], timeout=60).check()
    t.run(["./update.sh"], cwd=INSTALL_DIR, timeout=120).check()
    path = f"/opt/zato/env/{lay.name}"
    t.run(create_argv(f"{INSTALL_DIR}/bin/zato", lay, path, bind="0.0.0.0", port=PORTS[lay.role],
                      servers=servers, odb_path=f"{ODB_MOUNT}/zato-odb.sqlite",
                      lb_address=f"vm-load-balancer:{PORTS['load-balancer']}"), timeout=60).check()


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    ok, why = docker_available()
    if not ok:
        raise SetupFailed(f"the docker backend cannot run here: {why}")
    image = ensure_image("zato")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    build_upstream(state_dir / "upstream")
    lays = topology(spec.servers)
    servers = [(lay.name, f"{lay.host}:{PORTS['server']}") for lay in lays if lay.role == "server"]
    net = Network(docker_network_kw={"driver": "bridge", "labels": {LABEL_PROJECT: "network", LABEL_RUN: name}})
    net.name = f"{name}-{uuid.uuid4().hex[:6]}"
    try:
        net.create()
        with ThreadPoolExecutor(max_workers=4) as pool:
            (state_dir / "odb").mkdir(exist_ok=True)
            started = list(pool.map(lambda lay: _container(image, name, lay, net, state_dir / "upstream",
                                                           state_dir / "odb"), lays))
            version = spec.version or BASE_VERSION
            list(pool.map(lambda pair: _provision(pair[0], pair[1], version, servers), zip(started, lays)))
        hosts, comps = [], []
        for c, lay in zip(started, lays, strict=True):
            hosts.append(Host(name=lay.host, transport=f"docker://{name}-{lay.host}", install_dir=INSTALL_DIR))
            port = c.get_exposed_port(PORTS[lay.role])
            comps.append(Component(name=lay.name, role=lay.role, host=lay.host,  # type: ignore[arg-type]
                                   path=f"/opt/zato/env/{lay.name}", url=f"http://{LOOPBACK}:{port}"))
        lb = next(c for c in comps if c.role == "load-balancer")
        inv = Inventory(environment=name, backend="docker", hosts=hosts, components=comps, front_door=lb.url,
                        state_dir=str(state_dir))
        write_inventory(inv, state_dir / "inventory.yaml")
        start_all(Environment.from_inventory(inv))
    except BaseException:
        cleanup(name)
        raise
    return inv


def down(inv: Inventory) -> None:
    cleanup(inv.environment)
