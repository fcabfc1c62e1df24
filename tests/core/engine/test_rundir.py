"""A run directory is trusted only after it is checked: ``harness resume``, ``rollback`` and ``status`` refuse
an edited or damaged one with exit 4 and a message naming the file (and line or step), never a traceback,
and run nothing from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.engine.runner import Run
from harness.engine.step import Step
from harness.plan.models import Plan
from harness.testing import FakeAction, abandon, fake_actions, fake_inventory, fake_procedure

STEPS = [Step("a@server1", "server1", "fake.do"), Step("b@server1", "server1", "fake.do"),
         Step("c@server2", "server2", "fake.do")]


@pytest.fixture
def do(isolated_dirs: Path) -> Iterator[FakeAction]:
    action = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": action}):
        yield action


def _interrupted(isolated_dirs: Path) -> Run:
    """A run whose executor died after the first step, as a kill would leave it."""
    run = Run.create(Plan(procedure="fake-proc"), fake_inventory(), isolated_dirs / "runs")
    run.begin()
    run.execute_step(run.steps[0])
    abandon(run)
    return run


def _resume(run_dir: Path) -> Result:
    return CliRunner().invoke(app, ["resume", str(run_dir)])


def _refused(result: Result, *words: str) -> str:
    out = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 4, out
    assert result.exception is None or isinstance(result.exception, SystemExit), "a traceback, not a message"
    for w in words:
        assert w in out, (w, out)
    return out


def test_an_intact_run_directory_resumes(do: FakeAction, isolated_dirs: Path) -> None:
    run = _interrupted(isolated_dirs)
    result = _resume(run.run_dir)
    assert result.exit_code == 0, result.output
    assert do.ran == ["a@server1", "b@server1", "c@server2"]


@pytest.mark.parametrize("edit", ["inject", "swap"])
def test_an_edited_steps_file_is_refused_naming_the_difference(do: FakeAction, isolated_dirs: Path,
                                                               edit: str) -> None:
    run = _interrupted(isolated_dirs)
    path = run.run_dir / "steps.json"
    steps = json.loads(path.read_text())
    if edit == "inject":
        steps.insert(1, {**steps[1], "id": "stop@server9", "node": "server2"})
    else:
        steps[1], steps[2] = steps[2], steps[1]
    path.write_text(json.dumps(steps))
    _refused(_resume(run.run_dir), "steps.json: step 2 is", "nothing was run")
    assert do.ran == ["a@server1"], "a step ran from an edited run directory"


@pytest.mark.parametrize(("name", "text", "words"), [
    ("meta.json", "{not json", ["meta.json", "not valid JSON"]),
    ("meta.json", "[1, 2]", ["meta.json"]),
    ("plan.json", '{"procedure": "fake-proc", "rolback": "auto"}', ["plan.json", "rolback"]),
    ("inventory.json", "", ["inventory.json", "not valid JSON"]),
    ("steps.json", '{"a": 1}', ["steps.json", "not a list of steps"]),
    ("steps.json", '[{"id": "a@server1"}]', ["steps.json", "step 0 is not a step"]),
])
def test_an_unreadable_run_file_is_refused_with_exit_4(do: FakeAction, isolated_dirs: Path, name: str, text: str,
                                                       words: list[str]) -> None:
    run = _interrupted(isolated_dirs)
    (run.run_dir / name).write_text(text)
    _refused(_resume(run.run_dir), *words)
    assert do.ran == ["a@server1"]


@pytest.mark.parametrize(("line", "words"), [
    ("this is not json", ["journal line 3", "not a JSON record"]),
    ("[1, 2, 3]", ["journal line 3", "JSON list, not a record"]),
    ('{"ts": 1, "event": "step", "step": "a@server1", "status": "done"}', ["journal line 3", "status 'done'"]),
    ('{"ts": 1, "status": "ok", "step": "a@server1"}', ["journal line 3", "unknown event None"]),
])
def test_a_damaged_journal_line_is_refused_naming_the_line(do: FakeAction, isolated_dirs: Path, line: str,
                                                           words: list[str]) -> None:
    run = _interrupted(isolated_dirs)
    path = run.run_dir / "journal.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], line, *lines[2:]]) + "\n")
    _refused(_resume(run.run_dir), *words)
    status = CliRunner().invoke(app, ["status", str(run.run_dir)])
    assert status.exit_code == 4 and "journal line 3" in " ".join(status.output.split())
    assert do.ran == ["a@server1"]


def test_a_torn_last_line_is_what_a_kill_leaves_and_is_resumed_over(do: FakeAction, isolated_dirs: Path) -> None:
    run = _interrupted(isolated_dirs)
    path = run.run_dir / "journal.jsonl"
    path.write_bytes(path.read_bytes() + b'{"ts": 1, "event": "st')  # killed inside write()
    assert _resume(run.run_dir).exit_code == 0
    assert do.ran == ["a@server1", "b@server1", "c@server2"]


def test_an_emptied_journal_is_refused_not_run_from_the_first_step(do: FakeAction, isolated_dirs: Path) -> None:
    run = _interrupted(isolated_dirs)
    (run.run_dir / "journal.jsonl").write_text("")
    _refused(_resume(run.run_dir), "journal holds no run record")
    assert do.ran == ["a@server1"]


def test_an_unknown_action_in_the_steps_file_is_refused_at_once(do: FakeAction, isolated_dirs: Path) -> None:
    run = _interrupted(isolated_dirs)
    path = run.run_dir / "steps.json"
    steps = json.loads(path.read_text())
    steps[2]["action"] = "fake.format_disk"
    path.write_text(json.dumps(steps))
    _refused(_resume(run.run_dir), "steps.json: step 3 is c@server2", "fake.format_disk")
    assert do.ran == ["a@server1"]


def test_run_files_are_private(do: FakeAction, isolated_dirs: Path) -> None:
    run = _interrupted(isolated_dirs)
    for name in ("meta.json", "plan.json", "inventory.json", "steps.json", "journal.jsonl"):
        assert (run.run_dir / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"
