"""The packages installation: a node host running the runbook's commands, and a broker host.

::

    rabbitmq   /srv/rabbitmq            real RabbitMQ, started by :mod:`.broker`
    node       /opt/canopsis            the node programs (containers/canopsis/node, put here; the
                                        launchers' ``#!`` names the host's interpreter): bin/, lib/, etc/,
                                        var/ (state, logs, pids)
               /srv/canopsis-repo       the package repository, mounted read-only

Installing runs the node's own commands, as an installation would: ``yum install``, ``canopsinit``,
``canopsis-reconfigure`` (declares the topology), ``systemctl daemon-reload``, ``canoctl start``; then
waits for every engine's ``engine started`` and the API. The broker boots meanwhile (it is only needed
from ``canopsis-reconfigure`` on). The node reaches the broker at ``rabbitmq``'s peer address.
"""

from __future__ import annotations

import contextlib

from harness.backends import HostSpec, Mount
from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Component, Host, Inventory
from harness.products.canopsis.node import ENGINE_LOGS, CanopsisNode, unit_of
from harness.products.canopsis.standin import broker as rabbitmq
from harness.products.canopsis.standin import common
from harness.products.canopsis.standin.common import API_PORT, REPO_MOUNT, SOURCE
from harness.products.canopsis.versions import parse
from harness.secrets import reveal
from harness.standins import InstallContext, kill_pidfiles

ROOT = "/opt/canopsis"
REPO_FILE = "etc/yum.repos.d/canopsis.repo"
#: what a running unit's pid is kept in (``systemctl``'s stand-in, lib/cps_standin/units.py)
UNIT_PIDFILES = [f"var/run/{unit_of(p)}.pid" for p in [*ENGINE_LOGS, "api"]]


def hosts(ctx: InstallContext) -> list[HostSpec]:
    return [HostSpec("node", "canopsis", ports=(API_PORT,), mounts=(Mount(ctx.state_dir / "repo", REPO_MOUNT),),
                     account="canopsis"),
            HostSpec("rabbitmq", "canopsis-rabbitmq", ports=(common.AMQP_PORT, rabbitmq.DIST_PORT))]


def planned(ctx: InstallContext) -> Inventory:
    node, mq = ctx.hosts["node"], ctx.hosts["rabbitmq"]
    root, api, broker = node.path(ROOT), node.url(API_PORT), rabbitmq.Broker.on(mq, ctx.environment)
    return common.inventory(
        ctx, root=root, api=api,
        hosts=[Host(name="node", transport=node.transport_spec, install_dir=root),
               Host(name="rabbitmq", transport=mq.transport_spec, install_dir=broker.dir)],
        broker=Component(name="rabbitmq", role="broker", host="rabbitmq", path=broker.dir, url=broker.url),
        facts=common.facts(ctx, node_repository=node.path(REPO_MOUNT), amqp_url=broker.url,
                           node_amqp_url=common.amqp_url(mq.peer(common.AMQP_PORT)), broker_node=broker.nodename,
                           broker_listen=[broker.bind, broker.port, broker.dist_port]))


def install(ctx: InstallContext) -> Inventory:
    inv = planned(ctx)
    host = ctx.hosts["node"]
    broker = rabbitmq.Broker.on(ctx.hosts["rabbitmq"], ctx.environment)
    started = broker.start()
    node = CanopsisNode(host.transport, host.path(ROOT))
    common.put_tree(node.transport, SOURCE / "node", node.root, python=host.python)
    write_etc(node, amqp=reveal(inv.facts["node_amqp_url"]), api=f"http://{host.peer(API_PORT)}",
              listen=f"{host.bind}:{host.listen(API_PORT)}", repo=host.path(REPO_MOUNT))
    node.run("yum", "--disablerepo=*", "--enablerepo=canopsis*", "install", f"canopsis-{ctx.version}").check()
    node.run("canopsinit", "--canopsis-edition", ctx.options.edition).check()
    broker_started_in = broker.wait_ready(started)
    flags = ["-edition", {"core": "community", "cat": "pro"}[ctx.options.edition]] \
        if parse(ctx.version).scheme == "YY.MM" else []
    node.sourced("canopsis-reconfigure", *flags).check()
    node.run("systemctl", "daemon-reload").check()
    offsets = node.log_sizes()
    node.run("canoctl", "start").check()
    common.wait_up(node, inv, offsets)
    return inv.model_copy(update={"facts": {**inv.facts, "broker_started_in": round(broker_started_in, 2)}})


def write_etc(node: CanopsisNode, *, amqp: str, api: str, listen: str, repo: str) -> None:
    tpl = (SOURCE / "node/etc/go-engines-vars.conf.in").read_text()
    node.write("etc/go-engines-vars.conf",
               tpl.replace("@AMQP_URL@", amqp).replace("@API_URL@", api) + f"CPS_API_LISTEN={listen}\n")
    # `base` stands for the OS repositories, unreachable here: the runbook's --disablerepo="*" matters
    node.write(REPO_FILE, f"[canopsis]\nname=Canopsis\nbaseurl=file://{repo}\nenabled=1\n\n"
                          "[base]\nname=CentOS-7 - Base\nbaseurl=file:///nonexistent/centos/7/os\nenabled=1\n")


