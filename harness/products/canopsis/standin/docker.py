"""The Canopsis stand-in on the docker backend: RabbitMQ in its own container, the node in another.

Two containers on a per-run network, both labelled with the run (``cleanup(name)`` removes them):

* ``NAME-rabbitmq`` (``upgrade-harness/canopsis-rabbitmq``, ``containers/canopsis-rabbitmq``): real
  RabbitMQ, alias ``rabbitmq``, AMQP 5672 published on 127.0.0.1 for the harness's publishers;
* ``NAME-canopsis`` (``upgrade-harness/canopsis``, ``containers/canopsis``): the node programs under
  ``/opt/canopsis``, the package repository (the state dir's copy, so a test can add a release) bind-mounted
  read-only at ``/srv/canopsis-repo``, the API's 8082 published on 127.0.0.1. Commands reach it by
  docker exec (host transport ``docker://NAME-canopsis``), so ``canopsis-update`` runs unchanged.

Inside the network the node talks to ``amqp://…@rabbitmq:5672``; the inventory's ``facts.amqp_url`` is
the published port, for traffic and queue depths from the harness side.
"""

from __future__ import annotations

import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from testcontainers.core.network import Network

from harness.backends.containers import StandinContainer, docker_exec_transport
from harness.backends.docker_engine import LABEL_PROJECT, LABEL_RUN, cleanup, docker_available, ensure_image
from harness.errors import SetupFailed
from harness.net import LOOPBACK
from harness.plan.models import Component, Host, Inventory, StandinsSpec
from harness.products.canopsis.node import CanopsisNode

ROOT = "/opt/canopsis"
REPO_MOUNT = "/srv/canopsis-repo"
AMQP_PORT, API_PORT = 5672, 8082
NODE_AMQP_URL = f"amqp://guest:guest@rabbitmq:{AMQP_PORT}/%2F"
BROKER_TIMEOUT = 120.0


def container_names(name: str) -> tuple[str, str]:
    return f"{name}-rabbitmq", f"{name}-canopsis"


def _start_broker(image: str, name: str, net: Network) -> StandinContainer:
    c = (StandinContainer(image, run_id=name).with_network(net).with_network_aliases("rabbitmq")
         .with_published_port(AMQP_PORT).with_name(container_names(name)[0]).with_kwargs(hostname="rabbitmq"))
    c.start()
    return c


def _start_node(image: str, name: str, net: Network, repo: Path) -> StandinContainer:
    c = (StandinContainer(image, run_id=name).with_network(net).with_network_aliases("canopsis")
         .with_published_port(API_PORT).with_bind_mount(repo, REPO_MOUNT)
         .with_name(container_names(name)[1]).with_kwargs(hostname="canopsis"))
    c.start()
    return c


