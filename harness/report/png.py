"""The run's timeline as a PNG (matplotlib, Agg backend): for Allure attachments and CI logs."""

from __future__ import annotations

from pathlib import Path

from harness.report.model import STATE_COLOUR, STATUS_COLOUR, ReportData


def write_png(data: ReportData, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    lo, hi = data.window()
    nodes = data.nodes
    row = {n: len(nodes) - i for i, n in enumerate(nodes)}
    fig, ax = plt.subplots(figsize=(12, max(2.5, 0.25 * len(nodes) + 1.5)), dpi=80)
    try:
        # one broken_barh per lane and layer (not per bar): 5,000 steps draw in about a second
        for node, changes in data.states.items():
            if node not in row:
                continue
            bars, colours = [], []
            for c, nxt in zip(changes, [*changes[1:], None], strict=False):
                a, b = max(c.ts, lo), nxt.ts if nxt else hi
                if b >= lo:
                    bars.append((a - lo, b - a))
                    colours.append(STATE_COLOUR.get(c.state, STATE_COLOUR["unknown"]))
            ax.broken_barh(bars, (row[node] - 0.4, 0.8), facecolors=colours, alpha=0.45)
        lanes: dict[str, tuple[list[tuple[float, float]], list[str]]] = {}
        for sp in data.spans:
            if sp.node in row:
                end = sp.end if sp.end is not None else hi
                bars, colours = lanes.setdefault(sp.node, ([], []))
                bars.append((sp.start - lo, max(end - sp.start, (hi - lo) / 2000)))
                colours.append(STATUS_COLOUR.get(sp.status, "#607d8b"))
        for node, (bars, colours) in lanes.items():
            ax.broken_barh(bars, (row[node] - 0.2, 0.4), facecolors=colours)
        failed = [s.start - lo for s in data.probe.samples if not s.ok]
        if failed:
            ax.scatter(failed, [len(nodes) + 1] * len(failed), c="#d50000", s=6, marker="|", label="failed request")
        for ts, _ in data.rollback_marks():
            ax.axvline(ts - lo, color="#8e24aa", lw=1.5)
        ax.set_yticks([row[n] for n in nodes] + ([len(nodes) + 1] if failed else []),
                      nodes + (["probe"] if failed else []), fontsize=7)
        ax.set_xlim(0, hi - lo)
        ax.set_xlabel("seconds since the run started")
        ax.set_title(f"{data.meta.get('procedure')} on {data.meta.get('environment')}: "
                     f"{data.outcome or 'not finished'}")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
