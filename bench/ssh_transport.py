"""Numbers for the SSH transport (issue 12), printed, not asserted.

- command round trip over one pooled connection (`true`): p50 / p99, commands per second, serial and with
  8 threads sharing the connection (channels multiplexed);
- fan-out: one parallel stage (a command on every host at once, as the code-update stage does) over N
  real sshd on 127.0.0.1 ports ÷ the same stage on one host (goal ≤ 3 for N = 50), twice: the commands
  alone (CPU-bound here, where the 50 "hosts" share 2 cores) and after 0.5 s the host spends on its own;
- with --zato: the 3-server Zato update over SSH-only stand-ins ÷ the same over docker exec (goal ≤ 1.2).

Usage: python bench/ssh_transport.py [--commands 200] [--hosts 50] [--zato]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.sshd import LocalSshd
from harness.transports import ssh


def _t(s: LocalSshd) -> ssh.SshTransport:
    return ssh.SshTransport(s.spec(), known_hosts=s.known_hosts, identity=s.client_key)


def round_trip(s: LocalSshd, n: int) -> None:
    t = _t(s)
    t.run(["true"])  # connect
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        t.run(["true"])
        times.append(time.perf_counter() - t0)
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"round trip `true` over one connection: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"serial {n / sum(times):.1f} cmds/s")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: t.run(["true"]), range(n)))
    wall = time.perf_counter() - t0
    print(f"8 threads on the same connection: {n / wall:.1f} cmds/s (connections opened: "
          f"{ssh.CONNECTS[s.spec()]})")


def fan_out(n: int, base: Path) -> None:
    servers = [LocalSshd(base / f"h{i}").start() for i in range(n)]
    try:
        one = _t(servers[0])
        one.run(["true"])
        ts = [_t(s) for s in servers]
        with ThreadPoolExecutor(n) as pool:  # connect everyone first: the stage, not the handshake
            list(pool.map(lambda t: t.run(["true"]), ts))
        cores = len(os.sched_getaffinity(0))
        # Two stages: the commands alone (every host's sshd session, shell and commands share this machine's
        # cores on loopback, so N hosts cannot take less than N x one host's CPU / cores), and the same after
        # half a second the host spends on its own (what a real stage's git fetch or restart mostly is, on a
        # host of its own): there the ratio is what the transport adds by fanning out.
        commands = 0.0  # one host's commands-only stage: what each host's CPU share costs
        for label, wait, script in (("commands only", 0.0, "git --version >/dev/null; ls / >/dev/null"),
                                    ("0.5 s on the host, then the commands", 0.5,
                                     "sleep 0.5; git --version >/dev/null; ls / >/dev/null")):
            stage = ["sh", "-c", script]
            singles = []
            for _ in range(3):
                t0 = time.perf_counter()
                one.run(stage)
                singles.append(time.perf_counter() - t0)
            single = statistics.median(singles)
            commands = commands or single
            walls = []
            for _ in range(3):
                t0 = time.perf_counter()
                with ThreadPoolExecutor(n) as pool:
                    list(pool.map(lambda t, argv=stage: t.run(argv), ts))
                walls.append(time.perf_counter() - t0)
            w = statistics.median(walls)
            floor = wait + n * commands / cores
            print(f"fan-out stage ({label}) on {n} hosts: {w * 1000:.0f} ms (median of 3) vs one host "
                  f"{single * 1000:.0f} ms (median of 3) -> ratio {w / single:.2f} (goal <= 3); "
                  f"÷ the {cores}-core floor (the host's own wait + N x one host's commands / cores = "
                  f"{floor * 1000:.0f} ms): {w / floor:.2f}")
    finally:
        for s in servers:
            s.stop()


def zato_ratio(base: Path) -> None:
    from harness import standins
    from harness.engine.runner import Run
    from harness.engine.status import Outcome
    from harness.plan.models import Plan, StandinsSpec

    out = {}
    for label, ssh_mode in (("docker exec", False), ("ssh", True)):
        spec = StandinsSpec(product="zato", servers=3, backend="docker", ssh=ssh_mode)  # type: ignore[call-arg]
        name = standins.new_env_name("zato")
        inv = standins.up(spec, base / name, name=name)
        try:
            run = Run.create(Plan(procedure="zato-update", params={"revision": "3.2.1"}), inv, base / "runs")
            run.begin()
            t0 = time.monotonic()
            outcome = run.run_forward()
            out[label] = time.monotonic() - t0
            assert outcome == Outcome.SUCCESS, outcome
        finally:
            standins.down(inv)
    print(f"zato update, 3 servers: docker exec {out['docker exec']:.2f}s, ssh {out['ssh']:.2f}s -> "
          f"ratio {out['ssh'] / out['docker exec']:.2f} (goal <= 1.2)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--zato", action="store_true", help="also the Zato update ssh ÷ docker exec (docker)")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="harness-bench-ssh-"))
    base.chmod(0o755)
    try:
        with LocalSshd(base / "rt") as s:
            round_trip(s, a.commands)
        fan_out(a.hosts, base)
        if a.zato:
            zato_ratio(base)
    finally:
        ssh.close_all()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
