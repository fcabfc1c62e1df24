"""``harness report RUN_DIR``: one self-contained HTML file (inline CSS and SVG, no script, no network).

The swimlanes are SVG drawn from :class:`~harness.report.model.ReportData`: one lane per node with its states
(from the node's own log, through the product's timeline hook) under the steps the journal records on it;
step boundaries as thin lines; the probe's requests binned into a strip above the lanes (red where a request
failed, coloured by the server that answered otherwise); rollback and failures marked. The geometry is
computed here and the markup is the jinja2 template ``templates/report.html.j2``.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.report.model import STATE_COLOUR, STATUS_COLOUR, Check, ReportData, checks

log = logging.getLogger("harness.report")

LANE_H, LABEL_W, TOP = 18, 150, 46
SERVER_COLOURS = ("#26a69a", "#5c6bc0", "#8d6e63", "#ab47bc", "#78909c", "#d4e157", "#29b6f6", "#ec407a")
PROBE_BINS_MAX = 800


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str
    cls: str = ""


def _width(data: ReportData) -> int:
    most = max((sum(1 for sp in data.spans if sp.node == n) for n in data.nodes), default=1)
    return int(min(24000, max(1100, most * 8)))


def layout(data: ReportData) -> dict[str, object]:
    lo, hi = data.window()
    width = _width(data)
    scale = width / (hi - lo)

    def x(ts: float) -> float:
        return LABEL_W + (ts - lo) * scale

    nodes = data.nodes
    row = {n: TOP + i * LANE_H for i, n in enumerate(nodes)}
    states: list[Rect] = []
    for node, changes in data.states.items():
        if node not in row:
            continue
        for c, nxt in zip(changes, [*changes[1:], None], strict=False):
            a, b = max(c.ts, lo), (nxt.ts if nxt else hi)
            if b < lo:
                continue
            label = f"{node}: {c.state}" + (f" {c.version}" if c.version else "") + f" — {c.detail}"
            states.append(Rect(x(a), row[node] + 1, max(x(b) - x(a), 0.5), LANE_H - 2,
                               STATE_COLOUR.get(c.state, STATE_COLOUR["unknown"]), label, "state"))
    steps: list[Rect] = []
    for sp in data.spans:
        if sp.node not in row:
            continue
        end = sp.end if sp.end is not None else hi
        gate = f", gate {sp.gate_s:.2f}s" if sp.gate_s is not None else ""
        if sp.gate_s is not None and sp.gate_early_s:
            gate += f" ({sp.gate_early_s:.2f}s of it beside the action)"
        title = f"{sp.step} on {sp.node}: {sp.status} in {end - sp.start:.2f}s{gate}" + (
            f" — {sp.reason}" if sp.reason else "")
        steps.append(Rect(x(sp.start), row[sp.node] + 5, max(x(end) - x(sp.start), 1.0), LANE_H - 10,
                          STATUS_COLOUR.get(sp.status, "#607d8b"), title,
                          "rb" if sp.kind == "rollback_step" else "step"))
    boundaries = sorted({round(x(sp.start), 1) for sp in data.spans if sp.kind == "step"})
    servers = sorted(data.probe.served_by())
    colour = {s: SERVER_COLOURS[i % len(SERVER_COLOURS)] for i, s in enumerate(servers)}
    probe: list[Rect] = []
    samples = data.probe.samples
    if samples:
        bins = min(PROBE_BINS_MAX, len(samples))
        size = (hi - lo) / bins
        grouped: dict[int, list[int]] = {}
        for i, s in enumerate(samples):
            grouped.setdefault(min(int((s.start - lo) / size), bins - 1), []).append(i)
        for b, idx in sorted(grouped.items()):
            group = [samples[i] for i in idx]
            failed = [s for s in group if not s.ok]
            by: dict[str, int] = {}
            for s in group:
                if s.served_by:
                    by[s.served_by] = by.get(s.served_by, 0) + 1
            top = max(by, key=lambda k: by[k]) if by else None
            fill = "#d50000" if failed else (colour.get(top, "#9e9e9e") if top else "#9e9e9e")
            title = (f"{len(group)} requests, {len(failed)} failed" + (f" ({failed[0].error})" if failed else "")
                     + (f"; served by {', '.join(f'{k} {n}' for k, n in sorted(by.items()))}" if by else ""))
            probe.append(Rect(x(lo + b * size), 8, max(size * scale, 1.0), 16, fill, title,
                              "probe-fail" if failed else "probe-ok"))
    marks = [(x(ts), text, "rollback") for ts, text in data.rollback_marks()]
    marks += [(x(ts), text, "fault") for ts, text in data.fault_marks()]
    height = TOP + len(nodes) * LANE_H + 24
    ticks: list[tuple[float, str]] = []
    step_s = _tick(hi - lo)
    t = 0.0
    while t <= hi - lo and len(ticks) < 400:
        ticks.append((x(lo + t), f"{t:g}s"))
        t += step_s
    return {"width": width + LABEL_W + 10, "height": height, "nodes": [(n, row[n]) for n in nodes],
            "states": states, "steps": steps, "boundaries": boundaries, "probe": probe, "marks": marks,
            "ticks": ticks, "servers": [(s, colour[s]) for s in servers], "lane_h": LANE_H,
            "label_w": LABEL_W, "top": TOP, "lanes_end": TOP + len(nodes) * LANE_H}


def _tick(span: float) -> float:
    for t in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / t <= 20:
            return float(t)
    return span / 20


def render(data: ReportData, *, png_name: str | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             trim_blocks=True, lstrip_blocks=True)
    verdicts: list[Check] = checks(data)
    lo, _ = data.window()
    rows = []
    index = {s.id: i for i, s in enumerate(data.steps, 1)}
    for sp in data.spans:
        rows.append({"n": index.get(sp.step, "-"), "step": sp.step, "node": sp.node, "action": sp.action,
                     "kind": "rollback" if sp.kind == "rollback_step" else "", "status": sp.status,
                     "start": f"{sp.start - lo:.2f}", "took": "" if sp.end is None else f"{sp.end - sp.start:.2f}",
                     "reason": sp.reason})
    ran = {sp.step for sp in data.spans}
    pending = [{"n": i, "step": s.id, "node": s.node, "action": s.action} for i, s in enumerate(data.steps, 1)
               if s.id not in ran]
    return env.get_template("report.html.j2").render(
        meta=data.meta, outcome=data.outcome or "not finished", checks=verdicts, rows=rows, pending=pending,
        phases=sorted(data.time_per_action().items(), key=lambda kv: -kv[1]), lay=layout(data),
        nodes=data.nodes, steps=data.steps, png=png_name, states=STATE_COLOUR, statuses=STATUS_COLOUR,
        built=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def write_report(run_dir: Path, out: Path | None = None, *, png: bool = True) -> Path:
    """Write ``RUN_DIR/report.html`` (and ``timeline.png`` next to it); the path of the HTML."""
    data = ReportData.load(run_dir)
    out = out or run_dir / "report.html"
    png_name = None
    if png:
        from harness.report.png import write_png

        png_path = out.with_name("timeline.png")
        try:
            # the picture is for Allure and CI logs; the HTML draws its own timeline: a PNG that cannot be
            # drawn (matplotlib warns of a missing glyph, which a warnings-as-errors test run raises) is said
            # and left out, never a report lost
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                write_png(data, png_path)
            png_name = png_path.name
        except Exception as exc:
            log.warning("timeline PNG of %s not drawn: %s: %s", run_dir, type(exc).__name__, exc)
    out.write_text(render(data, png_name=png_name), encoding="utf-8")
    return out
