"""Fleet-size numbers (issue 15), printed, not asserted; process backend unless ``--backend``.

- ``beam``: hot-patch apply (2 modules) to 1, 8 and 32 nodes, and its ratio to this machine's CPU limit:
  measured ÷ (one node's apply × max(1, N ÷ cores)) — the time N nodes' work takes when it fills every core
  (goal ≤ 1.2);
- ``hotdeploy``: hot-deploy propagation to 3, 8 and 16 servers: drop → the last server's confirmation, p50/p99;
- ``zato``: a 32-server Zato rolling update with a probe through the load balancer: failed/sent, and total ÷
  Σ each component's own restart-to-ready (goal ≤ 1.1). A server's own time runs from its ``Stopping`` log
  line to the first probe response it served again (the load balancer's detection included); the other
  components' from ``Stopping`` to their ready line; plus the code-update stage's wall time (every host at
  once, from the journal).

Usage: python bench/fleet.py [beam] [hotdeploy] [zato] [--repeat 3] [--backend process|docker|all] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from _common import add_backend_option, backends, zato_split  # bench/, on sys.path when run as a script

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Plan, StandinsSpec
from harness.products.zato.checks import ZatoHistory, check_availability, ping_probe, served

BEAM_NODES = (1, 8, 32)
HOTDEPLOY_SERVERS = (3, 8, 16)


def beam(backend: str, repeat: int, tmp: Path) -> dict[str, Any]:
    from beam_patch import apply_time  # bench/beam_patch.py: the apply, timed the same way

    cores = os.cpu_count() or 1
    times = {n: apply_time(backend, n, repeat, tmp) for n in BEAM_NODES}
    one = times[1]
    return {"cores": cores, **{f"apply_{n}_ms": round(t * 1000, 1) for n, t in times.items()},
            **{f"ratio_{n}": round(t / (one * max(1.0, n / cores)), 2) for n, t in times.items()}}


def hotdeploy(backend: str, n: int, tmp: Path) -> dict[str, Any]:
    from zato_hot_deploy import measure, pct  # bench/zato_hot_deploy.py: drops and confirmations

    out: dict[str, Any] = {}
    for servers in HOTDEPLOY_SERVERS:
        inv = _up(backend, servers, tmp)
        try:
            lat, _ = measure(Environment.from_inventory(inv), n)
        finally:
            standins.down(inv, purge=True)
        ms = [x * 1000 for x in lat]
        out[f"servers_{servers}"] = {"p50_ms": round(pct(ms, 0.5), 1), "p99_ms": round(pct(ms, 0.99), 1), "n": n}
    return out


def _up(backend: str, servers: int, tmp: Path) -> Any:
    spec = StandinsSpec(product="zato", servers=servers, backend=backend)  # type: ignore[arg-type]
    name = standins.new_env_name("zato")
    return standins.up(spec, tmp / name, name=name)


def zato_rolling(backend: str, servers: int, tmp: Path) -> dict[str, Any]:
    inv = _up(backend, servers, tmp)
    try:
        env = Environment.from_inventory(inv)
        probe = ping_probe(inv.front_door, max_seconds=1200)  # marked: the LB's log says who served each
        started = time.time()
        with probe:
            run = Run.create(Plan(procedure="zato-update", params={"revision": "3.2.1"}), inv, tmp / "runs")
            run.begin()
            m0 = time.monotonic()
            outcome = run.run_forward()
            total = time.monotonic() - m0
        assert outcome == Outcome.SUCCESS, outcome
        h = ZatoHistory.collect(env, since=started)
        samples = sorted(served(env, probe.result).samples, key=lambda s: s.start)
        own: dict[str, float] = {}
        for r in h.all_restarts():
            if not (r.stopping and r.ready and r.starting):
                continue
            end = r.ready.astimezone(UTC).timestamp()
            if r.role == "server":  # back in the load balancer's rotation: the first request it served again
                after = r.starting.astimezone(UTC).timestamp()
                end = next((s.start + s.duration for s in samples if s.ok and s.served_by == r.component
                            and s.start >= after), end)
            own[r.component] = end - r.stopping.astimezone(UTC).timestamp()
        split = zato_split(run)
        code, product = split["code_s"], split["commands_s"] + split["exits_s"] + split["gates_s"]
        res = probe.result
        avail = check_availability(res, h)  # the LB's own restart drops requests (zato stop stops HAProxy)
        return {"servers": servers, "total_s": round(total, 2), "own_sum_s": round(sum(own.values()), 2),
                "code_s": round(code, 2), "ratio": round(total / (sum(own.values()) + code), 3),
                **{k: round(split[k], 2) for k in ("commands_s", "exits_s", "gates_s")},
                "executor_s": round(total - code - product, 2), "ratio_product": round(total / (code + product), 3),
                "components": len(own), "sent": res.sent, "failed": len(res.failed),
                "failed_outside_lb_restart": avail.details["failed_outside_lb_restart"],
                "lb_restart_s": avail.details["lb_restart_s"]}
    finally:
        standins.down(inv, purge=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", default=["beam", "hotdeploy", "zato"], choices=["beam", "hotdeploy", "zato"])
    ap.add_argument("--repeat", type=int, default=3, help="applies per size (beam), updates (zato)")
    ap.add_argument("-n", type=int, default=30, help="deployments per size (hotdeploy)")
    ap.add_argument("--servers", type=int, default=32, help="servers of the rolling update (zato)")
    ap.add_argument("--json", action="store_true")
    add_backend_option(ap)
    args = ap.parse_args()
    if args.backend == "all":
        args.backend = "process"
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as d:
        tmp = Path(d)
        for backend in backends(args.backend):
            res: dict[str, Any] = out.setdefault(backend, {})
            if "beam" in args.what:
                res["beam"] = beam(backend, args.repeat, tmp)
                _show(args, "beam", res["beam"])
            if "hotdeploy" in args.what:
                res["hotdeploy"] = hotdeploy(backend, args.n, tmp)
                _show(args, "hotdeploy", res["hotdeploy"])
            if "zato" in args.what:
                runs = [zato_rolling(backend, args.servers, tmp) for _ in range(args.repeat)]
                res["zato"] = {"runs": runs, "ratio_median": statistics.median(r["ratio"] for r in runs),
                               "failed": sum(r["failed"] for r in runs), "sent": sum(r["sent"] for r in runs),
                               "failed_outside_lb_restart": sum(r["failed_outside_lb_restart"] for r in runs)}
                _show(args, "zato", res["zato"])
    out["loadavg"] = os.getloadavg()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"load average {out['loadavg'][0]:.2f} {out['loadavg'][1]:.2f} {out['loadavg'][2]:.2f}")


def _show(args: argparse.Namespace, what: str, res: dict[str, Any]) -> None:
    if args.json:
        return
    if what == "beam":
        print(f"beam apply, {res['cores']} cores: " + " | ".join(
            f"{n} node(s) {res[f'apply_{n}_ms']} ms, ÷ CPU limit {res[f'ratio_{n}']}" for n in BEAM_NODES)
            + " (goal ≤ 1.2)", flush=True)
    elif what == "hotdeploy":
        print("hot-deploy, drop → last confirmation: " + " | ".join(
            f"{k.split('_')[1]} servers p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms" for k, v in res.items()), flush=True)
    else:
        for r in res["runs"]:
            print(f"zato rolling update, {r['servers']} servers: total {r['total_s']}s, Σ components' own "
                  f"restart-to-ready {r['own_sum_s']}s ({r['components']}) + code-update stage {r['code_s']}s, "
                  f"ratio {r['ratio']} (goal ≤ 1.1); as the executor saw it: zato stop/start commands "
                  f"{r['commands_s']}s + old processes' exit {r['exits_s']}s + gates {r['gates_s']}s + code "
                  f"{r['code_s']}s + the executor's own work {r['executor_s']}s, total ÷ the product's own "
                  f"commands and waits {r['ratio_product']} | probe {r['failed']} failed of {r['sent']} sent, "
                  f"{r['failed_outside_lb_restart']} outside the LB's own restart ({r['lb_restart_s']}s; goal 0)",
                  flush=True)


if __name__ == "__main__":
    main()
