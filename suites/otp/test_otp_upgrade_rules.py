"""The rules of ``rules-otp-release-upgrade.yaml`` that no other OTP test guards fast, on real BEAM nodes.

* A relup OTP would mishandle (``restart_new_emulator`` not first, instructions after ``restart_emulator``,
  ``{Vsn,[],[]}``: no upgrade at all) is refused before anything changes: no release_handler call on the
  node (its own ``log/release_handler.log``) and its releases as before.
* The node's release_handler answers ``unpack_release``, ``check_install_release``, ``install_release`` and
  ``make_permanent`` in that order, each once (a debug function the test installs on release_handler
  writes every call it answered to a file on the node's host).
* ``make_permanent`` only after the node was seen running the release: a node that restarted right after
  ``install_release`` answered (so it is back on its permanent release) is never asked to make it permanent.
* Nodes on two releases side by side: while a rolling upgrade goes node by node, every node's counter keeps
  its process and state, as each node reports at each install (the mixed-version window).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.actions import StepContext
from harness.engine.status import Outcome
from harness.plan.models import Inventory
from harness.products.otp import actions
from harness.products.otp.node import NodeClient
from harness.products.otp.standin import STANDIN, target
from harness.products.otp.standin.release import erlang_available
from harness.products.otp.terms import Tuple
from suites.otp.test_otp_upgrade import (  # the same fixtures and node helpers as the upgrade suite
    a,
    clients,
    idle_node,
    incr,
    make_env,
    pytest_generate_tests,
    releases,
    run_plan,
    server,
)

__all__ = ["idle_node", "make_env", "pytest_generate_tests"]  # re-exported: fixtures and the parametrisation

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript, erl_call (erlang-base)")]

# ----- what the node recorded ------------------------------------------------------------------------

CALLS_LOG = "log/test-release-handler-calls.log"
# Evaluated in the node (file:script/1, relative to its working directory, the release root): a sys debug
# function on release_handler appending "Call\tVsnOrName\tok|error" for every unpack, check, install,
# make_permanent and remove it answered. The stand-in's own log (target.RH_LOG) leaves the check out.
_TRACE = ('Log = "' + CALLS_LOG + '", '
          'Calls = [unpack_release, check_install_release, install_release, make_permanent, remove_release], '
          'Fun = fun(P, Ev, _) -> try case Ev of '
          '{in, {\'$gen_call\', _, R}} when is_tuple(R) -> '
          'case lists:member(element(1, R), Calls) of true -> [R]; false -> [] end; '
          '{out, Reply, _, _} when P =/= [] -> [Req] = P, '
          'Res = case Reply of ok -> ok; {ok, _} -> ok; {ok, _, _} -> ok; _ -> error end, '
          'ok = file:write_file(Log, io_lib:format("~s\\t~s\\t~s~n", [element(1, Req), element(2, Req), Res]), '
          '[append]), []; '
          '_ -> P end catch _:_ -> [] end end, '
          'sys:install(release_handler, {Fun, []}).\n')


def trace_release_handler(c: NodeClient) -> None:
    c.transport.put(f"{c.root}/trace-release-handler.script", _TRACE.encode())
    assert c.call("apply", a("file"), a("script"), ["trace-release-handler.script"]) == Tuple((a("ok"), a("ok")))


def _lines(c: NodeClient, path: str) -> list[tuple[str, ...]]:
    try:
        text = c.transport.get(f"{c.root}/{path}").decode()
    except FileNotFoundError:
        return []
    return [tuple(line.split("\t")) for line in text.splitlines()]


def traced(c: NodeClient) -> list[tuple[str, ...]]:
    return _lines(c, CALLS_LOG)


def rh_log(c: NodeClient) -> list[tuple[str, ...]]:
    """The stand-in's own record (written at every boot of the node): unpack, install, make_permanent, remove."""
    return _lines(c, target.RH_LOG)


# ----- relups OTP would mishandle: refused, nothing changed ----------------------------------------------

_UP_PONR = "    point_of_no_return,\n    {load,{counter_util"


def _rne_not_first(relup: str) -> str:  # after load_object_code, before the point of no return
    return relup.replace(_UP_PONR, "    restart_new_emulator,\n" + _UP_PONR)


def _rne_after_ponr(relup: str) -> str:
    return relup.replace(_UP_PONR, _UP_PONR.replace("point_of_no_return,", "point_of_no_return,\n"
                                                    "    restart_new_emulator,"))


def _re_not_last(relup: str) -> str:
    return relup.replace(_UP_PONR, _UP_PONR.replace("point_of_no_return,", "point_of_no_return,\n"
                                                    "    restart_emulator,"))


def _re_twice(relup: str) -> str:
    return relup.replace("{purge,[counter_gone]}]}]", "{purge,[counter_gone]},restart_emulator,restart_emulator]}]")


def _empty(relup: str) -> str:
    return '{"1.1",[],[]}.\n'


RELUPS: dict[str, tuple[Callable[[str], str], str]] = {  # case -> (edit of the real relup, what the refusal says)
    "restart_new_emulator-not-first": (_rne_not_first, "OTP054"),
    "restart_new_emulator-after-the-point-of-no-return": (_rne_after_ponr, "OTP054"),
    "restart_emulator-not-last": (_re_not_last, "OTP053"),
    "restart_emulator-twice": (_re_twice, "OTP053"),
    "empty-upgrade": (_empty, "has no upgrade from 1.0"),
}


