"""Preflight checks of a Zato update or restart (``harness preflight``), read-only through preflight's
transports: every host on one installed version, and not already on the revision's; every component
running the version its host has installed; the load balancer sees every server UP, and its config retries a
refused connection on another server.

The readers are the ones the procedure and the suites use (:mod:`harness.products.zato.state`,
:func:`harness.products.zato.checks.haproxy_view`); nothing here asks a node anything they do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from harness.engine.procedure import Check
from harness.environment import ComponentHandle, Environment
from harness.errors import HarnessError
from harness.plan.models import Component
from harness.products.zato import lbconfig, state
from harness.products.zato.checks import LbFiles, LbServer, haproxy_view, load_balancers


def _target(env: Environment, host: str, revision: str | None) -> tuple[str, str]:
    """(commit, version) the revision brings to ``host``: the commit upstream, and its ``VERSION`` file when
    the checkout already has that commit (``git show``, nothing fetched); "" when it does not."""
    h = env.hosts[host]
    commit = state.remote_commit(h, revision)
    res = h.transport.run(["git", "-C", h.install_dir, "show", f"{commit}:VERSION"], timeout=30)
    return commit, res.stdout.strip() if res.ok else ""


def version_checks(env: Environment, comps: Sequence[Component], revision: str | None,
                   update: bool) -> list[Check]:
    """One ``version`` check per host (installed version, the same on every host, not the target's already),
    then one per component (it runs its host's installed version: its own start line says so)."""
    hosts = list(dict.fromkeys(c.host for c in comps))
    installed = {h: state.installed_version_file(env.hosts[h]) for h in hosts}
    common = Counter(installed.values()).most_common(1)[0][0] if installed else ""
    out: list[Check] = []
    for h in hosts:
        have = installed[h]
        detail, fix = f"installed {have or '(none)'}", ""
        if not have:
            fix = f"no .installed/VERSION under {env.hosts[h].install_dir}: run ./update.sh there, or fix install_dir"
        elif have != common:
            detail += f"; the other hosts have {common}"
            fix = f"bring {h} to {common} (git checkout {common} && ./update.sh) before the window"
        elif update:
            try:
                commit, target = _target(env, h, revision)
            except HarnessError as exc:
                msg, _, hint = str(exc).partition("\nHint: ")
                out.append(Check("version", h, False, f"{detail}; {msg}", hint or "fix params.revision"))
                continue
            detail += f", revision {revision or '(tracked branch)'} is {target or commit[:10]}"
            if state.installed_revision(env.hosts[h]) == commit or (target and target == have):
                fix = f"{h} is already on {target or commit[:10]}: nothing to update (another revision?)"
        out.append(Check("version", h, not fix, detail, fix))
    for c in comps:
        running = state.running_version(env.components[c.name])
        have = installed[c.host]
        fix = "" if running == have else (
            f"start it: zato start {c.path}" if running is None
            else f"restart it on the installed code (zato stop/start {c.path}), or run zato-restart first")
        out.append(Check("version", c.name, not fix, f"running {running}" if running else "not running "
                         "(its log's last lifecycle line is a stop or a failed boot)", fix))
    return out


def lb_checks(env: Environment, comps: Sequence[Component]) -> list[Check]:
    """``load balancer`` checks of each load balancer, from one read of its config and pidfile
    (:class:`~harness.products.zato.checks.LbFiles`): every server of the plan UP as its HAProxy sees it,
    then its config (:func:`_config_check`)."""
    servers = [c for c in comps if c.role == "server"]
    out: list[Check] = []
    for lb in load_balancers(env):
        files = LbFiles.of(lb)
        out += _servers_up(lb, servers, haproxy_view(lb, files))
        out.append(_config_check(lb, files))
    return out


def _servers_up(lb: ComponentHandle, servers: Sequence[Component],
                view: dict[str, LbServer] | None) -> list[Check]:
    if view is None:
        return [Check("load balancer", lb.name, False, f"no live HAProxy of {lb.path} (its pidfile names none "
                      "running its config)", f"start the load balancer: zato start {lb.path}")]
    out: list[Check] = []
    for s in servers:
        seen = view.get(s.name)
        if seen is None:
            out.append(Check("load balancer", s.name, False, f"{lb.name}'s HAProxy has no server {s.name}",
                             f"add {s.name} to the load balancer (web-admin: Load balancer > Manage) or "
                             "drop it from the plan's components"))
            continue
        when = f" since {seen.since.isoformat(timespec='seconds')}" if seen.since else ""
        why = f" ({seen.reason})" if seen.reason else ""
        ok = seen.state == "UP"
        out.append(Check("load balancer", s.name, ok, f"{lb.name} sees it {seen.state}{when}{why}",
                         "" if ok else f"start {s.name} (zato start {s.path}) and wait until {lb.name} sees "
                         "it UP: the update restarts servers one by one and needs the others in rotation"))
    return out


#: Linux's USER_HZ, the unit of a process's start time in /proc/PID/stat (100 on every architecture it runs)
_TICKS = 100


def _config_newer_than_haproxy(lb: ComponentHandle, pid: int | None) -> str:
    """Why the live HAProxy of ``lb`` (``LB/pidfile``) runs an older config than ``config_file`` (written after
    the process started: edited by hand and not restarted); "" when it does not, or when that cannot be read.
    Read-only: the process's start from /proc (its start in ticks after the kernel's ``btime``), the file's
    mtime from ``stat``."""
    t = lb.host.transport
    if pid is None:
        return ""
    try:
        fields = t.get(f"/proc/{pid}/stat").decode().rsplit(")", 1)[1].split()
        btime = next(int(ln.split()[1]) for ln in t.get("/proc/stat").decode().splitlines() if ln.startswith("btime"))
    except (FileNotFoundError, PermissionError, StopIteration, IndexError, ValueError):
        return ""
    res = t.run(["stat", "-c", "%Y", lbconfig.path(lb)], timeout=30)
    if not res.ok or not res.stdout.strip().isdigit():
        return ""
    started, written = btime + int(fields[19]) / _TICKS, int(res.stdout.strip())  # field 22: starttime
    if written <= started + 2:  # whole seconds on both sides
        return ""

    def at(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    return (f"zato.config was written at {at(written)}, after the running HAProxy (pid {pid}) started at "
            f"{at(started)}: HAProxy still runs the config from before")


def _config_check(lb: ComponentHandle, files: LbFiles) -> Check:
    """``load balancer`` of ``lb``: its HAProxy config retries a refused connection on another server, without
    which a rolling restart loses the requests sent to each stopping server
    (:mod:`harness.products.zato.lbconfig`; Zato 3.2's own template is such a config)."""
    config_file = lbconfig.path(lb)
    if files.config is None:
        return Check("load balancer", lb.name, False, f"cannot read {config_file}",
                     f"fix the path of {lb.name} in the inventory, or let its account read the file")
    try:
        f = lbconfig.failover(files.config)
    except ValueError as exc:  # HAProxy would refuse this config too
        return Check("load balancer", lb.name, False, f"{config_file}: {exc}",
                     "fix the config (`haproxy -c -f` validates it), then restart the load balancer")
    if f.keeps_requests:
        stale = _config_newer_than_haproxy(lb, files.pid)
        return Check("load balancer", lb.name, not stale, stale or "zato.config retries a refused "
                     f"connection on another server (option redispatch, retries {f.retries})",
                     f"restart {lb.name} (zato stop/start {lb.path}) before the window, so that HAProxy "
                     "reads it" if stale else "")
    why = (f"`retries {f.retries}`" if f.redispatch else "no `option redispatch`") + (
        " (Zato 3.2's template has none)" if not f.redispatch else "")
    return Check(
        "load balancer", lb.name, False,
        f"zato.config has {why}: HAProxy answers 503 to each request it sends to a stopping server until "
        f"its checks mark it DOWN (fall × inter: {f.down_after_s:g} s), so every server's restart loses requests",
        f"add `retries 3`, `option redispatch` and `retry-on conn-failure empty-response` under `defaults` in "
        f"{config_file} (web-admin: Load balancer > Manage source code), then restart {lb.name} before the "
        "window")


__all__ = ["lb_checks", "version_checks"]
