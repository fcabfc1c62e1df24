"""The hot-patch runbook's actions (procedure ``beam-patch``), each with the check that makes a second
run, or a resumed one, a no-op.

Skip rules:
- ``beam.upload``: the service already holds an archive with the same sha256;
- ``beam.capture`` (anti-patch, per node): every module of the patch is already in place on that node
  (loaded md5 = the patch's, or not loaded, and the file on disk is the patch's): nothing will change;
- ``beam.apply``: the same, on every node (the idempotent second run, or a resume after the apply);
- ``beam.delete``: no archive is stored;
- ``beam.restore`` (rollback, per node): the node already runs and holds what was captured.
``beam.check`` and ``beam.verify`` are read-only and always run.

What the rollback needs is journaled before anything changes: the capture step persists each node's
object code (base64) and its long-lived processes (pid, state) in its observation.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from harness.engine.actions import StepContext
from harness.errors import ConfigError, RefusedError, StepFailed
from harness.products.beam.agent import AgentClient
from harness.products.beam.antipatch import AntiPatch, ModuleImage
from harness.products.beam.archive import PatchArchive, build_patch, inspect_archive
from harness.products.beam.client import PatchRefused
from harness.products.beam.domain import Domain
from harness.products.beam.result import PatchResult
from harness.products.beam.status import Status

__all__ = ["Apply", "Capture", "Check", "Delete", "Restore", "Upload", "Verify", "patch_bytes", "table"]

_BUILT: dict[str, bytes] = {}


def patch_bytes(args: dict[str, Any]) -> bytes:
    """The archive a step's args name: ``archive`` (a zip) or ``sources`` (APP:FILE, built for ``version``)."""
    if args.get("archive"):
        return Path(args["archive"]).read_bytes()
    sources = [str(s) for s in args["sources"]]
    key = hashlib.sha256(repr((sources, args["version"], args.get("name"),
                               [_mtime(s) for s in sources])).encode()).hexdigest()
    if key not in _BUILT:  # erlc takes ~0.2 s a module; precheck, upload and bench ask more than once
        with tempfile.TemporaryDirectory(prefix="beam-patch-") as tmp:
            out = build_patch(sources, str(args["version"]), Path(tmp) / "patch.zip",
                              name=args.get("name") or "patch")
            _BUILT[key] = out.read_bytes()
    return _BUILT[key]


def _mtime(spec: str) -> float:
    path = Path(spec.partition(":")[2])
    return path.stat().st_mtime if path.exists() else 0.0


def archive_of(args: dict[str, Any], expected_version: str | None = None) -> PatchArchive:
    return inspect_archive(patch_bytes(args), expected_version=expected_version)


def _domain(ctx: StepContext) -> Domain:
    return Domain.from_inventory(ctx.env.inventory)


def table(result: PatchResult, names: dict[str, str] | None = None) -> str:
    """The per-node table of a check/apply/restore, as the System/Patch screen shows it."""
    names = names or {}
    lines = [f"{'node':10} {'path':36} status"]
    for n in result.nodes:
        who = names.get(n.node, n.node)
        for m in n.modules:
            lines.append(f"{who:10} {m.path:36} {m.status.label} ({int(m.status)})"
                         f"{'  ' + m.reason if m.reason else ''}")
        lines.append(f"{who:10} {'(node integral)':36} {n.integral.label} ({int(n.integral)})"
                     f"{'  ' + n.error if n.error else ''}")
    lines.append(f"integral: {result.integral.label} ({int(result.integral)})")
    return "\n".join(lines)


