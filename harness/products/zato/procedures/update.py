"""Zato environment update (reference zato.md §1.4) and the restart-only variant.

``zato-update``: on every host ``git pull`` + ``./update.sh`` (hosts concurrently: one stage); then web-admin
stop/start; then each server in turn: stop → ``zato start PATH --sync-internal`` → wait until ready → next;
then the load balancer; then the scheduler; then verify that the environment serves (every component's
process alive and answering, the front door answering). ``zato-restart``: the same stop/start order with no
code update and no ``--sync-internal`` (the docs: only after a code update).

Rollback after a failed step: put every host whose checkout moved back on its previous commit and
reinstall it, then restart, in the documented order, every component that does not run the
installed (old) code any more — the ones already restarted on the new code and the one that failed.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from harness.engine.procedure import Check, Done, NoParams, Params, Procedure
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import PlanError, RefusedError
from harness.plan.models import Component, Inventory, Plan
from harness.products.zato import preflight as zato_preflight
from harness.products.zato import state

ORDER = ("web-admin", "server", "load-balancer", "scheduler")


class UpdateParams(Params):
    revision: str | None = Field(None, description="git ref to pull (a tag such as \"3.2.1\" or a branch); "
                                 "omit for a plain `git pull`")


def _components(plan: Plan, inv: Inventory) -> list[Component]:
    known = {c.name for c in inv.components}
    unknown = [n for n in plan.components or [] if n not in known]
    if unknown:
        raise PlanError(f"unknown component(s) {', '.join(unknown)}", field="components",
                        hint=f"the inventory {inv.environment!r} has: {', '.join(sorted(known))}")
    chosen = [c for c in inv.components if plan.components is None or c.name in plan.components]
    return sorted(chosen, key=lambda c: ORDER.index(c.role))  # stable: inventory order within a role


def _short(path: str) -> str:
    parts = path.rstrip("/").split("/")
    return path if len(parts) <= 3 else ".../" + "/".join(parts[-2:])


def restart_steps(comps: Iterable[Component], *, sync_servers: bool, force: bool, timeout: float,
              prefix: str = "") -> list[Step]:
    out = []
    for c in comps:
        sync = sync_servers and c.role == "server"
        out.append(Step(f"{prefix}stop@{c.name}", c.name, "zato.stop", {"force": force},
                        description=f"zato stop {_short(c.path)}"))
        out.append(Step(f"{prefix}start@{c.name}", c.name, "zato.start", {"force": force, "sync_internal": sync},
                        gate=Gate("zato.ready", timeout),
                        description=f"zato start {_short(c.path)}{' --sync-internal' if sync else ''}"))
    return out


def verify_step(inv: Inventory, prefix: str = "") -> list[Step]:
    """The last step of every Zato procedure: every component's process alive and its endpoint answering,
    and the front door answering (:mod:`harness.products.zato.serving`). Run on the load balancer's node
    (the front door's), else on the first component; none for an inventory that names no component (hosts
    only: nothing to serve)."""
    lb = inv.by_role("load-balancer")
    if not lb and not inv.components:
        return []
    node = (lb[0] if lb else inv.components[0]).name
    return [Step(f"{prefix}verify@{node}", node, "zato.verify",
                 description="every component alive and answering, the front door answering /zato/ping")]


def steps(plan: Plan, params: UpdateParams | NoParams, inv: Inventory) -> list[Step]:
    comps = _components(plan, inv)
    update = isinstance(params, UpdateParams)
    out: list[Step] = []
    if isinstance(params, UpdateParams):
        rev = params.revision
        hosts = list(dict.fromkeys(c.host for c in inv.components if c in comps))
        for h in hosts:
            install = _short(inv.host(h).install_dir)
            out.append(Step(f"pull@{h}", h, "zato.git_pull", {"revision": rev}, compensation="zato.git_reset",
                            description=f"cd {install} && git pull{' origin ' + rev if rev else ''}",
                            parallel="code-update"))
            out.append(Step(f"install@{h}", h, "zato.install", description=f"cd {install} && ./update.sh",
                            parallel="code-update"))
    return [*out, *restart_steps(comps, sync_servers=update, force=not update, timeout=plan.ready_timeout),
            *verify_step(inv)]


def precheck(env: Environment, plan: Plan, params: UpdateParams | NoParams) -> None:
    """Read-only checks on every node before anything changes (refuse rather than half-update)."""
    comps = _components(plan, env.inventory)
    hosts = {c.host for c in comps}
    for name in sorted(hosts):
        host = env.hosts[name]
        res = host.transport.run(["git", "-C", host.install_dir, "rev-parse", "--is-inside-work-tree"], timeout=30)
        if res.stdout.strip() != "true":
            raise RefusedError(f"host {name}: install dir {host.install_dir} is missing or not a git checkout\n"
                               f"Hint: fix `install_dir` of host {name!r} in the inventory")
        if isinstance(params, UpdateParams):
            state.remote_commit(host, params.revision)
    for c in comps:
        comp = env.components[c.name]
        if not comp.host.transport.run(["test", "-d", f"{comp.path}/config/repo"], timeout=30).ok:
            raise RefusedError(f"component {c.name}: {comp.path} is not a Zato component directory\n"
                               f"Hint: fix `path` of component {c.name!r} in the inventory")


def facts(env: Environment, plan: Plan, params: UpdateParams | NoParams) -> dict[str, dict[str, str]]:
    """What the steps depend on, per host (read-only): the installed version and revision (what
    ``./update.sh`` wrote), the checkout's commit and, for an update, the commit the revision is upstream."""
    out: dict[str, dict[str, str]] = {}
    for name in sorted({c.host for c in _components(plan, env.inventory)}):
        host = env.hosts[name]
        f = out[name] = {"installed version": state.installed_version_file(host),
                         "installed revision": state.installed_revision(host), "checkout": state.head(host)}
        if isinstance(params, UpdateParams):
            f[f"upstream {params.revision or '(tracked branch)'}"] = state.remote_commit(host, params.revision)
    return out


