"""Pure logic of the otp-release-upgrade procedure: step order, params, rollback plan, outcome mapping."""

from __future__ import annotations

import pytest
import yaml

from harness.engine.runner import plan_steps
from harness.engine.step import Step, StepStatus
from harness.errors import ConfigError, PlanError
from harness.plan.models import Component, Host, Inventory, Plan
from harness.plan.params import validate_params
from harness.products.otp import procedure as proc
from harness.products.otp.node import _erl_arg, check_vsn
from harness.products.otp.outcomes import OUTCOMES, classify
from harness.products.otp.terms import Atom, parse_terms


def inv(n: int = 2) -> Inventory:
    return Inventory(environment="e", product="otp",
                     hosts=[Host(name=f"node{k}", install_dir=f"/r{k}") for k in range(1, n + 1)],
                     components=[Component(name=f"node{k}", role="node", host=f"node{k}", path=f"/r{k}",
                                           url=f"erl://n{k}@127.0.0.1") for k in range(1, n + 1)],
                     facts={"cookie": "c", "release_name": "counter", "packages": "/pk"})


def plan(**params: object) -> Plan:
    return Plan(procedure="otp-release-upgrade", params=params)


def steps(p: Plan, inventory: Inventory) -> list[Step]:
    """The steps as the engine plans them: params validated against the procedure's model first."""
    return plan_steps(p, inventory)


def rollback(p: Plan, inventory: Inventory, done: list[tuple[Step, dict[str, object], StepStatus]]) -> list[Step]:
    return proc.rollback_steps(p, validate_params(proc.PROCEDURE, p), inventory, done)  # type: ignore[arg-type]


def test_rolling_does_every_phase_on_a_node_before_the_next() -> None:
    ids = [s.id for s in steps(plan(release="1.1"), inv())]
    assert ids == ["unpack@node1", "check@node1", "install@node1", "permanent@node1",
                   "unpack@node2", "check@node2", "install@node2", "permanent@node2"]
    unpack = steps(plan(release="1.1"), inv())[0]
    assert unpack.args["package"] == "/pk/counter-1.1.tar.gz"


def test_synchronised_does_each_phase_on_every_node_first() -> None:
    ids = [s.id for s in steps(plan(release="1.1", mode="synchronised"), inv())]
    assert ids[:4] == ["unpack@node1", "unpack@node2", "check@node1", "check@node2"]
    assert ids[-2:] == ["permanent@node1", "permanent@node2"]


@pytest.mark.parametrize(("params", "field"), [
    ({}, "params.release"), ({"release": "1.1 x"}, "params.release"), ({"release": '1"1'}, "params.release"),
    ({"release": "1.1", "mode": "all"}, "params.mode"), ({"release": "1.1", "lint": "off"}, "params.lint"),
    ({"release": "1.1", "nodes": 2}, "params.nodes"), ({"release": "1.1", "name": "a b"}, "params.name"),
])
def test_bad_params_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(PlanError) as exc:
        steps(plan(**params), inv())
    assert exc.value.field == field and exc.value.hint


def test_unknown_node_and_wrong_product_are_refused() -> None:
    with pytest.raises(PlanError, match="node9"):
        steps(Plan(procedure="otp-release-upgrade", params={"release": "1.1"}, components=["node9"]), inv())
    zato = inv().model_copy(update={"product": "zato"})
    with pytest.raises(PlanError, match="not otp"):
        steps(plan(release="1.1"), zato)


def _done(node: str, statuses: dict[str, StepStatus], before: str = "1.0", unpacked: bool = True
          ) -> list[tuple[Step, dict[str, object], StepStatus]]:
    out = []
    for phase, status in statuses.items():
        action = {"unpack": "otp.unpack", "check": "otp.check", "install": "otp.install", "permanent": "otp.permanent"}
        obs: dict[str, object] = {"before_permanent": before}
        if phase == "unpack" and status == StepStatus.OK:
            obs["unpacked"] = unpacked
        out.append((Step(f"{phase}@{node}", node, action[phase], {"release": "1.1"}), obs, status))
    return out


