"""The pytest plugin on its own: a plan file becomes one item per step; JUnit and Allure show the run."""

from __future__ import annotations

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
    res.stdout.fnmatch_lines(["plan.yaml::pull@vm-web-admin", "plan.yaml::start@server3", "24 tests collected*"])
    assert not list((isolated.path / "standins").glob("*")), "collecting starts nothing"


def test_a_bad_plan_is_a_collection_error_naming_file_and_line(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", plan="procedure: zato-update\nstandins: {product: zato, servers: 0}\n")
    res = isolated.runpytest_subprocess("plan.yaml")
    res.stdout.fnmatch_lines(["*plan.yaml:2*greater than or equal to 1*standins.servers*"])
    assert res.ret != 0


def test_yaml_that_is_not_a_plan_is_not_collected(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", inventory="environment: x\nhosts: []\ncomponents: []\n")
    isolated.makefile(".yml", plan=PLAN % 1)
    res = isolated.runpytest_subprocess("--collect-only", "-q", ".")
    res.stdout.fnmatch_lines(["16 tests collected*"])
    assert "inventory" not in res.stdout.str()


@pytest.mark.requires_haproxy
def test_running_a_plan_reports_each_step_to_junit_and_allure(isolated: pytest.Pytester) -> None:
    isolated.makefile(".yaml", plan=PLAN % 1)
    res = isolated.runpytest_subprocess("plan.yaml", "--junitxml=junit.xml", "--alluredir=allure", "-p", "allure_pytest")
    res.assert_outcomes(passed=16)
    cases = ET.parse(isolated.path / "junit.xml").getroot().iter("testcase")
    names = [c.get("name") for c in cases]
    assert names[0] == "pull@vm-web-admin" and names[-1] == "start@scheduler" and len(names) == 16
    results = [json.loads(p.read_text()) for p in Path(isolated.path / "allure").glob("*-result.json")]
    assert sorted(r["name"] for r in results) == sorted(names)
    assert all(r["status"] == "passed" and r.get("attachments") for r in results), "each step attaches its journal"
    assert not list((isolated.path / "standins").glob("*/hosts/*/env/*/pidfile")), "stand-ins were torn down"
