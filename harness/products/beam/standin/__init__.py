"""The BEAM system as a stand-in environment: ``harness standins up beam --nodes 3`` and plans with
``standins: {product: beam, nodes: 3}``.

The inventory it writes (what the ``beam-patch`` procedure reads)::

    hosts:       one per node (name = node name, install_dir = the node's ROOT, transport local|docker://C)
    components:  one per node, role ``master`` (the domain that takes patches) or ``node``;
                 url = ``tcp://127.0.0.1:PORT`` (the node's patch agent)
    front_door:  the master domain's patch service (http://127.0.0.1:PORT)
    facts:       system_version, patch_service, credentials (a JSON file {"user","password"} in the
                 state dir, mode 0600: never a secret in a plan or inventory), erlang_nodes {name: node@host}

Process backend: the nodes and the service are detached from the command that started them (their
own sessions, no stdin watch) so the system outlives ``harness standins up`` and a killed executor;
their pids are in ``STATE_DIR/pids.json`` and :func:`down` stops exactly those (TERM, then KILL).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.standins import LegacyStandin
import yaml

from harness import procs
from harness.errors import SetupFailed
from harness.net import LOOPBACK
from harness.plan.models import Component, Host, Inventory, StandinsSpec
from harness.products.beam.standin.system import BeamSystem, erlang_available, topology

BASE_VERSION = "2.7.1"

#: Detached nodes this process started, by pid: :func:`down` reaps them (no zombie, no ResourceWarning)
#: when the same process stops them; another process (``harness standins down``) just signals them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def credentials(state_dir: Path) -> tuple[dict[str, dict[str, str]], Path]:
    """Fresh random passwords for this environment: the service's users and the admin's credentials file."""
    users = {"admin": {"password": secrets.token_urlsafe(12), "role": "admin"},
             "operator": {"password": secrets.token_urlsafe(12), "role": "operator"}}
    path = state_dir / "credentials.json"
    path.write_text(json.dumps({"user": "admin", "password": users["admin"]["password"],
                                "operator": {"user": "operator", "password": users["operator"]["password"]}}))
    path.chmod(0o600)
    return users, path


def write_inventory(inv: Inventory, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return path


def inventory(name: str, backend: str, state_dir: Path, nodes: list[tuple[str, str, str, str, int]], *,
              service_url: str, version: str, creds: Path, erlang_nodes: dict[str, str]) -> Inventory:
    """``nodes``: (name, role master|worker, transport, install dir, agent port on 127.0.0.1)."""
    hosts = [Host(name=n, transport=t, install_dir=root) for n, _, t, root, _ in nodes]
    comps = [Component(name=n, role="master" if role == "master" else "node", host=n, path=root,
                       url=f"tcp://{LOOPBACK}:{port}") for n, role, _, root, port in nodes]
    return Inventory(environment=name, product="beam", backend=backend, hosts=hosts,  # type: ignore[arg-type]
                     components=comps, front_door=service_url, state_dir=str(state_dir),
                     facts={"system_version": version, "patch_service": service_url,
                            "credentials": str(creds), "erlang_nodes": erlang_nodes})


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    if spec.backend == "docker":
        from harness.products.beam.standin import docker as beam_docker

        return beam_docker.up(spec, state_dir, name=name)
    if not erlang_available():
        raise SetupFailed("erl/erlc not found\nHint: install Debian's erlang-base (scripts/bootstrap does)")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    users, creds = credentials(state_dir)
    version = spec.version or BASE_VERSION
    system = BeamSystem(state_dir, version=version, topology=topology(spec.nodes), users=users, detached=True)
    system.start()
    _CHILDREN.update({p.pid: p for p in system.processes})
    try:
        (state_dir / "pids.json").write_text(json.dumps(system.pids()))
        nodes = [(n.name, n.spec.role, "local", str(n.root), n.agent_port) for n in system.nodes.values()]
        inv = inventory(name, "process", state_dir, nodes, service_url=system.master_url, version=version,
                        creds=creds, erlang_nodes={n.name: n.node for n in system.nodes.values()})
        write_inventory(inv, state_dir / "inventory.yaml")
    except BaseException:
        system.stop()
        raise
    return inv


def down(inv: Inventory, *, purge: bool = False) -> None:
    """Stop every node and the service of the environment (by the pids ``up`` recorded); idempotent."""
    if inv.backend == "docker":
        from harness.products.beam.standin import docker as beam_docker

        beam_docker.down(inv)
    elif inv.state_dir:
        pids_file = Path(inv.state_dir) / "pids.json"
        try:
            pids = json.loads(pids_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            pids = {}
        for pid in pids.values():
            _signal_group(int(pid), signal.SIGTERM)
        deadline = time.monotonic() + 5
        for pid in pids.values():
            while procs.alive(int(pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procs.alive(int(pid)):
                _signal_group(int(pid), signal.SIGKILL)
            child = _CHILDREN.pop(int(pid), None)
            if child is not None:
                child.wait(timeout=5)
        pids_file.unlink(missing_ok=True)
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    """What :func:`up` would write, without starting anything (ports not known yet: 0)."""
    nodes = [(s.name, s.role, "local", str(state_dir / "nodes" / s.name), 0) for s in topology(spec.nodes)]
    return inventory(name.strip("<>") or "new", spec.backend, state_dir, nodes,
                     service_url=f"http://{LOOPBACK}:0", version=spec.version or BASE_VERSION,
                     creds=state_dir / "credentials.json", erlang_nodes={})


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group ``pid`` leads (the stand-in started it with its own session)."""
    if not procs.alive(pid):
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class BeamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    nodes: int = Field(3, ge=1, le=64, description="nodes: the master domain and nodes-1 workers")


class BeamStandin(LegacyStandin):
    Options = BeamOptions
    base_version = BASE_VERSION
    module = "harness.products.beam.standin"

    def summary(self, options: BeamOptions) -> str:
        return f"{options.nodes}-node BEAM system"


STANDIN = BeamStandin()
