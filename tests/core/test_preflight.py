"""`harness preflight PLAN --target inv.yaml`: read-only checks over SSH against a real sshd, exit 0/4,
read-only enforced by the transport, and every node's files identical before and after."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.preflight import NotReadOnly, ReadOnlyTransport, preflight
from harness.engine.procedure import Check
from harness.errors import RefusedError
from harness.net import free_port
from harness.sshd import LocalSshd
from harness.transports import ssh

from .conftest import transport

# a data runbook: its procedure has no checks of its own, so these tests see only the generic ones
PLAN = "procedure: runbook\nparams:\n  steps:\n    - {id: look, hosts: all, run: [git, status]}\n"


def _node(root: Path) -> Path:
    """An install directory that is a git checkout, as on a Zato VM."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "update.sh").write_text("#!/bin/sh\n")
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    return root


def _write(tmp: Path, s: LocalSshd, hosts: list[tuple[str, str, Path]]) -> tuple[Path, Path]:
    lines = ["environment: staging", "product: zato", "ssh:", f"  known_hosts: {s.known_hosts}",
             f"  identity: {s.client_key}", "hosts:"]
    for name, spec, root in hosts:
        lines += [f"  - name: {name}", f"    transport: {spec}", f"    install_dir: {root}"]
    first = hosts[0][0]
    lines += ["components:", f"  - {{name: load-balancer, role: load-balancer, host: {first}, "
              f"path: /opt/zato/env/load-balancer, url: 'http://127.0.0.1:11223'}}"]
    (tmp / "inv.yaml").write_text("\n".join(lines) + "\n")
    (tmp / "plan.yaml").write_text(PLAN)
    return tmp / "plan.yaml", tmp / "inv.yaml"


def _state(*roots: Path) -> dict[str, tuple[str, int, float]]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                st = p.stat()
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode, st.st_mtime)
    return out


def test_ready_environment_exits_0_and_changes_nothing(make_sshd: Callable[..., LocalSshd], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    a, b = _node(tmp_path / "vm1"), _node(tmp_path / "vm2")
    plan, inv = _write(tmp_path, s, [("vm1", s.spec(), a), ("vm2", s.spec(), b)])
    before = _state(a, b)
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(inv), "--json", "-c", "git",
                                   "-c", "sh", "--free-mib", "1"])
    assert res.exit_code == 0, (res.output, res.exception)
    doc = json.loads(res.output)
    assert doc["ready"] is True
    names = {(c["name"], c["node"]) for c in doc["checks"]}
    assert {("reachable", "vm1"), ("account", "vm2"), ("commands", "vm1"), ("disk", "vm2"),
            ("lease", "staging"), ("plan", "staging")} <= names
    assert _state(a, b) == before  # files, their hashes, modes and times: identical


def test_not_ready_names_each_failing_check_with_its_fix(make_sshd: Callable[..., LocalSshd],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    a = _node(tmp_path / "vm1")
    plan, inv = _write(tmp_path, s, [("vm1", s.spec(), a), ("vm2", f"ssh://root@127.0.0.1:{free_port()}", a)])
    checks = preflight(plan, inv, commands=["git", "zato-not-installed"], free_mib=1)
    failed = {(c.name, c.node): c for c in checks if not c.ok}
    assert set(failed) == {("reachable", "vm2"), ("commands", "vm1")}
    assert "connection refused" in failed["reachable", "vm2"].detail
    assert "is sshd running" in failed["reachable", "vm2"].fix
    assert "zato-not-installed" in failed["commands", "vm1"].fix
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(inv), "-c", "zato-not-installed"])
    assert res.exit_code == 4 and "NOT READY" in res.output


def test_read_only_transport_refuses_writes_before_they_reach_the_host(
        make_sshd: Callable[..., LocalSshd], tmp_path: Path) -> None:
    s = make_sshd()
    victim = _node(tmp_path / "vm")
    ro = ReadOnlyTransport(transport(s))
    before = _state(victim)
    for argv in (["rm", "-rf", str(victim)], ["git", "-C", str(victim), "pull"], ["git", "-C", str(victim), "commit"],
                 ["sh", "-c", f"rm -rf {victim}"], ["touch", str(victim / "x")], []):
        with pytest.raises(NotReadOnly):
            ro.run(argv)
    with pytest.raises(NotReadOnly):
        ro.put(str(victim / "update.sh"), b"changed")
    assert ro.run(["git", "-C", str(victim), "rev-parse", "HEAD"]).ok
    assert ro.get(str(victim / "update.sh")) == b"#!/bin/sh\n"
    assert _state(victim) == before
    # the refused commands never reached the host: the sshd logged no session for them
    assert s.log.read_text().count("Starting session") <= 2
    ssh.close_all()


