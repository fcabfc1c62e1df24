"""A run over SSH refuses before any change when a host cannot be reached as the inventory says (exit 4),
naming the host; a connection dropped in the middle of a step leaves that step indeterminate, journaled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.step import Step
from harness.net import free_port
from harness.sshd import LocalSshd
from harness.testing import FakeAction, fake_actions, fake_procedure

STEPS = [Step("a@host1", "host1", "fake.do", compensation="fake.undo")]


def _files(tmp: Path, spec: str, s: LocalSshd) -> Path:
    (tmp / "inv.yaml").write_text(f"""\
environment: ssh-run
product: fake
ssh: {{known_hosts: {s.known_hosts}, identity: {s.client_key}}}
hosts: [{{name: host1, transport: "{spec}", install_dir: {s.dir}}}]
components: []
""")
    (tmp / "plan.yaml").write_text("procedure: fake-proc\ntarget: inv.yaml\n")
    return tmp / "plan.yaml"


@pytest.mark.parametrize("fault", ["unknown-key", "wrong-port", "wrong-key"])
def test_unreachable_host_refuses_the_run_before_any_step(fault: str, make_sshd: Callable[..., LocalSshd],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    s = make_sshd()
    spec = s.spec()
    if fault == "unknown-key":
        s.known_hosts.write_text("")
    elif fault == "wrong-port":
        spec = f"ssh://root@127.0.0.1:{free_port()}"
    else:
        s.client_key.unlink()
        from harness.sshd import keygen

        keygen(s.client_key)
    do = FakeAction()
    with fake_procedure("fake-proc", STEPS), fake_actions({"fake.do": do, "fake.undo": FakeAction()}, {}):
        res = CliRunner().invoke(app, ["run", str(_files(tmp_path, spec, s))])
    assert res.exit_code == 4, res.output
    assert "host host1" in res.output and "nothing was changed" in res.output
    assert do.ran == []


def test_connection_dropped_mid_step_is_indeterminate_and_journaled(make_sshd: Callable[..., LocalSshd],
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import os
    import signal
    import threading

    from harness.wait import wait_until

    from .test_ssh import _children, kill_left_over

    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    s = make_sshd()
    marker = s.dir / "step-started"

    def long_command(ctx):  # the step's command runs on the host until the connection is cut under it
        ctx.env.hosts["host1"].transport.run(["sh", "-c", f"touch {marker}; sleep 600"], timeout=900)
        return None

    def cut() -> None:
        wait_until(marker.exists, timeout=120, what="the step's command to start")
        assert s.proc is not None
        for pid in _children(s.proc.pid):
            os.kill(pid, signal.SIGKILL)

    cutter = threading.Thread(target=cut)
    cutter.start()
    with fake_procedure("fake-proc", STEPS), \
            fake_actions({"fake.do": FakeAction(raises=long_command), "fake.undo": FakeAction()}, {}):
        res = CliRunner().invoke(app, ["run", str(_files(tmp_path, s.spec(), s))])
    cutter.join(60)
    kill_left_over(marker)
    # the step is indeterminate (its command's outcome on the host is unknown); the run then rolls back
    assert res.exit_code == 3 and "1 indeterminate" in res.output, res.output
    journal = next((tmp_path / "runs").rglob("journal.jsonl"))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    step = [r for r in records if r.get("step") == "a@host1" and r.get("status") not in ("started",)]
    assert step and step[-1]["status"] == "indeterminate", records
    assert "connection dropped" in json.dumps(step[-1])
