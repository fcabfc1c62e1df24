"""Typed views of a check/apply/restore result: per module, per node, integral."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.products.beam.status import Status, exit_code, integral_status

__all__ = ["ModuleResult", "NodeResult", "PatchResult"]


@dataclass(frozen=True)
class ModuleResult:
    path: str
    module: str | None
    status: Status
    reason: str | None = None
    md5_new: str | None = None
    md5_loaded: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModuleResult:
        return cls(d["path"], d.get("module"), Status.parse(d["code"]), d.get("reason"),
                   d.get("md5_new"), d.get("md5_loaded"))


@dataclass(frozen=True)
class NodeResult:
    node: str
    modules: tuple[ModuleResult, ...]
    reachable: bool = True
    error: str | None = None

    @property
    def integral(self) -> Status:
        if not self.reachable or not self.modules:
            return Status.ERROR
        return integral_status(m.status for m in self.modules)

    def status_of(self, path_or_module: str) -> Status:
        for m in self.modules:
            if path_or_module in (m.path, m.module):
                return m.status
        raise KeyError(path_or_module)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NodeResult:
        return cls(d["node"], tuple(ModuleResult.from_json(m) for m in d.get("modules", [])),
                   d.get("reachable", True), d.get("error"))


@dataclass(frozen=True)
class PatchResult:
    action: str
    nodes: tuple[NodeResult, ...]
    patch: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def integral(self) -> Status:
        return integral_status(n.integral for n in self.nodes) if self.nodes else Status.ERROR

    @property
    def exit_code(self) -> int:
        return exit_code(self.integral)

    def node(self, name: str) -> NodeResult:
        """By full node name or by its short name (``w1`` matches ``w1@w1`` and ``ph..._w1@host``)."""
        for n in self.nodes:
            short = n.node.split("@")[0]
            if n.node == name or short == name or short.endswith(f"_{name}"):
                return n
        raise KeyError(name)

    def statuses(self, path_or_module: str) -> dict[str, Status]:
        return {n.node: n.status_of(path_or_module) for n in self.nodes}

    def reboot_required(self) -> list[str]:
        return [n.node for n in self.nodes if n.integral == Status.NOT_UPDATED]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PatchResult:
        return cls(d.get("action", ""), tuple(NodeResult.from_json(n) for n in d["nodes"]), d.get("patch", ""), d)

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(node, path, status, code, reason) rows, then one integral row per node: for tables."""
        out = []
        for n in self.nodes:
            for m in n.modules:
                out.append((n.node, m.path, m.status.label, str(int(m.status)), m.reason or ""))
            out.append((n.node, "(node integral)", n.integral.label, str(int(n.integral)),
                        n.error or ""))
        return out
