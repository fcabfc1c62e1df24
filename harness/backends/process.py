"""The process backend: each host is a directory on this machine, reached by the local transport.

A host ``NAME`` of environment ``ENV`` is ``STATE/hosts/NAME/``; the product's absolute paths live
under it (``/opt/zato/current`` is ``STATE/hosts/NAME/opt/zato/current``). Each documented port gets a
free port on 127.0.0.1 of its own (claimed across processes, :func:`harness.net.free_ports`), so
hosts never collide; a mount is a symlink from the host's directory to the controller's. Nothing
runs until the product starts it, and :meth:`ProcessBackend.teardown` removes nothing: the product's
``stop`` ends its processes (``down --purge`` deletes the files).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from harness.backends.base import Backend, Host, HostSpec
from harness.net import LOOPBACK, free_ports


class ProcessBackend(Backend):
    NAME = "process"
    EPHEMERAL = False

    def _host(self, state_dir: Path, spec: HostSpec, ports: dict[int, int]) -> Host:
        return Host(name=spec.name, transport_spec="local", root=str(state_dir / "hosts" / spec.name),
                    bind=LOOPBACK, address=LOOPBACK, ports=ports, published=dict(ports), python=sys.executable)

    def provision(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        state_dir = state_dir.resolve()
        wanted = sum(len(h.ports) for h in hosts)
        pool = iter(free_ports(wanted)) if wanted else iter(())
        out = []
        for spec in hosts:
            host = self._host(state_dir, spec, {p: next(pool) for p in spec.ports})
            root = Path(host.root)
            root.mkdir(parents=True, exist_ok=True)
            for m in spec.mounts:
                link = Path(host.path(m.target))
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink():
                    link.symlink_to(m.source.resolve(), target_is_directory=m.source.is_dir())
            out.append(host)
        return out

    def planned(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        return [self._host(state_dir, spec, dict.fromkeys(spec.ports, 0)) for spec in hosts]

    def teardown(self, environment: str, state_dir: Path) -> None:
        return None
