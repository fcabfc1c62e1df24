"""The BEAM stand-in on the docker backend: one container per node on a per-run network.

Each container runs ``upgrade-harness/beam`` (``containers/beam/Dockerfile``): a real ``erl`` node named
``NAME@NAME`` (the container's hostname and network alias), so Erlang distribution between the master
and the workers goes over the per-run network. Inside, the patch agent listens on 0.0.0.0:4370 and the
master's patch service on 0.0.0.0:8080; the harness reaches both through ports published on 127.0.0.1
only. The service's users file is mounted read-only from the state dir (random passwords, mode 0600).
Containers and the network carry the run label; :func:`down` removes them.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testcontainers.core.network import Network

from harness.backends.containers import StandinContainer
from harness.backends.docker_engine import LABEL_PROJECT, LABEL_RUN, cleanup, docker_available, ensure_image
from harness.errors import HarnessError, SetupFailed
from harness.net import LOOPBACK
from harness.plan.models import Inventory, StandinsSpec
from harness.products.beam.agent import AgentClient
from harness.products.beam.etf import Atom
from harness.products.beam.standin.system import NodeSpec, topology
from harness.products.beam.standin import BASE_VERSION, credentials, inventory, write_inventory

AGENT_PORT, SERVICE_PORT = 4370, 8080
ROOT = "/opt/system"


def _container(image: str, name: str, spec: NodeSpec, net: Network, cookie: str, domain: list[str],
               service_dir: Path) -> StandinContainer:
    c = (StandinContainer(image, run_id=name)
         .with_network(net).with_network_aliases(spec.name)
         .with_published_port(AGENT_PORT)
         .with_name(f"{name}-{spec.name}").with_kwargs(hostname=spec.name)
         .with_env("NODE_NAME", spec.name).with_env("COOKIE", cookie)
         .with_env("ROLE", spec.role).with_env("APPS", " ".join(spec.apps)))
    if spec.role == "master":
        c = (c.with_published_port(SERVICE_PORT).with_bind_mount(service_dir, "/run/beam")
             .with_env("DOMAIN", " ".join(domain)))
    c.start()
    return c


def _wait_ready(agent: AgentClient, expect_domain: int, timeout: float = 60.0) -> None:
    """The agent answers and (master) sees every node of the domain over distribution."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if expect_domain == 0:
                agent.info()
                return
            replies = agent.domain(Atom("info"))
            if len(replies) == expect_domain and all(r.get("reachable") and "result" in r for r in replies):
                return
            last = replies
        except HarnessError as exc:
            last = exc
        time.sleep(0.2)
    raise SetupFailed(f"BEAM node behind {agent.address} not ready after {timeout:g}s: {last}\n"
                      f"Hint: docker logs the node's container")


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    ok, why = docker_available()
    if not ok:
        raise SetupFailed(f"the docker backend cannot run here: {why}")
    if (spec.version or BASE_VERSION) != BASE_VERSION:
        raise SetupFailed(f"the beam image is built for system {BASE_VERSION}; version {spec.version} "
                          f"needs the process backend")
    image = ensure_image("beam")
    state_dir = state_dir.resolve()
    service_dir = state_dir / "service"
    service_dir.mkdir(parents=True, exist_ok=True)
    users, creds = credentials(state_dir)
    (service_dir / "users.json").write_text(json.dumps(users))
    (service_dir / "users.json").chmod(0o600)
    specs = topology(spec.nodes)
    domain = [f"{s.name}@{s.name}" for s in specs if s.role != "master"]
    cookie = "c" + secrets.token_hex(8)
    net = Network(docker_network_kw={"driver": "bridge", "labels": {LABEL_PROJECT: "network", LABEL_RUN: name}})
    net.name = f"{name}-{uuid.uuid4().hex[:6]}"
    try:
        net.create()
        with ThreadPoolExecutor(max_workers=4) as pool:
            started = list(pool.map(lambda s: _container(image, name, s, net, cookie, domain, service_dir), specs))
        nodes = [(s.name, s.role, f"docker://{name}-{s.name}", ROOT, int(c.get_exposed_port(AGENT_PORT)))
                 for s, c in zip(specs, started, strict=True)]
        master = next(c for s, c in zip(specs, started, strict=True) if s.role == "master")
        url = f"http://{LOOPBACK}:{master.get_exposed_port(SERVICE_PORT)}"
        inv = inventory(name, "docker", state_dir, nodes, service_url=url, version=BASE_VERSION, creds=creds,
                        erlang_nodes={s.name: f"{s.name}@{s.name}" for s in specs})
        for n, role, _, _, port in nodes:
            if role != "master":
                _wait_ready(AgentClient(LOOPBACK, port, timeout=5, name=n), 0)
        _wait_ready(AgentClient(LOOPBACK, nodes[0][4], timeout=5, name="master"), len(specs))
        _wait_service(url)
        write_inventory(inv, state_dir / "inventory.yaml")
    except BaseException:
        cleanup(name)
        raise
    return inv


def _wait_service(url: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/patch", timeout=2).status_code in (401, 404):
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SetupFailed(f"the patch service at {url} did not answer in {timeout:g}s\nHint: docker logs the master")


def down(inv: Inventory) -> None:
    cleanup(inv.environment)
