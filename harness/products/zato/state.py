"""Read-only questions about a Zato host or component, asked through its transport."""

from __future__ import annotations

import re

from harness.environment import ComponentHandle, HostHandle
from harness.errors import RefusedError, TransportError
from harness.products.zato.logs import parse_log
from harness.tail import size as tail_size

LOG_FILES = {"server": "server.log", "web-admin": "web-admin.log", "scheduler": "scheduler.log",
             "load-balancer": "lb-agent.log"}


def zato_bin(host: HostHandle) -> str:
    """The ``zato`` command of the installation on ``host``."""
    return f"{host.install_dir}/bin/zato"


def log_path(comp: ComponentHandle) -> str:
    return f"{comp.path}/logs/{LOG_FILES.get(comp.role, comp.role + '.log')}"


def read_log(comp: ComponentHandle) -> str:
    """The component's whole log as its host has it ("" before the first line)."""
    try:
        return comp.host.transport.get(log_path(comp)).decode(errors="replace")
    except FileNotFoundError:
        return ""


#: a load balancer's agent (Zato 3.2 lb-agent.conf ``pid_file``); the LB's own ``pidfile`` is HAProxy's
LB_AGENT_PIDFILE = "zato-lb-agent.pid"


def pidfiles(comp: ComponentHandle) -> list[str]:
    """The pidfiles of the component's processes: ``PATH/pidfile``, and a load balancer's agent's after it
    (the LB's ``pidfile`` is HAProxy's: ``zato stop`` signals the agent, then HAProxy)."""
    own = [f"{comp.path}/pidfile"]
    return [*own, f"{comp.path}/{LB_AGENT_PIDFILE}"] if comp.role == "load-balancer" else own


def pid_in(comp: ComponentHandle, path: str) -> int | None:
    try:
        text = comp.host.transport.get(path).decode(errors="replace").strip()
    except (FileNotFoundError, IsADirectoryError):
        return None
    return int(text) if text.isdigit() else None


#: exit 0 when pidfile "$1" exists and names no live process (garbage, or a pid that is gone)
_STALE = ('[ -e "$1" ] || exit 1; p=$(cat "$1" 2>/dev/null); case $p in ""|*[!0-9]*) exit 0;; esac; '
          'kill -0 "$p" 2>/dev/null && exit 1; exit 0')


def stale_pidfile(comp: ComponentHandle, path: str) -> bool:
    """Pidfile ``path`` of ``comp`` exists and names no live process (one command on its host)."""
    return comp.host.transport.run(["sh", "-c", _STALE, "stale", path], timeout=30).ok


def pidfile_pid(comp: ComponentHandle) -> int | None:
    """The pid in the component's pidfile (``PATH/pidfile``; a load balancer's: HAProxy's), None when there is
    none or it is no number."""
    return pid_in(comp, f"{comp.path}/pidfile")


def pids(comp: ComponentHandle) -> list[int]:
    """The pids each of :func:`pidfiles` names (a missing or garbage pidfile left out)."""
    return [p for path in pidfiles(comp) if (p := pid_in(comp, path)) is not None]


#: a POSIX shell function: process "$1" exists and is no zombie (``kill -0`` succeeds on a zombie too; its
#: state from ``ps``, the same through every transport)
_LIVE = ('live() { kill -0 "$1" 2>/dev/null || return 1; '
         'case $(ps -o stat= -p "$1" 2>/dev/null) in Z*) return 1;; esac; }; ')
#: on the host: wait until process "$1" is gone (or a zombie), at most "$2" polls 50 ms apart; exit 0 when it
#: is gone, 1 when it still runs. One command however long the process takes: polled from here, each poll
#: would be a command of its own, and the step's command count (its kill points) would vary from run to run.
_WAIT_GONE = (_LIVE + 'n=0; while live "$1"; do [ "$n" -ge "$2" ] && exit 1; n=$((n + 1)); sleep 0.05; done; exit 0')


def _gone(host: HostHandle, pid: int, polls: int, timeout: float) -> int:
    return host.transport.run(["sh", "-c", _WAIT_GONE, "gone", str(pid), str(polls)], timeout=timeout).exit_code


#: on the host: exit 0 when every pid given is alive and no zombie
_ALL_ALIVE = _LIVE + 'for p; do live "$p" || exit 1; done; exit 0'


def pids_alive(host: HostHandle, pids: list[int]) -> bool:
    """True while every process of ``pids`` exists on ``host`` and is not a zombie: one command on the host
    (``kill -0`` and its state in ``ps``, the same through every transport); False for no pid."""
    return bool(pids) and host.transport.run(["sh", "-c", _ALL_ALIVE, "alive", *map(str, pids)], timeout=30).ok


def pid_alive(host: HostHandle, pid: int) -> bool:
    """:func:`pids_alive` of one pid."""
    return pids_alive(host, [pid])


