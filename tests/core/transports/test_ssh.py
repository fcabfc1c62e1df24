"""The SSH transport against a real OpenSSH sshd on 127.0.0.1 (started by the test, no docker)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.environment import Environment
from harness.errors import ConfigError, PlanError
from harness.net import free_port
from harness.plan.loader import load_inventory
from harness.sshd import LocalSshd, keygen
from harness.transports import ssh, transport_for
from harness.wait import wait_until

from ..conftest import transport


def _accepted(s: LocalSshd) -> int:
    """How many logins the sshd itself logged (each is one TCP connection authenticated)."""
    return s.log.read_text().count("Accepted publickey")


def test_argv_reaches_the_host_intact_with_cwd_and_env(sshd: LocalSshd, tmp_path: Path) -> None:
    t = transport(sshd)
    args = ["a b", "$HOME", "'q'", '"d"', "x;rm -rf /", "*", ""]
    r = t.run(["printf", "%s\n", *args])
    assert r.ok and r.stdout.split("\n")[:-1] == args
    assert t.run(["pwd"], cwd=str(sshd.dir)).stdout.strip() == str(sshd.dir)
    assert t.run(["sh", "-c", 'printf %s "$V"'], env={"V": "one two$x"}).stdout == "one two$x"
    r = t.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (r.exit_code, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert r.target == sshd.spec()


def test_put_and_get_bytes_with_mode_and_missing_file(sshd: LocalSshd) -> None:
    t = transport(sshd)
    path = sshd.dir / "deep" / "dir" / "f.bin"
    data = bytes(range(256)) * 1000
    t.put(str(path), data, mode=0o600)
    assert path.read_bytes() == data and (path.stat().st_mode & 0o777) == 0o600
    assert t.get(str(path)) == data
    assert not [p for p in path.parent.iterdir() if p.name != "f.bin"]  # no temporary left beside
    with pytest.raises(FileNotFoundError):
        t.get(str(sshd.dir / "missing"))
    with pytest.raises(IsADirectoryError):
        t.get(str(sshd.dir))
    assert t.exists(str(path)) and not t.exists(str(sshd.dir / "missing"))
    t.put(str(sshd.dir / "empty"), b"")
    assert (sshd.dir / "empty").read_bytes() == b"" and t.get(str(sshd.dir / "empty")) == b""
    assert t.run(["cat"], timeout=60).stdout == ""  # stdin is closed, as /dev/null on the local transport


def test_one_connection_per_host_shared_by_transports_and_parallel_channels(sshd: LocalSshd) -> None:
    a, b = transport(sshd), transport_for(sshd.spec(), known_hosts=str(sshd.known_hosts),
                                          identity=str(sshd.client_key))
    for _ in range(5):
        assert a.run(["true"]).ok and b.run(["true"]).ok
    # a barrier: each command waits until all four are running, so they can only finish if their
    # channels run at the same time on the one connection
    barrier = sshd.dir / "barrier"
    barrier.mkdir()
    script = f'touch {barrier}/$1; n=0; while [ "$(ls {barrier} | wc -l)" -lt 4 ]; do sleep 0.05; done'
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: a.run(["sh", "-c", script, "w", str(i)], timeout=120), range(4)))
    assert all(r.ok for r in results)
    assert ssh.CONNECTS[sshd.spec()] == 1
    assert _accepted(sshd) == 1


def test_unknown_host_key_is_refused_with_its_fingerprint_and_how_to_accept(sshd: LocalSshd) -> None:
    sshd.known_hosts.write_text("")
    fingerprint = subprocess.run(["ssh-keygen", "-lf", f"{sshd.host_key}.pub"], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    with pytest.raises(ssh.HostKeyUnknown) as exc:
        transport(sshd).run(["true"])
    text = str(exc.value)
    assert fingerprint in text and sshd.spec() in text
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {sshd.known_hosts}" in text
    assert _accepted(sshd) == 0  # refused before authenticating


def test_missing_known_hosts_file_is_refused(sshd: LocalSshd) -> None:
    with pytest.raises(ssh.HostKeyUnknown, match="does not exist"):
        transport(sshd, known_hosts=sshd.dir / "nope").run(["true"])


def test_changed_host_key_is_refused(sshd: LocalSshd) -> None:
    other = keygen(sshd.dir / "other_host_key")
    kind, b64 = Path(f"{other}.pub").read_text().split()[:2]
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    with pytest.raises(ssh.HostKeyChanged, match="HOST KEY CHANGED") as exc:
        transport(sshd).run(["true"])
    assert "ssh-keygen -R" in str(exc.value)
    assert _accepted(sshd) == 0


def test_wrong_key_is_refused_and_no_password_is_tried(sshd: LocalSshd) -> None:
    wrong = keygen(sshd.dir / "wrong")
    with pytest.raises(ssh.AuthRefused, match="authentication refused") as exc:
        transport(sshd, identity=wrong).run(["true"])
    assert "authorized_keys" in str(exc.value)
    assert "password" not in sshd.log.read_text().split("Connection from", 1)[-1].lower().replace(
        "passwordauthentication", "")


def test_unreachable_and_wrong_port(sshd: LocalSshd) -> None:
    with pytest.raises(ssh.SshUnreachable, match="connection refused") as exc:
        ssh.SshTransport(f"ssh://root@127.0.0.1:{free_port()}", known_hosts=sshd.known_hosts).run(["true"])
    assert "is sshd running" in str(exc.value)
    # a port where something else answers (not SSH)
    srv = subprocess.Popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port := free_port())],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), timeout=30, what="http server")
        with pytest.raises(ssh.SshUnreachable) as exc:
            ssh.SshTransport(f"ssh://root@127.0.0.1:{port}", known_hosts=sshd.known_hosts,
                             connect_timeout=20).run(["true"])
        assert f"127.0.0.1:{port}" in str(exc.value)
    finally:
        srv.terminate()
        srv.wait(10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_missing_command_names_it_and_the_host(sshd: LocalSshd) -> None:
    with pytest.raises(ssh.CommandMissing, match="cannot run 'zato-no-such-command'") as exc:
        transport(sshd).run(["zato-no-such-command", "--version"])
    assert sshd.spec() in str(exc.value)


def test_become_runs_commands_and_files_as_the_account(make_sshd: Callable[..., LocalSshd],
                                                       become_user: str) -> None:
    s = make_sshd("root")
    for method in ("su", "sudo"):
        t = transport(s, become={"user": become_user, "method": method})
        assert t.run(["id", "-un"]).stdout.strip() == become_user
        home = t.run(["sh", "-c", 'echo "$HOME"']).stdout.strip()
        path = f"{home}/from-{method}.txt"
        t.put(path, b"hello")
        assert t.get(path) == b"hello"
        import pwd

        assert Path(path).stat().st_uid == pwd.getpwnam(become_user).pw_uid
        assert "(as harness-become)" in t.target


def test_refused_become_is_a_clear_error(make_sshd: Callable[..., LocalSshd], become_user: str) -> None:
    s = make_sshd(become_user)
    with pytest.raises(ssh.BecomeRefused, match="`become` root refused") as exc:
        transport(s, become={"user": "root"}).run(["id"])
    assert "NOPASSWD" in str(exc.value)


def test_dropped_connection_mid_command_then_reconnects(sshd: LocalSshd) -> None:
    t = transport(sshd)
    assert t.run(["true"]).ok
    marker = sshd.dir / "started"
    errors: list[BaseException] = []

    def long() -> None:
        try:
            t.run(["sh", "-c", f"touch {marker}; sleep 600"], timeout=900)
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=long)
    th.start()
    wait_until(marker.exists, timeout=60, what="the long command to start")
    assert sshd.proc is not None
    for pid in _children(sshd.proc.pid):  # the per-connection sshd processes our sshd forked
        os.kill(pid, signal.SIGKILL)
    th.join(120)
    assert not th.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ssh.SshDropped), errors
    assert "outcome on the host is unknown" in str(errors[0])
    kill_left_over(marker)
    assert t.run(["echo", "back"]).stdout == "back\n"
    assert ssh.CONNECTS[sshd.spec()] == 2


def kill_left_over(marker: Path) -> None:
    """End the remote command a cut connection left running (its sshd session is gone, it is not): found
    by the test's own unique marker path in its command line."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if str(marker).encode() in (p / "cmdline").read_bytes():
                    os.kill(int(p.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def test_url_with_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="carries a password"):
        ssh.SshTransport("ssh://root:hunter2@127.0.0.1:22")
    with pytest.raises(ConfigError, match="bad SSH transport"):
        ssh.SshTransport("ssh://127.0.0.1:22")


def test_inventory_ssh_settings_reach_the_transport(sshd: LocalSshd, tmp_path: Path) -> None:
    inv_dir = tmp_path / "env"
    inv_dir.mkdir()
    (inv_dir / "kh").write_text(sshd.known_hosts.read_text())
    (inv_dir / "inventory.yaml").write_text(f"""\
environment: staging
product: zato
ssh:
  known_hosts: kh
  identity: {sshd.client_key}
hosts:
  - name: vm1
    transport: {sshd.spec()}
    install_dir: /opt/zato/current
  - name: vm2
    transport: {sshd.spec()}
    install_dir: /opt/zato/current
    ssh: {{become: {{user: nobody, method: sudo}}}}
components: []
""")
    inv = load_inventory(inv_dir / "inventory.yaml")
    assert inv.ssh_settings(inv.host("vm1")).known_hosts == str((inv_dir / "kh").resolve())
    env = Environment.from_inventory(inv)
    t1, t2 = env.hosts["vm1"].transport, env.hosts["vm2"].transport
    assert isinstance(t1, ssh.SshTransport) and isinstance(t2, ssh.SshTransport)
    assert t1.run(["id", "-un"]).stdout.strip() == "root"
    assert t2.become is not None and t2.become.user == "nobody" and t2.become.method == "sudo"
    assert str(t2.known_hosts) == str((inv_dir / "kh").resolve())


def _role_inventory(path: Path, sshd: LocalSshd, by_role: str, *, lb_host: str = "vm-lb",
                    lb_ssh: str = "") -> Path:
    path.write_text(f"""\
environment: staging
product: zato
ssh:
  known_hosts: {sshd.known_hosts}
  identity: {sshd.client_key}
ssh_by_role:
{by_role}
hosts:
  - name: vm-lb
    transport: {sshd.spec()}
    install_dir: /opt/zato/current
{lb_ssh}
  - name: vm-server
    transport: {sshd.spec()}
    install_dir: /opt/zato/current
components:
  - {{name: load-balancer, role: load-balancer, host: {lb_host}, path: /opt/zato/env/lb, url: "http://127.0.0.1:1"}}
  - {{name: server1, role: server, host: vm-server, path: /opt/zato/env/server1, url: "http://127.0.0.1:2"}}
""")
    return path


def test_become_declared_per_role_reaches_the_hosts_of_that_role(sshd: LocalSshd, tmp_path: Path) -> None:
    inv = load_inventory(_role_inventory(tmp_path / "inv.yaml", sshd,
                                         "  load-balancer: {become: {user: nobody, method: sudo}}"))
    env = Environment.from_inventory(inv)
    lb, server = env.hosts["vm-lb"].transport, env.hosts["vm-server"].transport
    assert isinstance(lb, ssh.SshTransport) and isinstance(server, ssh.SshTransport)
    assert lb.become is not None and (lb.become.user, lb.become.method) == ("nobody", "sudo")
    assert server.become is None and server.run(["id", "-un"]).stdout.strip() == "root"
    assert str(lb.known_hosts) == str(sshd.known_hosts), "the inventory's settings stay under the role's"
    # a host's own `ssh` is over its roles'
    inv = load_inventory(_role_inventory(tmp_path / "inv2.yaml", sshd,
                                         "  load-balancer: {become: {user: nobody, method: sudo}}",
                                         lb_ssh="    ssh: {become: {user: daemon}}"))
    become = inv.ssh_settings(inv.host("vm-lb")).become
    assert become is not None and (become.user, become.method) == ("daemon", "su")


def test_become_per_role_refuses_an_unknown_role_and_a_host_with_two_ways(sshd: LocalSshd,
                                                                          tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"no component has the role 'load-balancr'.*load-balancer, server") as exc:
        load_inventory(_role_inventory(tmp_path / "a.yaml", sshd, "  load-balancr: {become: {user: nobody}}"))
    assert "a.yaml" in str(exc.value) and "ssh_by_role" in str(exc.value)
    with pytest.raises(PlanError, match="host 'vm-server' holds components of the roles load-balancer, server"):
        load_inventory(_role_inventory(tmp_path / "b.yaml", sshd, "  load-balancer: {become: {user: nobody}}\n"
                                       "  server: {become: {user: zato}}", lb_host="vm-server"))


def test_inventory_refuses_a_password_in_an_ssh_url(tmp_path: Path) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text("environment: e\nproduct: zato\nhosts:\n  - name: a\n    transport: ssh://u:pw@127.0.0.1:22\n"
                 "    install_dir: /x\ncomponents: []\n")
    with pytest.raises(PlanError, match="no password in an ssh:// URL"):
        load_inventory(f)
