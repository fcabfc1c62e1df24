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
    """A readiness condition polled after the action, until it opens or ``timeout`` passes; or from when the
    action calls ``ctx.gate_early()``, beside the rest of the action (the step still needs both)."""

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
    #: steps sharing this key and adjacent in the plan form one stage that runs concurrently, one lane
    #: per node (a lane keeps its steps in order), e.g. ``git pull`` + ``./update.sh`` on every host
    parallel: str | None = None

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
        if self.parallel:
            text += f"  [stage {self.parallel}: nodes concurrently]"
        return text


def stages(steps: list[Step]) -> list[list[list[Step]]]:
    """Group steps into stages run one after another; a stage is a list of lanes run concurrently.

    A step without ``parallel`` is a stage of its own. Adjacent steps with the same ``parallel`` key
    form one stage, split into lanes by node, each lane in plan order.
    """
    out: list[list[list[Step]]] = []
    key: str | None = None
    for step in steps:
        if step.parallel is None or step.parallel != key:
            out.append([])
        key = step.parallel
        lanes = out[-1]
        lane = next((ln for ln in lanes if ln[0].node == step.node), None)
        if lane is None:
            lanes.append([step])
        else:
            lane.append(step)
    return out
