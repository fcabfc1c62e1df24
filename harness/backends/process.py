"""The process backend: each host is a directory on this machine, reached by the local transport.

A host ``NAME`` of environment ``ENV`` is ``STATE/hosts/NAME/``; the product's absolute paths live
under it (``/opt/zato/current`` is ``STATE/hosts/NAME/opt/zato/current``). Each documented port gets a
free port on 127.0.0.1 of its own (claimed across processes, :func:`harness.net.free_ports`), so
hosts never collide; a mount is a symlink from the host's directory to the controller's. Nothing
runs until the product starts it, and :meth:`ProcessBackend.teardown` removes nothing: the product's
``stop`` ends its processes (``down --purge`` deletes the files).

With ``proxies`` (``standins: {proxies: true}``), each host gets a fault proxy
(:mod:`harness.faults.proxy`) in front of its ports: the product listens on one port, the other hosts and
the controller connect to the proxy's, so a fault can cut or slow that one host's links. The proxies are
the backend's own processes: :meth:`ProcessBackend.teardown` ends them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.backends.base import Backend, Host, HostSpec
from harness.errors import SetupFailed
from harness.net import LOOPBACK, free_ports
from harness.procs import alive, terminate
from harness.wait import wait_until


def proxy_state(state_dir: Path | str, host: str) -> Path:
    """Where the proxy of ``host`` says it is up (``{"pid", "control", "ports"}``)."""
    return Path(state_dir) / "proxies" / f"{host}.json"


class ProcessBackend(Backend):
    NAME = "process"
    EPHEMERAL = False

    def __init__(self, *, proxies: bool = False) -> None:
        self.proxies = proxies

    def _host(self, state_dir: Path, spec: HostSpec, ports: dict[int, int],
              front: dict[int, int] | None = None) -> Host:
        return Host(name=spec.name, transport_spec="local", root=str(state_dir / "hosts" / spec.name),
                    bind=LOOPBACK, address=LOOPBACK, ports=ports, published=dict(front or ports),
                    peer_ports=dict(front or {}), python=sys.executable)

    def provision(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        state_dir = state_dir.resolve()
        wanted = sum(len(h.ports) for h in hosts) * (3 if self.proxies else 1)  # + a front and a control port
        pool = iter(free_ports(wanted)) if wanted else iter(())
        out = []
        for spec in hosts:
            front = {p: next(pool) for p in spec.ports} if self.proxies else None
            host = self._host(state_dir, spec, {p: next(pool) for p in spec.ports}, front)
            if front:
                self._start_proxy(state_dir, spec.name, {front[p]: host.ports[p] for p in spec.ports}, next(pool))
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

    def _start_proxy(self, state_dir: Path, host: str, ports: dict[int, int], control: int) -> None:
        state = proxy_state(state_dir, host)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "harness.faults.proxy", "--control", str(control), "--state", str(state),
                *(f"--map={f}={b}" for f, b in ports.items())]
        log = state.with_suffix(".log")
        with open(log, "ab") as out:  # its own session, not our child: it outlives an executor's SIGKILL
            subprocess.run(["setsid", "-f", *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True)
        wait_until(state.exists, timeout=30, what=f"the fault proxy of {host} to listen", error=SetupFailed,
                   details=lambda: log.read_text(errors="replace")[-2000:])

    def teardown(self, environment: str, state_dir: Path) -> None:
        """End the hosts' fault proxies, if any (the product's ``stop`` has ended its own programs)."""
        for state in sorted((Path(state_dir) / "proxies").glob("*.json")):
            pid = int(json.loads(state.read_text())["pid"])
            if alive(pid):
                terminate(pid)
            state.unlink(missing_ok=True)
