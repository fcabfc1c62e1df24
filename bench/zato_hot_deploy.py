"""Hot-deploy propagation latency of the Zato stand-in, printed, not asserted (issue 3 goal: p50 ≤ 100 ms
on the process backend).

For each of N deployments a new flat module is dropped into server1's pickup dir (through the node's
transport: a rename on the process backend, the docker archive API on the docker backend); the latency
is from just before the drop to the timestamp of the *last* server's ``Uploaded package id:[N],
payload_name:[…]`` line (every server logs its own confirmation; the logs share this machine's clock).
``put`` is how long the drop itself took. Deployments run one after another.

Usage: python bench/zato_hot_deploy.py [--backend process|docker|all] [--servers 3] [-n 50]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from datetime import UTC
from pathlib import Path

from _common import add_backend_option, backends  # bench/, on sys.path when run as a script

from harness import standins
from harness.environment import ComponentHandle, Environment
from harness.plan.models import StandinsSpec
from harness.products.zato import state
from harness.products.zato.logs import parse_log
from harness.wait import wait_until

MODULE = ("from zato.server.service import Service\n\nclass Bench(Service):\n    name = 'bench.b{i}'\n\n"
          "    def handle(self):\n        self.response.payload = {{'i': {i}}}\n")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _confirmed(servers: list[ComponentHandle], offsets: dict[str, int], name: str, last: dict[str, float]) -> bool:
    """Every server logged that it deployed ``name`` (``last``: server → its confirmation's timestamp)."""
    for s in servers:
        if s.name not in last:
            for e in parse_log(state.read_log(s)[offsets[s.name]:]):
                if e.kind == "uploaded_package" and e.fields.get("payload_name") == name:
                    last[s.name] = e.ts.astimezone(UTC).timestamp()
    return len(last) == len(servers)


def measure(env: Environment, n: int) -> tuple[list[float], list[float]]:
    servers = [c for c in env.components.values() if c.role == "server"]
    s1 = servers[0]
    latencies, puts = [], []
    for i in range(n):
        name = f"bench_{i}.py"
        offsets = {s.name: len(state.read_log(s)) for s in servers}
        t0 = time.time()
        s1.host.transport.put(f"{s1.path}/pickup/incoming/services/{name}", MODULE.format(i=i).encode())
        puts.append(time.time() - t0)
        last: dict[str, float] = {}
        wait_until(functools.partial(_confirmed, servers, offsets, name, last), timeout=30, interval=0.01,
                   what=f"{name}: every server's confirmation", details=functools.partial(str, last))
        latencies.append(max(last.values()) - t0)
    return latencies, puts


def main() -> None:
    ap = argparse.ArgumentParser()
    add_backend_option(ap)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("-n", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends(args.backend):
            spec = StandinsSpec(product="zato", servers=args.servers, backend=backend)  # type: ignore[arg-type]
            name = standins.new_env_name("zato")
            inv = standins.up(spec, Path(tmp) / name, name=name)
            try:
                env = Environment.from_inventory(inv)
                watcher = [ln for ln in state.read_log(next(c for c in env.components.values() if c.role == "server"))
                           .splitlines() if "for hot-deploy" in ln][-1].split(" - ")[-1]
                lat, puts = measure(env, args.n)
            finally:
                standins.down(inv)
            ms = [x * 1000 for x in lat]
            print(f"{backend}, {args.servers} servers, n={len(ms)}: drop → last server's confirmation "
                  f"p50 {pct(ms, 0.5):.1f} ms | p99 {pct(ms, 0.99):.1f} ms | min {min(ms):.1f} | max {max(ms):.1f} | "
                  f"mean {statistics.mean(ms):.1f} | drop (put) p50 {pct([p * 1000 for p in puts], 0.5):.1f} ms | "
                  f"{watcher}")


if __name__ == "__main__":
    main()
