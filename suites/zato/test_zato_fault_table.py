"""Zato environment update and hot-deploy under faults tied to their steps (zato.md §1.4, §1.7): a table of
cases, each with the end the runbook calls for (:mod:`harness.faults.cases`), judged on what the nodes
logged — the version each component started with, the servers and the load balancer answering, the
modules the cluster's ODB has deployed on each server.

3 servers behind the real HAProxy, process backend with fault proxies; one environment per case. The
fault is declared in the plan and undone when the run ends, whatever the case did; the nodes are read
after that: nothing lost, every component on one version, every server answering through the LB.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from harness import standins
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.errors import GateTimeout
from harness.faults.cases import FaultCase, run_case
from harness.plan.models import FaultSpec, Inventory, Plan, StandinsSpec
from harness.products.zato import odb, state
from harness.products.zato.fixtures import ZatoStandin
from harness.pytest_plugin.backends import skip_unless_backend_runs
from harness.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy]
BASE, TARGET = "3.2.0", "3.2.1"
SERVERS = ["server1", "server2", "server3"]


def on(version: str) -> dict[str, Any]:
    """The environment afterwards: every component started with ``version``, every server and the LB answer."""
    return {"versions": [version], "not answering": []}


CASES = {
    # a server lost mid rolling update: killed before its own stop; stopping a dead server is no error,
    # its start brings it back on the new code
    "server-killed-before-its-restart": FaultCase(FaultSpec(kind="kill", step="stop@server2", at="before"),
                                                  Outcome.SUCCESS, after=on(TARGET)),
    # a server that dies after its gate passed: the rolling update goes on (each gate judges its own
    # server), but the last step, verify@load-balancer, asks every component's process and finds server2's
    # pidfile naming no live process: the run fails there and rolls back, restarting every component on
    # the old code in the documented order (README: a server that died after its restart step fails the
    # run instead of ending it in success)
    "server-killed-after-its-restart": FaultCase(FaultSpec(kind="kill", step="start@server2", at="after"),
                                                 Outcome.ROLLED_BACK, "verify@load-balancer", "server2",
                                                 after=on(BASE)),
    # the load balancer paused while a server starts: the server never shows as routed, the step fails
    # on its gate, and the rollback (with the LB back) restores the old version everywhere
    "lb-paused-during-a-server-start": FaultCase(FaultSpec(kind="pause", step="start@server1", node="load-balancer",
                                                           at="before", undo="step-end"),
                                                 Outcome.ROLLED_BACK, "start@server1", after=on(BASE)),
    # a server cut off from the LB and the controller while it starts: its gate cannot see it ready
    "server-cut-off-during-its-start": FaultCase(FaultSpec(kind="cut", step="start@server3", at="before",
                                                           undo="step-end"),
                                                 Outcome.ROLLED_BACK, "start@server3", after=on(BASE)),
}


@pytest.fixture
def zato3(tmp_path: Path) -> Iterator[ZatoStandin]:
    skip_unless_backend_runs("process")
    spec = StandinsSpec(product="zato", servers=3, proxies=True)
    name = standins.new_env_name("zato")
    inv = standins.up(spec, tmp_path / name, name=name)
    yield ZatoStandin(inv, tmp_path / name)
    standins.down(inv)


def _answers(url: str, text: str = "") -> bool:
    try:
        r = requests.get(url + "/zato/ping", timeout=10)
    except requests.RequestException:
        return False
    return r.ok and text in r.text


def versions(inv: Inventory) -> dict[str, Any]:
    env = Environment.from_inventory(inv)
    try:
        running = {n: state.running_version(comp) for n, comp in env.components.items()}
        down = [n for n, comp in env.components.items() if comp.role == "server" and not _answers(comp.url, "ZATO_OK")]
        return {"versions": sorted({str(v) for v in running.values()}),
                "not answering": down + ([] if inv.front_door and _answers(inv.front_door) else ["load-balancer"])}
    finally:
        env.close()


@pytest.mark.parametrize("case", CASES)
def test_update_under_fault(case: str, zato3: ZatoStandin, tmp_path: Path) -> None:
    plan = Plan(procedure="zato-update", params={"revision": TARGET}, ready_timeout=10)
    end = run_case(CASES[case], plan, zato3.inventory, tmp_path / "runs", observe=versions)
    assert end.verdict, end.verdict.explain()


# ---- service installation: hot-deploy propagated to every server ----------------------------------

HELLO = Path(__file__).resolve().parents[2] / "examples" / "services" / "hello.py"


def deployed(inv: Inventory) -> dict[str, Any]:
    """Where the ODB has hello.py deployed (a server continued after a pause deploys it then: waited for,
    bounded), and whether the LB answers."""
    env = Environment.from_inventory(inv)
    where: list[str] = []

    def everywhere() -> bool:
        where[:] = sorted({r.server for r in odb.deployed_services(env) if r.payload_name == HELLO.name})
        return where == SERVERS

    try:
        with contextlib.suppress(GateTimeout):  # the case says where it must be
            wait_until(everywhere, timeout=20, interval=0.5, what=f"{HELLO.name} deployed on every server")
        return {f"{HELLO.name} deployed on": where, "lb answers": bool(inv.front_door and _answers(inv.front_door))}
    finally:
        env.close()


#: every server ends up with the module: hot-deploy cannot take a new module back (zato.md §1.7)
EVERYWHERE = {f"{HELLO.name} deployed on": SERVERS, "lb answers": True}

DEPLOY_CASES = {
    # a server cut off from the network while the module propagates, back once the deploy step ended:
    # propagation goes through the cluster's ODB (a shared database, not the cut links), so every server
    # confirms, and the verification through the load balancer finds every server serving again
    "server-cut-off-during-propagation": FaultCase(FaultSpec(kind="cut", step="deploy@server1", node="server3",
                                                             at="during", undo="step-end"),
                                                   Outcome.SUCCESS, after=EVERYWHERE),
    # a server paused while the module propagates (continued once the deploy step ended): it cannot
    # confirm, the gate fails naming it; the module is new, and hot-deploy cannot remove a module (it stays
    # in work/hot-deploy/current and the ODB, loaded again at every start, zato.md §1.7): the rollback
    # cannot put the servers back and the run ends indeterminate, never rolled_back on a guess; server3,
    # continued, deploys it too
    "server-paused-during-propagation": FaultCase(FaultSpec(kind="pause", step="deploy@server1", node="server3",
                                                            at="during", undo="step-end"),
                                                  Outcome.INDETERMINATE, "deploy@server1", "server3",
                                                  after=EVERYWHERE),
    # the same server still paused during the rollback (continued when the run ended): the same end
    "server-paused-through-the-rollback": FaultCase(FaultSpec(kind="pause", step="deploy@server1", node="server3",
                                                              at="during"),
                                                    Outcome.INDETERMINATE, "deploy@server1", "server3",
                                                    after=EVERYWHERE),
}


@pytest.mark.parametrize("case", DEPLOY_CASES)
def test_hot_deploy_under_fault(case: str, zato3: ZatoStandin, tmp_path: Path) -> None:
    plan = Plan(procedure="zato-hot-deploy", ready_timeout=10,
                params={"method": "pickup", "files": [str(HELLO)], "invoke": {"demo.hello": {"name": "Joe"}}})
    end = run_case(DEPLOY_CASES[case], plan, zato3.inventory, tmp_path / "runs", observe=deployed)
    assert end.verdict, end.verdict.explain()
