"""Exhaustive executor-crash conformance: SIGKILL ``harness run`` at every kill point, resume, compare.

For a plan with ``standins:``, :func:`crashtest`:

1. runs the plan once, uninterrupted, on fresh stand-ins with ``HARNESS_CRASH_RECORD`` set: the kill
   points it reaches (:mod:`harness.engine.crashpoints`) are the ones to exercise, and the product's
   ``Standin.digest`` (end state: versions, files, deployed services …) and ``Standin.applied``
   (what the nodes themselves recorded doing: ``Started`` lines, uploads, applies …) are the reference;
2. exercises the kill points, in one of two modes, and for each checks
   - the executor did die at the point (else the point is *not reached*: reported, not a pass),
   - the resumed run ends as the reference did and the digest equals the reference's,
   - no step was applied twice: every counter of ``applied`` equals the reference's,
   - a step the crash interrupted is journaled ``indeterminate`` (and re-checked) on resume.

``chain`` (the default): one environment holds many points. ``harness run`` dies at the first point,
``harness resume`` is told the points still to do and dies at the first of them it reaches, and so on
until a resume reaches none and ends; the end is then judged once, against the reference. An executor
killed again while it recovers from a kill is what an operator's second power cut does, so a chain
proves more than its points one by one, at the cost of one environment and one run for all of them
(plus an executor start per point). A chain that does not end as the reference did is split in halves,
each on a fresh environment, down to the point that fails alone — or, when every part survives, the
failure is reported as the chain's (a crash during recovery), with its replay command.
``isolated``: each point on stand-ins started from nothing (an environment start per point).
``harness crashtest PLAN --point ID`` replays one point.

For a test suite, :class:`CrashCase` holds a plan and its reference run (one module-scoped fixture), and
:func:`point_shape_problems` and :func:`chain_failures` say what a suite asserts of every plan, one string a
problem, so each suite keeps only what is its own: its plan, its sample of points, what its nodes record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import standins
from harness.engine.crashpoints import CRASH_AT, CRASH_RECORD
from harness.errors import ConfigError
from harness.plan.loader import load_plan
from harness.plan.models import Inventory, Plan

__all__ = ["MODES", "STEP_CLOSES", "STEP_OPENS", "CrashCase", "PointResult", "Reference", "chain", "chain_failures",
           "crashtest", "exercise", "groups", "in_step", "lanes_of", "point_shape_problems", "reference"]

#: how the points are exercised: many in one environment, or each in its own (the module's doc)
MODES = ("chain", "isolated")

#: kill points inside a step (its outcome is unknown to the executor that dies there)
_INSIDE = ("after-start", "after-action")
#: the kill points every step reaches first and last, in this order (its remote commands, ``cmd-N``, between)
STEP_OPENS = ("before-start", "after-start")
STEP_CLOSES = ("after-action", "after-done")


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
    #: the points to replay it (in one chain): the point alone, or the chain it failed in
    replay: list[str] = field(default_factory=list)
    #: which environment of the crash test judged it (chains count from 1 in the order they began)
    environment: int = 0

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


def chain(plan_file: Path, points: list[str], ref: Reference, workdir: Path, *, timeout: float = 900,
          progress: Callable[[PointResult], None] | None = None, jobs: int = 1) -> list[PointResult]:
    """Exercise ``points`` in chains (see the module's doc); one result per point, in their order. ``jobs``
    chains run at once, each on environments of its own (``workdir/laneN``): the points start as the
    :func:`groups` for that many, and the groups a chain leaves (points it did not reach, halves of a
    failing chain) go to whichever lane is free."""
    _checked(plan_file)
    results: dict[str, PointResult] = {}
    failed_chains: list[tuple[list[str], list[str]]] = []
    lanes = max(1, min(jobs, len(points)))
    queue = deque(groups(points, lanes_of(plan_file), lanes))
    cond = threading.Condition()
    busy, errors, begun = 0, list[BaseException](), 0

    def finished(group: list[str], killed: list[str], exit_code: int | None, problems: list[str],
                 seconds: float, environment: int) -> None:  # under cond
        rest = [p for p in group if p not in killed]
        if not killed:  # a run from the start ended without reaching any of them
            for p in rest:
                results[p] = PointResult(p, reached=False, exit_code=exit_code, problems=problems,
                                         seconds=seconds / len(rest), environment=environment)
                if progress:
                    progress(results[p])
            return
        if problems and len(killed) > 1:  # which of them: each half on a fresh environment
            failed_chains.append((killed, problems))
            half = len(killed) // 2
            queue.extendleft([killed[half:], killed[:half]])
        else:
            for p in killed:
                results[p] = PointResult(p, reached=True, exit_code=exit_code, problems=list(problems),
                                         seconds=seconds / len(killed), environment=environment)
                if progress:
                    progress(results[p])
        if rest:
            queue.append(rest)

    def lane(n: int) -> None:
        nonlocal busy, begun
        lane_dir = workdir / f"lane{n}" if lanes > 1 else workdir
        while True:
            with cond:
                while not queue and busy and not errors:
                    cond.wait()
                if not queue or errors:
                    cond.notify_all()
                    return
                group = queue.popleft()
                busy += 1
                begun += 1
                environment = begun
            t0 = time.monotonic()
            try:
                killed, exit_code, problems = _chain_once(plan_file, group, ref, lane_dir, timeout)
            except BaseException as exc:  # an environment that cannot start: every lane stops, it is raised
                with cond:
                    busy -= 1
                    errors.append(exc)
                    cond.notify_all()
                return
            with cond:
                busy -= 1
                finished(group, killed, exit_code, problems, time.monotonic() - t0, environment)
                cond.notify_all()

    if lanes == 1:
        lane(0)
    else:
        with ThreadPoolExecutor(lanes, thread_name_prefix="crash-lane") as pool:
            list(pool.map(lane, range(lanes)))
    if errors:
        raise errors[0]
    for killed, problems in failed_chains:  # every part survived: the failure needs the kills together
        if all(results[p].survived for p in killed):
            last = results[killed[-1]]
            last.problems += [f"survives alone, not after the kills at {', '.join(killed[:-1])} in one run "
                              f"(a crash during recovery): {pr}" for pr in problems]
            last.replay = killed
    return [results[p] for p in points]


def lanes_of(plan_file: Path) -> dict[str, tuple[int, str]]:
    """The lane (its stage's number, its node) of each step that runs beside others, in a stage of more than
    one lane, as the plan expands on the stand-ins it names."""
    from harness.engine.session import PlanSession
    from harness.engine.step import stages

    out = {}
    for n, stage in enumerate(stages(PlanSession(plan_file).planned_steps())):
        if len(stage) > 1:
            out.update({s.id: (n, s.node) for lane in stage for s in lane})
    return out


def groups(points: list[str], lane_of: dict[str, tuple[int, str]], parts: int) -> list[list[str]]:
    """The first chains' points: the points outside parallel stages in ``parts`` consecutive parts, and to
    the k-th group the points of the k-th lane of every parallel stage (each group in the points' order).

    A chain dies at the first of its points any lane reaches, and the other lanes of that stage go on to
    the end of their steps meanwhile, which a resume then skips: of the points of two lanes in one chain,
    one or two were killed at and the rest were left for an environment of their own each (the tail of the
    3-server Zato update's crash test: the code-update stage's 6 lanes, 14-28 s a point). With one lane a
    chain, the other lanes never stop the executor, and a chain reaches its lane's points one after another
    as it reaches those of a sequential stage."""
    def lane(point: str) -> tuple[int, str] | None:
        event, _, rest = point.partition(":")
        return lane_of.get(rest.rpartition(":")[0]) if event == "step" else None

    order = {p: i for i, p in enumerate(points)}
    sequential = [p for p in points if lane(p) is None]
    size = max(1, -(-len(sequential) // max(1, parts)))
    out = [sequential[i:i + size] for i in range(0, len(sequential), size)]
    by_stage: dict[int, dict[str, list[str]]] = {}
    for p in points:
        if (at := lane(p)) is not None:
            by_stage.setdefault(at[0], {}).setdefault(at[1], []).append(p)
    for of_stage in by_stage.values():
        for k, lane_points in enumerate(of_stage.values()):
            if k == len(out):
                out.append([])
            out[k] += lane_points
    return [sorted(g, key=order.__getitem__) for g in out if g]


def _chain_once(plan_file: Path, group: list[str], ref: Reference, workdir: Path,
                timeout: float) -> tuple[list[str], int | None, list[str]]:
    """One environment: run, then resume, each executor told the points of ``group`` not yet killed at.
    Returns the points killed at (in order), the exit code of the executor that ended, and the problems."""
    plan = _checked(plan_file)
    killed: list[str] = []
    with _fresh(plan, workdir, "chain") as env:
        record = env.runs.parent / "reached.txt"
        args = ["run", str(plan_file), "--target", str(env.target)]
        run_dir: Path | None = None
        while True:
            todo = [p for p in group if p not in killed]
            record.unlink(missing_ok=True)
            extra = {"HARNESS_RUNS_DIR": str(env.runs), CRASH_RECORD: str(record)}
            if todo:
                extra[CRASH_AT] = "\n".join(todo)
            res = _harness(*args, env=extra, timeout=timeout)
            if res.returncode != -9:
                break
            reached = record.read_text().split() if record.exists() else []
            if not reached or reached[-1] not in todo:
                return killed, None, [f"the executor died (SIGKILL) at none of the points it was told "
                                      f"({reached[-1:] or 'no point reached'})"]
            killed.append(reached[-1])
            run_dir = run_dir or _run_dir(env.runs)
            if run_dir is None:
                return killed, None, ["killed before the run directory was written"]
            args = ["resume", str(run_dir)]
        output = (res.stdout + res.stderr).strip()[-1500:]
        if not killed:
            problems = [] if res.returncode == ref.exit_code else [f"the run ended {res.returncode}: {output}"]
            return killed, res.returncode, problems
        problems = [] if res.returncode == ref.exit_code else [
            f"resume exited {res.returncode}, the uninterrupted run {ref.exit_code}: {output}"]
        digest, applied = _observe(env.inventory)
        problems += _diff("end state", ref.digest, digest)
        problems += _diff("applied (nodes' own records)", ref.applied, applied)
        assert run_dir is not None
        for p in killed:
            problems += _journal_problems(run_dir, p)
        return killed, res.returncode, problems


def _diff(what: str, want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """One line per key that differs; of a dict value, only its sub-keys that differ (a file digest holds
    every file of every node: its whole value would bury the one that changed)."""
    out = []
    for k in sorted(set(want) | set(got)):
        w, g = want.get(k), got.get(k)
        if w == g:
            continue
        if isinstance(w, dict) and isinstance(g, dict):
            out += [f"{what}: {k}: {sub}: {g.get(sub)!r}, uninterrupted {w.get(sub)!r}"
                    for sub in sorted(set(w) | set(g), key=str) if w.get(sub) != g.get(sub)]
        else:
            out.append(f"{what}: {k}: {g!r}, uninterrupted {w!r}")
    return out


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


def crashtest(plan_file: Path, workdir: Path, *, points: list[str] | None = None, mode: str = "chain",
              limit: int = 0, progress: Callable[[PointResult], None] | None = None,
              announce: Callable[[Reference, int], None] | None = None,
              jobs: int = 1) -> tuple[Reference, list[PointResult]]:
    """The reference run, then ``points`` (default: every point it reached; at most ``limit``) exercised
    (chains: ``jobs`` at once)."""
    if mode not in MODES:
        raise ConfigError(f"unknown crash-test mode {mode!r}", hint=f"use one of: {', '.join(MODES)}")
    ref = reference(plan_file, workdir)
    todo = points or ref.points
    if limit:
        todo = todo[:limit]
    if announce:
        announce(ref, len(todo))
    if mode == "chain":
        return ref, chain(plan_file, todo, ref, workdir, progress=progress, jobs=jobs)
    results = []
    for point in todo:
        res = exercise(plan_file, point, ref, workdir)
        results.append(res)
        if progress:
            progress(res)
    return ref, results


# ---- what a crash suite asserts of every plan -------------------------------------------------------

def point_shape_problems(ref: Reference, plan_file: Path, *, commands: bool = False) -> list[str]:
    """What is wrong with the kill points ``ref`` reached, one string a problem (none: every step boundary is a
    kill point): each step planned for ``plan_file``, and no other, has points; each step's open with
    :data:`STEP_OPENS` and close with :data:`STEP_CLOSES`; with ``commands``, each has a ``cmd-N`` between."""
    from harness.engine.session import PlanSession

    planned = [f"step:{s.id}" for s in PlanSession(plan_file).planned_steps()]
    marks: dict[str, list[str]] = {}
    for p in ref.points:
        step, _, mark = p.rpartition(":")
        marks.setdefault(step, []).append(mark)
    problems = [f"{s}: planned, but no kill point reached in it" for s in planned if s not in marks]
    problems += [f"{s}: kill points of no planned step: {', '.join(m)}" for s, m in marks.items() if s not in planned]
    for step, got in ((s, m) for s, m in marks.items() if s in planned):
        if tuple(got[:2]) != STEP_OPENS or tuple(got[-2:]) != STEP_CLOSES:
            problems.append(f"{step}: kill points {', '.join(got)}; a step's points open with {', '.join(STEP_OPENS)} "
                            f"and close with {', '.join(STEP_CLOSES)}")
        if commands and not any(m.startswith("cmd-") for m in got):
            problems.append(f"{step}: no cmd-N kill point (it ran no remote command?): {', '.join(got)}")
    return problems


def chain_failures(results: list[PointResult], ref: Reference) -> list[str]:
    """What a chain over every point of ``ref`` failed at, one string a problem (none: it passed): a result for
    each point, in the reference's order; each point reached and survived (with the points that replay it);
    each resumed executor ended as the uninterrupted run did."""
    got = [r.point for r in results]
    problems = [] if got == ref.points else [f"results for {got}, not one for each point in order: {ref.points}"]
    for r in results:
        if not r.survived:
            what = "reached" if r.reached else "NOT REACHED"
            problems.append(f"{r.point} ({what}; replay: {', '.join(r.replay) or r.point}): {'; '.join(r.problems)}")
        if r.exit_code != ref.exit_code:
            problems.append(f"{r.point}: the executor ended {r.exit_code}, the uninterrupted run {ref.exit_code}")
    return problems


@dataclass
class CrashCase:
    """A crash suite's plan and its reference run, made once for a module-scoped fixture (:meth:`run`);
    ``workdir`` (next to the plan) holds the stand-ins of the reference and of each point or chain."""

    plan_file: Path
    ref: Reference

    @property
    def workdir(self) -> Path:
        return self.plan_file.parent / "work"

    @classmethod
    def run(cls, plan_file: Path, text: str) -> CrashCase:
        """Write ``text`` to ``plan_file`` and run it uninterrupted (:func:`reference`)."""
        plan_file.write_text(text)
        return cls(plan_file, reference(plan_file, plan_file.parent / "work"))

    def shape_problems(self, *, commands: bool = False) -> list[str]:
        return point_shape_problems(self.ref, self.plan_file, commands=commands)

    def exercise(self, point: str) -> PointResult:
        return exercise(self.plan_file, point, self.ref, self.workdir)

    def chain_failures(self, *, jobs: int = 1) -> list[str]:
        """Every point of the reference exercised in chains (:func:`chain`, ``jobs`` at once), judged by
        :func:`chain_failures`."""
        return chain_failures(chain(self.plan_file, self.ref.points, self.ref, self.workdir, jobs=jobs), self.ref)
