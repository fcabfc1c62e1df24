"""The pytest plugin on its own: a plan file becomes one item per step; JUnit and Allure show the run."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLAN = "procedure: zato-update\nstandins: {product: zato, servers: %d, backend: process}\nparams: {revision: '3.2.1'}\n"


@pytest.fixture
def isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var, sub in (("HARNESS_STATE_DIR", "state"), ("HARNESS_RUNS_DIR", "runs"),
                     ("HARNESS_STANDINS_DIR", "standins")):
        monkeypatch.setenv(var, str(pytester.path / sub))
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark\n")
    return pytester


def test_a_plan_file_collects_one_item_per_step(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", plan=PLAN % 3)
    res = isolated.runpytest_subprocess("--collect-only", "-q", "plan.yaml")
    res.stdout.fnmatch_lines(["plan.yaml::pull@vm-web-admin", "plan.yaml::start@server3",
                              "plan.yaml::verify@load-balancer", "25 tests collected*"])
    assert not list((isolated.path / "standins").glob("*")), "collecting starts nothing"


def test_a_bad_plan_is_a_collection_error_naming_file_and_line(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", plan="procedure: zato-update\nstandins: {product: zato, servers: 0}\n")
    res = isolated.runpytest_subprocess("plan.yaml")
    res.stdout.fnmatch_lines(["*plan.yaml:2*greater than or equal to 1*standins.servers*"])
    assert res.ret != 0


def test_a_plans_steps_keep_their_order_under_random_order(isolated: pytest.Pytester) -> None:
    pytest.importorskip("pytest_randomly")
    isolated.makefile(".yaml", plan=PLAN % 3)
    plain = isolated.runpytest_subprocess("--collect-only", "-q", "-p", "no:randomly", "plan.yaml")
    shuffled = isolated.runpytest_subprocess("--collect-only", "-q", "-p", "randomly", "--randomly-seed=7",
                                             "plan.yaml")
    steps = [ln for ln in plain.stdout.lines if ln.startswith("plan.yaml::")]
    assert len(steps) == 25 and steps[0] == "plan.yaml::pull@vm-web-admin"
    assert [ln for ln in shuffled.stdout.lines if ln.startswith("plan.yaml::")] == steps


def test_yaml_that_is_not_a_plan_is_not_collected(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", inventory="environment: x\nhosts: []\ncomponents: []\n")
    isolated.makefile(".yml", plan=PLAN % 1)
    res = isolated.runpytest_subprocess("--collect-only", "-q", ".")
    res.stdout.fnmatch_lines(["17 tests collected*"])
    assert "inventory" not in res.stdout.str()


@pytest.mark.requires_haproxy
def test_running_a_plan_reports_each_step_to_junit_and_allure(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", plan=PLAN % 1)
    res = isolated.runpytest_subprocess("plan.yaml", "--junitxml=junit.xml", "--alluredir=allure",
                                        "-p", "allure_pytest")
    res.assert_outcomes(passed=17)
    cases = ET.parse(isolated.path / "junit.xml").getroot().iter("testcase")
    names = [c.get("name") for c in cases]
    assert names[0] == "pull@vm-web-admin" and names[-1] == "verify@load-balancer" and len(names) == 17
    results = [json.loads(p.read_text()) for p in Path(isolated.path / "allure").glob("*-result.json")]
    assert sorted(r["name"] for r in results) == sorted(names)
    def attachments(node: dict) -> list:  # top level, or inside the Allure steps the plugin opens per executor step
        return list(node.get("attachments") or []) + [a for st in node.get("steps") or [] for a in attachments(st)]

    assert all(r["status"] == "passed" for r in results)
    assert all(any(a["name"].startswith("journal") for a in attachments(r)) for r in results), \
        "each step attaches its journal"
    assert not list((isolated.path / "standins").glob("*/hosts/*/env/*/pidfile")), "stand-ins were torn down"


# ----- one execution path: `harness run` and `pytest PLAN` drive the same stage runner -----------------


def _journal(runs: Path) -> list[dict]:
    (run_dir,) = list(runs.iterdir())
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def _windows(journal: list[dict]) -> dict[str, tuple[float, float]]:
    starts = {r["step"]: r["ts"] for r in journal if r["event"] == "step" and r["status"] == "started"}
    return {r["step"]: (starts[r["step"]], r["ts"]) for r in journal
            if r["event"] == "step" and r["status"] != "started"}


def _overlapping_lanes(windows: dict[str, tuple[float, float]], prefix: tuple[str, ...]) -> bool:
    """Two steps of the code-update stage, on different hosts, ran at the same time."""
    stage = {sid: w for sid, w in windows.items() if sid.startswith(prefix)}
    return any(a.split("@")[1] != b.split("@")[1] and wa[0] < wb[1] and wb[0] < wa[1]
               for a, wa in stage.items() for b, wb in stage.items())


@pytest.mark.requires_haproxy
def test_harness_run_and_pytest_run_the_same_steps_in_the_same_stages(isolated: pytest.Pytester,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from harness.engine.step import Step, stages

    plan = isolated.makefile(".yaml", plan=PLAN % 1)
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(isolated.path / "runs-cli"))
    cli = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(plan)], capture_output=True, text=True,
                         cwd=isolated.path, timeout=300, check=False)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(isolated.path / "runs-pytest"))
    res = isolated.runpytest_subprocess("plan.yaml")
    res.assert_outcomes(passed=17)

    by_cli, by_pytest = _journal(isolated.path / "runs-cli"), _journal(isolated.path / "runs-pytest")
    (run_dir,) = list((isolated.path / "runs-cli").iterdir())
    planned = [Step.from_dict(d) for d in json.loads((run_dir / "steps.json").read_text())]
    want = [[[s.id for s in lane] for lane in stage] for stage in stages(planned)]
    for journal in (by_cli, by_pytest):
        done = [r["step"] for r in journal if r["event"] == "step" and r["status"] == "ok"]
        assert sorted(done) == sorted(s.id for s in planned)
        position = {sid: i for i, sid in enumerate(done)}
        for before, after in itertools.pairwise(want):  # every step of a stage ends before the next stage's
            assert max(position[s] for lane in before for s in lane) < min(position[s] for lane in after for s in lane)
        assert _overlapping_lanes(_windows(journal), ("pull@", "install@")), "the code update ran host by host"
    assert by_pytest[-1]["event"] == "run" and by_pytest[-1]["outcome"] == "success"


@pytest.mark.requires_haproxy
def test_a_partial_selection_runs_what_it_depends_on_and_stops_resumably(isolated: pytest.Pytester) -> None:
    import subprocess
    import sys

    isolated.makefile(".yaml", plan=PLAN % 1)
    res = isolated.runpytest_subprocess("plan.yaml", "-k", "start and server1", "--harness-teardown", "never")
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*harness: plan.yaml: 11 step(s) not selected run anyway*pull@vm-web-admin*"
                              "the run stops after start@server1*"])
    journal = _journal(isolated.path / "runs")
    ok = [r["step"] for r in journal if r["event"] == "step" and r["status"] == "ok"]
    assert ok[-1] == "start@server1" and {"pull@vm-server1", "install@vm-server1"} <= set(ok), \
        "server1 restarted with its code update"
    assert "stop@load-balancer" not in ok and journal[-1]["status"] == "interrupted"
    (run_dir,) = list((isolated.path / "runs").iterdir())
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "resume", str(run_dir)], capture_output=True,
                             text=True, timeout=300, check=False, cwd=isolated.path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "12 of 17 steps already done" in resumed.stdout