def test_rollback_reinstalls_the_old_release_in_reverse_node_order() -> None:
    ok = StepStatus.OK
    done = _done("node1", dict.fromkeys(("unpack", "check", "install", "permanent"), ok)) + \
        _done("node2", {"unpack": ok, "check": ok, "install": StepStatus.FAILED})
    steps = rollback(plan(release="1.1"), inv(), done)
    assert [s.id for s in steps] == ["rb-install@node2", "rb-permanent@node2", "rb-remove@node2",
                                     "rb-install@node1", "rb-permanent@node1", "rb-remove@node1"]
    assert steps[0].args == {"release": "1.0", "name": "counter"} and steps[2].args["release"] == "1.1"


def test_rollback_leaves_untouched_nodes_and_releases_it_did_not_unpack() -> None:
    sk = StepStatus.SKIPPED
    done = _done("node1", dict.fromkeys(("unpack", "check", "install", "permanent"), sk), before="1.1") + \
        _done("node2", {"unpack": sk, "check": StepStatus.OK, "install": StepStatus.FAILED}, unpacked=False)
    assert [s.id for s in rollback(plan(release="1.1"), inv(), done)] == \
        ["rb-install@node2", "rb-permanent@node2"]


REPLIES = {
    '{ok,"1.0",[]}': ("ok", "ok", "changed"),
    '{continue_after_restart,"1.0",[]}': ("continue_after_restart", "ok", "restarts"),
    '{error,{already_installed,"1.1"}}': ("already_installed", "skipped", "unchanged"),
    '{error,{no_such_release,"1.1"}}': ("no_such_release", "failed", "unchanged"),
    '{error,{old_processes,counter_server}}': ("old_processes", "failed", "unchanged"),
    '{error,{bad_relup_file,"/r/releases/1.1/relup"}}': ("bad_relup_file", "failed", "unchanged"),
    '{error,{no_matching_relup,"1.1","1.0"}}': ("no_matching_relup", "failed", "unchanged"),
    '{error,{enoent,"/r/releases/1.0/relup"}}': ("enoent", "failed", "unchanged"),
    '{error,{bad_lib_vsn,counter,"1.1"}}': ("bad_lib_vsn", "failed", "unchanged"),
    '{error,{no_such_file,"/r/lib/counter-1.1/ebin/x.beam"}}': ("no_such_file", "failed", "unchanged"),
    '{error,{illegal_instruction_after_point_of_no_return,{load_object_code,x}}}':
        ("illegal_instruction_after_point_of_no_return", "failed", "unchanged"),
    '{error,{missing_base_app,"1.0",kernel}}': ("missing_base_app", "failed", "unchanged"),
    '{error,{illegal_option,fast}}': ("illegal_option", "failed", "unchanged"),
    '{error,{bad_status,unpacked}}': ("bad_status", "failed", "unchanged"),
    "{error,{'EXIT',{boom,[]}}}": ("EXIT", "failed", "unknown"),
    '{error,{code_change_failed,"<0.9.0>",m,{down,"1.1"},{\'EXIT\',x}}}': ("code_change_failed", "failed", "unknown"),
    "{error,{badarg,[{erlang,send,[heart,x],[]}]}}": ("restart_emulator_without_heart", "failed", "unknown"),
    "{error,strange}": ("error", "failed", "unknown"),
    # release_handler throws static_emulator where its handle_call has no clause: the caller exits
    "{exit,{{{case_clause,static_emulator},[]},{gen_server,call,[release_handler,x,infinity]}}}":
        ("static_emulator", "failed", "unknown"),
    "{exit,{noproc,{gen_server,call,[release_handler,x,infinity]}}}": ("release_handler_crashed", "failed", "unknown"),
    '{error,{bad_rel_file,"/r/releases/x.rel"}}': ("bad_rel_file", "failed", "unchanged"),
    '{error,{bad_rel_data,{release,"x","1.1"}}}': ("bad_rel_data", "failed", "unchanged"),
    '{error,{enoent,"/r/releases/x.rel"}}': ("rel_missing", "failed", "unchanged"),  # packaging, not relup
    '{error,{eisdir,"/r/releases/x.rel"}}': ("file_error", "failed", "unchanged"),
    '{error,{eacces,"/r/releases/1.1/relup"}}': ("file_error", "failed", "unchanged"),
    '{error,{cannot_extract_file,"lib/x-1.1/ebin/x.beam",eacces}}': ("cannot_extract_file", "failed", "changed"),
    "{error,{{case_clause,{error,eof}},[{release_handler,extract_tar,2,[]}]}}":
        ("cannot_extract_file", "failed", "changed"),  # OTP 25's erl_tar answer extract_tar has no clause for
    '{error,{no_such_directory,"/x/counter-1.1"}}': ("no_such_directory", "failed", "unchanged"),
    '{error,{not_a_directory,"/x/counter-1.1"}}': ("not_a_directory", "failed", "unchanged"),
    "{error,{could_not_create_hybrid_boot,{app_not_found,stdlib}}}":
        ("could_not_create_hybrid_boot", "failed", "unchanged"),
    "{error,{'heart:set_cmd() error',{error,{bad_cmd,\"x\"}}}}": ("heart:set_cmd() error", "failed", "changed"),
    "{error,{{badmatch,x},[{release_handler,do_install_release,3,[]}]}}": ("error", "failed", "unknown"),
    "what": ("unexpected", "failed", "unknown"),
}


