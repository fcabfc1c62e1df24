"""``procedure: runbook``: the plan's steps expanded over the inventory, every template filled, every
mistake refused (exit 4, file:line, field and hint) before anything runs.

Expansion: a step (or a group of ``steps``) names one target — ``node``, ``role`` (components, inventory
order) or ``hosts`` (``all``, or the hosts of a role) — and becomes one step per node, ``ID@NODE``. The
rollout rule ``serial`` splits the nodes into batches run one after another (``1``: one by one, each step's
gate opening before the next node; ``N`` or ``"P%"``: that many nodes of a batch concurrently, one lane per
node). A group runs all its steps on one node before the rollout moves on, as "stop/start each server, one
by one, waiting for it to start" asks.

Rollback: each step that ran (not skipped) and has a ``compensate`` is undone, in reverse order; then the
``rollback: [{repeat: ID}]`` entries run that step or group again with ids ``rb-ID@NODE`` (their skip checks
decide what is still to do — a restart on the reverted code where the new one runs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from harness.engine.procedure import Done
from harness.engine.step import Gate, Step, StepStatus
from harness.errors import PlanError
from harness.plan.errors import validation_error
from harness.plan.models import Component, Host, Inventory, Plan
from harness.products.runbook.models import ACTIONS, CompensateSpec, RunbookParams, StepSpec
from harness.products.runbook.templates import RECORDED, Secrets, fill, render_tree

_READ_ONLY_HTTP = ("GET", "HEAD")
_SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh")


def _f(*parts: str | int) -> str:
    return ".".join(str(p) for p in parts)


def _targets(spec: StepSpec, inv: Inventory, field: str) -> list[Host | Component]:
    given = [k for k in ("node", "role", "hosts") if getattr(spec, k) is not None]
    if len(given) != 1:
        raise PlanError(f"step {spec.id!r} names {' and '.join(given) or 'no target'}", field=field,
                        hint="give exactly one target: `node: NAME`, `role: ROLE` or `hosts: all|ROLE`")
    roles = sorted({c.role for c in inv.components})
    if spec.node is not None:
        found: list[Host | Component] = [c for c in inv.components if c.name == spec.node] or \
            [h for h in inv.hosts if h.name == spec.node]
        if not found:
            names = [c.name for c in inv.components] + [h.name for h in inv.hosts]
            raise PlanError(f"node {spec.node!r} is not in the inventory {inv.environment!r}",
                            field=_f(field, "node"), hint=f"use one of: {', '.join(names)}")
        return found
    if spec.role is not None:
        comps = inv.by_role(spec.role)
        if not comps:
            raise PlanError(f"role {spec.role!r} has no node in the inventory {inv.environment!r}",
                            field=_f(field, "role"), hint=f"roles there: {', '.join(roles) or 'none'}")
        return list(comps)
    if spec.hosts == "all":
        return list(inv.hosts)
    names = list(dict.fromkeys(c.host for c in inv.by_role(str(spec.hosts))))
    if not names:
        raise PlanError(f"hosts {spec.hosts!r}: no component has this role in the inventory {inv.environment!r}",
                        field=_f(field, "hosts"), hint=f"use `all` or one of the roles: {', '.join(roles)}")
    return [inv.host(n) for n in names]


def _batch_size(spec: StepSpec, count: int, field: str) -> int:
    serial = spec.serial
    if serial is None:
        return 1
    if spec.parallel is not None:
        raise PlanError("`serial` and `parallel` on one step", field=_f(field, "serial"),
                        hint="`parallel` runs every node at once; `serial` rolls out in batches: keep one")
    if isinstance(serial, int) and not isinstance(serial, bool) and serial >= 1:
        return serial
    if isinstance(serial, str) and serial.endswith("%") and serial[:-1].isdigit() and 0 < int(serial[:-1]) <= 100:
        return max(1, math.ceil(count * int(serial[:-1]) / 100))
    raise PlanError(f"serial {serial!r} is not a rollout rule", field=_f(field, "serial"),
                    hint='use 1 (one node at a time), a number N, or a percentage such as "30%"')


def context(plan: Plan, params: RunbookParams, inv: Inventory, target: Host | Component) -> dict[str, Any]:
    """The names a template of a step on ``target`` may use."""
    host = inv.host(target.host) if isinstance(target, Component) else target
    ctx: dict[str, Any] = {
        "host": host.model_dump(), "params": dict(params.vars), "facts": dict(inv.facts),
        "inventory": {"environment": inv.environment, "product": inv.product, "front_door": inv.front_door,
                      "facts": dict(inv.facts)},
        "secrets": Secrets(params.secrets),
    }
    if isinstance(target, Component):
        ctx["node"] = target.model_dump()
    return ctx


def _action(spec: StepSpec | CompensateSpec, field: str) -> str:
    unknown = sorted(k for k in (spec.model_extra or {}))
    if unknown:
        raise PlanError(f"unknown action or field {unknown[0]!r}", field=_f(field, unknown[0]),
                        hint=f"a step has exactly one action: {', '.join(ACTIONS)} (`harness schema plan` "
                        "lists every field)")
    given = [a for a in ACTIONS if getattr(spec, a) is not None]
    if len(given) != 1:
        raise PlanError(f"{'no action' if not given else 'actions ' + ' and '.join(given)} in one step",
                        field=field, hint=f"give exactly one of: {', '.join(ACTIONS)}")
    argv = spec.run or []
    if argv and argv[0].rsplit("/", 1)[-1] in _SHELLS and "-c" in argv:
        i = argv.index("-c")
        if i + 1 < len(argv) and ("{{" in argv[i + 1] or "{%" in argv[i + 1]):
            raise PlanError("a template inside a shell script (`sh -c`)", field=_f(field, "run", i + 1),
                            hint="pass values as arguments after the script, as in sh -c 'echo \"$1\"' sh "
                            '"{{ value }}" (a value is never spliced into shell code)')
    return given[0]


def _action_args(spec: StepSpec | CompensateSpec, kind: str) -> dict[str, Any]:
    args: dict[str, Any] = {"kind": kind}
    if kind == "run":
        args.update(run=spec.run, cwd=spec.cwd, become=spec.become, exit_codes=spec.exit_codes,
                    timeout=spec.timeout)
    else:
        args[kind] = getattr(spec, kind).model_dump()
    return args


def _describe(args: dict[str, Any]) -> str:
    kind = args["kind"]
    if kind == "run":
        text = " ".join(args["run"])
        text = f"cd {args['cwd']} && {text}" if args.get("cwd") else text
        return f"(as {args['become']}) {text}" if args.get("become") else text
    if kind == "http":
        return f"{args['http']['method']} {args['http']['url']} -> {args['http']['status']}"
    if kind == "put":
        return f"put {args['put']['path']}"
    return f"wait for /{args['wait_log']['pattern']}/ in {args['wait_log']['file']}"


def _compensation(spec: StepSpec, kind: str, ctx: dict[str, Any], field: str) -> dict[str, Any]:
    comp = spec.compensate
    assert comp is not None
    cfield = _f(field, "compensate")
    if kind == "wait_log" or (kind == "http" and spec.http and spec.http.method in _READ_ONLY_HTTP):
        raise PlanError(f"step {spec.id!r} has nothing to undo: its action ({kind}"
                        f"{' ' + spec.http.method if spec.http else ''}) changes nothing", field=cfield,
                        hint="remove `compensate`, or move it to the step that makes the change")
    ckind = _action(comp, cfield)
    raw = comp.model_dump(exclude={"id"})
    if re.search(r"\{\{-?\s*recorded\b", str(raw)) and spec.record is None:
        raise PlanError(f"the compensation of {spec.id!r} uses `recorded`, but the step records nothing",
                        field=cfield, hint="add `record: [argv]` to the step: its stdout, taken before the "
                        "change, is {{ recorded }}")
    try:
        rendered = CompensateSpec.model_validate(render_tree(raw, {**ctx, "recorded": RECORDED}, cfield))
    except ValidationError as exc:
        parts = tuple(int(p) if p.isdigit() else p for p in cfield.split("."))
        raise validation_error(exc, CompensateSpec, prefix=parts, where="a compensation") from None
    args = _action_args(rendered, ckind)
    return {"id": comp.id or f"undo-{spec.id}", "action": f"runbook.{ckind}", "args": args,
            "description": rendered.description or _describe(args)}


def _log_at(inv: Inventory, at: str, field: str) -> Host | Component:
    """The node named by a gate's ``log.at``: a component or host name, or a role with one component."""
    named: list[Host | Component] = [c for c in inv.components if c.name == at] or \
        [h for h in inv.hosts if h.name == at] or list(inv.by_role(at))
    if len(named) != 1:
        names = [c.name for c in inv.components]
        raise PlanError(f"log at {at!r}: " + (f"the role has {len(named)} components" if named else
                        f"no component, host or role of that name in the inventory {inv.environment!r}"),
                        field=_f(field, "at"), hint=f"name one component: {', '.join(names)}")
    return named[0]


