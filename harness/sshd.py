"""A real OpenSSH ``sshd`` on a 127.0.0.1 port, for the SSH transport's tests and bench.

It runs in the foreground (``sshd -D -e -f CONFIG``) with a host key, a client key, an
``authorized_keys`` and a ``known_hosts`` of its own in one directory, so it changes nothing of the
machine's own sshd. Needs Debian ``openssh-server`` (``/usr/sbin/sshd``); logging in as another account
than the one running it needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness import procs
from harness.net import LOOPBACK, free_port
from harness.wait import PortOpen, wait_until

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def available() -> tuple[bool, str]:
    if not Path(SSHD).is_file():
        return False, "no OpenSSH sshd (/usr/sbin/sshd): install Debian openssh-server"
    if not shutil.which("ssh-keygen"):
        return False, "no ssh-keygen: install Debian openssh-client"
    return True, ""


def keygen(path: Path, comment: str = "upgrade-harness") -> Path:
    """An ed25519 key pair at ``path`` / ``path.pub`` (no passphrase)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)
    return path


@dataclass
class LocalSshd:
    """``sshd`` for ``dir``; :meth:`start` it, reach it with :meth:`spec` and :attr:`known_hosts`."""

    dir: Path
    port: int = 0
    #: accounts allowed to log in (their authorized_keys is ``dir/authorized_keys``)
    users: tuple[str, ...] = ()
    extra_config: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dir = Path(self.dir)
        self.port = self.port or free_port()
        if not self.users:
            import pwd

            self.users = (pwd.getpwuid(os.getuid()).pw_name,)

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    def spec(self, user: str | None = None) -> str:
        return f"ssh://{user or self.users[0]}@{LOOPBACK}:{self.port}"

    def prepare(self) -> LocalSshd:
        # sshd reads authorized_keys as the user logging in: the directory must be traversable by them
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        if not self.host_key.exists():
            keygen(self.host_key, "host")
        if not self.client_key.exists():
            keygen(self.client_key, "client")
        (self.dir / "authorized_keys").write_text((self.client_key.with_suffix(".pub")).read_text())
        (self.dir / "authorized_keys").chmod(0o644)
        self.write_known_hosts()
        (self.dir / "sshd_config").write_text(self.config())
        return self

    def write_known_hosts(self) -> None:
        pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[{LOOPBACK}]:{self.port} {pub[0]} {pub[1]}\n")

    def config(self) -> str:
        return "\n".join([
            f"ListenAddress {LOOPBACK}:{self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            f"AllowUsers {' '.join(self.users)}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "MaxSessions 64",
            "MaxStartups 200",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            # Debian's bash sources ~/.bashrc for a command run by sshd when it is a top-level shell (SHLVL
            # < 2): this machine's root ~/.bashrc (pyenv init) then costs 100-250 ms per command, which is the
            # account's cost, not the transport's. Started as a second-level shell, bash skips it.
            "SetEnv SHLVL=1",
            self.extra_config, ""])

    def start(self) -> LocalSshd:
        self.prepare()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True) if os.geteuid() == 0 else None  # privsep dir
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        wait_until(lambda: self.proc is not None and (self.proc.poll() is not None or PortOpen(LOOPBACK, self.port)()),
                   timeout=30, what=f"sshd on {LOOPBACK}:{self.port}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited {self.proc.returncode}:\n{self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            procs.terminate(self.proc.pid, group=True)
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> LocalSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
