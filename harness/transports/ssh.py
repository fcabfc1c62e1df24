"""Commands and files on a host reached over SSH (``ssh://user@host:port``), with asyncssh.

- **One connection per host for the whole run.** Connections live in a process-wide pool keyed by
  (user, host, port, known_hosts, identity); every command and file transfer of every transport to that
  host opens a channel on it, so a parallel stage multiplexes its channels over one TCP connection.
  A connection found closed (the host dropped it) is reopened for the *next* command; the command it
  dropped under raises :class:`SshDropped` (its outcome on the host is unknown).
- **One event loop.** asyncssh is asyncio-only and the Transport API is synchronous: all connections
  run on one daemon thread's event loop, and :meth:`SshTransport.run` waits on a future from it.
  Threads of a parallel stage call ``run`` concurrently; their channels interleave on that loop.
- **Host keys are verified** against the ``known_hosts`` file the inventory names. An unknown key is
  refused with its fingerprint and how to accept it; a key different from the one recorded is refused
  as changed. There is no "accept new keys" mode.
- **Key or agent authentication only** (``preferred_auth=publickey``): never a password.
- **become** (``sudo su - zato`` as the runbooks do it, or ``sudo -u``): every command and file transfer
  runs as that account; ``sudo -n`` so a missing sudo rule is refused at once instead of prompting.

Argv lists only: the remote side gets ``shlex.join(argv)`` (each argument single-quoted), never a
string built from input unquoted. Files travel as bytes on a channel's stdin/stdout (``cat``), so the
same path works with and without ``become``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import threading
import time
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from harness.errors import ConfigError, ConnectTimeout, TransportError
from harness.transports.base import CommandResult, Transport


@functools.cache
def _asyncssh() -> Any:
    """asyncssh, imported once, when the first ssh:// host is reached. Its import touches
    ``cryptography``'s DSA classes, which cryptography 51 deprecates with a warning on every run; the
    harness never offers or accepts DSA keys (OpenSSH has refused them by default since 7.0), so that one
    warning is silenced here rather than shown to every user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="DSA is deprecated")
        import asyncssh

    return asyncssh

T = TypeVar("T")

#: exit code of the remote helper when a file asked for does not exist (``get``)
_ENOENT = 44


class SshError(TransportError):
    """Base of the SSH transport's own refusals; ``kind`` is a stable word for reports and exit codes."""

    kind = "ssh"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(f"{message}\nHint: {hint}" if hint else message)


class SshUnreachable(SshError):
    kind = "unreachable"


class SshConnectTimeout(SshError, ConnectTimeout):
    kind = "connect-timeout"


class HostKeyUnknown(SshError):
    kind = "host-key-unknown"


class HostKeyChanged(SshError):
    kind = "host-key-changed"


class AuthRefused(SshError):
    kind = "auth-refused"


class BecomeRefused(SshError):
    kind = "become-refused"


class CommandMissing(SshError):
    kind = "command-missing"


class SshDropped(SshError):
    kind = "connection-dropped"


