"""The node-timeline hook: what a product tells the report about its nodes, read from their own logs.

A product that has one names it in ``Product.timeline`` (``module:attribute``). At the end of a run the
harness asks it for each node's log (:meth:`NodeTimeline.collect`, read-only, through the nodes' transports)
and keeps the text in ``RUN_DIR/nodes/<node>.log``; :meth:`NodeTimeline.parse` turns a log into state
changes, kept in ``RUN_DIR/nodes/timeline.json``. The report draws the swimlanes from that file, so it never
needs the product (or the nodes) again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.probes import HttpProbe

#: the states a swimlane knows; a product maps its log events onto these
STATES = ("stopped", "stopping", "starting", "ready", "failed", "unknown")


@dataclass(frozen=True)
class StateChange:
    ts: float  # wall clock (time.time()), the timestamp of the node's own log line
    node: str
    state: str  # one of STATES
    version: str | None = None  # the version the node runs from here on, when its log says
    detail: str = ""  # the log line's message (first 200 characters)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StateChange:
        return cls(**d)


@runtime_checkable
class NodeTimeline(Protocol):
    """A product's view of its nodes for reports. It may also define ``served(env, probe) -> ProbeResult``:
    the probe's samples with the server that answered each, where the answers did not say (Zato: from the
    load balancer's request log); and ``front_door_nodes(inventory) -> list[str]``: the nodes whose own restart
    takes the front door down (a load balancer), whose stopping → ready windows the report counts failed
    requests in apart."""

    def collect(self, env: Environment) -> dict[str, str]:
        """Each node's log text, by node name (read-only; a node whose log cannot be read is left out)."""
        ...

    def parse(self, node: str, text: str) -> list[StateChange]:
        """The node's state changes in its log, oldest first."""
        ...

    def window(self, text: str, start: float, end: float) -> str:
        """The lines of the log ``text`` logged from ``start`` to ``end`` (wall clock), continuation lines
        (tracebacks) with the line they continue: what Allure attaches to a step."""
        ...

    def probe(self, inventory: Inventory) -> HttpProbe | None:
        """A probe of the environment's front door for the length of a run (bounded), or None."""
        ...
