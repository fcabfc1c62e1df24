"""Steps as data.

A procedure turns ``plan + inventory`` into a list of :class:`Step`. Nothing here executes anything: the
dry-run prints this list, and the journal of a real run records the same ids in the same order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class StepStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Gate:
    """A readiness condition polled after the action, until it opens or ``timeout`` passes."""

    kind: str
    timeout: float = 60.0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    id: str
    node: str
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    gate: Gate | None = None
    compensation: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        gate = Gate(**d["gate"]) if d.get("gate") else None
        return cls(**{**d, "gate": gate})

    def describe(self) -> str:
        text = self.description or f"{self.action} {self.args or ''}".strip()
        if self.gate:
            text += f"  [gate: {self.gate.kind}, ≤{self.gate.timeout:g}s]"
        return text