def _gate_logs(raw: dict[str, Any], ctx: dict[str, Any], inv: Inventory, field: str) -> list[dict[str, Any]]:
    """A gate's ``log`` conditions as a list, each rendered; one with ``at``: with ``{{ at }}`` = that node, and
    ``at`` = its name."""
    logs = raw.get("log")
    out = []
    for i, log in enumerate(logs if isinstance(logs, list) else [logs]):
        f = _f(field, "log", i) if isinstance(logs, list) else _f(field, "log")
        if not log.get("at"):
            out.append(render_tree({k: v for k, v in log.items() if k != "at"}, ctx, f))
            continue
        node = _log_at(inv, render_tree(log["at"], ctx, _f(f, "at")), f)
        out.append({**render_tree({k: v for k, v in log.items() if k != "at"}, {**ctx, "at": node.model_dump()}, f),
                    "at": node.name})
    return out


def _one(spec: StepSpec, ctx: dict[str, Any], inv: Inventory, node: str, field: str, prefix: str,
         parallel: str | None) -> Step:
    kind = _action(spec, field)
    raw = spec.model_dump(include={"description", "run", "cwd", "become", "exit_codes", "timeout", "http", "put",
                                   "wait_log", "gate", "skip_if", "record"})
    logs = None
    if raw.get("gate") and raw["gate"].get("log"):
        logs = _gate_logs(raw["gate"], ctx, inv, _f(field, "gate"))
        raw["gate"] = {k: v for k, v in raw["gate"].items() if k != "log"}
    r = render_tree(raw, ctx, field)
    if logs:
        r["gate"]["log"] = logs
    try:
        done = StepSpec.model_validate({**r, "id": spec.id, "node": node})
    except ValidationError as exc:  # a template gave a value of the wrong type
        parts = tuple(int(p) if p.isdigit() else p for p in field.split("."))
        raise validation_error(exc, StepSpec, prefix=parts, where="a runbook step") from None
    args = _action_args(done, kind)
    if done.skip_if is not None:
        if (done.skip_if.run is None) == (done.skip_if.http is None):
            raise PlanError("skip_if needs exactly one check: `run` (a command) or `http`",
                            field=_f(field, "skip_if"), hint="e.g. skip_if: {run: [test, -e, FILE]}")
        args["skip_if"] = done.skip_if.model_dump(exclude_none=True)
    if done.record is not None:
        args["record"] = done.record
    if spec.compensate is not None:
        args["compensate"] = _compensation(spec, kind, ctx, field)
    gate = None
    if done.gate is not None:
        conditions = done.gate.model_dump(exclude={"timeout"}, exclude_none=True)
        if not conditions:
            raise PlanError("a gate with no condition", field=_f(field, "gate"),
                            hint="give one or more of: http, tcp, log, command")
        gate = Gate("runbook.ready", done.gate.timeout, conditions)
    return Step(f"{prefix}{spec.id}@{node}", node, f"runbook.{kind}", args, gate=gate,
                compensation=args["compensate"]["action"] if "compensate" in args else None,
                description=done.description or _describe(args), parallel=parallel)


