"""Allure from a plan run as tests: one Allure step per executor step (action and gate as sub-steps), the
attachments (journal, the node's log lines for the step, probe statistics, the timeline PNG), labels and
parameters; then the Allure 3 HTML report (npm `allure`) opened in headless Chromium shows the steps."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.report import browser
from harness.wait import wait_until

pytest_plugins = ["pytester"]

PLAN = "procedure: zato-update\nstandins: {product: zato, servers: 1, backend: process}\nparams: {revision: '3.2.1'}\n"


@pytest.fixture(scope="module")
def allure_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """One suite run of the plan (its own state dirs) with allure-pytest; the results, in plan order."""
    root = tmp_path_factory.mktemp("allure-run")
    (root / "plan.yaml").write_text(PLAN)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark\n")
    env = {**__import__("os").environ, "HARNESS_STATE_DIR": str(root / "state"),
           "HARNESS_RUNS_DIR": str(root / "runs"), "HARNESS_STANDINS_DIR": str(root / "standins")}
    # in plan order (pytest-randomly, where installed, would shuffle the items; the run is the same either way);
    # this interpreter: a `python` on PATH may import another checkout's harness
    res = subprocess.run([sys.executable, "-m", "pytest", "plan.yaml", "-p", "allure_pytest", "--alluredir=allure",
                          "-p", "no:randomly", "-q", "-n", "0"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in (root / "allure").glob("*-result.json")]
    [run_dir] = list((root / "runs").iterdir())
    order = {s["id"]: i for i, s in enumerate(json.loads((run_dir / "steps.json").read_text()))}
    return root, sorted(results, key=lambda r: order.get(r["name"], len(order)))  # in plan order


def labels(result: dict[str, Any]) -> dict[str, str]:
    return {lab["name"]: lab["value"] for lab in result["labels"]}


@pytest.mark.requires_haproxy
def test_each_item_is_one_allure_step_with_its_action_gate_and_attachments(
        allure_run: tuple[Path, list[dict[str, Any]]]) -> None:
    root, results = allure_run
    [run_dir] = list((root / "runs").iterdir())
    planned = json.loads((run_dir / "steps.json").read_text())
    assert [r["name"] for r in results] == [s["id"] for s in planned]
    for r, s in zip(results, planned, strict=True):
        [top] = r["steps"]
        assert top["name"].startswith(f"{s['id']} on {s['node']}: ok")
        subs = [sub["name"] for sub in top["steps"]]
        assert subs[0].startswith(f"action {s['action']}")
        assert (len(subs) == 2 and subs[1].startswith(f"gate {s['gate']['kind']}")) if s["gate"] else len(subs) == 1
        names = [a["name"] for a in top["attachments"]]
        assert names[0] == f"journal {s['id']}" and "probe" in names
        assert labels(r)["feature"] == "zato-update" and labels(r)["story"] == s["node"]
        assert {p["name"]: p["value"] for p in r["parameters"]}["node"] == repr(s["node"])  # allure keeps repr()
    # a server's start shows the lines its own log has for that window
    start = next(r for r in results if r["name"] == "start@server1")
    log = next(a for a in start["steps"][0]["attachments"] if a["name"].startswith("server1 log"))
    text = (root / "allure" / log["source"]).read_text()
    assert "Starting Zato `3.2.1` server `server1`" in text and "Started `server1@" in text
    # the item that ended the run carries the timeline PNG and the HTML report
    last = [a["name"] for a in results[-1].get("attachments", [])]
    assert "timeline" in last and "report" in last
    png = next(a for a in results[-1]["attachments"] if a["name"] == "timeline")
    assert (root / "allure" / png["source"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.requires_haproxy
@pytest.mark.skipif(shutil.which("allure") is None or browser.chromium() is None,
                    reason="needs the Allure 3 CLI (npm allure) and chromium; scripts/bootstrap installs both")
def test_the_allure_html_report_shows_the_steps_in_chromium(allure_run: tuple[Path, list[dict[str, Any]]]) -> None:
    root, results = allure_run
    (root / "allurerc.json").write_text(json.dumps({"name": "upgrade-harness", "output": "allure-report",
                                                    "plugins": {"awesome": {"options": {"singleFile": True}}}}))
    res = subprocess.run(["allure", "generate", "allure", "-o", "allure-report", "-c", "allurerc.json"], cwd=root,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    index = root / "allure-report" / "index.html"
    by_name = {t["name"]: t["id"] for t in json.loads((root / "allure-report" / "test-results.json").read_text())
               ["byId"].values()}
    assert sorted(by_name) == sorted(r["name"] for r in results)
    budget = ("--virtual-time-budget=15000",)  # the page renders with script: let it finish before the dump
    for r in results:
        top = r["steps"][0]["name"]  # "start@server1 on server1: ok in 1.44s", as the executor named it
        url = f"{index.resolve().as_uri()}#{by_name[r['name']]}"

        def shown(url: str = url, top: str = top) -> bool:
            # what a reader sees; a page dumped while still loading (a busy machine) is loaded again
            return top in " ".join(re.sub(r"<[^>]+>", " ", browser.dump_dom(url, extra=budget)).split())

        wait_until(shown, timeout=180, interval=1, what=f"the step {top!r} on the Allure page of {r['name']}")
    shot = browser.screenshot(f"{index.resolve().as_uri()}#{by_name['start@server1']}",
                              browser.artifacts_dir() / "screenshots" / "allure-start-server1.png", extra=budget)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    kept = browser.artifacts_dir() / "allure-report"  # the CI artefact: the Allure 3 HTML of this suite run
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(root / "allure-report", kept)


def _allure_results(root: Path, plan: str) -> list[dict[str, Any]]:
    (root / "plan.yaml").write_text(plan)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark\n")
    env = {**__import__("os").environ, "HARNESS_STATE_DIR": str(root / "state"),
           "HARNESS_RUNS_DIR": str(root / "runs"), "HARNESS_STANDINS_DIR": str(root / "standins")}
    res = subprocess.run([sys.executable, "-m", "pytest", "plan.yaml", "-p", "allure_pytest", "--alluredir=allure",
                          "-p", "no:randomly", "-q", "-n", "0"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return [json.loads(p.read_text()) for p in (root / "allure").glob("*-result.json")]


def _step_logs(root: Path, results: list[dict[str, Any]], step: str) -> dict[str, str]:
    """The node-log attachments of one step's Allure step: lane -> the lines attached."""
    [top] = next(r for r in results if r["name"] == step)["steps"]
    return {a["name"].split(" log ")[0]: (root / "allure" / a["source"]).read_text()
            for a in top["attachments"] if " log " in a["name"]}


