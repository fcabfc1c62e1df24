"""Runbooks run for real on this machine (local transport): a command missing on a node fails its step,
named, and what ran is compensated in reverse; a secret reaches the node and nothing else."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app


def write_plan(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: runbook\ntarget: inventory.yaml\n" + textwrap.dedent(body))
    return path


def journal(runs: Path) -> list[dict[str, object]]:
    (run_dir,) = runs.iterdir()
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def run(plan: Path, runs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(runs))
    monkeypatch.chdir(plan.parent)
    res = CliRunner().invoke(app, ["run", str(plan)])
    return res.exit_code, res.output


MISSING = """\
params:
  steps:
    - id: mark
      node: web
      put: {path: "{{ node.path }}/marker", content: "changed"}
      compensate: {run: [rm, -f, "{{ node.path }}/marker"]}
    - id: touch
      role: app
      run: [touch, "{{ node.path }}/touched"]
      compensate: {id: untouch, run: [rm, -f, "{{ node.path }}/touched"]}
    - id: tool
      node: app2
      run: [no-such-tool-4711, --apply]
    - id: after
      node: web
      run: [touch, "{{ node.path }}/after"]
"""


def test_a_command_missing_on_the_node_fails_its_step_and_rolls_back_what_ran(
        tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(write_plan(tmp_path, MISSING), tmp_path / "runs", monkeypatch)
    assert code == 3, out  # rolled back
    recs = journal(tmp_path / "runs")
    failed = [r for r in recs if r["event"] == "step" and r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["tool@app2"]
    reason = str(failed[0]["reason"])
    assert "step tool@app2" in reason and "no-such-tool-4711" in reason and "node app2" in reason, reason
    assert "no-such-tool-4711" in out and "tool@app2" in out
    undone = [r["step"] for r in recs if r["event"] == "rollback_step" and r["status"] == "ok"]
    assert undone == ["untouch@app2", "untouch@app1", "undo-mark@web"]
    for comp in ("h1/web/marker", "h1/app1/touched", "h2/app2/touched"):
        assert not (tmp_path / comp).exists(), comp
    assert not (tmp_path / "h1/web/after").exists(), "nothing after the failed step ran"


SECRET = """\
params:
  secrets:
    TOKEN: {SOURCE}
  steps:
    - id: login
      node: web
      run: [sh, -c, 'printf %s "$1" > "$2"; echo "token is $1"', sh, "{{ secrets.TOKEN }}", "{{ node.path }}/token"]
      compensate: {run: [rm, -f, "{{ node.path }}/token"]}
    - id: config
      node: app1
      put: {path: "{{ node.path }}/app.conf", content: "password={{ secrets.TOKEN }}\\n"}
    - id: refuse
      node: app2
      run: [sh, -c, 'echo "rejected $1" >&2; exit 3', sh, "{{ secrets.TOKEN }}"]
"""


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_secret_reaches_the_node_and_never_the_journal_or_the_output(
        source: str, tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = "s3cr3t-" + secrets.token_hex(8)
    if source == "env":
        monkeypatch.setenv("RB_TEST_TOKEN", value)
        ref = "{env: RB_TEST_TOKEN}"
    else:
        (tmp_path / "token.txt").write_text(value + "\n")
        ref = "{file: token.txt}"
    code, out = run(write_plan(tmp_path, SECRET.replace("{SOURCE}", ref)), tmp_path / "runs", monkeypatch)
    assert code == 3, out
    assert (tmp_path / "h1/app1/app.conf").read_text() == f"password={value}\n", "the value reached the node"
    assert not (tmp_path / "h1/web/token").exists(), "the login was compensated"
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "{{ secrets.TOKEN }}" in (run_dir / "steps.json").read_text(), "steps.json keeps the reference"
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert value not in f.read_text(errors="replace"), f
    assert value not in out
    recs = journal(tmp_path / "runs")
    failed = next(r for r in recs if r["event"] == "step" and r["status"] == "failed")
    assert "rejected ***" in str(failed["reason"]), failed["reason"]
    login = next(r for r in recs if r["event"] == "step" and r["step"] == "login@web" and r["status"] == "ok")
    assert login["observation"]["stdout"] == "token is ***\n"  # type: ignore[index]


def test_a_secret_that_cannot_be_read_refuses_the_run(tmp_path: Path, inventory: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RB_TEST_UNSET", raising=False)
    code, out = run(write_plan(tmp_path, SECRET.replace("{SOURCE}", "{env: RB_TEST_UNSET}")), tmp_path / "runs",
                    monkeypatch)
    assert code == 4, out
    assert "secret 'TOKEN'" in out and "RB_TEST_UNSET" in out
    assert not (tmp_path / "h1/app1/app.conf").exists(), "nothing ran"


BECOME = """\
params:
  steps:
    - id: as-zato
      node: web
      become: zato
      run: [touch, "{{ node.path }}/done"]
      skip_if: {run: [test, -e, "{{ node.path }}/done"], become: zato, reason: already done}
