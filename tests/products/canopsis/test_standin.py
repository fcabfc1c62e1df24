"""The Canopsis installer's pieces through a fake transport: what reaches a host, and how (no broker runs)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from harness import procs
from harness.backends import Host, HostSpec, backend
from harness.environment import Environment, HostHandle
from harness.errors import SetupFailed
from harness.plan.models import StandinsSpec
from harness.products.canopsis import compose
from harness.products.canopsis.node import CanopsisNode
from harness.products.canopsis.standin import SOURCE
from harness.products.canopsis.standin.broker import DIR, DIST_PORT, SERVER, Broker, pidfiles, stop
from harness.products.canopsis.standin.common import put_tree
from harness.standins import planned_inventory
from harness.testing import FakeTransport


def test_node_programs_are_put_with_the_hosts_interpreter(tmp_path: Path) -> None:
    t = FakeTransport()
    put_tree(t, SOURCE / "node", "/h/opt/canopsis", python="/venv/bin/python")
    assert t.files["/h/opt/canopsis/bin/canoctl"].startswith(b"#!/venv/bin/python\n")
    assert t.files["/h/opt/canopsis/lib/cps_standin/units.py"] == \
        (SOURCE / "node/lib/cps_standin/units.py").read_bytes()
    assert "/h/opt/canopsis/etc/canopsis.toml" in t.files
    assert not [p for p in t.files if p.endswith(".in") or "__pycache__" in p], "templates and caches stay home"
    untouched = FakeTransport()
    put_tree(untouched, SOURCE / "node", "/p")  # Compose: the services run the image's own python3
    assert untouched.files["/p/bin/canoctl"] == (SOURCE / "node/bin/canoctl").read_bytes()


def test_broker_starts_detached_with_its_own_name_ports_and_dirs() -> None:
    t = FakeTransport(lambda argv, cwd, env: (0, "", ""))
    host = Host("rabbitmq", "fake://", root="/s/hosts/rabbitmq", bind="127.0.0.1", address="127.0.0.1",
                ports={5672: 40001, 25672: 40002}, published={5672: 40001, 25672: 40002}, _transport=t)
    b = Broker.on(host, "cps-1")
    assert (b.dir, b.nodename, b.url) == (f"/s/hosts/rabbitmq{DIR}", "cps-cps-1@localhost",
                                          "amqp://cpsrabbit:canopsis@127.0.0.1:40001/canopsis")  # upstream's
    b.start()
    start = t.calls[-1]
    assert start.argv[:2] == ("sh", "-c") and start.argv[3:] == (
        "start", f"{b.dir}/rabbitmq.pid", f"{b.dir}/log/stdout.log", "/usr/lib/rabbitmq/bin/rabbitmq-server")
    assert start.env is not None and start.env["RABBITMQ_NODE_PORT"] == "40001"
    assert start.env["RABBITMQ_DIST_PORT"] == "40002" and start.env["RABBITMQ_MNESIA_BASE"] == f"{b.dir}/mnesia"
    assert b"listeners.tcp.1 = 127.0.0.1:40001" in t.files[f"{b.dir}/rabbitmq.conf"]


def test_compose_node_commands_run_in_the_api_service_from_the_project(tmp_path: Path) -> None:
    spec = StandinsSpec.model_validate({"product": "canopsis", "install": "compose"})
    inv = planned_inventory(spec, tmp_path, name="cps-x")
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_command": ["docker", "compose"]}})
    t = FakeTransport(lambda argv, cwd, env: (0, '{"processed": 1}', ""))
    root = inv.hosts[0].install_dir
    env = Environment(inv, hosts={"node": HostHandle("node", t, root)})
    node = CanopsisNode.of(env)
    assert node.stats("x") == {"processed": 1}
    assert t.calls[-1].argv == ("docker", "compose", "exec", "-T", "api", "/opt/canopsis/bin/cps-stats",
                                "--prefix", "x")
    assert t.calls[-1].cwd == root
    t.files[f"{root}/var/lib/canopsis/package.json"] = b'{"version": "4.4.0"}'
    assert node.installed_version() == "4.4.0", "the project's var/ is read on the host"
    assert compose.Project.of(env).argv("up", "-d") == ["docker", "compose", "up", "-d"]


@pytest.mark.slow
@pytest.mark.skipif(not Path(SERVER).exists(), reason=f"no {SERVER} (Debian rabbitmq-server)")
def test_a_broker_that_cannot_boot_fails_at_once_with_its_log(tmp_path: Path) -> None:
    """A real RabbitMQ whose AMQP port is taken exits while booting: the wait ends then (not at its
    timeout) with the node's log, and stopping it leaves nothing running."""
    [host] = backend("process").provision("cps-taken", tmp_path, [HostSpec("rabbitmq", "canopsis-rabbitmq",
                                                                           ports=(5672, DIST_PORT))])
    broker = Broker.on(host, "cps-taken")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", host.listen(5672)))
        taken.listen()
        started = broker.start()
        try:
            with pytest.raises(SetupFailed, match="exited while booting") as exc:
                broker.wait_ready(started, timeout=100)
            assert time.monotonic() - started < 90 and "--- log tail ---" in str(exc.value)
        finally:
            stop(host.transport, broker.dir)
    pids = [int(Path(p).read_text()) for p in pidfiles(broker.dir) if Path(p).exists()]
    assert not [p for p in pids if procs.alive(p)]


def test_the_broker_a_fault_starts_again_is_awaited_at_its_url_not_the_secrets_file(tmp_path: Path) -> None:
    """The inventory names the broker's URL (credentials, vhost) by a secret file; a broker started again
    after a fault is awaited at the URL that file holds (a reference there waited out its 120 s)."""
    from harness.products.canopsis.standin.packages import broker_of

    inv = planned_inventory(StandinsSpec.model_validate({"product": "canopsis"}), tmp_path, name="cps-x")
    ref = inv.facts["amqp_url"]
    assert set(ref) == {"file"}, "the credentials stay out of the inventory"
    Path(ref["file"]).parent.mkdir(parents=True)
    Path(ref["file"]).write_text("amqp://cpsrabbit:canopsis@127.0.0.1:40001/canopsis\n")
    mq = inv.host("rabbitmq")
    env = Environment(inv, hosts={"rabbitmq": HostHandle("rabbitmq", FakeTransport(), mq.install_dir)})
    assert broker_of(inv, env).url == "amqp://cpsrabbit:canopsis@127.0.0.1:40001/canopsis"
