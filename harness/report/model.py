"""What a report shows, read from a run directory alone: the journal, the planned steps, the probe's samples
(``probe.jsonl``) and the node timelines (``nodes/timeline.json``). Nothing here talks to a node.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.engine.journal import read_journal
from harness.engine.status import EXIT_CODES, Outcome
from harness.engine.step import Step, stages
from harness.probes import ProbeResult
from harness.report.timeline import StateChange

#: lane colours of the HTML page and the PNG timeline (one palette for both)
STATE_COLOUR = {"ready": "#4caf50", "starting": "#ffc107", "stopping": "#ff9800", "stopped": "#9e9e9e",
                "failed": "#e53935", "unknown": "#cfd8dc"}
STATUS_COLOUR = {"ok": "#1565c0", "skipped": "#80deea", "failed": "#c62828", "indeterminate": "#f9a825",
                 "rolled_back": "#8e24aa", "started": "#90a4ae"}

PROBE_FILE = "probe.jsonl"
NODES_DIR = "nodes"
TIMELINE_FILE = "timeline.json"
#: the nodes whose own restart takes the front door down (the product's timeline hook says), a JSON list
FRONT_DOOR_FILE = "front_door.json"


@dataclass
class Span:
    """One execution of a step (or of a rollback step) on its node, from the journal."""

    step: str
    node: str
    action: str
    kind: str  # step | rollback_step
    start: float
    end: float | None
    status: str
    reason: str = ""
    gate_s: float | None = None
    gate_early_s: float | None = None  # how much of gate_s ran beside the action (ctx.gate_early())


@dataclass
class Check:
    name: str
    verdict: bool | None  # True proven, False disproven, None unknown (nothing to judge from)
    figures: str


@dataclass
class ReportData:
    run_dir: Path
    meta: dict[str, Any]
    steps: list[Step]
    records: list[dict[str, Any]]
    spans: list[Span]
    probe: ProbeResult
    states: dict[str, list[StateChange]] = field(default_factory=dict)
    front_door: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: Path) -> ReportData:
        meta = json.loads((run_dir / "meta.json").read_text())
        steps = [Step.from_dict(d) for d in json.loads((run_dir / "steps.json").read_text())]
        records = read_journal(run_dir / "journal.jsonl")
        spans: list[Span] = []
        open_: dict[tuple[str, str], Span] = {}
        for r in records:
            if r["event"] not in ("step", "rollback_step"):
                continue
            key = (r["event"], r["step"])
            if r["status"] == "started":
                sp = Span(r["step"], r.get("node", ""), r.get("action", ""), r["event"], r["ts"], None, "started")
                open_[key] = sp
                spans.append(sp)
                continue
            if key in open_:
                sp = open_.pop(key)
            else:  # an end without its start (a journal cut at its head): drawn as an instant
                sp = Span(r["step"], r.get("node", ""), r.get("action", ""), r["event"], r["ts"], None, "")
                spans.append(sp)
            sp.end, sp.status, sp.reason = r["ts"], r["status"], (r.get("reason") or "").split("\n", 1)[0]
            obs = r.get("observation") or {}
            sp.gate_s, sp.gate_early_s = obs.get("gate_s"), obs.get("gate_early_s")
        states: dict[str, list[StateChange]] = {}
        tl = run_dir / NODES_DIR / TIMELINE_FILE
        if tl.exists():
            for node, changes in json.loads(tl.read_text()).items():
                states[node] = [StateChange.from_dict(c) for c in changes]
        fd = run_dir / NODES_DIR / FRONT_DOOR_FILE
        front = [str(n) for n in json.loads(fd.read_text())] if fd.exists() else []
        return cls(run_dir, meta, steps, records, spans, ProbeResult.read(run_dir / PROBE_FILE), states, front)

    # --- derived ------------------------------------------------------------------------------------
    @property
    def outcome(self) -> str | None:
        ends = [r for r in self.records if r["event"] == "run" and r["status"] == "finished"]
        return ends[-1]["outcome"] if ends else None

    @property
    def nodes(self) -> list[str]:
        """Every node of the run, in the order the plan first names them (then nodes only a log names)."""
        seen = dict.fromkeys(s.node for s in self.steps)
        seen.update(dict.fromkeys(sp.node for sp in self.spans))
        seen.update(dict.fromkeys(self.states))
        return [n for n in seen if n]

    def window(self) -> tuple[float, float]:
        ts = [r["ts"] for r in self.records]
        ts += [s.start for s in self.probe.samples]
        ts += [c.ts for changes in self.states.values() for c in changes
               if self.records and self.records[0]["ts"] - 60 <= c.ts]
        if not ts:
            return (0.0, 1.0)
        lo, hi = min(ts), max(ts)
        return (lo, hi if hi > lo else lo + 1.0)

    def rollback_marks(self) -> list[tuple[float, str]]:
        return [(r["ts"], f"rollback {r['status']}" + (f": {r['reason']}" if r.get("reason") else ""))
                for r in self.records if r["event"] == "rollback"]

    def fault_marks(self) -> list[tuple[float, str]]:
        """Faults the run recorded (journal ``fault`` records, once the faults work lands) and failed steps."""
        out = [(r["ts"], f"fault: {r.get('kind', '')} {r.get('node', '')}".strip())
               for r in self.records if r["event"] == "fault"]
        out += [(sp.end, f"{sp.step} {sp.status}: {sp.reason}") for sp in self.spans
                if sp.end is not None and sp.status in ("failed", "indeterminate")]
        return out

    def time_per_action(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for sp in self.spans:
            if sp.end is not None and sp.kind == "step":
                out[sp.action] = out.get(sp.action, 0.0) + (sp.end - sp.start)
        return out


def _order(data: ReportData) -> Check:
    """Every stage's steps ended before the next stage's first step started (the documented order)."""
    forward = [sp for sp in data.spans if sp.kind == "step"]
    by_step: dict[str, Span] = {}
    for sp in forward:
        by_step[sp.step] = sp
    groups = [[s.id for lane in lanes for s in lane if s.id in by_step] for lanes in stages(data.steps)]
    groups = [g for g in groups if g]
    if not groups:
        return Check("steps in the documented order", None, "no step ran")
    bad = []
    for a, b in itertools.pairwise(groups):
        a_end = max((by_step[s].end or by_step[s].start) for s in a)
        b_start = min(by_step[s].start for s in b)
        if b_start < a_end:
            bad.append(f"{b[0]} started before {a[-1]} ended")
    ran = sum(len(g) for g in groups)
    if bad:
        return Check("steps in the documented order", False, "; ".join(bad[:3]))
    return Check("steps in the documented order", True, f"{ran} of {len(data.steps)} steps, {len(groups)} stages, "
                                                        "each stage after the one before")


def restart_windows(changes: list[StateChange]) -> list[tuple[float, float]]:
    """``(stopping, ready)`` of each restart in a node's state changes."""
    out, stop = [], None
    for c in sorted(changes, key=lambda c: c.ts):
        if c.state == "stopping":
            stop = c.ts
        elif c.state == "ready" and stop is not None:
            out.append((stop, c.ts))
            stop = None
    return out


