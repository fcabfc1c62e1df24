"""A real run's report, opened by a real headless Chromium from file://: every node and step is on the page.

The run is `harness run` of a 2-server Zato stand-in environment (process backend: real HAProxy, real git,
the stand-in's own logs), so the swimlanes come from the nodes' logs and the probe's requests. The
screenshot is kept in HARNESS_ARTIFACTS (default .harness/artifacts/screenshots/), which CI keeps.
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
    assert re.search(r"0 failed of [1-9]\d* sent", text)
    assert re.search(r"server1 3\.2\.0→3\.2\.1", text)


def test_a_50_node_report_opens_with_every_node(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "synthetic", nodes=50, steps_per_node=4)
    from harness.report.html import write_report

    dom = open_in_chromium(write_report(run_dir, png=False), "synthetic-50-nodes.png")
    assert dom.lanes == [f"node{i:02d}" for i in range(1, 51)]
    text = " ".join(dom.text)
    assert all(f"start1@node{i:02d}" in text for i in range(1, 51))
