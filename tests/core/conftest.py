"""A real OpenSSH sshd per test on a free 127.0.0.1 port (no docker), and a second local account for `become`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from harness import sshd as sshd_mod
from harness.sshd import LocalSshd
from harness.transports import ssh

BECOME_USER = "harness-become"


@pytest.fixture(scope="session")
def become_user() -> str:
    """A local account for `become` tests (created once per machine; root only)."""
    if os.geteuid() != 0:
        pytest.skip("become tests log in as one account and become another: they need root to create it")
    if not shutil.which("sudo"):
        pytest.skip("become needs sudo (Debian package sudo; scripts/bootstrap installs it)")
    with FileLock(os.path.join(tempfile.gettempdir(), "harness-become.lock")):
        try:
            pwd.getpwnam(BECOME_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--create-home", "--shell", "/bin/sh", BECOME_USER],
                           check=True, capture_output=True)
        # no password, yet not locked ("!"): sshd without PAM refuses a locked account's key logins
        subprocess.run(["usermod", "-p", "*", BECOME_USER], check=True, capture_output=True)
    return BECOME_USER


@pytest.fixture
def make_sshd() -> Iterator[Callable[..., LocalSshd]]:
    ok, why = sshd_mod.available()
    if not ok:
        pytest.skip(why)
    started: list[LocalSshd] = []

    def make(*users: str, **kw: object) -> LocalSshd:
        # not under tmp_path: sshd reads authorized_keys as the account logging in, which must reach it
        d = Path(tempfile.mkdtemp(prefix="harness-sshd-"))
        s = LocalSshd(d, users=users or (), **kw)  # type: ignore[arg-type]
        started.append(s)
        return s.start()

    yield make
    ssh.close_all()
    for s in started:
        s.stop()
        shutil.rmtree(s.dir, ignore_errors=True)


@pytest.fixture
def sshd(make_sshd: Callable[..., LocalSshd]) -> LocalSshd:
    return make_sshd()


def transport(s: LocalSshd, user: str | None = None, **kw: object) -> ssh.SshTransport:
    opts: dict[str, object] = {"known_hosts": s.known_hosts, "identity": s.client_key, **kw}
    return ssh.SshTransport(s.spec(user), **opts)  # type: ignore[arg-type]
