"""The reviewed plan's core (issue 12), with no product: how facts and steps are compared, that facts are read
through the read-only transport (a facts function that writes is refused before it reaches the node), and
that a reviewed plan's own facts (the plan and inventory digests) refuse a run when a file changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.cli.jsonout import StepOut
from harness.cli.reviewed import LOCAL, Difference, compare, compare_steps, load
from harness.engine.step import Step
from harness.environment import Environment
from harness.errors import ConfigError
from harness.plan.models import Plan
from harness.testing import FakeAction, FakeGate, fake_actions, fake_inventory, fake_procedure


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_equal_facts_give_no_difference() -> None:
    facts = {"vm1": {"version": "3.2.0", "rev": "abc"}, LOCAL: {"plan sha256": "1"}}
    assert compare(facts, json.loads(json.dumps(facts))) == []


def test_every_changed_missing_or_new_fact_is_one_difference_in_node_and_fact_order() -> None:
    reviewed = {"vm2": {"version": "3.2.0", "rev": "abc"}, "vm1": {"version": "3.2.0"}, "gone": {"x": "1"}}
    current = {"vm1": {"version": "3.2.1"}, "vm2": {"version": "3.2.0", "md5": "f0"}, "new": {"y": "2"}}
    assert compare(reviewed, current) == [
        Difference("gone", "x", "1", None),
        Difference("new", "y", None, "2"),
        Difference("vm1", "version", "3.2.0", "3.2.1"),
        Difference("vm2", "md5", None, "f0"),
        Difference("vm2", "rev", "abc", None),
    ]
    assert str(Difference("vm2", "rev", "abc", None)) == "node vm2: rev: reviewed abc, now (absent)"


def _out(i: int, sid: str, node: str, desc: str = "") -> StepOut:
    return StepOut(index=i, id=sid, node=node, action="a", description=desc)


def test_steps_differ_where_a_step_changed_or_was_added_or_removed() -> None:
    a = [_out(1, "s1@n1", "n1"), _out(2, "s2@n2", "n2", "old")]
    assert compare_steps(a, list(a)) == []
    b = [_out(1, "s1@n1", "n1"), _out(2, "s2@n2", "n2", "new"), _out(3, "s3@n3", "n3")]
    assert compare_steps(a, b) == [Difference("n2", "step 2", "s2@n2 (old)", "s2@n2 (new)"),
                                   Difference("n3", "step 3", None, "s3@n3 ()")]
    assert compare_steps(b, a)[-1] == Difference("n3", "step 3", "s3@n3 ()", None)


STEPS = [Step("a@host1", "host1", "fake.do", description="first"), Step("b@server1", "server1", "fake.do")]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump(fake_inventory(environment=f"rv-{tmp_path.name[-12:]}".replace("_", "-"),
                                                 root=str(tmp_path)).model_dump(mode="json")))
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    return plan, inv


@pytest.fixture
def do() -> Iterator[FakeAction]:
    action = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": action}, {"fake.ready": FakeGate()}):
        yield action


def test_a_plan_edited_after_the_review_is_refused_with_exit_8_before_anything_runs(
        files: tuple[Path, Path], tmp_path: Path, do: FakeAction) -> None:
    plan, inv = files
    assert invoke("plan", plan, "--out", tmp_path / "r.json").exit_code == 0
    doc = load(tmp_path / "r.json")
    assert set(doc.facts) == {LOCAL} and doc.inventory == str(inv.resolve())
    inv.write_text(inv.read_text() + "\n# edited\n")
    res = invoke("run", tmp_path / "r.json")
    assert res.exit_code == 8, res.output
    assert "node local: inventory sha256: reviewed" in " ".join(res.output.split())
    assert do.ran == [] and not (tmp_path / "runs").exists()


def test_an_unchanged_reviewed_plan_runs_and_journals_the_saved_steps(
        files: tuple[Path, Path], tmp_path: Path, do: FakeAction) -> None:
    plan, _ = files
    assert invoke("plan", plan, "--out", tmp_path / "r.json").exit_code == 0
    res = invoke("run", tmp_path / "r.json", "--json")
    assert res.exit_code == 0, res.output
    assert [s["id"] for s in json.loads(res.stdout)["steps"]] == [s.id for s in STEPS]
    assert do.ran == [s.id for s in STEPS]


@pytest.mark.parametrize("how", ["put", "rm"])
def test_facts_are_read_through_the_read_only_transport(files: tuple[Path, Path], tmp_path: Path,
                                                        how: str) -> None:
    plan, _ = files
    victim = tmp_path / "victim"
    victim.write_text("keep me")

    def writes(env: Environment, p: Plan) -> dict[str, dict[str, str]]:
        t = env.hosts["host1"].transport
        if how == "put":
            t.put(str(victim), b"changed")
        else:
            t.run(["rm", "-f", str(victim)])
        return {"host1": {"x": "1"}}

    with fake_procedure("fake-proc", STEPS, facts_fn=writes), fake_actions({"fake.do": FakeAction()}):
        res = invoke("plan", plan, "--out", tmp_path / "r.json")
    assert res.exit_code == 4, res.output
    assert "the facts of a reviewed plan refused" in res.output and "nothing was changed on any node" in res.output
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "r.json").exists()


def test_load_names_the_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the reviewed plan") as exc:
        load(tmp_path / "nope.json")
    assert exc.value.file == str(tmp_path / "nope.json")
