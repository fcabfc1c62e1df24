"""`harness preflight` of a Zato update on real stand-ins (process backend: git checkouts, the components, a
real HAProxy): ready on a fresh environment; a stopped server (HAProxy sees it DOWN) and a host on another
version each fail, naming the node and the fix, exit 4; and every node's files, processes and ODB rows are
the same after preflight as before."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Inventory, Plan
from harness.probes import ProbeResult
from harness.products.zato import odb
from harness.products.zato import state as zato_state
from harness.products.zato.checks import ZatoHistory, check_availability, haproxy_view, ping_probe
from harness.wait import wait_until
from tests.products import nodestate

PLAN = "procedure: zato-update\nparams: {revision: '3.2.1'}\n"


def odb_rows(env: Environment) -> dict[str, Any]:
    server = odb.servers(env)[0]
    tables = [r[0] for r in odb.query(server, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: odb.query(server, f'SELECT * FROM "{t}" ORDER BY 1') for t in tables}


def state(inv: Inventory) -> dict[str, Any]:
    out = nodestate.snapshot(Path(str(inv.state_dir)), odb=odb_rows(Environment.from_inventory(inv)))
    assert out["processes"] and out["files"] and out["odb"]["server"]  # components, HAProxy; the ODB's servers
    return out


def preflight(inv: Inventory, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    (tmp_path / "plan.yaml").write_text(PLAN)
    res = CliRunner().invoke(app, ["preflight", str(tmp_path / "plan.yaml"), "--target",
                                   str(Path(str(inv.state_dir)) / "inventory.yaml"), "--json", "--free-mib", "1"])
    return res.exit_code, json.loads(res.stdout)


def failing(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["name"], c["node"]): c for c in doc["checks"] if not c["ok"]}


@pytest.fixture
def zato(make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Inventory:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    return make_standins("zato", servers=2, backend="process")


def test_a_fresh_environment_is_ready_and_preflight_changes_nothing(zato: Inventory, tmp_path: Path) -> None:
    before = state(zato)
    code, doc = preflight(zato, tmp_path)
    assert code == 0 and doc["ready"], failing(doc)
    checks = {(c["name"], c["node"]): c for c in doc["checks"]}
    for host in zato.hosts:
        assert checks["version", host.name]["detail"] == "installed 3.2.0, revision 3.2.1 is 3.2.1"
    for server in ("server1", "server2"):
        assert checks["load balancer", server]["detail"] == "load-balancer sees it UP"
        assert checks["version", server]["detail"] == "running 3.2.0"
    assert set(checks["version", "server1"]) == {"name", "node", "ok", "detail", "fix"}  # the generic checks' shape
    assert nodestate.diff(before, state(zato)) == {}


def test_a_stopped_server_seen_down_by_haproxy_is_named_with_its_fix(zato: Inventory, tmp_path: Path) -> None:
    env = Environment.from_inventory(zato)
    server2, lb = env.components["server2"], env.components["load-balancer"]
    server2.host.transport.run([f"{server2.host.install_dir}/bin/zato", "stop", server2.path], timeout=60).check()
    wait_until(lambda: (haproxy_view(lb) or {})["server2"].state == "DOWN", timeout=15,
               what="HAProxy to see server2 DOWN")
    # and the server's process gone (it stops a moment after its port closes): a settled environment
    wait_until(lambda: not any(server2.path in cmd for cmd in nodestate.processes(Path(str(zato.state_dir))).values()),
               timeout=15, what="server2's process to exit")
    before = state(zato)
    code, doc = preflight(zato, tmp_path)
    assert code == 4 and not doc["ready"]
    bad = failing(doc)
    assert set(bad) == {("load balancer", "server2"), ("version", "server2")}
    lb_check = bad["load balancer", "server2"]
    assert lb_check["detail"].startswith("load-balancer sees it DOWN since ")
    # HAProxy's own reason, as it logged it: a closed port is a refused connect ("Layer4 connection
    # problem"), or "Socket error" when the check's socket failed while the server was closing it
    reason = (haproxy_view(lb) or {})["server2"].reason
    assert reason in ("Layer4 connection problem", "Socket error"), reason
    assert f"({reason})" in lb_check["detail"]
    assert f"zato start {server2.path}" in lb_check["fix"]
    assert "not running" in bad["version", "server2"]["detail"]
    assert nodestate.diff(before, state(zato)) == {}


def test_a_host_on_another_version_is_named_with_its_fix(zato: Inventory, tmp_path: Path) -> None:
    env = Environment.from_inventory(zato)
    host = env.hosts[zato.by_role("server")[1].host]
    host.transport.put(f"{host.install_dir}/.installed/VERSION", b"3.1.9\n")  # updated by hand, never restarted
    before = state(zato)
    code, doc = preflight(zato, tmp_path)
    assert code == 4
    bad = failing(doc)
    assert ("version", host.name) in bad
    assert bad["version", host.name]["detail"] == "installed 3.1.9; the other hosts have 3.2.0"
    assert f"bring {host.name} to 3.2.0" in bad["version", host.name]["fix"]
    # the server on that host runs 3.2.0 while 3.1.9 is installed: named too
    assert "restart it on the installed code" in bad["version", "server2"]["fix"]
    assert nodestate.diff(before, state(zato)) == {}


def test_an_environment_already_on_the_revision_is_not_ready(zato: Inventory, tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    res = CliRunner().invoke(app, ["run", str(tmp_path / "plan.yaml"), "--target",
                                   str(Path(str(zato.state_dir)) / "inventory.yaml")])
    assert res.exit_code == 0, res.output
    code, doc = preflight(zato, tmp_path)
    assert code == 4
    bad = failing(doc)
    assert {n for (name, n) in bad if name == "version"} == {h.name for h in zato.hosts}
    assert "already on 3.2.1: nothing to update" in bad["version", zato.hosts[0].name]["fix"]


def test_zatos_own_lb_config_loses_requests_in_a_rolling_restart_and_preflight_says_so_before(
        make_standins: Callable[..., Inventory], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zato 3.2's backend (no `option redispatch`, no `retries`): preflight refuses it, naming the LB and the
    lines to add; the update run anyway loses requests outside the LB's own restart (HAProxy's 503s to a
    stopped server before its checks mark it DOWN), and the availability check reports them. With the lines
    the fix names added, the check still fails until the LB is restarted (HAProxy runs the config it read at
    its start), then passes."""
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    # servers that take 2 s to boot, and checks every second (Zato's template: 2 s): each stopped server
    # keeps getting requests for 1-2 s, until HAProxy has it DOWN
    inv = make_standins("zato", servers=3, backend="process", lb_redispatch=False, lb_check_inter_ms=1000,
                        server_boot_seconds=2.0)
    code, doc = preflight(inv, tmp_path)
    assert code == 4
    bad = failing(doc)
    assert set(bad) == {("load balancer", "load-balancer")}, bad
    lb_check = bad["load balancer", "load-balancer"]
    assert "no `option redispatch` (Zato 3.2's template has none)" in lb_check["detail"]
    assert "fall × inter: 2 s" in lb_check["detail"]
    assert "`option redispatch`" in lb_check["fix"] and "/config/repo/zato.config" in lb_check["fix"]

    # several clients at once, as a front door has: each request to the stopped server waits out HAProxy's
    # 3 retries on it (a turn-around of `timeout connect` each) before its 503
    probes = [ping_probe(str(inv.front_door), mark=None, max_seconds=300) for _ in range(6)]
    started = time.time()
    with contextlib.ExitStack() as stack:
        for p in probes:
            stack.enter_context(p)
        run = Run.create(Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=30), inv,
                         tmp_path / "runs")
        run.begin()
        assert run.run_forward() == Outcome.SUCCESS
        ended = time.time()
    env = Environment.from_inventory(inv)
    result = ProbeResult([s for p in probes for s in p.result.samples])
    history = ZatoHistory.collect(env, since=started, until=ended + 1)
    verdict = check_availability(result, history)
    assert verdict.valid is False, verdict.explain()
    for name in ("server1", "server2", "server3"):  # each server's restart, from its own log, lost requests
        (r,) = history.restarts(name)
        assert r.stopping and r.ready
        assert result.failed_within([(r.stopping.timestamp(), r.ready.timestamp())]), (name, verdict.details)
    # HAProxy's own answers: 502 for a connection the stopping server closed unanswered, 503 once none is left
    assert {f["status"] for f in verdict.details["first_failed_outside"]} <= {502, 503}, verdict.details

    lb = env.components["load-balancer"]
    config = f"{lb.path}/config/repo/zato.config"
    text = lb.host.transport.get(config).decode()
    time.sleep(2.5)  # the file's mtime, in whole seconds, clearly after HAProxy's start
    lb.host.transport.put(config, text.replace("defaults\n", "defaults\n    retries 3\n    option redispatch\n"
                                               "    retry-on conn-failure empty-response\n", 1).encode())
    _, doc = preflight(inv, tmp_path)  # not ready all the same: every host is on 3.2.1 already
    checks = {(c["name"], c["node"]): c for c in doc["checks"]}
    stale = checks["load balancer", "load-balancer"]  # edited, but the running HAProxy read it before
    assert not stale["ok"] and "after the running HAProxy (pid " in stale["detail"], stale
    assert f"zato stop/start {lb.path}" in stale["fix"]
    zato = f"{lb.host.install_dir}/bin/zato"
    old_pids = zato_state.pids(lb)
    lb.host.transport.run([zato, "stop", lb.path], timeout=60).check()
    wait_until(lambda: not any(zato_state.pid_alive(lb.host, p) for p in old_pids), timeout=15,
               what="the old LB's HAProxy and agent to exit")
    lb.host.transport.run([zato, "start", lb.path], timeout=60).check()
    _, doc = preflight(inv, tmp_path)
    checks = {(c["name"], c["node"]): c for c in doc["checks"]}
    assert checks["load balancer", "load-balancer"]["ok"] and checks["load balancer", "load-balancer"]["detail"] == (
        "zato.config retries a refused connection on another server (option redispatch, retries 3)")