def _availability(data: ReportData) -> Check:
    p = data.probe
    if not p.sent:
        return Check("no request lost", None, "no probe ran during this run")
    windows = p.outage_windows()
    longest = max((b - a for a, b in windows), default=0.0)
    by = sorted(p.served_by().items())
    served = ", ".join(f"{k}: {n}" for k, n in by[:8]) + (f" and {len(by) - 8} more servers" if len(by) > 8 else "")
    # the front door's own restarts (a load balancer's): down by the procedure, its failures reported apart
    door = [w for n in data.front_door for w in restart_windows(data.states.get(n, []))]
    inside = p.failed_within(door)
    apart = (f" ({len(inside)} of them while {', '.join(data.front_door)} itself restarted, "
             f"{sum(b - a for a, b in door):.3f}s)") if door else ""
    return Check("no request lost", len(inside) == len(p.failed),
                 f"{len(p.failed)} failed of {p.sent} sent{apart}; longest window without service {longest:.3f}s"
                 + (f"; served by {served}" if served else ""))


def _versions(data: ReportData) -> Check:
    pairs: dict[str, tuple[str, str]] = {}
    start = data.records[0]["ts"] if data.records else 0.0
    for node, changes in data.states.items():
        vs = [c for c in changes if c.version]
        if not vs:
            continue
        before = [c.version for c in vs if c.ts < start]
        first = before[-1] if before else vs[0].version
        assert first is not None and vs[-1].version is not None
        pairs[node] = (first, vs[-1].version)
    if not pairs:
        return Check("versions before → after", None, "no node's log names a version")
    figures = _grouped(pairs)
    if data.outcome == Outcome.ROLLED_BACK.value:
        return Check("versions before → after", all(a == b for a, b in pairs.values()),
                     "rolled back: every node on its version before: " + figures)
    return Check("versions before → after", len({b for _, b in pairs.values()}) == 1,
                 "every node on one version: " + figures)


def _grouped(pairs: dict[str, tuple[str, str]]) -> str:
    """``server1 3.2.0→3.2.1, …``; at more than 4 nodes on one change, ``50 nodes 1.0→1.1 (node01 … node50)``."""
    by_change: dict[tuple[str, str], list[str]] = {}
    for node, change in pairs.items():
        by_change.setdefault(change, []).append(node)
    parts = []
    for (a, b), nodes in by_change.items():
        if len(nodes) > 4:
            parts.append(f"{len(nodes)} nodes {a}→{b} ({nodes[0]} … {nodes[-1]})")
        else:
            parts += [f"{n} {a}→{b}" for n in nodes]
    return ", ".join(parts)


def checks(data: ReportData) -> list[Check]:
    """What the run proved, each with its verdict and its figures."""
    outcome = data.outcome
    counts: dict[str, int] = {}
    for sp in data.spans:
        if sp.kind == "step" and sp.end is not None:
            counts[sp.status] = counts.get(sp.status, 0) + 1
    out = [Check("outcome", None if outcome is None else outcome == Outcome.SUCCESS.value,
                 f"{outcome or 'not finished'}"
                 + (f" (exit {EXIT_CODES[Outcome(outcome)]})" if outcome else "")
                 + ("; " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) if counts else "")),
           _order(data), _availability(data), _versions(data)]
    rb = [r for r in data.records if r["event"] == "rollback"]
    if rb:
        rb_spans = [sp for sp in data.spans if sp.kind == "rollback_step"]
        ok = all(sp.status in ("ok", "skipped") for sp in rb_spans) and rb[-1]["status"] == "finished"
        out.append(Check("clean rollback", ok, f"{len(rb_spans)} rollback steps, rollback {rb[-1]['status']}"))
    return out