def _expand(spec: StepSpec, plan: Plan, params: RunbookParams, inv: Inventory, field: str,
            prefix: str = "") -> Iterator[tuple[str, Step]]:
    for attr in ("node", "role", "hosts", "serial", "parallel"):
        for j, child in enumerate(spec.steps or []):
            if getattr(child, attr) is not None:
                raise PlanError(f"`{attr}` on a step inside a group", field=_f(field, "steps", j, attr),
                                hint="the group's target and rollout apply to its steps: set it on the group")
    if spec.steps is not None and any(getattr(spec, a) is not None for a in ACTIONS):
        raise PlanError(f"group {spec.id!r} has an action of its own", field=field,
                        hint="a group holds `steps`; put the action in one of them")
    targets = _targets(spec, inv, field)
    size = _batch_size(spec, len(targets), field)
    for b in range(0, len(targets), size):
        batch = targets[b:b + size]
        key: str | None = spec.parallel or (f"{prefix}{spec.id}#{b // size + 1}" if len(batch) > 1 else None)
        for target in batch:
            ctx = context(plan, params, inv, target)
            if spec.steps is None:
                yield field, _one(spec, ctx, inv, target.name, field, prefix, key)
            for j, child in enumerate(spec.steps or []):
                yield _f(field, "steps", j), _one(child, ctx, inv, target.name, _f(field, "steps", j), prefix, key)


