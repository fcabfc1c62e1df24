"""The runbook's generic actions (``run``, ``http``, ``put``, ``wait_log``), skip checks and readiness gate.

Every action fills the step's references (secrets, just before the command) and masks every secret value
in what it records or raises, so neither the journal nor the output ever holds one. A command that does
not exist on the node fails the step (naming node, step and command), and the run rolls back what ran.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

import requests

from harness import tail
from harness.engine.actions import StepContext
from harness.engine.step import Gate
from harness.environment import HostHandle
from harness.errors import GateTimeout, LeaseLost, StepFailed, TransportError
from harness.products.runbook import secrets as secret_values
from harness.products.runbook.templates import fill, mask
from harness.transports.base import CommandResult
from harness.wait import wait_until

_TAIL = 400


def _host(ctx: StepContext, at: str | None = None) -> HostHandle:
    """The host of the step's node, or of node ``at`` (a gate's ``log.at``)."""
    node = ctx.env.node(at or ctx.step.node)
    return node if isinstance(node, HostHandle) else node.host


def _gate_logs(ctx: StepContext) -> list[dict[str, Any]]:
    """The gate's log conditions (a plan saved before they became a list has one)."""
    logs = ctx.step.gate.args.get("log") if ctx.step.gate else None
    return [] if not logs else logs if isinstance(logs, list) else [logs]


class _Secrets:
    """The secret values of the plan, read once per step; ``mask`` hides them in anything recorded."""

    def __init__(self, ctx: StepContext) -> None:
        self.values = secret_values.values(ctx.plan)

    def fill(self, value: Any) -> Any:
        return fill(value, self.values)

    def mask(self, value: Any) -> Any:
        return mask(value, self.values.values())


def _command(ctx: StepContext, sec: _Secrets, argv: list[str], *, cwd: str | None, become: str | None,
             timeout: float) -> CommandResult:
    full = list(sec.fill(argv))
    if become:
        full = ["sudo", "-n", "-u", become, "--", *full]  # `sudo su - USER` of a written runbook, as argv
    try:
        res = _host(ctx).transport.run(full, timeout=timeout, cwd=sec.fill(cwd) if cwd else None)
    except TransportError as exc:
        if "cannot run" in str(exc):
            raise StepFailed(ctx.step.id, f"command {argv[0]!r} is missing on node {ctx.step.node} "
                             f"({sec.mask(str(exc)).splitlines()[0]})\nHint: install it on the node or fix "
                             f"the step's `run`") from None
        raise TransportError(sec.mask(str(exc))) from None
    if res.exit_code == 127 and not res.stdout:
        raise StepFailed(ctx.step.id, f"command {argv[0]!r} is missing on node {ctx.step.node} (exit 127: "
                         f"{sec.mask(res.stderr.strip())[-200:]})\nHint: install it on the node or fix the "
                         "step's `run`")
    return res


