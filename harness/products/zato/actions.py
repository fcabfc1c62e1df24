"""The Zato runbook's actions, each with the check that makes a second run a no-op.

Skip rules (what makes the update idempotent and a resumed run safe):
- ``zato.git_pull``: the checkout is already at the target commit;
- ``zato.install`` (``./update.sh``): the installed revision equals the checked-out one;
- ``zato.stop``/``zato.start``: the component already runs the installed version (its log says so and
  its process is alive: a SIGKILLed component is restarted), unless ``force``;
  ``zato stop`` on a component with no pidfile reports it as not running.

``zato stop`` returns as soon as it has sent SIGTERM (Zato 3.2 ``stop.py``): the old process may still
hold its port and its pid. The stop step therefore waits, by the product's own signals, until the
process its pidfile named is gone; only then does the start run (whose ``check_config`` would refuse a
busy port or a live pidfile with exit 16).

A start that an earlier executor began and never ended (``ctx.interrupted``) is re-checked against the
node first: when the component's pidfile names a live process that logged its start (the stop before
it waited for the old process to be gone, so this is the one the dead executor started), ``zato start``
is not run again (it would answer "already running": exit 16
on Zato 3.2, 9 on older ones), only the readiness gate.

A start awaits its readiness gate while ``zato start`` runs (``ctx.gate_early()``), not after it: Zato 3.2's
start watches its child's stderr for 1.2 s before it returns, and a component boots, answers and (a server)
is back in the load balancer's rotation within that time or soon after. The step still needs both, the
command's exit 0 and the gate; a failed command stops the wait at once.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from harness.engine.actions import StepContext
from harness.engine.step import Gate
from harness.environment import ComponentHandle, Environment, HostHandle
from harness.errors import GateTimeout, StepFailed
from harness.products.zato import serving, state
from harness.products.zato.logs import parse_line, parse_log
from harness.transports.base import CommandResult
from harness.wait import wait_until

# ----- hosts: git and update.sh -------------------------------------------------------------------


def _host(ctx: StepContext) -> HostHandle:
    return ctx.env.hosts[ctx.step.node]


class GitPull:
    def skip(self, ctx: StepContext) -> str | None:
        host = _host(ctx)
        head = state.head(host)
        target = state.remote_commit(host, ctx.step.args.get("revision"))
        # the node's revision before this run changed it: kept from the first attempt (an executor killed
        # after the pull moved the checkout resumes with it), journaled before anything changes
        ctx.observation.setdefault("before", head)
        ctx.observation["target"] = target
        ctx.persist()  # before anything changes, for the rollback
        if head == target:
            return f"already at {head[:10]} ({ctx.step.args.get('revision') or 'upstream'}): nothing to pull"
        return None

    def run(self, ctx: StepContext) -> None:
        host = _host(ctx)
        rev = ctx.step.args.get("revision")
        argv = ["git", "-C", host.install_dir, "pull", "--ff-only", "--no-edit", "--quiet"]
        argv += ["origin", rev] if rev else []
        host.transport.run(argv, timeout=120).check()
        ctx.observation["after"] = state.head(host)


class GitReset:
    def skip(self, ctx: StepContext) -> str | None:
        to = ctx.step.args["to"]
        head = state.head(_host(ctx))
        return f"already at {to[:10]}" if head == to else None

    def run(self, ctx: StepContext) -> None:
        host = _host(ctx)
        host.transport.run(["git", "-C", host.install_dir, "reset", "--hard", "--quiet", ctx.step.args["to"]],
                           timeout=60).check()
        ctx.observation["after"] = state.head(host)


class UpdateSh:
    def skip(self, ctx: StepContext) -> str | None:
        host = _host(ctx)
        head, installed = state.head(host), state.installed_revision(host)
        return f"revision {head[:10]} is already installed" if head == installed else None

    def run(self, ctx: StepContext) -> None:
        host = _host(ctx)
        host.transport.run(["./update.sh"], cwd=host.install_dir, timeout=300).check()
        ctx.observation["installed"] = state.installed_revision(host)
        ctx.observation["version"] = state.installed_version(host)


# ----- components: zato stop / zato start -----------------------------------------------------------


def _component(ctx: StepContext) -> ComponentHandle:
    return ctx.env.components[ctx.step.node]


def _installed_version(ctx: StepContext, host: HostHandle) -> str:
    """The version ``./update.sh`` installed on ``host`` in this run (its step observed it: no need to
    spawn ``zato --version`` again for every component), else asked on the host."""
    for step_id in (f"reinstall@{host.name}", f"install@{host.name}"):  # the rollback's reinstall is later
        version = ctx.observations.get(step_id, {}).get("version")
        if version:
            return str(version)
    return state.installed_version(host)


def _current_if_running(ctx: StepContext) -> str | None:
    comp = _component(ctx)
    running = state.running_version(comp)  # what its log says it started as ...
    if running and running == _installed_version(ctx, comp.host) and serving.alive(comp):  # ... and still runs
        return f"{comp.name} already runs the installed version {running}"
    return None


# exit codes of zato.cli.SYS_ERROR the steps tell apart
FILE_MISSING, COMPONENT_ALREADY_RUNNING, EXCEPTION_CAUGHT, FAILED_TO_START, FOUND_PIDFILE = 2, 9, 16, 18, 19


def wait_process_gone(comp: ComponentHandle, pids: list[int], timeout: float) -> float:
    """Wait until processes ``pids`` of ``comp`` have exited (their pidfiles are already gone: ``zato stop``
    deletes them at once; a load balancer's are HAProxy's and its agent's); the seconds it took."""
    t0 = time.monotonic()
    for pid in pids:
        left = max(0.1, timeout - (time.monotonic() - t0))
        if not state.wait_pid_gone(comp.host, pid, left):  # one command on the host, whatever it takes
            tail = "\n".join(state.read_log(comp).splitlines()[-10:])
            raise GateTimeout(f"the old process of {comp.name} (pid {pid}) to exit after SIGTERM not ready after "
                              f"{timeout:g}s\n--- log tail ---\n{tail}\nHint: `zato stop` returns before the "
                              f"process is gone; check {state.log_path(comp)} on {comp.host.name} for what keeps "
                              "it from stopping")
    return round(time.monotonic() - t0, 4)


def stop_and_wait(comp: ComponentHandle, timeout: float = 60.0) -> CommandResult:
    """``zato stop PATH``, then wait until the processes its pidfiles named have exited: what anyone who
    starts the component again right after must do (suites and tools too, not only the restart step)."""
    pids = state.pids(comp)
    res = comp.host.transport.run([state.zato_bin(comp.host), "stop", comp.path], timeout=60)
    wait_process_gone(comp, pids, timeout)
    return res


class ZatoStop:
    def skip(self, ctx: StepContext) -> str | None:
        return None if ctx.step.args.get("force") else _current_if_running(ctx)

    def run(self, ctx: StepContext) -> None:
        comp = _component(ctx)
        pids = ctx.observation.get("pids")  # persisted by an interrupted earlier attempt: its pidfiles are gone
        if pids is None and "pid" in ctx.observation:  # journaled by an executor that knew one pidfile only
            pids = [ctx.observation["pid"]] if ctx.observation["pid"] is not None else []
        if pids is None:
            pids = state.pids(comp)
            ctx.observation["pids"] = pids
            ctx.persist()  # before the signal: a resumed step still knows which processes to wait for
        t0 = time.monotonic()
        res = comp.host.transport.run([state.zato_bin(comp.host), "stop", comp.path], timeout=60)
        ctx.observation.update(exit_code=res.exit_code, command_s=round(time.monotonic() - t0, 4))
        if res.exit_code == FILE_MISSING:  # no pidfile: not running, or an earlier attempt already stopped it
            ctx.observation["was_running"] = False
        elif res.exit_code == EXCEPTION_CAUGHT and pids and not any(state.pid_alive(comp.host, int(p)) for p in pids):
            # a stale pidfile: SIGTERM found no process (ProcessLookupError) and Zato kept the pidfile;
            # `zato start` deletes a stale pidfile itself (check_config)
            ctx.observation.update(was_running=False, stale_pidfile=True)
        else:
            res.check()
        if pids:
            timeout = float(ctx.step.args.get("stop_timeout") or ctx.plan.ready_timeout)
            ctx.observation["stopped_after"] = wait_process_gone(comp, [int(p) for p in pids], timeout)


def _live_start(comp: ComponentHandle) -> tuple[int, int] | None:
    """``(pid, offset in the log text of its Starting line)`` when the component's pidfile names a live process that
    logged its start and neither its stop nor a boot failure since; None otherwise."""
    pids = state.running_pids(comp)
    if pids is None:
        return None
    pid = pids[-1]  # the process that writes the log (a load balancer's agent, its last pidfile)
    text, offset, found = state.read_log(comp), 0, None
    for line in text.splitlines(keepends=True):
        e = parse_line(line.rstrip("\n"))
        if e is not None and e.pid == pid:
            if e.kind == "starting":
                found = offset
            elif e.kind in ("stopping", "stopped", "boot_failed"):
                found = None
        offset += len(line)  # characters: read_log's text is what the gate slices
    return (pid, found) if found is not None else None


class ZatoStart:
    def skip(self, ctx: StepContext) -> str | None:
        # an interrupted start is never skipped for "already runs the installed version": the earlier
        # executor may have started it without seeing it ready, and the gate must still hold
        return None if ctx.step.args.get("force") or ctx.interrupted else _current_if_running(ctx)

    def run(self, ctx: StepContext) -> None:
        comp = _component(ctx)
        if ctx.interrupted:
            # the stop before this step waited until the old process was gone: a live component now is
            # the one the earlier executor's `zato start` started. Only the gate is left, from its start line.
            live = _live_start(comp)
            if live is not None:
                ctx.observation.update(already_started=live[0], log_offset=live[1])
                return
        ctx.observation["log_offset"] = len(state.read_log(comp))
        argv = [state.zato_bin(comp.host), "start", comp.path]
        if ctx.step.args.get("sync_internal"):
            argv.append("--sync-internal")
        ctx.gate_early()  # the readiness gate from now on, beside the command's stderr watch (module docstring)
        t0 = time.monotonic()
        res = comp.host.transport.run(argv, timeout=60)
        ctx.observation.update(exit_code=res.exit_code, command_s=round(time.monotonic() - t0, 4))
        said = (res.stdout + res.stderr).strip()
        if res.exit_code in (EXCEPTION_CAUGHT, COMPONENT_ALREADY_RUNNING, FOUND_PIDFILE) and "pidfile" in said:
            dead = [f for f in state.pidfiles(comp)[1:] if state.stale_pidfile(comp, f)]
            if res.exit_code == FOUND_PIDFILE and dead:  # a killed LB agent's: `zato start` never deletes it
                raise StepFailed(ctx.step.id, f"{comp.name} did not start: `zato start` exit 19, found pidfile "
                                 f"{dead[0]} whose process is gone ({said[-200:]})\nHint: the agent was killed; "
                                 f"remove {dead[0]} on {comp.host.name} and run again")
            raise StepFailed(ctx.step.id, f"{comp.name} is already running (`zato start` exit {res.exit_code}: "
                             f"{said[-300:]})\nHint: something else started it; stop it, or check "
                             f"{' and '.join(state.pidfiles(comp))} on {comp.host.name}")
        if res.exit_code == FAILED_TO_START:
            raise StepFailed(ctx.step.id, f"{comp.name} failed to start: `zato start` exit 18, its stderr: "
                             f"{said[-800:]}\nHint: see {state.log_path(comp)} on {comp.host.name}")
        res.check()
        if "OK" not in res.stdout.split():
            raise StepFailed(ctx.step.id, f"`zato start` exited 0 without printing OK: {res.stdout!r}")


# ----- readiness gate ------------------------------------------------------------------------------

def component_ready(ctx: StepContext, gate: Gate) -> None:
    """The gate of ``zato start``: :func:`wait_ready` from the log offset the start recorded."""
    comp = _component(ctx)
    ctx.observation.update(wait_ready(ctx.env, comp, int(ctx.observation.get("log_offset", 0)), gate.timeout,
                                      step=ctx.step.id))


def wait_ready(env: Environment, comp: ComponentHandle, offset: int, timeout: float, *,
               step: str | None = None) -> dict[str, Any]:
    """Ready = the component logged its ready line (``Started `s@c` `` for servers) after byte ``offset``
    of its log *and* its endpoint answers (``ZATO_OK`` for servers); a server also waits until the load
    balancer routes to it. A boot failure in the log fails at once. Returns what was observed."""
    t0 = time.monotonic()

    def booted() -> bool:
        events = parse_log(state.read_log(comp)[offset:])
        failed = [e for e in events if e.kind == "boot_failed"]
        if failed:
            raise StepFailed(step or f"start@{comp.name}", f"{comp.name} failed to start: {failed[0].message}")
        return any(e.kind in ("started", "ready") for e in events) and serving.http_ready(comp)

    wait_until(booted, timeout=timeout, interval=0.025,
               what=f"{comp.name} (no ready line and/or endpoint not answering)",
               details=lambda: "--- log tail ---\n" + "\n".join(state.read_log(comp)[offset:].splitlines()[-10:]),
               hint=f"check {state.log_path(comp)} on {comp.host.name}")
    seen: dict[str, Any] = {}
    if comp.role == "server":
        seen.update(_wait_in_rotation(env, comp, timeout - (time.monotonic() - t0)))
    seen["ready_after"] = round(time.monotonic() - t0, 3)
    return seen


LB_SETTLE = 0.5  # seconds: more than two HAProxy health-check intervals of the stand-in (200 ms)


def _wait_in_rotation(env: Environment, comp: ComponentHandle, timeout: float) -> dict[str, Any]:
    """A server is ready for the rolling restart only once the load balancer sends it traffic again;
    stopping the next server earlier could leave the LB with no server marked up.

    Through the front door, wait for a response served by this server. A Zato server names itself in no
    answer, so each request carries an id its HAProxy logs with the server it sent it to (``option httplog``,
    as Zato's LB config has it; what its log gained since the wait began is read at each poll). Only a load
    balancer whose config logs no requests (:func:`~harness.products.zato.checks.lb_logs_requests`) gets a
    fixed settle time after its first answer instead: a silent log is no evidence (a paused LB is silent).
    """
    from harness.probes import marked
    from harness.products.zato.checks import PROBE_MARK, LbRequestFollower, lb_logs_requests, load_balancers

    url = env.inventory.front_door
    if not url:
        return {}
    logged_by_lb = any(lb_logs_requests(lb) for lb in load_balancers(env))
    token = f"rotation-{comp.name}-{time.monotonic_ns()}"
    sent: list[str] = []
    log = LbRequestFollower(env, back=0) if logged_by_lb else None  # before the first request: reads what follows

    def routed() -> bool:
        request = f"{token}-{len(sent)}"
        try:
            requests.get(marked(url.rstrip("/") + "/zato/ping", PROBE_MARK, request), timeout=1,
                         headers={"Connection": "close"})
        except requests.RequestException:
            return False
        sent.append(request)
        if log is None:
            return True
        servers = log.read()
        return comp.name in (servers[s] for s in sent if s in servers)

    what = (f"the load balancer's request log to show it sending a request to {comp.name}" if log else
            "the load balancer to answer")
    wait_until(routed, timeout=max(timeout, 0.1), interval=0.02,
               what=f"{comp.name} answers on its own port; waiting for {what}",
               hint=f"check the LB's health checks of {comp.name} (GET /zato/ping)" +
                    ("" if log else "; its config logs no requests (no `option httplog` or no `log` target), "
                                    "so the wait cannot see where they go"))
    if log is None:
        time.sleep(LB_SETTLE)
        return {"in_rotation": "assumed", "why": "the LB's config logs no requests: settled "
                                                 f"{LB_SETTLE}s after its first answer"}
    return {"in_rotation": True, "seen_in": "the LB's request log", "requests": len(sent)}
