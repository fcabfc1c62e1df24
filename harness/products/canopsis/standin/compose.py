"""The Canopsis stand-in installed with Docker Compose (``backend: docker``, ``options: {install: compose}``).

The installation is a Compose project directory under the state dir (see
:mod:`harness.products.canopsis.compose`) made from the reference compose file of the version
(``containers/canopsis/compose/<version>/docker-compose.yml``): services ``rabbitmq`` (real RabbitMQ),
``reconfigure`` (one-shot provisioning), ``engine-fifo``/``-che``/``-axe`` and ``api``, all on the
``upgrade-harness/canopsis*`` images, labelled with the run. As the 4.4/4.5 runbook brings the
provisioning up before the application, the broker is started and waited for first, then
``docker-compose up -d``. Ports published on 127.0.0.1 are fixed in ``.env`` (free ports chosen here),
so the API keeps its address when an update recreates its container. Node commands (migrations,
stats) run by docker exec in the API container ``NAME-api``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from harness.backends.docker_engine import cleanup, docker_available, ensure_image
from harness.errors import ConfigError, SetupFailed
from harness.net import LOOPBACK, free_ports
from harness.plan.models import Inventory, StandinsSpec
from harness.products.canopsis import compose
from harness.products.canopsis.node import CanopsisNode

ROOT = "/opt/canopsis"
REPO_MOUNT = "/srv/canopsis-repo"
NODE_AMQP_URL = "amqp://guest:guest@rabbitmq:5672/%2F"


def _check(spec: StandinsSpec, opts: dict[str, str]) -> None:
    if spec.backend != "docker":
        raise ConfigError("the Compose installation runs on the docker backend", field="standins.backend",
                          hint="use `backend: docker` with `install: compose`")
    if opts["edition"] != "core":
        raise ConfigError("the Compose stand-in has the Community edition only (core)",
                          field="standins.options.edition", hint="use `edition: core`, or `install: packages`")


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str, api_url: str | None = None,
                      amqp_url: str | None = None) -> Inventory:
    from harness.products.canopsis.standin import BASE_VERSION, SOURCE, options

    opts = options(spec)
    _check(spec, opts)
    # before `up` copies them, the repository and reference files are the ones shipped with the stand-in
    repo = str(state_dir / "repo") if api_url else str(SOURCE / "repo")
    reference = str(state_dir / "compose-reference") if api_url else str(SOURCE / "compose")
    api = api_url or f"http://{LOOPBACK}:0"
    facts = {"version": spec.version or BASE_VERSION, "edition": opts["edition"], "install": "compose",
             "repository": repo, "node_repository": REPO_MOUNT, "amqp_url": amqp_url or "",
             "node_amqp_url": NODE_AMQP_URL, "compose_dir": str(state_dir / "compose"),
             "compose_reference": reference}
    from harness.products.canopsis.standin.docker import docker_inventory

    return docker_inventory(name, state_dir, container=f"{name}-api", api=api, amqp_url=amqp_url, facts=facts)


def _compose(project: Path, *args: str, what: str) -> None:
    res = compose.run(project, *args)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        logs = compose.run(project, "logs", "--tail", "10", "--no-color", timeout=60)
        raise SetupFailed(f"{what}: `{' '.join(compose.command())} {' '.join(args)}` exited {res.returncode}\n"
                          f"{tail}\n--- service logs ---\n{logs.stdout[-3000:]}\nHint: see {project}")


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    from harness.transports import transport_for
    from harness.products.canopsis.standin import BASE_VERSION, SOURCE, options, wait_ready
    from harness.products.canopsis.standin.docker import wait_broker

    opts = options(spec)
    _check(spec, opts)
    ok, why = docker_available()
    if not ok:
        raise SetupFailed(f"the docker backend cannot run here: {why}")
    compose.command()
    version = spec.version or BASE_VERSION
    ref = compose.reference(SOURCE / "compose", version)
    if not ref.is_file():
        raise SetupFailed(f"no reference compose file for Canopsis {version} ({ref})\n"
                          f"Hint: versions with one: {', '.join(sorted(p.name for p in (SOURCE / 'compose').iterdir()))}")
    ensure_image("canopsis-rabbitmq")
    ensure_image("canopsis")
    state_dir = state_dir.resolve()
    project = state_dir / "compose"
    (project / "var").mkdir(parents=True)
    shutil.copytree(SOURCE / "repo", state_dir / "repo")
    shutil.copytree(SOURCE / "compose", state_dir / "compose-reference")  # the releases' files (a test adds one)
    shutil.copytree(SOURCE / "node/etc", project / "etc", ignore=shutil.ignore_patterns("*.in"))
    shutil.copyfile(ref, project / compose.FILE)
    amqp_port, api_port = free_ports(2)
    (project / ".env").write_text(f"COMPOSE_PROJECT_NAME={name}\nCPS_RUN={name}\nCPS_REPO={state_dir / 'repo'}\n"
                                  f"CPS_AMQP_PORT={amqp_port}\nCPS_API_PORT={api_port}\n")
    amqp_url = f"amqp://guest:guest@{LOOPBACK}:{amqp_port}/%2F"
    api_url = f"http://{LOOPBACK}:{api_port}"
    inv = planned_inventory(spec, state_dir, name=name, api_url=api_url, amqp_url=amqp_url)
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    try:
        _compose(project, "up", "-d", "rabbitmq", what="starting RabbitMQ")
        broker_started_in = wait_broker(amqp_url, f"{name}-rabbitmq")
        _compose(project, "up", "-d", what="docker-compose up")
        node = CanopsisNode(transport_for(inv.hosts[0].transport), ROOT)
        wait_ready(node, opts["edition"], {}, api_url=api_url, transport=inv.hosts[0].transport)
    except BaseException:
        down(inv)
        raise
    inv = inv.model_copy(update={"facts": {**inv.facts, "broker_started_in": round(broker_started_in, 2)}})
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return inv


def down(inv: Inventory, *, purge: bool = False) -> None:
    """``docker-compose down`` of the project, then any container or network left with the run label."""
    project = Path(str(inv.facts.get("compose_dir", "")))
    if (project / compose.FILE).is_file():
        compose.run(project, "down", "--timeout", "20", timeout=180)
    cleanup(inv.environment)
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)
