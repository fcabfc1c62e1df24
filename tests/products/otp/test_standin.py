"""The OTP stand-in on the Backend seam, without Erlang: what it asks of each host through the transport.

The real nodes (both backends) are exercised by ``suites/otp``; here a :class:`FakeTransport` stands for
the host, so the order of the target-system steps, the arguments they get and the refusals are pinned.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from harness import standins
from harness.backends import Host
from harness.errors import ConfigError, HarnessError, SetupFailed
from harness.plan.models import StandinsSpec
from harness.products.otp.standin import target
from harness.products.otp.standin.target import NodeSetup, install_node, start_script, stop_node
from harness.testing import FakeTransport

ROOT = "/opt/counter"
SETUP = NodeSetup(root=ROOT, node="env_node1@node1", cookie="c0ffee", heart=True, release="counter",
                  version="1.0", erts_vsn="13.1.5")
INFO = ('{ok, "{info,"4242","<0.90.0>","/opt/counter",{"counter","1.0"},'
        '[{"counter","1.0",["kernel-8.5","counter-1.0"],permanent}],[{kernel,"8.5"},{counter,"1.0"}],25}"}')


def _host(t: FakeTransport, bind: str = "0.0.0.0") -> Host:
    return Host(name="node1", transport_spec="fake://node1", root="", bind=bind, address="node1", _transport=t)


def _node_host(erts: str = "13.1.5") -> FakeTransport:
    """A host whose erl reports ``erts``, whose bin/start boots a node that writes its pidfiles."""
    def handler(argv: tuple[str, ...], cwd: str | None, env: Mapping[str, str] | None) -> tuple[int, str, str]:
        if argv[0] == "erl":
            return 0, f"{erts} /usr/lib/erlang", ""
        if argv[0] == f"{ROOT}/bin/start":
            t.files[f"{ROOT}/log/node.pid"], t.files[f"{ROOT}/log/heart.pid"] = b"4242", b"4250"
            return 0, "", ""
        if argv[0] == "erl_call":
            return 0, INFO, ""
        return 0, "", ""

    t = FakeTransport(handler, target="fake://node1")
    return t


def test_install_puts_unpacks_registers_and_boots_the_release_through_the_transport() -> None:
    t = _node_host()
    install_node(_host(t), SETUP, b"TARBALL")
    steps = [(c.op, c.argv[:2] if c.op == "run" else c.path) for c in t.calls if c.op in ("run", "put")]
    assert steps[:7] == [
        ("run", ("sh", "-c")), ("put", f"{ROOT}/tmp/counter-1.0.tar.gz"), ("run", ("sh", "-c")),
        ("run", ("erl", "-noshell")), ("put", f"{ROOT}/releases/start_erl.data"), ("put", f"{ROOT}/bin/start"),
        ("run", (f"{ROOT}/bin/start",))]
    assert t.files[f"{ROOT}/tmp/counter-1.0.tar.gz"] == b"TARBALL"
    erl = next(c.argv for c in t.calls if c.op == "run" and c.argv[0] == "erl")
    # the paths reach create_RELEASES as plain arguments, never inside the Erlang text
    assert erl[-3:] == ("-extra", ROOT, f"{ROOT}/releases/1.0/counter-1.0.rel") and ROOT not in erl[3]
    assert t.files[f"{ROOT}/releases/start_erl.data"] == b"13.1.5 1.0\n"
    assert any(c.argv[0] == "erl_call" and "env_node1@node1" in c.argv for c in t.calls if c.op == "run")


def test_a_host_with_another_emulator_is_refused_before_anything_starts() -> None:
    t = _node_host(erts="14.0")
    with pytest.raises(SetupFailed, match=r"built for erts 13\.1\.5, the host runs erts 14\.0"):
        install_node(_host(t), SETUP, b"TARBALL")
    assert not any(c.argv and c.argv[0].endswith("bin/start") for c in t.calls)


def test_a_node_that_never_answers_fails_with_its_start_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target, "START_TIMEOUT", 0.3)

    def handler(argv: tuple[str, ...], cwd: str | None, env: Mapping[str, str] | None) -> tuple[int, str, str]:
        if argv[0] == "erl":
            return 0, "13.1.5 /usr/lib/erlang", ""
        if argv[0] == "erl_call":
            return 1, "", "erl_call: failed to connect to node env_node1@node1"
        return 0, "", ""

    t = FakeTransport(handler)
    t.files[f"{ROOT}/log/start.log"] = b"Protocol 'inet_tcp': register/listen error: econnrefused\n"
    with pytest.raises(SetupFailed, match="econnrefused") as exc:
        install_node(_host(t), SETUP, b"TARBALL")
    assert "Hint: can epmd start on 0.0.0.0" in str(exc.value)


def test_the_boot_script_listens_where_the_host_binds() -> None:
    loopback = start_script(SETUP, "/usr/lib/erlang", "127.0.0.1")
    assert "ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_EPMD_ADDRESS" in loopback
    assert "inet_dist_use_interface '{127,0,0,1}'" in loopback
    anywhere = start_script(SETUP, "/usr/lib/erlang", "0.0.0.0")
    # epmd adds the loopback to ERL_EPMD_ADDRESS and then cannot bind 0.0.0.0: leave it at its default
    assert "unset ERL_EPMD_ADDRESS" in anywhere and "{0,0,0,0}" in anywhere
    assert "-heart" in anywhere and "BINDIR=/usr/lib/erlang/erts-$ERTS_VSN/bin" in anywhere
    assert "-name env_node1@node1 -setcookie c0ffee" in anywhere and 'node.pid' in anywhere
    no_heart = start_script(NodeSetup(**{**SETUP.__dict__, "heart": False}), "/usr/lib/erlang", "0.0.0.0")
    assert "-heart" not in no_heart
    with pytest.raises(HarnessError):
        start_script(SETUP, "/usr/lib/erlang", "::1")


def test_stop_terms_heart_before_the_emulator() -> None:
    files = {f"{ROOT}/log/heart.pid": b"4250", f"{ROOT}/log/node.pid": b"4242"}

    def host(argv: tuple[str, ...], cwd: str | None, env: object) -> tuple[int, str, str]:
        if argv[3:4] == ("pidfile-pids",):  # the live pids the pidfiles name, in their order (all live here)
            return 0, "".join(files[f].decode() + "\n" for f in argv[4:] if f in files), ""
        return 0, "", ""

    t = FakeTransport(host)
    stop_node(t, ROOT)
    pids, kill = t.commands
    assert pids[3] == "pidfile-pids" and pids.index(f"{ROOT}/log/heart.pid") < pids.index(f"{ROOT}/log/node.pid")
    assert kill[:2] == ("sh", "-c") and kill[-2:] == ("4250", "4242")


@pytest.mark.parametrize(("backend", "address", "under_state"), [("process", "127.0.0.1", True),
                                                                  ("docker", "node2", False)])
def test_the_planned_inventory_names_each_node_for_its_host(tmp_path: Path, backend: str, address: str,
                                                            under_state: bool) -> None:
    spec = StandinsSpec.model_validate({"product": "otp", "backend": backend, "nodes": 2,
                                        "variant": "restart_emulator"})
    inv = standins.planned_inventory(spec, tmp_path, name="otp-1a2b")
    assert [c.name for c in inv.components] == ["node1", "node2"] and inv.backend == backend
    node2 = inv.components[1]
    assert node2.url == f"erl://otp_1a2b_node2@{address}"
    assert node2.path == (f"{tmp_path}/hosts/node2/opt/counter" if under_state else "/opt/counter")
    assert inv.facts["packages"] == str(tmp_path / "packages") and inv.facts["heart"] is True
    assert inv.facts["release_name"] == "counter" and inv.facts["cookie"] == "planned"


@pytest.mark.parametrize(("options", "field"), [({"variant": "fast"}, "standins.variant"),
                                                ({"version": "9.9"}, "standins.version"),
                                                ({"nodes": 0}, "standins.nodes"),
                                                ({"speed": 3}, "standins.speed")])
def test_bad_settings_name_their_field(tmp_path: Path, options: dict[str, object], field: str) -> None:
    spec = StandinsSpec.model_validate({"product": "otp", **options})
    with pytest.raises(ConfigError) as exc:
        standins.planned_inventory(spec, tmp_path, name="otp-x")
    assert exc.value.field == field
