"""The executor's own cost, printed, not asserted (issue 15; goal: p99 ≤ 2 ms per step, journal fsync on).

Steps whose action does nothing (no command, no gate), so all that is timed is the engine: the skip check,
the two journal lines per step (each fsync'ed, each fenced by the lease check), the listeners, the records.
The run directory is on the disk of ``--dir`` (default: the working directory's ``.harness/``, a real disk:
an fsync on tmpfs would cost nothing).

- serial: ``--steps`` no-op steps, one after another; per step = the time between two steps' ends;
- parallel: the same number of steps as one stage of ``--lanes`` lanes (``plan.parallel`` lanes at once, at
  most 64); per step = its start to its end, and the stage's steps per second;
- the lease: one renewal (what the renewal thread does every ``ttl / 3``: the file lock, read, write,
  rename), one fence check (before every command, transfer and journal line), and the serial run again with a
  lease renewed every 1 ms, to see what renewals cost the steps beside them.

Usage: python bench/executor_overhead.py [--steps 1000] [--lanes 100] [--repeat 3] [--profile] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.engine.lock import LeaseLock
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.plan.models import Plan
from harness.testing import FakeAction, fake_actions, fake_inventory, fake_procedure


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _steps(n: int, lanes: int) -> list[Step]:
    if lanes <= 1:
        return [Step(f"s{i}", "host1", "bench.noop") for i in range(n)]
    return [Step(f"s{i}", f"node{i % lanes}", "bench.noop", parallel="all") for i in range(n)]


def one_run(base: Path, n: int, lanes: int, *, ttl: float = 30.0) -> dict[str, Any]:
    """A run of ``n`` no-op steps; per-step times in ms (see the module docstring), total in s."""
    nodes = [f"node{i}" for i in range(lanes)] if lanes > 1 else ["server1"]
    inv = fake_inventory(f"bench-{os.getpid()}-{time.monotonic_ns()}", nodes, root=str(base / "nowhere"))
    plan = Plan(procedure="bench-noop", parallel=min(max(lanes, 1), 64), lock_ttl=ttl)
    started: dict[str, float] = {}
    ends: list[tuple[float, str]] = []

    def listen(kind: str, step: Step, status: str, reason: str) -> None:
        now = time.perf_counter()
        if status == "started":
            started[step.id] = now
        else:
            ends.append((now, step.id))

    steps = _steps(n, lanes)
    with fake_procedure("bench-noop", steps), fake_actions({"bench.noop": FakeAction()}):
        run = Run.create(plan, inv, base / "runs")
        run.listeners.append(listen)
        run.begin()
        t0 = time.perf_counter()
        outcome = run.run_forward()
        total = time.perf_counter() - t0
    assert outcome == Outcome.SUCCESS, outcome
    assert len(ends) == n, len(ends)
    if lanes <= 1:
        times = [t0] + [t for t, _ in ends]
        per = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    else:
        per = [(t - started[sid]) * 1000 for t, sid in ends]
    return {"total_s": total, "per_step_ms": per, "steps_per_s": n / total}


def lease_costs(base: Path, n: int = 1000) -> dict[str, float]:
    """µs per renewal (what the renewal thread does) and per fence check, ``n`` of each."""
    lock = LeaseLock("bench-lease", "bench", ttl=30.0, directory=base / "state")
    lock.acquire()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            with lock._guard:  # the renewal thread's body (LeaseLock._renew), timed without its wait
                lock.current()
                lock._write()
        renew = (time.perf_counter() - t0) / n * 1e6
        time.sleep(0.1)  # as between two renewals (every ttl / 3): the fence trusts a file past its mtime's tick
        t0 = time.perf_counter()
        for _ in range(n):
            lock.check()
        check = (time.perf_counter() - t0) / n * 1e6
    finally:
        lock.release()
    return {"renewal_us": renew, "check_us": check}


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    per = [x for r in rows for x in r["per_step_ms"]]
    return {"p50_ms": statistics.median(per), "p99_ms": pct(per, 0.99), "max_ms": max(per),
            "total_s": statistics.median(r["total_s"] for r in rows),
            "steps_per_s": statistics.median(r["steps_per_s"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lanes", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(".harness"), help="where run directories go (a real disk)")
    ap.add_argument("--profile", action="store_true", help="profile one serial run with pyinstrument")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="executor-bench-", dir=args.dir) as tmp:
        base = Path(tmp)
        os.environ["HARNESS_STATE_DIR"] = str(base / "state")  # the leases of these runs, nowhere else
        if args.profile:
            from pyinstrument import Profiler

            with Profiler(interval=0.0005) as prof:
                one_run(base, args.steps, 1)
            print(prof.output_text(unicode=True, color=False, show_all=False))
            return
        one_run(base, 50, 1)  # warm-up: imports, the registry, first files
        out = {"serial": summary([one_run(base, args.steps, 1) for _ in range(args.repeat)]),
               "parallel": summary([one_run(base, args.steps, args.lanes) for _ in range(args.repeat)]),
               "serial_renewing_every_1ms": summary([one_run(base, args.steps, 1, ttl=0.003)
                                                     for _ in range(args.repeat)]),
               "lease": lease_costs(base)}
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"steps": args.steps, "lanes": args.lanes, "repeat": args.repeat, "loadavg": load, **out},
                         indent=2))
        return
    s, p, r, lease = out["serial"], out["parallel"], out["serial_renewing_every_1ms"], out["lease"]
    print(f"executor overhead, {args.steps} no-op steps × {args.repeat}, journal fsync on, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"  serial:   p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms, max {s['max_ms']:.2f} ms per step "
          f"(goal p99 ≤ 2 ms); {s['total_s']:.2f}s in all, {s['steps_per_s']:.0f} steps/s")
    print(f"  {args.lanes} lanes ({min(args.lanes, 64)} at once): p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms "
          f"start → end per step; {p['total_s']:.2f}s in all, {p['steps_per_s']:.0f} steps/s")
    print(f"  lease: renewal {lease['renewal_us']:.0f} µs, fence check {lease['check_us']:.1f} µs; serial run "
          f"with a renewal every 1 ms: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms per step")


if __name__ == "__main__":
    main()
