"""The Zato environment update by the harness beside what a user would pick instead, printed, not asserted
(issue 15; goal: harness ÷ Ansible ≤ 0.5, 0 failed requests for the harness).

Three tools, each on a fresh, identical 3-server stand-in environment (process backend) of its own, one after
another in one run, the order rotated every repetition so a drift of the machine's speed hits each alike:

1. ``harness run`` of the zato-update plan (examples/zato-update.yaml without its ``standins:``, ``--target``
   the environment's inventory);
2. the same runbook as an Ansible playbook, ``bench/peers/zato-update.yml`` (ansible-core, local connection,
   ``serial: 1`` over the servers, readiness by ``uri … until``, the same order), its inventory written from
   the harness's own;
3. a naive script, ``bench/peers/restart-all.sh``: the code update, then everything restarted at once.

Each runs as a process of its own (its start-up counted, as a user pays it) while a probe sends requests
through the load balancer. Printed per tool: the median total time, failed/sent requests, and what the nodes
themselves logged (the harness's order, sync-internal and versions checks); then harness ÷ Ansible, pair by
pair (the same repetition), as a median.

Usage: python bench/peers_zato_update.py [--repeat 3] [--servers 3] [--delay 0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from harness import standins
from harness.checks import merge
from harness.environment import Environment
from harness.plan.models import Inventory, StandinsSpec
from harness.products.zato.checks import (
    ZatoHistory,
    check_availability,
    check_order,
    check_sync_internal,
    check_versions,
    ping_probe,
)

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
REVISION = "3.2.1"  # the tag the update goes to; the stand-in's upstream installs it as version 3.2.1
TOOLS = ("harness", "ansible", "naive")
READY = {"server": ("/zato/ping", "ZATO_OK"), "web-admin": ("/", ""), "scheduler": ("/", ""),
         "load-balancer": ("/zato-lb-alive", "")}
GROUPS = {"web-admin": "web_admin", "server": "servers", "load-balancer": "load_balancer", "scheduler": "scheduler"}


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (the venv's ``harness``, ``ansible-playbook``)."""
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else shutil.which(name) or name


def ansible_inventory(inv: Inventory, delay: float) -> dict[str, Any]:
    """The harness's inventory as Ansible's: every host and component an inventory host on the local
    connection, grouped by role in the runbook's order; what the playbook needs as host variables."""
    hosts = {h.name: {"install_dir": h.install_dir} for h in inv.hosts}
    groups: dict[str, Any] = {"zato_hosts": {"hosts": hosts}}
    lb = next(c for c in inv.components if c.role == "load-balancer")
    for c in inv.components:
        path, text = READY[c.role]
        host = inv.host(c.host)
        groups.setdefault(GROUPS[c.role], {"hosts": {}})["hosts"][c.name] = {
            "path": c.path, "url": c.url, "zato_bin": f"{host.install_dir}/bin/zato", "ready_path": path,
            "ready_text": text, "lb_log": f"{lb.path}/logs/haproxy.log"}
    return {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                             "front_door": inv.front_door, "revision": REVISION,
                             "ready_delay": delay, "ready_retries": int(60 / delay)},
                    "children": groups}}


def naive_envfile(inv: Inventory) -> str:
    lines = [f"host {h.install_dir}" for h in inv.hosts]
    lines += [f"component {c.role} {c.path} {c.url} {inv.host(c.host).install_dir}/bin/zato" for c in inv.components]
    return "\n".join(lines) + "\n"


