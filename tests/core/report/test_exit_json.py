"""One exit-code table; `status` exits with the run's outcome; `--json` on plan, run and status, validated
against the JSON Schema `harness schema output` prints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.engine.status import EXIT_CODES, Outcome
from harness.engine.step import Step
from harness.errors import EXIT_TABLE, ExitCode, StepFailed, TransportError
from harness.net import free_ports
from harness.testing import FakeAction, FakeGate, fake_actions, fake_inventory, fake_procedure

README = Path(__file__).resolve().parents[3] / "README.md"
STEPS = [Step("a@host1", "host1", "fake.do", compensation="fake.do", description="first thing"),
         Step("b@server1", "server1", "fake.do", compensation="fake.do", description="second thing",
              parallel="p"),
         Step("c@server2", "server2", "fake.do", compensation="fake.do", parallel="p")]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def do() -> Iterator[FakeAction]:
    action = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": action}, {"fake.ready": FakeGate()}):
        yield action


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(fake_inventory().model_dump(mode="json")))
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    return path


def schema(kind: str) -> dict[str, object]:
    result = invoke("schema", "output")
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)[kind]
    return doc


def test_the_readme_table_is_the_exit_code_table() -> None:
    text = README.read_text()
    section = text[text.index("### Exit codes (every command)"):]
    rows = re.findall(r"^\| (\d+)\+? \| (\w+) \|", section[:section.index("\n\n", section.index("| code"))], re.M)
    assert [(int(c), n) for c, n in rows] == [(int(c), c.name.lower()) for c in EXIT_TABLE]
    assert set(EXIT_TABLE) == set(ExitCode)
    # every outcome of a run has the code of its name, and none is click's usage error
    assert all(EXIT_CODES[o] == ExitCode[o.name] for o in Outcome)
    assert ExitCode.USAGE not in EXIT_CODES.values()
    assert json.loads(invoke("schema", "output").stdout)["exit_codes"] == {c.name.lower(): int(c) for c in ExitCode}


def test_patch_unreachable_is_7_not_rolled_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.products.beam.status import EXIT_UNREACHABLE

    [port] = free_ports(1)  # nothing listens there: the service is unreachable
    monkeypatch.setenv("HARNESS_PATCH_PASSWORD", "p")  # never on the command line (issue 18, item 10)
    result = invoke("patch", "check", "--master", f"http://127.0.0.1:{port}", "--user", "u")
    assert result.exit_code == EXIT_UNREACHABLE == ExitCode.UNREACHABLE == 7, result.output
    assert result.exit_code != EXIT_CODES[Outcome.ROLLED_BACK]


@pytest.mark.parametrize(("raises", "rollback", "outcome"), [
    (None, "auto", Outcome.SUCCESS),
    (StepFailed("b@server1", "boom"), "never", Outcome.FAILED),
    (StepFailed("b@server1", "boom"), "auto", Outcome.ROLLED_BACK),
    (TransportError("lost"), "never", Outcome.INDETERMINATE),
])
def test_run_and_status_json_and_status_exit_with_the_outcome(do: FakeAction, plan_file: Path,
                                                              isolated_dirs: Path, raises: Exception | None,
                                                              rollback: str, outcome: Outcome) -> None:
    plan_file.write_text(plan_file.read_text() + f"rollback: {rollback}\n")
    do.raises = (lambda ctx: raises if ctx.step.id == "b@server1" else None) if raises else None
    run = invoke("run", plan_file, "--json")
    assert run.exit_code == EXIT_CODES[outcome], run.output
    doc = json.loads(run.stdout)  # stdout is the document alone: progress went to stderr
    jsonschema.validate(doc, schema("run"))
    assert doc["outcome"] == outcome.value and doc["exit_code"] == EXIT_CODES[outcome]
    assert [s["id"] for s in doc["steps"]] == [s.id for s in STEPS]
    assert doc["steps"][0]["status"] == "ok"
    if raises is not None:
        assert doc["steps"][1]["status"] == ("failed" if isinstance(raises, StepFailed) else "indeterminate")
    assert doc["report"], run.stderr  # why the report was not written is said on stderr
    assert Path(doc["report"]).is_file() and Path(doc["journal"]).is_file()
    assert "[1/3]" in run.stderr

    status = invoke("status", doc["run_dir"], "--json")
    assert status.exit_code == EXIT_CODES[outcome]
    again = json.loads(status.stdout)
    jsonschema.validate(again, schema("status"))
    assert again["outcome"] == doc["outcome"] and again["steps"] == doc["steps"]
    plain = invoke("status", doc["run_dir"])
    assert plain.exit_code == EXIT_CODES[outcome] and f"(exit {EXIT_CODES[outcome]})" in plain.stdout


def test_plan_json_lists_the_steps_and_touches_nothing(do: FakeAction, plan_file: Path, isolated_dirs: Path) -> None:
    result = invoke("plan", plan_file, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema("plan"))
    assert doc["schema"] == "harness.plan/1" and doc["procedure"] == "fake-proc"
    assert [(s["index"], s["id"], s["node"], s["stage"]) for s in doc["steps"]] == [
        (1, "a@host1", "host1", None), (2, "b@server1", "server1", "p"), (3, "c@server2", "server2", "p")]
    assert do.ran == [] and not (isolated_dirs / "runs").exists()


def test_a_refused_run_prints_json_naming_the_error(tmp_path: Path, isolated_dirs: Path) -> None:
    (tmp_path / "plan.yaml").write_text("procedure: zato-update\ntarget: inv.yaml\nrolback: never\n")
    result = invoke("run", tmp_path / "plan.yaml", "--json")
    assert result.exit_code == ExitCode.REFUSED
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema("run"))
    assert doc["outcome"] == "refused" and doc["run_id"] is None and "rolback" in doc["error"]
    assert not (isolated_dirs / "runs").exists()
