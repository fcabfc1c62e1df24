"""An executor killed at the worst moments, then resumed or rolled back, judged on what the nodes recorded
(issue 18 items 1 and 5), and the restart race that ``zato stop`` returning at once opens.

- ``zato stop`` returns right after SIGTERM: a ``zato start`` at once is refused (the port is still
  taken, exit 16). The executor's restart waits until the old process is gone, so the same restart
  through a plan succeeds, every component stopped before it started again.
- A forced restart killed while ``zato start`` was starting the server: the resume finds the server
  started by the dead executor and does not start it again (Zato would answer "already running").
- An update to the broken revision killed the moment a server's checkout moved: the resume fails on that
  server and the rollback puts **every** host back, including the one the dead executor pulled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.engine.journal import read_journal
from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.zato import state
from harness.products.zato.checks import ZatoHistory, check_order, check_versions
from harness.products.zato.fixtures import ZatoStandin, record_run, start_zato
from harness.products.zato.logs import parse_log
from harness.wait import wait_until


@pytest.fixture
def z(tmp_path: Path) -> Iterator[ZatoStandin]:
    env = start_zato("process", 2, tmp_path / "zato")
    yield env
    standins.down(env.inventory)


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def run_then_kill(z: ZatoStandin, plan_text: str, cwd: Path, moment: Callable[[Path], bool]) -> Path:
    """``harness run`` the plan, SIGKILL the executor as soon as ``moment(journal)`` holds; the run dir."""
    plan = cwd / "plan.yaml"
    plan.write_text(plan_text)
    runs = Path(os.environ["HARNESS_RUNS_DIR"])
    known = set(runs.glob("*/journal.jsonl"))
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(plan), "--target",
                             str(z.state_dir / "inventory.yaml")], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        journal = wait_until(lambda: next(iter(set(runs.glob("*/journal.jsonl")) - known), None), timeout=60,
                             interval=0.01, what="the run's journal")
        wait_until(lambda: proc.poll() is None and moment(journal), timeout=120, interval=0.005,
                   what="the moment to kill the executor", details=lambda: f"executor exit code {proc.poll()}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    return journal.parent


def started(journal: Path, step: str) -> bool:
    return any(r.get("step") == step and r.get("status") == "started" for r in read_journal(journal))


def test_a_start_right_after_stop_is_refused_but_the_restart_waits_for_the_old_process(
        z: ZatoStandin, tmp_path: Path) -> None:
    env = z.env()
    server = env.components["server1"]
    zato = state.zato_bin(server.host)
    pid = state.pidfile_pid(server)
    assert pid is not None
    stop = server.host.transport.run([zato, "stop", server.path], timeout=30)
    start = server.host.transport.run([zato, "start", server.path], timeout=30)
    assert stop.exit_code == 0 and stop.stdout.strip() == f"Server `{server.path}` shutting down"
    assert start.exit_code == 16, start
    assert "already taken" in start.stdout and start.stderr == ""
    wait_until(lambda: not state.pid_alive(server.host, pid), timeout=30, what="server1's old process to exit")
    assert server.host.transport.run([zato, "start", server.path], timeout=30).exit_code == 0
    wait_until(lambda: any(e.kind == "started" and e.pid == state.pidfile_pid(server)
                           for e in parse_log(state.read_log(server))), timeout=30, what="server1 up again")

    offsets = {name: len(state.read_log(c)) for name, c in env.components.items()}
    rec = record_run(z, Plan(procedure="zato-restart", ready_timeout=30), tmp_path / "runs")
    assert rec.outcome == Outcome.SUCCESS, rec.run.journal_records()[-1]
    for name in ("web-admin", "server1", "server2", "load-balancer", "scheduler"):
        obs = rec.run.observations[f"stop@{name}"]
        # the pids the stop waited for: each pidfile's (a load balancer's: HAProxy's, then its agent's)
        want = 2 if name == "load-balancer" else 1
        assert obs["exit_code"] == 0 and len(obs["pids"]) == want and "stopped_after" in obs, (name, obs)
        assert all(isinstance(p, int) and not state.pid_alive(env.components[name].host, p) for p in obs["pids"])
        events = parse_log(state.read_log(env.components[name])[offsets[name]:])
        kinds = [e.kind for e in events if e.kind in ("stopped", "starting")]
        assert kinds == ["stopped", "starting"], (name, kinds)  # the old process ended before the new began
    verdict = check_order(rec.history)
    assert verdict.valid is True, verdict.explain()


def test_a_forced_restart_killed_while_starting_a_server_resumes_without_starting_it_twice(
        z: ZatoStandin, tmp_path: Path) -> None:
    env = z.env()
    server1 = env.components["server1"]
    offset = len(state.read_log(server1))

    def server1_starting(journal: Path) -> bool:  # the dead executor's `zato start` has spawned the server
        return started(journal, "start@server1") and any(
            e.kind == "starting" for e in parse_log(state.read_log(server1)[offset:]))

    t0 = time.time()
    run_dir = run_then_kill(z, "procedure: zato-restart\nready_timeout: 30\nlock_ttl: 60\n", tmp_path,
                            server1_starting)
    res = harness("resume", str(run_dir), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    records = read_journal(run_dir / "journal.jsonl")
    resumed = [r for r in records if r.get("step") == "start@server1" and r.get("status") == "ok"]
    assert len(resumed) == 1 and resumed[0]["observation"]["already_started"] > 0, resumed
    starts = [e for e in parse_log(state.read_log(server1)[offset:]) if e.kind == "starting"]
    assert len(starts) == 1, "server1 was started once, by the executor that was killed"
    h = ZatoHistory.collect(env, since=t0)  # not t0 - 1: the test before ends restarting the scheduler
    verdict = check_order(h)
    assert verdict.valid is True, verdict.explain()  # the components after server1 restarted too, in order


def test_an_update_killed_after_a_checkout_moved_is_rolled_back_on_every_host(z: ZatoStandin,
                                                                                tmp_path: Path) -> None:
    env = z.env()
    before = {name: state.head(h) for name, h in env.hosts.items()}
    server_host = env.components["server1"].host

    def checkout_moved(journal: Path) -> bool:
        return started(journal, f"pull@{server_host.name}") and state.head(server_host) != before[server_host.name]

    run_dir = run_then_kill(z, "procedure: zato-update\nparams: {revision: 3.2.2-broken}\nready_timeout: 20\n"
                            "lock_ttl: 60\n", tmp_path, checkout_moved)
    res = harness("resume", str(run_dir), cwd=tmp_path)
    assert res.returncode == 3, res.stdout + res.stderr  # rolled back: server1 cannot boot the broken revision
    after = {name: state.head(h) for name, h in env.hosts.items()}
    assert after == before, "every host is back on the revision it had before the run"
    records = read_journal(run_dir / "journal.jsonl")
    reverted = {r["node"] for r in records if r["event"] == "rollback_step" and r["step"].startswith("revert@")
                and r.get("status") in ("ok", "skipped")}
    assert server_host.name in reverted
    verdict = check_versions(env, "3.2.0")
    assert verdict.valid is True, verdict.explain()