@pytest.mark.skipif(any(shutil.which(p) is None for p in ("erl", "erlc", "escript", "erl_call")),
                    reason="the OTP stand-ins need erlang-base (scripts/bootstrap installs it)")
def test_an_otp_step_carries_its_nodes_log_lines(tmp_path: Path) -> None:
    results = _allure_results(tmp_path, "procedure: otp-release-upgrade\nstandins: {product: otp, nodes: 2, "
                                        "backend: process}\nparams: {release: '1.1'}\n")
    from harness.products.otp.timeline import parse_line

    logs = _step_logs(tmp_path, results, "install@node1")
    assert list(logs) == ["node1"]
    assert "counter_server upgraded from 1.0 to 1.1" in logs["node1"]
    # only what the node logged while the step ran (its boot before the run stays out)
    [top] = next(r for r in results if r["name"] == "install@node1")["steps"]
    stamps = [h[0] for line in logs["node1"].splitlines() if (h := parse_line(line)) is not None]
    assert stamps and top["start"] / 1000 - 1 <= min(stamps) and max(stamps) <= top["stop"] / 1000 + 1, \
        (top["start"], top["stop"], stamps)
    assert "upgraded" not in _step_logs(tmp_path, results, "unpack@node1")["node1"]


@pytest.mark.skipif(not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists(),
                    reason="the Canopsis stand-ins need rabbitmq-server (scripts/bootstrap installs it)")
def test_a_canopsis_step_carries_the_logs_of_the_nodes_programs(tmp_path: Path) -> None:
    # one node whose engines, API and broker log apart: a step on it gets each program's lines
    results = _allure_results(tmp_path, "procedure: canopsis-update\nstandins: {product: canopsis, backend: "
                                        "process, version: '4.5.2'}\nparams: {to: '4.6.1', guides_followed: "
                                        "[migration-4.6.0]}\n")
    logs = _step_logs(tmp_path, results, "restart@node")
    assert {"engine-fifo", "engine-che", "engine-axe", "api", "rabbitmq"} <= set(logs)
    assert '"version": "4.6.1"' in logs["engine-fifo"] and '"message": "engine started"' in logs["engine-fifo"]
    assert '"message": "http server started"' in logs["api"]
