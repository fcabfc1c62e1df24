"""`harness plan|run|resume|status` end to end, in-process, on a fake procedure and on zato-update."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.cli.run import run_cmd
from harness.engine.lock import LeaseLock
from harness.engine.status import EXIT_CODES, Outcome
from harness.engine.step import Step
from harness.errors import StepFailed, TransportError
from harness.testing import FakeAction, FakeGate, fake_actions, fake_inventory, fake_procedure

STEPS = [Step("a@host1", "host1", "fake.do", compensation="fake.do", description="first thing"),
         Step("b@server1", "server1", "fake.do", compensation="fake.do", description="second thing")]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; long tmp paths would be folded mid-word."""
    from harness.cli import _render

    monkeypatch.setattr(_render.console, "_width", 1000)
    monkeypatch.setattr(_render.err, "_width", 1000)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def write_inventory(path: Path, **changes: object) -> Path:
    data = fake_inventory().model_dump(mode="json")
    data["hosts"][0].update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def do() -> Iterator[FakeAction]:
    action = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": action}, {"fake.ready": FakeGate()}):
        yield action


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    write_inventory(tmp_path / "inv.yaml")
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    return path


def run_dirs(root: Path) -> list[Path]:
    runs = root / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


def test_plan_prints_the_steps_and_touches_nothing(do: FakeAction, plan_file: Path,
                                                    isolated_dirs: Path) -> None:
    result = invoke("plan", plan_file)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())  # rich wraps the title to the table's width
    assert flat.startswith("fake-proc on inventory") and "2 steps" in flat
    assert result.stdout.index("a@host1") < result.stdout.index("b@server1")
    assert "first thing" in result.stdout
    assert do.checked == [] and do.ran == []
    assert not (isolated_dirs / "runs").exists() and not (isolated_dirs / "state").exists()


def test_plan_of_zato_update_lists_the_documented_order(tmp_path: Path, isolated_dirs: Path) -> None:
    inv = fake_inventory(components=("server1", "server2")).model_dump(mode="json")
    inv["components"].insert(0, {"name": "web-admin", "role": "web-admin", "host": "host1",
                                 "path": "/nonexistent/wa", "url": "http://127.0.0.1:18183"})
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(inv))
    (tmp_path / "plan.yaml").write_text("procedure: zato-update\ntarget: inv.yaml\nparams: {revision: v3}\n")
    result = invoke("plan", tmp_path / "plan.yaml")
    assert result.exit_code == 0, result.output
    ids = re.findall(r"\b((?:pull|install|stop|start)@[\w-]+)", result.stdout)
    assert ids == ["pull@host1", "install@host1", "stop@web-admin", "start@web-admin",
                   "stop@server1", "start@server1", "stop@server2", "start@server2"]
    assert not (isolated_dirs / "runs").exists()


def test_run_with_a_bad_field_is_refused_with_file_and_line(tmp_path: Path, isolated_dirs: Path) -> None:
    (tmp_path / "plan.yaml").write_text("procedure: zato-update\ntarget: inv.yaml\nrolback: never\n")
    result = invoke("run", tmp_path / "plan.yaml")
    assert result.exit_code == EXIT_CODES[Outcome.REFUSED] == 4
    assert f"{tmp_path / 'plan.yaml'}:3:" in result.stderr and "rolback" in result.stderr
    assert "nothing was changed" in result.stderr
    assert run_dirs(isolated_dirs) == []


def test_run_with_a_missing_install_dir_is_refused_and_changes_nothing(tmp_path: Path,
                                                                       isolated_dirs: Path) -> None:
    write_inventory(tmp_path / "inv.yaml", install_dir=str(tmp_path / "missing"))
    (tmp_path / "plan.yaml").write_text("procedure: zato-update\ntarget: inv.yaml\n")
    result = invoke("run", tmp_path / "plan.yaml")
    assert result.exit_code == 4, result.output
    assert "install dir" in result.stderr and "nothing was changed" in result.stderr
    assert not (tmp_path / "missing").exists()
    assert LeaseLock.for_inventory(fake_inventory(), "x").current() is None
    [run_dir] = run_dirs(isolated_dirs)
    # the refused run is over: resume does not run it with its precheck skipped
    again = invoke("resume", run_dir)
    assert again.exit_code == 4 and "already finished: refused" in again.stdout


