"""Numbers for Erlang/OTP release upgrades (issue 6), printed, not asserted.

The same application change (counter 1.0 -> 1.1) delivered two ways, each through the
``otp-release-upgrade`` procedure on fresh stand-in nodes:

- live: ``install_release`` runs the relup in the running node (suspend, load, code_change, resume):
  time inside the node (``timer:tc`` around install_release) and the whole install step (erl_call + gate);
- restart_emulator: the relup restarts the node onto 1.1 (heart + bin/start): downtime = from the
  install_release call until the node answers again running 1.1 with all its applications.

Each on every backend asked for (process: the nodes on this machine; docker: one container per node,
erl_call through docker exec), with the time ``standins up`` took to start the nodes.

Usage: python bench/otp_upgrade.py [--nodes 1] [--repeat 3] [--backend all|process|docker]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import add_backend_option, backends  # bench/, on sys.path when run as a script

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import Plan, StandinsSpec


def one(backend: str, variant: str, nodes: int, base: Path) -> list[dict[str, float]]:
    spec = StandinsSpec.model_validate({"product": "otp", "backend": backend, "nodes": nodes, "variant": variant})
    name = standins.new_env_name("otp")
    t_up = time.monotonic()
    inv = standins.up(spec, base / name, name=name)
    up_s = time.monotonic() - t_up
    try:
        run = Run.create(Plan(procedure="otp-release-upgrade", params={"release": "1.1"}, ready_timeout=60),
                         inv, base / "runs")
        run.begin()
        t0 = time.monotonic()
        outcome = run.run_forward()
        total = time.monotonic() - t0
        if outcome != Outcome.SUCCESS:
            raise SystemExit(f"{variant}: run ended {outcome.value}: {run.run_dir}")
        out = []
        for c in inv.components:
            obs = run.observations[f"install@{c.name}"]
            rec = run.records[f"install@{c.name}"]
            out.append({"install_ms": obs["install_us"] / 1000, "step_s": rec.duration,
                        "downtime_s": obs.get("downtime", 0.0), "run_s": total, "up_s": up_s})
        return out
    finally:
        standins.down(inv)


def _fmt(values: list[float], unit: str) -> str:
    return (f"median {statistics.median(values):8.3f} {unit}  min {min(values):8.3f}  max {max(values):8.3f}"
            f"  (n={len(values)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    add_backend_option(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="otp-bench-") as d:
        base = Path(d)
        os.environ.setdefault("HARNESS_STATE_DIR", str(base / "state"))
        os.environ.setdefault("HARNESS_RUNS_DIR", str(base / "runs"))
        for backend in backends(args.backend):
            report(backend, args.nodes, args.repeat, base)


def report(backend: str, nodes: int, repeat: int, base: Path) -> None:
    rows: dict[str, list[dict[str, float]]] = {"main": [], "restart_emulator": []}
    for _ in range(repeat):
        for variant in rows:
            rows[variant] += one(backend, variant, nodes, base)
    live, emu = rows["main"], rows["restart_emulator"]
    print(f"[{backend}] counter 1.0 -> 1.1, {nodes} node(s) per run, {repeat} run(s) per variant")
    ups = [r["up_s"] for r in live + emu][::nodes]  # one row per node, one `up` per run
    print(f"standins up ({nodes} node(s))              : {_fmt(ups, 's ')}")
    print(f"live upgrade     install_release in node : {_fmt([r['install_ms'] for r in live], 'ms')}")
    print(f"live upgrade     install step (+gate)    : {_fmt([r['step_s'] for r in live], 's ')}")
    print(f"restart_emulator install_release in node : {_fmt([r['install_ms'] for r in emu], 'ms')}")
    print(f"restart_emulator downtime (until up 1.1) : {_fmt([r['downtime_s'] for r in emu], 's ')}")
    print(f"restart_emulator install step (+gate)    : {_fmt([r['step_s'] for r in emu], 's ')}")
    ratio = statistics.median(r["downtime_s"] for r in emu) / (statistics.median(r["install_ms"] for r in live) / 1000)
    print(f"downtime of a restart_emulator upgrade ÷ live install_release time: {ratio:,.0f}x")


if __name__ == "__main__":
    main()
