"""Kill points: an executor records every point it reaches, and SIGKILLs itself at the one it is told;
the resumed run journals the interrupted step indeterminate and re-checks it."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def test_told_several_points_the_executor_dies_at_the_first_it_reaches(created: Run, tmp_path: Path) -> None:
    record = tmp_path / "points"
    told = ["step:b@server2:cmd-2", "step:a@server1:after-action", "step:nowhere:cmd-1"]
    res = execute(created, **{CRASH_AT: "\n".join(told), CRASH_RECORD: str(record)})
    assert res.returncode == -9, res.stderr
    assert record.read_text().split()[-1] == "step:a@server1:after-action", "it died at the first one reached"


# ---- chains: which kill point a failed chain's end is due to (the splitting logic alone) -------------

def _chained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, points: list[str],
             fails: Callable[[list[str]], bool], reached: set[str] | None = None, jobs: int = 1,
             lanes: list[Path] | None = None) -> tuple[list[Any], list[list[str]]]:
    """:func:`harness.crashtest.chain` with each environment's chain replaced by a rule: every point of the
    group the chain is given is killed at (in order, those in ``reached``), and its end fails when ``fails``
    says so for the points killed at."""
    from harness import crashtest

    chains: list[list[str]] = []
    both, calls = threading.Barrier(jobs, timeout=30), itertools.count()

    def once(plan_file: Path, group: list[str], ref: Any, workdir: Path,
             timeout: float) -> tuple[list[str], int | None, list[str]]:
        if jobs > 1 and next(calls) < jobs:
            both.wait()  # the first groups run at once, one per lane (a real chain takes seconds)
        killed = [p for p in group if reached is None or p in reached]
        chains.append(killed)
        if lanes is not None:
            lanes.append(workdir)
        return killed, 0, ([f"end state differs after {killed}"] if killed and fails(killed) else [])

    monkeypatch.setattr(crashtest, "_chain_once", once)
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\nstandins: {product: zato, servers: 1, backend: process}\n")
    ref = crashtest.Reference(points, 0, {}, {}, 0.0)
    return crashtest.chain(plan, points, ref, tmp_path, jobs=jobs), chains


POINTS = [f"step:s{i}:after-done" for i in range(8)]


def test_a_chain_that_ends_right_is_every_point_survived_in_one_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    results, chains = _chained(monkeypatch, tmp_path, POINTS, lambda killed: False)
    assert [r.point for r in results] == POINTS and all(r.survived for r in results)
    assert chains == [POINTS], "one environment for all of them"


def test_a_failed_chain_is_split_down_to_the_point_that_fails_alone(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    bad = POINTS[5]
    results, chains = _chained(monkeypatch, tmp_path, POINTS, lambda killed: bad in killed)
    assert [r.point for r in results if not r.survived] == [bad]
    assert [bad] in chains and len(chains) <= 1 + 2 * 3, "halved, log2(8) levels"
    assert next(r for r in results if r.point == bad).problems


def test_kills_that_fail_only_together_are_the_chains_failure_with_its_replay(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    a, b = POINTS[1], POINTS[6]  # a crash during the recovery from an earlier crash
    results, _ = _chained(monkeypatch, tmp_path, POINTS, lambda killed: a in killed and b in killed)
    failed = [r for r in results if not r.survived]
    assert len(failed) == 1 and failed[0].replay == POINTS, failed
    assert "a crash during recovery" in failed[0].problems[0]


def test_points_a_chain_does_not_reach_get_an_environment_of_their_own(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    results, chains = _chained(monkeypatch, tmp_path, POINTS, lambda killed: False, reached=set(POINTS[:3]))
    assert chains[0] == POINTS[:3] and chains[1] == [], "the rest was tried from the start again"
    assert [r.reached for r in results] == [True] * 3 + [False] * 5


def test_chains_in_two_lanes_judge_every_point_as_one_lane_does(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    bad = POINTS[5]
    lanes: list[Path] = []
    results, chains = _chained(monkeypatch, tmp_path, POINTS, lambda killed: bad in killed, jobs=2, lanes=lanes)
    assert [r.point for r in results] == POINTS
    assert [r.point for r in results if not r.survived] == [bad]
    assert POINTS[:4] in chains and POINTS[4:] in chains, "two consecutive parts, one per lane"
    assert {p.name for p in lanes} == {"lane0", "lane1"}, "each lane on environments of its own"
    alone, _ = _chained(monkeypatch, tmp_path, POINTS, lambda killed: bad in killed)
    assert [(r.point, r.survived, r.reached) for r in alone] == [(r.point, r.survived, r.reached) for r in results]


#: a parallel stage of three lanes (a, b, c; two steps each), then two sequential steps
STAGE = {f"{step}@{node}": (0, node) for node in "abc" for step in ("pull", "install")}
STAGED = ([f"step:{step}@{node}:{mark}" for step in ("pull", "install") for mark in ("after-start", "cmd-1")
           for node in "abc"] + [f"step:{s}:after-done" for s in ("stop@x", "start@x")])


def test_each_first_chain_holds_one_lane_of_a_parallel_stage_and_a_part_of_the_rest() -> None:
    from harness.crashtest import groups

    lane = {n: [p for p in STAGED if f"@{n}:" in p] for n in "abc"}
    after = STAGED[-2:]
    assert groups(STAGED, STAGE, 1) == [lane["a"] + after, lane["b"], lane["c"]]
    assert groups(STAGED, STAGE, 2) == [lane["a"] + after[:1], lane["b"] + after[1:], lane["c"]]
    assert groups(POINTS, {}, 2) == [POINTS[:4], POINTS[4:]], "no parallel stage: consecutive parts"
    assert sorted(p for g in groups(STAGED, STAGE, 3) for p in g) == sorted(STAGED), "every point, once"


def test_the_lanes_of_a_plan_are_its_parallel_stages_nodes(tmp_path: Path) -> None:
    from harness.crashtest import lanes_of

    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-update\nparams: {revision: 3.2.1}\n"
                    "standins: {product: zato, servers: 3, backend: process}\n")
    lanes = lanes_of(plan)
    assert {node for _, node in lanes.values()} == {"vm-web-admin", "vm-server1", "vm-server2", "vm-server3",
                                                    "vm-load-balancer", "vm-scheduler"}
    assert lanes["pull@vm-server2"] == lanes["install@vm-server2"] and "stop@server1" not in lanes


def test_a_parallel_stage_costs_an_environment_a_lane_not_one_a_point(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """As a real chain does: when the executor dies in one lane of a stage, each other lane finishes the step it
    is in meanwhile (its command runs on), and the resume finds that step done: its points left are not
    reached in that environment."""
    from harness import crashtest

    chains: list[list[str]] = []
    at = {p: i for i, p in enumerate(STAGED)}  # the order the uninterrupted run reached them in

    def step(point: str) -> str:
        return point.split(":")[1]

    def once(plan_file: Path, group: list[str], ref: Any, workdir: Path,
             timeout: float) -> tuple[list[str], int | None, list[str]]:
        killed: list[str] = []
        finished: set[str] = set()
        for p in group:
            if p in finished:
                continue
            killed.append(p)
            for lane in {lane for lane in STAGE.values() if step(p) in STAGE and lane != STAGE[step(p)]}:
                before = [q for q in STAGED[:at[p]] if STAGE.get(step(q)) == lane]
                if before:  # that lane was in this step: it ran to its end while this executor died
                    finished |= {q for q in STAGED[at[p]:] if step(q) == step(before[-1])}
        chains.append(killed)
        return killed, 0, []

    monkeypatch.setattr(crashtest, "_chain_once", once)
    monkeypatch.setattr(crashtest, "lanes_of", lambda plan_file: STAGE)
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\nstandins: {product: zato, servers: 1, backend: process}\n")
    results = crashtest.chain(plan, STAGED, crashtest.Reference(STAGED, 0, {}, {}, 0.0), tmp_path)
    assert [r.point for r in results] == STAGED and all(r.survived for r in results)
    assert len(chains) == 3, f"one environment a lane: {chains}"


def test_a_lane_whose_environment_cannot_start_stops_every_lane_and_is_raised(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    from harness import crashtest
    from harness.errors import SetupFailed

    started: list[list[str]] = []
    both = threading.Barrier(2, timeout=30)

    def once(plan_file: Path, group: list[str], ref: Any, workdir: Path,
             timeout: float) -> tuple[list[str], int | None, list[str]]:
        started.append(group)
        if len(started) <= 2:
            both.wait()  # both lanes have taken their first part
        if workdir.name == "lane1":
            raise SetupFailed("stand-ins could not start")
        return group, 0, []

    monkeypatch.setattr(crashtest, "_chain_once", once)
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\nstandins: {product: zato, servers: 1, backend: process}\n")
    with pytest.raises(SetupFailed, match="could not start"):
        crashtest.chain(plan, POINTS, crashtest.Reference(POINTS, 0, {}, {}, 0.0), tmp_path, jobs=2)
    assert len(started) <= 3, "lane0 may finish its part; nothing more is started"


def test_crashtest_refuses_a_plan_without_standins(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-restart\ntarget: inventory.yaml\n")
    res = CliRunner().invoke(app, ["crashtest", str(plan), "--workdir", str(tmp_path / "work")])
    assert res.exit_code == 3, res.output
    assert "needs a plan with `standins:`" in res.output


def test_a_differing_digest_names_only_the_sub_keys_that_differ() -> None:
    from harness.crashtest import _diff

    want = {"files": {"a": "1", "b": "2", "c": "3"}, "version": "3.2.1", "same": 1}
    got = {"files": {"a": "1", "b": "X", "d": "4"}, "version": "3.2.0", "same": 1}
    assert _diff("end state", want, got) == [
        "end state: files: b: 'X', uninterrupted '2'", "end state: files: c: None, uninterrupted '3'",
        "end state: files: d: '4', uninterrupted None", "end state: version: '3.2.0', uninterrupted '3.2.1'"]
