"""Numbers for the Canopsis regular update (issue 4), printed, not asserted.

- stand-in start time, and the RabbitMQ node's share of it;
- total update time (4.4.0 → 4.6.1, six release notes);
- how long the API was unavailable: an API probe (GET /api/v4/app-info every 20 ms) for the whole run;
  the window is from its first failed call to the first success after it;
- backlog drain rate after the restart: right after `canoctl stop` succeeds, BACKLOG events are published
  (the runner waits in a listener, so they pile up in Engine_fifo while the engines are stopped); the rate is
  BACKLOG ÷ (time the last one was applied − time `canoctl restart` finished).

Usage: python bench/canopsis_update.py [--backend all|process|docker] [--backlog 20000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from pathlib import Path

import requests
from _common import add_backend_option, backends  # bench/, on sys.path when run as a script

from harness import standins
from harness.engine.runner import Run
from harness.engine.step import Step
from harness.environment import Environment
from harness.errors import GateTimeout
from harness.plan.models import Plan, StandinsSpec
from harness.products.canopsis.amqp import Publisher, queue_depths
from harness.products.canopsis.api import check_event
from harness.products.canopsis.node import CanopsisNode
from harness.secrets import reveal
from harness.wait import wait_until


class ApiProbe:
    def __init__(self, url: str) -> None:
        self.url, self.results, self.stop = url + "/api/v4/app-info", [], threading.Event()

    def run(self) -> None:
        s = requests.Session()
        while not self.stop.is_set():
            t = time.time()
            try:
                ok = s.get(self.url, timeout=1).status_code == 200
            except requests.RequestException:
                ok = False
                s.close()
            self.results.append((t, ok))
            time.sleep(0.02)

    def window(self) -> float:
        fails = [t for t, ok in self.results if not ok]
        if not fails:
            return 0.0
        back = next((t for t, ok in self.results if ok and t > fails[0]), fails[-1])
        return back - fails[0]


def one(backend: str, backlog: int, base: Path) -> dict[str, float]:
    t0 = time.monotonic()
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": backend, "version": "4.4.0"})
    name = standins.new_env_name("cps")
    inv = standins.up(spec, base / name, name=name)
    up_s = time.monotonic() - t0
    node = CanopsisNode.of(Environment.from_inventory(inv))
    marks: dict[str, float] = {}
    try:
        def listener(kind: str, step: Step, status: str, reason: str) -> None:
            if step.id == "stop@node" and status == "ok":
                with Publisher(reveal(inv.facts["amqp_url"]), batch=1000) as pub:
                    pub.publish(check_event(i, "bench-") for i in range(backlog))
                marks["backlog_published"] = time.time()
            if step.id == "restart@node" and status == "ok":
                marks["restarted"] = time.time()

        probe = ApiProbe(str(inv.front_door).rstrip("/"))
        th = threading.Thread(target=probe.run, daemon=True)
        th.start()
        params = {"to": "4.6.1", "guides_followed": ["migration-4.5.0", "migration-4.6.0"]}  # as upstream notes say
        run = Run.create(Plan(procedure="canopsis-update", params=params), inv, base / "runs")
        run.listeners.append(listener)
        start = time.monotonic()
        run.begin()
        outcome = run.run_forward()
        total = time.monotonic() - start
        depth = queue_depths(reveal(inv.facts["amqp_url"]), ["Engine_fifo"])
        with contextlib.suppress(GateTimeout):  # reported as the drain time it took
            wait_until(lambda: node.stats("bench-")["processed"] >= backlog, timeout=300, interval=0.05,
                       what="the backlog drained")
        drained = time.time()
        time.sleep(0.2)
        probe.stop.set()
        th.join()
        return {"outcome_ok": float(outcome.value == "success"), "standin_up_s": up_s,
                "broker_start_s": float(inv.facts.get("broker_started_in", 0)), "update_total_s": total,
                "api_unavailable_s": probe.window(), "backlog": float(backlog),
                "fifo_depth_after_run": float(depth["Engine_fifo"]),
                "drain_s": drained - marks["restarted"], "drain_rate_eps": backlog / (drained - marks["restarted"])}
    finally:
        standins.down(inv)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backlog", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=1)
    add_backend_option(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for backend in backends(args.backend):
            for i in range(args.repeat):
                r = one(backend, args.backlog, Path(d) / f"{backend}-{i}")
                print(backend, " ".join(f"{k}={v:.2f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
