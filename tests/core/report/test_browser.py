"""A real run's report, opened by a real headless Chromium from file://: every node and step is on the page.

The runs are `harness run` of a 2-server Zato stand-in environment and of the Canopsis, BEAM and OTP example
plans (process backend: real HAProxy, git, RabbitMQ and erl nodes, the stand-ins' own logs), so the swimlanes
come from the nodes' logs and the probe's requests. The screenshot is kept in HARNESS_ARTIFACTS (default
.harness/artifacts/screenshots/), which CI keeps.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.report import browser
from harness.report.synthetic import synthetic_run

pytestmark = pytest.mark.skipif(browser.chromium() is None,
                                reason="no chromium on PATH: scripts/bootstrap installs Debian's chromium")


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.lanes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and a.get("class") == "lane" and a.get("data-node"):
            self.lanes.append(a["data-node"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def open_in_chromium(html: Path, shot_name: str) -> _Dom:
    url = html.resolve().as_uri()
    dom = _Dom()
    dom.feed(browser.dump_dom(url))
    shot = browser.screenshot(url, browser.artifacts_dir() / "screenshots" / shot_name)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return dom


@pytest.mark.skipif(shutil.which("haproxy") is None or shutil.which("git") is None,
                    reason="the Zato stand-ins need haproxy and git (scripts/bootstrap installs them)")
def test_the_report_of_a_real_zato_run_shows_every_node_and_step(tmp_path: Path, isolated_dirs: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("procedure: zato-update\nstandins: {product: zato, servers: 2, backend: process}\n"
                    "params: {revision: '3.2.1'}\nready_timeout: 60\n")
    result = CliRunner().invoke(app, ["run", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["report"], result.stderr  # why the report was not written is said on stderr
    report = Path(doc["report"])
    dom = open_in_chromium(report, "zato-update-report.png")
    text = " ".join(dom.text)
    steps = json.loads((report.parent / "steps.json").read_text())
    nodes = list(dict.fromkeys(s["node"] for s in steps))
    assert dom.lanes[:len(nodes)] == nodes  # one swimlane per node, in plan order
    for s in steps:
        assert re.search(rf"(?<![\w@-]){re.escape(s['id'])}(?![\w@-])", text), s["id"]
    assert "success" in text
    # the lanes of the servers were drawn from their own logs, and the probe ran through the LB
    timeline = json.loads((report.parent / "nodes" / "timeline.json").read_text())
    assert {"server1", "server2"} <= set(timeline) and all(timeline[n] for n in ("server1", "server2"))
    # every request lost was lost while the load balancer itself restarted (`zato stop` stops HAProxy)
    assert re.search(r"(\d+) failed of [1-9]\d* sent \(\1 of them while load-balancer itself restarted", text), text
    # per node, or grouped past 4 nodes on one change ("6 nodes 3.2.0→3.2.1 (web-admin … scheduler)")
    assert re.search(r"server1 3\.2\.0→3\.2\.1|\d+ nodes 3\.2\.0→3\.2\.1 \(", text)


def test_a_50_node_report_opens_with_every_node(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "synthetic", nodes=50, steps_per_node=4)
    from harness.report.html import write_report

    dom = open_in_chromium(write_report(run_dir, png=False), "synthetic-50-nodes.png")
    assert dom.lanes == [f"node{i:02d}" for i in range(1, 51)]
    text = " ".join(dom.text)
    assert all(f"start1@node{i:02d}" in text for i in range(1, 51))


def _missing(*programs: str) -> list[str]:
    """The programs (names on PATH, or absolute paths) this machine lacks."""
    return [p for p in programs if not (Path(p).exists() if Path(p).is_absolute() else shutil.which(p))]


#: example plan -> (its product, what its stand-ins need, each lane whose node logs: the states and versions
#: it logs, in order). Canopsis: its engines and API restart on the new version, the broker stays up; BEAM:
#: a hot patch restarts nothing; OTP: a hot upgrade changes the version of a running node
PRODUCT_RUNS: dict[str, tuple[str, tuple[str, ...], dict[str, list[tuple[str, str | None]]]]] = {
    "canopsis-update": ("canopsis", ("/usr/lib/rabbitmq/bin/rabbitmq-server", "python3"), {
        # systemd's jobs (the unit's journal) and the program's own lines: up on 4.4.0, down, up on 4.6.1
        **{lane: [("starting", None), ("ready", "4.4.0"), ("stopping", "4.4.0"), ("stopped", "4.4.0"),
                  ("starting", "4.4.0"), ("ready", "4.6.1")]
           for lane in ("engine-fifo", "engine-che", "engine-axe", "api")},
        "rabbitmq": [("starting", None), ("ready", None)]}),
    "beam-patch": ("beam", ("erl", "erlc"), {
        n: [("starting", "2.7.1"), ("ready", "2.7.1")] for n in ("master", "w1", "w2")}),
    "otp-release-upgrade": ("otp", ("erl", "erlc", "escript", "erl_call"), {
        n: [("starting", None), ("ready", "1.0"), ("ready", "1.1")] for n in ("node1", "node2")}),
}


@pytest.mark.parametrize("example", sorted(PRODUCT_RUNS))
def test_the_report_of_a_real_run_draws_each_nodes_lane_from_its_log(example: str, isolated_dirs: Path) -> None:
    """`harness run` of the product's example plan (its own stand-ins, process backend), then `harness report`
    of the run directory alone, opened in Chromium: a lane per node, drawn from the states its log holds."""
    from harness import resources
    from harness.report import timeline_of

    product, needs, expected = PRODUCT_RUNS[example]
    if missing := _missing(*needs):
        pytest.skip(f"the {example} stand-ins need {', '.join(missing)} (scripts/bootstrap installs them)")
    result = CliRunner().invoke(app, ["run", str(resources.examples() / f"{example}.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["report"]
    assert report, result.stderr  # why the report was not written is said on stderr
    run_dir = Path(report).parent
    timeline = json.loads((run_dir / "nodes" / "timeline.json").read_text())
    assert set(timeline) == set(expected)
    hook = timeline_of(product)
    assert hook is not None
    for node, states in expected.items():
        changes = timeline[node]
        assert [(c["state"], c["version"]) for c in changes] == states, (node, changes)
        assert [c["ts"] for c in changes] == sorted(c["ts"] for c in changes)
        # what the report keeps is the node's own log, and the lane is what that log says
        kept = (run_dir / "nodes" / f"{node}.log").read_text()
        assert [c.to_dict() for c in hook.parse(node, kept)] == changes
    again = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(run_dir / "again.html")])
    assert again.exit_code == 0, again.output
    dom = open_in_chromium(run_dir / "again.html", f"{example}-report.png")
    steps = json.loads((run_dir / "steps.json").read_text())
    step_nodes = list(dict.fromkeys(s["node"] for s in steps))
    assert dom.lanes == step_nodes + [n for n in expected if n not in step_nodes]  # plan order, then logs only
    text = " ".join(dom.text)
    for node, changes in timeline.items():
        for c in changes:
            label = f"{node}: {c['state']}" + (f" {c['version']}" if c["version"] else "") + f" — {c['detail']}"
            assert label in text, label