"""


def test_become_runs_the_command_through_sudo_as_that_user(tmp_path: Path, inventory: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`become: zato` is `sudo -n -u zato -- argv` (a written runbook's `sudo su - zato`); a stand-in `sudo`
    on PATH records what it was given and runs the rest, as the real one would for an allowed user."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sudo.log"
    sudo = bin_dir / "sudo"
    sudo.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n[ "$1 $2 $3 $4" = "-n -u zato --" ] || exit 1\n'
                    'shift 4\nexec "$@"\n')
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    plan = write_plan(tmp_path, BECOME)
    code, out = run(plan, tmp_path / "runs", monkeypatch)
    assert code == 0, out
    assert (tmp_path / "h1/web/done").exists()
    lines = log.read_text().splitlines()
    assert lines[0] == f"-n -u zato -- test -e {tmp_path}/h1/web/done"  # the skip check, as zato too
    assert lines[1] == f"-n -u zato -- touch {tmp_path}/h1/web/done"
    shutil.rmtree(tmp_path / "runs")
    code, out = run(plan, tmp_path / "runs", monkeypatch)
    assert code == 0 and "already done" in out, out


RESUMABLE = """\
params:
  secrets:
    TOKEN: {env: RB_TEST_TOKEN}
  steps:
    - id: count
      role: app
      run: [sh, -c, 'echo x >> "$1/count"', sh, "{{ node.path }}"]
      skip_if: {run: [test, -e, "{{ node.path }}/count"], reason: counted}
    - id: login
      node: web
      run: [sh, -c, 'printf %s "$1" > "$2"', sh, "{{ secrets.TOKEN }}", "{{ node.path }}/token"]
"""


def test_an_interrupted_runbook_resumes_from_the_journal_and_redoes_nothing(
        tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.engine.runner import Run
    from harness.engine.status import Outcome
    from harness.plan.loader import load_inventory, load_plan

    monkeypatch.setenv("RB_TEST_TOKEN", "resume-" + secrets.token_hex(6))
    path = write_plan(tmp_path, RESUMABLE)
    first = Run.create(load_plan(path), load_inventory(inventory), tmp_path / "runs", plan_file=str(path))
    first.begin()
    assert first.advance(until="count@app1") is None  # the first stage only, then the executor "dies"
    first.interrupt("killed")
    again = Run.load(first.run_dir)  # steps re-derived from plan.json + inventory.json: the same
    again.begin(resumed=True)
    assert again.run_forward() == Outcome.SUCCESS
    assert (tmp_path / "h1/app1/count").read_text() == "x\n", "a finished step is not run again"
    assert (tmp_path / "h1/web/token").read_text() == os.environ["RB_TEST_TOKEN"]
    ended = [r["step"] for r in again.journal_records() if r["event"] == "step" and r["status"] == "ok"]
    assert ended == ["count@app1", "count@app2", "login@web"]



FILES = """\
params:
  vars: {line: LINE}
  steps:
    - id: conf
      node: web
      put: {src: app.conf, path: "{{ node.path }}/app.conf", mode: 384}
    - id: boot
      node: web
      run: [sh, -c, 'echo booting >> "$1/app.log"; echo "$2" >> "$1/app.log"', sh,
            "{{ node.path }}", "{{ params.line }}"]
      gate:
        timeout: 10
        log: {file: "{{ node.path }}/app.log", pattern: "^listening$", fail: "^FATAL"}
    - id: ready
      node: web
      wait_log: {file: "{{ node.path }}/app.log", pattern: "^listening$", timeout: 5}
