"""Secrets are referenced ({env: NAME} / {file: PATH}), revealed only where used, and never reach an artefact:
canary secrets are planted, echoed back by a failing command, and every file of the run is searched."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.step import Gate, Step
from harness.errors import CommandFailed, ConfigError
from harness.secrets import MASK, redact, reveal
from harness.testing import FakeAction, FakeGate, fake_actions, fake_procedure

STEPS = [Step("a@host1", "host1", "fake.do", compensation="fake.undo"),
         Step("b@server1", "server1", "fake.do", gate=Gate("fake.ready", 0.2), compensation="fake.undo")]


def test_reveal_reads_env_and_file_and_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_T_PW", "pw-from-env")
    (tmp_path / "s").write_text("pw-from-file\nignored\n")
    assert reveal({"env": "HARNESS_T_PW"}) == "pw-from-env"
    assert reveal({"file": str(tmp_path / "s")}) == "pw-from-file"
    assert reveal("plain") == "plain" and reveal({"env": 3}) == {"env": 3}
    assert redact({"a": ["x pw-from-env y"], "b": "pw-from-file"}) == {"a": [f"x {MASK} y"], "b": MASK}
    with pytest.raises(ConfigError, match="HARNESS_T_UNSET is not set") as exc:
        reveal({"env": "HARNESS_T_UNSET"}, where="params.admin_password")
    assert "params.admin_password" in str(exc.value)
    with pytest.raises(ConfigError, match="cannot read secret file"):
        reveal({"file": str(tmp_path / "missing")})


def _artefacts(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


def test_canary_secrets_never_reach_an_artefact_of_a_run(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    env_canary, file_canary = f"canary-env-{secrets.token_hex(8)}", f"canary-file-{secrets.token_hex(8)}"
    monkeypatch.setenv("HARNESS_CANARY_PW", env_canary)
    secret_file = isolated_dirs / "amqp-url"
    secret_file.write_text(f"amqp://admin:{file_canary}@127.0.0.1:5672/\n")
    (isolated_dirs / "inv.yaml").write_text(f"""\
environment: secrets-test
product: fake
hosts: [{{name: host1, install_dir: /nonexistent/harness-test}}]
components: [{{name: server1, role: server, host: host1, path: /nonexistent/s1, url: "http://127.0.0.1:17010"}}]
facts:
  amqp_url: {{file: {secret_file}}}
""")
    (isolated_dirs / "plan.yaml").write_text("procedure: fake-proc\ntarget: inv.yaml\n"
                                             "params:\n  admin_password: {env: HARNESS_CANARY_PW}\n")

    def echo_back(ctx):  # a command line and an answer that carry both secrets, as a careless product would
        pw = reveal(ctx.plan.params["admin_password"])
        url = reveal(ctx.env.inventory.facts["amqp_url"])
        logging.getLogger("harness.test").warning("logging in with %s to %s", pw, url)
        if ctx.step.id == "b@server1":
            return CommandFailed("local://", ["login", "--password", pw, url], 1, f"refused {pw}", f"at {url}")
        ctx.observation["echo"] = f"{pw} {url}"
        return None

    with fake_procedure("fake-proc", STEPS), \
            fake_actions({"fake.do": FakeAction(raises=echo_back), "fake.undo": FakeAction()},
                         {"fake.ready": FakeGate()}):
        from harness.secrets import install_log_filter

        install_log_filter()
        res = CliRunner().invoke(app, ["-v", "run", str(isolated_dirs / "plan.yaml")])
    assert res.exit_code in (1, 3, 6), res.output  # the step failed: the run did not succeed
    files = _artefacts(isolated_dirs / "runs", isolated_dirs / "state")
    assert any(name.endswith("journal.jsonl") for name in files) and any(n.endswith("plan.json") for n in files)
    for name, data in files.items():
        assert env_canary.encode() not in data and file_canary.encode() not in data, name
    plan_json = next(d for n, d in files.items() if n.endswith("plan.json")).decode()
    assert "HARNESS_CANARY_PW" in plan_json  # the reference is kept: a resume finds the value again
    assert MASK.encode() in b"".join(files.values())  # the echoed secrets were there, and masked
    assert env_canary not in res.output and file_canary not in res.output
    assert env_canary not in caplog.text and file_canary not in caplog.text


def test_patch_password_on_the_command_line_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_PATCH_PASSWORD", raising=False)
    res = CliRunner().invoke(app, ["patch", "check", "--master", "http://127.0.0.1:9", "--password", "hunter22"])
    assert res.exit_code == 2
    assert "HARNESS_PATCH_PASSWORD" in res.output and "hunter22" not in res.output
