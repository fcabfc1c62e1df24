"""harness.testing itself: the fake transport, procedures, actions and gates."""

from __future__ import annotations

import sys

import pytest

from harness import registry
from harness.engine.step import Gate, Step, StepStatus
from harness.errors import CommandFailed, ConfigError, GateTimeout, PlanError
from harness.testing import (
    Call,
    FakeAction,
    FakeGate,
    FakeTransport,
    compensations,
    fake_actions,
    fake_inventory,
    fake_procedure,
)
from harness.transports import Transport
from harness.transports.base import CommandResult

# ----- FakeTransport -------------------------------------------------------------------------------


def test_fake_transport_answers_through_its_handler_and_records_calls() -> None:
    seen = []

    def handler(argv, cwd, env):
        seen.append((argv, cwd, env))
        return (0, "abc\n", "") if argv[:2] == ("git", "rev-parse") else (1, "", "nope\n")

    t = FakeTransport(handler, target="fake://h1")
    assert isinstance(t, Transport) and t.NAME == "fake"
    ok = t.run(["git", "rev-parse"], cwd="/opt", env={"A": "1"})
    assert ok == CommandResult(("git", "rev-parse"), 0, "abc\n", "") and ok.target == "fake://h1"
    bad = t.run(["zato", "stop"])
    with pytest.raises(CommandFailed, match=r"fake://h1: zato stop exited 1") as excinfo:
        bad.check()
    assert "nope" in str(excinfo.value)
    assert seen == [(("git", "rev-parse"), "/opt", {"A": "1"}), (("zato", "stop"), None, None)]
    assert t.commands == [("git", "rev-parse"), ("zato", "stop")]
    assert t.calls[0] == Call("run", ("git", "rev-parse"), cwd="/opt", env={"A": "1"})


def test_fake_transport_passes_a_command_result_through() -> None:
    result = CommandResult(("x",), 3, "o", "e", 1.5, "elsewhere")
    assert FakeTransport(lambda argv, cwd, env: result).run(["x"]) is result


def test_fake_transport_without_handler_answers_command_not_found() -> None:
    res = FakeTransport().run(["zato", "--version"])
    assert res.exit_code == 127 and "zato" in res.stderr


def test_fake_transport_files() -> None:
    t = FakeTransport(files={"/a": b"1"})
    assert t.get("/a") == b"1"
    t.put("/b", b"2")
    assert t.files == {"/a": b"1", "/b": b"2"} and t.exists("/b")
    with pytest.raises(FileNotFoundError):
        t.get("/missing")
    assert not t.exists("/missing")
    assert [(c.op, c.path) for c in t.calls] == [("get", "/a"), ("put", "/b"), ("get", "/b"),
                                                  ("get", "/missing"), ("get", "/missing")]
    t.close()
    assert t.closed


# ----- fake procedures, actions, gates -------------------------------------------------------------


def test_fake_registrations_resolve_and_are_removed_afterwards() -> None:
    before = (dict(registry.registry().actions), dict(registry.registry().gates),
              dict(registry.registry().procedures))
    act, gate = FakeAction(skip="done"), FakeGate()
    steps = [Step("s", "n", "fake.do")]
    with fake_procedure("fake-proc", steps) as proc, \
            fake_actions({"fake.do": act}, {"fake.ready": gate}) as mod:
        found = registry.procedure("fake-proc")
        assert found is proc.PROCEDURE and found.steps(None, None, None) == steps
        assert registry.action("fake.do").skip(_ctx("s")) == "done" and act.checked == ["s"]
        assert registry.gate("fake.ready") is gate
        names = (proc.__name__, mod.__name__)
    assert (dict(registry.registry().actions), dict(registry.registry().gates),
            dict(registry.registry().procedures)) == before
    assert not any(n in sys.modules for n in names)
    with pytest.raises(PlanError, match="unknown procedure 'fake-proc'"):
        registry.procedure("fake-proc")
    with pytest.raises(ConfigError, match=r"unknown action 'fake\.do'"):
        registry.action("fake.do")


def test_a_fake_can_shadow_a_real_entry_and_the_real_one_comes_back() -> None:
    fake = FakeAction()
    with fake_actions({"zato.stop": fake}):
        assert registry.registry().actions["zato.stop"][0] != "zato"
        assert registry.action("zato.stop").skip(_ctx("s")) is None and fake.checked == ["s"]
    assert registry.registry().actions["zato.stop"][0] == "zato"


def test_registrations_are_removed_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), fake_procedure("fake-proc", []):
        raise RuntimeError
    assert "fake-proc" not in registry.registry().procedures


def _ctx(step_id: str):
    from harness.engine.actions import StepContext

    step = Step(step_id, "n", "fake.do")
    return StepContext(env=None, plan=None, step=step, observations={})  # type: ignore[arg-type]


def test_fake_action_records_observes_and_raises() -> None:
    act = FakeAction(observe={"before": "x"},
                     raises=lambda ctx: ValueError(ctx.step.id) if ctx.step.id == "b" else None)
    inst = act.instance()
    ctx = _ctx("a")
    assert inst.skip(ctx) is None
    inst.run(ctx)
    assert ctx.observation == {"before": "x"}
    with pytest.raises(ValueError, match="b"):
        inst.run(_ctx("b"))
    assert act.ran == ["a", "b"] and act.checked == ["a"]


def test_fake_gate_times_out_like_a_real_gate() -> None:
    gate = FakeGate(ready=False)
    with pytest.raises(GateTimeout, match=r"n not ready after 0\.05s"):
        gate(_ctx("s"), Gate("fake.ready", 0.05))
    assert gate.polls > 1
    opens = FakeGate(ready=lambda ctx: opens.polls >= 3)
    opens(_ctx("s"), Gate("fake.ready", 5))
    assert opens.polls == 3


def test_default_rollback_compensates_what_ran_in_reverse() -> None:
    done = [(Step("a", "h", "x", compensation="undo.x"), {}, StepStatus.OK),
            (Step("b", "h", "x"), {}, StepStatus.OK),
            (Step("c", "h", "x", compensation="undo.x"), {}, StepStatus.SKIPPED),
            (Step("d", "h", "x", compensation="undo.x"), {}, StepStatus.FAILED)]
    out = compensations(None, None, done)  # type: ignore[arg-type]
    assert [(s.id, s.action, s.args) for s in out] == [("undo@d", "undo.x", {"undoes": "d"}),
                                                        ("undo@a", "undo.x", {"undoes": "a"})]


def test_fake_inventory_is_valid() -> None:
    inv = fake_inventory("e1", ["s1", "s2", "s3"])
    assert inv.environment == "e1" and [c.name for c in inv.by_role("server")] == ["s1", "s2", "s3"]
