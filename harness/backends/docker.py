"""The docker backend: each host is a container on a labelled per-run network, reached by docker exec.

A host ``NAME`` of environment ``ENV`` is the container ``ENV-NAME`` (hostname and network alias
``NAME``) of image ``upgrade-harness/IMAGE`` (``containers/IMAGE/Dockerfile``, built on first use),
running nothing but ``sleep`` under tini until the product starts its programs through the transport.
The product listens on its documented ports on 0.0.0.0 inside the network, where the other hosts reach
it by name; each port is published on 127.0.0.1 for the controller. Mounts are bind mounts (read-only
unless ``writable``). Every container and the network carry the environment's label:
:meth:`DockerBackend.teardown` (and ``.ci/run`` as a last resort) removes them all.

With ``ssh=True`` the hosts look like VMs: each container runs the image ``IMAGE-ssh``
(``containers/ssh``: a real OpenSSH sshd and sudo over the product's image) with fresh host keys of its
own, the login account ``deploy`` (sudo to root, keys only) and the product's account
(:attr:`HostSpec.account`, which ``deploy`` may ``sudo su -`` to). The controller's key pair and the
``known_hosts`` naming every container's key live in ``STATE/ssh/``; the inventory reaches each host only
as ``ssh://deploy@127.0.0.1:PORT``, with ``become: root`` (sudo) for the stand-ins' own installation.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.backends.base import Backend, Host, HostSpec
from harness.errors import SetupFailed
from harness.net import LOOPBACK

IDLE = ["sleep", "infinity"]  # pid 1 is docker-init (tini): it reaps what the product starts and forwards signals
PYTHON = "/usr/bin/python3"
SSH_PORT = 22
LOGIN = "deploy"
#: per container, through docker exec before sshd starts: fresh host keys, the product's account ("$1")
#: with its sudo rule, the controller's public key for the login account ("$2"); then sshd (it daemonizes)
_SSH_SETUP = ('set -e; rm -f /etc/ssh/ssh_host_*; ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key; '
              'if [ -n "$1" ] && ! id -u "$1" >/dev/null 2>&1; then useradd --create-home --shell /bin/bash '
              '--password "*" "$1"; fi; '
              'if [ -n "$1" ]; then printf "%s ALL=(root) NOPASSWD: /usr/bin/su - %s\n%s ALL=(%s) NOPASSWD: ALL\n" '
              f'{LOGIN} "$1" {LOGIN} "$1" > "/etc/sudoers.d/account-$1"; chmod 0440 "/etc/sudoers.d/account-$1"; fi; '
              f'printf "%s\n" "$2" > /home/{LOGIN}/.ssh/authorized_keys; '
              f'chown {LOGIN}:{LOGIN} /home/{LOGIN}/.ssh/authorized_keys; '
              f'chmod 0600 /home/{LOGIN}/.ssh/authorized_keys; '
              'mkdir -p /run/sshd; /usr/sbin/sshd -E /var/log/sshd.log')


def container_name(environment: str, host: str) -> str:
    return f"{environment}-{host}"


class DockerBackend(Backend):
    NAME = "docker"
    EPHEMERAL = True
    SSH_CAPABLE = True

    def __init__(self, *, ssh: bool = False) -> None:
        self.ssh = ssh

    def available(self) -> tuple[bool, str]:
        from harness.backends.docker_engine import docker_available

        return docker_available()

    def _host(self, environment: str, spec: HostSpec, published: dict[int, int], ssh_port: int = 0) -> Host:
        transport = (f"ssh://{LOGIN}@{LOOPBACK}:{ssh_port}" if self.ssh
                     else f"docker://{container_name(environment, spec.name)}")
        return Host(name=spec.name, transport_spec=transport, root="", bind="0.0.0.0", address=spec.name,
                    ports={p: p for p in spec.ports}, published=published, python=PYTHON)

    @staticmethod
    def ssh_dir(state_dir: Path) -> Path:
        return state_dir / "ssh"

    def inventory_settings(self, state_dir: Path) -> dict[str, object]:
        if not self.ssh:
            return {}
        d = self.ssh_dir(state_dir)
        return {"ssh": {"known_hosts": str(d / "known_hosts"), "identity": str(d / "id_ed25519"),
                        "become": {"user": "root", "method": "sudo"}}}

    def _ssh_keys(self, state_dir: Path) -> str:
        """The controller's public key (its key pair made once per environment in ``STATE/ssh``)."""
        from harness.sshd import keygen

        d = self.ssh_dir(state_dir)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = d / "id_ed25519"
        if not key.exists():
            keygen(key, "upgrade-harness controller")
        return key.with_suffix(".pub").read_text().strip()

    def _start_sshd(self, c: object, spec: HostSpec, pubkey: str) -> tuple[int, str]:
        """Set up and start sshd in the started container ``c``; its published port and known_hosts line."""
        from harness.backends.containers import docker_exec_transport
        from harness.wait import PortOpen, wait_until

        t = docker_exec_transport(c)  # type: ignore[arg-type]
        t.run(["sh", "-c", _SSH_SETUP, "setup", spec.account or "", pubkey], timeout=120).check()
        port = int(c.get_exposed_port(SSH_PORT))  # type: ignore[attr-defined]
        wait_until(PortOpen(LOOPBACK, port), timeout=60, what=f"sshd of {spec.name} on {LOOPBACK}:{port}")
        kind, b64 = t.get("/etc/ssh/ssh_host_ed25519_key.pub").decode().split()[:2]
        return port, f"[{LOOPBACK}]:{port} {kind} {b64}"

    def provision(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        from harness.backends.containers import StandinContainer, run_network
        from harness.backends.docker_engine import CONTAINERS_DIR, cleanup, ensure_image

        ok, why = self.available()
        if not ok:
            raise SetupFailed(f"the docker backend cannot run here: {why}")
        images = {spec.image: ensure_image(spec.image) for spec in hosts}
        if self.ssh:
            ssh_context = CONTAINERS_DIR / "ssh"
            images = {name: ensure_image(f"{name}-ssh", context=ssh_context, base_image=tag)
                      for name, tag in images.items()}
            pubkey = self._ssh_keys(state_dir)
        known: list[str] = []

        def start(spec: HostSpec) -> Host:
            c = (StandinContainer(images[spec.image], run_id=environment)
                 .with_network(net).with_network_aliases(spec.name)
                 .with_name(container_name(environment, spec.name)).with_command(IDLE)
                 .with_kwargs(hostname=spec.name))
            for port in (*spec.ports, SSH_PORT) if self.ssh else spec.ports:
                c.with_published_port(port)
            for m in spec.mounts:
                if m.writable:
                    c.with_volume_mapping(str(m.source.resolve()), m.target, "rw")
                else:
                    c.with_bind_mount(m.source.resolve(), m.target)
            for k, v in spec.env.items():
                c.with_env(k, v)
            c.start()
            ssh_port = 0
            if self.ssh:
                ssh_port, line = self._start_sshd(c, spec, pubkey)
                known.append(line)
            return self._host(environment, spec, {p: int(c.get_exposed_port(p)) for p in spec.ports}, ssh_port)

        try:
            net = run_network(environment)
            with ThreadPoolExecutor(max_workers=min(8, max(1, len(hosts)))) as pool:
                provisioned = list(pool.map(start, hosts))
        except BaseException:
            cleanup(environment)
            raise
        if self.ssh:
            from harness.transports import ssh

            settings = self.inventory_settings(state_dir)["ssh"]
            known_hosts = self.ssh_dir(state_dir) / "known_hosts"
            known_hosts.write_text("".join(f"{line}\n" for line in sorted(known)))
            for h in provisioned:
                ssh.register(h.transport_spec, **settings)  # type: ignore[arg-type]
        return provisioned

    def planned(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        return [self._host(environment, spec, dict.fromkeys(spec.ports, 0)) for spec in hosts]

    def teardown(self, environment: str, state_dir: Path) -> None:
        import sys

        from harness.backends.docker_engine import cleanup, docker_available

        if "harness.transports.ssh" in sys.modules:  # this environment's connections, not another's
            sys.modules["harness.transports.ssh"].close_all(self.ssh_dir(state_dir) / "known_hosts")
        if docker_available()[0]:
            cleanup(environment)
