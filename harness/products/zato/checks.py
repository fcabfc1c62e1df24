"""Checks of a Zato environment update, judged on what the nodes themselves logged.

A :class:`ZatoHistory` is every component's parsed log restricted to a time window (the run); the
checks never look at the executor's journal, so a wrong order or a lost start is caught even if
the executor believed it did the right thing.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.checks import Verdict, checker
from harness.environment import ComponentHandle, Environment
from harness.probes import HttpProbe, ProbeResult
from harness.products.zato import lbconfig, state
from harness.products.zato.logs import LogEvent, parse_log
from harness.tail import Tail

ORDER = ("web-admin", "server", "load-balancer", "scheduler")


@dataclass(frozen=True)
class Restart:
    component: str
    role: str
    stopping: datetime | None
    starting: datetime | None
    ready: datetime | None
    sync_internal: bool
    version: str | None


@dataclass
class ZatoHistory:
    roles: dict[str, str]  # component -> role, in inventory order
    events: dict[str, list[LogEvent]]  # component -> its log events inside the window

    @classmethod
    def collect(cls, env: Environment, since: float, until: float | None = None) -> ZatoHistory:
        t0 = datetime.fromtimestamp(since, UTC)
        t1 = datetime.fromtimestamp(until, UTC) if until else None
        events = {}
        for name, comp in env.components.items():
            evs = parse_log(state.read_log(comp))
            events[name] = [e for e in evs if e.ts >= t0 and (t1 is None or e.ts <= t1)]
        return cls({n: c.role for n, c in env.components.items()}, events)

    def restarts(self, name: str) -> list[Restart]:
        out: list[Restart] = []
        cur: dict[str, Any] = {}
        for e in self.events[name]:
            if e.kind == "stopping":
                cur = {"stopping": e.ts}
            elif e.kind == "starting":
                cur.setdefault("stopping", None)
                cur.update(starting=e.ts, version=e.fields.get("version"), sync=False)
            elif e.kind == "sync_internal" and cur.get("starting"):
                cur["sync"] = True
            elif e.kind in ("started", "ready") and cur.get("starting"):
                out.append(Restart(name, self.roles[name], cur["stopping"], cur["starting"], e.ts,
                                   cur["sync"], cur["version"]))
                cur = {}
        return out

    def all_restarts(self) -> list[Restart]:
        return [r for n in self.roles for r in self.restarts(n)]

    def lifecycle_lines(self) -> int:
        """How many start/stop events happened in the window (0 = nothing was restarted)."""
        kinds = {"stopping", "stopped", "starting", "started", "ready"}
        return sum(1 for evs in self.events.values() for e in evs if e.kind in kinds)


def _ts(d: datetime | None) -> str | None:
    return d.isoformat(timespec="milliseconds") if d else None


@checker("order")
def check_order(h: ZatoHistory) -> Verdict:
    """Web-admin before the servers; servers strictly one at a time, each stopped only after the
    previous one was ready; load balancer after every server; scheduler last."""
    seq: list[Restart] = []
    for role in ORDER:
        for name, r in h.roles.items():
            if r == role:
                rs = h.restarts(name)
                if len(rs) != 1:
                    return Verdict(False, {"component": name, "restarts": len(rs), "expected": 1})
                seq.append(rs[0])
    problems = []
    for prev, nxt in itertools.pairwise(seq):
        begin = nxt.stopping or nxt.starting
        if prev.ready is None or begin is None or begin < prev.ready:
            problems.append(f"{nxt.component} began ({_ts(begin)}) before {prev.component} was ready "
                            f"({_ts(prev.ready)})")
    timeline = [(r.component, _ts(r.stopping), _ts(r.ready)) for r in seq]
    return Verdict(not problems, {"problems": problems, "timeline": timeline})


#: HAProxy's record of a health-check verdict changing: ``Server BACKEND/http_plain--NAME is UP|DOWN``,
#: on a syslog line that starts with the RFC 3339 time it was received
_HAPROXY_STATE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\S+) (?:\S+ haproxy\[(?P<pid>\d+)\]: )?.*?"
                            r"Server (?P<backend>[^/\s]+)/(?:http_plain--)?(?P<server>\S+) is (?P<state>UP|DOWN)"
                            r"(?:, reason: (?P<reason>[^,]*))?")


def haproxy_states(env: Environment, since: float, until: float | None = None) -> list[tuple[datetime, str, str]]:
    """(time, server, UP|DOWN) from every load balancer's HAProxy log inside the window."""
    t0 = datetime.fromtimestamp(since, UTC)
    t1 = datetime.fromtimestamp(until, UTC) if until else None
    out = []
    for comp in env.components.values():
        if comp.role != "load-balancer":
            continue
        for line in state.haproxy_log(comp).splitlines():
            m = _HAPROXY_STATE.match(line)
            if not m:
                continue
            ts = datetime.fromisoformat(m["ts"])
            if ts >= t0 and (t1 is None or ts <= t1):
                out.append((ts, m["server"], m["state"]))
    return sorted(out)


