"""Crash-test throughput (issue 13), printed, not asserted: kill points per minute for a Zato plan.

Runs the plan once uninterrupted (enumerating its kill points), then exercises them: SIGKILL the executor
at the point, `harness resume`, compare end state and the nodes' records. ``--mode chain`` (the default,
every point): the points share environments, each resumed executor killed at the next point
(:func:`harness.crashtest.chain`); ``--mode isolated``: fresh stand-ins per point, so a point costs an
environment start plus the run (a sample of ``--sample`` points unless ``--all``). The figure says whether
the full enumeration of the 3-server update fits the 10-minute goal.

Usage: python bench/crashtest.py [--procedure zato-update] [--servers 3] [--mode chain|isolated]
                                 [--sample 6] [--all] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from harness.crashtest import MODES, PointResult, chain, exercise, reference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procedure", default="zato-update", choices=("zato-update", "zato-restart"))
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--mode", default="chain", choices=MODES)
    ap.add_argument("--sample", type=int, default=6, help="isolated: kill points to exercise, spread over the run")
    ap.add_argument("--all", action="store_true", help="isolated: every kill point (long); chain always does all")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="chain: chains at once, each on environments of its own (default: the cores)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crashtest-"))
    plan = work / "plan.yaml"
    params = "params: {revision: 3.2.1}\n" if args.procedure == "zato-update" else ""
    plan.write_text(f"procedure: {args.procedure}\n{params}ready_timeout: 30\n"
                    f"standins: {{product: zato, servers: {args.servers}, backend: process}}\n")
    ref = reference(plan, work)
    every = args.all or args.mode == "chain"
    points = ref.points if every else ref.points[:: max(1, len(ref.points) // args.sample)][: args.sample]
    print(f"{args.procedure}, {args.servers} server(s): {len(ref.points)} kill points; "
          f"uninterrupted run incl. stand-ins {ref.seconds:.1f} s; mode {args.mode}"
          + (f", {args.jobs} chains at once" if args.mode == "chain" else ""))
    t0 = time.monotonic()

    def show(res: PointResult) -> None:
        mark = "survived" if res.survived else "not reached" if not res.reached else "FAILED " + "; ".join(res.problems)
        print(f"  {res.point}: {mark} ({res.seconds:.1f} s, environment {res.environment})")

    if args.mode == "chain":
        results = chain(plan, points, ref, work, progress=show, jobs=args.jobs)
    else:
        results = []
        for p in points:
            results.append(exercise(plan, p, ref, work))
            show(results[-1])
    survived = sum(r.survived for r in results)
    spent = time.monotonic() - t0
    rate = len(points) / (spent / 60)
    print(f"exercised {len(points)}, survived {survived}, {spent:.0f} s: {rate:.2f} kill points per minute")
    if args.mode == "chain":
        per: dict[int, int] = {}
        for r in results:
            per[r.environment] = per.get(r.environment, 0) + 1
        sizes = sorted(per.values(), reverse=True)
        print(f"environments: {len(sizes)}; points judged in each, largest first: {sizes}")
    print(f"full enumeration at this rate: {len(ref.points) / rate:.0f} min (goal: 10 min)")


if __name__ == "__main__":
    main()