def command(tool: str, inv: Inventory, work: Path, delay: float) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run ``tool`` against the environment of ``inv``."""
    inv_path = work / "inventory.yaml"
    standins.write_inventory(inv, inv_path)
    env = dict(os.environ)
    if tool == "harness":
        plan = yaml.safe_load((HERE.parent / "examples" / "zato-update.yaml").read_text())
        plan.pop("standins", None)
        (work / "plan.yaml").write_text(yaml.safe_dump(plan))
        return [_bin("harness"), "run", str(work / "plan.yaml"), "--target", str(inv_path)], env
    if tool == "ansible":
        (work / "ansible-inventory.yml").write_text(yaml.safe_dump(ansible_inventory(inv, delay), sort_keys=False))
        env.update(ANSIBLE_CONFIG=str(PEERS / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
                   ANSIBLE_HOME=str(work / "ansible-home"))
        playbook = PEERS / "zato-update.yml"
        return [_bin("ansible-playbook"), "-i", str(work / "ansible-inventory.yml"), str(playbook)], env
    (work / "naive.env").write_text(naive_envfile(inv))
    return [str(PEERS / "restart-all.sh"), str(work / "naive.env"), REVISION], env


def one(tool: str, servers: int, base: Path, delay: float) -> dict[str, Any]:
    """``tool`` on a fresh environment of its own: time, probe, and the nodes' own verdicts."""
    spec = StandinsSpec(product="zato", servers=servers, backend="process")
    name = standins.new_env_name("zato")
    inv = standins.up(spec, base / name, name=name)
    work = base / name / f"bench-{tool}"
    work.mkdir()
    try:
        argv, env = command(tool, inv, work, delay)
        probe = ping_probe(inv.front_door, mark=None, max_seconds=600)
        started = time.time()
        with probe:
            m0 = time.monotonic()
            proc = subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=600)
            total = time.monotonic() - m0
        if proc.returncode != 0:
            raise RuntimeError(f"{tool}: {argv[0]} exited {proc.returncode}\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        environment = Environment.from_inventory(inv)
        h = ZatoHistory.collect(environment, since=started)
        verdicts = [check_order(h), check_sync_internal(h, expected=True), check_versions(environment, REVISION)]
        problems = {v.name: v.details for v in verdicts if v.valid is not True}
        res = probe.result
        avail = check_availability(res, h)  # the LB's own restart drops requests (zato stop stops HAProxy)
        return {"tool": tool, "total_s": round(total, 3), "sent": res.sent, "failed": len(res.failed),
                "failed_outside_lb_restart": avail.details["failed_outside_lb_restart"],
                "lb_restart_s": avail.details["lb_restart_s"],
                "nodes_ok": merge(verdicts).valid is True, "nodes": {v.name: v.valid for v in verdicts},
                "problems": problems}
    finally:
        standins.down(inv, purge=True)


def summarise(rows: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    by = {t: [r for r in rows if r["tool"] == t] for t in TOOLS}
    out: dict[str, Any] = {}
    for tool, rs in by.items():
        out[tool] = {"total_s_median": round(statistics.median(r["total_s"] for r in rs), 3),
                     "total_s_min": min(r["total_s"] for r in rs), "total_s_max": max(r["total_s"] for r in rs),
                     "failed": sum(r["failed"] for r in rs), "sent": sum(r["sent"] for r in rs),
                     "failed_outside_lb_restart": sum(r["failed_outside_lb_restart"] for r in rs),
                     "nodes_ok": sum(bool(r["nodes_ok"]) for r in rs), "runs": len(rs)}
    pairs = [h["total_s"] / a["total_s"] for h, a in zip(by["harness"], by["ansible"], strict=True)]
    out["harness_div_ansible"] = {"median": round(statistics.median(pairs), 3), "pairs": [round(p, 3) for p in pairs]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.1,
                    help="the playbook's `until` delay in seconds (the harness polls every 0.025 s)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peers-zato-") as tmp:
        for i in range(args.repeat):
            for tool in TOOLS[i % 3:] + TOOLS[:i % 3]:  # rotated: harness first, then ansible first, …
                rows.append(one(tool, args.servers, Path(tmp), args.delay))
                if not args.json:
                    r = rows[-1]
                    print(f"  run {i + 1} {tool}: {r['total_s']:.2f}s, {r['failed']}/{r['sent']} failed "
                          f"({r['failed_outside_lb_restart']} outside the LB's own restart {r['lb_restart_s']}s), "
                          f"nodes: {r['nodes']}", flush=True)
    rows.sort(key=lambda r: TOOLS.index(r["tool"]))  # stable: repetitions stay in order within a tool
    summary = summarise(rows, args.repeat)
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"servers": args.servers, "repeat": args.repeat, "loadavg": load, "summary": summary,
                          "runs": rows}, indent=2))
        return
    print(f"Zato update, {args.servers} servers, process backend, {args.repeat} repetition(s), "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for tool in TOOLS:
        s = summary[tool]
        print(f"  {tool:8} total {s['total_s_median']:.2f}s (min {s['total_s_min']:.2f}, "
              f"max {s['total_s_max']:.2f}) | probe {s['failed']} failed of {s['sent']} sent, "
              f"{s['failed_outside_lb_restart']} outside the LB's own restart | "
              f"nodes' own logs right in {s['nodes_ok']}/{s['runs']}")
    print(f"  harness ÷ Ansible: {summary['harness_div_ansible']['median']:.3f} "
          f"(pairs {summary['harness_div_ansible']['pairs']}; goal ≤ 0.5)")


if __name__ == "__main__":
    main()