#: the query parameter a probe marks its requests with, so the load balancer's request log names the
#: server of each (:func:`lb_request_servers`)
PROBE_MARK = "harness-probe"


def ping_probe(front_door: str, *, mark: str | None = PROBE_MARK, **kw: Any) -> HttpProbe:
    """GET /zato/ping through the load balancer (a server's answer holds ``ZATO_OK``), each request marked by
    default so that the LB's request log says which server answered it (:func:`served`): a Zato server
    names itself in no answer."""
    return HttpProbe(front_door.rstrip("/") + "/zato/ping", expect="ZATO_OK", mark=mark, **kw)


#: HAProxy's log of one HTTP request (``option httplog``, which Zato's LB config has): the backend and the
#: server it went to (``<NOSRV>`` when none), the timers, the status, and at the end the request line
_HAPROXY_REQUEST = re.compile(r'\s(?P<backend>[^\s/]+)/(?:http_plain--)?(?P<server>\S+) (?:-?\d+/){4}-?\d+ '
                              r'\d{3} .*"\w+ (?P<uri>\S+)')


def routes(text: str) -> list[tuple[str, str]]:
    """``(uri, server)`` of each request HAProxy log text holds that went to a server, in the order logged."""
    return [(m["uri"], m["server"]) for line in text.splitlines()
            if (m := _HAPROXY_REQUEST.search(line)) and m["server"] != "<NOSRV>"]


def request_servers(text: str, mark: str = PROBE_MARK) -> dict[str, str]:
    """``{ID: server}`` of the marked requests in HAProxy log text."""
    wanted = re.compile(rf"[?&]{re.escape(mark)}=([\w-]+)")
    return {request[1]: server for uri, server in routes(text) if (request := wanted.search(uri))}


def lb_request_servers(env: Environment, mark: str = PROBE_MARK, *, tail: int = 0) -> dict[str, str]:
    """Which server each marked request (``?MARK=ID``, :class:`~harness.probes.HttpProbe` ``mark``) was sent
    to, as every load balancer's HAProxy logged it (with ``tail``, in the last bytes of its log): ``{ID:
    server}``. A Zato server does not say who it is in its answer; HAProxy's request log does."""
    out: dict[str, str] = {}
    for comp in load_balancers(env):
        out.update(request_servers(state.haproxy_log(comp, tail=tail), mark))
    return out


def load_balancers(env: Environment) -> list[ComponentHandle]:
    return [c for c in env.components.values() if c.role == "load-balancer"]


#: a ``log`` directive that sends HAProxy's records somewhere (``log global`` only refers to the global one)
_LOG_TARGET = re.compile(r"^\s*log\s+(?!global\b)\S+", re.M)
_HTTPLOG = re.compile(r"^\s*option\s+httplog\b", re.M)


def lb_logs_requests(lb: ComponentHandle) -> bool | None:
    """Whether load balancer ``lb``'s HAProxy logs each HTTP request with the server it went to, as its own
    config says (``LB/config/repo/zato.config``: a ``log`` target and ``option httplog``, as Zato's template
    writes them); None when the config cannot be read. Read from the config, not guessed from a silent log:
    a paused or stopped LB is silent too."""
    config = lbconfig.read(lb)
    return None if config is None else config_logs_requests(config)


def config_logs_requests(config: str) -> bool:
    """HAProxy config text with a ``log`` target and ``option httplog`` (comments aside)."""
    config = re.sub(r"(?m)^\s*#.*$", "", config)
    return bool(_LOG_TARGET.search(config) and _HTTPLOG.search(config))


class LbRequestFollower:
    """:func:`lb_request_servers` for a wait that polls: each read takes only the complete lines each LB's
    log gained since the last one, from ``back`` bytes before its end when the follower was made (so the
    requests sent just before are found too), and the servers found add up (``servers`` by marked request,
    ``routes`` every request in the order logged)."""

    def __init__(self, env: Environment, mark: str = PROBE_MARK, back: int = 64 * 1024) -> None:
        self.mark = mark
        self.tails = {c.name: Tail(c.host.transport, state.haproxy_log_path(c),
                                   max(0, state.haproxy_log_size(c) - back)) for c in load_balancers(env)}
        self.servers: dict[str, str] = {}
        self.routes: list[tuple[str, str]] = []

    @property
    def offsets(self) -> dict[str, int]:
        """How far each LB's log has been read, in bytes."""
        return {name: t.offset for name, t in self.tails.items()}

    def read(self) -> dict[str, str]:
        for t in self.tails.values():
            complete = t.read() or ""  # a line still being written is read next time
            self.servers.update(request_servers(complete, self.mark))
            self.routes += routes(complete)
        return self.servers