@dataclass(frozen=True)
class Become:
    """Run every command as ``user``: ``su`` = ``sudo -n su - USER -c CMD`` (the runbooks' ``sudo su - zato``,
    the account's login environment), ``sudo`` = ``sudo -n -H -u USER -- sh -c CMD``."""

    user: str
    method: Literal["su", "sudo"] = "su"

    def wrap(self, command: str) -> str:
        if self.method == "su":
            return shlex.join(["sudo", "-n", "su", "-", self.user, "-c", command])
        return shlex.join(["sudo", "-n", "-H", "-u", self.user, "--", "sh", "-c", command])


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int

    @classmethod
    def parse(cls, spec: str) -> SshTarget:
        parts = urlsplit(spec)
        if parts.scheme != "ssh" or not parts.hostname or not parts.username:
            raise ConfigError(f"bad SSH transport {spec!r}", hint="write ssh://USER@HOST:PORT (the port may be "
                              "left out for 22); a password never goes in the URL, use a key or the agent")
        if parts.password is not None:
            raise ConfigError(f"SSH transport {_redact(spec)!r} carries a password",
                              hint="remove it: authentication is by key (identity:) or the SSH agent only")
        try:
            port = parts.port or 22
        except ValueError:
            raise ConfigError(f"bad port in SSH transport {spec!r}", hint="a number from 1 to 65535") from None
        return cls(unquote(parts.username), parts.hostname, port)

    def __str__(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


def _redact(spec: str) -> str:
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    return spec.replace(f":{parts.password}@", ":***@")


class _Loop:
    """The one background event loop every SSH connection of this process runs on."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True, name="harness-ssh-loop").start()
                cls._loop = loop
            return cls._loop

    @classmethod
    def call(cls, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, cls.get()).result()


_PoolKey = tuple[str, str, int, str, str]
_POOL: dict[_PoolKey, Any] = {}
_POOL_LOCKS: dict[_PoolKey, asyncio.Lock] = {}
#: connections opened since the process started, per host (tests and bench read it: one per host per run)
CONNECTS: dict[str, int] = {}


#: settings of ``ssh://`` hosts a backend provisioned in this process (known_hosts, identity, become), used
#: when a transport to that URL is made without them (a product's installer builds transports from URLs only)
DEFAULTS: dict[str, dict[str, Any]] = {}


def register(spec: str, **settings: Any) -> None:
    DEFAULTS[spec] = {k: v for k, v in settings.items() if v is not None}


def close_all(known_hosts: str | os.PathLike[str] | None = None) -> None:
    """Close every pooled connection (end of a run, or a test), or those verified against ``known_hosts``
    (one environment's)."""
    keys = [k for k in _POOL if known_hosts is None or k[3] == str(Path(known_hosts).expanduser())]
    conns = [_POOL.pop(k) for k in keys]

    async def _close() -> None:
        for c in conns:
            c.close()
            await c.wait_closed()

    if conns:
        _Loop.call(_close())


class SshTransport(Transport):
    NAME = "ssh"

    def __init__(self, spec: str = "", *, user: str = "", host: str = "", port: int = 22,
                 known_hosts: str | os.PathLike[str] | None = None, identity: str | os.PathLike[str] | None = None,
                 become: Become | Mapping[str, str] | str | None = None, connect_timeout: float = 15.0) -> None:
        self.dest = SshTarget.parse(spec) if spec else SshTarget(user, host, port)
        defaults = DEFAULTS.get(spec, {}) if spec else {}
        known_hosts = known_hosts or defaults.get("known_hosts")
        identity = identity or defaults.get("identity")
        become = become if become is not None else defaults.get("become")
        if not self.dest.user or not self.dest.host:
            raise ConfigError("an SSH transport needs a user and a host", hint="ssh://USER@HOST:PORT")
        kh = Path(known_hosts).expanduser() if known_hosts else Path("~/.ssh/known_hosts").expanduser()
        self.known_hosts = kh
        self.identity = Path(identity).expanduser() if identity else None
        if isinstance(become, str):
            become = Become(become)
        elif isinstance(become, Mapping):
            method = become.get("method", "su")
            if method not in ("su", "sudo"):
                raise ConfigError(f"unknown become method {method!r}", hint="use su or sudo")
            become = Become(become["user"], "su" if method == "su" else "sudo")
        self.become = become
        self.connect_timeout = connect_timeout

    @property
    def target(self) -> str:
        return f"{self.dest}" + (f" (as {self.become.user})" if self.become else "")

    # -- connection -------------------------------------------------------------------------------

    @property
    def _key(self) -> _PoolKey:
        return (self.dest.user, self.dest.host, self.dest.port, str(self.known_hosts), str(self.identity or ""))

    async def _conn(self) -> Any:
        key = self._key
        lock = _POOL_LOCKS.setdefault(key, asyncio.Lock())
        async with lock:
            conn = _POOL.get(key)
            if conn is not None and not conn.is_closed():
                return conn
            _POOL.pop(key, None)
            conn = await self._connect()
            _POOL[key] = conn
            CONNECTS[str(self.dest)] = CONNECTS.get(str(self.dest), 0) + 1
            return conn

    async def _connect(self) -> Any:
        asyncssh = _asyncssh()

        if not self.known_hosts.is_file():
            raise HostKeyUnknown(f"{self.dest}: known_hosts file {self.known_hosts} does not exist",
                                 hint=self._accept_hint())
        if self.identity is not None and not self.identity.is_file():
            raise ConfigError(f"{self.dest}: identity file {self.identity} does not exist",
                              hint="give the private key the host's authorized_keys accepts, or leave "
                              "`identity` out to use the SSH agent and ~/.ssh/id_*")
        kwargs: dict[str, Any] = {"client_keys": [str(self.identity)]} if self.identity else {}
        try:
            return await asyncssh.connect(
                self.dest.host, self.dest.port, username=self.dest.user, known_hosts=str(self.known_hosts),
                preferred_auth="publickey", password=None, kbdint_auth=False, config=None,
                connect_timeout=self.connect_timeout, keepalive_interval=15, keepalive_count_max=4, **kwargs)
        except asyncssh.HostKeyNotVerifiable:
            raise await self._host_key_error() from None
        except asyncssh.PermissionDenied as exc:
            how = f"key {self.identity}" if self.identity else "the SSH agent's keys and ~/.ssh/id_*"
            raise AuthRefused(f"{self.dest}: authentication refused ({exc.reason}); tried {how}",
                              hint=f"add the public key to ~{self.dest.user}/.ssh/authorized_keys on "
                              f"{self.dest.host}, or name the right key with `identity:` in the inventory") from None
        except TimeoutError:
            raise SshConnectTimeout(f"{self.dest}: no SSH handshake within {self.connect_timeout}s",
                                    hint="check the host is up and that a firewall lets the port through") from None
        except ConnectionRefusedError:
            raise SshUnreachable(f"{self.dest}: connection refused",
                                 hint=f"nothing listens on port {self.dest.port}: is sshd running, "
                                 "and is this the right port?") from None
        except OSError as exc:
            raise SshUnreachable(f"{self.dest}: cannot connect: {exc.strerror or exc}",
                                 hint="check the host name and the network route to it") from None
        except asyncssh.Error as exc:
            raise SshUnreachable(f"{self.dest}: SSH handshake failed: {exc.reason}",
                                 hint="check this is an SSH server, and the port") from None

    async def _host_key_error(self) -> SshError:
        asyncssh = _asyncssh()

        try:
            key = await asyncssh.get_server_host_key(self.dest.host, self.dest.port)
        except (OSError, asyncssh.Error):
            key = None
        fingerprint = key.get_fingerprint("sha256") if key is not None else "(could not be read)"
        algo = key.get_algorithm() if key is not None else "?"
        try:
            known = asyncssh.read_known_hosts(str(self.known_hosts))
            trusted = known.match(self.dest.host, self.dest.host, self.dest.port)[0]
        except (OSError, ValueError):
            trusted = []
        if trusted:
            recorded = ", ".join(k.get_fingerprint("sha256") for k in trusted)
            return HostKeyChanged(
                f"{self.dest}: HOST KEY CHANGED: the host offers {algo} {fingerprint}, "
                f"{self.known_hosts} records {recorded}; refusing to connect (it may be another machine)",
                hint=f"if the host was reinstalled and its new key is confirmed out of band, remove the old "
                f"entry (ssh-keygen -R '{self._kh_name()}' -f {self.known_hosts}) and accept the new one")
        return HostKeyUnknown(f"{self.dest}: host key unknown: the host offers {algo} {fingerprint}, "
                              f"which {self.known_hosts} does not record", hint=self._accept_hint())

    def _kh_name(self) -> str:
        return self.dest.host if self.dest.port == 22 else f"[{self.dest.host}]:{self.dest.port}"

    def _accept_hint(self) -> str:
        return (f"compare the fingerprint with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on it), "
                f"then accept it: ssh-keyscan -p {self.dest.port} {self.dest.host} >> {self.known_hosts}")

    # -- commands ---------------------------------------------------------------------------------

    def _command(self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str] | None) -> str:
        if not argv:
            raise ConfigError(f"{self.target}: empty command")
        cmd = shlex.join(argv)
        if env:
            cmd = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " " + cmd
        if cwd:
            cmd = f"cd {shlex.quote(cwd)} && {cmd}"
        return self.become.wrap(cmd) if self.become else cmd

    async def _exec(self, command: str, timeout: float, stdin: bytes | None) -> tuple[int, bytes, bytes]:
        asyncssh = _asyncssh()

        conn = await self._conn()
        try:
            proc = await conn.create_process(command, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            conn.close()
            raise SshDropped(f"{self.target}: cannot open a channel: {exc}",
                             hint="the connection was lost; the next command reconnects") from None
        try:
            # stdin is always closed after the data (asyncssh leaves it open for empty input): a command
            # that reads it ends, like the local transport's /dev/null
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.write_eof()
            done = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.terminate() if not proc.is_closing() else None
            proc.close()
            raise TransportError(f"{self.target}: {command} did not finish within {timeout}s\nHint: raise "
                                 "the timeout or check the command does not wait for input") from None
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            raise SshDropped(f"{self.target}: connection dropped while running {command}: {exc}; "
                             "its outcome on the host is unknown",
                             hint="check the host and its sshd; look at the node before re-running") from None
        out, err = done
        if proc.exit_status is None:
            # closed without an exit status: a signal (proc.exit_signal) or the connection went away
            if proc.exit_signal is not None:
                return 128 + _signum(proc.exit_signal[0]), out or b"", err or b""
            raise SshDropped(f"{self.target}: connection dropped while running {command}; its outcome on the "
                             "host is unknown", hint="look at the node before re-running")
        return int(proc.exit_status), out or b"", err or b""

    def _call(self, command: str, timeout: float, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        code, out, err = _Loop.call(self._exec(command, timeout, stdin))
        if self.become and code == 1 and _become_refused(err):
            why = err.decode(errors="replace").strip()
            raise BecomeRefused(f"{self.target}: `become` {self.become.user} refused: {why}",
                                hint=f"give {self.dest.user} a sudo rule without a password for `su - "
                                f"{self.become.user}` (e.g. `{self.dest.user} ALL=(root) NOPASSWD: /usr/bin/su - "
                                f"{self.become.user}`), or fix `become` in the inventory")
        return code, out, err

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        start = time.monotonic()
        code, out, err = self._call(self._command(argv, cwd, env), timeout)
        stderr = err.decode(errors="replace")
        if code == 127 and ("not found" in stderr or "No such file" in stderr):
            raise CommandMissing(f"{self.target}: cannot run {argv[0]!r}: {stderr.strip()}",
                                 hint=f"install {argv[0]} on {self.dest.host}, or check the PATH of "
                                 f"{self.become.user if self.become else self.dest.user}")
        return CommandResult(tuple(argv), code, out.decode(errors="replace"), stderr,
                             time.monotonic() - start, self.target)

    def put(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        # write beside, then rename: a reader never sees half a file
        script = ('set -e; d=$(dirname -- "$1"); mkdir -p -- "$d"; t="$d/.$(basename -- "$1").tmp-$$"; '
                  'cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"')
        command = shlex.join(["sh", "-c", script, "put", path, f"{mode:o}"])
        code, _, err = self._call(self.become.wrap(command) if self.become else command, 300.0, data)
        if code != 0:
            raise TransportError(f"{self.target}: put {path}: {err.decode(errors='replace').strip()}")

    def get(self, path: str) -> bytes:
        script = f'[ -e "$1" ] || exit {_ENOENT}; [ -d "$1" ] && exit 45; exec cat -- "$1"'
        command = shlex.join(["sh", "-c", script, "get", path])
        code, out, err = self._call(self.become.wrap(command) if self.become else command, 300.0)
        if code == _ENOENT:
            raise FileNotFoundError(f"{self.target}: {path}")
        if code == 45:
            raise IsADirectoryError(f"{self.target}: {path}")
        if code != 0:
            raise TransportError(f"{self.target}: get {path}: {err.decode(errors='replace').strip()}")
        return out

    def close(self) -> None:
        # the connection belongs to the pool (shared by every transport to this host); close_all() ends it
        pass


def _become_refused(err: bytes) -> bool:
    text = err.decode(errors="replace")
    return text.startswith("sudo:") and ("password is required" in text or "not allowed" in text
                                         or "not in the sudoers" in text or "may not run" in text)


def _signum(name: str) -> int:
    import signal

    try:
        return int(signal.Signals[f"SIG{name}"])
    except KeyError:
        return 0


__all__ = ["AuthRefused", "Become", "BecomeRefused", "CommandMissing", "HostKeyChanged", "HostKeyUnknown",
           "SshConnectTimeout", "SshDropped", "SshError", "SshTarget", "SshTransport", "SshUnreachable", "close_all"]