def package_with_relup(inv: Inventory, edit: Callable[[str], str], out: Path) -> Path:
    """The stand-in's 1.1 package with its ``releases/1.1/relup`` edited (every other member as built)."""
    src = Path(inv.facts["packages"], "counter-1.1.tar.gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(src) as old, tarfile.open(out, "w:gz", compresslevel=1) as new:
        for member in old.getmembers():
            data = old.extractfile(member) if member.isfile() else None
            if member.name == "releases/1.1/relup":
                assert data is not None
                text = data.read().decode()
                edited = edit(text).encode()
                assert edited != text.encode(), "the edit changed nothing: the built relup is not as expected"
                member.size = len(edited)
                data = io.BytesIO(edited)
            new.addfile(member, data)
    return out


@pytest.mark.parametrize("case", list(RELUPS))
def test_relup_otp_would_mishandle_is_refused_and_the_node_records_no_call(idle_node: Inventory, tmp_path: Path,
                                                                           case: str) -> None:
    (c,) = clients(idle_node)
    edit, says = RELUPS[case]
    package = package_with_relup(idle_node, edit, tmp_path / "pkg" / "counter-1.1.tar.gz")
    before = (releases(c), rh_log(c))
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump({"procedure": "otp-release-upgrade",
                                         "params": {"release": "1.1", "package": str(package)}}))
    res = CliRunner().invoke(app, ["run", str(plan_file), "--target", str(Path(str(idle_node.state_dir))
                                                                            / "inventory.yaml")])
    out = res.output.replace("\n", "")  # rich wraps long lines
    assert res.exit_code == 4, res.output
    assert says in out and "nothing was changed" in out, res.output
    assert (releases(c), rh_log(c)) == before  # no unpack_release (or any call) answered, RELEASES as before


# ----- the order of release_handler's calls --------------------------------------------------------------

def test_release_handler_answers_unpack_check_install_permanent_in_that_order(make_env: Any,
                                                                             tmp_path: Path) -> None:
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    trace_release_handler(c)
    run = run_plan(inv, tmp_path, release="1.1")
    assert run.outcome == Outcome.SUCCESS, {k: r.reason for k, r in run.records.items()}
    assert traced(c) == [("unpack_release", "counter-1.1", "ok"), ("check_install_release", "1.1", "ok"),
                         ("install_release", "1.1", "ok"), ("make_permanent", "1.1", "ok")]
    assert releases(c) == {"1.1": "permanent", "1.0": "old"}


# ----- make_permanent only after the node runs the release -------------------------------------------------

def test_a_node_that_restarted_after_install_is_never_made_permanent(make_env: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The node stops and boots again as soon as install_release has answered (a crash, an operator): it is
    back on its permanent release 1.0, the new one only unpacked. The install step's check must see that
    before make_permanent is asked for anything: the node records no make_permanent, and the run rolls back."""
    inv = make_env(nodes=1)
    (c,) = clients(inv)
    restarted: list[str] = []
    install = actions.Install.run

    def install_then_restart(self: actions.Install, ctx: StepContext) -> None:
        install(self, ctx)
        if ctx.step.id == "install@node1" and not restarted:
            STANDIN.stop_component(inv, "node1")
            STANDIN.start_component(inv, "node1")  # bin/start: the release start_erl.data names, 1.0
            restarted.append(ctx.step.id)

    monkeypatch.setattr(actions.Install, "run", install_then_restart)
    run = run_plan(inv, tmp_path, release="1.1")
    assert restarted, "install_release never answered"
    assert run.outcome == Outcome.ROLLED_BACK
    calls = [line[:2] for line in rh_log(c)]
    assert ("install_release", "1.1") in calls and not [x for x in calls if x[0] == "make_permanent"], calls
    assert releases(c) == {"1.0": "permanent"}


# ----- nodes on two releases side by side ------------------------------------------------------------------

def test_nodes_on_two_releases_side_by_side_keep_their_processes_and_state(make_env: Any, tmp_path: Path) -> None:
    """A rolling upgrade of three nodes: while it goes node by node, nodes on 1.1 and nodes still on 1.0 run
    side by side (seen on the nodes at each install). Every node's counter keeps its process and its count
    through the whole window, as each node itself reports, not only at the end of the run."""
    inv = make_env(nodes=3)
    nodes = clients(inv)
    for k, c in enumerate(nodes, start=1):
        incr(c, k)
    before = [server(c) for c in nodes]
    seen: list[tuple[list[str | None], list[str]]] = []  # at each install: each node's release and counter pid

    def at_each_install(kind: str, step: Any, status: str, reason: str) -> None:
        if kind == "step" and status == "ok" and step.action == "otp.install":
            seen.append(([c.info().current for c in nodes], [server(c)[0] for c in nodes]))

    run = run_plan(inv, tmp_path, listener=at_each_install, release="1.1")
    assert run.outcome == Outcome.SUCCESS, {k: r.reason for k, r in run.records.items()}
    assert [running for running, _ in seen] == [["1.1", "1.0", "1.0"], ["1.1", "1.1", "1.0"],
                                                  ["1.1", "1.1", "1.1"]]  # the mixed-version window was open
    pids = [pid for pid, _ in before]
    for running, counters in seen:
        assert counters == pids, f"a counter_server restarted while the nodes ran {running}"
    for c, (pid, state), n in zip(nodes, before, (1, 2, 3), strict=True):
        assert state == Tuple((a("state"), n))
        assert server(c) == (pid, Tuple((a("state"), n, [Tuple((a("upgraded_from"), "1.0", a("from_1_0")))])))