def steps(plan: Plan, params: RunbookParams, inv: Inventory) -> list[Step]:
    out = _checked([(s, _f("params", "steps", i)) for i, s in enumerate(params.steps)], plan, params, inv)
    top = {s.id for s in params.steps}
    for i, entry in enumerate(params.rollback):
        if entry.repeat not in top:
            raise PlanError(f"rollback repeats {entry.repeat!r}, which is not a step or group of `steps`",
                            field=_f("params", "rollback", i, "repeat"), hint=f"use one of: {', '.join(top)}")
    rollback_steps(plan, params, inv, [])  # the repeated steps expand too (their templates are checked)
    return out


def _checked(specs: list[tuple[StepSpec, str]], plan: Plan, params: RunbookParams, inv: Inventory,
             prefix: str = "") -> list[Step]:
    out: list[Step] = []
    seen: dict[str, str] = {}
    for spec, field in specs:
        if spec.id in seen and prefix == "":
            raise PlanError(f"step id {spec.id!r} is used twice ({seen[spec.id]} and {field})", field=_f(field, "id"),
                            hint="give every step and group its own id")
        seen[spec.id] = field
        for where, step in _expand(spec, plan, params, inv, field, prefix):
            if step.id in seen:
                raise PlanError(f"step id {step.id!r} is planned twice ({seen[step.id]} and {where})",
                                field=_f(where, "id"), hint="give the steps that run on one node distinct ids")
            seen[step.id] = where
            out.append(step)
    return out


def rollback_steps(plan: Plan, params: RunbookParams, inv: Inventory, done: Done) -> list[Step]:
    out: list[Step] = []
    for step, obs, status in reversed(done):
        comp = step.args.get("compensate")
        if comp is None or status == StepStatus.SKIPPED:
            continue
        if step.args.get("record") and "recorded" not in obs:
            continue  # the step failed before it recorded anything: it changed nothing
        args = fill(comp["args"], None, recorded=obs.get("recorded"))
        out.append(Step(f"{comp['id']}@{step.node}", step.node, comp["action"], args,
                        description=fill(comp["description"], None, recorded=obs.get("recorded")),
                        parallel=f"undo-{step.parallel}" if step.parallel else None))
    by_id = {s.id: (s, _f("params", "steps", i)) for i, s in enumerate(params.steps)}
    again = [by_id[e.repeat] for e in params.rollback]
    return out + _checked(again, plan, params, inv, prefix="rb-")