"""


@pytest.mark.parametrize("line", ["listening", "FATAL no config"])
def test_put_a_file_gate_on_a_log_line_and_wait_for_one(line: str, tmp_path: Path, inventory: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.conf").write_bytes(b"max_conns = 512\n")
    code, out = run(write_plan(tmp_path, FILES.replace("LINE", repr(line))), tmp_path / "runs", monkeypatch)
    conf = tmp_path / "h1/web/app.conf"
    recs = [r for r in journal(tmp_path / "runs") if r["event"] == "step" and r["status"] != "started"]
    if line == "listening":
        assert code == 0, out
        assert conf.read_bytes() == b"max_conns = 512\n" and conf.stat().st_mode & 0o777 == 0o600
        assert [r["status"] for r in recs] == ["ok", "ok", "ok"]
    else:  # the fail line ends the gate at once, naming the node and the line; nothing to compensate
        assert code == 3, out
        assert [(r["step"], r["status"]) for r in recs] == [("conf@web", "ok"), ("boot@web", "failed")]
        assert "web failed to start" in str(recs[1]["reason"]) and "FATAL no config" in str(recs[1]["reason"])


ELSEWHERE = """\
params:
  steps:
    - id: boot
      node: app2
      run: [sh, -c, 'echo "old: app2 UP" >> "$1/lb.log"; sleep 0.3; echo "$2" >> "$1/lb.log";
            echo started >> "$3/app.log"', sh, "{{ inventory.facts.lb_dir }}", LINE, "{{ node.path }}"]
      gate:
        timeout: 3
        log:
          - {file: "{{ node.path }}/app.log", pattern: "^started$"}
          - at: web
            file: "{{ at.path }}/lb.log"
            pattern: "^new: {{ node.name }} UP$"
"""


@pytest.mark.parametrize("line", ["new: app2 UP", "new: app1 UP"])
def test_a_gate_waits_for_a_line_in_another_components_log(line: str, tmp_path: Path, inventory: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A server's gate on its load balancer's log: the line must come after the step began (the line the
    file already had does not count) in the file of component `web` (host h1), not the step's node's (h2)."""
    (tmp_path / "h1/web/lb.log").write_text("new: app2 UP\n")  # before the step: not the one waited for
    inv = yaml.safe_load(inventory.read_text())
    inv["facts"]["lb_dir"] = str(tmp_path / "h1/web")  # where the step writes; the gate finds it through `at`
    inventory.write_text(yaml.safe_dump(inv))
    code, out = run(write_plan(tmp_path, ELSEWHERE.replace("LINE", repr(line))), tmp_path / "runs", monkeypatch)
    recs = [r for r in journal(tmp_path / "runs") if r["event"] == "step" and r["status"] != "started"]
    if line == "new: app2 UP":
        assert code == 0, out
        assert [(r["step"], r["status"]) for r in recs] == [("boot@app2", "ok")]
    else:
        assert code == 3, out
        assert recs[0]["status"] == "failed" and "on web" in str(recs[0]["reason"]), recs


PIECES = """\
params:
  steps:
    - id: boot
      node: web
      run: [sh, -c, '(printf "listening" >> "$1/app.log"; sleep 0.5; printf "$2" >> "$1/app.log") >/dev/null 2>&1 &',
            sh, "{{ node.path }}", LINE]
      gate:
        timeout: 2
        log: {file: "{{ node.path }}/app.log", pattern: "^listening$", fail: "^FATAL"}
"""


@pytest.mark.parametrize(("line", "code"), [("\\n", 0), (" failed\\nFATAL bind\\n", 3)])
def test_a_gate_reads_only_complete_lines_after_the_step_began_whatever_their_bytes(
        line: str, code: int, tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file already holds a `listening` line and bytes that are no UTF-8 (read from the byte offset the
    step began at, not from a decoded text's length); the awaited line is written in two pieces, in the
    background while the gate polls. Half written, `listening` is no line yet: completed as `listening
    failed`, it fails the gate instead of passing it (a whole read each poll matched the half line)."""
    (tmp_path / "h1/web/app.log").write_bytes(b"listening\n\xe9t\xe9 \xff\n")
    # printf's own escapes: the YAML string keeps the backslash
    got, out = run(write_plan(tmp_path, PIECES.replace("LINE", f"'{line}'")), tmp_path / "runs", monkeypatch)
    assert got == code, out
    recs = [r for r in journal(tmp_path / "runs") if r["event"] == "step" and r["status"] != "started"]
    assert recs[0]["status"] == ("ok" if code == 0 else "failed"), recs
    if code:
        assert "logged 'FATAL bind'" in str(recs[0]["reason"]), recs[0]["reason"]
