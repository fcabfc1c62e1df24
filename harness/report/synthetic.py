"""A synthetic run directory, for the report's bench and tests: ``nodes`` nodes, ``steps_per_node`` steps on
each (stop then start, one node after another), each node's state changes, and a probe's samples with a few
failures. Only what :class:`~harness.report.model.ReportData` reads is written; no node exists."""

from __future__ import annotations

import json
from pathlib import Path

from harness.engine.step import Gate, Step
from harness.probes import ProbeResult, Sample
from harness.report.model import NODES_DIR, PROBE_FILE, TIMELINE_FILE
from harness.report.timeline import StateChange


def synthetic_run(run_dir: Path, *, nodes: int = 50, steps_per_node: int = 100, step_s: float = 0.2,
                  probe_every: float = 0.05, failures: int = 3, t0: float = 1_800_000_000.0) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    names = [f"node{i:02d}" for i in range(1, nodes + 1)]
    steps: list[Step] = []
    for k in range(steps_per_node):
        for n in names:
            action = "synthetic.stop" if k % 2 == 0 else "synthetic.start"
            steps.append(Step(f"{action.split('.')[1]}{k // 2}@{n}", n, action,
                              gate=Gate("synthetic.ready") if k % 2 else None))
    journal = [{"ts": t0, "event": "run", "status": "started", "run_id": run_dir.name, "steps": [s.id for s in steps]}]
    states: dict[str, list[StateChange]] = {n: [StateChange(t0 - 5, n, "ready", "1.0", "Started")] for n in names}
    t = t0
    for s in steps:
        journal.append({"ts": t, "event": "step", "step": s.id, "node": s.node, "action": s.action,
                        "status": "started"})
        state = "stopped" if s.action == "synthetic.stop" else "ready"
        states[s.node].append(StateChange(t + step_s / 2, s.node, state, "1.1" if state == "ready" else None,
                                          f"{state} by {s.id}"))
        t += step_s
        journal.append({"ts": t, "event": "step", "step": s.id, "node": s.node, "action": s.action,
                        "status": "ok", "reason": "", "duration": step_s, "observation": {"gate_s": step_s / 3}})
    journal.append({"ts": t, "event": "run", "status": "finished", "outcome": "success", "reason": ""})
    samples = []
    count = int((t - t0) / probe_every)
    fail_at = {int(count * (i + 1) / (failures + 1)) for i in range(failures)}
    for i in range(count):
        ok = i not in fail_at
        samples.append(Sample(t0 + i * probe_every, 0.004, ok, 200 if ok else 503,
                              names[i % len(names)] if ok else None, None if ok else "HTTP 503: 'no server'"))
    meta = {"run_id": run_dir.name, "procedure": "synthetic-update", "environment": "synthetic",
            "owns_standins": False, "plan_file": None, "created": t0, "base_dir": None}
    (run_dir / "meta.json").write_text(json.dumps(meta))
    (run_dir / "steps.json").write_text(json.dumps([s.to_dict() for s in steps]))
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in journal))
    ProbeResult(samples).write(run_dir / PROBE_FILE)
    (run_dir / NODES_DIR).mkdir(exist_ok=True)
    (run_dir / NODES_DIR / TIMELINE_FILE).write_text(
        json.dumps({n: [c.to_dict() for c in cs] for n, cs in states.items()}))
    return run_dir
