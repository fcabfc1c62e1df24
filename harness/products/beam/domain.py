"""A master domain as an inventory describes it: the patch service, the credentials, every node's agent.

What the ``beam-patch`` procedure needs from an inventory (``product: beam``)::

    components:  role master (exactly one) or node; url tcp://127.0.0.1:PORT of the node's patch agent
    facts:
      patch_service:  http://127.0.0.1:PORT        the master domain's System/Patch service
      credentials:    /path/credentials.json       {"user": "admin", "password": "..."} (kept out of the repo);
                                                   else HARNESS_PATCH_USER / HARNESS_PATCH_PASSWORD
      erlang_nodes:   {master: node@host, ...}     optional; asked of the agents when absent
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.plan.models import Inventory
from harness.products.beam.agent import AgentClient
from harness.products.beam.client import PatchClient

__all__ = ["Domain"]


@dataclass
class Domain:
    inventory: Inventory
    service_url: str
    user: str
    password: str

    @classmethod
    def from_inventory(cls, inv: Inventory) -> Domain:
        masters = inv.by_role("master")
        if len(masters) != 1:
            raise ConfigError(f"a beam inventory needs exactly one component with role master, found {len(masters)}",
                              field="components", hint="mark the node that takes patches `role: master`")
        for c in inv.components:
            parts = urlsplit(c.url)
            if parts.scheme != "tcp" or not parts.port:
                raise ConfigError(f"component {c.name}: url {c.url!r} is not the node's patch agent",
                                  field=f"components.{c.name}.url", hint="write tcp://127.0.0.1:PORT")
        url = inv.facts.get("patch_service") or inv.front_door
        if not url:
            raise ConfigError("no patch service URL", field="facts.patch_service",
                              hint="add facts: {patch_service: http://127.0.0.1:PORT} to the inventory")
        user, password = _credentials(inv)
        return cls(inv, str(url), user, password)

    @property
    def master(self) -> str:
        return self.inventory.by_role("master")[0].name

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inventory.components]

    def client(self) -> PatchClient:
        return PatchClient(self.service_url, self.user, self.password)

    def agent(self, name: str, timeout: float = 60.0) -> AgentClient:
        comp = next(c for c in self.inventory.components if c.name == name)
        parts = urlsplit(comp.url)
        return AgentClient(parts.hostname or "127.0.0.1", int(parts.port or 0), timeout=timeout, name=name)

    def erlang_node(self, name: str) -> str:
        """The Erlang node name (``node@host``) of component ``name``, as results name it."""
        known = self.inventory.facts.get("erlang_nodes") or {}
        if name in known:
            return str(known[name])
        return str(self.agent(name).info()["node"])


def _credentials(inv: Inventory) -> tuple[str, str]:
    ref = inv.facts.get("credentials")
    if ref:
        path = Path(os.path.expanduser(str(ref)))
        try:
            doc = json.loads(path.read_text())
            return str(doc["user"]), str(doc["password"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the credentials file {path}: {exc}", field="facts.credentials",
                              hint='a JSON file {"user": "admin", "password": "..."} readable by the executor'
                              ) from None
    password = os.environ.get("HARNESS_PATCH_PASSWORD")
    if not password:
        raise ConfigError("no credentials for the patch service", field="facts.credentials",
                          hint="set facts.credentials to a JSON file, or export "
                          "HARNESS_PATCH_USER/HARNESS_PATCH_PASSWORD")
    return os.environ.get("HARNESS_PATCH_USER", "admin"), password