def _http(sec: _Secrets, spec: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    """One request; (passed, what it saw, observation)."""
    try:
        r = requests.request(spec["method"], sec.fill(spec["url"]), data=sec.fill(spec.get("body")),
                             headers=sec.fill(spec.get("headers") or {}), timeout=spec.get("timeout", 10.0))
    except requests.RequestException as exc:
        return False, sec.mask(type(exc).__name__), {}
    body = r.text
    seen = f"HTTP {r.status_code} {sec.mask(body[:80])!r}"
    ok = r.status_code == spec["status"]
    if ok and spec.get("pattern"):
        ok = re.search(spec["pattern"], body, re.MULTILINE) is not None
    for name, want in (spec.get("expect_headers") or {}).items():
        ok = ok and r.headers.get(name) == want
        seen += f" {name}: {r.headers.get(name)!r}"
    return ok, seen, {"status": r.status_code, "body": sec.mask(body[-_TAIL:])}


def _skip_reason(ctx: StepContext, sec: _Secrets) -> str | None:
    check = ctx.step.args.get("skip_if")
    if not check:
        return None
    if check.get("run"):
        res = _command(ctx, sec, check["run"], cwd=check.get("cwd"), become=check.get("become"), timeout=60)
        passed = res.ok and (not check.get("stdout") or re.search(check["stdout"], res.stdout, re.M) is not None)
        said = sec.mask((res.stdout.strip().splitlines() or [""])[-1])
        what = f"`{' '.join(check['run'])}` exited 0"
    else:
        passed, said, _ = _http(sec, check["http"])
        what = f"{check['http']['method']} {check['http']['url']} passed"
    if not passed:
        return None
    parts = [p for p in (check.get("reason"), said) if p]
    return ": ".join(parts) if parts else what


class _Action:
    """The skip check, the ``record`` command and the gate's log offset, shared by every action kind."""

    def skip(self, ctx: StepContext) -> str | None:
        return _skip_reason(ctx, _Secrets(ctx))

    def run(self, ctx: StepContext) -> None:
        sec = _Secrets(ctx)
        args = ctx.step.args
        if args.get("record"):
            res = _command(ctx, sec, args["record"], cwd=None, become=args.get("become"), timeout=60)
            if not res.ok:
                raise StepFailed(ctx.step.id, f"`{' '.join(args['record'])}` (record) exited {res.exit_code} on "
                                 f"{ctx.step.node}: {sec.mask(res.stderr.strip())[-200:]}")
            ctx.observation["recorded"] = sec.mask(res.stdout.strip())
        logs = _gate_logs(ctx)
        if logs:
            ctx.observation["gate_log_offsets"] = [_size(_host(ctx, log.get("at")), log["file"]) for log in logs]
        ctx.persist()  # before the change: what a rollback restores, where the gate starts reading
        try:
            self.act(ctx, sec)
        except LeaseLost:
            raise
        except StepFailed as exc:
            raise StepFailed(ctx.step.id, sec.mask(str(exc)).removeprefix(f"step {ctx.step.id}: ")) from None
        except (GateTimeout, TransportError) as exc:
            raise type(exc)(sec.mask(str(exc))) from None

    def act(self, ctx: StepContext, sec: _Secrets) -> None:
        raise NotImplementedError


def _size(host: HostHandle, path: str) -> int:
    return tail.size(host.transport, path)


class Run(_Action):
    def act(self, ctx: StepContext, sec: _Secrets) -> None:
        a = ctx.step.args
        res = _command(ctx, sec, a["run"], cwd=a.get("cwd"), become=a.get("become"), timeout=a["timeout"])
        ctx.observation.update(exit_code=res.exit_code, stdout=sec.mask(res.stdout[-_TAIL:]),
                               stderr=sec.mask(res.stderr[-_TAIL:]))
        if res.exit_code not in a["exit_codes"]:
            raise StepFailed(ctx.step.id, f"`{' '.join(a['run'])}` exited {res.exit_code} on {ctx.step.node}\n"
                             f"--- stderr (tail) ---\n{sec.mask(res.stderr.strip())[-_TAIL:]}")


class Http(_Action):
    def act(self, ctx: StepContext, sec: _Secrets) -> None:
        spec = ctx.step.args["http"]
        ok, seen, obs = _http(sec, spec)
        ctx.observation.update(obs)
        if not ok:
            raise StepFailed(ctx.step.id, f"{spec['method']} {spec['url']} expected {spec['status']}"
                             f"{' /' + spec['pattern'] + '/' if spec.get('pattern') else ''}, got {seen}")


def _put_data(ctx: StepContext, sec: _Secrets) -> bytes:
    spec = ctx.step.args["put"]
    if spec.get("src"):
        return ctx.plan.resolve_path(spec["src"]).read_bytes()
    return str(sec.fill(spec.get("content") or "")).encode()


class Put(_Action):
    def skip(self, ctx: StepContext) -> str | None:
        reason = super().skip(ctx)
        if reason or ctx.step.args.get("skip_if"):
            return reason
        path = ctx.step.args["put"]["path"]
        try:
            same = _host(ctx).transport.get(path) == _put_data(ctx, _Secrets(ctx))
        except FileNotFoundError:
            return None
        return f"{path} already has this content" if same else None

    def act(self, ctx: StepContext, sec: _Secrets) -> None:
        spec = ctx.step.args["put"]
        data = _put_data(ctx, sec)
        _host(ctx).transport.put(spec["path"], data, mode=spec["mode"])
        ctx.observation["bytes"] = len(data)


class _LogLine:
    """A line matching ``pattern`` in a node's file after byte ``offset``; a ``fail`` line raises at once.
    Each poll reads only the complete lines the file gained since the last one (:class:`harness.tail.Tail`),
    so ``^listening$`` does not match the ``listening`` of a ``listening failed`` half written."""

    def __init__(self, ctx: StepContext, spec: dict[str, Any], offset: int) -> None:
        self.ctx, self.spec, self.last = ctx, spec, ""
        self.tail = tail.Tail(_host(ctx, spec.get("at")).transport, spec["file"], offset)
        # found stays found (the gate polls its other conditions after it); a fail line after it still fails
        self.found = False

    def __call__(self) -> bool:
        text = self.tail.read()
        if text is None:
            self.last = f"{self.spec['file']} does not exist yet"
            return False
        seen = (text + self.tail.partial.decode(errors="replace")).splitlines()
        self.last = (seen or [self.last or "(empty)"])[-1][:160]
        if self.spec.get("fail"):
            bad = re.search(self.spec["fail"], text, re.MULTILINE)
            if bad:
                line = text[text.rfind("\n", 0, bad.start()) + 1:].split("\n", 1)[0]
                raise StepFailed(self.ctx.step.id, f"{self.ctx.step.node} failed to start: "
                                 f"{self.spec['file']} logged {line.strip()!r}")
        self.found = self.found or re.search(self.spec["pattern"], text, re.MULTILINE) is not None
        return self.found


class WaitLog(_Action):
    def act(self, ctx: StepContext, sec: _Secrets) -> None:
        spec = ctx.step.args["wait_log"]
        cond = _LogLine(ctx, spec, 0)
        wait_until(cond, timeout=spec["timeout"], what=f"/{spec['pattern']}/ in {spec['file']} on {ctx.step.node}",
                   details=lambda: f"last line: {sec.mask(cond.last)}")


def _tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ready(ctx: StepContext, gate: Gate) -> None:
    """``runbook.ready``: every condition of the gate holds (polled together) within its timeout."""
    sec = _Secrets(ctx)
    seen: dict[str, str] = {}
    checks: list[tuple[str, Callable[[], bool]]] = []
    c = gate.args
    offsets = ctx.observation.get("gate_log_offsets") or [ctx.observation.get("gate_log_offset", 0)]
    for i, log in enumerate(_gate_logs(ctx)):
        line = _LogLine(ctx, log, int(offsets[i] if i < len(offsets) else 0))
        checks.append((f"log /{log['pattern']}/ in {log['file']}" + (f" on {log['at']}" if log.get("at") else ""),
                       line))
    if c.get("http"):
        def http() -> bool:
            ok, seen["http"], _ = _http(sec, {**c["http"], "timeout": min(c["http"].get("timeout", 1.0), 2.0)})
            return ok
        checks.append((f"{c['http']['method']} {c['http']['url']} -> {c['http']['status']}", http))
    if c.get("tcp"):
        checks.append((f"tcp {c['tcp']['host']}:{c['tcp']['port']}", lambda: _tcp(c["tcp"]["host"], c["tcp"]["port"])))
    if c.get("command"):
        cmd = c["command"]

        def command() -> bool:
            res = _command(ctx, sec, cmd["run"], cwd=cmd.get("cwd"), become=cmd.get("become"), timeout=30)
            seen["command"] = f"exit {res.exit_code}"
            return res.ok and (not cmd.get("stdout") or re.search(cmd["stdout"], res.stdout, re.M) is not None)
        checks.append((f"`{' '.join(cmd['run'])}` exits 0", command))
    pending = [name for name, _ in checks]

    def all_hold() -> bool:
        for i, (_, check) in enumerate(checks):  # in order, the first that does not hold ends this poll
            if not check():
                pending[:] = [name for name, _ in checks[i:]]
                return False
        return True

    try:
        wait_until(all_hold, timeout=gate.timeout, interval=0.05, what=f"{ctx.step.node} (gate of {ctx.step.id})",
                   details=lambda: sec.mask(f"still waiting for: {'; '.join(pending)}; last seen: {seen}"),
                   hint="the gate's conditions are in the plan; `harness plan` prints them resolved")
    except GateTimeout as exc:
        raise GateTimeout(sec.mask(str(exc))) from None
