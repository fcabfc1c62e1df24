"""The Compose installation (``install: compose``): a host that runs the Docker CLI, and a Compose project on it.

The host ``node`` is where an operator of a Compose installation works: it holds the project directory
(:mod:`harness.products.canopsis.compose`) and runs ``docker-compose`` against the Docker engine it
reaches. The project is made from the reference compose file of the version
(``containers/canopsis/compose/<version>/docker-compose.yml``): services ``rabbitmq`` (real RabbitMQ),
``reconfigure`` (one-shot provisioning), ``engine-fifo``/``-che``/``-axe`` and ``api``, on the
``upgrade-harness/canopsis*`` images, the stand-in's programs (``bin/``, ``lib/``, put into the project)
mounted into each, every container and the network labelled with the run. As the 4.4/4.5 runbook brings
the provisioning up before the application, the broker is started and awaited first, then ``up -d``.
The ports published on 127.0.0.1 are the host's for 8082 and 5672, fixed in ``.env``, so the API keeps
its address when an update recreates its container.

The services' bind mounts name the project's paths as the host sees them, so the engine must see the
host's filesystem: a host of the process backend (this machine's engine). A host without a Docker CLI
(a container of the docker backend) is refused with :class:`~harness.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import time

from harness.backends import HostSpec, Mount
from harness.backends.docker_engine import LABEL_RUN, ensure_image
from harness.environment import Environment
from harness.errors import ConfigError, SetupFailed, TransportError
from harness.plan.models import Component, Host, Inventory
from harness.products.canopsis import compose
from harness.products.canopsis.node import CanopsisNode
from harness.products.canopsis.standin.broker import BOOT_TIMEOUT, AmqpAccepts
from harness.products.canopsis.standin.common import (
    AMQP_PORT,
    API_PORT,
    REPO_MOUNT,
    SOURCE,
    amqp_url,
    facts,
    harness_amqp_url,
    inventory,
    put_tree,
    shipped_or_copied,
    wait_up,
)
from harness.secrets import reveal
from harness.standins import InstallContext
from harness.wait import wait_until

PROJECT = "/opt/canopsis-compose"
#: where the compose files mount ${CPS_REPO} in every service
SERVICE_REPO = "/srv/canopsis-repo"
NODE_AMQP_URL = amqp_url(f"rabbitmq:{AMQP_PORT}")


def hosts(ctx: InstallContext) -> list[HostSpec]:
    # the ports are the ones the project publishes on 127.0.0.1 (.env)
    return [HostSpec("node", "canopsis", ports=(API_PORT, AMQP_PORT),
                     mounts=(Mount(ctx.state_dir / "repo", REPO_MOUNT),))]


def planned(ctx: InstallContext) -> Inventory:
    host = ctx.hosts["node"]
    root, api, amqp = host.path(PROJECT), host.url(API_PORT), harness_amqp_url(host.url(AMQP_PORT, "amqp"))
    return inventory(
        ctx, root=root, api=api, hosts=[Host(name="node", transport=host.transport_spec, install_dir=root)],
        broker=Component(name="rabbitmq", role="broker", host="node", path=root, url=amqp),
        facts=facts(ctx, node_repository=SERVICE_REPO, amqp_url=amqp, node_amqp_url=NODE_AMQP_URL,
                    compose_dir=root, compose_reference=shipped_or_copied(ctx, "compose")))


def install(ctx: InstallContext) -> Inventory:
    host = ctx.hosts["node"]
    command = compose.command(host.transport)
    if command is None:
        raise ConfigError(f"the Compose installation runs docker-compose on its host, and {host.transport.target} "
                          "has neither docker-compose nor `docker compose`", field="standins.backend",
                          hint="use `backend: process` with `install: compose` (the project runs against this "
                               "machine's Docker engine; scripts/bootstrap installs docker-compose)")
    ref = compose.reference(ctx.state_dir / "compose", ctx.version)
    if not ref.is_file():
        known = ", ".join(sorted(p.name for p in (SOURCE / "compose").iterdir()))
        raise SetupFailed(f"no reference compose file for Canopsis {ctx.version} ({ref})\n"
                          f"Hint: versions with one: {known}")
    images = ensure_image("canopsis"), ensure_image("canopsis-rabbitmq")  # on the engine the host's CLI uses
    inv = planned(ctx)
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_command": command}})
    project = compose.Project(host.transport, host.path(PROJECT), tuple(command))
    put_tree(host.transport, SOURCE / "node", project.dir)  # the services' programs, run by the image's python3
    project.write(compose.FILE, ref.read_text())
    project.write(".env", f"COMPOSE_PROJECT_NAME={ctx.environment}\nCPS_RUN={ctx.environment}\n"
                          f"CPS_IMAGE={images[0]}\nCPS_BROKER_IMAGE={images[1]}\nCPS_REPO={host.path(REPO_MOUNT)}\n"
                          f"CPS_AMQP_PORT={host.listen(AMQP_PORT)}\nCPS_API_PORT={host.listen(API_PORT)}\n")
    host.transport.run(["mkdir", "-p", f"{project.dir}/var"], timeout=30).check()
    _up(project, "rabbitmq", what="starting RabbitMQ")
    broker_started_in = _wait_broker(project, reveal(inv.facts["amqp_url"]))
    _up(project, what="docker-compose up")
    wait_up(CanopsisNode(host.transport, project.dir, project.exec_prefix("api"), compose.SERVICE_ROOT), inv)
    return inv.model_copy(update={"facts": {**inv.facts, "broker_started_in": round(broker_started_in, 2)}})


def _up(project: compose.Project, *services: str, what: str) -> None:
    res = project.run("up", "-d", *services)
    if not res.ok:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise SetupFailed(f"{what}: `{' '.join(project.argv('up', '-d', *services))}` exited {res.exit_code}\n"
                          f"{tail}\n--- service logs ---\n{project.logs()[-3000:]}\n"
                          f"Hint: see {project.transport.target}{project.dir}")


def _wait_broker(project: compose.Project, url: str) -> float:
    start = time.monotonic()
    wait_until(AmqpAccepts(url), timeout=BOOT_TIMEOUT, interval=0.3, error=SetupFailed,
               details=lambda: "--- rabbitmq logs ---\n" + project.logs("rabbitmq", tail=15),
               hint=f"see `{' '.join(project.argv('logs', 'rabbitmq'))}` in {project.dir}")
    return time.monotonic() - start


def stop(inv: Inventory) -> None:
    """``docker-compose down`` of the project, then any container or network left with the run label."""
    env = Environment.from_inventory(inv)
    try:
        project = compose.Project.of(env)
        with contextlib.suppress(TransportError):  # no Compose command on the host: nothing was started
            if project.transport.exists(f"{project.dir}/{compose.FILE}"):
                project.run("down", "--timeout", "20", "--volumes", timeout=180)
        compose.sweep(project.transport, f"{LABEL_RUN}={inv.environment}")
    finally:
        env.close()
