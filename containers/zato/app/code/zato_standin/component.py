"""Component directories: kinds, the `.zato-info` marker, config files, pidfiles and process checks."""

from __future__ import annotations

import configparser
import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

INFO_FILE = ".zato-info"
PIDFILE = "pidfile"
#: a load balancer's agent (lb-agent.conf ``pid_file`` in Zato 3.2); the LB's ``pidfile`` is HAProxy's own
LB_AGENT_PIDFILE = "zato-lb-agent.pid"

# kind -> (component id in .zato-info, config file, log file, name in `zato stop` output, ready-line name)
KINDS = {
    "server": ("SERVER", "server.conf", "server.log", "Server", "Server"),
    "web-admin": ("WEB_ADMIN", "web-admin.conf", "web-admin.log", "Web admin", "Web-admin"),
    "scheduler": ("SCHEDULER", "scheduler.conf", "scheduler.log", "Scheduler", "Scheduler"),
    "load-balancer": ("LOAD_BALANCER", "lb-agent.conf", "lb-agent.log", "Load-balancer's agent",
                      "Load-balancer"),
}

# Exit codes of zato.cli.SYS_ERROR (reference §1.2).
OK = 0
FILE_MISSING = 2
DIR_NOT_EMPTY = 5
NOT_A_ZATO_COMPONENT = 3
COMPONENT_ALREADY_RUNNING = 9
NO_PID_FOUND = 10
EXCEPTION_CAUGHT = 16
FAILED_TO_START = 18
FOUND_PIDFILE = 19


@dataclass(frozen=True)
class Component:
    path: Path
    kind: str
    config: configparser.ConfigParser

    @property
    def conf_file(self) -> Path:
        return self.path / "config" / "repo" / KINDS[self.kind][1]

    @property
    def log_file(self) -> Path:
        return self.path / "logs" / KINDS[self.kind][2]

    @property
    def console_file(self) -> Path:
        return self.path / "logs" / "console.log"

    @property
    def pidfile(self) -> Path:
        """``PATH/pidfile``: the component's process; of a load balancer, HAProxy (``haproxy -D -p``)."""
        return self.path / PIDFILE

    @property
    def own_pidfile(self) -> Path:
        """The pidfile of the process ``zato start`` launches: a load balancer's agent, else ``pidfile``."""
        return self.path / LB_AGENT_PIDFILE if self.kind == "load-balancer" else self.pidfile

    @property
    def stop_name(self) -> str:
        return KINDS[self.kind][3]

    @property
    def ready_name(self) -> str:
        return KINDS[self.kind][4]

    @property
    def name(self) -> str:
        return self.config.get("stand_in", "name")

    @property
    def host(self) -> str:
        return self.config.get("stand_in", "host")

    @property
    def port(self) -> int:
        return self.config.getint("stand_in", "port")

    def ports(self) -> list[int]:
        """Ports this component binds itself (HAProxy's frontend is checked separately)."""
        if self.kind == "load-balancer":
            return [self.config.getint("stand_in", "agent_port")]
        return [self.port]


def kind_of(path: Path) -> str | None:
    info = path / INFO_FILE
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return None
    for kind, (component_id, *_rest) in KINDS.items():
        if data.get("component") == component_id:
            return kind
    return None


def load(path: Path) -> Component | None:
    kind = kind_of(path)
    if kind is None:
        return None
    config = configparser.ConfigParser(interpolation=None)
    config.read(path / "config" / "repo" / KINDS[kind][1])
    return Component(path, kind, config)


def write_info(path: Path, kind: str) -> None:
    data = {"component": KINDS[kind][0], "created_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "stand_in": True}
    (path / INFO_FILE).write_text(json.dumps(data) + "\n")


def write_pid(pidfile: Path, pid: int) -> None:
    """Write the pidfile in one step (a reader never sees it empty or half-written)."""
    tmp = pidfile.with_name(f".{pidfile.name}.{os.getpid()}")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, pidfile)


def read_pid(pidfile: Path) -> int | None:
    """The pid in a pidfile, None when the file is empty or garbage."""
    text = pidfile.read_text().strip()
    try:
        return int(text) if text else None
    except ValueError:
        return None


def is_alive(pid: int) -> bool:
    """True when ``pid`` is a live process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_component_process(pid: int, path: Path) -> bool:
    """True when ``pid`` runs a component of directory ``path`` (what Zato decides from the component's
    open log and lock files: an unrelated process that reuses the pid does not count)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # cannot tell (no /proc): on the safe side, as Zato on AccessDenied
    prefix = str(path).rstrip("/").encode()
    return any(a == prefix or a.startswith(prefix + b"/") for a in argv)  # HAProxy: -f PATH/config/repo/…


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.02)
    return not is_alive(pid)


def terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM, wait up to ``timeout`` for the process to go, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_gone(pid, 5.0)


def port_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound now (SO_REUSEADDR, so TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def connect_host(host: str) -> str:
    """The address to connect to for a component bound on ``host`` (wildcards mean loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "*") else host
