"""Helpers for tests and suites of the hot patch (public, like ``structlog.testing``).

* :func:`variant` writes a changed copy of a stand-in module (new md5, same behaviour) to compile.
* :func:`zip_bytes` builds archives with crafted names, modes and sizes: the hostile ones.
* :func:`snapshot` records every node's loaded md5s and installed files, to prove nothing changed.
* :class:`BeamEnv` is a running system through its inventory (any backend): agents, the patch service's
  URL and passwords, and the system's own operations (update, manual reboot, a node or the service stopped).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import standins
from harness.plan.models import Inventory, StandinsSpec
from harness.products.beam import standin
from harness.products.beam.agent import AgentClient
from harness.products.beam.archive import MANIFEST_NAME
from harness.products.beam.client import PatchClient
from harness.products.beam.domain import Domain
from harness.products.beam.standin import STANDIN_MODULES
from harness.products.beam.standin.node import NodeHandle
from harness.products.beam.standin.patch_service import service_pidfile

__all__ = ["STANDIN_MODULES", "BeamEnv", "erlang_available", "manifest", "snapshot", "start_beam", "variant",
           "zip_bytes"]



def variant(source: Path, out_dir: Path, tag: str, *, on_load_error: bool = False) -> Path:
    """A copy of ``source`` with an extra exported ``patch_tag/0`` returning ``tag`` (so a new md5).

    ``on_load_error=True`` adds an ``-on_load`` function that fails: ``code:load_binary`` then
    returns ``{error,on_load_failure}`` and the old code stays (status error).
    """
    text = source.read_text()
    extra = "-export([patch_tag/0]).\n"
    tail = f'\npatch_tag() -> "{tag}".\n'
    if on_load_error:
        extra += "-on_load(patch_refuse/0).\n"
        tail += "patch_refuse() -> {error, refused_by_patch_test}.\n"
    text = re.sub(r"^(-module\([a-z_0-9]+\)\.\n)", lambda m: m.group(1) + extra, text, count=1, flags=re.MULTILINE)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / source.name
    out.write_text(text + tail)
    return out


def manifest(version: str = "2.7.1", **extra: Any) -> bytes:
    return json.dumps({"format": 1, "system_version": version, **extra}).encode()


def zip_bytes(entries: Iterable[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]], *,
              version: str | None = "2.7.1", compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, data)`` pairs (or ``(ZipInfo, data)`` for crafted modes), plus a manifest
    for ``version`` unless it is None. Duplicate names are written as given (zipfile warns)."""
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": exactly what a hostile test wants
        with zipfile.ZipFile(buf, "w", compression) as zf:
            if version is not None:
                zf.writestr(MANIFEST_NAME, manifest(version))
            for entry in entries:
                if isinstance(entry, tuple):
                    name, data = entry
                    zf.writestr(name, data)
                else:
                    zf.writestr(entry, b"")
    return buf.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def snapshot(agents: Sequence[AgentClient], modules: Sequence[str] = STANDIN_MODULES) -> dict[str, Any]:
    """Per node: loaded md5 of ``modules`` and the md5 of every file under ``ROOT/lib``, as the node's
    agent reads them (so it works on every backend, the node's disk need not be the harness's)."""
    out: dict[str, Any] = {}
    for a in agents:
        out[a.info()["node"]] = {"md5": a.md5s(list(modules)), "files": a.files()}
    return out


def start_beam(backend: str, base: Path, *, nodes: int = 3, version: str | None = None) -> BeamEnv:
    """A new system from the stand-in registry (as ``harness standins up beam`` starts it) under ``base``;
    ``harness.standins.down(env.inventory)`` removes it."""
    name = standins.new_env_name("beam")
    spec = StandinsSpec.model_validate({"product": "beam", "backend": backend, "version": version, "nodes": nodes})
    return BeamEnv(standins.up(spec, base / name, name=name))


def erlang_available() -> bool:
    """``erl`` and ``erlc`` on this machine: the process backend's hosts and :func:`build_patch` need them."""
    return all(shutil.which(t) for t in ("erl", "erlc"))


@dataclass
class BeamEnv:
    """A running BEAM system through its inventory (``harness standins up beam`` on any backend)."""

    inventory: Inventory

    @property
    def path(self) -> Path:
        """The inventory file (``--target``)."""
        return Path(self.inventory.state_dir or ".") / "inventory.yaml"

    @property
    def domain(self) -> Domain:
        return Domain.from_inventory(self.inventory)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inventory.components]

    @property
    def master_url(self) -> str:
        return str(self.inventory.facts["patch_service"])

    def password(self, user: str = "admin") -> str:
        doc = json.loads(Path(self.inventory.facts["credentials"]).read_text())
        return str(doc["password"] if doc["user"] == user else doc[user]["password"])

    def client(self, user: str = "admin") -> PatchClient:
        return PatchClient(self.master_url, user, self.password(user))

    def agent(self, name: str) -> AgentClient:
        return self.domain.agent(name)

    @property
    def agents(self) -> list[AgentClient]:
        return [self.agent(n) for n in self.names]

    def full_name(self, name: str) -> str:
        """The Erlang node name (``name@host``) results carry for component ``name``."""
        return self.domain.erlang_node(name)

    def snapshot(self, modules: Sequence[str] = STANDIN_MODULES) -> dict[str, Any]:
        return snapshot(self.agents, modules)

    def md5s(self, modules: Sequence[str]) -> dict[str, dict[str, str]]:
        """component name -> module -> loaded md5 (or ``not_loaded``)."""
        return {n: self.agent(n).md5s(modules) for n in self.names}

    def node(self, name: str) -> NodeHandle:
        """How node ``name``'s host is reached and where its files are (transport, layout, agent)."""
        with standin.System(self.inventory) as system:
            return system.nodes[name]

    # -- the system's own operations, through the transports ------------------------------------------
    def update(self, version: str) -> None:
        self.inventory = standin.update(self.inventory, version)

    def reboot(self, name: str) -> None:
        standin.reboot(self.inventory, name)

    def stop_nodes(self, *names: str) -> None:
        standin.stop_nodes(self.inventory, list(names))

    def signal_service(self, signal: str) -> None:
        """Send ``signal`` (``STOP``, ``CONT`` …) to the patch service, on the master's host."""
        master = self.node(self.domain.master)
        pid = master.transport.get(service_pidfile(master.layout)).decode().strip()
        master.transport.run(["kill", f"-{signal}", pid], timeout=30).check()