def wait_broker(url: str, container: str, timeout: float = BROKER_TIMEOUT) -> float:
    """Seconds until RabbitMQ (in ``container``) accepted an AMQP connection through the published port."""
    from harness.backends.docker_engine import client, describe_container
    from harness.products.canopsis.amqp import reachable

    start = time.monotonic()
    why = None
    while time.monotonic() - start < timeout:
        why = reachable(url, timeout=2)
        if why is None:
            return time.monotonic() - start
        time.sleep(0.3)
    raise SetupFailed(f"RabbitMQ in {container} did not accept AMQP within {timeout:g}s "
                      f"(last error: {why})\n{describe_container(client().containers.get(container))}")


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    from harness.products.canopsis.standin import BASE_VERSION, SOURCE, install, options

    opts = options(spec)
    ok, why = docker_available()
    if not ok:
        raise SetupFailed(f"the docker backend cannot run here: {why}")
    broker_image, node_image = ensure_image("canopsis-rabbitmq"), ensure_image("canopsis")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SOURCE / "repo", state_dir / "repo")
    version = spec.version or BASE_VERSION
    net = Network(docker_network_kw={"driver": "bridge", "labels": {LABEL_PROJECT: "network", LABEL_RUN: name}})
    net.name = f"{name}-{uuid.uuid4().hex[:6]}"
    try:
        net.create()
        with ThreadPoolExecutor(max_workers=2) as pool:
            fb = pool.submit(_start_broker, broker_image, name, net)
            fn = pool.submit(_start_node, node_image, name, net, state_dir / "repo")
            broker, node_c = fb.result(), fn.result()
        amqp_url = f"amqp://guest:guest@{LOOPBACK}:{broker.get_exposed_port(AMQP_PORT)}/%2F"
        api_url = f"http://{LOOPBACK}:{node_c.get_exposed_port(API_PORT)}"
        inv = planned_inventory(spec, state_dir, name=name, api_url=api_url, amqp_url=amqp_url)
        (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
        node = CanopsisNode(docker_exec_transport(node_c), ROOT)
        write_etc(node)
        broker_started_in = wait_broker(amqp_url, container_names(name)[0])
        install(node, version, opts["edition"], api_url=api_url, transport=inv.hosts[0].transport)
    except BaseException:
        cleanup(name)
        raise
    inv = inv.model_copy(update={"facts": {**inv.facts, "broker_started_in": round(broker_started_in, 2)}})
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return inv


def write_etc(node: CanopsisNode) -> None:
    from harness.products.canopsis.standin import SOURCE

    tpl = (SOURCE / "node/etc/go-engines-vars.conf.in").read_text()
    text = tpl.replace("@AMQP_URL@", NODE_AMQP_URL).replace("@API_URL@", f"http://localhost:{API_PORT}")
    node.transport.put(f"{ROOT}/etc/go-engines-vars.conf", (text + f"CPS_API_LISTEN=0.0.0.0:{API_PORT}\n").encode())
    # `base` stands for the OS repositories, unreachable here: the runbook's --disablerepo="*" matters
    node.transport.put(f"{ROOT}/etc/yum.repos.d/canopsis.repo", (
        f"[canopsis]\nname=Canopsis\nbaseurl=file://{REPO_MOUNT}\nenabled=1\n\n"
        "[base]\nname=CentOS-7 - Base\nbaseurl=file:///nonexistent/centos/7/os\nenabled=1\n").encode())


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str, api_url: str | None = None,
                      amqp_url: str | None = None) -> Inventory:
    from harness.products.canopsis.standin import BASE_VERSION, SOURCE, options

    opts = options(spec)
    broker_c, node_c = container_names(name)
    repo = str(state_dir / "repo") if api_url else str(SOURCE / "repo")
    api = api_url or f"http://{LOOPBACK}:0"
    facts = {"version": spec.version or BASE_VERSION, "edition": opts["edition"], "install": opts["install"],
             "repository": repo, "node_repository": REPO_MOUNT, "amqp_url": amqp_url or "",
             "node_amqp_url": NODE_AMQP_URL, "containers": [broker_c, node_c]}
    return docker_inventory(name, state_dir, container=node_c, api=api, amqp_url=amqp_url, facts=facts)


def docker_inventory(name: str, state_dir: Path, *, container: str, api: str, amqp_url: str | None,
                     facts: dict[str, object]) -> Inventory:
    """The inventory of a Canopsis node reached by ``docker exec`` (docker backend and Compose path)."""
    return Inventory(environment=name.strip("<>") or "new", product="canopsis", backend="docker",
                     front_door=api, state_dir=str(state_dir),
                     hosts=[Host(name="node", transport=f"docker://{container}", install_dir=ROOT)],
                     components=[Component(name="canopsis", role="node", host="node", path=ROOT, url=api),
                                 Component(name="rabbitmq", role="broker", host="node", path="/var/lib/rabbitmq",
                                           url=amqp_url or "amqp://"),
                                 Component(name="api", role="api", host="node", path=ROOT, url=api)],
                     facts=facts)


def down(inv: Inventory, *, purge: bool = False) -> None:
    """Remove both containers and the network (the broker's queues go with them)."""
    cleanup(inv.environment)
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)
