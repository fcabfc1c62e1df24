"""Console rendering shared by the CLI commands (rich; plain lines when not a terminal, e.g. in CI)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.engine.runner import Run
from harness.engine.status import EXIT_CODES, Outcome
from harness.engine.step import Step


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
    """Prints one line per step transition: ``[3/14] stop@server1 … ok 0.21s``."""

    def __init__(self, run: Run) -> None:
        self.total = len(run.steps)
        self.index = {s.id: i for i, s in enumerate(run.steps, 1)}
        self.started: dict[str, float] = {}

    def __call__(self, kind: str, step: Step, status: str, reason: str) -> None:
        label = escape(f"[{self.index.get(step.id, '-')}/{self.total}]" if kind == "step" else "[rollback]")
        if status == "started":
            self.started[step.id] = time.monotonic()
            console.print(f"{label} {step.id} on {step.node}: {escape(step.describe())} …", style="dim")
            return
        took = time.monotonic() - self.started.get(step.id, time.monotonic())
        line = f"{label} {step.id} [{_STYLE.get(status, '')}]{status}[/] {took:.2f}s"
        if reason:
            line += f" — {escape(reason.splitlines()[0])}"
        console.print(line)


def outcome_line(run: Run, outcome: Outcome) -> int:
    code = EXIT_CODES[outcome]
    style = "green bold" if outcome == Outcome.SUCCESS else "red bold"
    counts: dict[str, int] = {}
    for r in run.records.values():
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    console.print(f"[{style}]{outcome.value.upper()}[/] (exit {code}) — {summary or 'no step ran'}")
    console.print(f"journal: {run.run_dir / 'journal.jsonl'}")
    return code
