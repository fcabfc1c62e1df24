"""The Compose installation (``install: compose``): a host that runs the Docker CLI, and a Compose project on it.

The host ``node`` is where an operator of a Compose installation works: it holds the project directory
(:mod:`harness.products.canopsis.compose`) and runs ``docker-compose`` against the Docker engine it
reaches. The project is made from the reference files of the version, as upstream ships them
(``containers/canopsis/compose/<version>/``: ``docker-compose.yml``, the same for every 4.x version;
``.env`` with ``CANOPSIS_IMAGE_TAG``; ``compose.env`` with the broker ``cpsrabbit`` on vhost ``canopsis``):
upstream's services ``rabbitmq`` (real RabbitMQ), ``reconfigure`` (one-shot), ``fifo``, ``che``, ``axe`` and
``api``, the ones it cannot run left out. Everything specific to the installation is in its own
``docker-compose.override.yml`` (an operator's file, kept by updates): the ``upgrade-harness/canopsis*``
images, the stand-in's programs (``bin/``, ``lib/``, put into the project) and state mounted into each,
the version taken from ``CANOPSIS_IMAGE_TAG``, every container and the network labelled with the run, and
the ports published on 127.0.0.1 (the host's for 8082 and 5672, fixed, so the API keeps its address when an
update recreates its container). The broker is started and awaited first, then reconfigure is run to its
end, then ``up -d``. A 22.10+ version's files (``timescaledb``, the one-shot ``migrate-metrics-meta``,
``condition:`` ordering; from 23.10 ``mongodb`` and the one-shot ``mongodb-rs-init`` instead of
migrate-metrics-meta) are started by ``up -d`` alone: Compose runs the jobs first. :func:`override_for` makes
the override for another version's services, as an operator edits it for an update across a rename.

The services' bind mounts name the project's paths as the host sees them, so the engine must see the
host's filesystem: a host of the process backend (this machine's engine). A host without a Docker CLI
(a container of the docker backend) is refused with :class:`~harness.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from harness.backends import HostSpec, Mount
from harness.backends.docker_engine import LABEL_RUN, ensure_image, image_tag
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
#: the services of the 22.10+ files the stand-in runs besides the 4.x ones (its own programs, like the others):
#: 22.10-23.04 timescaledb and the one-shot migrate-metrics-meta; 23.10+ timescaledb, mongodb (replica set
#: rs0) and the one-shot mongodb-rs-init
CALVER_SERVICES = ("timescaledb", "migrate-metrics-meta", "mongodb", "mongodb-rs-init")
#: the healthchecks' programs (pg_isready, mongo, mongosh) are the stand-in's, in bin/
_BIN_PATH = "\n      PATH: /opt/canopsis/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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
    ref = compose.reference(ctx.state_dir / "compose", ctx.version).parent
    missing = [n for n in compose.FILES if not (ref / n).is_file()]  # every version ships these
    if missing:
        known = ", ".join(sorted(p.name for p in (SOURCE / "compose").iterdir()))
        raise SetupFailed(f"no reference compose files for Canopsis {ctx.version} ({ref}: {', '.join(missing)})\n"
                          f"Hint: versions with them: {known}")
    images = ensure_image("canopsis"), ensure_image("canopsis-rabbitmq")  # on the engine the host's CLI uses
    inv = planned(ctx)
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_command": command,
                                           "compose_project": ctx.environment}})
    project = compose.Project(host.transport, host.path(PROJECT), tuple(command), ctx.environment)
    put_tree(host.transport, SOURCE / "node", project.dir)  # the services' programs, run by the image's python3
    for name in compose.files(ref.parent, ctx.version):  # upstream's file set of the version, as downloaded
        project.write(name, (ref / name).read_text())
    project.write(compose.OVERRIDE, override(ctx.environment, images, host.path(REPO_MOUNT),
                                             host.listen(AMQP_PORT), host.listen(API_PORT),
                                             extra=calver_services((ref / compose.FILE).read_text())))
    host.transport.run(["mkdir", "-p", f"{project.dir}/var"], timeout=30).check()
    _up(project, "rabbitmq", what="starting RabbitMQ")
    broker_started_in = _wait_broker(project, reveal(inv.facts["amqp_url"]))
    if project.ordered_jobs():  # 22.10+: the files' condition: rules run the jobs first
        _up(project, what="docker-compose up -d (the jobs first, by the files' condition: rules)")
    else:
        res = project.run_once("reconfigure")
        if not res.ok:
            raise SetupFailed(f"the reconfigure service exited {res.exit_code}\n{(res.stdout + res.stderr)[-2000:]}")
        _up(project, *compose.SERVICES, what="docker-compose up")
    wait_up(CanopsisNode(host.transport, project.dir, project.exec_prefix("api"), compose.SERVICE_ROOT), inv)
    return inv.model_copy(update={"facts": {**inv.facts, "broker_started_in": round(broker_started_in, 2)}})


def calver_services(compose_text: str) -> list[str]:
    """The services of :data:`CALVER_SERVICES` a version's docker-compose.yml has (its override's ``extra``)."""
    return [s for s in CALVER_SERVICES if s in compose.services(compose_text)]


def override_for(inv: Inventory, version: str) -> str:
    """The installation's override made for ``version``'s services, as an operator edits it for an update
    across a service rename (23.10 drops migrate-metrics-meta, adds mongodb and mongodb-rs-init): what
    :func:`install` writes for that version, from the inventory (run, project root, the published ports)."""
    root = str(inv.facts["compose_dir"]).removesuffix(PROJECT)
    ports = [urlsplit(str(u)).port for u in (reveal(inv.facts["amqp_url"]), inv.front_door)]
    text = compose.reference(str(inv.facts["compose_reference"]), version).read_text()
    return override(inv.environment, (image_tag("canopsis"), image_tag("canopsis-rabbitmq")), root + REPO_MOUNT,
                    int(ports[0] or AMQP_PORT), int(ports[1] or API_PORT), extra=calver_services(text))


def override(run: str, images: tuple[str, str], repo: str, amqp_port: int, api_port: int,
             extra: Sequence[str] = ()) -> str:
    """The installation's own ``docker-compose.override.yml`` (the operator's file: an update keeps it): the
    stand-in images for upstream's, the stand-in's programs and state mounted, the version from .env's
    CANOPSIS_IMAGE_TAG, labels for cleanup, and the ports on 127.0.0.1 only. ``extra``: the services of
    :data:`CALVER_SERVICES` the version's file has (an override naming a service the file lacks would add it)."""
    labels = f"      upgrade-harness: standin\n      upgrade-harness.run: {run}\n"
    service = "\n".join([
        "    image: {image}", "    init: true", '    command: ["/opt/canopsis/bin/cps-service", "{prog}"]',
        "    environment:", "      CANOPSIS_VERSION: ${{CANOPSIS_IMAGE_TAG}}", "      CANOPSIS_EDITION: core{extra}",
        "    volumes:", "      - ./bin:/opt/canopsis/bin:ro",
        "      - ./lib/cps_standin:/opt/canopsis/lib/cps_standin:ro",
        "      - ./etc:/opt/canopsis/etc", "      - ./var:/opt/canopsis/var", "      - {repo}:/srv/canopsis-repo:ro",
        "    labels:", labels.rstrip("\n")])
    out = ["# docker-compose.override.yml of this installation (kept by updates): the Canopsis stand-in's images,",
           "# programs and state for upstream's, ports on 127.0.0.1 only.", "version: '2.4'", "services:",
           "  rabbitmq:", f"    image: {images[1]}", '    command: ["/usr/sbin/rabbitmq-server"]',
           f"    container_name: {run}-rabbitmq", "    init: true", "    labels:", labels.rstrip("\n"),
           f'    ports: ["127.0.0.1:{amqp_port}:5672"]']
    progs = {"reconfigure": "reconfigure", "fifo": "engine-fifo", "che": "engine-che", "axe": "engine-axe",
             "api": "api"}
    progs.update({svc: svc for svc in extra})
    extras = {"reconfigure": "\n      CPS_RECONFIGURE_FLAGS: ${{CPS_RECONFIGURE_FLAGS:-}}",
              "api": "\n      CPS_API_LISTEN: 0.0.0.0:8082",
              "timescaledb": _BIN_PATH, "mongodb": _BIN_PATH}
    for svc, prog in progs.items():
        out.append(f"  {svc}:")
        out.append(service.format(image=images[0], prog=prog, extra=extras.get(svc, "").format(), repo=repo))
        if svc == "api":
            out += [f"    container_name: {run}-api", f'    ports: ["127.0.0.1:{api_port}:8082"]']
    out += ["networks:", "  default:", "    labels:", "      upgrade-harness: network",
            f"      upgrade-harness.run: {run}", ""]
    return "\n".join(out)


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
