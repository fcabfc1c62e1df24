"""The Erlang-based system of the hot-patch runbook as stand-ins: ``harness standins up beam --nodes 3`` and
plans with ``standins: {product: beam, nodes: 3}``, on any backend.

One host per node, each a real ``erl`` node (Debian erlang-base) installed by this module through the
host's transport (:mod:`.node` has the layout): the applications' sources (``containers/beam/apps``) are
put onto the host and compiled there by ``erlc`` for the system version; the root (``VERSION``,
``lib/<app>/ebin``, ``patches/``) is a copy of that distribution. Each node is named ``ENV_NAME@ADDRESS``
with the environment's cookie, its patch agent listens on documented port 4370, and the master reaches
the workers over Erlang distribution at their hosts' addresses. The master host also runs the patch
service (documented port 8080), Python shipped file by file (:mod:`.patch_service`).

Default topology: ``master`` (core, billing), ``w1`` (core, billing), ``w2`` (core, gateway); further
workers alternate (odd: billing, even: gateway), so billing modules are not_loaded on w2 and gateway
modules everywhere but w2.

The inventory it writes (what the ``beam-patch`` procedure reads)::

    hosts:       one per node (name = node name, install_dir = the node's BASE, /opt/beam on its host)
    components:  one per node, role ``master`` (the domain that takes patches) or ``node``;
                 path = the node's ROOT; url = ``tcp://127.0.0.1:PORT`` (its patch agent)
    front_door:  the master domain's patch service (http://127.0.0.1:PORT)
    facts:       system_version, patch_service, credentials (a JSON file {"user","password"} in the
                 state dir, mode 0600: never a secret in a plan or inventory), erlang_nodes {name: node@host}

Operations on a running system (the suites' system update and manual reboot), through the inventory:
:func:`update` (every node stops, the new version is installed over a clean root: patches are wiped),
:func:`reboot` (one node restarts on the same root: patches stay), :func:`stop_nodes`/:func:`start_nodes`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from harness import resources
from harness.backends import Host, HostSpec
from harness.environment import Environment
from harness.errors import ConfigError
from harness.plan.models import Inventory
from harness.products.beam.agent import AgentClient
from harness.products.beam.standin import node
from harness.products.beam.standin.node import BASE, Layout, NodeArgs, NodeHandle
from harness.products.beam.standin.patch_service import start_service, stop_service
from harness.standins import InstallContext, Standin, write_inventory

__all__ = ["AGENT_PORT", "BASE_VERSION", "SERVICE_PORT", "SOURCES", "STANDIN", "STANDIN_MODULES", "BeamOptions",
           "BeamStandin", "NodeSpec", "System", "credentials", "reboot", "start_nodes", "stop_nodes", "topology",
           "update"]

BASE_VERSION = "2.7.1"

#: every module the stand-in system runs (its apps and the patch agent): what a digest reads on each node
STANDIN_MODULES = ("core_util", "core_counter", "core_report", "billing_calc", "billing_srv", "gw_legacy",
                   "patch_agent")
AGENT_PORT, SERVICE_PORT = 4370, 8080
SOURCES = resources.containers("beam") / "apps"
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}")

T = TypeVar("T")


class BeamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    nodes: int = Field(3, ge=1, le=64, description="nodes: the master domain and nodes-1 workers")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str            # master | worker
    apps: tuple[str, ...]


def topology(nodes: int) -> tuple[NodeSpec, ...]:
    """``master`` plus workers ``w1..w{n-1}``; odd workers run billing, even ones gateway (as w1, w2)."""
    workers = tuple(NodeSpec(f"w{i}", "worker", ("core", "billing") if i % 2 else ("core", "gateway"))
                    for i in range(1, nodes))
    return (NodeSpec("master", "master", ("core", "billing")), *workers)


def credentials(state_dir: Path) -> tuple[dict[str, dict[str, str]], Path]:
    """Fresh random passwords for this environment: the service's users and the admin's credentials file."""
    users = {"admin": {"password": secrets.token_urlsafe(12), "role": "admin"},
             "operator": {"password": secrets.token_urlsafe(12), "role": "operator"}}
    path = state_dir / "credentials.json"
    path.write_text(json.dumps({"user": "admin", "password": users["admin"]["password"],
                                "operator": {"user": "operator", "password": users["operator"]["password"]}}))
    path.chmod(0o600)
    return users, path


def erlang_node(environment: str, name: str, address: str) -> str:
    """``beam_1a2b3c4d_w1@ADDRESS``: unique per environment, as nodes of several share one epmd on a host."""
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', environment)}_{name}@{address}"


def _sources() -> dict[str, bytes]:
    """The applications' sources, ``APP/src/FILE`` -> bytes (``.erl`` and ``.app.src``)."""
    return {p.relative_to(SOURCES).as_posix(): p.read_bytes()
            for p in sorted(SOURCES.glob("*/src/*")) if p.suffix in (".erl", ".src")}