def test_run_while_the_environment_is_locked_exits_5(do: FakeAction, plan_file: Path) -> None:
    with LeaseLock.for_inventory(fake_inventory(), "another-run", ttl=30):
        result = invoke("run", plan_file)
    assert result.exit_code == EXIT_CODES[Outcome.LOCKED] == 5
    assert "LOCKED" in result.stderr and "another-run" in result.stderr
    assert do.checked == []


@pytest.mark.parametrize(("raises", "rollback", "outcome"), [
    (None, "auto", Outcome.SUCCESS),
    (StepFailed("b@server1", "boom"), "never", Outcome.FAILED),
    (StepFailed("b@server1", "boom"), "auto", Outcome.ROLLED_BACK),
    (TransportError("lost"), "never", Outcome.INDETERMINATE),
])
def test_run_exit_code_follows_the_outcome(do: FakeAction, plan_file: Path, isolated_dirs: Path,
                                           raises: Exception | None, rollback: str, outcome: Outcome) -> None:
    plan_file.write_text(plan_file.read_text() + f"rollback: {rollback}\n")
    do.raises = (lambda ctx: raises if ctx.step.id == "b@server1" else None) if raises else None
    result = invoke("run", plan_file)
    assert result.exit_code == EXIT_CODES[outcome], result.output
    assert f"{outcome.value.upper()} (exit {EXIT_CODES[outcome]})" in result.stdout
    [run_dir] = run_dirs(isolated_dirs)
    assert f"journal: {run_dir / 'journal.jsonl'}" in result.stdout


def test_status_shows_each_steps_status_and_the_outcome(do: FakeAction, plan_file: Path,
                                                         isolated_dirs: Path) -> None:
    do.skip = lambda ctx: "nothing to do" if ctx.step.id == "a@host1" else None
    assert invoke("run", plan_file).exit_code == 0
    [run_dir] = run_dirs(isolated_dirs)
    result = invoke("status", run_dir)
    assert result.exit_code == 0, result.output
    assert re.search(r"a@host1 .* skipped", result.stdout) and re.search(r"b@server1 .* ok", result.stdout)
    assert "outcome: success" in result.stdout
    again = invoke("resume", run_dir)
    assert again.exit_code == 0 and "already finished: success" in again.stdout
    assert do.ran == ["b@server1"]


def test_status_of_an_unfinished_run_says_so(do: FakeAction, plan_file: Path, isolated_dirs: Path) -> None:
    from harness.engine.runner import Run
    from harness.plan import load_plan

    run = Run.create(load_plan(plan_file), fake_inventory(), isolated_dirs / "runs")
    result = invoke("status", run.run_dir)
    assert result.exit_code == EXIT_CODES[Outcome.INDETERMINATE] == 6  # not finished: resume or roll back
    assert "pending" in result.stdout and "not finished (resume it)" in result.stdout


def test_status_of_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = invoke("status", tmp_path)
    assert result.exit_code == 4 and "not a run directory" in result.stderr


def test_exit_codes_match_the_documented_table() -> None:
    documented = {"success": 0, "failed": 1, "rolled back": 3, "refused": 4, "locked": 5, "indeterminate": 6}
    assert {o.value.replace("_", " "): code for o, code in EXIT_CODES.items()} == documented
    assert set(EXIT_CODES) == set(Outcome)
    assert 2 not in EXIT_CODES.values()  # click's usage error
    doc = re.search(r"Exit code: (.*)\.", run_cmd.__doc__ or "")
    assert doc is not None
    # and a reviewed plan whose facts changed (harness plan --out): refused before any lock, not a run outcome
    assert {w.split(" ", 1)[1]: int(w.split(" ", 1)[0]) for w in doc[1].split(", ")} == {**documented, "stale": 8}
