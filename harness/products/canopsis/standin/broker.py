"""A real RabbitMQ node (Debian ``rabbitmq-server``) per stand-in environment, as a plain process.

Own node name, AMQP and distribution ports on 127.0.0.1, mnesia and log dirs and Erlang cookie under
the environment's state dir; never the system service. No plugin is enabled (no management UI: queue
depths are read over AMQP). Started with ``start_new_session`` and stopped by its process group.
Startup is dominated by RabbitMQ's own boot (about 5-15 s here, depending on load); see ``started_in``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import SetupFailed
from harness.net import LOOPBACK

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not /usr/sbin's wrapper, which switches to user rabbitmq


@dataclass
class Broker:
    dir: Path
    port: int
    dist_port: int
    nodename: str
    started_in: float = field(default=0.0, compare=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/%2F"

    @property
    def pidfile(self) -> Path:
        return self.dir / "rabbitmq.pid"

    @property
    def log(self) -> Path:
        return self.dir / "log" / f"{self.nodename}.log"

    def _env(self) -> dict[str, str]:
        d = self.dir
        return {**os.environ, "HOME": str(d), "RABBITMQ_NODENAME": self.nodename,
                "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK, "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
                "RABBITMQ_LOG_BASE": str(d / "log"), "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"), "RABBITMQ_CONF_ENV_FILE": "/dev/null",
                "RABBITMQ_PID_FILE": str(d / "beam.pid"), "ERL_EPMD_ADDRESS": LOOPBACK,
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def start(self) -> None:
        if not Path(SERVER).exists() and not shutil.which("rabbitmq-server"):
            raise SetupFailed("rabbitmq-server is not installed\nHint: run scripts/bootstrap (Debian rabbitmq-server)")
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}\nloopback_users = none\nlog.console = false\n"
            "log.file.level = info\ndisk_free_limit.absolute = 10MB\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        start = time.monotonic()
        server = SERVER if Path(SERVER).exists() else "rabbitmq-server"
        # setsid --fork: the broker is not our child (no Popen left to reap or warn about) and leads its own
        # process group, whose id the shell writes to the pidfile before exec'ing the server
        with (self.dir / "log" / "stdout.log").open("ab") as out:
            subprocess.run(["setsid", "--fork", "sh", "-c", 'echo $$ > "$0"; exec "$1"', str(self.pidfile), server],
                           env=self._env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True)
        for _ in range(50):
            if self.pid():
                break
            time.sleep(0.02)
        self.wait_ready(start)

    def wait_ready(self, start: float, timeout: float = 120.0) -> None:
        from harness.products.canopsis.amqp import reachable

        deadline = start + timeout
        why = None
        while time.monotonic() < deadline:
            if not self.running():
                break
            why = reachable(self.url, timeout=2)
            if why is None:
                self.started_in = time.monotonic() - start
                return
            time.sleep(0.2)
        tail = "\n".join(self._tail())
        self.stop()
        raise SetupFailed(f"RabbitMQ {self.nodename} did not accept AMQP on {LOOPBACK}:{self.port} "
                          f"within {timeout:g}s (last error: {why})\n--- log tail ---\n{tail}\n"
                          f"Hint: see {self.dir}/log; is another node using port {self.port} or {self.dist_port}?")

    def _tail(self) -> list[str]:
        for p in (self.log, self.dir / "log" / "stdout.log"):
            if p.exists():
                return p.read_text(errors="replace").splitlines()[-15:]
        return []

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5)
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.running():
                break
        self.pidfile.unlink(missing_ok=True)
