"""A Zato environment of stand-ins: web-admin, N servers, a load balancer (real HAProxy), a scheduler.

Every component sits on its own "host" (a VM in the runbook's words) with its own git checkout of a
local upstream repository, so ``git pull`` + ``./update.sh`` run once per host as the runbook says.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.engine.actions import StepContext
from harness.engine.step import Gate, Step
from harness.environment import ComponentHandle, Environment
from harness.errors import HarnessError, SetupFailed
from harness import procs
from harness.net import LOOPBACK, free_ports
from harness.plan.models import Component, Host, Inventory, Plan, StandinsSpec
from harness.products.zato.actions import component_ready
from harness.standins.zato_upstream import build_upstream

PORTS = {"server": 17010, "web-admin": 8183, "scheduler": 31530, "load-balancer": 11223}
AGENT_PORT = 20151
BASE_VERSION = "3.2.0"  # what upstream's main holds; tags above it are updates


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
                agent_port: int = AGENT_PORT, odb_path: str | None = None, lb_address: str | None = None) -> list[str]:
    """``zato create ...`` for one component. Servers share the cluster's ODB (``odb_path``, a SQLite file
    every server host reaches); web-admin reaches the cluster through the load balancer (``lb_address``)."""
    argv = [zato, "create", lay.role, path, "--host", bind, "--port", str(port)]
    if lay.role == "server":
        argv += ["--name", lay.name, "--cluster", "dev"]
        if odb_path:
            argv += ["--odb_type", "sqlite", "--sqlite_path", odb_path]
    if lay.role == "web-admin" and lb_address:
        argv += ["--cluster-address", lb_address]
    if lay.role == "load-balancer":
        argv += ["--agent-port", str(agent_port)]
        for name, addr in servers:
            argv += ["--server", f"{name}={addr}"]
    return argv


def odb_file(state_dir: Path) -> Path:
    """The cluster's ODB on the process backend: one SQLite file in the environment's state dir, opened
    by every server process (as Zato's quickstart shares one SQL database between its servers)."""
    return state_dir / "odb" / "zato-odb.sqlite"


def write_inventory(inv: Inventory, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return path


def start_all(env: Environment, timeout: float = 60.0) -> None:
    """``zato start`` every component, then wait for all of them (they boot in parallel)."""
    offsets = {}
    for comp in env.components.values():
        offsets[comp.name] = len(comp.read_log())
        comp.host.transport.run([comp.host.zato, "start", comp.path], timeout=60).check()
    plan = Plan(procedure="zato-restart")

    def wait(comp: ComponentHandle) -> None:
        step = Step(f"start@{comp.name}", comp.name, "zato.start")
        ctx = StepContext(env, plan, step, {}, {"log_offset": offsets[comp.name]})
        component_ready(ctx, Gate("zato.ready", timeout))

    with ThreadPoolExecutor(max_workers=8) as pool:
        for fut in [pool.submit(wait, c) for c in env.components.values()]:
            try:
                fut.result()
            except HarnessError as exc:
                raise SetupFailed(f"Zato stand-ins did not come up: {exc}") from exc


def _git(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *argv], cwd=cwd, check=True, capture_output=True, text=True)


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    if spec.backend == "docker":
        from harness.standins import zato_docker

        return zato_docker.up(spec, state_dir, name=name)
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    upstream = build_upstream(state_dir / "upstream")
    lays = topology(spec.servers)
    ports = dict(zip([lay.name for lay in lays], free_ports(len(lays) + 1), strict=False))
    agent_port = free_ports(1)[0]
    hosts, comps = [], []
    server_addrs = [(lay.name, f"{LOOPBACK}:{ports[lay.name]}") for lay in lays if lay.role == "server"]
    for lay in lays:
        root = state_dir / "hosts" / lay.host
        install = root / "opt/zato/current"
        _git("clone", "--quiet", "--branch", "main", str(upstream), str(install))
        if (spec.version or BASE_VERSION) != BASE_VERSION:
            _git("reset", "--quiet", "--hard", spec.version, cwd=install)
        subprocess.run(["./update.sh"], cwd=install, check=True, capture_output=True)
        path = root / "env" / lay.name
        subprocess.run(create_argv(str(install / "bin/zato"), lay, str(path), bind=LOOPBACK, port=ports[lay.name],
                                   servers=server_addrs, agent_port=agent_port, odb_path=str(odb_file(state_dir)),
                                   lb_address=f"{LOOPBACK}:{ports['load-balancer']}"),
                       check=True, capture_output=True)
        hosts.append(Host(name=lay.host, transport="local", install_dir=str(install)))
        comps.append(Component(name=lay.name, role=lay.role, host=lay.host, path=str(path),  # type: ignore[arg-type]
                               url=f"http://{LOOPBACK}:{ports[lay.name]}"))
    inv = Inventory(environment=name, backend="process", hosts=hosts, components=comps,
                    front_door=f"http://{LOOPBACK}:{ports['load-balancer']}", state_dir=str(state_dir))
    write_inventory(inv, state_dir / "inventory.yaml")
    env = Environment.from_inventory(inv)
    try:
        start_all(env)
    except BaseException:
        down(inv)
        raise
    return inv


def _kill_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return
    procs.terminate(pid)


def down(inv: Inventory, *, purge: bool = False) -> None:
    """Stop every component and HAProxy; nothing is left running. Logs stay unless ``purge``."""
    if inv.backend == "docker":
        from harness.standins import zato_docker

        zato_docker.down(inv)
    else:
        env = Environment.from_inventory(inv)
        for comp in env.components.values():
            comp.host.transport.run([comp.host.zato, "stop", comp.path], timeout=60)
            for pidfile in ("pidfile", "haproxy.pid"):
                _kill_pidfile(Path(comp.path) / pidfile)
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    """The inventory :func:`up` would write, without starting anything (ports not yet known: 0)."""
    hosts, comps = [], []
    for lay in topology(spec.servers):
        root = state_dir / "hosts" / lay.host
        hosts.append(Host(name=lay.host, transport="local", install_dir=str(root / "opt/zato/current")))
        comps.append(Component(name=lay.name, role=lay.role, host=lay.host,  # type: ignore[arg-type]
                               path=str(root / "env" / lay.name), url=f"http://{LOOPBACK}:0"))
    return Inventory(environment=name.strip("<>") or "new", backend=spec.backend, hosts=hosts, components=comps)
