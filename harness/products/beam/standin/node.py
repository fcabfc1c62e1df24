"""One node of the BEAM stand-in on its host: where its files are, building a system version, starting it
and stopping it — every step through the host's transport, so the same code runs on every backend::

    /opt/beam/                   BASE (the host's install_dir)
      apps/<app>/src/            the applications' sources (containers/beam/apps, put by the installer)
      dist/<version>/            the distribution, compiled on the host by erlc: VERSION, lib/<app>/ebin
      system/                    ROOT (the component's path): a copy of dist/<version>, plus patches/
      node.args                  `erl -args_file`: name, cookie, code paths, role, apps, domain (mode 0600)
      node.pid  agent.port       written by the node (sys_boot): its OS pid; "PORT NODE" once it is up
      node.log                   the node's output; its cwd (an erl_crash.dump lands here)
      service/                   the master's patch service: py/ (its Python files), store/, users.json, pid

A node is ``erl`` started in its own session with its stdio closed (it outlives the command that started
it); it is stopped by its pidfile (:func:`harness.standins.kill_pidfiles`: TERM, on which ``sys_boot`` has
the node end at once, then KILL if need be). epmd is started by ``erl`` as Erlang always does, and left
running.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.errors import ConfigError, SetupFailed, TransportError
from harness.products.beam.agent import AgentClient
from harness.products.beam.etf import Atom
from harness.standins import detach, kill_pidfiles, put_tree
from harness.transports import Transport
from harness.wait import wait_until

__all__ = ["APPS", "BASE", "Layout", "NodeArgs", "NodeHandle", "build", "detach", "install_root", "name_flag",
           "put_tree", "start", "stop", "stop_program", "wait_domain", "wait_node"]

BASE = "/opt/beam"
APPS = ("core", "billing", "gateway", "patch_agent")
#: log lines after which a node will not come up: no point waiting for it
_FATAL = re.compile(r"init terminating in do_boot|Kernel pid terminated|Protocol 'inet_tcp': register/listen error"
                    r"|the name \S+ seems to be in use")

# Fixed scripts; every value comes as an argument.
#: erlc every application's sources into one staging dir (one VM), then each module into its app's ebin
#: ``+deterministic``: no host path in the object code, so every environment's lib/ has the same bytes (the
#: crash test compares the files of fresh environments with a reference one's)
_BUILD = ('set -e; define=$1; src=$2; out=$3; shift 3; mkdir -p "$out/.beams"; '
          'erlc +deterministic "$define" -o "$out/.beams" "$src"/*/src/*.erl; '
          'for app in "$@"; do mkdir -p "$out/lib/$app/ebin"; for f in "$src/$app"/src/*.erl; do '
          'm=${f##*/}; mv "$out/.beams/${m%.erl}.beam" "$out/lib/$app/ebin/"; done; done; rmdir "$out/.beams"')
#: a clean ROOT from the distribution: applied patches are gone
_INSTALL = 'set -e; rm -rf "$2"; cp -a "$1" "$2"; mkdir -p "$2/patches"'


@dataclass(frozen=True)
class Layout:
    """A node's paths on its host (see the module's docstring); :meth:`at` its BASE (``host.path("/opt/beam")``,
    the inventory's install_dir)."""

    base: str
    sources: str
    root: str
    args: str
    pidfile: str
    portfile: str
    log: str
    service: str

    @classmethod
    def at(cls, base: str) -> Layout:
        return cls(base, sources=f"{base}/apps", root=f"{base}/system", args=f"{base}/node.args",
                   pidfile=f"{base}/node.pid", portfile=f"{base}/agent.port", log=f"{base}/node.log",
                   service=f"{base}/service")

    def dist(self, version: str) -> str:
        return f"{self.base}/dist/{version}"


@dataclass(frozen=True)
class NodeHandle:
    """A node of a running system: how its host is reached, where its files are, its agent."""

    name: str
    role: str                     # master | node (the inventory's roles)
    transport: Transport
    layout: Layout
    agent: AgentClient


@dataclass(frozen=True)
class NodeArgs:
    """What one node is started with (``erl -args_file``)."""

    node: str                     # name@address: the Erlang node name
    cookie: str
    role: str                     # master | worker
    apps: tuple[str, ...]
    bind: str                     # the address the agent and distribution listen on
    agent_port: int
    domain: tuple[str, ...] = ()  # the master: every worker's node name

    def render(self, layout: Layout) -> str:
        lines = [[name_flag([self.node.partition("@")[2]]), self.node], ["-setcookie", self.cookie], ["-hidden"],
                 ["-noinput"]]
        try:
            ip = ipaddress.IPv4Address(self.bind)
            lines.append(["-kernel", "inet_dist_use_interface", "{" + ",".join(str(b) for b in ip.packed) + "}"])
        except ValueError:
            pass  # not an IPv4 address: distribution listens where Erlang's default says
        lines += [["-pa", f"{layout.root}/lib/{app}/ebin"] for app in APPS]
        lines += [["-eval", "sys_boot:start()"], ["-system_root", layout.root], ["-system_role", self.role],
                  ["-system_apps", *self.apps, "patch_agent"], ["-system_pidfile", layout.pidfile],
                  ["-agent_ip", self.bind], ["-agent_port", str(self.agent_port)],
                  ["-agent_portfile", layout.portfile]]
        if self.domain:
            lines.append(["-system_domain", *self.domain])
        return "".join(" ".join(_quote(a) for a in line) + "\n" for line in lines)


def name_flag(addresses: Sequence[str]) -> str:
    """``-name`` when every host address is an IP or fully qualified, ``-sname`` when none is (Erlang's own
    rule: long names need a dot or an IP, short ones must have no dot); the nodes of a domain use one mode."""
    def qualified(address: str) -> bool:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return "." in address
        return True

    kinds = {qualified(a) for a in addresses}
    if len(kinds) != 1:
        raise ConfigError(f"the hosts' addresses mix host names and IPs/fully qualified names: {sorted(addresses)}",
                          hint="Erlang distribution needs all long names or all short names")
    return "-name" if kinds == {True} else "-sname"


def _quote(arg: str) -> str:
    """One argument of an args file: whitespace, ``#``, quotes and backslashes escaped with a backslash."""
    return re.sub(r"([^A-Za-z0-9_./:@,{}=+-])", r"\\\1", arg)


def _app_file(source: str, version: str) -> bytes:
    return source.replace("%VSN%", version).encode()


def build(t: Transport, layout: Layout, version: str, app_sources: Mapping[str, str]) -> str:
    """Compile the applications (already put under ``layout.sources``) for ``version`` on the host, unless
    that distribution is there; ``app_sources``: app -> its ``.app.src``. Returns the distribution's path."""
    dist = layout.dist(version)
    if t.exists(f"{dist}/VERSION"):
        return dist
    try:
        res = t.run(["sh", "-c", _BUILD, "build", f'-DSYSTEM_VSN="{version}"', layout.sources, dist, *APPS],
                    timeout=300)
    except TransportError as exc:
        raise SetupFailed(f"{t.target}: cannot compile the system: {exc}\n"
                          f"Hint: the host needs erlc (Debian's erlang-base)") from exc
    if not res.ok:
        raise SetupFailed(f"{t.target}: erlc failed for system {version}:\n{res.stdout}{res.stderr}\n"
                          f"Hint: the host needs erlc (Debian's erlang-base)")
    for app, src in app_sources.items():
        t.put(f"{dist}/lib/{app}/ebin/{app}.app", _app_file(src, version))
    t.put(f"{dist}/VERSION", f"{version}\n".encode())  # last: a distribution with VERSION is complete
    return dist


def install_root(t: Transport, layout: Layout, version: str) -> None:
    """ROOT becomes a clean copy of the ``version`` distribution (a system update wipes applied patches)."""
    t.run(["sh", "-c", _INSTALL, "install", layout.dist(version), layout.root], timeout=60).check()


def start(t: Transport, layout: Layout) -> None:
    """Start the node from its args file, detached; :func:`wait_node` says when it is up."""
    t.run(["rm", "-f", layout.portfile], timeout=30).check()
    t.run(detach(layout.log, ["erl", "-args_file", layout.args]), cwd=layout.base, timeout=30).check()


def stop(t: Transport, layout: Layout) -> None:
    """Stop the node for good."""
    stop_program(t, layout.pidfile, layout.portfile)


def stop_program(t: Transport, pidfile: str, *also: str) -> None:
    """Stop what ``pidfile`` names and remove the pidfile (a stale one could name another process later)."""
    kill_pidfiles(t, [pidfile])
    t.run(["rm", "-f", pidfile, *also], timeout=30)


def _log_tail(t: Transport, layout: Layout, lines: int = 20) -> str:
    try:
        text = t.get(layout.log).decode(errors="replace")
    except (FileNotFoundError, TransportError):
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class _NodeUp:
    """The node's agent answers through the controller's address; a fatal boot line in its log fails at once."""

    node: NodeHandle
    last: str = ""

    def __call__(self) -> bool:
        try:
            self.node.agent.info()
            return True
        except TransportError as exc:
            self.last = str(exc)
        tail = _log_tail(self.node.transport, self.node.layout)
        if _FATAL.search(tail):
            raise SetupFailed(f"BEAM node {self.node.name} on {self.node.transport.target} did not boot:\n{tail}")
        return False


def wait_node(n: NodeHandle, timeout: float = 60.0) -> None:
    wait_until(_NodeUp(n), timeout=timeout, interval=0.1, error=SetupFailed,
               what=f"BEAM node {n.name} ({n.agent.address}, {n.transport.target})",
               details=lambda: f"--- {n.layout.log} ---\n{_log_tail(n.transport, n.layout)}",
               hint="is erlang-base installed on the host and epmd startable?")


def wait_domain(master: AgentClient, nodes: int, timeout: float = 60.0) -> None:
    """The master's agent reaches every node of the domain over Erlang distribution."""
    def every_node() -> bool:
        try:
            replies = master.domain(Atom("info"))
        except TransportError:
            return False
        return len(replies) == nodes and all(r.get("reachable") and "result" in r for r in replies)

    wait_until(every_node, timeout=timeout, interval=0.2, error=SetupFailed,
               what=f"the master domain ({nodes} nodes) behind {master.address}",
               hint="the nodes reach each other by name@address and need the same cookie")
