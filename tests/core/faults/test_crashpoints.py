"""Kill points: an executor records every point it reaches, and SIGKILLs itself at the one it is told;
the resumed run journals the interrupted step indeterminate and re-checks it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.crashtest import in_step
from harness.engine.crashpoints import CRASH_AT, CRASH_RECORD
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.plan.models import Plan
from harness.testing import FakeAction, fake_actions, fake_inventory, fake_procedure

STEPS = [Step("a@server1", "server1", "fake.do"), Step("b@server2", "server2", "fake.do")]

#: an executor in a process of its own: each step runs two remote commands (`true`) on the local host
_EXECUTOR = textwrap.dedent("""
    import sys
    from pathlib import Path
    from harness.engine.runner import Run
    from harness.engine.step import Step
    from harness.testing import FakeAction, fake_actions, fake_procedure

    def two_commands(ctx):
        for _ in range(2):
            ctx.env.node(ctx.step.node).host.transport.run(["true"]).check()
        return {}

    steps = [Step("a@server1", "server1", "fake.do"), Step("b@server2", "server2", "fake.do")]
    with fake_procedure("fake-proc", steps), fake_actions({"fake.do": FakeAction(observe=two_commands)}):
        run = Run.load(Path(sys.argv[1]), require_started=False)
        run.begin()
        run.run_forward()
""")


@pytest.fixture
def created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": FakeAction()}):
        return Run.create(Plan(procedure="fake-proc", target="inv.yaml"), fake_inventory(), tmp_path / "runs")


def execute(run: Run, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _EXECUTOR, str(run.run_dir)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120, check=False)


def test_an_uninterrupted_run_records_every_kill_point_in_order(created: Run, tmp_path: Path) -> None:
    record = tmp_path / "points"
    assert execute(created, **{CRASH_RECORD: str(record)}).returncode == 0
    per_step = ["before-start", "after-start", "cmd-1", "cmd-2", "after-action", "after-done"]
    assert record.read_text().split() == [f"step:{s}:{p}" for s in ("a@server1", "b@server2") for p in per_step]


@pytest.mark.parametrize("point", ["step:a@server1:cmd-1", "step:b@server2:after-start",
                                   "step:a@server1:after-done"])
def test_the_executor_dies_at_the_point_and_resume_marks_an_interrupted_step(created: Run, point: str) -> None:
    res = execute(created, **{CRASH_AT: point})
    assert res.returncode == -9, res.stderr
    journal = [json.loads(x) for x in (created.run_dir / "journal.jsonl").read_text().splitlines()]
    step = point.split(":")[1]
    last = journal[-1]
    assert last["step"] == step and last["status"] == ("started" if in_step(point) else "ok"), last
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": (do := FakeAction())}):
        again = Run.load(created.run_dir)
        again.begin(resumed=True)
        assert again.run_forward() == Outcome.SUCCESS
    marked = [r["step"] for r in again.journal_records() if r.get("interrupted")]
    assert marked == ([step] if in_step(point) else [])
    redone = [s.id for s in STEPS[[s.id for s in STEPS].index(step) + (0 if in_step(point) else 1):]]
    assert do.ran == redone, "only what had not ended is run again"


def test_crashtest_refuses_a_plan_without_standins(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\ntarget: inventory.yaml\n")
    res = CliRunner().invoke(app, ["crashtest", str(plan), "--workdir", str(tmp_path / "work")])
    assert res.exit_code == 3, res.output
    assert "needs a plan with `standins:`" in res.output
