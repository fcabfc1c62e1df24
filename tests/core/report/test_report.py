"""`harness report`: what the HTML and the PNG show, read from a run directory alone."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.engine.step import Step
from harness.errors import ExitCode, StepFailed
from harness.report import keep_node_logs, redactor
from harness.report.html import write_report
from harness.report.model import ReportData, checks
from harness.report.synthetic import synthetic_run
from harness.testing import FakeAction, FakeGate, fake_actions, fake_inventory, fake_procedure

pytest_plugins = ["pytester"]

STEPS = [Step("stop@server1", "server1", "fake.do", compensation="fake.do"),
         Step("start@server1", "server1", "fake.do", compensation="fake.do"),
         Step("stop@server2", "server2", "fake.do", compensation="fake.do"),
         Step("start@server2", "server2", "fake.do", compensation="fake.do")]


class _Text(HTMLParser):
    """The text a reader sees (titles of SVG shapes included), and every attribute that could fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.fetching: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.fetching += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href", "srcset", "action")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    return p


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def fake_run(tmp_path: Path, isolated_dirs: Path) -> Iterator[tuple[FakeAction, Path]]:
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(fake_inventory().model_dump(mode="json")))
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    action = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": action}, {"fake.ready": FakeGate()}):
        yield action, plan


def only_run_dir(isolated_dirs: Path) -> Path:
    [run_dir] = sorted((isolated_dirs / "runs").iterdir())
    return run_dir


