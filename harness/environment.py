"""Runtime handles for an inventory: hosts with a transport, components with their paths and URLs."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.plan.models import Inventory
from harness.transports import Transport, make_transport

LOG_FILES = {"server": "server.log", "web-admin": "web-admin.log", "scheduler": "scheduler.log",
             "load-balancer": "lb-agent.log"}


def transport_for(spec: str) -> Transport:
    """``local`` or ``docker://CONTAINER`` (testinfra-style host specs)."""
    if spec == "local":
        return make_transport("local")
    scheme, sep, rest = spec.partition("://")
    if sep and scheme == "docker" and rest:
        return make_transport("docker", container=rest)
    raise ConfigError(f"unsupported transport {spec!r}", hint="use `local` or `docker://CONTAINER`")


@dataclass
class HostHandle:
    name: str
    transport: Transport
    install_dir: str

    @property
    def zato(self) -> str:
        return f"{self.install_dir}/bin/zato"


@dataclass
class ComponentHandle:
    name: str
    role: str
    host: HostHandle
    path: str
    url: str

    @property
    def log_path(self) -> str:
        return f"{self.path}/logs/{LOG_FILES.get(self.role, self.role + '.log')}"

    def read_log(self) -> str:
        try:
            return self.host.transport.get(self.log_path).decode(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Environment:
    inventory: Inventory
    hosts: dict[str, HostHandle] = field(default_factory=dict)
    components: dict[str, ComponentHandle] = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inv: Inventory) -> Environment:
        env = cls(inv)
        for h in inv.hosts:
            env.hosts[h.name] = HostHandle(h.name, transport_for(h.transport), h.install_dir)
        for c in inv.components:
            env.components[c.name] = ComponentHandle(c.name, c.role, env.hosts[c.host], c.path, c.url)
        return env

    @property
    def name(self) -> str:
        return self.inventory.environment

    def node(self, name: str) -> HostHandle | ComponentHandle:
        if name in self.components:
            return self.components[name]
        return self.hosts[name]

    def close(self) -> None:
        for h in self.hosts.values():
            h.transport.close()
