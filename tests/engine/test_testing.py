"""harness.testing itself, and the engine's registries (every entry resolves)."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from datetime import datetime, timedelta, timezone
from types import ModuleType

import pytest

from harness import procedures
from harness.engine import actions as registry
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import HostHandle
from harness.errors import CommandFailed, ConfigError, GateTimeout, PlanError
from harness.products.zato import state
from harness.products.zato.logs import parse_line, parse_log
from harness.testing import (Call, FakeAction, FakeGate, FakeTransport, LogBuilder, compensations,
                             fake_actions, fake_inventory, fake_procedure, zato_log_line)
from harness.transports import Transport
from harness.transports.base import CommandResult

# ----- FakeTransport -------------------------------------------------------------------------------


def test_fake_transport_answers_through_its_handler_and_records_calls() -> None:
    seen = []

    def handler(argv, cwd, env):  # noqa: ANN001, ANN202
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


def test_fake_transport_drives_product_code() -> None:
    host = HostHandle("h1", FakeTransport(lambda argv, cwd, env: (0, "deadbeef\n", ""),
                                          files={"/opt/zato/.installed/REVISION": b"cafe\n"}), "/opt/zato")
    assert state.head(host) == "deadbeef"
    assert state.installed_revision(host) == "cafe"
    assert isinstance(host.transport, FakeTransport)
    assert host.transport.commands == [("git", "-C", "/opt/zato", "rev-parse", "HEAD")]


# ----- log histories -------------------------------------------------------------------------------


def test_zato_log_line_is_parsed_back() -> None:
    ts = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
    line = zato_log_line(ts, "Started `server1@dev` (pid: 4242)", pid=4242)
    assert line == ("2024-05-01 10:00:00,123 - INFO - 4242:MainThread - zato.server.base.parallel:0 - "
                    "Started `server1@dev` (pid: 4242)")
    event = parse_line(line)
    assert event is not None
    assert (event.ts, event.pid, event.level, event.kind) == (ts, 4242, "INFO", "started")
    assert event.fields == {"server": "server1", "cluster": "dev", "pid": 4242}


def test_zato_log_line_accepts_epoch_seconds() -> None:
    event = parse_line(zato_log_line(0.5, "hello", level="WARNING"))
    assert event is not None and event.ts == datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)
    assert event.level == "WARNING"


def test_log_builder_writes_a_history_at_increasing_times() -> None:
    log = (LogBuilder(pid=7)
           .starting("server", "server1", "3.2.0")
           .sync_internal("server1")
           .started("server1", "dev")
           .advance(10)
           .stopping("server", "server1")
           .stopped("server", "server1", pid=8)
           .boot_failed()
           .raw("Traceback (most recent call last):"))
    events = parse_log(log.text())
    assert [e.kind for e in events] == ["starting", "sync_internal", "sync_internal", "started", "stopping",
                                        "stopped", "boot_failed"]
    assert events[0].fields["version"] == "3.2.0" and events[0].ts == log.start
    assert all(b.ts > a.ts for a, b in zip(events, events[1:]))
    assert events[4].ts - events[3].ts == timedelta(seconds=10.1)
    assert events[5].pid == 8 and events[5].fields["pid"] == 8 and events[0].pid == 7
    assert events[6].level == "ERROR" and events[6].message.endswith("Traceback (most recent call last):")
    assert log.events() == events and str(log) == log.text()


def test_log_builder_custom_gaps() -> None:
    log = LogBuilder(step=1.0).line("a").line("b", after=0.25).ready("web-admin", "wa")
    events = log.events()
    assert [(e.ts - log.start).total_seconds() for e in events] == [0.0, 0.25, 1.25]
    assert events[2].kind == "ready" and log.now == events[2].ts


# ----- fake procedures, actions, gates -------------------------------------------------------------


def test_fake_registrations_resolve_and_are_removed_afterwards() -> None:
    before = (dict(registry.ACTIONS), dict(registry.GATES), dict(procedures.PROCEDURES))
    act, gate = FakeAction(skip="done"), FakeGate()
    steps = [Step("s", "n", "fake.do")]
    with fake_procedure("fake-proc", steps) as proc, \
            fake_actions({"fake.do": act}, {"fake.ready": gate}) as mod:
        assert procedures.procedure_module("fake-proc") is proc
        assert proc.steps(None, None) == steps and proc.NAMES == ("fake-proc",)
        assert registry.action("fake.do").skip(_ctx("s")) == "done" and act.checked == ["s"]
        assert registry.gate("fake.ready") is gate
        names = (proc.__name__, mod.__name__)
    assert (dict(registry.ACTIONS), dict(registry.GATES), dict(procedures.PROCEDURES)) == before
    assert not any(n in sys.modules for n in names)
    with pytest.raises(PlanError, match="unknown procedure 'fake-proc'"):
        procedures.procedure_module("fake-proc")
    with pytest.raises(ConfigError, match="unknown action 'fake.do'"):
        registry.action("fake.do")


def test_a_fake_can_shadow_a_real_entry_and_the_real_one_comes_back() -> None:
    real = registry.ACTIONS["zato.stop"]
    with fake_actions({"zato.stop": FakeAction()}):
        assert registry.ACTIONS["zato.stop"] != real
    assert registry.ACTIONS["zato.stop"] == real


def test_registrations_are_removed_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), fake_procedure("fake-proc", []):
        raise RuntimeError
    assert "fake-proc" not in procedures.PROCEDURES


def _ctx(step_id: str):  # noqa: ANN202
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
    with pytest.raises(GateTimeout, match="n not ready after 0.05s"):
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


# ----- the real registries -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(registry.ACTIONS))
def test_every_action_resolves_to_an_action(name: str) -> None:
    act = registry.action(name)
    assert callable(act.skip) and callable(act.run)


@pytest.mark.parametrize("name", sorted(registry.GATES))
def test_every_gate_resolves_to_a_callable(name: str) -> None:
    fn = registry.gate(name)
    assert callable(fn) and list(inspect.signature(fn).parameters) == ["ctx", "gate"]


@pytest.mark.parametrize("name", sorted(procedures.PROCEDURES))
def test_every_procedure_resolves_to_a_module_implementing_it(name: str) -> None:
    mod = procedures.procedure_module(name)
    assert isinstance(mod, ModuleType) and name in mod.NAMES
    for fn in ("steps", "precheck", "rollback_steps"):
        assert callable(getattr(mod, fn)), f"{mod.__name__} lacks {fn}()"


EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def _example_procedures() -> dict[str, Path]:
    import yaml

    out: dict[str, Path] = {}
    for path in EXAMPLES:
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "procedure" in doc:
            out.setdefault(doc["procedure"], path)
    return out


def test_every_procedure_has_an_example_plan() -> None:
    missing = set(procedures.PROCEDURES) - set(_example_procedures())
    assert not missing, f"add a plan under examples/ for: {', '.join(sorted(missing))}"


@pytest.mark.parametrize("name", sorted(procedures.PROCEDURES))
def test_every_action_a_procedure_plans_is_registered(name: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Planned (not run) from its example plan: the steps and the rollback of every step done."""
    from harness.engine.session import PlanSession

    monkeypatch.setenv("HARNESS_STANDINS_DIR", str(tmp_path))
    example = _example_procedures().get(name)
    if example is None:
        pytest.fail(f"no example plan for {name} under examples/")
    session = PlanSession(example)
    inv = session.planned_inventory()
    mod = procedures.procedure_module(name)
    steps = mod.steps(session.plan, inv)
    done = [(s, {"before": "0" * 40, "images": {"m": "x"}}, StepStatus.OK) for s in steps]
    for s in steps + mod.rollback_steps(session.plan, inv, done):
        assert s.action in registry.ACTIONS, f"{name}: step {s.id} uses unregistered action {s.action}"
        assert s.compensation is None or s.compensation in registry.ACTIONS
        assert s.gate is None or s.gate.kind in registry.GATES
