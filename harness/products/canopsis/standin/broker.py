"""A real RabbitMQ node (Debian ``rabbitmq-server``) per stand-in environment, started on its host.

Started through the host's transport as a program of its own, never the system service: its own node
name, AMQP and distribution ports (the host's for 5672 and 25672), mnesia and log dirs and Erlang cookie
under ``/srv/rabbitmq`` on the host. No plugin is enabled (no management UI: queue depths are read over
AMQP). It runs detached in its own session; the pidfiles of the server script and of the Erlang VM let
:meth:`Broker.stop` end both. Startup is dominated by RabbitMQ's own boot (about 5-15 s here,
depending on load); :meth:`Broker.wait_ready` returns how long it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.backends import Host
from harness.errors import SetupFailed
from harness.products.canopsis.amqp import reachable
from harness.products.canopsis.standin.common import AMQP_PASS, AMQP_PORT, AMQP_USER, AMQP_VHOST, harness_amqp_url
from harness.standins import kill_pidfiles
from harness.transports.base import Transport
from harness.wait import Condition, wait_until

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not /usr/sbin's wrapper, which switches to user rabbitmq
DIR = "/srv/rabbitmq"
DIST_PORT = 25672
BOOT_TIMEOUT = 120.0
# a fixed script: the pidfile, the log and the program come as arguments. The session leader writes its
# pid before exec'ing the server, stdio closed (the transport returns at once)
_START = ('pidfile=$1 log=$2; shift 2; '
          'setsid -f sh -c \'echo $$ > "$0"; exec "$@"\' "$pidfile" "$@" </dev/null >>"$log" 2>&1')
_ALIVE = 'kill -0 "$1" 2>/dev/null'


def pidfiles(directory: str) -> list[str]:
    """The server script's and the Erlang VM's pidfiles (the script forwards TERM to the VM)."""
    return [f"{directory}/rabbitmq.pid", f"{directory}/beam.pid"]


@dataclass
class Broker:
    transport: Transport
    #: ``/srv/rabbitmq`` on the host
    dir: str
    nodename: str
    bind: str
    port: int
    dist_port: int
    #: where the harness reaches it (127.0.0.1)
    url: str

    @classmethod
    def on(cls, host: Host, environment: str) -> Broker:
        return cls(host.transport, host.path(DIR), f"cps-{environment}@localhost", host.bind,
                   host.listen(AMQP_PORT), host.listen(DIST_PORT), harness_amqp_url(host.url(AMQP_PORT, "amqp")))

    @property
    def log(self) -> str:
        return f"{self.dir}/log/{self.nodename}.log"

    def _env(self) -> dict[str, str]:
        d = self.dir
        return {"HOME": d, "RABBITMQ_NODENAME": self.nodename, "RABBITMQ_NODE_IP_ADDRESS": self.bind,
                "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": f"{d}/mnesia", "RABBITMQ_LOG_BASE": f"{d}/log",
                "RABBITMQ_CONFIG_FILE": f"{d}/rabbitmq.conf", "RABBITMQ_ADVANCED_CONFIG_FILE": f"{d}/advanced.config",
                "RABBITMQ_ENABLED_PLUGINS_FILE": f"{d}/enabled_plugins", "RABBITMQ_CONF_ENV_FILE": "/dev/null",
                "RABBITMQ_PID_FILE": pidfiles(d)[1], "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def start(self) -> float:
        """Start the node, detached; the monotonic time it was started at (for :meth:`wait_ready`)."""
        t = self.transport
        if not t.run(["test", "-x", SERVER], timeout=30).ok:
            raise SetupFailed(f"{t.target}: {SERVER} is missing (Debian rabbitmq-server)\n"
                              "Hint: run scripts/bootstrap, or rebuild the canopsis-rabbitmq image")
        t.run(["mkdir", "-p", f"{self.dir}/mnesia", f"{self.dir}/log"], timeout=30).check()
        t.put(f"{self.dir}/rabbitmq.conf", (
            f"listeners.tcp.1 = {self.bind}:{self.port}\nloopback_users = none\nlog.console = false\n"
            "log.file.level = info\ndisk_free_limit.absolute = 10MB\n"
            f"default_user = {AMQP_USER}\ndefault_pass = {AMQP_PASS}\ndefault_vhost = {AMQP_VHOST}\n").encode())
        t.put(f"{self.dir}/enabled_plugins", b"[].\n")
        started = time.monotonic()
        t.run(["sh", "-c", _START, "start", pidfiles(self.dir)[0], f"{self.dir}/log/stdout.log", SERVER],
              env=self._env(), timeout=30).check()
        return started

    def wait_ready(self, started: float, timeout: float = BOOT_TIMEOUT) -> float:
        """Wait until the node accepts AMQP from the harness; seconds since ``started``. A node that exits
        while booting fails at once, with its log."""
        wait_until(_Boots(self.url, self), timeout=timeout, interval=0.2, error=SetupFailed, details=self.tail,
                   what=f"RabbitMQ {self.nodename} accepting AMQP at {self.url}",
                   hint=f"see {self.transport.target}{self.dir}/log; is another node using port {self.port} or "
                        f"{self.dist_port}?")
        return time.monotonic() - started

    def running(self) -> bool:
        """Until the server script has written its pidfile, it is still starting: True."""
        try:
            pid = self.transport.get(pidfiles(self.dir)[0]).decode().strip()
        except FileNotFoundError:
            return True
        return self.transport.run(["sh", "-c", _ALIVE, "alive", pid], timeout=30).ok

    def tail(self, lines: int = 15) -> str:
        for path in (self.log, f"{self.dir}/log/stdout.log"):
            try:
                text = self.transport.get(path).decode(errors="replace")
            except FileNotFoundError:
                continue
            return "--- log tail ---\n" + "\n".join(text.splitlines()[-lines:])
        return "(no log yet)"


@dataclass
class AmqpAccepts(Condition):
    """The broker at ``url`` accepts an AMQP connection (from the harness)."""

    url: str

    def check(self) -> bool:
        why = reachable(self.url, timeout=2)
        self.last = why or ""
        return why is None

    def describe(self) -> str:
        return f"RabbitMQ accepting AMQP at {self.url}"


@dataclass
class _Boots(AmqpAccepts):
    broker: Broker | None = None

    def check(self) -> bool:
        b = self.broker
        if b is not None and not b.running():
            raise SetupFailed(f"RabbitMQ {b.nodename} exited while booting\n{b.tail()}\n"
                              f"Hint: see {b.transport.target}{b.dir}/log")
        return super().check()


def stop(transport: Transport, directory: str) -> None:
    """TERM the server script and the VM, KILL what is left (:func:`harness.standins.kill_pidfiles`)."""
    kill_pidfiles(transport, pidfiles(directory))
