"""`harness standins up PRODUCT --backend docker --ssh`: containers that look like VMs, reached only over a
real sshd in each (Debian openssh-server), with the product's account and its sudo rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.transports import ssh

pytestmark = pytest.mark.requires_docker


def _check_vm_like(inv: Inventory, account: str | None) -> None:
    assert inv.ssh is not None and inv.ssh.known_hosts and inv.ssh.identity
    assert all(h.transport.startswith("ssh://deploy@127.0.0.1:") for h in inv.hosts), inv.hosts
    env = Environment.from_inventory(inv)
    try:
        for h in env.hosts.values():
            t = h.transport
            assert isinstance(t, ssh.SshTransport)
            assert t.run(["id", "-un"]).stdout.strip() == "root"  # become root (sudo) for the installation
            # the login account itself cannot do anything as root without sudo, and no password works
            d = t.dest  # built from parts, not the URL: no settings the backend registered for it
            plain = ssh.SshTransport(user=d.user, host=d.host, port=d.port, known_hosts=inv.ssh.known_hosts,
                                     identity=inv.ssh.identity)
            assert plain.run(["id", "-un"]).stdout.strip() == "deploy"
            assert "PasswordAuthentication no" in plain.get("/etc/ssh/sshd_config.d/harness.conf").decode()
            if account is not None:
                runbook = ssh.SshTransport(user=d.user, host=d.host, port=d.port, known_hosts=inv.ssh.known_hosts,
                                           identity=inv.ssh.identity, become={"user": account})
                assert runbook.run(["id", "-un"]).stdout.strip() == account  # sudo su - ACCOUNT
        # one connection per host for everything above (the installation's included)
        assert {str(h.transport.dest): ssh.CONNECTS[str(h.transport.dest)]  # type: ignore[attr-defined]
                for h in env.hosts.values()} == {str(h.transport.dest): 1  # type: ignore[attr-defined]
                                                 for h in env.hosts.values()}
    finally:
        env.close()


def test_zato_standins_over_ssh_only(make_standins: Callable[..., Inventory]) -> None:
    inv = make_standins("zato", backend="docker", ssh=True, servers=1)
    assert {c.role for c in inv.components} == {"web-admin", "server", "load-balancer", "scheduler"}
    _check_vm_like(inv, "zato")
    assert inv.front_door
    assert requests.get(inv.front_door + "/zato/ping", timeout=30).status_code == 200
    # the known_hosts the backend wrote names every host's own key: keys differ from container to container
    keys = [line.split()[2] for line in Path(inv.ssh.known_hosts).read_text().splitlines()]  # type: ignore[union-attr, arg-type]
    assert len(keys) == len(inv.hosts) == len(set(keys))


def test_ssh_needs_the_docker_backend(make_standins: Callable[..., Inventory]) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot reach its hosts over SSH"):
        make_standins("zato", backend="process", ssh=True, servers=1)