def running_pids(comp: ComponentHandle) -> list[int] | None:
    """The pids of the component's pidfiles (:func:`pids`) when each names a live process, else None."""
    found = pids(comp)
    return found if len(found) == len(pidfiles(comp)) and pids_alive(comp.host, found) else None


def wait_pid_gone(host: HostHandle, pid: int, timeout: float) -> bool:
    """Wait on ``host`` until process ``pid`` has exited (or is a zombie), for at most ``timeout`` seconds;
    True when it is gone."""
    return _gone(host, pid, max(1, int(timeout / 0.05)), timeout * 2 + 30) == 0


def haproxy_log(comp: ComponentHandle, *, tail: int = 0) -> str:
    """What HAProxy of the load balancer ``comp`` sent to syslog (its ``log`` directive), as the LB's host
    keeps it: ``logs/haproxy.log`` under the component (the stand-in's syslog; on a VM, point rsyslog there).
    With ``tail``, only its last ``tail`` bytes (``tail -c``: the log holds a line per request); a poll that
    follows it reads what it gained (:class:`harness.tail.Tail` from :func:`haproxy_log_size`)."""
    path = haproxy_log_path(comp)
    if tail:
        res = comp.host.transport.run(["tail", "-c", str(tail), path], timeout=30)
        return res.stdout if res.ok else ""
    try:
        return comp.host.transport.get(path).decode(errors="replace")
    except FileNotFoundError:
        return ""


def haproxy_log_path(comp: ComponentHandle) -> str:
    """Where the load balancer's host keeps what its HAProxy sent to syslog (:func:`haproxy_log`)."""
    return f"{comp.path}/logs/haproxy.log"


def haproxy_log_size(comp: ComponentHandle) -> int:
    """How many bytes the LB's HAProxy log holds now (0 when there is none yet)."""
    return tail_size(comp.host.transport, haproxy_log_path(comp))


def head(host: HostHandle) -> str:
    """The checkout's commit. What a rollback reverts to is read here, so an answer that is not a commit id
    (seen: an empty stdout from a command that exited 0 through docker exec) is asked again, then refused."""
    for _ in range(3):
        res = host.transport.run(["git", "-C", host.install_dir, "rev-parse", "HEAD"], timeout=30).check()
        commit = res.stdout.strip()
        if re.fullmatch(r"[0-9a-f]{40}", commit):
            return commit
    raise TransportError(f"{host.name}: `git rev-parse HEAD` in {host.install_dir} answered {res.stdout!r} "
                         f"(stderr {res.stderr!r}), not a commit id")


def remote_commit(host: HostHandle, revision: str | None) -> str:
    """The commit ``git pull`` would bring, asked with ``git ls-remote`` (changes nothing locally)."""
    if revision:
        refs = [f"refs/tags/{revision}", f"refs/tags/{revision}^{{}}", f"refs/heads/{revision}"]
    else:
        up = host.transport.run(["git", "-C", host.install_dir, "rev-parse", "--abbrev-ref", "@{u}"], timeout=30)
        branch = up.stdout.strip().split("/", 1)[-1] if up.ok else "HEAD"
        refs = [f"refs/heads/{branch}" if branch != "HEAD" else "HEAD"]
    res = host.transport.run(["git", "-C", host.install_dir, "ls-remote", "origin", *refs], timeout=60)
    if not res.ok:
        raise RefusedError(f"{host.name}: cannot reach the upstream repository: {res.stderr.strip()}")
    found: dict[str, str] = {}
    for line in res.stdout.splitlines():
        sha, sep, ref = line.partition("\t")
        if sep:
            found[ref] = sha
    for ref in (refs[1], refs[0], refs[-1]) if revision else refs:
        if ref in found:
            return found[ref]
    raise RefusedError(f"{host.name}: revision {revision!r} does not exist upstream\n"
                       f"Hint: list what exists with `git -C {host.install_dir} ls-remote --tags origin`")


def installed_revision(host: HostHandle) -> str:
    try:
        return host.transport.get(f"{host.install_dir}/.installed/REVISION").decode().strip()
    except FileNotFoundError:
        return ""


def installed_version_file(host: HostHandle) -> str:
    """The version ``./update.sh`` installed (``.installed/VERSION``, what ``zato --version`` reports), read
    as a file: "" when there is none."""
    try:
        return host.transport.get(f"{host.install_dir}/.installed/VERSION").decode().strip()
    except FileNotFoundError:
        return ""


def installed_version(host: HostHandle) -> str:
    res = host.transport.run([zato_bin(host), "--version"], timeout=30)
    parts = res.stdout.split()
    return parts[1] if res.ok and len(parts) >= 2 else ""


def running_version(comp: ComponentHandle) -> str | None:
    """Version the component started with, if it is running now (its own log says so)."""
    version, running = None, False
    for e in parse_log(read_log(comp)):
        if e.kind == "starting":
            version, running = e.fields.get("version"), True
        elif e.kind in ("stopped", "boot_failed"):
            running = False
    return version if running else None
