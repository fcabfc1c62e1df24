"""A Zato environment of stand-ins: web-admin, N servers, a load balancer (real HAProxy), a scheduler.

Every component sits on its own host (a VM in the runbook's words) with its own git checkout of a local
upstream repository, so ``git pull`` + ``./update.sh`` run once per host as the runbook says. The same
installer serves every backend (:mod:`harness.backends`): it runs the runbook's own commands through
each host's transport — ``git clone``, ``./update.sh``, ``zato create``, ``zato start`` — with the
paths, ports and addresses the backend gives::

    /srv/upstream/zato.git      the upstream repository (the controller's, mounted read-only)
    /opt/zato/current           the checkout (install dir)
    /opt/zato/env/NAME          the component (``zato create ROLE PATH``)
    /opt/zato/odb/              servers: the cluster's ODB, one SQLite file every server opens (mounted
                                read-write: as Zato's quickstart shares one SQL database)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.backends import Host, HostSpec, Mount
from harness.environment import Environment
from harness.errors import HarnessError, SetupFailed
from harness.plan.models import Component, Inventory
from harness.products.zato import state
from harness.products.zato.actions import wait_ready
from harness.products.zato.logs import parse_log
from harness.products.zato.standin.upstream import Change, build_upstream_cached
from harness.standins import InstallContext, Standin, kill_pidfiles

PORTS = {"server": 17010, "web-admin": 8183, "scheduler": 31530, "load-balancer": 11223}
AGENT_PORT = 20151
BASE_VERSION = "3.2.0"  # what upstream's main holds; tags above it are updates
INSTALL_DIR = "/opt/zato/current"
UPSTREAM = "/srv/upstream"
ODB_DIR = "/opt/zato/odb"


class ZatoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    servers: int = Field(3, ge=1, le=32, description="servers behind the load balancer")
    server_boot_seconds: float = Field(0.3, ge=0, le=60, description="how long each server takes from `zato start` "
                                       "to `Started`; real servers take seconds, longer than the 1.2 s `zato start` "
                                       "watches their stderr, so only a readiness gate knows when one is up")
    lb_check_inter_ms: int = Field(200, ge=50, le=10_000, description="HAProxy's health-check interval (`inter`, "
                                   "rise 2): Zato's own template has 2000; 200 keeps tests quick")
    lb_redispatch: bool = Field(True, description="retries on another server in the LB's config (`retries 3`, "
                                "`option redispatch 1`, `retry-on`): an operator's addition that a rolling restart "
                                "needs to lose no request; false writes Zato 3.2's own backend, which has none")


@dataclass(frozen=True)
class Layout:
    name: str
    role: str

    @property
    def host(self) -> str:
        return f"vm-{self.name}"


def topology(servers: int) -> list[Layout]:
    return ([Layout("web-admin", "web-admin")] + [Layout(f"server{i}", "server") for i in range(1, servers + 1)]
            + [Layout("load-balancer", "load-balancer"), Layout("scheduler", "scheduler")])


def create_argv(zato: str, lay: Layout, path: str, *, bind: str, port: int, servers: list[tuple[str, str]],
                agent_port: int = AGENT_PORT, odb_path: str | None = None, lb_address: str | None = None,
                boot_seconds: float | None = None, check_inter_ms: int | None = None,
                redispatch: bool = True) -> list[str]:
    """``zato create ...`` for one component. Servers share the cluster's ODB (``odb_path``, a SQLite file
    every server host reaches); web-admin reaches the cluster through the load balancer (``lb_address``)."""
    argv = [zato, "create", lay.role, path, "--host", bind, "--port", str(port)]
    if lay.role == "server":
        argv += ["--name", lay.name, "--cluster", "dev"]
        if odb_path:
            argv += ["--odb_type", "sqlite", "--sqlite_path", odb_path]
        if boot_seconds is not None:
            argv += ["--boot-seconds", str(boot_seconds)]
    if lay.role == "web-admin" and lb_address:
        argv += ["--cluster-address", lb_address]
    if lay.role == "load-balancer":
        argv += ["--agent-port", str(agent_port)]
        if check_inter_ms is not None:
            argv += ["--check-inter-ms", str(check_inter_ms)]
        if not redispatch:
            argv.append("--no-redispatch")
        for name, addr in servers:
            argv += ["--server", f"{name}={addr}"]
    return argv


def start_all(env: Environment, timeout: float = 60.0) -> None:
    """``zato start`` every component, then wait for all of them (they boot in parallel)."""
    offsets = {}
    for comp in env.components.values():
        offsets[comp.name] = len(state.read_log(comp))
        comp.host.transport.run([state.zato_bin(comp.host), "start", comp.path], timeout=60).check()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(wait_ready, env, c, offsets[c.name], timeout) for c in env.components.values()]
        for fut in futures:
            try:
                fut.result()
            except HarnessError as exc:
                raise SetupFailed(f"Zato stand-ins did not come up: {exc}") from exc


class ZatoStandin(Standin):
    Options = ZatoOptions
    base_version = BASE_VERSION

    def summary(self, options: ZatoOptions) -> str:
        return f"{options.servers}-server Zato"

    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        upstream = Mount(ctx.state_dir / "upstream", UPSTREAM)
        odb = Mount(ctx.state_dir / "odb", ODB_DIR, writable=True)
        return [HostSpec(lay.host, "zato",
                         ports=(PORTS[lay.role], AGENT_PORT) if lay.role == "load-balancer" else (PORTS[lay.role],),
                         mounts=(upstream, odb) if lay.role == "server" else (upstream,), account="zato")
                for lay in topology(ctx.options.servers)]

    def upstream_changes(self) -> dict[str, Change]:
        """Edits of upstream revisions (:mod:`.upstream`): none; a stand-in variant ships other code this way."""
        return {}

    def prepare(self, ctx: InstallContext) -> None:
        build_upstream_cached(ctx.state_dir / "upstream", changes=self.upstream_changes())
        (ctx.state_dir / "odb").mkdir(exist_ok=True)

    def install(self, ctx: InstallContext) -> Inventory:
        inv = self.inventory(ctx)
        lays = topology(ctx.options.servers)
        lb = ctx.hosts["vm-load-balancer"]
        servers = [(lay.name, ctx.hosts[lay.host].peer(PORTS["server"])) for lay in lays if lay.role == "server"]

        def checkout(lay: Layout) -> None:
            host = ctx.hosts[lay.host]
            t, install = host.transport, host.path(INSTALL_DIR)
            t.run(["git", "clone", "--quiet", "--branch", "main", host.path(f"{UPSTREAM}/zato.git"), install],
                  timeout=120).check()
            if ctx.version != BASE_VERSION:
                t.run(["git", "-C", install, "reset", "--quiet", "--hard", ctx.version], timeout=60).check()
            t.run(["./update.sh"], cwd=install, timeout=120).check()

        with ThreadPoolExecutor(max_workers=4) as pool:  # every VM's checkout at once
            list(pool.map(checkout, lays))
        for lay in lays:  # one at a time: the servers' `zato create` write the cluster's one ODB
            host = ctx.hosts[lay.host]
            install = host.path(INSTALL_DIR)
            host.transport.run(create_argv(
                f"{install}/bin/zato", lay, host.path(f"/opt/zato/env/{lay.name}"), bind=host.bind,
                port=host.listen(PORTS[lay.role]), servers=servers, agent_port=lb.listen(AGENT_PORT),
                odb_path=host.path(f"{ODB_DIR}/zato-odb.sqlite"), lb_address=lb.peer(PORTS["load-balancer"]),
                boot_seconds=ctx.options.server_boot_seconds, check_inter_ms=ctx.options.lb_check_inter_ms,
                redispatch=ctx.options.lb_redispatch),
                timeout=60).check()
        env = Environment.from_inventory(inv)
        try:
            start_all(env)
        finally:
            env.close()
        return inv

    def inventory(self, ctx: InstallContext) -> Inventory:
        hosts, comps = [], []
        for lay in topology(ctx.options.servers):
            host: Host = ctx.hosts[lay.host]
            hosts.append({"name": lay.host, "transport": host.transport_spec, "install_dir": host.path(INSTALL_DIR)})
            comps.append(Component(name=lay.name, role=lay.role, host=lay.host,
                                   path=host.path(f"/opt/zato/env/{lay.name}"), url=host.url(PORTS[lay.role])))
        front = ctx.hosts["vm-load-balancer"].url(PORTS["load-balancer"])
        return Inventory.model_validate({"environment": ctx.environment, "product": "zato", "hosts": hosts,
                                         "components": [c.model_dump() for c in comps], "front_door": front})

    def stop(self, inventory: Inventory) -> None:
        """``zato stop`` every component, then anything its pidfiles named (HAProxy too): ``zato stop``
        deletes the pidfile and returns before the process is gone, so the pid is kept aside first."""
        env = Environment.from_inventory(inventory)
        try:
            for comp in env.components.values():
                t, files = comp.host.transport, state.pidfiles(comp)
                kept = [f"{f}.stopping" for f in files]
                t.run(["sh", "-c", 'for f; do cp "$f" "$f.stopping" 2>/dev/null; done; exit 0', "keep", *files],
                      timeout=30)
                t.run([state.zato_bin(comp.host), "stop", comp.path], timeout=60)
                kill_pidfiles(t, kept + files)
                t.run(["rm", "-f", *kept], timeout=30)
        finally:
            env.close()


    # -- one component, for faults (harness.faults) -------------------------------------------------
    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        env = Environment.from_inventory(inventory)
        try:
            return state.pidfiles(env.components[component])
        finally:
            env.close()

    def stop_component(self, inventory: Inventory, component: str) -> None:
        """``zato stop PATH``, as an operator would."""
        env = Environment.from_inventory(inventory)
        try:
            comp = env.components[component]
            comp.host.transport.run([state.zato_bin(comp.host), "stop", comp.path], timeout=60).check()
        finally:
            env.close()

    def start_component(self, inventory: Inventory, component: str) -> None:
        """``zato start PATH`` and wait until it is ready. ``zato start`` removes a killed process's stale
        ``pidfile`` itself, but refuses on a killed load balancer agent's (exit 19): as an operator would,
        that one is removed first when its process is gone."""
        env = Environment.from_inventory(inventory)
        try:
            comp = env.components[component]
            for f in state.pidfiles(comp)[1:]:
                if state.stale_pidfile(comp, f):
                    comp.host.transport.run(["rm", "-f", f], timeout=30)
            offset = len(state.read_log(comp))
            comp.host.transport.run([state.zato_bin(comp.host), "start", comp.path], timeout=60).check()
            wait_ready(env, comp, offset, 60)
        finally:
            env.close()

    # -- the crash test -------------------------------------------------------------------------------
    def digest(self, inventory: Inventory) -> dict[str, Any]:
        """Each host's checkout and installed revision, each component's running version."""
        env = Environment.from_inventory(inventory)
        try:
            out: dict[str, Any] = {f"host {n}": [state.head(h), state.installed_revision(h)]
                                   for n, h in env.hosts.items()}
            out.update({f"running {n}": state.running_version(c) for n, c in env.components.items()})
            return out
        finally:
            env.close()

    def applied(self, inventory: Inventory) -> dict[str, int]:
        """Per component, the starts and stops and the hot-deployed packages its own log holds (a restart or
        a deployment done twice shows here)."""
        env = Environment.from_inventory(inventory)
        try:
            out = {}
            for n, c in env.components.items():
                events = parse_log(state.read_log(c))
                for kind in ("starting", "stopping", "uploaded_package"):
                    out[f"{n} {kind}"] = sum(1 for e in events if e.kind == kind)
            return out
        finally:
            env.close()


STANDIN = ZatoStandin()

__all__ = ["AGENT_PORT", "BASE_VERSION", "PORTS", "STANDIN", "Layout", "ZatoOptions", "create_argv", "start_all",
           "topology"]
