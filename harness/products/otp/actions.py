"""Actions of the ``otp-release-upgrade`` procedure, each with the check that makes a second run a no-op.

Step args: ``release`` (the version to reach), ``name`` (release name), ``package`` (tarball on the
controller, only for ``otp.unpack``). Skip rules:

- ``otp.unpack``: the release is already known to release_handler (any status);
- ``otp.check``/``otp.install``: the node already runs the release (``current``, or ``permanent`` with
  nothing newer installed) — release_handler would answer ``already_installed`` (or ``enoent``);
- ``otp.permanent``: the release is already permanent;  ``otp.remove``: the release is not there.

The node keeps (or returns to) its permanent release on every failure path: ``install_release``
errors before the point of no return change nothing; after it the node restarts onto the permanent
release (the action waits for that and says so); a restart before ``make_permanent`` fails the
permanent step with ``bad_status``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine.actions import StepContext
from harness.engine.step import Gate
from harness.errors import GateTimeout, StepFailed
from harness.products.otp.files import Relup, read_relup, relup_script
from harness.products.otp.node import NodeClient, NodeDown, NodeInfo, node_client
from harness.products.otp.outcomes import Outcome, classify
from harness.products.otp.terms import is_atom
from harness.wait import Condition, wait_until

__all__ = [
    "CheckInstall",
    "Install",
    "MakePermanent",
    "Remove",
    "Unpack",
    "client",
    "expected_script",
    "running",
]

RESTART_WATCH = 5.0  # seconds to watch for the init:restart that follows an error after the PONR


def client(ctx: StepContext) -> NodeClient:
    return node_client(ctx.env.inventory, ctx.step.node)


def _fail(ctx: StepContext, outcome: Outcome) -> StepFailed:
    ctx.observation["outcome"] = outcome.code
    ctx.observation["reply"] = outcome.term
    return StepFailed(ctx.step.id, f"{ctx.step.node}: {outcome.text()}")


def _runs(info: NodeInfo, vsn: str) -> bool:
    return info.current == vsn


def _record_before(ctx: StepContext, info: NodeInfo) -> None:
    if "before_permanent" not in ctx.observation:
        ctx.observation["before_permanent"] = info.permanent
        ctx.observation["before_current"] = info.current
        ctx.persist()


class Unpack:
    """Copy ``<name>-<vsn>.tar.gz`` to ``ROOT/releases/`` and ``release_handler:unpack_release/1``."""

    def skip(self, ctx: StepContext) -> str | None:
        info = client(ctx).info()
        _record_before(ctx, info)
        vsn = ctx.step.args["release"]
        status = info.status_of(vsn)
        return f"release {vsn} is already on the node (status {status})" if status else None

    def run(self, ctx: StepContext) -> None:
        c, a = client(ctx), ctx.step.args
        base = f"{a['name']}-{a['release']}"
        data = Path(a["package"]).read_bytes()
        c.transport.put(f"{c.root}/releases/{base}.tar.gz", data)
        reply = c.call("unpack", base, timeout=120)
        out = classify(reply, a["release"])
        if out.status == "failed":
            raise _fail(ctx, out)
        ctx.observation.update(unpacked=True, bytes=len(data))


class CheckInstall:
    """``check_install_release/1``: evaluates the script up to the point of no return, changes nothing."""

    def skip(self, ctx: StepContext) -> str | None:
        info = client(ctx).info()
        _record_before(ctx, info)
        vsn = ctx.step.args["release"]
        return f"the node already runs release {vsn}" if _runs(info, vsn) else None

    def run(self, ctx: StepContext) -> None:
        out = classify(client(ctx).call("check", ctx.step.args["release"], timeout=120), ctx.step.args["release"])
        ctx.observation["outcome"] = out.code
        if out.status == "failed":
            raise _fail(ctx, out)


def expected_script(c: NodeClient, cur: str, to: str) -> list[Any] | None:
    """The relup script release_handler will run from *cur* to *to*: the up entry of ``releases/<to>/relup``,
    else the down entry of ``releases/<cur>/relup`` (release_handler's lookup order)."""
    for vsn, direction, key in ((to, "up", cur), (cur, "down", to)):
        try:
            text = c.transport.get(f"{c.root}/releases/{vsn}/relup")
        except FileNotFoundError:
            continue
        relup = _read_relup_bytes(text, f"{c.root}/releases/{vsn}/relup")
        entry = relup_script(relup, key, direction)  # type: ignore[arg-type]
        if entry is not None:
            return list(entry.instructions)
    return None


def _read_relup_bytes(data: bytes, name: str) -> Relup:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "relup"
        p.write_bytes(data)
        relup = read_relup(p)
    return Relup(name, relup.vsn, relup.up, relup.down, relup.line)


class Install:
    """``install_release/1``; the gate (``otp.running``) then waits until the node runs the release."""

    def skip(self, ctx: StepContext) -> str | None:
        info = client(ctx).info()
        _record_before(ctx, info)
        vsn = ctx.step.args["release"]
        return f"release {vsn} is already installed (running)" if _runs(info, vsn) else None

    def run(self, ctx: StepContext) -> None:
        c, vsn = client(ctx), ctx.step.args["release"]
        before = c.info()
        script = expected_script(c, before.current or "", vsn) or []
        restarts = any(is_atom(i, "restart_emulator", "restart_new_emulator") for i in script)
        ctx.observation.update(incarnation=before.incarnation, from_release=before.current, expects_restart=restarts)
        ctx.persist()
        started = time.monotonic()
        reply = c.call("install", vsn, timeout=300)
        ctx.observation["replied_after"] = round(time.monotonic() - started, 4)
        micros, result = (reply[0], reply[1]) if isinstance(reply, tuple) and len(reply) == 2 else (None, reply)
        ctx.observation["install_us"] = micros
        out = classify(result, vsn)
        ctx.observation.update(outcome=out.code, reply=out.term)
        if out.node == "unknown":
            try:
                restarted = _watch_restart(c, before.incarnation)
            except NodeDown as exc:  # down for good: no heart to boot it again (static_emulator does that)
                raise StepFailed(ctx.step.id, f"{ctx.step.node}: {out.text()}\nThe node went down and did not "
                                 f"come back (is heart on?): {str(exc).splitlines()[0]}") from exc
            out = classify(result, vsn, restarted=restarted, permanent=before.permanent)
        if out.status == "failed":
            raise _fail(ctx, out)
        if out.code == "continue_after_restart":
            ctx.observation["expects_restart"] = True
        ctx.observation["install_started"] = time.time() - (time.monotonic() - started)


def _watch_restart(c: NodeClient, incarnation: str) -> bool:
    """After an error whose effect is unknown: did the node restart (then wait until it is back)?"""

    def gone_or_new() -> bool:
        try:
            return c.info(timeout=5).incarnation != incarnation
        except NodeDown:
            return True

    try:
        wait_until(gone_or_new, timeout=RESTART_WATCH, interval=0.1, what=f"a restart of {c.node}")
    except GateTimeout:
        return False
    c.wait_up(60, unlike=incarnation)
    return True


@dataclass
class AppsAtRelease(Condition):
    """Every application of release ``vsn`` runs at the release's version. Boot may still be starting
    them: each miss asks the node again (waiting for it to answer until ``deadline``)."""

    client: NodeClient
    vsn: str
    info: NodeInfo
    deadline: float

    def check(self) -> bool:
        rel = next(r for r in self.info.releases if r.vsn == self.vsn)
        want = dict(app.rsplit("-", 1) for app in rel.apps)
        wrong = {app: (v, self.info.apps.get(app)) for app, v in want.items() if self.info.apps.get(app) != v}
        if wrong:
            self.last = f"(wanted, running) {wrong}"
            self.info = self.client.wait_up(max(1.0, self.deadline - time.monotonic()))
        return not wrong

    def describe(self) -> str:
        return f"{self.client.node}: every application of release {self.vsn} at the release's version"


def running(ctx: StepContext, gate: Gate) -> None:
    """Gate: the node answers and runs the release, with every application of it started at its version.

    For a relup with ``restart_emulator``/``restart_new_emulator`` the node must first come back as a new
    incarnation (the downtime is recorded). A node that comes back on another release fell back to its
    permanent one: that fails at once.
    """
    c, vsn = client(ctx), ctx.step.args["release"]
    restarts = bool(ctx.observation.get("expects_restart"))
    started = time.monotonic()
    try:
        info = c.wait_up(gate.timeout, unlike=ctx.observation.get("incarnation") if restarts else None)
    except NodeDown as exc:
        raise GateTimeout(f"{ctx.step.node} did not come back within {gate.timeout:g}s after installing {vsn}: "
                          f"{exc}\nHint: for restart_emulator the node needs heart and a working bin/start") from exc
    if restarts:
        ctx.observation["downtime"] = round(time.monotonic() - started + ctx.observation.get("replied_after", 0), 3)
    ctx.observation["restarted"] = info.incarnation != ctx.observation.get("incarnation")
    if info.current != vsn:
        raise StepFailed(ctx.step.id, f"{ctx.step.node} runs release {info.current} (permanent {info.permanent}), "
                         f"not {vsn}: it restarted onto its permanent release")
    remaining = max(0.1, started + gate.timeout - time.monotonic())
    wait_until(AppsAtRelease(c, vsn, info, started + gate.timeout), timeout=remaining, interval=0.1)
    ctx.observation["verified"] = True


class MakePermanent:
    def skip(self, ctx: StepContext) -> str | None:
        info = client(ctx).info()
        vsn = ctx.step.args["release"]
        return f"release {vsn} is already permanent" if info.permanent == vsn else None

    def run(self, ctx: StepContext) -> None:
        c, vsn = client(ctx), ctx.step.args["release"]
        out = classify(c.call("permanent", vsn), vsn)
        ctx.observation["outcome"] = out.code
        if out.status == "failed":
            info = c.info()
            ctx.observation.update(permanent=info.permanent, current=info.current)
            raise _fail(ctx, out)


class Remove:
    """``remove_release/1`` of a release this run unpacked (rollback: leave the node as it was)."""

    def skip(self, ctx: StepContext) -> str | None:
        vsn = ctx.step.args["release"]
        status = client(ctx).info().status_of(vsn)
        return None if status in ("old", "unpacked") else f"release {vsn} is not removable here (status {status})"

    def run(self, ctx: StepContext) -> None:
        vsn = ctx.step.args["release"]
        out = classify(client(ctx).call("remove", vsn), vsn)
        if out.status == "failed":
            raise _fail(ctx, out)
