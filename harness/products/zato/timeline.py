"""Zato's node timeline for the report: each component's state changes from its own log (:mod:`.logs`)."""

from __future__ import annotations

from harness.environment import Environment
from harness.errors import TransportError
from harness.plan.models import Inventory
from harness.probes import HttpProbe, ProbeResult
from harness.products.zato.checks import ping_probe, served
from harness.products.zato.logs import parse_line, parse_log
from harness.products.zato.state import read_log
from harness.report.timeline import StateChange

#: log event kind -> swimlane state
_STATE = {"starting": "starting", "started": "ready", "ready": "ready", "stopping": "stopping",
          "stopped": "stopped", "boot_failed": "failed"}


class ZatoTimeline:
    def collect(self, env: Environment) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, comp in env.components.items():
            try:
                out[name] = read_log(comp)
            except (TransportError, OSError):
                continue  # a component whose host is gone: its lane is drawn from the journal alone
        return out

    def parse(self, node: str, text: str) -> list[StateChange]:
        changes: list[StateChange] = []
        version: str | None = None
        for e in parse_log(text):
            state = _STATE.get(e.kind)
            if state is None:
                continue
            if e.kind == "starting":
                version = e.fields.get("version") or version
            changes.append(StateChange(e.ts.timestamp(), node, state, version, e.first_line[:200]))
        return changes

    def window(self, text: str, start: float, end: float) -> str:
        keep, out = False, []
        for line in text.splitlines():
            event = parse_line(line)
            if event is not None:
                keep = start <= event.ts.timestamp() <= end
            if keep:
                out.append(line)
        return "\n".join(out)

    def probe(self, inventory: Inventory) -> HttpProbe | None:
        """GET /zato/ping through the load balancer every 50 ms, each request marked so that the LB's request
        log says which server answered it."""
        if not inventory.front_door:
            return None
        return ping_probe(inventory.front_door, interval=0.05, max_seconds=1800)

    def served(self, env: Environment, probe: ProbeResult) -> ProbeResult:
        return served(env, probe)

    def front_door_nodes(self, inventory: Inventory) -> list[str]:
        """The load balancers: `zato stop` stops HAProxy too (Zato 3.2 stop_haproxy)."""
        return [c.name for c in inventory.components if c.role == "load-balancer"]


TIMELINE = ZatoTimeline()