def preflight(env: Environment, plan: Plan, params: UpdateParams | NoParams) -> list[Check]:
    """Read-only, before a window: every host on one installed version (an update: not the revision's
    already), every component running it, the load balancer seeing every server UP and retrying a refused
    connection on another server (:mod:`harness.products.zato.preflight`)."""
    comps = _components(plan, env.inventory)
    update = isinstance(params, UpdateParams)
    revision = params.revision if isinstance(params, UpdateParams) else None
    return [*zato_preflight.version_checks(env, comps, revision, update), *zato_preflight.lb_checks(env, comps)]


def _moved(obs: dict[str, object], status: StepStatus) -> bool:
    """Whether this run moved a host's checkout. Known from the node, not from which executor pulled: the
    revision before the pull is journaled before the pull runs, and kept by a resumed attempt. A pull
    skipped after a resume ("nothing to pull": the killed executor had pulled) moved it all the same."""
    before = obs.get("before")
    if not before:
        return False
    if status != StepStatus.SKIPPED:
        return True
    return bool(obs.get("target")) and before != obs.get("target")


def rollback_steps(plan: Plan, params: UpdateParams | NoParams, inv: Inventory, done: Done) -> list[Step]:
    out: list[Step] = []
    moved = [(s, obs) for s, obs, status in done if s.action == "zato.git_pull" and _moved(obs, status)]
    for s, obs in reversed(moved):
        out.append(Step(f"revert@{s.node}", s.node, "zato.git_reset", {"to": obs["before"]},
                        description=f"git reset --hard {obs['before'][:10]}", parallel="code-revert"))
        out.append(Step(f"reinstall@{s.node}", s.node, "zato.install", description="./update.sh",
                        parallel="code-revert"))
    comps = _components(plan, inv)
    # not forced: a component still running the installed (old) code is skipped
    return [*out, *restart_steps(comps, sync_servers=bool(moved), force=False, timeout=plan.ready_timeout,
                                 prefix="rb-"), *verify_step(inv, "rb-")]


UPDATE = Procedure("zato-update", UpdateParams, steps, precheck, rollback_steps,
                   summary="git pull + ./update.sh on every host at once, then web-admin, servers one by one "
                   "(--sync-internal), load balancer, scheduler", facts=facts, preflight=preflight)
RESTART = Procedure("zato-restart", NoParams, steps, precheck, rollback_steps,
                    summary="the same restart order with no code update and no --sync-internal", facts=facts,
                    preflight=preflight)