def served(env: Environment, probe: ProbeResult) -> ProbeResult:
    """``probe`` with each sample no answer named a server for attributed from the LB's request log."""
    if all(s.served_by or not s.request for s in probe.samples):
        return probe
    return probe.served(lb_request_servers(env))


@dataclass(frozen=True)
class LbServer:
    """One backend server as the load balancer's HAProxy sees it now."""

    server: str
    state: str  # UP | DOWN (HAProxy's own word)
    since: datetime | None  # when HAProxy logged the change; None: UP since the worker started (its initial state)
    reason: str = ""


#: the backend servers of the LB's HAProxy config (``server http_plain--NAME ADDR:PORT ...``, as Zato writes it)
_CONFIG_SERVER = re.compile(r"^\s*server\s+(?:http_plain--)?(?P<server>\S+)\s+\S+", re.M)


@dataclass(frozen=True)
class LbFiles:
    """What the checks of a load balancer read of its files, read once: its HAProxy config's text and the pid
    in ``LB/pidfile`` (HAProxy's), each None when it cannot be read (or is no number)."""

    config: str | None
    pid: int | None

    @classmethod
    def of(cls, lb: ComponentHandle) -> LbFiles:
        return cls(lbconfig.read(lb), state.pidfile_pid(lb))


def haproxy_view(lb: ComponentHandle, files: LbFiles | None = None) -> dict[str, LbServer] | None:
    """Each backend server's state as the live HAProxy of load balancer ``lb`` sees it, read without asking
    HAProxy anything: the servers of its config, and the last UP/DOWN line each got in its syslog
    (:func:`state.haproxy_log`) from the running HAProxy (``LB/pidfile``, as Zato's agent starts it with
    ``-p``; in master-worker mode, its workers: its children in ``/proc``). A server with no line from it is
    UP: HAProxy starts every checked server UP and logs only changes. None when no HAProxy of this config is
    alive.

    The real LB agent answers ``get_servers_state`` from ``show stat`` on HAProxy's stats socket; that needs a
    socket client on the host, which preflight's read-only allowlist does not have, so this reads what HAProxy
    logged instead (on a VM: its ``log`` directive, through rsyslog, into ``LB/logs/haproxy.log``).
    """
    t = lb.host.transport
    files = files or LbFiles.of(lb)
    config, pid = files.config, files.pid
    if config is None or pid is None:
        return None
    try:
        cmdline = t.get(f"/proc/{pid}/cmdline").decode(errors="replace")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    if lbconfig.path(lb) not in cmdline.split("\0"):
        return None
    try:  # HAProxy -D logs as itself; in master-worker mode its workers log
        workers: set[str] | None = {str(pid), *t.get(f"/proc/{pid}/task/{pid}/children").decode().split()}
    except (FileNotFoundError, PermissionError):
        workers = None  # no children file (a kernel without it): every line counts
    view = {m["server"]: LbServer(m["server"], "UP", None) for m in _CONFIG_SERVER.finditer(config)}
    for line in state.haproxy_log(lb).splitlines():
        m = _HAPROXY_STATE.match(line)
        if m and m["server"] in view and (workers is None or m["pid"] in workers):
            view[m["server"]] = LbServer(m["server"], m["state"], datetime.fromisoformat(m["ts"]),
                                         (m["reason"] or "").strip())
    return view


@checker("lb-rotation")
def check_back_in_rotation(h: ZatoHistory, lb: list[tuple[datetime, str, str]]) -> Verdict:
    """Each server is back in the load balancer's rotation — HAProxy itself logged it UP after its restart —
    before the next server stops: the window with fewer servers than the cluster minus one never opens."""
    servers = [r for n, role in h.roles.items() if role == "server" for r in h.restarts(n)]
    if len(servers) < 2:
        return Verdict(True, {"servers": len(servers), "why": "one server: no next server to wait for"})
    if not lb:
        return Verdict("unknown", {"why": "HAProxy logged no server state change in the window (is its `log` "
                                          "directive sending to this host's syslog?)"})
    problems, seen = [], []
    for prev, nxt in itertools.pairwise(servers):
        after = prev.starting or prev.stopping
        deadline = nxt.stopping or nxt.starting
        up = [ts for ts, name, st in lb if name == prev.component and st == "UP" and after and ts > after]
        first_up = min(up) if up else None
        seen.append((prev.component, _ts(first_up), nxt.component, _ts(deadline)))
        if first_up is None or deadline is None or deadline < first_up:
            problems.append(f"{nxt.component} began stopping ({_ts(deadline)}) before HAProxy had "
                            f"{prev.component} UP again ({_ts(first_up) or 'never'})")
    return Verdict(not problems, {"problems": problems, "up_then_next": seen})