def _with_preflight(monkeypatch: pytest.MonkeyPatch, hook: Callable[..., list[Check]]) -> list[tuple[Any, ...]]:
    """The runbook procedure with ``hook`` as its preflight; returns the calls it got."""
    from harness import registry

    calls: list[tuple[Any, ...]] = []
    real = registry.procedure

    def recorded(env: Any, plan: Any, params: Any) -> list[Check]:
        calls.append((env, plan, params))
        return hook(env, plan, params)

    monkeypatch.setattr(registry, "procedure", lambda name, **kw: replace(real(name, **kw), preflight=recorded))
    return calls


def test_a_procedures_own_checks_follow_the_generic_ones_and_a_failing_one_exits_4(
        make_sshd: Callable[..., LocalSshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    a = _node(tmp_path / "vm1")
    plan, inv = _write(tmp_path, s, [("vm1", s.spec(), a)])
    calls = _with_preflight(monkeypatch, lambda env, plan, params: [
        Check("version", "vm1", True, "installed 1.0"),
        Check("upgrade path", "vm1", False, "1.0 → 3.0 crosses a major version", "update to 2.9 first")])
    res = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(inv), "--json", "--free-mib", "1"])
    assert res.exit_code == 4, res.output
    checks = json.loads(res.output)["checks"]
    assert [c["name"] for c in checks][-2:] == ["version", "upgrade path"]
    assert checks[-1] == {"name": "upgrade path", "node": "vm1", "ok": False,
                          "detail": "1.0 → 3.0 crosses a major version", "fix": "update to 2.9 first"}
    (env, _plan, _params), = calls
    assert all(isinstance(h.transport, ReadOnlyTransport) for h in env.hosts.values())  # read-only, enforced
    table = CliRunner().invoke(app, ["preflight", str(plan), "--target", str(inv), "--free-mib", "1"])
    assert table.exit_code == 4 and "update to 2.9 first" in table.output and "NOT READY" in table.output


@pytest.mark.parametrize(("error", "detail", "fix"), [
    (RefusedError("node vm1 runs 1.0\nHint: rebuild it for 1.0"), "node vm1 runs 1.0", "rebuild it for 1.0"),
    (KeyError("version"), "the procedure's preflight crashed: KeyError: 'version'", "report it to the product's"),
])
def test_a_procedure_preflight_that_raises_is_one_failing_check_not_a_traceback(
        make_sshd: Callable[..., LocalSshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        error: Exception, detail: str, fix: str) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    a = _node(tmp_path / "vm1")
    plan, inv = _write(tmp_path, s, [("vm1", s.spec(), a)])

    def boom(env: Any, plan: Any, params: Any) -> list[Check]:
        raise error

    _with_preflight(monkeypatch, boom)
    checks = preflight(plan, inv, free_mib=1)
    failed = [c for c in checks if not c.ok]
    assert [(c.name, c.node) for c in failed] == [("runbook", "staging")]
    assert failed[0].detail == detail and failed[0].fix.startswith(fix)


def test_a_procedure_preflight_is_not_asked_when_a_host_is_unreachable(
        make_sshd: Callable[..., LocalSshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    a = _node(tmp_path / "vm1")
    plan, inv = _write(tmp_path, s, [("vm1", f"ssh://root@127.0.0.1:{free_port()}", a)])
    calls = _with_preflight(monkeypatch, lambda env, plan, params: [])
    assert {c.name for c in preflight(plan, inv, free_mib=1) if not c.ok} == {"reachable"}
    assert calls == []


def test_a_product_client_refuses_its_writes_while_preflight_runs(
        make_sshd: Callable[..., LocalSshd], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A product's client that talks to a node without a transport (a patch agent's socket) calls
    :func:`harness.readonly.refuse` before a writing request: in preflight, that is a failing check."""
    from harness import readonly

    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    s = make_sshd()
    plan, inv = _write(tmp_path, s, [("vm1", s.spec(), _node(tmp_path / "vm1"))])
    seen: list[str | None] = []

    def writes(env: Any, plan: Any, params: Any) -> list[Check]:
        seen.append(readonly.active())
        readonly.refuse("agent vm1", "the apply request")
        return [Check("version", "vm1", True, "never reached")]

    _with_preflight(monkeypatch, writes)
    failed = [c for c in preflight(plan, inv, free_mib=1) if not c.ok]
    assert seen == ["preflight"] and readonly.active() is None
    assert [(c.name, c.node) for c in failed] == [("runbook", "staging")]
    assert failed[0].detail == "agent vm1: preflight refused the apply request: it could change the node"
    assert failed[0].fix == "preflight only reads; a run does this"
