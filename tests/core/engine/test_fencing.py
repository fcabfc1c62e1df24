"""Two executors on one environment, with real processes: a paused holder that is continued after another
executor took over its lease runs no command and writes no journal line (fencing by lease generation)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.engine.lock import LeaseLock
from harness.engine.runner import Run
from harness.engine.step import Step
from harness.testing import FakeAction, fake_actions, fake_inventory, fake_procedure
from harness.wait import wait_until

STEPS = [Step("a@host1", "host1", "fake.do"), Step("b@host1", "host1", "fake.do"),
         Step("c@host1", "host1", "fake.do")]

# An executor: each step's action writes "<pid> <step> entered" to a marker file, waits a little in step b
# (long enough to be paused there), then appends "<pid> <step> ran" through the host's transport.
_EXECUTOR = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from harness.engine.runner import Run
    from harness.engine.step import Step
    from harness.errors import LeaseLost
    from harness.testing import FakeAction, FakeGate, fake_actions, fake_procedure

    run_dir, marker, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    steps = [Step.from_dict(d) for d in json.loads((run_dir / "steps.json").read_text())]

    def act(ctx):
        with open(marker, "a") as f:
            f.write(f"{os.getpid()} {ctx.step.id} entered\\n")
        if ctx.step.id == "b@host1" and mode == "first":
            time.sleep(2.0)  # the test pauses this executor here, and continues it after the take-over
        t = ctx.env.hosts["host1"].transport
        t.run(["sh", "-c", 'echo "$1 $2 ran" >> "$3"', "sh", str(os.getpid()), ctx.step.id, marker]).check()
        return None

    with fake_procedure("fake-proc", steps), \\
            fake_actions({"fake.do": FakeAction(raises=act)}, {"fake.ready": FakeGate()}):
        run = Run.load(run_dir, require_started=(mode != "first"))
        try:
            run.begin(resumed=(mode != "first"))
            print(run.run_forward().value, flush=True)
        except LeaseLost as exc:
            run.abandon()
            print("lost:", exc, flush=True)
            sys.exit(6)
""")


def _executor(run_dir: Path, marker: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _EXECUTOR, str(run_dir), str(marker), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})


def test_a_paused_holder_continued_after_a_take_over_changes_nothing(tmp_path: Path) -> None:
    from harness.plan.models import Plan

    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": FakeAction()}):
        run = Run.create(Plan(procedure="fake-proc", lock_ttl=1.0), fake_inventory(), tmp_path / "runs")
    marker = tmp_path / "marker.txt"
    first = _executor(run.run_dir, marker, "first")
    try:
        wait_until(lambda: marker.exists() and "b@host1 entered" in marker.read_text(), timeout=30,
                   what="the first executor inside step b")
        os.kill(first.pid, signal.SIGSTOP)
        journal = run.run_dir / "journal.jsonl"
        # the paused executor's lease runs out (TTL 1 s); a resume takes it over and finishes the run
        lease = LeaseLock.for_inventory(fake_inventory(), "observer")
        wait_until(lambda: (cur := lease.current()) is not None and cur.expires < time.time(), timeout=30,
                   what="the paused executor's lease to expire")
        second = _executor(run.run_dir, marker, "resume")
        out, errs = second.communicate(timeout=60)
        assert second.returncode == 0 and out.strip() == "success", out + errs
        lines_after_resume = journal.read_text().splitlines()
        os.kill(first.pid, signal.SIGCONT)
        out, errs = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGCONT)
            first.kill()
            first.wait()
    assert first.returncode == 6 and out.startswith("lost:"), out + errs
    assert journal.read_text().splitlines() == lines_after_resume, "the fenced executor wrote a journal line"
    ran = [line.split() for line in marker.read_text().splitlines() if line.endswith(" ran")]
    assert [(int(pid), step) for pid, step, _ in ran if int(pid) == first.pid] == [(first.pid, "a@host1")], \
        "the paused executor ran a command after it lost its lease"
    assert [step for pid, step, _ in ran if int(pid) == second.pid] == ["b@host1", "c@host1"]
    records = [json.loads(line) for line in lines_after_resume]
    assert [r["outcome"] for r in records if r["event"] == "run" and r["status"] == "finished"] == ["success"]
