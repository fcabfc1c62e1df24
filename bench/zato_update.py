"""Numbers for the Zato environment update (issue: executor core), printed, not asserted.

- time to bring a 3-server environment up, per backend;
- total update time ÷ the sum of the servers' own stop+start times (from their logs: `Stopping` →
  `Started`), and ÷ the sum over every component plus the wall time of the code-update stage
  (git pull + update.sh, every host at once);
- the same time as the executor saw it: the code-update stage, the `zato stop`/`zato start` commands,
  the old process's own exit after `zato stop` returned (the step waits for its pids), the readiness gates
  (boot until `Started`, ping, back in the LB's rotation; polled every 25 ms) and
  what is left: the executor's own work (skip checks, journal fsync, lease), and total ÷ the rest;
- failed probe requests through the load balancer during the update, and requests sent.

Backends are measured interleaved (process, docker, process, …) and docker ÷ process is given pair by pair.

Usage: python bench/zato_update.py [--backend process|docker|all] [--servers 3] [--repeat 3] [--exec-too]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import add_backend_option, backends, zato_split  # bench/, on sys.path when run as a script

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Plan, StandinsSpec
from harness.products.zato.checks import ZatoHistory, ping_probe


def one(backend: str, servers: int, base: Path) -> dict[str, float]:
    spec = StandinsSpec(product="zato", servers=servers, backend=backend)  # type: ignore[arg-type]
    name = standins.new_env_name("zato")
    t0 = time.monotonic()
    inv = standins.up(spec, base / name, name=name)
    up = time.monotonic() - t0
    try:
        env = Environment.from_inventory(inv)
        plan = Plan(procedure="zato-update", params={"revision": "3.2.1"})
        probe = ping_probe(inv.front_door, mark=None, max_seconds=600)
        started = time.time()
        with probe:
            run = Run.create(plan, inv, base / "runs")
            run.begin()
            m0 = time.monotonic()
            outcome = run.run_forward()
            total = time.monotonic() - m0
        assert outcome == Outcome.SUCCESS, outcome
        h = ZatoHistory.collect(env, since=started)
        restarts = h.all_restarts()
        own_servers = sum((r.ready - r.stopping).total_seconds() for r in restarts
                          if r.role == "server" and r.stopping and r.ready)
        own_all = sum((r.ready - r.stopping).total_seconds() for r in restarts if r.stopping and r.ready)
        split = zato_split(run)
        code, commands, gates, exits = (split[k] for k in ("code_s", "commands_s", "gates_s", "exits_s"))
        res = probe.result
        return {"up_s": up, "update_s": total, "servers_own_s": own_servers, "others_own_s": own_all - own_servers,
                "code_s": code, "added_s": total - own_all - code, "ratio_servers": total / own_servers,
                "ratio_all": total / (own_all + code), "commands_s": commands, "gates_s": gates,
                "exits_s": exits, "executor_s": total - code - commands - gates - exits,
                "ratio_product": total / (code + commands + gates + exits),
                "sent": res.sent, "failed": len(res.failed)}
    finally:
        standins.down(inv)


def _variants(args: argparse.Namespace) -> list[tuple[str, str, dict[str, str]]]:
    """(label, backend, environment) of every variant measured; with ``--exec-too`` the docker backend also
    with one docker exec per call (HARNESS_DOCKER_AGENT=0), as before its agent."""
    out = []
    for backend in backends(args.backend):
        out.append((backend, backend, {}))
        if backend == "docker" and args.exec_too:
            out.append(("docker, one exec per call", backend, {"HARNESS_DOCKER_AGENT": "0"}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    add_backend_option(ap)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exec-too", action="store_true", help="also the docker backend without its exec agent")
    args = ap.parse_args()
    variants = _variants(args)
    rows: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):  # interleaved, so a drift of the machine's load hits every variant alike
            for label, backend, env in variants:
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    rows[label].append(one(backend, args.servers, Path(tmp)))
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for label, _, _ in variants:
        _print(label, rows[label], args)
    if "process" in rows:
        for label in rows:
            if label != "process" and rows[label]:
                pairs = [d["update_s"] / p["update_s"] for p, d in zip(rows["process"], rows[label], strict=True)]
                print(f"{label} ÷ process, update time, pair by pair: median {statistics.median(pairs):.2f} "
                      f"({', '.join(f'{x:.2f}' for x in pairs)})")


def _print(backend: str, rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"{backend}, {args.servers} servers, median of {args.repeat}: "
          f"up {med['up_s']:.2f}s | update {med['update_s']:.2f}s | servers' own stop+start "
          f"{med['servers_own_s']:.2f}s | ratio (servers) {med['ratio_servers']:.2f} | "
          f"ratio (all components + git/update.sh) {med['ratio_all']:.2f} | "
          f"other components' own {med['others_own_s']:.2f}s, code-update stage {med['code_s']:.2f}s, "
          f"beyond the components' own: {med['added_s']:.2f}s | as the executor saw it: code-update "
          f"stage {med['code_s']:.2f}s + zato stop/start commands {med['commands_s']:.2f}s + the old "
          f"processes' exit after SIGTERM {med['exits_s']:.2f}s + readiness "
          f"gates (boot, ping, LB rotation) {med['gates_s']:.2f}s + the executor's own work (skip checks, "
          f"journal fsync, lease) {med['executor_s']:.2f}s, ratio total ÷ time in the product's own "
          f"commands and waits {med['ratio_product']:.3f} | "
          f"probe: {sum(r['failed'] for r in rows)} failed of {sum(r['sent'] for r in rows)} sent")


if __name__ == "__main__":
    main()