def _app_sources() -> dict[str, str]:
    return {app: (SOURCES / app / "src" / f"{app}.app.src").read_text() for app in node.APPS}


def _check_version(version: str) -> None:
    # it becomes an Erlang string in erlc's -D and a directory name on every host
    if not _VERSION.fullmatch(version):
        raise ConfigError(f"system version {version!r} is not a version", field="standins.version",
                          hint='write e.g. version: "2.8.0" (letters, digits, ".", "_", "+", "-")')


def _parallel(fn: Callable[[T], object], items: Iterable[T]) -> None:
    items = list(items)
    with ThreadPoolExecutor(max_workers=min(4, max(1, len(items)))) as pool:
        list(pool.map(fn, items))


class BeamStandin(Standin):
    Options = BeamOptions
    base_version = BASE_VERSION

    def summary(self, options: BeamOptions) -> str:
        return f"{options.nodes}-node BEAM system"

    def sources(self) -> dict[str, bytes]:
        """The applications' sources the hosts compile, ``APP/src/FILE`` -> bytes (a variant of the system,
        e.g. a product mutant of issue 17, replaces some)."""
        return _sources()

    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        return [HostSpec(s.name, "beam", ports=(AGENT_PORT, SERVICE_PORT) if s.role == "master" else (AGENT_PORT,))
                for s in topology(ctx.options.nodes)]

    def install(self, ctx: InstallContext) -> Inventory:
        _check_version(ctx.version)
        inv = self.inventory(ctx)
        specs = topology(ctx.options.nodes)
        cookie = "c" + secrets.token_hex(12)
        names = {s.name: inv.facts["erlang_nodes"][s.name] for s in specs}
        node.name_flag([ctx.hosts[s.name].address for s in specs])  # one naming mode for the whole domain
        domain = tuple(names[s.name] for s in specs if s.role != "master")
        sources, apps = self.sources(), _app_sources()

        def install_node(spec: NodeSpec) -> None:
            host = ctx.hosts[spec.name]
            t, layout = host.transport, Layout.at(host.path(BASE))
            node.put_tree(t, layout.sources, sources)
            node.build(t, layout, ctx.version, apps)
            node.install_root(t, layout, ctx.version)
            args = NodeArgs(names[spec.name], cookie, spec.role, spec.apps, host.bind, host.listen(AGENT_PORT),
                            domain if spec.role == "master" else ())
            t.put(layout.args, args.render(layout).encode(), mode=0o600)

        _parallel(install_node, specs)
        start_nodes(inv)
        users, _ = credentials(ctx.state_dir)
        master = ctx.hosts["master"]
        start_service(master, Layout.at(master.path(BASE)), users, SERVICE_PORT)
        return inv

    def inventory(self, ctx: InstallContext) -> Inventory:
        hosts, comps, names = [], [], {}
        for s in topology(ctx.options.nodes):
            host: Host = ctx.hosts[s.name]
            hosts.append({"name": s.name, "transport": host.transport_spec, "install_dir": host.path(BASE)})
            comps.append({"name": s.name, "role": "master" if s.role == "master" else "node", "host": s.name,
                          "path": Layout.at(host.path(BASE)).root, "url": host.url(AGENT_PORT, scheme="tcp")})
            names[s.name] = erlang_node(ctx.environment, s.name, host.address)
        service = ctx.hosts["master"].url(SERVICE_PORT)
        return Inventory.model_validate({
            "environment": ctx.environment, "product": "beam", "hosts": hosts, "components": comps,
            "front_door": service,
            "facts": {"system_version": ctx.version, "patch_service": service,
                      "credentials": str(ctx.state_dir / "credentials.json"), "erlang_nodes": names}})

    def stop(self, inventory: Inventory) -> None:
        """The patch service, then every node, by their pidfiles."""
        with System(inventory) as system:
            master = system.nodes[system.master]
            stop_service(master.transport, master.layout)
        stop_nodes(inventory)

    # -- one node, for faults (harness.faults): its OS pid, the manual stop and start of System/Nodes ----
    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        comp = next(c for c in inventory.components if c.name == component)
        return [Layout.at(inventory.host(comp.host).install_dir).pidfile]

    def stop_component(self, inventory: Inventory, component: str) -> None:
        stop_nodes(inventory, [component])

    def start_component(self, inventory: Inventory, component: str) -> None:
        start_nodes(inventory, [component])

    def digest(self, inventory: Inventory) -> dict[str, Any]:
        """Per node, as its agent reads them: the loaded md5 of every stand-in module, the files under lib."""
        with System(inventory) as system:
            return {f"{n} {k}": v for n, h in system.nodes.items()
                    for k, v in (("md5", h.agent.md5s(list(STANDIN_MODULES))), ("files", h.agent.files()))}

    def applied(self, inventory: Inventory) -> dict[str, int]:
        """Per node, patch, module and status: the loads its patch agent logged (``patches/applied.log``, a
        line per module an ``apply`` loaded or wrote; a module already loaded is ``not_changed`` and not
        logged), so a patch applied twice on a node shows here."""
        out: dict[str, int] = {}
        with System(inventory) as system:
            for n, h in system.nodes.items():
                for rec in h.agent.info()["applied"]:
                    key = f"{n} {rec['patch']} {rec['module']} {rec['status']}"
                    out[key] = out.get(key, 0) + 1
        return out