@pytest.mark.parametrize("reply", list(REPLIES))
def test_every_release_handler_reply_maps_to_a_status(reply: str) -> None:
    out = classify(parse_terms(reply + ".")[0], "1.1")
    assert (out.code, out.status, out.node) == REPLIES[reply]
    assert out.code in OUTCOMES and out.term
    assert not any(p in out.message + out.hint for p in ("{a}", "{b}", "{vsn}"))  # every placeholder filled


def test_after_the_point_of_no_return_the_restart_is_named() -> None:
    t = parse_terms("{error,{'EXIT',{boom,[]}}}.")[0]
    restarted = classify(t, "1.1", restarted=True, permanent="1.0")
    assert restarted.node == "restarted" and "permanent release 1.0" in restarted.message
    assert "nothing changed" in classify(t, "1.1", restarted=False).message


def test_file_errors_name_the_file_and_the_posix_reason() -> None:
    out = classify(parse_terms('{error,{eisdir,"/r/releases/x.rel"}}.')[0], "1.1")
    assert "/r/releases/x.rel" in out.message and "eisdir" in out.message
    out = classify(parse_terms('{error,{enoent,"/r/releases/x.rel"}}.')[0], "1.1")
    assert "/r/releases/x.rel" in out.message and "packag" in out.hint
    out = classify(parse_terms("{error,{{case_clause,{error,eof}},[{release_handler,extract_tar,2,[]}]}}.")[0], "1.1")
    assert "eof" in out.message and "truncated" in out.hint


def test_erl_call_arguments_are_literals_only() -> None:
    assert _erl_arg((Atom("install"), "1.1", [Atom("a")])) == '{install, "1.1", [a]}'
    for bad in ('1.1"]]', "1.1 x", "", "a" * 80):
        with pytest.raises(ConfigError, match="not a release version") as excinfo:
            check_vsn(bad)
        assert excinfo.value.field == "params.release" and repr(bad) in str(excinfo.value)
    assert check_vsn("1.1") == "1.1"


@pytest.mark.parametrize("written", ["1.10", "1.1", "2", "1.0e+1"])
def test_an_unquoted_release_is_refused_with_a_hint_that_quotes_what_was_written(tmp_path, written: str) -> None:  # type: ignore[no-untyped-def]
    from harness.engine.runner import plan_steps
    from harness.plan.loader import load_plan

    f = tmp_path / "plan.yaml"
    f.write_text(f"procedure: otp-release-upgrade\nparams:\n  mode: rolling\n  release: {written}\n")
    with pytest.raises(PlanError) as excinfo:
        plan_steps(load_plan(f), inv(), plan_file=str(f))
    exc = excinfo.value
    assert (exc.file, exc.line, exc.field) == (str(f), 4, "params.release")
    assert exc.hint is not None and exc.hint.startswith(f'quote it: "{written}"'), exc.hint
    number = yaml.safe_load(written)
    if str(number) != written:  # the number YAML made of it is not what was written: say so
        assert f"the number {number}" in exc.hint, exc.hint