def node_table(result: PatchResult, names: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """component name -> path -> {status, code, md5_new, reason}: what later steps read from the journal."""
    return {names.get(n.node, n.node): {m.path: {"status": m.status.label, "code": int(m.status),
                                                 "md5_new": m.md5_new, "reason": m.reason} for m in n.modules}
            for n in result.nodes}


def _names(dom: Domain) -> dict[str, str]:
    return {dom.erlang_node(n): n for n in dom.names}


def _checked(ctx: StepContext) -> dict[str, dict[str, Any]]:
    """This node's modules as the check step saw them."""
    obs = ctx.observations.get(ctx.step.args.get("check", ""), {})
    nodes = obs.get("nodes")
    if not nodes or ctx.step.node not in nodes:
        raise StepFailed(ctx.step.id, f"no check result for {ctx.step.node} in the journal; run the check first")
    return dict(nodes[ctx.step.node])


def _out_of_place(agent: AgentClient, expected: dict[str, dict[str, Any]]) -> list[str]:
    """Paths whose loaded code or file on disk is not yet the patch's on this node (read-only)."""
    out = []
    for c in agent.capture(sorted(expected)):
        want = expected[c["path"]].get("md5_new")
        if "error" in c or want is None:
            continue
        if (c["loaded"] and c["md5"] != want) or c["disk_md5"] != want:
            out.append(c["path"])
    return out


def _disk(capture: dict[str, Any]) -> bytes | None:
    disk = capture.get("disk")
    return disk if isinstance(disk, bytes) else None  # the atom `none`: no file at that path


# ---- master domain: upload, check, apply, delete ---------------------------------------------------

class Upload:
    def skip(self, ctx: StepContext) -> str | None:
        sha = hashlib.sha256(patch_bytes(ctx.step.args)).hexdigest()
        ctx.observation["sha256"] = sha
        try:
            stored = _domain(ctx).client().composition()
        except PatchRefused as exc:
            if exc.http_status == 404:
                return None
            raise
        if stored.get("sha256") == sha:
            return f"archive {stored.get('name')} ({sha[:12]}) is already uploaded"
        return None

    def run(self, ctx: StepContext) -> None:
        comp = _domain(ctx).client().upload(patch_bytes(ctx.step.args))
        ctx.observation.update({"name": comp["name"], "sha256": comp["sha256"], "size": comp["size"],
                                "entries": [e["path"] for e in comp["entries"]]})


class Check:
    def skip(self, ctx: StepContext) -> str | None:
        return None

    def run(self, ctx: StepContext) -> None:
        dom = _domain(ctx)
        result = dom.client().check()
        names = _names(dom)
        ctx.observation.update({"integral": int(result.integral), "nodes": node_table(result, names)})
        if result.integral < Status.NOT_CHANGED:
            raise StepFailed(ctx.step.id, f"the check's integral status is {result.integral.label} "
                             f"({int(result.integral)}): not applying\n{table(result, names)}")


class Apply:
    def skip(self, ctx: StepContext) -> str | None:
        dom = _domain(ctx)
        nodes = ctx.observations.get(ctx.step.args.get("check", ""), {}).get("nodes") or {}
        if not nodes:
            return None
        if any(_out_of_place(dom.agent(n), mods) for n, mods in nodes.items()):
            return None
        modules = {p for mods in nodes.values() for p in mods}
        return (f"every node already runs the patch ({len(modules)} module(s) not_changed or not_loaded "
                f"with the patch's file on disk): nothing to apply")

    def run(self, ctx: StepContext) -> None:
        dom = _domain(ctx)
        result = dom.client().apply()
        names = _names(dom)
        ctx.observation.update({"integral": int(result.integral), "nodes": node_table(result, names)})
        below = [names.get(n.node, n.node) for n in result.nodes if n.integral < Status.NOT_CHANGED]
        if below:
            raise StepFailed(ctx.step.id, f"apply ended below not_changed on {', '.join(below)} (integral "
                             f"{result.integral.label}, {int(result.integral)}): rolling back by anti-patch\n"
                             f"{table(result, names)}")


class Delete:
    def skip(self, ctx: StepContext) -> str | None:
        try:
            _domain(ctx).client().composition()
        except PatchRefused as exc:
            if exc.http_status == 404:
                return "no patch archive is stored on the master domain"
            raise
        return None

    def run(self, ctx: StepContext) -> None:
        _domain(ctx).client().delete()


# ---- per node: anti-patch, verification, restore ---------------------------------------------------

class Capture:
    def skip(self, ctx: StepContext) -> str | None:
        agent = _domain(ctx).agent(ctx.step.node)
        expected = _checked(ctx)
        ctx.observation["state"] = agent.state()  # before anything changes: verify compares with it
        ctx.persist()
        if _out_of_place(agent, expected):
            return None
        return f"{ctx.step.node} already runs the patch: nothing to capture"

    def run(self, ctx: StepContext) -> None:
        dom = _domain(ctx)
        agent = dom.agent(ctx.step.node)
        paths = sorted(_checked(ctx))
        try:
            anti = AntiPatch.capture([agent], paths)
        except RefusedError as exc:
            raise StepFailed(ctx.step.id, str(exc)) from None
        ((node, images),) = anti.images.items()
        ctx.observation.update({"erlang_node": node, "agent": agent.address,
                                "images": [i.as_json() for i in images]})
        ctx.persist()  # the rollback reads it from the journal, also after a kill + resume


class Verify:
    def skip(self, ctx: StepContext) -> str | None:
        return None

    def run(self, ctx: StepContext) -> None:
        agent = _domain(ctx).agent(ctx.step.node)
        expected = _checked(ctx)
        problems = [f"{p}: loaded code or file on disk is not the patch's" for p in _out_of_place(agent, expected)]
        loaded = agent.md5s([Path(p).stem for p in expected])
        for path, m in expected.items():
            have = loaded.get(Path(path).stem)
            if m["code"] == Status.NOT_LOADED and have != "not_loaded":
                problems.append(f"{path}: was not loaded, now loaded ({have})")
            elif m["code"] in (Status.OK, Status.NOT_CHANGED) and have != m["md5_new"]:
                problems.append(f"{path}: md5 {have}, the patch's is {m['md5_new']}")
        before = ctx.observations.get(ctx.step.args.get("capture", ""), {}).get("state") or {}
        after = agent.state()
        for proc, was in before.items():
            now = after.get(proc)
            if now is None:
                problems.append(f"{proc} is not running any more (was {was['pid']})")
            elif now["pid"] != was["pid"]:
                problems.append(f"{proc} was restarted: pid {was['pid']} -> {now['pid']}")
            elif now["value"] < was["value"]:
                problems.append(f"{proc} lost its state: {was['value']} -> {now['value']}")
        ctx.observation.update({"md5": loaded, "state": after})
        if problems:
            raise StepFailed(ctx.step.id, f"{ctx.step.node}: " + "; ".join(problems))


class Restore:
    def _anti(self, ctx: StepContext) -> AntiPatch | None:
        obs = ctx.observations.get(ctx.step.args["capture"], {})
        if not obs.get("images"):
            return None
        images = [ModuleImage.from_json(i) for i in obs["images"]]
        return AntiPatch({obs["erlang_node"]: images}, {obs["erlang_node"]: obs["agent"]})

    def skip(self, ctx: StepContext) -> str | None:
        anti = self._anti(ctx)
        if anti is None:
            return f"nothing was captured on {ctx.step.node}"
        agent = _domain(ctx).agent(ctx.step.node)
        ((_node, images),) = anti.images.items()
        now = {c["path"]: c for c in agent.capture([i.path for i in images])}
        if all(now[i.path].get("md5") == i.md5 and _disk(now[i.path]) == i.disk for i in images):
            return f"{ctx.step.node} already runs and holds the captured code"
        return None

    def run(self, ctx: StepContext) -> None:
        anti = self._anti(ctx)
        if anti is None:
            raise ConfigError(f"no anti-patch for {ctx.step.node} in the journal")
        ((node, _),) = anti.images.items()
        agents = {node: _domain(ctx).agent(ctx.step.node)}
        result = anti.restore(agents)
        diff = anti.verify(agents)
        ctx.observation.update({"integral": int(result.integral), "diff": {k: list(v) for k, v in diff.items()}})
        if diff:
            raise StepFailed(ctx.step.id, f"{ctx.step.node}: restore left md5s different from the capture: {diff}\n"
                             f"{table(result, {node: ctx.step.node})}")
