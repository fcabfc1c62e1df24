"""The executor through its command line, on the process backend: bad input is refused with a clear
error and a stable exit code and touches no node; a killed executor is resumed without redoing steps;
a second executor on the same environment is refused while the first holds the lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import standins
from harness.engine.journal import read_journal
from harness.procs import alive
from harness.products.zato.checks import ZatoHistory, check_order, check_versions, snapshot
from harness.products.zato.fixtures import ZatoStandin, start_zato


@pytest.fixture(scope="module")
def z(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    env = start_zato("process", 2, tmp_path_factory.mktemp("zato"))
    yield env
    standins.down(env.inventory)


def harness(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def inventory_path(z: ZatoStandin) -> str:
    return str(z.state_dir / "inventory.yaml")


@pytest.mark.parametrize(("plan", "line", "words"), [
    ("procedure: zato-update\nparams: {revision: '3.2.1'}\nrollbak: auto\n", 3, "rollbak"),
    ("procedure: zato-update\ncomponents: [server1, server9]\n", None, "unknown component(s) server9"),
    ("procedure: zato-upgrade\n", None, "unknown procedure 'zato-upgrade'"),
    ("procedure: zato-update\nparams: {revision: '9.9.9'}\n", None, "revision '9.9.9' does not exist upstream"),
    ("procedure: zato-update\nparams:\n  revision: '3.2.1\n", 3, "not valid YAML"),
    ("procedure: zato-update\nparams: {revison: '3.2.1'}\n", 2, "unknown field 'revison' (field: params.revison)"),
], ids=["unknown-field", "unknown-node", "unknown-procedure", "revision-not-upstream", "malformed-yaml",
        "unknown-param"])
def test_bad_plan_is_refused_and_touches_nothing(z: ZatoStandin, tmp_path: Path, plan: str, line: int | None,
                                                  words: str) -> None:
    before = snapshot(z.env())
    p = write(tmp_path / "plan.yaml", plan)
    res = harness("run", str(p), "--target", inventory_path(z), cwd=tmp_path)
    assert res.returncode == 4, res.stdout + res.stderr
    out = " ".join((res.stdout + res.stderr).split())
    assert words in out
    if line:
        assert f"plan.yaml:{line}" in out
    assert "nothing was changed" in out
    assert snapshot(z.env()) == before


def test_missing_install_dir_is_refused(z: ZatoStandin, tmp_path: Path) -> None:
    inv = yaml.safe_load(Path(inventory_path(z)).read_text())
    inv["hosts"][1]["install_dir"] = str(tmp_path / "no-such-dir")
    bad = write(tmp_path / "inv.yaml", yaml.safe_dump(inv))
    before = snapshot(z.env())
    res = harness("run", str(write(tmp_path / "p.yaml", "procedure: zato-update\n")), "--target", str(bad),
                  cwd=tmp_path)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "is missing or not a git checkout" in res.stderr
    assert snapshot(z.env()) == before


def test_plan_prints_the_steps_without_touching_anything(z: ZatoStandin, tmp_path: Path) -> None:
    before = snapshot(z.env())
    res = harness("plan", str(write(tmp_path / "p.yaml", "procedure: zato-update\nparams: {revision: '3.2.1'}\n")),
                  "--target", inventory_path(z), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for step in ("pull@vm-web-admin", "stop@server1", "start@server2", "start@scheduler"):
        assert step in res.stdout
    assert snapshot(z.env()) == before


def test_killed_executor_is_resumed_and_a_held_lock_refuses(z: ZatoStandin, tmp_path: Path) -> None:
    plan = write(tmp_path / "p.yaml", "procedure: zato-update\nparams: {revision: '3.2.1'}\nlock_ttl: 60\n")
    runs = Path(os.environ["HARNESS_RUNS_DIR"])
    known = set(runs.glob("*/journal.jsonl"))
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(plan), "--target", inventory_path(z)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal: Path | None = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and journal is None:  # kill it right after server1 is back up
            for found in set(runs.glob("*/journal.jsonl")) - known:
                if any(r.get("step") == "start@server1" and r["status"] == "ok" for r in read_journal(found)):
                    journal = found
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert journal is not None, "the run did not reach start@server1"

    # the dead executor's lease is still valid (ttl 60 s): a second executor is refused with exit 5
    other = harness("run", str(plan), "--target", inventory_path(z), cwd=tmp_path)
    assert other.returncode == 5, other.stdout + other.stderr
    assert "is locked by run" in other.stderr

    status = harness("status", str(journal.parent), cwd=tmp_path)
    assert "pending" in status.stdout and "not finished" in status.stdout

    res = harness("resume", str(journal.parent), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    records = read_journal(journal)
    starts = [r["step"] for r in records if r["event"] == "step" and r["status"] == "started"]
    done_before_kill = {"stop@web-admin", "start@web-admin", "stop@server1", "start@server1"}
    for s in done_before_kill:
        assert starts.count(s) == 1, f"{s} was redone after the resume"
    assert check_versions(z.env(), "3.2.1").valid is True
    # every component was restarted exactly once across both executors, in order
    h = ZatoHistory.collect(z.env(), since=records[0]["ts"])
    assert check_order(h).valid is True, check_order(h).explain()


def test_standins_up_then_down_leaves_nothing_running(tmp_path: Path) -> None:
    up = harness("standins", "up", "zato", "--servers", "2", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    inv_file = Path(up.stdout.split("inventory:")[-1].split()[0])
    inv = yaml.safe_load(inv_file.read_text())
    assert [c["role"] for c in inv["components"]] == ["web-admin", "server", "server", "load-balancer", "scheduler"]
    pids = []
    for c in inv["components"]:
        for name in ("pidfile", "zato-lb-agent.pid"):
            f = Path(c["path"]) / name
            if f.exists():
                pids.append(int(f.read_text()))
    assert len(pids) == 6 and all(alive(p) for p in pids)  # 5 components (the LB's pidfile: HAProxy) + the LB's agent
    down = harness("standins", "down", "--target", str(inv_file), cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 5
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "a stand-in process survived `harness standins down`"