@checker("sync-internal")
def check_sync_internal(h: ZatoHistory, expected: bool) -> Verdict:
    """``--sync-internal`` (its 'Deploying and caching internal services' lines) on exactly the server
    starts that follow a code update, never on a plain restart, never on another component."""
    starts = h.all_restarts()
    wrong = [r.component for r in starts if r.sync_internal != (expected and r.role == "server")]
    servers = [r.component for r in starts if r.role == "server"]
    return Verdict(bool(servers) and not wrong, {"servers_started": servers, "wrong": wrong,
                                                "expected_on_servers": expected})


def lb_restart_windows(h: ZatoHistory) -> list[tuple[float, float]]:
    """``(stopping, ready)`` of each load balancer restart in ``h``, as wall-clock seconds, from its own log.
    ``zato stop LB`` stops HAProxy too (Zato 3.2 ``stop_haproxy``), so the front door is down in between."""
    return [(r.stopping.timestamp(), r.ready.timestamp()) for n, role in h.roles.items() if role == "load-balancer"
            for r in h.restarts(n) if r.stopping and r.ready]


@checker("availability")
def check_availability(probe: ProbeResult, h: ZatoHistory) -> Verdict:
    """≥ 2 servers: zero failed requests through the LB but in the load balancer's own restarts (from its
    stop to its ready line, as it logged them: HAProxy is down in between, on a real Zato as here), which are
    reported with the requests they failed. 1 server: report the window with no server."""
    servers = [n for n, r in h.roles.items() if r == "server"]
    lb_windows = lb_restart_windows(h)
    inside = {id(s) for s in probe.failed_within(lb_windows)}
    outside = [s for s in probe.failed if id(s) not in inside]
    details: dict[str, Any] = {"sent": probe.sent, "failed": len(probe.failed),
                               "failed_outside_lb_restart": len(outside), "served_by": probe.served_by(),
                               "outages_s": [round(b - a, 3) for a, b in probe.outage_windows()],
                               "lb_restart_s": [round(b - a, 3) for a, b in lb_windows]}
    if len(servers) >= 2:
        if probe.sent == 0:
            return Verdict("unknown", {**details, "why": "the probe sent nothing"})
        if outside:
            details["first_failed_outside"] = [{"at": _ts(datetime.fromtimestamp(s.start, UTC)), "error": s.error,
                                                "status": s.status} for s in outside[:3]]
        return Verdict(not outside, details)
    windows = [(r.stopping, r.ready) for r in h.restarts(servers[0]) if r.stopping and r.ready]
    details["no_server_window_s"] = [round((b - a).total_seconds(), 3) for a, b in windows]
    return Verdict(True, details)


@checker("versions")
def check_versions(env: Environment, expected: str) -> Verdict:
    """Every component runs, and reports (its own start line), the expected version."""
    got = {name: state.running_version(c) for name, c in env.components.items()}
    installed = {h: state.installed_version(host) for h, host in env.hosts.items()}
    wrong = {n: v for n, v in got.items() if v != expected}
    wrong_installed = {h: v for h, v in installed.items() if v != expected}
    return Verdict(not wrong and not wrong_installed, {"running": got, "installed": installed,
                                                        "expected": expected})


def snapshot(env: Environment) -> dict[str, Any]:
    """Everything a second run must not change: checkouts, installed revisions, lifecycle log lines."""
    hosts = {n: (state.head(h), state.installed_revision(h)) for n, h in env.hosts.items()}
    lifecycle = {n: sum(1 for e in parse_log(state.read_log(c)) if e.kind in ("starting", "stopping"))
                 for n, c in env.components.items()}
    return {"hosts": hosts, "lifecycle_lines": lifecycle}


@checker("idempotence")
def check_unchanged(before: dict[str, Any], after: dict[str, Any]) -> Verdict:
    diff = {k: (before[k], after[k]) for k in before if before[k] != after.get(k)}
    return Verdict(not diff, {"changed": diff})