def stop(inv: Inventory) -> None:
    """``canoctl stop``, then whatever a unit's pidfile still names, then the broker."""
    env = Environment.from_inventory(inv)
    try:
        node = CanopsisNode.of(env)
        with contextlib.suppress(TransportError):  # an install that failed before the programs were put
            if node.transport.exists(node.bin("canoctl")):
                node.run("canoctl", "stop")
        kill_pidfiles(node.transport, [f"{node.root}/{p}" for p in UNIT_PIDFILES])
        mq = env.hosts["rabbitmq"]
        rabbitmq.stop(mq.transport, mq.install_dir)
    finally:
        env.close()


# ---- one component, for faults (harness.faults): the broker stopped and started again --------------

def broker_of(inv: Inventory, env: Environment) -> rabbitmq.Broker:
    """The running broker of an installation, from what its inventory recorded."""
    bind, port, dist = inv.facts["broker_listen"]
    mq = env.hosts["rabbitmq"]
    # the inventory keeps the URL (its credentials and vhost) as a secret file's reference: the broker is
    # awaited at the URL itself, or its start after a fault waits on something it can never reach
    return rabbitmq.Broker(mq.transport, mq.install_dir, inv.facts["broker_node"], bind, int(port), int(dist),
                           str(reveal(inv.facts["amqp_url"], where="facts.amqp_url")))


def component_pidfiles(inv: Inventory, component: str) -> list[str]:
    if component == "rabbitmq":
        return rabbitmq.pidfiles(inv.host("rabbitmq").install_dir)
    root = inv.host("node").install_dir
    return [f"{root}/{p}" for p in UNIT_PIDFILES]


def stop_component(inv: Inventory, component: str) -> None:
    env = Environment.from_inventory(inv)
    try:
        if component == "rabbitmq":
            mq = env.hosts["rabbitmq"]
            rabbitmq.stop(mq.transport, mq.install_dir)
        else:
            CanopsisNode.of(env).run("canoctl", "stop").check()
    finally:
        env.close()


def start_component(inv: Inventory, component: str) -> None:
    env = Environment.from_inventory(inv)
    try:
        if component == "rabbitmq":
            broker = broker_of(inv, env)
            broker.wait_ready(broker.start())
        else:
            node = CanopsisNode.of(env)
            offsets = node.log_sizes()
            node.run("canoctl", "start").check()
            common.wait_up(node, inv, offsets)
    finally:
        env.close()


#: what a round trip compares besides the versions (canopsis.md: config and package state): the config files
DIGEST_FILES = ("etc/canopsis.toml", "etc/conf.d/canopsis-override.toml")
#: and the package and version documents, without what records history: the package's transactions (yum
#: history) and when the version last changed, which a rollback and a second upgrade rightly add to; nor the
#: installation's serial_name, random per environment (the crash test compares fresh environments with one)
DIGEST_DOCS = {"var/lib/canopsis/package.json": ("history",),
               "var/lib/canopsis/version.json": ("version_updated", "serial_name")}


def digest(inv: Inventory) -> dict[str, object]:
    env = Environment.from_inventory(inv)
    try:
        node = CanopsisNode.of(env)
        out: dict[str, object] = {"installed": node.installed_version(), "running": node.running_versions()}
        out.update({f: node.read(f) for f in DIGEST_FILES})
        for f, history in DIGEST_DOCS.items():
            doc = node.json(f)
            out[f] = {k: v for k, v in doc.items() if k not in history} if isinstance(doc, dict) else doc
        return out
    finally:
        env.close()


#: the node's logs whose lifecycle lines :func:`applied` counts, and those lines
_LIFECYCLE = {**dict.fromkeys(ENGINE_LOGS, ("engine started", "engine stopped")),
              "canopsis-api": ("http server started", "http server stopped")}


def applied(inv: Inventory) -> dict[str, int]:
    """What the node recorded doing: each package transaction (yum history in package.json), each
    release-note migration (var/log/migrations.log) and each start and stop of an engine or the API (their
    own logs). An update, migration or restart done twice shows here."""
    env = Environment.from_inventory(inv)
    try:
        node = CanopsisNode.of(env)
        out: dict[str, int] = {}

        def count(key: str) -> None:
            out[key] = out.get(key, 0) + 1

        doc = node.json("var/lib/canopsis/package.json")
        for tx in doc.get("history", []) if isinstance(doc, dict) else []:
            count(f"package {tx.get('action')} {tx.get('from')}->{tx.get('to')}")
        for rec in node.log("migrations"):
            count(f"migration {rec.get('migration')}")
        for name, messages in _LIFECYCLE.items():
            for rec in node.log(name):
                if rec.get("message") in messages:
                    count(f"{name} {rec['message']}")
        return out
    finally:
        env.close()
