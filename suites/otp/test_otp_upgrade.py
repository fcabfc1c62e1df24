"""Release upgrades on real BEAM nodes through ``release_handler``, driven by the ``otp-release-upgrade`` procedure.

Every test gets fresh nodes (≈1 s per node to start, the release build is cached per worker), once on
each backend (process; docker where an engine runs: one container per node), and judges what the
nodes report — the gen_server's pid and state, ``which_releases``, loaded modules, OS pids, files the
relup wrote (read through the node's transport) — not the executor's journal alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness import standins
from harness.cli import app
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.errors import RefusedError
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.otp import lint_relup_file
from harness.products.otp.node import NodeClient, node_client
from harness.products.otp.outcomes import classify
from harness.products.otp.standin.release import build_release, erlang_available
from harness.products.otp.terms import Atom, Tuple
from harness.pytest_plugin.backends import BACKENDS, skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]


# ----- helpers -----------------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--harness-backend") or "all"
        metafunc.parametrize("backend", [
            pytest.param(b, id=b, marks=[pytest.mark.requires_docker] if b == "docker" else [])
            # not docker-ssh: the OTP nodes are reached by Erlang distribution (erl_call), which no SSH-only
            # stand-in carries; the SSH-only set is Zato, Canopsis and the BEAM system (issue 12)
            for b in BACKENDS if b != "docker-ssh" and chosen in ("all", b)], scope="module")


def up(backend: str, base: Path, **options: Any) -> Inventory:
    skip_unless_backend_runs(backend)
    spec = StandinsSpec.model_validate({"product": "otp", "backend": backend, **options})
    name = standins.new_env_name("otp")
    return standins.up(spec, base / name, name=name)


@pytest.fixture
def make_env(backend: str, tmp_path: Path) -> Iterator[Any]:
    envs: list[Inventory] = []

    def make(nodes: int = 1, variant: str = "main", version: str = "1.0") -> Inventory:
        envs.append(up(backend, tmp_path, nodes=nodes, version=version, variant=variant))
        return envs[-1]

    yield make
    for inv in envs:
        standins.down(inv)


def clients(inv: Inventory) -> list[NodeClient]:
    return [node_client(inv, c.name) for c in inv.components]


def a(name: str) -> Atom:
    return Atom(name)


def server(c: NodeClient) -> tuple[str, Any]:
    """(pid, state) of counter_server."""
    pid = c.call("apply", a("erlang"), a("whereis"), [a("counter_server")])
    return str(pid), c.call("apply", a("counter_server"), a("state"), [])


def incr(c: NodeClient, times: int) -> None:
    for _ in range(times):
        c.call("apply", a("counter_server"), a("incr"), [])


def loaded(c: NodeClient, mod: str) -> bool:
    return c.call("apply", a("code"), a("is_loaded"), [a(mod)]) != a("false")


def releases(c: NodeClient) -> dict[str, str]:
    return {r.vsn: r.status for r in c.info().releases}


def run_plan(inv: Inventory, tmp: Path, listener: Any = None, **params: Any) -> Run:
    plan = Plan(procedure="otp-release-upgrade", params=params, ready_timeout=30)
    run = Run.create(plan, inv, tmp / "runs")
    if listener:
        run.listeners.append(listener)
    run.begin()
    run.run_forward()
    return run


def statuses(run: Run, event: str = "step") -> dict[str, str]:
    return {r["step"]: r["status"] for r in run.journal_records() if r["event"] == event and r["status"] != "started"}


# ----- live upgrade, idempotence, rollback, round trip ------------------------------------------------

def test_live_upgrade_keeps_pid_transforms_state_and_rolls_back(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=2)
    n1, n2 = clients(inv)
    incr(n1, 3)
    incr(n2, 5)
    pids = [server(n1)[0], server(n2)[0]]

    up = run_plan(inv, tmp_path, release="1.1")
    assert up.outcome == Outcome.SUCCESS
    for c, pid, n in ((n1, pids[0], 3), (n2, pids[1], 5)):
        assert server(c) == (pid, Tuple((a("state"), n, [Tuple((a("upgraded_from"), "1.0", a("from_1_0")))])))
        assert loaded(c, "counter_util") and not loaded(c, "counter_gone")
        assert releases(c) == {"1.1": "permanent", "1.0": "old"}
    install = up.observations["install@node1"]
    assert install["outcome"] == "ok" and install["install_us"] > 0 and install["restarted"] is False
    upgraded = [server(n1), server(n2)]

    again = run_plan(inv, tmp_path, release="1.1")  # idempotence: nothing to do, nothing changed
    assert again.outcome == Outcome.SUCCESS
    assert set(statuses(again).values()) == {"skipped"}
    assert [server(n1), server(n2)] == upgraded

    rb = Run.load(up.run_dir)  # what `harness rollback RUN` does
    rb.begin(resumed=True)
    assert rb.roll_back("test") == Outcome.ROLLED_BACK
    for c, pid, n in ((n1, pids[0], 3), (n2, pids[1], 5)):
        assert server(c) == (pid, Tuple((a("state"), n)))
        assert loaded(c, "counter_gone") and not loaded(c, "counter_util")
        assert releases(c) == {"1.0": "permanent"}  # 1.1 removed: the node is as before the run

    assert run_plan(inv, tmp_path, release="1.1").outcome == Outcome.SUCCESS  # round trip up -> down -> up
    assert [server(n1), server(n2)] == upgraded


def test_chain_to_1_2_and_back_synchronised(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=2)
    n1, _ = clients(inv)
    incr(n1, 2)
    pid0 = server(n1)[0]
    run = run_plan(inv, tmp_path, release="1.1", mode="synchronised")
    assert run.outcome == Outcome.SUCCESS, run.journal_records()[-1]
    assert {c.name: releases(node_client(inv, c.name))["1.1"] for c in inv.components} == \
        {"node1": "permanent", "node2": "permanent"}  # what each node's release_handler says
    assert [r["step"] for r in run.journal_records() if r["event"] == "step" and r["status"] == "ok"][:2] == \
        ["unpack@node1", "unpack@node2"]
    assert server(n1)[0] == pid0
    assert run_plan(inv, tmp_path, release="1.2", mode="synchronised").outcome == Outcome.SUCCESS
    pid2, state2 = server(n1)
    assert pid2 != pid0 and state2 == Tuple((a("state"), 0, [], a("fresh_in_1_2")))  # restart_application
    assert releases(n1)["1.2"] == "permanent"
    assert run_plan(inv, tmp_path, release="1.1").outcome == Outcome.SUCCESS  # down: 1.2's relup down entry
    pid1, state1 = server(n1)
    assert pid1 != pid2 and state1 == Tuple((a("state"), 0, []))
    incr(n1, 4)
    assert run_plan(inv, tmp_path, release="1.0").outcome == Outcome.SUCCESS
    assert server(n1) == (pid1, Tuple((a("state"), 4)))
    assert n1.info().permanent == "1.0" and not loaded(n1, "counter_util")


# ----- failures: the node keeps or returns to its permanent release ------------------------------------

def test_restart_before_make_permanent_falls_back_to_old_release(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=2)
    n1, n2 = clients(inv)
    incr(n1, 3)

    def restart_node1(kind: str, step: Any, status: str, reason: str) -> None:
        if kind == "step" and step.id == "permanent@node1" and status == "started":
            before = n1.info().incarnation
            n1.call("restart")
            n1.wait_up(30, unlike=before)

    run = run_plan(inv, tmp_path, restart_node1, release="1.1")
    assert run.outcome == Outcome.ROLLED_BACK
    failed = run.records["permanent@node1"]
    assert failed.status.value == "failed" and "bad_status" in failed.reason and "restarted" in failed.reason
    info = n1.info()
    assert info.current == "1.0" and info.permanent == "1.0" and info.apps["counter"] == "1.0"
    assert server(n1)[1] == Tuple((a("state"), 0))  # the restart reset the process state
    assert "unpack@node2" not in run.records and releases(n2) == {"1.0": "permanent"}  # rolling: untouched
    assert statuses(run, "rollback_step") == {"rb-install@node1": "skipped", "rb-permanent@node1": "skipped",
                                              "rb-remove@node1": "ok"}


def test_failure_after_point_of_no_return_restarts_onto_permanent(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    incr(c, 2)
    pid = server(c)[0]
    c.transport.put(f"{c.root}/releases/counter-1.1.tar.gz",
                    Path(inv.facts["packages"], "counter-1.1.tar.gz").read_bytes())
    assert c.call("unpack", "counter-1.1") == Tuple((a("ok"), "1.1"))
    c.transport.put(f"{c.root}/releases/1.1/relup",  # a relup whose script crashes after the PONR
                    b'{"1.1",[{"1.0",[],[point_of_no_return,{apply,{erlang,error,[boom]}}]}],'
                    b'[{"1.0",[],[point_of_no_return]}]}.\n')
    run = run_plan(inv, tmp_path, release="1.1")
    assert run.outcome == Outcome.ROLLED_BACK
    reason = run.records["install@node1"].reason
    assert "crashed" in reason and "boom" in reason and "restarted" in reason and "permanent release 1.0" in reason
    assert c.info().current == "1.0" and server(c)[0] != pid and server(c)[1] == Tuple((a("state"), 0))


def test_install_release_outcomes_are_mapped(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    incr(c, 1)
    before = server(c)
    assert classify(c.call("install", "9.9")[1], "9.9").code == "no_such_release"
    assert classify(c.call("install", "1.0")[1], "1.0").code == "enoent"  # the running release has no relup
    c.transport.put(f"{c.root}/releases/counter-1.1.tar.gz",
                    Path(inv.facts["packages"], "counter-1.1.tar.gz").read_bytes())
    c.call("unpack", "counter-1.1")
    good = c.transport.get(f"{c.root}/releases/1.1/relup")
    c.transport.put(f"{c.root}/releases/1.1/relup", b"{not a relup")
    out = classify(c.call("install", "1.1")[1], "1.1")
    assert (out.code, out.status, out.node) == ("bad_relup_file", "failed", "unchanged") and "lint relup" in out.hint
    c.transport.put(f"{c.root}/releases/1.1/relup", good)
    assert classify(c.call("install", "1.1")[1], "1.1").code == "ok"
    out = classify(c.call("install", "1.1")[1], "1.1")  # installing the current release: refused cleanly
    assert (out.code, out.status) == ("already_installed", "skipped")
    assert classify(c.call("permanent", "9.9"), "9.9").code == "no_such_release"
    assert server(c)[0] == before[0]


# ----- emulator restarts ---------------------------------------------------------------------------

def test_restart_emulator_relup_restarts_node_onto_new_release(make_env: Any, tmp_path: Path) -> None:
    inv = make_env(nodes=1, variant="restart_emulator")
    (c,) = clients(inv)
    incr(c, 3)
    os_pid = c.info().os_pid
    run = run_plan(inv, tmp_path, release="1.1")
    assert run.outcome == Outcome.SUCCESS, run.records
    obs = run.observations["install@node1"]
    assert obs["expects_restart"] and obs["restarted"] and obs["downtime"] > 0
    info = c.info()
    assert info.os_pid != os_pid and info.script_id == "1.1" and info.permanent == "1.1"
    assert server(c)[1] == Tuple((a("state"), 0, []))  # a new emulator: fresh state


def test_instructions_after_restart_emulator_are_flagged_and_never_run(make_env: Any, tmp_path: Path) -> None:
    build = build_release("after_restart")
    findings = lint_relup_file(str(build.dir / "rel/1.1/relup"), "1.0", "1.1")
    assert {f.rule for f in findings if f.severity == "error"} == {"OTP053"}
    assert "OTP031" in {f.rule for f in findings}
    inv = make_env(nodes=1, variant="after_restart")
    (c,) = clients(inv)
    plan = Plan(procedure="otp-release-upgrade", params={"release": "1.1"})
    with pytest.raises(RefusedError, match="OTP053"):  # lint: strict refuses it, nothing changed
        Run.create(plan, inv, tmp_path / "runs").begin()
    assert releases(c) == {"1.0": "permanent"}
    run = run_plan(inv, tmp_path, release="1.1", lint="warn")
    assert run.outcome == Outcome.SUCCESS, {k: r.reason for k, r in run.records.items()}
    assert c.info().script_id == "1.1"
    assert c.transport.get(f"{c.root}/before_restart.marker") == b"ran"  # the node's working directory
    assert not c.transport.exists(f"{c.root}/after_restart.marker")


# ----- bad input -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idle_node(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    """One node for every bad-input case: none of them may change it."""
    inv = up(backend, tmp_path_factory.mktemp("otp-idle"), nodes=1, variant="main")
    yield inv
    standins.down(inv)


@pytest.mark.parametrize(("params", "field"), [
    ({"release": "1.1; rm -rf /"}, "params.release"),
    ({}, "params.release"),
    ({"release": "1.1", "mode": "parallel"}, "params.mode"),
    ({"release": "1.1", "speed": 3}, "params"),
    ({"release": "7.0"}, None),  # no such package: refused by the precheck
])
def test_bad_plan_input_is_refused_with_exit_4(idle_node: Inventory, tmp_path: Path, params: dict[str, Any],
                                                 field: str | None) -> None:
    (c,) = clients(idle_node)
    before = (c.info().releases, server(c))
    inv_file = Path(idle_node.state_dir or tmp_path) / "inventory.yaml"
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump({"procedure": "otp-release-upgrade", "params": params}))
    res = CliRunner().invoke(app, ["run", str(plan_file), "--target", str(inv_file)])
    assert res.exit_code == 4, res.output
    out = res.output.replace("\n", "")  # rich wraps long lines
    if field:
        assert f"{plan_file}:" in out and f"field: {field}" in out and "Hint:" in out
    else:
        assert "7.0" in out and "not found" in out
    assert "nothing was changed" in out
    assert (c.info().releases, server(c)) == before
