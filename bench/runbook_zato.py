"""The Zato update as the built-in procedure and as its data runbook (examples/runbook-zato-update.yaml),
timed on the same kind of environment: printed, not asserted.

For each plan, on a fresh environment: the update (3.2.0 -> 3.2.1), then a second run (every step skipped by
its skip check: the cost of the checks themselves), and failed probe requests through the load balancer.
The runbook's skip checks are shell commands on the node (a `zato --version` each), the built-in's are
Python on the executor's side: the difference between the two second runs is that cost.

Usage: python bench/runbook_zato.py [--backend process|docker|all] [--servers 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import add_backend_option, backends  # bench/, on sys.path when run as a script

from harness import standins
from harness.engine.runner import Run
from harness.plan.models import Plan, StandinsSpec
from harness.products.runbook.testing import as_runbook
from harness.products.zato.checks import ping_probe

UPDATE = Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=60)


def timed(plan: Plan, inv: object, runs: Path) -> tuple[float, str]:
    run = Run.create(plan, inv, runs)  # type: ignore[arg-type]
    run.begin()
    t0 = time.monotonic()
    outcome = run.run_forward()
    return time.monotonic() - t0, outcome.value


def one(backend: str, servers: int, kind: str, base: Path) -> None:
    spec = StandinsSpec(product="zato", servers=servers, backend=backend)  # type: ignore[arg-type]
    name = standins.new_env_name("zato")
    inv = standins.up(spec, base / name, name=name)
    plan = UPDATE if kind == "built-in" else as_runbook(UPDATE, "runbook-zato-update.yaml")
    try:
        probe = ping_probe(inv.front_door, mark=None, max_seconds=600)
        with probe:
            update, outcome = timed(plan, inv, base / "runs")
        again, outcome2 = timed(plan, inv, base / "runs")
        print(f"{backend:8} {servers} servers  {kind:8}  update {update:6.2f}s ({outcome})  second run "
              f"{again:5.2f}s ({outcome2})  probe: {probe.result.sent} sent, {len(probe.result.failed)} failed")
    finally:
        standins.down(inv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_option(ap)
    ap.add_argument("--servers", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-runbook-") as tmp:
        for backend in backends(args.backend):
            for kind in ("built-in", "runbook"):
                one(backend, args.servers, kind, Path(tmp))


if __name__ == "__main__":
    main()
