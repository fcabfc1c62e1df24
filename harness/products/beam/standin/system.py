"""The Erlang-based system of the hot-patch runbook, on real BEAM nodes (process backend).

A master domain and workers, each a local ``erl`` node (Debian erlang-base) with its own install
root, all running the same stamped system version::

    ROOT/VERSION                       "2.7.1"
    ROOT/lib/<app>/ebin/*.beam         the distribution (core, billing, gateway, patch_agent)
    ROOT/patches/applied.log           what the agent applied (wiped by a system update)

Default topology: ``master`` (core, billing), ``w1`` (core, billing), ``w2`` (core, gateway), so
billing modules are not_loaded on w2 and gateway modules everywhere but w2. Every node runs a
long-lived counter (``core_counter``) and the patch agent (127.0.0.1, port in ``ROOT/agent.port``);
the master also runs the patch service (HTTP on 127.0.0.1).

Usage (a backend needs only this)::

    with BeamSystem(tmp_path, version="2.7.1").start() as system:
        system.master_url, system.agents, system.update("2.8.0"), system.reboot("w2")

Nodes are child processes that halt when their stdin closes, so they never outlive the harness;
``stop()`` closes stdin, then kills the process group after a grace period. epmd is left alone.
``detached=True`` (what ``harness standins up beam`` uses, so the system outlives the command and a
killed executor) starts them in their own sessions without the stdin watch; their pids are written to
``WORKDIR/pids.json`` and :func:`harness.products.beam.standin.down` stops them by pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from harness.errors import ConfigError, SetupFailed
from harness.plan.models import Inventory, StandinsSpec
from harness.products.beam.agent import AgentClient
from harness import resources

__all__ = [
    "DEFAULT_TOPOLOGY",
    "DEFAULT_USERS",
    "SOURCES",
    "BeamNode",
    "BeamSystem",
    "NodeSpec",
    "build_distribution",
    "erlang_available",
]

SOURCES = resources.containers("beam") / "apps"
APPS = ("core", "billing", "gateway", "patch_agent")
DEFAULT_USERS = {"admin": {"password": "admin-secret", "role": "admin"},
                 "operator": {"password": "operator-secret", "role": "operator"}}


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str            # master | worker
    apps: tuple[str, ...]


DEFAULT_TOPOLOGY = (NodeSpec("master", "master", ("core", "billing")),
                    NodeSpec("w1", "worker", ("core", "billing")),
                    NodeSpec("w2", "worker", ("core", "gateway")))


def topology(nodes: int) -> tuple[NodeSpec, ...]:
    """``master`` plus workers ``w1..w{n-1}``; odd workers run billing, even ones gateway (as w1, w2)."""
    workers = tuple(NodeSpec(f"w{i}", "worker", ("core", "billing") if i % 2 else ("core", "gateway"))
                    for i in range(1, nodes))
    return (DEFAULT_TOPOLOGY[0], *workers)


def erlang_available() -> bool:
    return all(shutil.which(t) for t in ("erl", "erlc"))


def build_distribution(version: str, out: Path, sources: Path = SOURCES) -> Path:
    """Compile the system's applications for ``version`` into ``out/lib`` (the distribution)."""
    for app in APPS:
        ebin = out / "lib" / app / "ebin"
        ebin.mkdir(parents=True, exist_ok=True)
        srcs = sorted(str(p) for p in (sources / app / "src").glob("*.erl"))
        proc = subprocess.run(["erlc", f'-DSYSTEM_VSN="{version}"', "-o", str(ebin), *srcs],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SetupFailed(f"erlc failed for {app}:\n{proc.stdout}{proc.stderr}")
        app_src = (sources / app / "src" / f"{app}.app.src").read_text()
        (ebin / f"{app}.app").write_text(app_src.replace("%VSN%", version))
    (out / "VERSION").write_text(version + "\n")
    return out


@dataclass
class BeamNode:
    spec: NodeSpec
    short: str                    # -sname
    root: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    node: str = ""                # name@host, once up
    agent_port: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def port_file(self) -> Path:
        return self.root / "agent.port"

    def agent(self, timeout: float = 60.0) -> AgentClient:
        return AgentClient("127.0.0.1", self.agent_port, timeout=timeout, name=self.name)


@dataclass
class BeamSystem:
    workdir: Path
    version: str = "2.7.1"
    topology: Sequence[NodeSpec] = DEFAULT_TOPOLOGY
    users: dict[str, dict[str, str]] = field(default_factory=lambda: dict(DEFAULT_USERS))
    cookie: str = field(default_factory=lambda: "c" + secrets.token_hex(8))
    salt: str = field(default_factory=lambda: f"{os.environ.get('PYTEST_XDIST_WORKER', 'm')}{secrets.token_hex(3)}")
    start_timeout: float = 30.0
    detached: bool = False

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        if sum(1 for s in self.topology if s.role == "master") != 1:
            raise ConfigError("a BEAM system needs exactly one master node")
        self.nodes: dict[str, BeamNode] = {
            s.name: BeamNode(s, f"ph{self.salt}_{s.name}", self.workdir / "nodes" / s.name,
                             self.workdir / "logs" / f"{s.name}.log") for s in self.topology}
        self._service: subprocess.Popen[bytes] | None = None
        self.service_port = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> BeamSystem:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._install(self.version)
            self._start_nodes(list(self.nodes.values()))
            self._start_service()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The running node and service processes this object started."""
        return [p for p in [*(n.proc for n in self.nodes.values()), self._service] if p is not None]

    def pids(self) -> dict[str, int]:
        """Process ids (each the leader of its own process group): nodes by name, and ``service``."""
        out = {n.name: n.proc.pid for n in self.nodes.values() if n.proc is not None}
        if self._service is not None:
            out["service"] = self._service.pid
        return out

    def stop(self) -> None:
        self._stop_procs([n.proc for n in self.nodes.values()] + [self._service])
        for n in self.nodes.values():
            n.proc = None
        self._service = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def update(self, version: str) -> None:
        """A system update (not a hot patch): every node stops, the new version is installed from
        its distribution over a clean root (applied patches are wiped) and the nodes start again."""
        nodes = list(self.nodes.values())
        self._stop_procs([n.proc for n in nodes])
        self.version = version
        self._install(version)
        self._start_nodes(nodes)

    def reboot(self, name: str) -> None:
        """The manual reboot of one node (System/Nodes): same root, so patches on disk stay."""
        node = self.nodes[name]
        self._stop_procs([node.proc])
        self._start_nodes([node])

    # -- handles ------------------------------------------------------------------------------
    @property
    def master(self) -> BeamNode:
        return next(n for n in self.nodes.values() if n.spec.role == "master")

    @property
    def master_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def agent(self, name: str) -> AgentClient:
        return self.nodes[name].agent()

    @property
    def agents(self) -> list[AgentClient]:
        return [n.agent() for n in self.nodes.values()]

    def full_name(self, name: str) -> str:
        return self.nodes[name].node

    # -- internals ----------------------------------------------------------------------------
    def _install(self, version: str) -> None:
        dist = build_distribution(version, self.workdir / "dist" / version)
        for n in self.nodes.values():
            shutil.rmtree(n.root, ignore_errors=True)
            shutil.copytree(dist, n.root)
            (n.root / "patches").mkdir()

    def _argv(self, n: BeamNode) -> list[str]:
        workers = [w.short for w in self.nodes.values() if w.spec.role != "master"]
        argv = ["erl", "-sname", n.short, "-setcookie", self.cookie, "-noinput", "-hidden"]
        for app in APPS:
            argv += ["-pa", str(n.root / "lib" / app / "ebin")]
        argv += ["-eval", "sys_boot:start()", *([] if self.detached else ["-watch_stdin"]), "-system_root", str(n.root),
                 "-system_role", n.spec.role, "-system_apps", *n.spec.apps, "patch_agent",
                 "-agent_portfile", str(n.port_file)]
        if n.spec.role == "master":
            argv += ["-system_domain", *workers]
        return argv

    def _start_nodes(self, nodes: list[BeamNode]) -> None:
        for n in nodes:
            n.port_file.unlink(missing_ok=True)
            with n.log.open("ab") as log:
                n.proc = subprocess.Popen(self._argv(n), stdin=subprocess.DEVNULL if self.detached else subprocess.PIPE,
                                          stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        for n in nodes:
            while not n.port_file.exists():
                if n.proc is None or n.proc.poll() is not None or time.monotonic() > deadline:
                    raise SetupFailed(f"node {n.short} did not start (exit {n.proc and n.proc.poll()})\n"
                                      f"{_tail(n.log)}\nHint: is erlang-base installed and epmd startable?")
                time.sleep(0.02)
            port, node = n.port_file.read_text().split()
            n.agent_port, n.node = int(port), node

    def _start_service(self) -> None:
        store, users = self.workdir / "service" / "store", self.workdir / "service" / "users.json"
        users.parent.mkdir(parents=True, exist_ok=True)
        users.write_text(json.dumps(self.users))
        users.chmod(0o600)
        port_file = self.workdir / "service" / "port"
        port_file.unlink(missing_ok=True)
        log = self.workdir / "logs" / "patch-service.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                            os.environ.get("PYTHONPATH", "")])}
        with log.open("ab") as fh:
            self._service = subprocess.Popen(
                [sys.executable, "-m", "harness.products.beam.service", "--agent-file", str(self.master.port_file),
                 "--store", str(store), "--users", str(users), "--port-file", str(port_file),
                 *([] if self.detached else ["--watch-stdin"])],
                stdin=subprocess.DEVNULL if self.detached else subprocess.PIPE, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not port_file.exists():
            if self._service.poll() is not None or time.monotonic() > deadline:
                raise SetupFailed(f"patch service did not start\n{_tail(log)}")
            time.sleep(0.02)
        self.service_port = int(port_file.read_text())

    @staticmethod
    def _stop_procs(procs: Sequence[subprocess.Popen[bytes] | None]) -> None:
        live = [p for p in procs if p is not None]
        for p in live:
            if p.stdin and not p.stdin.closed:
                p.stdin.close()
            elif p.stdin is None and p.poll() is None:  # detached: no stdin watch; the BEAM stops on TERM
                try:
                    os.killpg(p.pid, 15)
                except ProcessLookupError:
                    pass
        for p in live:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---- the stand-in registry's entry points (harness.standins.STANDINS["beam"]) -------------------

def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    from harness.products.beam import standin as beam_env

    return beam_env.up(spec, state_dir, name=name)


def down(inv: Inventory, *, purge: bool = False) -> None:
    from harness.products.beam import standin as beam_env

    beam_env.down(inv, purge=purge)


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    from harness.products.beam import standin as beam_env

    return beam_env.planned_inventory(spec, state_dir, name=name)
