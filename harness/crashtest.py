"""Exhaustive executor-crash conformance: SIGKILL ``harness run`` at every kill point, resume, compare.

For a plan with ``standins:``, :func:`crashtest`:

1. runs the plan once, uninterrupted, on fresh stand-ins with ``HARNESS_CRASH_RECORD`` set: the kill
   points it reaches (:mod:`harness.engine.crashpoints`) are the ones to exercise, and the product's
   ``Standin.digest`` (end state: versions, files, deployed services …) and ``Standin.applied``
   (what the nodes themselves recorded doing: ``Started`` lines, uploads, applies …) are the reference;
2. for each kill point, on fresh stand-ins: ``harness run`` with ``HARNESS_CRASH_AT=POINT`` (the
   executor SIGKILLs itself there), then ``harness resume RUN``, and checks
   - the executor did die at the point (else the point is *not reached*: reported, not a pass),
   - the resumed run ends as the reference did and the digest equals the reference's,
   - no step was applied twice: every counter of ``applied`` equals the reference's,
   - a step the crash interrupted is journaled ``indeterminate`` (and re-checked) on resume.

Each point runs in its own stand-ins, started from nothing: slow (a point costs an environment start)
but independent. ``harness crashtest PLAN --point ID`` replays one point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import standins
from harness.engine.crashpoints import CRASH_AT, CRASH_RECORD
from harness.errors import ConfigError
from harness.plan.loader import load_plan
from harness.plan.models import Inventory, Plan

__all__ = ["PointResult", "Reference", "crashtest", "in_step", "reference"]

#: kill points inside a step (its outcome is unknown to the executor that dies there)
_INSIDE = ("after-start", "after-action")


def in_step(point: str) -> bool:
    last = point.rsplit(":", 1)[-1]
    return last in _INSIDE or last.startswith("cmd-")


@dataclass
class Reference:
    points: list[str]
    exit_code: int
    digest: dict[str, Any]
    applied: dict[str, int]
    seconds: float


@dataclass
class PointResult:
    point: str
    reached: bool = False
    exit_code: int | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return self.reached and not self.problems


@dataclass
class _Env:
    inventory: Inventory
    target: Path
    runs: Path


def _harness(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout, check=False)


@contextmanager
def _fresh(plan: Plan, workdir: Path, tag: str) -> Iterator[_Env]:
    assert plan.standins is not None
    base = workdir / tag
    shutil.rmtree(base, ignore_errors=True)
    name = standins.new_env_name(plan.standins.product)
    inv = standins.up(plan.standins, base / name, name=name)
    try:
        yield _Env(inv, base / name / "inventory.yaml", base / "runs")
    finally:
        standins.down(inv)


def _observe(inv: Inventory) -> tuple[dict[str, Any], dict[str, int]]:
    st = standins.standin(inv.product)
    return st.digest(inv), st.applied(inv)


def _run_dir(runs: Path) -> Path | None:
    dirs = sorted(p for p in runs.glob("*") if p.is_dir()) if runs.exists() else []
    return dirs[-1] if dirs else None


def reference(plan_file: Path, workdir: Path, *, timeout: float = 900) -> Reference:
    """Run the plan uninterrupted; the kill points it reached and the end state it left."""
    plan = _checked(plan_file)
    record = workdir / "points.txt"
    record.unlink(missing_ok=True)
    t0 = time.monotonic()
    with _fresh(plan, workdir, "reference") as env:
        res = _harness("run", str(plan_file), "--target", str(env.target), timeout=timeout,
                       env={CRASH_RECORD: str(record), "HARNESS_RUNS_DIR": str(env.runs)})
        digest, applied = _observe(env.inventory)
    points = list(dict.fromkeys(record.read_text().split())) if record.exists() else []
    if res.returncode not in (0,):
        raise ConfigError(f"the uninterrupted run of {plan_file} ended {res.returncode}, not 0: nothing to "
                          f"compare a crashed run with\n{res.stdout[-2000:]}{res.stderr[-2000:]}", file=str(plan_file))
    return Reference(points, res.returncode, digest, applied, time.monotonic() - t0)


def exercise(plan_file: Path, point: str, ref: Reference, workdir: Path, *, timeout: float = 900) -> PointResult:
    """Kill the executor at ``point``, resume, and judge the end against ``ref``."""
    plan = _checked(plan_file)
    out = PointResult(point)
    t0 = time.monotonic()
    with _fresh(plan, workdir, "point") as env:
        first = _harness("run", str(plan_file), "--target", str(env.target), timeout=timeout,
                         env={CRASH_AT: point, "HARNESS_RUNS_DIR": str(env.runs)})
        out.reached = first.returncode == -9
        run_dir = _run_dir(env.runs)
        if out.reached and run_dir is not None:
            again = _harness("resume", str(run_dir), timeout=timeout, env={"HARNESS_RUNS_DIR": str(env.runs)})
            out.exit_code = again.returncode
            if again.returncode != ref.exit_code:
                out.problems.append(f"resume exited {again.returncode}, the uninterrupted run {ref.exit_code}: "
                                    f"{(again.stdout + again.stderr).strip()[-1500:]}")
            digest, applied = _observe(env.inventory)
            out.problems += _diff("end state", ref.digest, digest)
            out.problems += _diff("applied (nodes' own records)", ref.applied, applied)
            out.problems += _journal_problems(run_dir, point)
        elif out.reached:
            out.problems.append("killed before the run directory was written")
    out.seconds = time.monotonic() - t0
    return out


def _diff(what: str, want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    keys = sorted(set(want) | set(got))
    return [f"{what}: {k}: {got.get(k)!r}, uninterrupted {want.get(k)!r}" for k in keys if want.get(k) != got.get(k)]


def _journal_problems(run_dir: Path, point: str) -> list[str]:
    records = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    if not in_step(point):
        return []
    event, step = point.split(":")[:2]
    marked = [r for r in records if r["event"] == event and r.get("step") == step and r.get("interrupted")]
    return [] if marked else [f"{step} was interrupted but not journaled indeterminate on resume"]


def _checked(plan_file: Path) -> Plan:
    plan = load_plan(plan_file)
    if plan.standins is None:
        raise ConfigError("a crash test needs a plan with `standins:` (each kill point gets fresh ones)",
                          file=str(plan_file), field="standins")
    return plan


def crashtest(plan_file: Path, workdir: Path, *, points: list[str] | None = None,
              progress: Callable[[PointResult], None] | None = None) -> tuple[Reference, list[PointResult]]:
    ref = reference(plan_file, workdir)
    results = []
    for point in points or ref.points:
        res = exercise(plan_file, point, ref, workdir)
        results.append(res)
        if progress:
            progress(res)
    return ref, results
