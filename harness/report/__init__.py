"""Reports of a run: the HTML file (:mod:`.html`), the PNG timeline (:mod:`.png`), what they show (:mod:`.model`)
and the products' node-timeline hook (:mod:`.timeline`).

At the end of a run, :func:`finish_run` keeps what the report needs in the run directory while the nodes are
still there: each node's log (``nodes/<node>.log``, secrets of the inventory and plan blanked), the state
changes the product's timeline hook reads in it (``nodes/timeline.json``), then writes ``report.html`` and
``timeline.png``. ``harness report RUN_DIR`` builds them again from those files alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import registry
from harness.report.model import FRONT_DOOR_FILE, NODES_DIR, PROBE_FILE, TIMELINE_FILE, ReportData, checks
from harness.report.timeline import NodeTimeline, StateChange

__all__ = ["NodeTimeline", "ReportData", "StateChange", "checks", "finish_run", "keep_node_logs", "redactor",
           "start_probe", "timeline_of", "write_report"]

_SECRET_KEY = re.compile(r"pass|secret|token|credential|api_?key|private", re.I)


def _secrets(obj: Any, under_secret: bool = False) -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _secrets(v, under_secret or bool(_SECRET_KEY.search(str(k))))
    elif isinstance(obj, list):
        for v in obj:
            yield from _secrets(v, under_secret)
    elif under_secret and isinstance(obj, str) and len(obj) >= 4:
        yield obj


def redactor(*sources: Any) -> Callable[[str], str]:
    """Blanks every value found under a secret-looking key (password, token …) of ``sources`` in a text."""
    found = sorted({s for src in sources for s in _secrets(src)}, key=len, reverse=True)
    if not found:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in found))
    return lambda text: pattern.sub("********", text)


def timeline_of(product: str) -> NodeTimeline | None:
    try:
        ref = registry.product(product).timeline
    except Exception:
        return None
    return registry.load(ref) if ref else None


def start_probe(inventory: Any) -> Any:
    """The product's probe of the front door (its timeline hook's), started; None when it has none."""
    hook = timeline_of(inventory.product)
    probe = hook.probe(inventory) if hook is not None else None
    return probe.start() if probe is not None else None


def keep_node_logs(run_dir: Path, timeline: NodeTimeline, logs: dict[str, str],
                   redact: Callable[[str], str] = lambda t: t) -> dict[str, list[StateChange]]:
    """Write each node's log and its parsed state changes into the run directory."""
    out = run_dir / NODES_DIR
    out.mkdir(exist_ok=True)
    states: dict[str, list[StateChange]] = {}
    for node, text in logs.items():
        text = redact(text)
        (out / f"{node}.log").write_text(text, encoding="utf-8")
        states[node] = timeline.parse(node, text)
    (out / TIMELINE_FILE).write_text(json.dumps({n: [c.to_dict() for c in cs] for n, cs in states.items()}))
    return states


def finish_run(run: Any, *, warn: Callable[[str], None] = lambda m: None, probe: Any = None) -> Path | None:
    """Keep the nodes' logs, the probe's samples and write the report of ``run`` (a :class:`Run`). Best
    effort: what cannot be read is said through ``warn`` and left out; never raises, never changes a node."""
    from harness.environment import Environment
    from harness.report.html import write_report

    run_dir: Path = run.run_dir
    try:
        if probe is not None:  # kept first: whatever fails below, the samples are not lost
            probe.write(run_dir / PROBE_FILE)
        timeline = timeline_of(run.inventory.product)
        if timeline is not None:
            env = Environment.from_inventory(run.inventory)
            try:
                served = getattr(timeline, "served", None)  # optional: who served each sample, from the nodes
                if probe is not None and served is not None:
                    served(env, probe).write(run_dir / PROBE_FILE)
                logs = timeline.collect(env)
            finally:
                env.close()
            keep_node_logs(run_dir, timeline, logs,
                           redactor(run.inventory.model_dump(mode="json"), run.plan.model_dump(mode="json")))
            front = getattr(timeline, "front_door_nodes", None)  # optional
            if front is not None:
                (run_dir / NODES_DIR / FRONT_DOOR_FILE).write_text(json.dumps(list(front(run.inventory))))
    except Exception as exc:
        warn(f"node logs not kept: {type(exc).__name__}: {exc}")
    try:
        return write_report(run_dir)
    except Exception as exc:
        warn(f"not written: {type(exc).__name__}: {exc}")
        return None


def write_report(run_dir: Path, out: Path | None = None, *, png: bool = True) -> Path:
    from harness.report.html import write_report as _write

    return _write(run_dir, out, png=png)
