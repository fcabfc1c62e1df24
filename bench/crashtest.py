"""Crash-test throughput (issue 13), printed, not asserted: kill points per minute for a Zato plan.

Runs the plan once uninterrupted (enumerating its kill points), then exercises a sample (or all) of
them: SIGKILL the executor at the point, `harness resume`, compare end state and the nodes' records.
Each point brings up fresh stand-ins, so a point costs an environment start plus the run; the figure
says whether the full enumeration of the 3-server update fits the 10-minute goal.

Usage: python bench/crashtest.py [--procedure zato-update] [--servers 3] [--sample 6] [--all]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.crashtest import exercise, reference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procedure", default="zato-update", choices=("zato-update", "zato-restart"))
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--sample", type=int, default=6, help="kill points to exercise, spread over the run")
    ap.add_argument("--all", action="store_true", help="every kill point (long)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-crashtest-"))
    plan = work / "plan.yaml"
    params = "params: {revision: 3.2.1}\n" if args.procedure == "zato-update" else ""
    plan.write_text(f"procedure: {args.procedure}\n{params}ready_timeout: 30\n"
                    f"standins: {{product: zato, servers: {args.servers}, backend: process}}\n")
    ref = reference(plan, work)
    points = ref.points if args.all else ref.points[:: max(1, len(ref.points) // args.sample)][: args.sample]
    print(f"{args.procedure}, {args.servers} server(s): {len(ref.points)} kill points; "
          f"uninterrupted run incl. stand-ins {ref.seconds:.1f} s")
    t0 = time.monotonic()
    survived = 0
    for p in points:
        res = exercise(plan, p, ref, work)
        survived += res.survived
        print(f"  {p}: {'survived' if res.survived else 'FAILED ' + '; '.join(res.problems)} ({res.seconds:.1f} s)")
    spent = time.monotonic() - t0
    rate = len(points) / (spent / 60)
    print(f"exercised {len(points)}, survived {survived}, {spent:.0f} s: {rate:.2f} kill points per minute")
    print(f"full enumeration at this rate: {len(ref.points) / rate:.0f} min (goal: 10 min)")


if __name__ == "__main__":
    main()
