"""A single-node Canopsis stand-in on the process backend, with its own real RabbitMQ node.

Layout under the environment's state dir::

    rabbitmq/                 the broker (mnesia, logs, cookie)            — canopsis_broker.Broker
    repo/                     a copy of containers/canopsis/repo: the package repository and release notes
    node/opt/canopsis/        a copy of containers/canopsis/node: bin/, lib/, etc/, var/ (state, logs, pids)
    inventory.yaml

Bringing it up runs the node's own commands, as an installation would: ``yum install``, ``canopsinit``,
``canopsis-reconfigure`` (declares the topology), ``systemctl daemon-reload``, ``canoctl start``; then
waits for every engine's ``engine started`` and the API. ``spec.options``: ``edition`` (core|cat),
``install`` (packages|compose). On the docker backend (``backend: docker``) RabbitMQ and the node run
in two containers (:mod:`harness.products.canopsis.standin.docker`); ``install: compose`` (docker backend only)
is a Compose project of engines, API and RabbitMQ as services (:mod:`harness.products.canopsis.standin.compose`).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.standins import LegacyStandin
import yaml

from harness.errors import ConfigError, HarnessError, SetupFailed
from harness.net import LOOPBACK, free_ports
from harness.plan.models import Component, Host, Inventory, StandinsSpec
from harness.products.canopsis.node import CanopsisNode
from harness.products.canopsis.standin.broker import Broker
from harness.transports.local import LocalTransport
from harness import resources

SOURCE = resources.containers("canopsis")
BASE_VERSION = "4.4.0"
OPTIONS = {"edition": ("core", "cat"), "install": ("packages", "compose")}


def options(spec: StandinsSpec) -> dict[str, str]:
    out = {"edition": "core", "install": "packages"}
    for k, v in spec.options.items():
        if k not in OPTIONS:
            raise ConfigError(f"unknown canopsis stand-in option {k!r}", field=f"standins.options.{k}",
                              hint=f"known: {', '.join(OPTIONS)}")
        if v not in OPTIONS[k]:
            raise ConfigError(f"canopsis option {k}={v!r}", field=f"standins.options.{k}",
                              hint=f"use one of: {', '.join(OPTIONS[k])}")
        out[k] = str(v)
    if out["install"] == "compose" and spec.backend != "docker":
        raise ConfigError("the Compose installation runs on the docker backend", field="standins.backend",
                          hint="use `backend: docker` with `install: compose`")
    return out


def copy_node(dest: Path) -> None:
    """The node tree, launchers pointed at this interpreter (it has pika; the image uses Debian's)."""
    shutil.copytree(SOURCE / "node", dest, ignore=shutil.ignore_patterns("__pycache__", "*.in"))
    for launcher in (dest / "bin").iterdir():
        text = launcher.read_text()
        launcher.write_text(re.sub(r"^#!.*", f"#!{sys.executable}", text, count=1))
        launcher.chmod(0o755)


def write_etc(root: Path, *, amqp_url: str, api_url: str, repo: str, listen: str | None = None) -> None:
    tpl = (SOURCE / "node/etc/go-engines-vars.conf.in").read_text()
    text = tpl.replace("@AMQP_URL@", amqp_url).replace("@API_URL@", api_url)
    if listen:
        text += f"CPS_API_LISTEN={listen}\n"
    (root / "etc/go-engines-vars.conf").write_text(text)
    (root / "etc/yum.repos.d").mkdir(parents=True, exist_ok=True)
    # `base` stands for the OS repositories, unreachable here: the runbook's --disablerepo="*" matters
    (root / "etc/yum.repos.d/canopsis.repo").write_text(
        f"[canopsis]\nname=Canopsis\nbaseurl=file://{repo}\nenabled=1\n\n"
        "[base]\nname=CentOS-7 - Base\nbaseurl=file:///nonexistent/centos/7/os\nenabled=1\n")


def install(node: CanopsisNode, version: str, edition: str, *, api_url: str | None = None,
            transport: str = "local") -> None:
    """What an installation does, with the node's own commands."""
    from harness.products.canopsis.versions import parse

    node.run("yum", "--disablerepo=*", "--enablerepo=canopsis*", "install", f"canopsis-{version}").check()
    node.run("canopsinit", "--canopsis-edition", edition).check()
    flags = ["-edition", {"core": "community", "cat": "pro"}[edition]] if parse(version).scheme == "YY.MM" else []
    node.sourced("canopsis-reconfigure", *flags).check()
    node.run("systemctl", "daemon-reload").check()
    offsets = node.log_sizes()
    node.run("canoctl", "start").check()
    wait_ready(node, edition, offsets, api_url=api_url, transport=transport)


def wait_ready(node: CanopsisNode, edition: str, offsets: dict[str, int], *, api_url: str | None,
               timeout: float = 60.0, transport: str = "local") -> None:
    from harness.engine.actions import StepContext
    from harness.engine.step import Gate, Step
    from harness.environment import Environment
    from harness.plan.models import Plan
    from harness.products.canopsis.actions import ready

    inv = _inventory_for_gate(node, api_url, transport)
    step = Step("up@node", "node", "canopsis.restart", {"edition": edition})
    ctx = StepContext(Environment.from_inventory(inv), Plan(procedure="canopsis-update"), step, {},
                      {"log_offsets": offsets})
    try:
        ready(ctx, Gate("canopsis.ready", timeout))
    except HarnessError as exc:
        raise SetupFailed(f"Canopsis stand-in did not come up: {exc}") from exc


def _inventory_for_gate(node: CanopsisNode, api_url: str | None, transport: str = "local") -> Inventory:
    if api_url is None:
        vars_text = node.read("etc/go-engines-vars.conf")
        api_url = re.search(r"^CPS_API_URL=(.*)$", vars_text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    return Inventory(environment="gate", product="canopsis", hosts=[Host(name="node", transport=transport, install_dir=node.root)],
                     components=[], front_door=api_url)


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    opts = options(spec)
    if spec.backend == "docker":
        from harness.products.canopsis.standin import compose as canopsis_compose, docker as canopsis_docker

        mod = canopsis_compose if opts["install"] == "compose" else canopsis_docker
        return mod.up(spec, state_dir, name=name)
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    version = spec.version or BASE_VERSION
    amqp_port, dist_port, api_port = free_ports(3)
    broker = Broker(state_dir / "rabbitmq", amqp_port, dist_port, f"cps-{name}@localhost")
    root = state_dir / "node/opt/canopsis"
    shutil.copytree(SOURCE / "repo", state_dir / "repo")
    copy_node(root)
    api_url = f"http://{LOOPBACK}:{api_port}"
    write_etc(root, amqp_url=broker.url, api_url=api_url, repo=str(state_dir / "repo"))
    inv = planned_inventory(spec, state_dir, name=name, api_url=api_url, broker=broker)
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    try:
        broker.start()
        node = CanopsisNode(LocalTransport(), str(root))
        install(node, version, opts["edition"])
    except BaseException:
        down(inv)
        raise
    facts = {**inv.facts, "broker_started_in": round(broker.started_in, 2)}
    inv = inv.model_copy(update={"facts": facts})
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return inv


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str, api_url: str | None = None,
                      broker: Broker | None = None) -> Inventory:
    opts = options(spec)
    if spec.backend == "docker":
        from harness.products.canopsis.standin import compose as canopsis_compose, docker as canopsis_docker

        mod = canopsis_compose if opts["install"] == "compose" else canopsis_docker
        return mod.planned_inventory(spec, state_dir, name=name)
    root = state_dir / "node/opt/canopsis"
    # before `up` copies it, the repository is the one shipped with the stand-in (planning reads notes)
    repo = str(state_dir / "repo") if broker else str(SOURCE / "repo")
    facts = {"version": spec.version or BASE_VERSION, "edition": opts["edition"], "install": opts["install"],
             "repository": repo, "node_repository": repo,
             "amqp_url": broker.url if broker else "", "broker_dir": str(broker.dir) if broker else "",
             "broker_node": broker.nodename if broker else "",
             "broker_ports": [broker.port, broker.dist_port] if broker else []}
    api = api_url or f"http://{LOOPBACK}:0"
    return Inventory(environment=name.strip("<>") or "new", product="canopsis", backend=spec.backend,
                     front_door=api, state_dir=str(state_dir),
                     hosts=[Host(name="node", transport="local", install_dir=str(root))],
                     components=[Component(name="canopsis", role="node", host="node", path=str(root), url=api),
                                 Component(name="rabbitmq", role="broker", host="node",
                                           path=str(state_dir / "rabbitmq"), url=facts["amqp_url"] or "amqp://"),
                                 Component(name="api", role="api", host="node", path=str(root), url=api)],
                     facts=facts)


def broker_of(inv: Inventory) -> Broker:
    f = inv.facts
    return Broker(Path(f["broker_dir"]), f["broker_ports"][0], f["broker_ports"][1], f["broker_node"])


def down(inv: Inventory, *, purge: bool = False) -> None:
    """Stop engines, API and the broker; nothing is left running. Files stay unless ``purge``."""
    if inv.backend == "docker":
        from harness.products.canopsis.standin import compose as canopsis_compose, docker as canopsis_docker

        mod = canopsis_compose if inv.facts.get("install") == "compose" else canopsis_docker
        mod.down(inv, purge=purge)
        return
    root = inv.hosts[0].install_dir
    node = CanopsisNode(LocalTransport(), root)
    if Path(root, "bin/canoctl").exists():
        node.run("canoctl", "stop", timeout=120)
    _kill_leftovers(Path(root) / "var/run")
    if inv.facts.get("broker_dir"):
        broker_of(inv).stop()
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)


def _kill_leftovers(run_dir: Path) -> None:
    import os
    import signal

    for pidfile in run_dir.glob("*.pid") if run_dir.exists() else []:
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
        pidfile.unlink(missing_ok=True)


class CanopsisOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    edition: Literal["core", "cat"] = Field("core", description="core (Community) or cat (Pro: + engine-correlation)")
    install: Literal["packages", "compose"] = Field("packages", description="packages (yum, canoctl) or a "
                                                   "Docker Compose project")


class CanopsisStandin(LegacyStandin):
    Options = CanopsisOptions
    base_version = BASE_VERSION
    module = "harness.products.canopsis.standin"

    def summary(self, options: CanopsisOptions) -> str:
        return f"single-node Canopsis ({options.edition}, {options.install})"


STANDIN = CanopsisStandin()