STANDIN = BeamStandin()


# ---- a running system, through its inventory --------------------------------------------------------

class System:
    """A running system through an inventory this stand-in wrote: each node's transport, layout and agent
    client. A context manager: the transports are closed at the end."""

    def __init__(self, inventory: Inventory) -> None:
        self.env = Environment.from_inventory(inventory)
        self.nodes: dict[str, NodeHandle] = {}
        for c in self.env.components.values():
            address = urlsplit(c.url).netloc
            self.nodes[c.name] = NodeHandle(c.name, c.role, c.host.transport, Layout.at(c.host.install_dir),
                                            AgentClient.parse(address, timeout=10, name=c.name))
        self.master = next(n for n, h in self.nodes.items() if h.role == "master")

    def select(self, names: Sequence[str] | None) -> list[NodeHandle]:
        return [self.nodes[n] for n in (names if names is not None else list(self.nodes))]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.env.close()


def start_nodes(inventory: Inventory, names: Sequence[str] | None = None, timeout: float = 60.0) -> None:
    """Start nodes (default: all) from their args files and wait until they and the master domain answer."""
    with System(inventory) as system:
        chosen = system.select(names)
        for n in chosen:
            node.start(n.transport, n.layout)
        for n in chosen:
            node.wait_node(n, timeout)
        node.wait_domain(system.nodes[system.master].agent, len(system.nodes), timeout)


def stop_nodes(inventory: Inventory, names: Sequence[str] | None = None) -> None:
    """Stop nodes (default: all) for good; a stopped worker is an unreachable node of the domain."""
    with System(inventory) as system:
        _parallel(lambda n: node.stop(n.transport, n.layout), system.select(names))


def reboot(inventory: Inventory, name: str) -> None:
    """The manual reboot of one node (System/Nodes): the same root, so patches on disk stay."""
    stop_nodes(inventory, [name])
    start_nodes(inventory, [name])


def update(inventory: Inventory, version: str) -> Inventory:
    """A system update (not a hot patch): every node stops, ``version`` is compiled on each host and
    installed over a clean root (applied patches are wiped), the nodes start again. Returns the inventory
    with the new ``facts.system_version`` (also rewritten in its state dir)."""
    _check_version(version)
    stop_nodes(inventory)
    apps = _app_sources()

    def install(n: NodeHandle) -> None:
        node.build(n.transport, n.layout, version, apps)
        node.install_root(n.transport, n.layout, version)

    with System(inventory) as system:
        _parallel(install, system.select(None))
    start_nodes(inventory)
    updated = inventory.model_copy(update={"facts": {**inventory.facts, "system_version": version}})
    if inventory.state_dir and (Path(inventory.state_dir) / "inventory.yaml").is_file():
        write_inventory(updated, Path(inventory.state_dir) / "inventory.yaml")
    return updated