def test_a_run_writes_a_report_naming_every_node_and_step(fake_run: tuple[FakeAction, Path],
                                                          isolated_dirs: Path) -> None:
    _, plan = fake_run
    result = invoke("run", plan)
    assert result.exit_code == 0, result.output
    run_dir = only_run_dir(isolated_dirs)
    assert f"report: {run_dir / 'report.html'}" in result.stdout, result.stderr
    assert "✓ steps in the documented order" in result.stdout
    assert "? no request lost: no probe ran" in result.stdout  # unknown, not true: nothing was measured
    page = parse((run_dir / "report.html").read_text())
    text = " ".join(page.text)
    for s in STEPS:
        assert s.id in text
    for node in ("server1", "server2"):
        assert re.search(rf"\b{node}\b", text)
    assert page.fetching == [] and "script" not in page.tags and "img" not in page.tags
    assert (run_dir / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # harness report builds the same page again from the directory alone
    (run_dir / "report.html").unlink()
    again = invoke("report", run_dir, "--out", run_dir / "again.html")
    assert again.exit_code == 0, again.output
    assert all(s.id in (run_dir / "again.html").read_text() for s in STEPS)


def test_a_rolled_back_run_is_marked_and_its_rollback_judged(fake_run: tuple[FakeAction, Path],
                                                             isolated_dirs: Path) -> None:
    action, plan = fake_run
    action.raises = lambda ctx: StepFailed(ctx.step.id, "boom") if ctx.step.id == "stop@server2" else None
    assert invoke("run", plan).exit_code == ExitCode.ROLLED_BACK
    data = ReportData.load(only_run_dir(isolated_dirs))
    verdicts = {c.name: c for c in checks(data)}
    assert verdicts["outcome"].verdict is False and "rolled_back (exit 3)" in verdicts["outcome"].figures
    assert verdicts["clean rollback"].verdict is True
    html = (only_run_dir(isolated_dirs) / "report.html").read_text()
    assert 'class="rollback"' in html and 'class="fault"' in html
    assert "stop@server2 failed: step stop@server2: boom" in html


def test_failures_inside_the_front_doors_own_restart_are_counted_apart(tmp_path: Path) -> None:
    """A node the product names as its front door (a load balancer: nodes/front_door.json) takes the front door
    down between its own stopping and ready lines: failed requests there are reported, and only those."""
    run_dir = synthetic_run(tmp_path / "r", nodes=3, steps_per_node=4, failures=0)
    timeline = json.loads((run_dir / "nodes" / "timeline.json").read_text())
    t0 = timeline["node02"][0]["ts"] + 5.3  # 0.3 s into the run (its first line is 5 s before it)
    # node02's own restart from t0 to t0 + 1 s: the synthetic changes inside it give way
    timeline["node02"] = [c for c in timeline["node02"] if not t0 - 0.1 <= c["ts"] <= t0 + 1.1] + [
        {"ts": t0, "node": "node02", "state": "stopping", "version": None, "detail": "stop"},
        {"ts": t0 + 1.0, "node": "node02", "state": "ready", "version": "1.1", "detail": "up"}]
    (run_dir / "nodes" / "timeline.json").write_text(json.dumps(timeline))
    (run_dir / "nodes" / "front_door.json").write_text(json.dumps(["node02"]))
    samples = [json.loads(line) for line in (run_dir / "probe.jsonl").read_text().splitlines()]
    inside = [s for s in samples if t0 + 0.2 <= s["start"] <= t0 + 0.5]
    assert inside
    for s in inside:
        s.update(ok=False, status=None, served_by=None, error="connection refused")
    (run_dir / "probe.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    avail = {c.name: c for c in checks(ReportData.load(run_dir))}["no request lost"]
    assert avail.verdict is True
    assert avail.figures.startswith(f"{len(inside)} failed of {len(samples)} sent ({len(inside)} of them while "
                                    "node02 itself restarted, 1.000s)")
    late = next(s for s in samples if s["start"] > t0 + 1.0 + 0.5)  # after it was ready again: lost
    late.update(ok=False, status=503, served_by=None, error="HTTP 503")
    (run_dir / "probe.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    avail = {c.name: c for c in checks(ReportData.load(run_dir))}["no request lost"]
    assert avail.verdict is False and avail.figures.startswith(f"{len(inside) + 1} failed")


def test_failed_requests_make_availability_false_with_figures(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "r", nodes=3, steps_per_node=4, failures=2)
    verdicts = {c.name: c for c in checks(ReportData.load(run_dir))}
    avail = verdicts["no request lost"]
    assert avail.verdict is False
    sent = len((run_dir / "probe.jsonl").read_text().splitlines())
    assert avail.figures.startswith(f"2 failed of {sent} sent; longest window without service 0.004s")
    assert verdicts["versions before → after"].verdict is True
    assert "node01 1.0→1.1" in verdicts["versions before → after"].figures
    html = write_report(run_dir, png=False).read_text()
    assert html.count('class="probe-fail"') == 2


def test_versions_that_differ_after_an_update_are_false(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "r", nodes=2, steps_per_node=2, failures=0)
    tl = json.loads((run_dir / "nodes" / "timeline.json").read_text())
    tl["node02"][-1]["version"] = "1.0"  # node02 came back on the old version
    (run_dir / "nodes" / "timeline.json").write_text(json.dumps(tl))
    versions = {c.name: c for c in checks(ReportData.load(run_dir))}["versions before → after"]
    assert versions.verdict is False and "node02 1.0→1.0" in versions.figures


def test_the_zato_timeline_reads_states_and_versions_from_its_log() -> None:
    from harness.products.zato.timeline import TIMELINE

    log = "\n".join([
        "2026-12-02 10:00:00,100 - INFO - 11:MainThread - zato.server.base.parallel:0 - "
        "Starting Zato `3.2.0` server `server1` (pid: 11)",
        "2026-12-02 10:00:01,200 - INFO - 11:MainThread - zato.server.base.parallel:0 - "
        "Started `server1@dev` (pid: 11)",
        "2026-12-02 10:00:05,000 - INFO - 11:MainThread - zato.cli:0 - Stopping Zato server `server1` (pid: 11)",
        "2026-12-02 10:00:05,500 - INFO - 11:MainThread - zato.cli:0 - Stopped Zato server `server1` (pid: 11)",
        "2026-12-02 10:00:06,000 - INFO - 12:MainThread - zato.server.base.parallel:0 - "
        "Starting Zato `3.2.1` server `server1` (pid: 12)",
        "2026-12-02 10:00:07,000 - INFO - 12:MainThread - zato.server.base.parallel:0 - "
        "Started `server1@dev` (pid: 12)",
    ])
    changes = TIMELINE.parse("server1", log)
    assert [(c.state, c.version) for c in changes] == [
        ("starting", "3.2.0"), ("ready", "3.2.0"), ("stopping", "3.2.0"), ("stopped", "3.2.0"),
        ("starting", "3.2.1"), ("ready", "3.2.1")]
    assert changes[0].ts == datetime(2026, 12, 2, 10, 0, 0, 100000, tzinfo=UTC).timestamp()


def test_secrets_of_the_inventory_never_reach_the_kept_logs(tmp_path: Path) -> None:
    from harness.products.zato.timeline import TIMELINE

    inv = fake_inventory().model_dump(mode="json")
    inv["facts"] = {"odb": {"password": "s3cr3t-odb-pw"}, "admin_token": "tok-123456"}
    line = ("2026-12-02 10:00:00,100 - INFO - 11:MainThread - zato:0 - connecting with s3cr3t-odb-pw and "
            "tok-123456\n")
    keep_node_logs(tmp_path, TIMELINE, {"server1": line}, redactor(inv))
    kept = (tmp_path / "nodes" / "server1.log").read_text()
    assert "s3cr3t" not in kept and "tok-123456" not in kept and kept.count("********") == 2


def test_a_directory_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    result = invoke("report", tmp_path)
    assert result.exit_code == ExitCode.REFUSED and "not a run directory" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_png_is_drawn_after_a_pytest_run_in_this_process_dropped_what_it_imported(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    """pytester's in-process runs load plugins that import numpy (pytest-randomly), then drop from sys.modules
    what they imported; numpy's C core cannot load twice per process, so a PNG drawn after that failed (CI,
    stop 21: 'cannot load module more than once per process'). The repo's conftest imports numpy first."""
    pytester.makepyfile(test_inner="def test_x():\n    pass\n")
    before = set(sys.modules)
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark").assert_outcomes(
        passed=1)
    for name in set(sys.modules) - before:  # what pytester's teardown does
        del sys.modules[name]
    run_dir = synthetic_run(tmp_path / "r", nodes=2, steps_per_node=2, failures=0)
    write_report(run_dir)
    assert (run_dir / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
