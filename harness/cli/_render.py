"""Console rendering shared by the CLI commands (rich; plain lines when not a terminal, e.g. in CI)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from harness.engine.runner import Run
from harness.engine.status import EXIT_CODES, Outcome
from harness.engine.step import Step, stages


class _Redacting(Console):
    """A console that never prints a secret the run revealed (:mod:`harness.secrets`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        from harness.secrets import redact

        super().print(*(redact(o) if isinstance(o, str) else o for o in objects), **kwargs)


console = _Redacting(highlight=False)
err = _Redacting(stderr=True, highlight=False)

_STYLE = {"ok": "green", "skipped": "cyan", "failed": "red bold", "indeterminate": "yellow bold",
          "rolled_back": "magenta", "started": "dim"}


def steps_table(steps: list[Step], title: str, statuses: dict[str, str] | None = None) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for col in ("#", "step", "node", "what it does") + (("status",) if statuses is not None else ()):
        t.add_column(col, justify="right" if col == "#" else "left")
    for i, s in enumerate(steps, 1):
        row = [str(i), s.id, s.node, s.describe()]
        if statuses is not None:
            st = statuses.get(s.id, "pending")
            row.append(f"[{_STYLE.get(st, '')}]{st}[/]" if st in _STYLE else st)
        t.add_row(*row)
    return t


class Progress:
    """Step transitions as they happen. On a terminal: a live panel (the stage, its lanes side by side, the
    node and gate each lane waits on, elapsed time) above one line per finished step. On a pipe: plain
    single lines, never wrapped (``[3/14] stop@server1 ok 0.21s``), so CI logs keep one line per event."""

    def __init__(self, run: Run, out: Console | None = None) -> None:
        self.out = out or console
        self.total = len(run.steps)
        self.index = {s.id: i for i, s in enumerate(run.steps, 1)}
        self.stage_of: dict[str, int] = {}
        self.stages = stages(run.steps)
        for n, lanes in enumerate(self.stages, 1):
            for lane in lanes:
                for st in lane:
                    self.stage_of[st.id] = n
        self.started: dict[str, float] = {}
        self.running: dict[str, Step] = {}
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._live: Live | None = None

    # --- the live panel (terminal only) --------------------------------------------------------------
    def __enter__(self) -> Progress:
        if self.out.is_terminal:
            self._live = Live(self._panel(), console=self.out, refresh_per_second=4, transient=True,
                              get_renderable=self._panel)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _panel(self) -> Table:
        with self._lock:
            running = list(self.running.values())
            stage = max((self.stage_of.get(i, 0) for i in self.started), default=0)  # the latest stage begun
        t = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self.t0
        t.add_row(f"[bold]stage {stage}/{len(self.stages)}[/]", f"elapsed {elapsed:.1f}s",
                  f"{len(self.started) - len(running)}/{self.total} steps done")
        lanes = Table.grid(padding=(0, 3))
        cells = []
        for s in running:
            waited = time.monotonic() - self.started.get(s.id, time.monotonic())
            gate = f"gate {s.gate.kind} ≤{s.gate.timeout:g}s" if s.gate else "no gate"
            cells.append(f"[cyan]{escape(s.node)}[/]\n{escape(s.id)}\n[dim]{escape(gate)} · {waited:.1f}s[/]")
        if cells:
            lanes.add_row(*cells)
            t.add_row(lanes)
        return t

    def _redraw(self) -> None:
        if self._live is not None:
            self._live.update(self._panel(), refresh=True)

    # --- the listener ---------------------------------------------------------------------------------
    def __call__(self, kind: str, step: Step, status: str, reason: str) -> None:
        label = escape(f"[{self.index.get(step.id, '-')}/{self.total}]" if kind == "step" else "[rollback]")
        if status == "started":
            with self._lock:
                self.started[step.id] = time.monotonic()
                self.running[step.id] = step
            self._redraw()
            if self._live is None:
                self.out.print(f"{label} {escape(step.id)} on {escape(step.node)}: {escape(step.describe())} …",
                               style="dim", soft_wrap=True)
            return
        with self._lock:
            self.running.pop(step.id, None)
        self._redraw()  # the line printed below is drawn above the panel as it is now, not as it was
        took = time.monotonic() - self.started.get(step.id, time.monotonic())
        line = f"{label} {escape(step.id)} [{_STYLE.get(status, '')}]{status}[/] {took:.2f}s"
        if reason:
            line += f" — {escape(reason.splitlines()[0])}"
        self.out.print(line, soft_wrap=True)


def outcome_line(run: Run, outcome: Outcome, *, report: Path | None = None, out: Console | None = None) -> int:
    """The end of a run: what was proven (each check, its verdict and figures), the outcome and exit code,
    the journal and the HTML report."""
    out = out or console
    code = EXIT_CODES[outcome]
    style = "green bold" if outcome == Outcome.SUCCESS else "red bold"
    counts: dict[str, int] = {}
    for r in run.records.values():
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    try:
        from harness.report.model import ReportData, checks

        proven = checks(ReportData.load(run.run_dir))
    except Exception as exc:
        out.print(f"[yellow]summary unavailable: {escape(str(exc))}[/]", soft_wrap=True)
        proven = []
    for c in proven:
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]?[/]"}[c.verdict]
        out.print(f"{mark} {escape(c.name)}: {escape(c.figures)}", soft_wrap=True)
    out.print(f"[{style}]{outcome.value.upper()}[/] (exit {code}) — {summary or 'no step ran'}", soft_wrap=True)
    out.print(f"journal: {run.run_dir / 'journal.jsonl'}", soft_wrap=True)
    if report is not None:
        out.print(f"report: {report}", soft_wrap=True)
    return code
