"""Runtime handles for an inventory: hosts with a transport, components with their paths and URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.plan.models import Inventory
from harness.transports import Transport, transport_for


@dataclass
class HostHandle:
    name: str
    transport: Transport
    install_dir: str


@dataclass
class ComponentHandle:
    name: str
    role: str
    host: HostHandle
    path: str
    url: str


@dataclass
class Environment:
    inventory: Inventory
    hosts: dict[str, HostHandle] = field(default_factory=dict)
    components: dict[str, ComponentHandle] = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inv: Inventory, *, wrap: Callable[[Transport], Transport] | None = None) -> Environment:
        """Handles for ``inv``; ``wrap`` decorates every host's transport (the runner's lease fence)."""
        env = cls(inv)
        for h in inv.hosts:
            t = transport_for(h.transport, **inv.transport_options(h))
            env.hosts[h.name] = HostHandle(h.name, wrap(t) if wrap else t, h.install_dir)
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
